// Plasticity: STDP against its closed-form window and an eager reference, weight bounds,
// thread-count independence, the astrocyte modulator, the distance connector, resets.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <random>
#include <set>

#include "engram/core/connectivity.hpp"
#include "engram/core/errors.hpp"
#include "engram/plasticity/plasticity.hpp"
#include "helpers.hpp"

using namespace engram;
using namespace engram::test;
using Catch::Matchers::Contains;

namespace {

// One presynaptic spike at t_pre (plastic synapse, weight w0, no effect on v) and one
// postsynaptic spike at t_post (forced by a strong driver). Returns the final weight.
double pair_weight(double t_pre, double t_post, const std::string& rule_extra, double w0 = 1.0, double dt = 0.1,
                   const std::string& extra_sections = "") {
    std::ostringstream y;
    y << "simulation: {dt: " << dt << " ms, duration: 200 ms}\n"
      << extra_sections
      << "populations:\n"
      << "  pre: {size: 1, model: spike_array, params: {spike_times: [" << t_pre << " ms]}}\n"
      << "  drv: {size: 1, model: spike_array, params: {spike_times: [" << t_post - dt << " ms]}}\n"
      << "  post: {size: 1, model: lif_curr_delta, params: {E_L: 0 mV, V_reset: 0 mV, V_th: 10 mV, tau_m: 10 ms, t_ref: 0 ms}}\n"
      << "projections:\n"
      << "  drive: {source: drv, target: post, weight: 50 mV, delay: " << dt << " ms, connector: one_to_one}\n"
      << "  syn:\n"
      << "    source: pre\n    target: post\n    weight: " << w0 << " mV\n    connector: one_to_one\n"
      << "    plasticity: {rule: stdp, tau_plus: 15 ms, tau_minus: 25 ms, a_plus: 0.1, a_minus: 0.12, w_min: -10, w_max: 10"
      << rule_extra << "}\n";
    const auto spec = parse(y.str());
    simulation sim(spec, builtin_models());
    capture c;
    sim.run(steps_for(spec.simulation.duration, spec.simulation.dt), &c);
    std::size_t post_spikes = 0;
    for (const auto& s : c.spikes)
        if (s.pop == 2) {
            ++post_spikes;
            CHECK(s.step == static_cast<std::uint64_t>(std::llround(t_post / dt)));
        }
    REQUIRE(post_spikes == 1);
    return sim.weights(1).at(0);
}

}  // namespace

TEST_CASE("STDP weight change for one pair follows the closed-form window", "[unit][plasticity]") {
    for (double d : {-60.0, -20.0, -5.0, -0.1, 0.0, 0.1, 1.0, 5.0, 20.0, 60.0}) {
        const double t_pre = 100.0, t_post = 100.0 + d;
        const double expect = 1.0 + stdp_window(t_pre, t_post, 0.1, 0.12, 15.0, 25.0);
        INFO("t_post - t_pre = " << d << " ms");
        CHECK(pair_weight(t_pre, t_post, "") == Approx(expect).margin(2e-6));
    }
    // the window itself, at a few points
    CHECK(stdp_window(0, 10, 0.1, 0.12, 15, 25) == Approx(0.1 * std::exp(-10.0 / 15)));
    CHECK(stdp_window(10, 0, 0.1, 0.12, 15, 25) == Approx(-0.12 * std::exp(-10.0 / 25)));
    CHECK(stdp_window(3, 3, 0.1, 0.12, 15, 25) == 0.0);
}

TEST_CASE("STDP variants: inhibitory convention, multiplicative, trace increment, modulated depression", "[unit][plasticity]") {
    // Inhibitory presynaptic neuron: pre-before-post makes the weight more negative by a_minus.
    CHECK(pair_weight(100, 110, ", presynaptic: inhibitory", -1.0) == Approx(-1.0 - 0.12 * std::exp(-10.0 / 15)).margin(2e-6));
    CHECK(pair_weight(110, 100, ", presynaptic: inhibitory", -1.0) == Approx(-1.0 + 0.1 * std::exp(-10.0 / 25)).margin(2e-6));
    // Multiplicative: steps scale with the distance to the bound.
    CHECK(pair_weight(100, 110, ", weight_dependence: multiplicative", 4.0) == Approx(4.0 + 0.1 * (10 - 4.0) * std::exp(-10.0 / 15)).margin(2e-6));
    CHECK(pair_weight(110, 100, ", weight_dependence: multiplicative", 4.0) == Approx(4.0 - 0.12 * (4.0 + 10) * std::exp(-10.0 / 25)).margin(2e-6));
    // Trace increment scales both sides.
    CHECK(pair_weight(100, 110, ", trace_increment: 0.1") == Approx(1.0 + 0.01 * std::exp(-10.0 / 15)).margin(2e-6));
    // Depression scaled by a modulator that stays at its bias (weight 0): 0.12 * 0.5.
    const std::string astro = "modulators:\n  m: {type: astrocyte, params: {weight: 0, bias: 0.5, initial: 0.5}, sources: {pre: 1}}\n";
    CHECK(pair_weight(110, 100, ", depression_modulator: m", 1.0, 0.1, astro) == Approx(1.0 - 0.06 * std::exp(-10.0 / 25)).margin(2e-6));
}

