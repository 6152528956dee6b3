// Scientific checks on the reference networks (label: science). CI runs them at reduced
// length; bench/compare_stats.py runs the full 10-seed comparison with Brian2.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "engram/core/stats.hpp"
#include "helpers.hpp"

using namespace engram;
using namespace engram::test;

namespace {
spike_stats network_stats(const std::string& file, const std::string& duration) {
    const auto ex = load_experiment(std::string(ENGRAM_SOURCE_DIR) + "/experiments/" + file, builtin_models(),
                                    {"simulation.duration=" + duration});
    simulation sim(ex.spec, builtin_models());
    // both populations together, as the peers count them
    struct all : observer {
        isi_accumulator acc{4000};
        double dt;
        void on_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t n) override {
            for (std::size_t i = 0; i < n; ++i) acc.add(ids[i] + (pop == 1 ? 3200u : 0u), step * dt);
        }
    } obs;
    obs.dt = ex.spec.simulation.dt;
    sim.run(steps_for(ex.spec.simulation.duration, ex.spec.simulation.dt), &obs);
    return obs.acc.finish(ex.spec.simulation.duration);
}
}  // namespace

// Brian2 2.5.1 on the same networks (../shared/peers/README.md, 10 s): COBA 19.3 Hz,
// CV 1.74; CUBA 5.56 Hz, CV 0.70. One seed varies by about 5%, so the bounds here are
// 10% on the rate and 5% on the CV; the 10-seed comparison within 3% is in bench/.
// (The CV needs the full 10 s: shorter windows cut the long ISIs and bias it down.)
TEST_CASE("COBA fires asynchronously and irregularly at Brian2's rate", "[science][slow]") {
    const auto s = network_stats("coba.yaml", "10 s");
    INFO("rate " << s.mean_rate_hz << " Hz, CV " << s.cv_isi);
    CHECK(s.mean_rate_hz == Approx(19.3).epsilon(0.10));
    CHECK(s.cv_isi == Approx(1.74).epsilon(0.05));
}

TEST_CASE("CUBA fires at Brian2's rate", "[science][slow]") {
    const auto s = network_stats("cuba.yaml", "10 s");
    INFO("rate " << s.mean_rate_hz << " Hz, CV " << s.cv_isi);
    CHECK(s.mean_rate_hz == Approx(5.56).epsilon(0.10));
    CHECK(s.cv_isi == Approx(0.70).epsilon(0.05));
}
