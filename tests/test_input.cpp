// The `input` section: a data set streamed sample by sample into a dataset_stream
// population, with /samples in the results file. A tiny IDX data set (3 classes x 4
// images of 4x4 pixels) is written here; N-MNIST uses the real recording in
// shared/testdata arranged as a class-folder split.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "engram/core/cpus.hpp"
#include "engram/core/errors.hpp"
#include "engram/core/hdf5.hpp"
#include "engram/core/results.hpp"
#include "engram/datasets/idx.hpp"
#include "engram/datasets/input.hpp"
#include "engram/datasets/nmnist.hpp"
#include "helpers.hpp"

using namespace engram;
using namespace engram::test;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// Image i, pixel p: (p + i) % 6 * 51, i.e. values 0, 0.2, ..., 1; label i % 3.
// With regular coding at 100 Hz over 100 ms, pixel p of image i fires 2 * ((p + i) % 6) times.
fs::path tiny_idx() {
    const fs::path d = temp_dir("input_idx");
    std::vector<std::uint8_t> images, labels;
    for (std::size_t i = 0; i < 12; ++i) {
        for (std::size_t p = 0; p < 16; ++p) images.push_back(static_cast<std::uint8_t>((p + i) % 6 * 51));
        labels.push_back(static_cast<std::uint8_t>(i % 3));
    }
    write_idx((d / "train-images-idx3-ubyte").string(), {12, 4, 4}, images);
    write_idx((d / "train-labels-idx1-ubyte").string(), {12}, labels);
    return d;
}

std::string idx_experiment(const fs::path& dir, const std::string& encoding = "{regular: {max_rate: 100 Hz, duration: 100 ms}}",
                           const std::string& simulation = "{dt: 0.1 ms, seed: 3, min_neurons_per_thread: 1}") {
    return "simulation: " + simulation + R"(
input:
  dataset: mnist
  path: )" + dir.string() + R"(
  split: train
  subset: {count: 6, seed: 1}
  encoding: )" + encoding + R"(
  population: pixels
  gap: 20 ms
populations:
  pixels: {size: 16, model: dataset_stream}
  out: {size: 2, model: lif_curr_exp}
projections:
  drive: {source: pixels, target: out, receptor: ex, weight: 1000 pA, delay: 1 ms, connector: all_to_all}
)";
}

struct input_run {
    experiment ex;
    std::shared_ptr<dataset_input> in;
    capture spikes;
    std::string note, h5;
};

input_run run_input(const std::string& yaml, const std::string& name, int threads = 1, std::size_t parts = 0) {
    auto streams = std::make_shared<input_streams>();
    model_registry reg;
    register_builtin_models(reg);
    register_dataset_models(reg, streams);
    input_run r;
    r.ex = parse_experiment(yaml, "input.yaml", reg);
    r.in = prepare_input(r.ex, *streams, &r.note);
    REQUIRE(r.in);
    simulation sim(r.ex.spec, reg, threads, parts);
    r.h5 = (temp_dir("input_run_" + name) / "run.h5").string();
    results_writer w(r.h5, r.ex.spec, r.ex.resolved_yaml, &reg);
    observer_list obs;
    obs.add(&w);
    obs.add(&r.spikes);
    const auto st = sim.run(steps_for(r.ex.spec.simulation.duration, r.ex.spec.simulation.dt), &obs);
    const double simulated = static_cast<double>(st.steps_done) * r.ex.spec.simulation.dt;
    write_samples(w, *r.in, r.ex.spec.simulation.dt, simulated);
    w.close(true, simulated, 0.0);
    return r;
}

// The config_error a broken experiment gives.
config_error error_of(const std::string& yaml) {
    auto streams = std::make_shared<input_streams>();
    model_registry reg;
    register_builtin_models(reg);
    register_dataset_models(reg, streams);
    try {
        experiment ex = parse_experiment(yaml, "input.yaml", reg);
        prepare_input(ex, *streams);
    } catch (const config_error& e) {
        return e;
    }
    FAIL("no config_error");
    throw std::logic_error("unreachable");
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
    const auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
}