namespace {

const char* random_net = R"(
simulation: {dt: 0.5 ms, duration: 1000 ms, seed: 3, min_neurons_per_thread: 1}
populations:
  pre: {size: 60, model: poisson, params: {rate: 30 Hz}}
  post: {size: 40, model: lif_curr_exp, params: {tau_m: 10 ms, E_L: -70 mV, V_th: -55 mV, V_reset: -70 mV, t_ref: 2 ms}}
projections:
  syn:
    source: pre
    target: post
    receptor: ex
    weight: {distribution: uniform, low: 0 pA, high: 200 pA}
    connector: {rule: fixed_probability, p: 0.3}
    plasticity: {rule: stdp, tau_plus: 16.8 ms, tau_minus: 33.7 ms, a_plus: 0.5, a_minus: 0.4, w_min: -1000, w_max: 1000, trace_increment: 1}
stimuli:
  drive: {type: poisson_input, target: post, receptor: ex, rate: 900 Hz, n_sources: 10, weight: 150 pA}
)";

}  // namespace

TEST_CASE("event-driven STDP equals an eager step-by-step reference on random spike trains", "[unit][plasticity]") {
    for (const char* pairing : {"all_to_all", "nearest"}) {
        INFO(pairing);
        const auto spec = parse(random_net, {std::string("projections.syn.plasticity.pairing=") + pairing});
        const double dt = spec.simulation.dt;
        simulation sim(spec, builtin_models());
        const auto w0 = sim.weights(0);
        const auto syn = sim.synapses(0);
        capture c;
        const auto steps = steps_for(spec.simulation.duration, dt);
        sim.run(steps, &c);
        const auto w1 = sim.weights(0);
        // Eager reference: traces updated every step, pairs only with strictly earlier spikes.
        // A presynaptic spike acts when it is delivered, one step later here (the
        // projection's delay is one step): those of the run's last step have not acted yet
        // when the run ends.
        std::vector<std::vector<char>> pre_s(steps + 2, std::vector<char>(60)), post_s(steps + 2, std::vector<char>(40));
        std::size_t n_pre = 0, n_post = 0;
        for (const auto& s : c.spikes) (s.pop == 0 ? pre_s : post_s)[s.step][s.id] = 1, ++(s.pop == 0 ? n_pre : n_post);
        REQUIRE(n_pre > 500);
        REQUIRE(n_post > 100);
        const bool nearest = std::string(pairing) == "nearest";
        std::vector<double> x(60, 0), y(40, 0), w(w0.begin(), w0.end());
        const double fx = std::exp(-dt / 16.8), fy = std::exp(-dt / 33.7);
        for (std::uint64_t t = 1; t <= steps; ++t) {
            for (auto& v : x) v *= fx;  // traces at t, counting spikes < t
            for (auto& v : y) v *= fy;
            for (std::size_t s = 0; s < syn.size(); ++s) {
                if (post_s[t][syn.post[s]]) w[s] += 0.5 * x[syn.pre[s]];
                if (pre_s[t][syn.pre[s]] && t < steps) w[s] -= 0.4 * y[syn.post[s]];
            }
            for (std::size_t i = 0; i < 60; ++i)
                if (pre_s[t][i]) x[i] = nearest ? 1.0 : x[i] + 1.0;
            for (std::size_t j = 0; j < 40; ++j)
                if (post_s[t][j]) y[j] = nearest ? 1.0 : y[j] + 1.0;
        }
        double max_err = 0, max_change = 0;
        for (std::size_t s = 0; s < syn.size(); ++s) {
            max_err = std::max(max_err, std::abs(w[s] - w1[s]));
            max_change = std::max(max_change, std::abs(w[s] - w0[s]));
        }
        CHECK(max_change > 1.0);  // the rule did something
        CHECK(max_err < 1e-3);    // float weights against double reference
    }
}

