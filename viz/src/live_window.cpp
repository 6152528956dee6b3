#include "engram/viz/live.hpp"

#include <SFML/Graphics.hpp>

#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <sstream>
#include <thread>

#include "engram/core/errors.hpp"
#include "engram/viz/axes.hpp"
#include "engram/viz/render.hpp"
#include "module_api.hpp"

namespace engram::viz {

// ---- consumer ---------------------------------------------------------------------------

namespace {

struct view_state {
    std::vector<population_band> pops;
    std::uint64_t total = 0, first = 0, count = 1;
    double window_ms = 1000;

    void clamp() {
        count = std::clamp<std::uint64_t>(count, 1, std::max<std::uint64_t>(1, total));
        if (first + count > total) first = total - count;
    }
    void zoom(double factor, double anchor /* 0 top .. 1 bottom */) {
        const double centre = static_cast<double>(first) + anchor * static_cast<double>(count);
        const auto n = static_cast<std::uint64_t>(std::max(1.0, std::round(static_cast<double>(count) * factor)));
        count = std::min(n, total);
        const double f = centre - anchor * static_cast<double>(count);
        first = f <= 0 ? 0 : static_cast<std::uint64_t>(f);
        clamp();
    }
    void scroll(double rows_fraction) {
        const double d = rows_fraction * static_cast<double>(count);
        const double f = static_cast<double>(first) + d;
        first = f <= 0 ? 0 : static_cast<std::uint64_t>(f);
        clamp();
    }
};

// CPU time of the calling thread (its wall time where that is not available).
double thread_cpu_seconds() {
#ifdef __linux__
    timespec ts{};
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
        return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
#endif
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string fmt(const char* f, double v) {
    char b[64];
    std::snprintf(b, sizeof b, f, v);
    return b;
}

}  // namespace

live_stats live_window(const network_spec& spec, live_feed& feed, const live_options& opt, std::atomic<bool>& stop,
                           const std::function<bool()>& finished, const std::function<void()>& start) {
    using clock = std::chrono::steady_clock;
    label_font();  // a missing font is reported before the window opens
#ifdef __linux__
    // Drawing yields to the simulation: this thread (and the threads a software OpenGL
    // such as Mesa's llvmpipe starts from it) runs at nice +10, the simulation thread at
    // the process's priority. Best effort: an error here changes nothing else.
    (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);
#endif
    view_state view;
    std::vector<std::pair<std::string, std::uint64_t>> sizes;
    for (const auto& p : spec.populations) sizes.emplace_back(p.name, p.size);
    view.pops = stack_populations(sizes);
    for (const auto& p : view.pops) view.total += p.size;
    view.count = std::max<std::uint64_t>(view.total, 1);
    view.window_ms = opt.window_ms;

    // SFML reports unsupported context settings (vertical sync under Xvfb) on sf::err();
    // keep that for the error message only.
    std::ostringstream sfml_log;
    auto* old = sf::err().rdbuf(sfml_log.rdbuf());
    sf::RenderWindow win(sf::VideoMode(opt.width, opt.height), "engram live", sf::Style::Default);
    sf::err().rdbuf(old);
    if (!win.isOpen())
        throw error("cannot open the live window (" + std::to_string(opt.width) + "x" + std::to_string(opt.height) +
                    "): " + sfml_log.str());
    // Frames are paced here, not by setFramerateLimit: see the end of the loop.
    live_stats stats;
    bool started = false;
    const auto opened = clock::now();
    win.setKeyRepeatEnabled(true);

    const double dt = feed.dt(), bin_ms = static_cast<double>(feed.bin_steps()) * dt;
    std::deque<raster_spike> kept;                                     // time-ordered, the last few windows
    std::vector<std::vector<double>> counts(spec.populations.size());  // per 1-ms bin, all run
    std::uint64_t budget = std::max<std::uint64_t>(opt.draw_budget, 1000), stride = 1;
    const bool auto_close = opt.close_at_end || !opt.screenshot.empty();
    int shots = 0;
    std::string flash;  // a message shown for a while (saved screenshot)
    clock::time_point flash_until{};
    bool done = false;
    constexpr double duty = 0.1;
    double fps = 0, fps_shown = 0;
    auto last_frame = clock::now();

    auto save = [&](const std::string& path) {
        sf::Texture shot;
        if (!shot.create(win.getSize().x, win.getSize().y)) throw error("cannot capture the live window");
        shot.update(win);
        save_png(shot.copyToImage(), path);
    };

    bool save_now = false, quit = false, dirty = true;
    // Keys and window events; also called while waiting between frames, so keys act at once.
    auto handle_events = [&] {
        sf::Event ev;
        while (win.pollEvent(ev)) {
            dirty = true;
            if (ev.type == sf::Event::Closed) {
                quit = true;
            } else if (ev.type == sf::Event::Resized) {
                win.setView(sf::View(
                    sf::FloatRect(0, 0, static_cast<float>(ev.size.width), static_cast<float>(ev.size.height))));
            } else if (ev.type == sf::Event::TextEntered) {
                const auto ch = ev.text.unicode;
                if (ch == '+' || ch == '=') view.window_ms = std::max(10.0, view.window_ms / 2);
                if (ch == '-' || ch == '_') view.window_ms = std::min(600'000.0, view.window_ms * 2);
            } else if (ev.type == sf::Event::KeyPressed) {
                switch (ev.key.code) {
                    case sf::Keyboard::Q:
                    case sf::Keyboard::Escape:
                        quit = true;
                        break;
                    case sf::Keyboard::Space:
                        if (!done) feed.set_paused(!feed.paused());
                        break;
                    case sf::Keyboard::S:
                        save_now = true;
                        break;
                    case sf::Keyboard::Up:
                        view.scroll(-0.25);
                        break;
                    case sf::Keyboard::Down:
                        view.scroll(0.25);
                        break;
                    case sf::Keyboard::PageUp:
                    case sf::Keyboard::Right:
                        view.zoom(0.5, 0.5);
                        break;
                    case sf::Keyboard::PageDown:
                    case sf::Keyboard::Left:
                        view.zoom(2.0, 0.5);
                        break;
                    case sf::Keyboard::Home:
                        view.first = 0, view.count = std::max<std::uint64_t>(view.total, 1);
                        break;
                    default:
                        break;
                }
            } else if (ev.type == sf::Event::MouseWheelScrolled) {
                const auto l = raster_layout(win.getSize().x, win.getSize().y);
                const double anchor = std::clamp(
                    (ev.mouseWheelScroll.y - l.raster.y) / std::max(1.f, static_cast<float>(l.raster.h)), 0.f, 1.f);
                view.zoom(ev.mouseWheelScroll.delta > 0 ? 0.8 : 1.25, anchor);
            }
        }
    };

    // Takes what the simulation produced out of the rings (also between frames, so that
    // they do not fill while the window waits) and forgets spikes older than needed.
    auto drain = [&] {
        feed.spikes.drain([&](const live_feed::spike_event& e) {
            kept.push_back({static_cast<double>(e.step) * dt, e.neuron, e.pop});
        });
        feed.rates.drain([&](const live_feed::rate_event& e) {
            auto& c = counts[e.pop];
            if (c.size() <= e.bin) c.resize(e.bin + 1, 0.0);
            c[e.bin] = e.count;
        });
        const double now_ms = static_cast<double>(feed.last_step()) * dt;
        const double keep_ms = std::max(view.window_ms, 2000.0);
        while (!kept.empty() && kept.front().t < now_ms - keep_ms) kept.pop_front();
        while (kept.size() > 8'000'000) kept.pop_front();
    };

    while (true) {
        handle_events();
        if (quit && !save_now) break;
        if (stop.load() && finished()) break;  // Ctrl-C (or SIGTERM) ended the run: close too
        // Paused or finished, with nothing new to show: no need to draw.
        if ((done || feed.paused()) && !dirty && !save_now && !(done && auto_close)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            continue;
        }
        dirty = false;

        // Drain what the simulation produced.
        const bool was_finished = finished();  // read before draining: nothing arrives after
        const auto frame_start = clock::now();
        const double frame_cpu = thread_cpu_seconds();
        drain();
        const std::uint64_t step = feed.last_step();
        const double now_ms = static_cast<double>(step) * dt;
        if (was_finished) done = true;

        // The figure.
        raster_figure fig;
        fig.populations = view.pops;
        const auto l = raster_layout(win.getSize().x, win.getSize().y);
        fig.time = live_time(now_ms, view.window_ms, l.raster.w);
        fig.neurons = {view.first, view.count, l.raster.h};
        auto lo = std::lower_bound(kept.begin(), kept.end(), fig.time.t0,
                                   [](const raster_spike& s, double t) { return s.t < t; });
        const auto in_window = static_cast<std::uint64_t>(kept.end() - lo);
        // Thinned only while the run goes: paused or finished, every spike is drawn.
        const bool hurry = !done && !feed.paused();
        stride = hurry ? thinning_stride(in_window, budget) : 1;
        fig.spikes.reserve(in_window / stride + 1);
        for (auto it = lo; it < kept.end(); it += static_cast<std::ptrdiff_t>(std::min<std::uint64_t>(
                                                stride, static_cast<std::uint64_t>(kept.end() - it))))
            fig.spikes.push_back(*it);
        // Rates, re-binned to about 200 bins per window.
        const double show_bin = nice_bin(view.window_ms, 200, bin_ms);
        const auto per = static_cast<std::size_t>(std::max(1.0, std::round(show_bin / bin_ms)));
        const auto b0 =
            static_cast<std::size_t>(std::max(0.0, std::floor(fig.time.t0 / bin_ms / static_cast<double>(per)))) * per;
        for (std::size_t p = 0; p < counts.size(); ++p) {
            rate_trace tr;
            tr.t0 = static_cast<double>(b0) * bin_ms;
            tr.bin_ms = static_cast<double>(per) * bin_ms;
            const double scale = 1000.0 / (tr.bin_ms * std::max<double>(1.0, static_cast<double>(view.pops[p].size)));
            for (std::size_t b = b0; b + per <= counts[p].size(); b += per) {
                double s = 0;
                for (std::size_t k = 0; k < per; ++k) s += counts[p][b + k];
                tr.hz.push_back(s * scale);
            }
            fig.rates.push_back(std::move(tr));
        }
        const double ratio = feed.realtime_ratio();
        fps_shown = fps_shown == 0 ? fps : 0.8 * fps_shown + 0.2 * fps;
        fig.title = "engram live: " + std::to_string(view.total) + " neurons";
        fig.status = "t = " + fmt("%.1f ms", now_ms) + "   " +
                     (ratio > 0 ? fmt("%.2fx realtime", ratio) : std::string("-")) + "   window " +
                     fmt("%g ms", view.window_ms) + "   rate bin " + fmt("%g ms", per * bin_ms) + "   " +
                     fmt("%.0f fps", fps_shown) +
                     (done            ? "   finished (q to close)"
                      : feed.paused() ? "   PAUSED (space)"
                                      : "");
        if (stride > 1) fig.notes.push_back("drawing 1 in " + std::to_string(stride) + " spikes");
        if (feed.dropped() > 0) fig.notes.push_back(std::to_string(feed.dropped()) + " spikes not shown");
        if (feed.dropped() > 0) fig.notes.push_back("(display behind)");
        fig.notes.push_back("");
        for (const char* k : {"space  pause/resume", "+ / -  time window", "wheel, PgUp/PgDn  zoom", "up/down  scroll",
                              "home  all neurons", "s  save PNG", "q, Esc  quit"})
            fig.notes.push_back(k);
        if (!flash.empty() && clock::now() < flash_until) fig.notes.push_back(flash);
        draw_raster_figure(win, fig);
        ++stats.frames;
        stats.max_stride = std::max(stats.max_stride, stride);

        // Thinning: painting a frame should stay well within the frame time.
        const double paint = std::chrono::duration<double>(clock::now() - frame_start).count();
        const double frame = 1.0 / std::max(1u, opt.fps);
        if (paint > 0.5 * frame)
            budget = std::max<std::uint64_t>(20'000, budget / 2);
        else if (paint < 0.1 * frame && stride > 1)
            budget = budget + budget / 4;

        if (save_now) {
            std::string path;
            do path = "engram-live-" + std::to_string(++shots) + ".png";
            while (std::filesystem::exists(path));
            save(path);
            std::printf("\nsaved %s\n", path.c_str());
            std::fflush(stdout);
            flash = "saved " + path;
            flash_until = clock::now() + std::chrono::seconds(3);
            save_now = false;
        }
        if (quit) break;
        if (done && auto_close) {
            if (!opt.screenshot.empty()) save(opt.screenshot);
            win.display();
            break;
        }
        win.display();
        if (!started) {
            started = true;
            // The window, its OpenGL context and the font's glyphs are ready: the run may
            // start (so that setting them up, slow with a software renderer, does not
            // overlap it).
            if (start) start();
        }

        // Pacing: at most opt.fps frames per second, and while the run goes, drawing takes
        // at most `duty` of the time (of one core), so a slow (software) renderer or a busy
        // machine lowers the frame rate rather than the run's speed; at least one frame a
        // second. Keys and the rings are served while waiting; the wait is cut
        // short when the run ends, to draw its end and close promptly.
        // The larger of CPU and wall time: on a busy machine frames get rarer still.
        const double work = std::max(thread_cpu_seconds() - frame_cpu,
                                     std::chrono::duration<double>(clock::now() - frame_start).count());
        const bool running = !done && !feed.paused() && stats.frames > 1;
        const double interval = std::max(frame, running ? std::min(work / duty, 1.0) : 0.0);  // >= 1 frame/s
        const auto next =
            frame_start + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(interval));
        while (clock::now() < next && !(running && finished()) && !quit && !save_now) {
            handle_events();
            drain();
            std::this_thread::sleep_for(std::min<clock::duration>(next - clock::now(), std::chrono::milliseconds(5)));
        }
        const double since = std::chrono::duration<double>(clock::now() - last_frame).count();
        last_frame = clock::now();
        fps = since > 0 ? 1.0 / since : 0.0;
    }
    win.close();
    // Closing the window ends the run (as Ctrl-C does): the run stops after its step.
    stop.store(true);
    feed.release();
    if (!started && start) start();  // closed before the first frame: the run must still end
    stats.seconds = std::chrono::duration<double>(clock::now() - opened).count();
    stats.dropped = feed.dropped();
    return stats;
}

}  // namespace engram::viz