// A minimal SHD file: ragged spike arrays (times in s, channels) and labels.
void write_shd(const std::string& path, const std::vector<std::vector<float>>& times,
               const std::vector<std::vector<std::uint16_t>>& units, const std::vector<std::uint16_t>& labels) {
    auto f = h5::create_file(path);
    auto spikes = h5::create_group(f, "spikes", path);
    auto vlen = [&](const char* name, hid_t mem, hid_t file, auto& rows) {
        std::vector<hvl_t> v;
        for (auto& r : rows) v.push_back({r.size(), r.data()});
        const hsize_t n = rows.size();
        h5::handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
        h5::handle ftype(H5Tvlen_create(file), H5Tclose), mtype(H5Tvlen_create(mem), H5Tclose);
        h5::handle ds(H5Dcreate2(spikes, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
        REQUIRE(H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) >= 0);
    };
    auto t = times;
    auto u = units;
    vlen("times", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, t);
    vlen("units", H5T_NATIVE_UINT16, H5T_STD_U16LE, u);
    const hsize_t n = labels.size();
    h5::handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
    h5::handle ds(H5Dcreate2(f, "labels", H5T_STD_U16LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    REQUIRE(H5Dwrite(ds, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.data()) >= 0);
}

int line_of(const std::string& text, const std::string& what) {
    const auto at = text.find(what);
    REQUIRE(at != std::string::npos);
    return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
}

}  // namespace

TEST_CASE("input: a stratified IDX subset streams sample by sample, regular coding gives exact counts", "[unit][input]") {
    const auto dir = tiny_idx();
    const auto r = run_input(idx_experiment(dir), "regular");
    const double dt = r.ex.spec.simulation.dt;

    // 6 of 12, stratified: 2 per class, distinct, labels as in the file.
    const auto& smp = r.in->samples();
    REQUIRE(smp.size() == 6);
    std::map<int, int> per_class;
    std::set<std::uint64_t> seen;
    for (const auto& s : smp) {
        CHECK(s.label == static_cast<int>(s.index % 3));
        ++per_class[s.label];
        seen.insert(s.index);
    }
    CHECK(per_class == std::map<int, int>{{0, 2}, {1, 2}, {2, 2}});
    CHECK(seen.size() == 6);

    // No duration given: 6 * (100 + 20) ms, written into the stored experiment too.
    CHECK(r.ex.spec.simulation.duration == Approx(720.0));
    CHECK_THAT(r.ex.resolved_yaml, Contains("720 ms"));
    CHECK(r.note.empty());

    // Spikes of the input population fall inside the windows (start, stop], with the
    // exact regular counts of the sample played there.
    std::map<std::pair<std::size_t, std::uint32_t>, int> counts;  // (sample, neuron)
    std::size_t in_spikes = 0;
    for (const auto& s : r.spikes.spikes) {
        if (s.pop != 0) continue;
        ++in_spikes;
        const double t = static_cast<double>(s.step) * dt;
        const auto k = static_cast<std::size_t>((s.step - 1) / 1200);
        REQUIRE(k < 6);
        CHECK(t > r.in->start_ms(k, dt) + 1e-9);
        CHECK(t <= r.in->stop_ms(k, dt) + 1e-9);
        ++counts[{k, s.id}];
    }
    std::size_t expected_total = 0;
    for (std::size_t k = 0; k < 6; ++k)
        for (std::uint32_t p = 0; p < 16; ++p) {
            const int expected = 2 * static_cast<int>((p + smp[k].index) % 6);
            expected_total += static_cast<std::size_t>(expected);
            INFO("sample " << k << " (index " << smp[k].index << ") pixel " << p);
            CHECK(counts[{k, p}] == expected);
        }
    CHECK(in_spikes == expected_total);
    CHECK(r.spikes.count(1) > 0);  // the LIF layer is driven

    // /samples in the results file.
    auto f = h5::open_file(r.h5);
    const auto index = h5::read_vector<std::uint64_t>(f, "samples/index", r.h5);
    const auto label = h5::read_vector<std::int64_t>(f, "samples/label", r.h5);
    const auto start = h5::read_vector<double>(f, "samples/start_ms", r.h5);
    const auto stop = h5::read_vector<double>(f, "samples/stop_ms", r.h5);
    REQUIRE(index.size() == 6);
    REQUIRE(label.size() == 6);
    REQUIRE(start.size() == 6);
    REQUIRE(stop.size() == 6);
    for (std::size_t k = 0; k < 6; ++k) {
        CHECK(index[k] == smp[k].index);
        CHECK(label[k] == smp[k].label);
        CHECK(start[k] == Approx(120.0 * static_cast<double>(k)));
        CHECK(stop[k] == Approx(120.0 * static_cast<double>(k) + 100.0));
    }
}

TEST_CASE("input: the subset and the spikes do not depend on threads or parts", "[unit][input]") {
    const auto dir = tiny_idx();
    const std::string yaml = idx_experiment(dir, "{poisson: {max_rate: 200 Hz, duration: 100 ms}}");
    const auto one = run_input(yaml, "t1");
    const auto four = run_input(yaml, "t4", 2, 4);
    CHECK(one.spikes.spikes == four.spikes.spikes);
    std::vector<std::uint64_t> a, b;
    for (const auto& s : one.in->samples()) a.push_back(s.index);
    for (const auto& s : four.in->samples()) b.push_back(s.index);
    CHECK(a == b);
}

TEST_CASE("input: Poisson coding gives the expected number of spikes per sample", "[unit][input]") {
    const auto dir = tiny_idx();
    const auto r = run_input(idx_experiment(dir, "{poisson: {max_rate: 200 Hz, duration: 100 ms}}"), "poisson");
    const double dt = r.ex.spec.simulation.dt;
    std::vector<double> counts(6, 0.0);
    for (const auto& s : r.spikes.spikes) {
        if (s.pop != 0) continue;
        const auto k = static_cast<std::size_t>((s.step - 1) / 1200);
        REQUIRE(k < 6);
        CHECK(static_cast<double>(s.step) * dt <= r.in->stop_ms(k, dt) + 1e-9);
        counts[k] += 1;
    }
    double total = 0, mean_total = 0;
    for (std::size_t k = 0; k < 6; ++k) {
        double mean = 0;  // sum over pixels of v * 200 Hz * 0.1 s
        for (std::size_t p = 0; p < 16; ++p) mean += static_cast<double>((p + r.in->samples()[k].index) % 6) * 0.2 * 20.0;
        CHECK(std::fabs(counts[k] - mean) < 5 * std::sqrt(mean));
        total += counts[k];
        mean_total += mean;
    }
    CHECK(std::fabs(total - mean_total) < 5 * std::sqrt(mean_total));
}

TEST_CASE("input: a shorter simulation.duration plays only the samples that fit", "[unit][input]") {
    const auto dir = tiny_idx();
    const auto r = run_input(idx_experiment(dir, "{regular: {max_rate: 100 Hz, duration: 100 ms}}",
                                            "{dt: 0.1 ms, duration: 300 ms, seed: 3}"),
                             "short");
    CHECK(r.in->played() == 2);  // windows end at 100 and 220 ms; the third at 340 ms
    CHECK_THAT(r.note, Contains("2 of the 6 samples"));
    for (const auto& s : r.spikes.spikes)
        if (s.pop == 0) CHECK(s.step <= 2200);
    auto f = h5::open_file(r.h5);
    CHECK(h5::read_vector<std::uint64_t>(f, "samples/index", r.h5).size() == 2);
}

TEST_CASE("input: errors name file, line, column and key", "[unit][input]") {
    const auto dir = tiny_idx();
    const std::string good = idx_experiment(dir);

    SECTION("unknown key, with a suggestion") {
        const std::string y = replace(good, "  gap: 20 ms", "  gapp: 20 ms");
        const auto e = error_of(y);
        CHECK(e.file() == "input.yaml");
        CHECK(e.line() == line_of(y, "gapp"));
        CHECK(e.column() == 3);
        CHECK(e.key() == "input.gapp");
        CHECK(e.suggestion() == "gap");
    }
    SECTION("unknown key in the encoding") {
        const std::string y = replace(good, "max_rate: 100 Hz", "max_rat: 100 Hz");
        const auto e = error_of(y);
        CHECK(e.key() == "input.encoding.regular.max_rat");
        CHECK(e.line() == line_of(y, "max_rat"));
        CHECK(e.suggestion() == "max_rate");
    }
    SECTION("unknown data set, with the list") {
        const std::string y = replace(good, "dataset: mnist", "dataset: mnits");
        const auto e = error_of(y);
        CHECK(e.key() == "input.dataset");
        CHECK(e.line() == line_of(y, "mnits"));
        CHECK_THAT(std::string(e.what()), Contains("fashion-mnist, nmnist, shd, ntidigits"));
        CHECK(e.suggestion() == "mnist");
    }
    SECTION("an encoding for the other kind of data") {
        const auto e = error_of(replace(good, "{regular: {max_rate: 100 Hz, duration: 100 ms}}", "{events: {duration: 100 ms}}"));
        CHECK(e.key() == "input.encoding.events");
        CHECK_THAT(std::string(e.what()), Contains("poisson, regular, latency"));
    }
    SECTION("missing data names the path and the fetch command") {
        const std::string missing = (fs::temp_directory_path() / "engram_no_such_data").string();
        const std::string y = replace(good, "path: " + dir.string(), "path: " + missing);
        const auto e = error_of(y);
        CHECK(e.key() == "input.path");
        CHECK(e.line() == line_of(y, "path:"));
        CHECK_THAT(std::string(e.what()), Contains(missing));
        CHECK_THAT(std::string(e.what()), Contains("scripts/fetch-data.sh mnist"));
    }
    SECTION("the population's size must match the encoding") {
        const auto e = error_of(replace(good, "{size: 16, model: dataset_stream}", "{size: 15, model: dataset_stream}"));
        CHECK(e.key() == "input.population");
        CHECK_THAT(std::string(e.what()), Contains("16"));
    }
    SECTION("the population must be a dataset_stream") {
        const auto e = error_of(replace(good, "{size: 16, model: dataset_stream}", "{size: 16, model: spike_array}"));
        CHECK(e.key() == "input.population");
        CHECK_THAT(std::string(e.what()), Contains("dataset_stream"));
    }
    SECTION("too many samples asked for") {
        const auto e = error_of(replace(good, "count: 6", "count: 13"));
        CHECK(e.key() == "input.subset.count");
        CHECK_THAT(std::string(e.what()), Contains("12"));
    }
    SECTION("a dataset_stream population without an input section") {
        const std::string y = "populations:\n  pixels: {size: 16, model: dataset_stream}\n";
        const auto e = error_of(y);
        CHECK(e.key() == "populations.pixels.model");
    }
}

TEST_CASE("input: N-MNIST from a class-folder split, events clipped to the window", "[unit][input]") {
    const fs::path root = temp_dir("input_nmnist");
    fs::create_directories(root / "Train" / "3");
    fs::copy_file(ENGRAM_SOURCE_DIR "/../shared/testdata/sample_nmnist.bin", root / "Train" / "3" / "00001.bin");
    const std::string yaml = R"(
simulation: {dt: 0.1 ms}
input:
  dataset: nmnist
  path: )" + root.string() + R"(
  subset: {count: 1}
  encoding: {events: {duration: 300 ms}}
  gap: 10 ms
populations:
  input: {size: 2312, model: dataset_stream}
)";
    const auto r = run_input(yaml, "nmnist");
    REQUIRE(r.in->samples().size() == 1);
    CHECK(r.in->samples()[0].label == 3);
    CHECK(r.ex.spec.simulation.duration == Approx(310.0));

    // Expected: every event at t <= 300 ms, on the step grid, one spike per neuron and step.
    const auto ev = read_nmnist((root / "Train" / "3" / "00001.bin").string());
    std::set<std::pair<std::uint64_t, std::uint32_t>> expected, got;
    const auto trains = to_spike_trains(ev, 34, 34);
    for (std::size_t i = 0; i < trains.size(); ++i)
        for (double t : trains[i])
            if (t <= 300.0) expected.insert({static_cast<std::uint64_t>(std::max<long long>(1, std::llround(t / 0.1))), static_cast<std::uint32_t>(i)});
    for (const auto& s : r.spikes.spikes) got.insert({s.step, s.id});
    CHECK(got.size() == r.spikes.spikes.size());
    CHECK(got == expected);
    CHECK(expected.size() > 4000);  // 4,325 events, a few after 300 ms
    CHECK(expected.size() < 4325);
}

TEST_CASE("input: SHD, one file per split, spikes after the window dropped", "[unit][input]") {
    const fs::path root = temp_dir("input_shd");
    write_shd((root / "shd_train.h5").string(), {{0.0f, 0.25f, 0.5f}, {0.75f}, {0.125f, 1.5f}, {0.3f}},
              {{699, 3, 3}, {5}, {0, 42}, {1}}, {4, 19, 0, 4});
    const std::string yaml = R"(
input:
  dataset: shd
  path: )" + root.string() + R"(
  subset: {count: 3, seed: 5}
  encoding: {events: {duration: 1 s}}
populations:
  input: {size: 700, model: dataset_stream}
)";
    const auto r = run_input(yaml, "shd");
    std::map<int, int> per_class;
    for (const auto& s : r.in->samples()) ++per_class[s.label];
    CHECK(per_class == std::map<int, int>{{0, 1}, {4, 1}, {19, 1}});
    CHECK(r.ex.spec.simulation.duration == Approx(3000.0));
    // Per sample: the spikes within 1 s, at their recorded times (0 s -> the first step).
    std::map<std::uint64_t, std::set<std::pair<std::uint64_t, std::uint32_t>>> expected{
        {0, {{1, 699}, {2500, 3}, {5000, 3}}}, {1, {{7500, 5}}}, {2, {{1250, 0}}}, {3, {{3000, 1}}}};
    std::set<std::pair<std::uint64_t, std::uint32_t>> want, got;
    for (std::size_t k = 0; k < 3; ++k)
        for (const auto& [step, id] : expected.at(r.in->samples()[k].index)) want.insert({step + 10000 * k, id});
    for (const auto& s : r.spikes.spikes) got.insert({s.step, s.id});
    CHECK(got == want);
}