TEST_CASE("plastic weights and spikes do not depend on the thread count or partition", "[unit][plasticity]") {
    const auto spec = parse(random_net);
    const auto steps = steps_for(spec.simulation.duration, spec.simulation.dt);
    std::vector<float> ref;
    std::vector<capture::spike> ref_spikes;
    for (auto [threads, parts] : {std::pair{1, std::size_t(1)}, {2, std::size_t(3)}, {1, std::size_t(4)}}) {
        simulation sim(spec, builtin_models(), threads, parts);
        capture c;
        sim.run(steps, &c);
        if (ref.empty()) {
            ref = sim.weights(0);
            ref_spikes = c.spikes;
        } else {
            CHECK(sim.weights(0) == ref);
            CHECK(c.spikes == ref_spikes);
        }
    }
}

TEST_CASE("STDP keeps weights within their bounds", "[unit][plasticity]") {
    const auto spec = parse(random_net, {"projections.syn.plasticity.w_min=-20", "projections.syn.plasticity.w_max=150",
                                         "projections.syn.plasticity.a_plus=50", "projections.syn.plasticity.a_minus=60"});
    simulation sim(spec, builtin_models());
    sim.run(2000, nullptr);
    const auto w = sim.weights(0);
    std::size_t at_min = 0, at_max = 0;
    for (float x : w) {
        REQUIRE(x >= -20.0f);
        REQUIRE(x <= 150.0f);
        at_min += x == -20.0f;
        at_max += x == 150.0f;
    }
    CHECK(at_min > 0);
    CHECK(at_max > 0);
}

TEST_CASE("astrocyte state follows the hand-computed sequence", "[unit][plasticity]") {
    // Sources spike in known steps: a (3 neurons) at 1, 2 and 4 ms; b (1 neuron) at 2 ms.
    // drive(step) = 1 * count_a - 2 * count_b; A += dt/tau (w drive + b - A); then * decay.
    const std::string y = R"(
simulation: {dt: 1 ms, duration: 8 ms}
populations:
  a: {size: 3, model: spike_array, params: {spike_times: [[1 ms, 2 ms], [2 ms], [4 ms]]}}
  b: {size: 1, model: spike_array, params: {spike_times: [2 ms]}}
modulators:
  astro: {type: astrocyte, params: {tau: 4 ms, weight: 0.5, bias: 0.2, initial: 0.1, decay: 0.9}, sources: {a: 1, b: -2}}
)";
    const auto spec = parse(y);
    simulation sim(spec, builtin_models());
    const int count_a[] = {0, 1, 2, 0, 1, 0, 0, 0, 0};  // by step
    const int count_b[] = {0, 0, 1, 0, 0, 0, 0, 0, 0};
    double A = 0.1, w = 0.5, b = 0.2;
    for (int n = 1; n <= 8; ++n) {
        sim.run(1, nullptr);
        // step n takes in the spikes of step n-1
        const double drive = count_a[n - 1] - 2.0 * count_b[n - 1];
        A += 0.25 * (w * drive + b - A);
        w *= 0.9, b *= 0.9, A *= 0.9;
        INFO("step " << n);
        CHECK(sim.modulator_value(0) == Approx(A).epsilon(1e-12));
    }
    sim.reset_state();
    CHECK(sim.modulator_value(0) == 0.1);
}

