// engram::viz: the pure geometry and the ring without a display ([viz][unit]); the live
// window and `engram plot` end to end under an X server ([viz]). When neither DISPLAY
// nor WAYLAND_DISPLAY is set, the display tests start their own Xvfb; without Xvfb they
// fail, saying so.
#include <SFML/Graphics/Image.hpp>
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <numeric>
#include <sstream>
#include <thread>

#include "engram/viz/axes.hpp"
#include "engram/viz/live.hpp"
#include "engram/viz/plot.hpp"
#include "engram/viz/render.hpp"
#include "engram/viz/spsc_ring.hpp"
#include "helpers.hpp"
#include "x11_keys.hpp"

using namespace engram;
using namespace engram::viz;

namespace {

// ---- an X server for the display tests --------------------------------------------------

struct xvfb_server {
    pid_t pid = -1;
    ~xvfb_server() {
        if (pid > 0) {
            kill(pid, SIGTERM);
            waitpid(pid, nullptr, 0);
        }
    }
};

std::string find_in_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::stringstream ss(path ? path : "/usr/bin:/bin");
    for (std::string dir; std::getline(ss, dir, ':');) {
        const auto p = std::filesystem::path(dir) / name;
        if (access(p.c_str(), X_OK) == 0) return p.string();
    }
    return {};
}

// Makes sure DISPLAY names a server: the one given, or an Xvfb started here (once per
// process, on a free display number chosen by Xvfb itself through -displayfd).
void ensure_display() {
    static xvfb_server server;
    static std::string failure;
    if (display_available()) return;
    if (!failure.empty()) FAIL(failure);
    const auto xvfb = find_in_path("Xvfb");
    if (xvfb.empty()) {
        failure =
            "the [viz] display tests need an X server: DISPLAY is not set and Xvfb is not installed "
            "(apt-get install xvfb xauth, or scripts/install-deps.sh)";
        FAIL(failure);
    }
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        const std::string fd = std::to_string(fds[1]);
        execl(xvfb.c_str(), "Xvfb", "-displayfd", fd.c_str(), "-screen", "0", "1600x1200x24", "-nolisten", "tcp",
              static_cast<char*>(nullptr));
        _exit(127);
    }
    close(fds[1]);
    server.pid = pid;
    std::string number;
    char c;
    while (read(fds[0], &c, 1) == 1 && c != '\n') number += c;
    close(fds[0]);
    if (number.empty()) {
        failure = "Xvfb (" + xvfb + ") did not start";
        FAIL(failure);
    }
    setenv("DISPLAY", (":" + number).c_str(), 1);
}