TEST_CASE("input: static images become N-MNIST-like events with the saccade encoding", "[unit][input]") {
    const auto dir = tiny_idx();
    std::string yaml = idx_experiment(dir, "{saccade: {saccade: 50 ms, threshold: 0.3}}");
    yaml = replace(yaml, "pixels: {size: 16, model: dataset_stream}", "pixels: {size: 2312, model: dataset_stream}");
    const auto r = run_input(yaml, "saccade");
    REQUIRE(r.in->played() == 6);
    // each sample's events fall inside its 150 ms window, and every sample makes events
    std::vector<std::size_t> per(6, 0);
    std::size_t on = 0, off = 0;
    const double dt = r.ex.spec.simulation.dt;
    for (const auto& s : r.spikes.spikes) {
        if (s.pop != 0) continue;
        const auto k = static_cast<std::size_t>((s.step - 1) / 1700);  // 150 ms window + 20 ms gap
        REQUIRE(k < 6);
        CHECK(static_cast<double>(s.step) * dt > r.in->start_ms(k, dt));
        CHECK(static_cast<double>(s.step) * dt <= r.in->stop_ms(k, dt) + 1e-9);
        ++per[k];
        (s.id >= 34 * 34 ? on : off) += 1;
    }
    for (auto n : per) CHECK(n > 10);
    CHECK(on > 0);
    CHECK(off > 0);
    // the same seed gives the same events
    CHECK(run_input(yaml, "saccade2").spikes.spikes == r.spikes.spikes);
    // the population must have one neuron per sensor channel
    const auto e = error_of(idx_experiment(dir, "{saccade: {saccade: 50 ms}}"));
    CHECK_THAT(e.message(), Contains("2312"));
}