TEST_CASE("the distance connector follows p exp(-(D/lambda)^2) on a shuffled 3-D grid", "[unit][plasticity][connectors]") {
    const std::string y = R"(
simulation: {dt: 1 ms, duration: 1 ms, seed: 11}
populations:
  exc: {size: 800, model: lif_discrete}
  inh: {size: 200, model: lif_discrete}
layout:
  liquid: {grid: [10, 10, 10], populations: [exc, inh]}
projections:
  ee: {source: exc, target: exc, weight: 1 mV, connector: {rule: distance, p: 0.2, lambda: 3, allow_self_connections: false}}
  ie: {source: inh, target: exc, weight: -1 mV, connector: {rule: distance, p: 0.3, lambda: 3}}
)";
    const auto spec = parse(y);
    const auto pos = place_neurons(spec, 11);
    // every grid cell used once
    std::set<std::tuple<int, int, int>> cells;
    for (std::size_t p = 0; p < 2; ++p)
        for (std::size_t i = 0; i < pos[p].xyz.size(); i += 3) cells.insert({int(pos[p].xyz[i]), int(pos[p].xyz[i + 1]), int(pos[p].xyz[i + 2])});
    CHECK(cells.size() == 1000);
    simulation sim(spec, builtin_models());
    for (std::size_t j = 0; j < 2; ++j) {
        const auto syn = sim.synapses(j);
        const auto& pp = pos[j == 0 ? 0 : 1];
        const auto& qp = pos[0];
        const double c = j == 0 ? 0.2 : 0.3;
        // expected count and a distance profile: P(connect | D in bin)
        double expect = 0, var = 0;
        std::map<int, std::pair<double, double>> by_d;  // bin -> (pairs, expected connections)
        std::map<int, double> got_d;
        auto dist = [&](std::uint32_t i, std::uint32_t k) {
            const double dx = pp.xyz[3 * i] - qp.xyz[3 * k], dy = pp.xyz[3 * i + 1] - qp.xyz[3 * k + 1], dz = pp.xyz[3 * i + 2] - qp.xyz[3 * k + 2];
            return std::sqrt(dx * dx + dy * dy + dz * dz);
        };
        const std::uint32_t n_pre = j == 0 ? 800 : 200;
        for (std::uint32_t i = 0; i < n_pre; ++i)
            for (std::uint32_t k = 0; k < 800; ++k) {
                if (j == 0 && i == k) continue;
                const double d = dist(i, k), p = c * std::exp(-(d / 3) * (d / 3));
                expect += p;
                var += p * (1 - p);
                by_d[int(d)].first += 1;
                by_d[int(d)].second += p;
            }
        for (std::size_t s = 0; s < syn.size(); ++s) {
            CHECK_FALSE((j == 0 && syn.pre[s] == syn.post[s]));
            got_d[int(dist(syn.pre[s], syn.post[s]))] += 1;
        }
        INFO("projection " << j);
        CHECK(std::abs(double(syn.size()) - expect) < 4 * std::sqrt(var));
        for (int bin = 1; bin <= 4; ++bin) {
            const auto [pairs, e] = by_d[bin];
            CHECK(std::abs(got_d[bin] - e) < 5 * std::sqrt(e) + 1);
        }
    }
}

TEST_CASE("layouts and distance connectors reject bad input with the key", "[unit][plasticity][config]") {
    const std::string base = R"(
simulation: {dt: 1 ms, duration: 1 ms}
populations:
  exc: {size: 800, model: lif_discrete}
  inh: {size: 300, model: lif_discrete}
)";
    REQUIRE_THROWS_WITH(parse(base + "layout:\n  l: {grid: [10, 10, 10], populations: [exc, inh]}\n"), Contains("1100 neurons but the grid has 1000 cells"));
    REQUIRE_THROWS_WITH(parse(base + "layout:\n  l: {grid: [10, 10], populations: [exc]}\n"), Contains("layout.l.grid"));
    REQUIRE_THROWS_WITH(parse(base + "projections:\n  p: {source: exc, target: inh, weight: 1 mV, connector: {rule: distance, p: 0.1, lambda: 2}}\n"),
                        Contains("needs population 'exc' in a layout"));
    REQUIRE_THROWS_WITH(parse(base + "projections:\n  p: {source: exc, target: inh, weight: 1 mV, connector: one_to_one, plasticity: {rule: stpd}}\n"),
                        Contains("did you mean 'stdp'"));
    REQUIRE_THROWS_WITH(parse(base + "projections:\n  p: {source: exc, target: exc, weight: 1 mV, connector: one_to_one, plasticity: {rule: stdp, w_max: 1, pairng: nearest}}\n"),
                        Contains("projections.p.plasticity.pairng"));
    REQUIRE_THROWS_WITH(parse(base + "projections:\n  p: {source: exc, target: exc, weight: 1 mV, connector: one_to_one, plasticity: {rule: stdp}}\n"),
                        Contains("needs 'w_max'"));
    REQUIRE_THROWS_WITH(parse(base + "projections:\n  p: {source: exc, target: exc, weight: 1 mV, connector: one_to_one, plasticity: {rule: stdp, w_max: 1, depression_modulator: astro}}\n"),
                        Contains("unknown modulator 'astro'"));
    REQUIRE_THROWS_WITH(parse(base + "projections:\n  p: {source: exc, target: exc, weight: 1 mV, connector: one_to_one, plasticity: {rule: stdp, w_max: 1, w_min: 2}}\n"),
                        Contains("w_min must not exceed w_max"));
    REQUIRE_THROWS_WITH(parse(base + "modulators:\n  a: {type: astrocyte, sources: {exx: 1}}\n"), Contains("did you mean 'exc'"));
}

