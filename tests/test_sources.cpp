// Spike sources and input stimuli: rates against their expected values.
#include <catch2/catch.hpp>

#include <cmath>

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