TEST_CASE("input: workers meet after every step where a data set feeds the network", "[unit][input]") {
    // Every input is a one-step projection into an exponential synapse, so the workers
    // could run a step apart; but the sample that all parts read is replaced when the
    // next window starts (with no gap, in the step right after the last one of a
    // window), so a worker a step ahead would swap it under the other one.
    const auto dir = tiny_idx();
    std::string yaml = idx_experiment(dir, "{regular: {max_rate: 100 Hz, duration: 100 ms}}", "{dt: 0.1 ms, seed: 3, min_neurons_per_thread: 1}");
    yaml = replace(yaml, "gap: 20 ms", "gap: 0 ms");
    yaml = replace(yaml, "delay: 1 ms, connector: all_to_all", "delay: 0.1 ms, connector: all_to_all");
    auto streams = std::make_shared<input_streams>();
    model_registry reg;
    register_builtin_models(reg);
    register_dataset_models(reg, streams);
    experiment ex = parse_experiment(yaml, "input.yaml", reg);
    REQUIRE(prepare_input(ex, *streams));
    if (usable_cpus() < 2) {
        WARN("one core: no second worker, so which loop runs is not shown here");
    } else {
        simulation fed(ex.spec, reg, 2, 4);
        REQUIRE(fed.workers() == 2);
        CHECK_FALSE(fed.pipelined());

        // the same network with a spike_array source in place of the data set does pipeline
        network_spec plain = ex.spec;
        for (auto& p : plain.populations)
            if (p.model == "dataset_stream") {
                p.model = "spike_array";
                p.params["spike_times"].trains = {{1.0}};
            }
        simulation free_running(plain, reg, 2, 4);
        REQUIRE(free_running.workers() == 2);
        CHECK(free_running.pipelined());
    }

    // and the fed network gives the spikes it gives on one thread
    const auto one = run_input(yaml, "lock1");
    const auto two = run_input(yaml, "lock2", 2, 4);
    CHECK(one.spikes.spikes == two.spikes.spikes);
    CHECK_FALSE(one.spikes.spikes.empty());
}