TEST_CASE("reset_state and set_weights: a trial run twice gives the same spikes", "[unit][plasticity][engine]") {
    const auto spec = parse(random_net, {"populations.pre.model=spike_array", "populations.pre.size=3", "populations.pre.params={spike_times: [[5 ms, 30 ms, 31 ms, 105 ms, 130 ms, 131 ms], [7 ms, 107 ms], [12 ms, 60 ms, 112 ms, 160 ms]]}",
                                         "stimuli={}", "projections.syn.connector={rule: all_to_all}", "projections.syn.weight=2000 pA"});
    simulation sim(spec, builtin_models());
    const auto w0 = sim.weights(0);
    capture a, b;
    sim.run(200, &a);
    const auto w1 = sim.weights(0);
    CHECK(w1 != w0);  // it learned
    sim.reset_state();
    sim.set_weights(0, w0);
    sim.run(200, &b);
    REQUIRE(a.spikes.size() > 0);
    REQUIRE(a.spikes.size() == b.spikes.size());
    for (std::size_t i = 0; i < a.spikes.size(); ++i) {
        CHECK(b.spikes[i].step == a.spikes[i].step + 200);
        CHECK(b.spikes[i].id == a.spikes[i].id);
    }
    CHECK(sim.weights(0) == w1);
    CHECK_THROWS_WITH(sim.set_weights(0, {1.0f}), Contains("1 weights for"));
}

TEST_CASE("reset_state keeps the plasticity traces when asked: trials pair across the boundary", "[unit][plasticity][engine]") {
    // Two 20 ms trials, each with a presynaptic spike at 2 ms and a forced postsynaptic one
    // at 18 ms (spike_array times count from the start of the run).
    const std::string y = R"(
simulation: {dt: 0.1 ms, duration: 20 ms}
populations:
  pre: {size: 1, model: spike_array, params: {spike_times: [2 ms, 22 ms]}}
  drv: {size: 1, model: spike_array, params: {spike_times: [17.9 ms, 37.9 ms]}}
  post: {size: 1, model: lif_curr_delta, params: {E_L: 0 mV, V_reset: 0 mV, V_th: 10 mV, tau_m: 10 ms, t_ref: 0 ms}}
projections:
  drive: {source: drv, target: post, weight: 50 mV, delay: 0.1 ms, connector: one_to_one}
  syn:
    source: pre
    target: post
    weight: 1 mV
    connector: one_to_one
    plasticity: {rule: stdp, tau_plus: 15 ms, tau_minus: 25 ms, a_plus: 0.1, a_minus: 0.12, w_min: -10, w_max: 10}
)";
    const auto W = [](double t_pre, double t_post) { return stdp_window(t_pre, t_post, 0.1, 0.12, 15.0, 25.0); };
    for (const bool keep : {false, true}) {
        INFO("keep_traces " << keep);
        simulation sim(parse(y), builtin_models());
        sim.run(200, nullptr);
        CHECK(sim.weights(1).at(0) == Approx(1.0 + W(2, 18)).margin(2e-6));
        sim.reset_state(keep);
        sim.run(200, nullptr);
        // kept: the second trial's pre spike (22 ms) pairs with the first trial's post spike
        // (18 ms), and its post spike (38 ms) with both pre spikes (all-to-all pairing)
        const double expect = keep ? 1.0 + W(2, 18) + W(22, 18) + W(22, 38) + W(2, 38) : 1.0 + 2 * W(2, 18);
        CHECK(sim.weights(1).at(0) == Approx(expect).margin(2e-6));
    }
}

#include "engram/nir/nir.hpp"

TEST_CASE("NIR export lists plasticity and modulators as approximations", "[unit][plasticity][nir]") {
    const std::string y = R"(
simulation: {dt: 0.1 ms, duration: 10 ms}
populations:
  a: {size: 3, model: lif_curr_delta, params: {t_ref: 0 ms}}
  b: {size: 2, model: lif_curr_delta, params: {t_ref: 0 ms}}
modulators:
  m: {type: astrocyte, sources: {a: 1}}
projections:
  ab: {source: a, target: b, weight: 1 mV, connector: all_to_all, plasticity: {rule: stdp, w_max: 5, depression_modulator: m}}
)";
    const auto spec = parse(y);
    simulation sim(spec, builtin_models());
    const auto dir = temp_dir("nir_plastic");
    const auto rep = nir::export_nir(spec, sim, (dir / "p.nir").string());
    bool plastic = false, mod = false;
    for (const auto& a : rep.approximations) {
        plastic |= a.find("projection 'ab': plasticity (stdp) dropped") != std::string::npos;
        mod |= a.find("modulator 'm' (astrocyte) dropped") != std::string::npos;
    }
    CHECK(plastic);
    CHECK(mod);
    CHECK_THROWS(nir::export_nir(spec, sim, (dir / "q.nir").string(), {true}));
}