// Starts `cmd` through the shell in `dir`, in the background.
pid_t spawn(const std::filesystem::path& dir, const std::string& cmd) {
    const pid_t pid = fork();
    if (pid == 0) {
        if (chdir(dir.c_str()) != 0) _exit(126);
        execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    return pid;
}

// Exit status of `pid`, waiting at most `seconds` (then killed: -1).
int wait_exit(pid_t pid, double seconds) {
    for (int i = 0; i < static_cast<int>(seconds * 100); ++i) {
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -2;
        usleep(10'000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
}

int run(const std::string& cmd) {
    const int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Two spike_array populations whose spikes are known: a (10 neurons) and b (5).
const char* known_spikes = R"(simulation: {dt: 0.1 ms, duration: 200 ms, seed: 1}
populations:
  a:
    size: 10
    model: spike_array
    params:
      spike_times: [[10 ms], [], [], [50 ms, 120 ms], [], [], [], [150 ms], [], []]
  b:
    size: 5
    model: spike_array
    params:
      spike_times: [[], [], [80 ms], [], []]
record:
  spikes: all
)";
struct known {
    std::uint64_t neuron;  // global: a's 0..9, then b's 0..4 as 10..14
    std::vector<double> t;
};
const std::vector<known> spiking = {{0, {10}}, {3, {50, 120}}, {7, {150}}, {12, {80}}};

bool is_background(const sf::Image& img, int x, int y) {
    return img.getPixel(static_cast<unsigned>(x), static_cast<unsigned>(y)) == sf::Color(background_colour);
}

// Every spiking neuron has its population's colour at its spike's column (+-1 pixel for
// the rounding of step * dt) in its band; no neuron has anything else in its band; the
// population boundary row (a grey line) is skipped.
void check_raster(const sf::Image& img, const rect& raster,
                  const std::function<live_mapping(double, std::uint64_t)>& at, int boundary_row) {
    for (std::uint64_t n = 0; n < 15; ++n) {
        const auto band = at(-1e9, n);  // rows only
        INFO("neuron " << n << " rows [" << band.top << ", " << band.bottom << ")");
        REQUIRE(band.top >= raster.y);
        REQUIRE(band.bottom > band.top);
        std::vector<int> expected_cols;
        for (const auto& k : spiking)
            if (k.neuron == n)
                for (double t : k.t) expected_cols.push_back(at(t, n).column);
        const sf::Color colour(population_colour(n < 10 ? 0 : 1));
        for (int c : expected_cols) {
            bool found = false;
            for (int dx = -1; dx <= 1; ++dx)
                for (int y = band.top; y < band.bottom; ++y)
                    found |= img.getPixel(static_cast<unsigned>(c + dx), static_cast<unsigned>(y)) == colour;
            CHECK(found);
        }
        int marked = 0;
        for (int y = band.top; y < band.bottom; ++y) {
            if (y == boundary_row) continue;
            for (int x = raster.x; x < raster.x + raster.w; ++x) {
                if (is_background(img, x, y)) continue;
                bool near_expected = false;
                for (int c : expected_cols) near_expected |= std::abs(x - c) <= 1;
                if (!near_expected) ++marked;
            }
        }
        CHECK(marked == 0);
    }
}

}  // namespace

// ---- pure logic ---------------------------------------------------------------------------

TEST_CASE("spsc ring: bounded, in order, never blocks the producer", "[viz][unit]") {
    spsc_ring<int> r(5);
    REQUIRE(r.capacity() == 8);
    for (int i = 0; i < 8; ++i) REQUIRE(r.try_push(i));
    REQUIRE_FALSE(r.try_push(8));  // full: the producer is told, not held
    std::vector<int> got;
    REQUIRE(r.drain([&](int v) { got.push_back(v); }, 3) == 3);
    REQUIRE(r.try_push(8));
    r.drain([&](int v) { got.push_back(v); });
    REQUIRE(got == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8});

    // Two threads: everything pushed is seen once, in order; what did not fit is counted.
    spsc_ring<std::uint64_t> q(1024);
    const std::uint64_t n = 2'000'000;
    std::uint64_t lost = 0, seen = 0, last = 0;
    bool ordered = true;
    std::atomic<bool> done{false};
    std::thread producer([&] {
        for (std::uint64_t i = 1; i <= n; ++i)
            if (!q.try_push(i)) ++lost;
        done = true;
    });
    auto take = [&](std::uint64_t v) {
        ordered &= v > last;
        last = v;
        ++seen;
    };
    while (!done) q.drain(take);
    producer.join();
    q.drain(take);
    REQUIRE(ordered);
    REQUIRE(seen + lost == n);
}

TEST_CASE("neuron axis: bands when few neurons, at most one row per pixel when many", "[viz][unit]") {
    const neuron_axis few{0, 15, 600};
    int expect_top = 0;
    for (std::uint64_t n = 0; n < 15; ++n) {
        const auto b = few.rows(n);
        REQUIRE(b.top == expect_top);  // contiguous, disjoint, covering the panel
        REQUIRE(b.bottom - b.top == 40);
        expect_top = b.bottom;
        REQUIRE(few.neuron_at(b.top) == n);
    }
    REQUIRE(expect_top == 600);
    REQUIRE(few.rows(15).top == -1);
    REQUIRE(few.neurons_per_row() == 1);

    const neuron_axis many{0, 100'000, 500};
    REQUIRE(many.neurons_per_row() == 200);
    int prev = 0;
    for (std::uint64_t n = 0; n < 100'000; n += 37) {
        const auto b = many.rows(n);
        REQUIRE(b.bottom == b.top + 1);
        REQUIRE(b.top >= prev);
        REQUIRE(b.top < 500);
        prev = b.top;
    }
    REQUIRE(many.rows(99'999).top == 499);
    REQUIRE(many.rows(many.neuron_at(123)).top == 123);

    const neuron_axis zoomed{1000, 10, 100};  // neurons 1000..1009
    REQUIRE(zoomed.rows(999).top == -1);
    REQUIRE(zoomed.rows(1000).top == 0);
    REQUIRE(zoomed.rows(1009).bottom == 100);
}

TEST_CASE("time axis, ticks, bins, thinning, rates", "[viz][unit]") {
    const time_axis tx{100, 300, 200};
    REQUIRE(tx.column(99.9) == -1);
    REQUIRE(tx.column(300.1) == -1);
    REQUIRE(tx.column(100) == 0);
    REQUIRE(tx.column(150) == 50);
    REQUIRE(tx.column(300) == 199);
    REQUIRE(tx.time_at(50) == Approx(150));

    REQUIRE(nice_ticks(0, 1000, 5) == std::vector<double>{0, 200, 400, 600, 800, 1000});
    REQUIRE(nice_ticks(3, 17, 3) == std::vector<double>{5, 10, 15});
    REQUIRE(tick_label(0.5, 0.1) == "0.5");
    REQUIRE(tick_label(200, 100) == "200");
    REQUIRE(nice_bin(1000, 200, 0.1) == 5);
    REQUIRE(nice_bin(10, 200, 0.1) == 0.1);

    REQUIRE(thinning_stride(100, 1000) == 1);
    REQUIRE(thinning_stride(1000, 1000) == 1);
    REQUIRE(thinning_stride(1001, 1000) == 2);
    REQUIRE(thinning_stride(10'000, 1000) == 10);

    // 10 neurons, 3 spikes in the first 10-ms bin, 1 in the third: 30 Hz, 0, 10 Hz.
    const auto r = binned_rate({1, 2, 9.9, 25, 40}, 10, 0, 10, 3);
    REQUIRE(r.size() == 3);
    REQUIRE(r[0] == Approx(30));
    REQUIRE(r[1] == Approx(0));
    REQUIRE(r[2] == Approx(10));
}

TEST_CASE("paint_raster marks exactly the spiking neurons' bands, and thins", "[viz][unit]") {
    const time_axis tx{0, 100, 100};
    const neuron_axis ny{0, 10, 50};  // 5 rows per neuron, the last left blank
    std::vector<rgba> px(100 * 50, background_colour);
    const std::vector<raster_spike> s = {{10, 2, 0}, {55, 7, 1}};
    REQUIRE(paint_raster(px, tx, ny, s) == 2);
    for (int y = 0; y < 50; ++y)
        for (int x = 0; x < 100; ++x) {
            const bool a = x == 10 && y >= 10 && y < 14, b = x == 55 && y >= 35 && y < 39;
            INFO("x " << x << " y " << y);
            REQUIRE(px[static_cast<std::size_t>(y * 100 + x)] == (a   ? population_colour(0)
                                                                  : b ? population_colour(1)
                                                                      : background_colour));
        }
    // Aggregated rows: 1000 neurons on 10 rows; a pixel with more spikes is darker, and
    // every marked pixel differs from the background.
    const neuron_axis agg{0, 1000, 10};
    std::vector<raster_spike> dense;
    for (int k = 0; k < 10; ++k) dense.push_back({10, static_cast<std::uint64_t>(k), 0});  // row 0, col 10
    dense.push_back({20, 500, 0});                                                         // row 5, col 20
    dense.push_back({30, 900, 0});                                                         // row 9, col 30
    std::vector<rgba> px3(100 * 10, background_colour);
    REQUIRE(paint_raster(px3, tx, agg, dense) == 12);
    const auto shade = [](rgba c) { return (c >> 24) + ((c >> 16) & 0xff) + ((c >> 8) & 0xff); };
    REQUIRE(px3[10] != background_colour);
    REQUIRE(px3[5 * 100 + 20] != background_colour);
    REQUIRE(shade(px3[10]) < shade(px3[5 * 100 + 20]));
    REQUIRE(px3[10] == population_colour(0));  // 10 spikes, over twice the mean (4): full colour
    std::size_t marked = 0;
    for (auto c : px3) marked += c != background_colour;
    REQUIRE(marked == 3);

    std::vector<raster_spike> many(1000, raster_spike{50, 5, 0});
    std::vector<rgba> px2(100 * 50, background_colour);
    REQUIRE(paint_raster(px2, tx, ny, many, 10) == 100);
}

TEST_CASE("live feed: spikes pass through the ring, overflow is counted, rates stay exact", "[viz][unit]") {
    const auto spec = test::parse(known_spikes);
    live_feed feed(spec, 4, nullptr);  // a tiny ring: most spikes do not fit
    REQUIRE(feed.bin_steps() == 10);   // 1 ms at dt 0.1 ms
    const std::uint32_t ids[] = {0, 1, 2, 3, 4, 5};
    feed.on_spikes(5, 0, ids, 6);
    feed.on_spikes(5, 1, ids, 2);  // b's neurons 0, 1 -> global 10, 11
    for (std::uint64_t s = 1; s <= 10; ++s) feed.on_step(s);
    std::vector<live_feed::spike_event> got;
    feed.spikes.drain([&](const live_feed::spike_event& e) { got.push_back(e); });
    REQUIRE(got.size() == 4);
    REQUIRE(got[0].neuron == 0);
    REQUIRE(got[3].neuron == 3);
    REQUIRE(feed.dropped() == 4);
    std::vector<std::uint32_t> counts(2);
    feed.rates.drain([&](const live_feed::rate_event& e) {
        REQUIRE(e.bin == 0);
        counts[e.pop] += e.count;
    });
    REQUIRE(counts == std::vector<std::uint32_t>{6, 2});
    REQUIRE(feed.last_step() == 10);
}

TEST_CASE("live: without a display, --live fails at once, before anything is built", "[viz][unit]") {
    const auto dir = test::temp_dir("viz_nodisplay");
    std::ofstream(dir / "n.yaml") << known_spikes;
    const int rc = run("env -u DISPLAY -u WAYLAND_DISPLAY " + std::string(ENGRAM_BINARY) + " run " +
                       (dir / "n.yaml").string() + " -o " + (dir / "n.h5").string() + " --live 2> " +
                       (dir / "err.txt").string() + " > " + (dir / "out.txt").string());
    REQUIRE(rc == 2);
    const auto err = slurp(dir / "err.txt");
    REQUIRE_THAT(
        err, Catch::Contains("--live needs a display") && Catch::Contains("DISPLAY") && Catch::Contains("xvfb-run"));
    REQUIRE(slurp(dir / "out.txt").empty());  // not even the banner: nothing was loaded
    REQUIRE_FALSE(std::filesystem::exists(dir / "n.h5"));
}

TEST_CASE("live: a viewer module that cannot be loaded is reported before anything is built", "[viz][unit]") {
    const auto dir = test::temp_dir("viz_nomodule");
    std::ofstream(dir / "n.yaml") << known_spikes;
    std::ofstream(dir / "not_a_module.so") << "not an ELF file";
    for (const auto& module : std::vector<std::string>{(dir / "missing.so").string(), (dir / "not_a_module.so").string()}) {
        INFO(module);
        // a display is named (nothing connects to it before the module is loaded)
        const int rc = run("env DISPLAY=:65000 ENGRAM_VIZ_MODULE=" + module + " " + std::string(ENGRAM_BINARY) + " run " +
                           (dir / "n.yaml").string() + " -o " + (dir / "n.h5").string() + " --live 2> " +
                           (dir / "err.txt").string() + " > " + (dir / "out.txt").string());
        REQUIRE(rc == 2);
        const auto err = slurp(dir / "err.txt");
        CHECK_THAT(err, Catch::Contains("viewer module") && Catch::Contains(module) && Catch::Contains("install-deps"));
        CHECK(slurp(dir / "out.txt").empty());
        CHECK_FALSE(std::filesystem::exists(dir / "n.h5"));
    }
    // engram plot checks the file before it loads the module
    const int rc = run("env DISPLAY=:65000 ENGRAM_VIZ_MODULE=" + (dir / "missing.so").string() + " " +
                       std::string(ENGRAM_BINARY) + " plot " + (dir / "absent.h5").string() + " 2> " +
                       (dir / "err.txt").string());
    REQUIRE(rc != 0);
    CHECK_THAT(slurp(dir / "err.txt"), Catch::Contains("absent.h5") && !Catch::Contains("viewer module"));
}

TEST_CASE("plot: errors name the file and what is wrong", "[viz][unit]") {
    const auto dir = test::temp_dir("viz_plot_errors");
    std::ofstream(dir / "k.yaml") << known_spikes;
    REQUIRE(run(std::string(ENGRAM_BINARY) + " run -q " + (dir / "k.yaml").string() + " -o " +
                (dir / "k.h5").string()) == 0);
    plot_options o;
    o.populations = {"a", "bb"};
    REQUIRE_THROWS_WITH(read_spikes((dir / "k.h5").string(), o),
                        Catch::Contains("k.h5: no population 'bb' in /spikes (present: a, b)"));
    o.populations = {};
    o.from = 150;
    o.to = 100;
    REQUIRE_THROWS_WITH(read_spikes((dir / "k.h5").string(), o), Catch::Contains("empty time range"));
    REQUIRE_THROWS_WITH(plot_results((dir / "missing.h5").string(), {}), Catch::Contains("missing.h5"));
    plot_options st;
    st.state = "a/v";
    REQUIRE_THROWS_WITH(plot_results((dir / "k.h5").string(), st),
                        Catch::Contains("no state report 'a/v' (recorded: none)"));
}

// ---- under an X server --------------------------------------------------------------------

TEST_CASE("live window: a short run draws the known spikes where the mapping says", "[viz]") {
    ensure_display();
    const auto dir = test::temp_dir("viz_live");
    std::ofstream(dir / "k.yaml") << known_spikes;
    const auto png = dir / "live.png", h5 = dir / "k.h5";
    REQUIRE(run(std::string(ENGRAM_BINARY) + " run -q " + (dir / "k.yaml").string() + " -o " + h5.string() +
                " --live --live-size 900x600 --live-window 250 --screenshot " + png.string()) == 0);
    REQUIRE(std::filesystem::exists(h5));  // the results file is complete as without --live
    sf::Image img;
    REQUIRE(img.loadFromFile(png.string()));
    REQUIRE(img.getSize() == sf::Vector2u(900, 600));

    const auto spec = test::parse(known_spikes);
    live_options opt;
    opt.width = 900;
    opt.height = 600;
    opt.window_ms = 250;
    const auto l = raster_layout(900, 600);
    const int boundary = live_position(spec, opt, 200, 0, 10).top;
    check_raster(
        img, l.raster,
        [&](double t, std::uint64_t n) {
            auto m = live_position(spec, opt, 200, t < 0 ? 0 : t, n);
            if (t < 0) m.column = -1;
            return m;
        },
        boundary);
}

TEST_CASE("engram plot: marked pixels are exactly the known spikes", "[viz]") {
    ensure_display();
    const auto dir = test::temp_dir("viz_plot");
    std::ofstream(dir / "k.yaml") << known_spikes;
    const auto h5 = (dir / "k.h5").string(), png = (dir / "k.png").string();
    REQUIRE(run(std::string(ENGRAM_BINARY) + " run -q " + (dir / "k.yaml").string() + " -o " + h5) == 0);
    REQUIRE(run(std::string(ENGRAM_BINARY) + " plot " + h5 + " -o " + png +
                " --size 1000x700 --from 0 --to 200 > /dev/null") == 0);
    sf::Image img;
    REQUIRE(img.loadFromFile(png));
    REQUIRE(img.getSize() == sf::Vector2u(1000, 700));
    plot_options o;
    o.width = 1000;
    o.height = 700;
    o.from = 0;
    o.to = 200;
    const auto data = read_spikes(h5, o);
    REQUIRE(data.spikes.size() == 5);
    const auto m = plot_mapping(data, o);
    auto at = [&](double t, std::uint64_t n) {
        const auto b = m.neurons.rows(n);
        return live_mapping{t < 0 ? -1 : m.raster.x + m.time.column(t), m.raster.y + b.top, m.raster.y + b.bottom};
    };
    check_raster(img, m.raster, at, at(-1, 10).top);

    // --populations reorders the stack: b on top.
    o.populations = {"b", "a"};
    REQUIRE(read_spikes(h5, o).populations[1].offset == 5);

    // State traces: the single-neuron example's membrane potential.
    const auto sn = (dir / "sn.h5").string(), vpng = (dir / "v.png").string();
    REQUIRE(run(std::string(ENGRAM_BINARY) + " run -q " + ENGRAM_SOURCE_DIR "/experiments/single_neuron.yaml -o " +
                sn) == 0);
    REQUIRE(run(std::string(ENGRAM_BINARY) + " plot " + sn + " --state neuron/v -o " + vpng + " > /dev/null") == 0);
    sf::Image v;
    REQUIRE(v.loadFromFile(vpng));
    REQUIRE(v.getSize() == sf::Vector2u(1200, 800));
    const auto sl = state_layout(1200, 800);
    int trace_pixels = 0;
    for (int y = sl.plot.y; y < sl.plot.y + sl.plot.h; ++y)
        for (int x = sl.plot.x; x < sl.plot.x + sl.plot.w; ++x)
            trace_pixels +=
                v.getPixel(static_cast<unsigned>(x), static_cast<unsigned>(y)) != sf::Color(background_colour);
    REQUIRE(trace_pixels > sl.plot.w / 2);  // a line across the plot
}

TEST_CASE("live window: keys pause, save a PNG and quit, and the results file is complete up to then", "[viz]") {
    ensure_display();
    const auto dir = test::temp_dir("viz_keys");
    const auto h5 = dir / "coba.h5";
    // COBA for 100 s simulated: far longer than the test lets it run.
    const pid_t pid = spawn(dir, std::string(ENGRAM_BINARY) + " run " + ENGRAM_SOURCE_DIR "/experiments/coba.yaml -o " +
                                     h5.string() + " --set simulation.duration=\"100 s\" --live > out.txt 2>&1");
    REQUIRE(pid > 0);
    struct reaper {  // a failed REQUIRE leaves no engram running
        pid_t pid;
        bool done = false;
        ~reaper() {
            if (!done) kill(pid, SIGKILL), waitpid(pid, nullptr, 0);
        }
    } guard{pid};
    test::x_keyboard keys;
    const bool found = keys.find_window("engram live", 15.0);
    INFO(slurp(dir / "out.txt"));
    REQUIRE(found);
    // Each key's effect is awaited before the next (frames can be slow under Xvfb).
    auto wait_for = [&](const std::function<bool()>& cond) {
        for (int i = 0; i < 200 && !cond(); ++i) usleep(50'000);
        return cond();
    };
    usleep(300'000);
    keys.press("space");  // pause
    usleep(300'000);
    keys.press("s");  // saves engram-live-1.png in the working directory
    REQUIRE(wait_for([&] { return slurp(dir / "out.txt").find("saved engram-live-1.png") != std::string::npos; }));
    keys.press("space");  // resume
    usleep(300'000);
    keys.press("q");
    const int rc = wait_exit(pid, 30);
    guard.done = true;
    INFO(slurp(dir / "out.txt"));
    REQUIRE(rc == 130);  // stopped as by Ctrl-C
    const auto out = slurp(dir / "out.txt");
    CHECK_THAT(out, Catch::Contains("interrupted at"));
    sf::Image shot;
    REQUIRE(shot.loadFromFile((dir / "engram-live-1.png").string()));
    REQUIRE(shot.getSize() == sf::Vector2u(1280, 800));
    REQUIRE(run(std::string(ENGRAM_BINARY) + " info " + h5.string() + " > " + (dir / "info.txt").string()) == 0);
    const auto summary = slurp(dir / "info.txt");
    INFO(summary);
    CHECK_THAT(summary, Catch::Contains("INCOMPLETE (interrupted)") && Catch::Contains("exc"));
    REQUIRE_FALSE(std::filesystem::exists(dir / "coba.h5.tmp"));
}

TEST_CASE("live feed: a pause holds the run at the end of a step until resumed or stopped", "[viz][unit]") {
    const auto spec = test::parse(known_spikes);
    std::atomic<bool> stop{false};
    live_feed feed(spec, 16, &stop);
    std::atomic<int> steps{0};
    feed.set_paused(true);
    std::thread sim([&] {
        for (std::uint64_t s = 1; s <= 3; ++s) {
            feed.on_step(s);
            ++steps;
        }
    });
    usleep(150'000);
    CHECK(steps == 0);  // held in on_step(1)
    feed.set_paused(false);
    for (int i = 0; i < 200 && steps < 3; ++i) usleep(10'000);
    CHECK(steps == 3);
    sim.join();

    feed.set_paused(true);
    std::thread sim2([&] { feed.on_step(4); });
    usleep(100'000);
    stop = true;  // Ctrl-C while paused: the run is let go
    sim2.join();
    REQUIRE(feed.last_step() == 4);
}
