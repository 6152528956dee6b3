// Spike sources and input stimuli: rates against their expected values.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "../core/src/poisson.hpp"
#include "engram/core/rng.hpp"

#include "helpers.hpp"

using namespace engram;
using namespace engram::test;

TEST_CASE("Poisson sources fire at their rate, per population or per neuron", "[unit][sources]") {
    auto c = run(parse(R"(
simulation: {dt: 0.1 ms, duration: 2 s, seed: 3}
populations:
  a: {size: 1000, model: poisson, params: {rate: 20 Hz}}
  b: {size: 3, model: poisson, params: {rate: [5 Hz, 50 Hz, 500 Hz]}}
  c: {size: 100, model: poisson, params: {rate: 100 Hz, start: 500 ms, stop: 1 s}}
)"));
    const double expect = 1000 * 20 * 2.0;
    CHECK(std::fabs(double(c.count(0)) - expect) < 5 * std::sqrt(expect));
    std::vector<double> per(3, 0);
    for (const auto& s : c.spikes)
        if (s.pop == 1) per[s.id] += 1;
    for (int i = 0; i < 3; ++i) {
        const double e = std::array{5.0, 50.0, 500.0}[i] * 2.0;
        CHECK(std::fabs(per[i] - e) < 5 * std::sqrt(e) + 1);
    }
    for (const auto& s : c.spikes)
        if (s.pop == 2) { CHECK(s.step > 5000); CHECK(s.step <= 10000); }
    CHECK(std::fabs(double(c.count(2)) - 5000.0) < 5 * std::sqrt(5000.0));
}

TEST_CASE("spike arrays emit at the step nearest each time", "[unit][sources]") {
    auto c = run(parse(R"(
simulation: {dt: 0.1 ms, duration: 10 ms}
populations:
  s: {size: 2, model: spike_array, params: {spike_times: [[1 ms, 2.04 ms, 7.5 ms], [0.06 ms]]}}
)"));
    REQUIRE(c.spikes.size() == 4);
    CHECK(c.spikes[0] == capture::spike{1, 0, 1});
    CHECK(c.spikes[1] == capture::spike{10, 0, 0});
    CHECK(c.spikes[2] == capture::spike{20, 0, 0});
    CHECK(c.spikes[3] == capture::spike{75, 0, 0});
}

TEST_CASE("poisson_input adds weight x Poisson(n_sources * rate * dt) each step", "[unit][sources]") {
    // A non-leaky delta neuron counts its input: v = number of events x weight.
    auto c = run(parse(R"(
simulation: {dt: 0.1 ms, duration: 100 ms, seed: 5}
populations:
  n: {size: 200, model: lif_curr_delta, params: {tau_m: 1e12 ms, E_L: 0 mV, V_reset: 0 mV, V_th: 1e9 mV}}
stimuli:
  drive: {type: poisson_input, target: n, rate: 10 Hz, n_sources: 1000, weight: 0.01 mV, start: 20 ms}
record: {state: {r: {population: n, variables: v, interval: 10 ms}}}
)"));
    // 1000 sources x 10 Hz x 80 ms = 800 events per neuron (started at 20 ms); last sample at 90 ms -> 700
    double m = 0;
    const auto& last = c.samples[0].back()[0];
    for (float x : last) m += x / 0.01;
    m /= last.size();
    CHECK(m == Approx(700.0).margin(5 * std::sqrt(700.0 / 200)));
    for (float x : c.samples[0][2][0]) CHECK(x == 0.0f);  // 20 ms: nothing yet
}

TEST_CASE("poisson_input: each neuron's count is its Philox draw, whatever the thread count", "[unit][sources]") {
    // One step of a non-leaky delta neuron from 0: v = count x weight, where the count is
    // the inversion of word i mod 4 of the Philox block (stimulus, i / 4, step 1) by the
    // Poisson(lambda) table, computed here one neuron at a time. The engine draws 64
    // neurons at once from a multiple of 4 and a part's last neurons one by one; 3 threads
    // cut the population at other places (multiples of 32), so the two paths meet at
    // different neurons in the two runs.
    const auto spec = parse(R"(
simulation: {dt: 0.1 ms, duration: 0.1 ms, seed: 6523534576316, min_neurons_per_thread: 1}
populations:
  n: {size: 1003, model: lif_curr_delta, params: {tau_m: 1e12 ms, E_L: 0 mV, V_reset: 0 mV, V_th: 1e9 mV}}
stimuli:
  drive: {type: poisson_input, target: n, rate: 25 Hz, n_sources: 1000, weight: 0.1 mV}
)");
    const double lambda = 1000 * 25 * 0.1e-3;
    const auto cdf = poisson_table(lambda);
    const u64 seed = spec.simulation.seed;
    const u32 stream = stream_id("stimulus/drive");
    const std::array<u32, 2> key{static_cast<u32>(seed), static_cast<u32>(seed >> 32) ^ stream};
    std::vector<float> want(1003);
    std::vector<int> counts(12, 0);
    for (u32 i = 0; i < 1003; ++i) {
        const auto block = philox4x32({stream, i >> 2, 1, 0}, key);
        const u32 c = poisson_from_uniform(to_unit(block[i & 3]), lambda, cdf);
        ++counts[std::min<u32>(c, 11)];
        want[i] = static_cast<float>(c) * 0.1f;  // exact product rounded once, as fmadd onto 0
    }
    CHECK(counts[0] > 50);  // lambda = 2.5: zeros and counts of 6 and more both occur
    CHECK(counts[6] + counts[7] + counts[8] + counts[9] + counts[10] + counts[11] > 10);
    for (int threads : {1, 3}) {
        INFO(threads << " threads");
        simulation sim(spec, builtin_models(), threads, threads == 1 ? 0 : 3);
        sim.run(1, nullptr);
        const auto v = sim.state(0, "v");
        for (u32 i = 0; i < 1003; ++i) {
            INFO("neuron " << i);
            REQUIRE(static_cast<float>(v[i]) == want[i]);
        }
    }
}

TEST_CASE("Poisson sources spike where their per-neuron draw is below rate x dt, whatever the thread count", "[unit][sources]") {
    // The draw of neuron i in step n is uniform_at(seed, stream, i, n); the model takes 64
    // neurons at a time from a multiple of 4 and the rest one by one, and 3 threads cut
    // the population elsewhere (at multiples of 32), so the two paths meet at different
    // neurons across the runs.
    const auto spec = parse(R"(
simulation: {dt: 0.1 ms, duration: 30 ms, seed: 6523534576316, min_neurons_per_thread: 1}
populations:
  s: {size: 1003, model: poisson, params: {rate: 150 Hz}}
)");
    const u32 stream = stream_id("poisson/s");
    const float p = static_cast<float>(150.0 * 0.1 * 1e-3);
    std::vector<capture::spike> want;
    for (std::uint64_t n = 1; n <= 300; ++n)
        for (u32 i = 0; i < 1003; ++i)
            if (uniform_at(spec.simulation.seed, stream, i, n) < p) want.push_back({n, 0, i});
    REQUIRE(want.size() > 3000);  // 1003 x 300 x 0.015 = 4,513 expected
    for (int threads : {1, 3}) {
        INFO(threads << " threads");
        simulation sim(spec, builtin_models(), threads, threads == 1 ? 0 : 3);
        capture got;
        sim.run(300, &got);
        CHECK(got.spikes == want);
    }
}

TEST_CASE("a Poisson source's update draws the same from any first neuron", "[unit][sources]") {
    // The engine starts parts at multiples of 32; other callers (the SpiNNaker2 target's
    // slices) may start anywhere: neurons before the first multiple of 4 go one by one.
    const auto spec = parse("populations:\n  s: {size: 300, model: poisson, params: {rate: 400 Hz}}\n");  // p = 0.04 per step
    const auto& ps = spec.populations[0];
    const u64 seed = 6523534576316ULL;
    const u32 stream = stream_id("poisson/s");
    auto model = builtin_models().get("poisson").make(ps, 0.1);
    for (std::uint32_t b : {0u, 1u, 2u, 3u, 5u}) {
        for (std::uint32_t e : {b + 70u, b + 131u, 300u}) {
            INFO("neurons [" << b << ", " << e << ")");
            std::size_t total = 0;
            for (std::uint64_t n = 1; n <= 20; ++n) {
                step_context ctx;
                ctx.step = n;
                ctx.dt = 0.1;
                ctx.seed = seed;
                std::vector<std::uint32_t> got, want;
                model->update(ctx, b, e, got);
                for (std::uint32_t i = b; i < e; ++i)
                    if (uniform_at(seed, stream, i, n) < 0.04f) want.push_back(i);
                REQUIRE(got == want);
                total += got.size();
            }
            CHECK(total > 20);
        }
    }
}
