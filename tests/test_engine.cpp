// The step contract: delivery timing, determinism across seeds and thread counts.
#include <catch2/catch.hpp>

#include <cmath>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

#include "engram/core/aligned.hpp"
#include "engram/core/cpus.hpp"
#include "engram/core/errors.hpp"
#include "engram/core/graph.hpp"
#include "engram/core/stats.hpp"
#include "helpers.hpp"

using namespace engram;
using namespace engram::test;

TEST_CASE("a spike at step t arrives exactly at step t + d", "[unit][engine]") {
    // Source spikes at 5 ms = step 50; delta synapses onto 4 neurons with delays of
    // 1, 2, 23 and 37 steps; each target's v jumps in exactly step 50 + d.
    const std::string y = R"(
simulation: {dt: 0.1 ms, duration: 20 ms}
populations:
  src: {size: 1, model: spike_array, params: {spike_times: [5 ms]}}
  tgt: {size: 4, model: lif_curr_delta, params: {E_L: 0 mV, V_reset: 0 mV, V_th: 100 mV, tau_m: 1000 ms}}
projections:
  p:
    source: src
    target: tgt
    weight: 1 mV
    connector:
      rule: from_list
      connections: [[0, 0, 1 mV, 0.1 ms], [0, 1, 1 mV, 0.2 ms], [0, 2, 1 mV, 2.3 ms], [0, 3, 1 mV, 3.7 ms]]
record: {state: {r: {population: tgt, variables: v}}}
)";
    auto c = run(parse(y));
    REQUIRE(c.spikes.size() == 1);
    CHECK(c.spikes[0].step == 50);
    const int delays[] = {1, 2, 23, 37};
    for (int i = 0; i < 4; ++i) {
        const auto v = c.trace(0, 0, static_cast<std::size_t>(i));
        // sample k holds the state after step k (time k*dt)
        const std::size_t arrival = 50 + static_cast<std::size_t>(delays[i]);
        INFO("neuron " << i);
        CHECK(v[arrival - 1] == Approx(0.0).margin(1e-6));
        CHECK(v[arrival] == Approx(1.0).margin(1e-3));
    }
}

TEST_CASE("delays shorter than one step become one step; longer ones round to the nearest step", "[unit][engine]") {
    projection_spec p;
    p.name = "p";
    p.source = "a";
    p.target = "b";
    p.connector.rule = "one_to_one";
    p.weight = distribution::constant(1.0, dimension::current);
    for (auto [ms, steps] : {std::pair{0.0, 1}, {0.04, 1}, {0.1, 1}, {0.26, 3}, {1.0, 10}}) {
        p.delay = distribution::constant(ms, dimension::time);
        const auto syn = generate_synapses(p, 2, 2, 0.1, 1);
        CHECK(syn.delay[0] == steps);
    }
}

TEST_CASE("same seed gives the same spikes; another seed gives others", "[unit][engine]") {
    const auto spec = parse(small_coba());
    const auto a = run(spec), b = run(spec);
    REQUIRE(a.spikes.size() > 100);
    CHECK(a.spikes == b.spikes);
    const auto other = run(parse(small_coba(), {"simulation.seed=8"}));
    CHECK_FALSE(other.spikes == a.spikes);
}

TEST_CASE("spikes are bit-identical for any thread count and any partition", "[unit][engine]") {
    const auto spec = parse(small_coba(323, 81));  // sizes that do not split evenly
    const auto one = run(spec, 1);
    REQUIRE(one.spikes.size() > 100);
    for (int threads : {1, 2, 3}) {
        for (std::size_t parts : {0, 2, 3, 5}) {
            INFO(threads << " threads, " << parts << " parts");
            simulation sim(spec, builtin_models(), threads, parts);
            capture c;
            sim.run(steps_for(spec.simulation.duration, spec.simulation.dt), &c);
            CHECK(c.spikes == one.spikes);
        }
    }
}

// A network's YAML with its projection ee replaced by `ee` (the map after "ee: ").
std::string with_ee(std::string y, const std::string& ee) {
    const auto at = y.find("  ee: {");
    y.replace(at, y.find('\n', at) - at, "  ee: " + ee);
    return y;
}
// small_coba's ee under STDP
const std::string stdp_ee =
    "{source: exc, target: exc, receptor: ex, weight: 12 nS, connector: {rule: fixed_probability, p: 0.1}, "
    "plasticity: {rule: stdp, tau_plus: 16.8 ms, tau_minus: 33.7 ms, a_plus: 0.05, a_minus: 0.04, w_min: 0, w_max: 20}}";

// COBA with every input direct (one-step delays, a step current, no Poisson input): the
// engine runs its workers up to a step apart instead of meeting every step.
std::string direct_coba(int n_exc = 323, int n_inh = 81) {
    std::string y = small_coba(n_exc, n_inh, "150 ms");
    const auto at = y.find("  ie: {");
    y = y.substr(0, at) + "  ie: {source: inh, target: exc, receptor: in, weight: 67 nS, connector: {rule: fixed_probability, p: 0.1}}\n"
        + y.substr(y.find("  ii: {"));
    y = y.substr(0, y.find("stimuli:")) + "stimuli:\n  kick: {type: step_current, target: exc, times: [10 ms, 60 ms], amplitudes: [300 pA, 0 pA]}\n";
    return y;
}

TEST_CASE("workers a step apart (every input direct) give the same spikes for any thread count and partition", "[unit][engine]") {
    const auto spec = parse(direct_coba());
    const auto steps = steps_for(spec.simulation.duration, spec.simulation.dt);
    simulation ref(spec, builtin_models(), 1, 1);
    capture one;
    const auto st1 = ref.run(steps, &one);
    REQUIRE(one.spikes.size() > 200);
    for (int threads : {2, 3}) {
        for (std::size_t parts : {0, 2, 3, 5}) {
            INFO(threads << " threads, " << parts << " parts");
            simulation sim(spec, builtin_models(), threads, parts);
            REQUIRE(sim.workers() >= 2);  // at most the machine's cores
            capture c;
            const auto st = sim.run(steps, &c);
            CHECK(c.spikes == one.spikes);
            CHECK(st.synaptic_events == st1.synaptic_events);
            CHECK(sim.current_step() == steps);
        }
    }
    // the run's firing statistics, taken per part by the workers, are those of one thread
    std::vector<spike_stats> stats[2];
    for (int threads : {1, 2}) {
        simulation sim(spec, builtin_models(), threads);
        spike_summary summary(spec);
        sim.run(steps, &summary);
        for (std::size_t p = 0; p < 2; ++p) stats[threads - 1].push_back(summary.stats(p, spec.simulation.duration));
    }
    for (std::size_t p = 0; p < 2; ++p) {
        CHECK(stats[0][p].spikes > 0);
        CHECK(stats[1][p].spikes == stats[0][p].spikes);
        CHECK(stats[1][p].mean_rate_hz == stats[0][p].mean_rate_hz);
        CHECK(stats[1][p].cv_isi == stats[0][p].cv_isi);
    }
    // continued in two runs, as one
    simulation sim(spec, builtin_models(), 2);
    capture c;
    sim.run(333, &c);
    sim.run(steps - 333, &c);
    CHECK(c.spikes == one.spikes);
}

TEST_CASE("populations in whole parts (balance_contiguous) give the same spikes for any thread count and partition, in both loops", "[unit][engine]") {
    // the same stimulus kind on both populations, on all their neurons: the engine cuts the
    // populations one after another, and part 0 holds no inhibitory neuron
    const std::string direct = direct_coba() + "  kick_i: {type: step_current, target: inh, times: [10 ms, 60 ms], amplitudes: [300 pA, 0 pA]}\n";
    const std::string rings =
        small_coba(323, 81) + "  kick_i: {type: poisson_input, target: inh, receptor: ex, rate: 10 Hz, n_sources: 100, weight: 3 nS, stop: 50 ms}\n";
    for (const auto& y : {direct, rings}) {
        const auto spec = parse(y);
        const auto steps = steps_for(spec.simulation.duration, spec.simulation.dt);
        simulation ref(spec, builtin_models(), 1, 1);
        capture one;
        const auto st1 = ref.run(steps, &one);
        REQUIRE(one.spikes.size() > 200);
        for (int threads : {1, 2, 3}) {
            for (std::size_t parts : {0, 2, 3, 5}) {
                INFO((&y == &direct ? "direct" : "rings") << ", " << threads << " threads, " << parts << " parts");
                simulation sim(spec, builtin_models(), threads, parts);
                if (sim.parts() > 1) {
                    CHECK(sim.partitioned().ranges.at(1).at(0).end == 0);
                    CHECK(sim.partitioned().ranges.at(0).at(0).end > 0);
                }
                capture c;
                const auto st = sim.run(steps, &c);
                CHECK(c.spikes == one.spikes);
                CHECK(st.synaptic_events == st1.synaptic_events);
            }
        }
    }
}

namespace {

// `spec` on 1 thread in 1 part, then on 1 and 2 threads in 2 and 3 parts (spaced where
// the models allow it): the same spikes and samples, and the same simulation::state of
// `vars` in both populations before the run, after it, and after reset_state and
// `again` more steps. More than min_spikes spikes, and (unless 0) more than min_samples
// samples of the one state recorder.
void check_like_one_part(const network_spec& spec, const std::vector<std::string>& vars, std::uint64_t again, std::size_t min_spikes,
                         std::size_t min_samples = 0) {
    const auto steps = steps_for(spec.simulation.duration, spec.simulation.dt);
    auto state_of = [&](const simulation& sim) {
        std::vector<std::vector<double>> out;
        for (std::size_t p = 0; p < 2; ++p)
            for (const auto& v : vars) out.push_back(sim.state(p, v));
        return out;
    };
    simulation ref(spec, builtin_models(), 1, 1);
    const auto initial = state_of(ref);
    capture one;
    ref.run(steps, &one);
    REQUIRE(one.spikes.size() > min_spikes);
    if (min_samples) {
        REQUIRE(one.samples.size() == 1);
        REQUIRE(one.samples[0].size() > min_samples);
    }
    const auto after = state_of(ref);
    ref.reset_state();
    capture more;
    ref.run(again, &more);
    const auto after_reset = state_of(ref);
    for (int threads : {1, 2}) {
        for (std::size_t parts : {2, 3}) {
            INFO(threads << " threads, " << parts << " parts");
            simulation sim(spec, builtin_models(), threads, parts);
            CHECK(state_of(sim) == initial);
            capture c;
            sim.run(steps, &c);
            CHECK(c.spikes == one.spikes);
            CHECK(c.samples == one.samples);
            CHECK(state_of(sim) == after);
            sim.reset_state();
            capture c2;
            sim.run(again, &c2);
            CHECK(c2.spikes == more.spikes);
            CHECK(c2.samples == more.samples);
            CHECK(state_of(sim) == after_reset);
        }
    }
}

}  // namespace

TEST_CASE("parts kept apart in the models' arrays give one part's spikes, state and reset", "[unit][engine]") {
    // With two parts or more and every input direct, each part's neurons sit apart in the
    // LIF models' arrays (unused neurons before, between and after the parts): initial
    // values drawn per neuron, the step current on every excitatory neuron, the delivered
    // weights and simulation::state must all land on the same neurons as in one part.
    check_like_one_part(parse(direct_coba()), {"v", "g_ex", "g_in"}, 200, 200);
    // populations in whole parts (balance_contiguous): the inhibitory ones all in the last
    check_like_one_part(parse(direct_coba() + "  kick_i: {type: step_current, target: inh, times: [10 ms], amplitudes: [200 pA]}\n"),
                        {"v", "g_ex", "g_in"}, 200, 200);
}

TEST_CASE("parts kept apart where inputs go through rings give one part's spikes, samples, state and reset", "[unit][engine]") {
    // Rings (delays of several steps, Poisson inputs) are laid out as the models' arrays
    // where the parts are spaced: the delivered weights, the Poisson counts (drawn by
    // neuron index), the step currents, the recorded samples and simulation::state must all
    // land on the same neurons as in one part. COBA with STDP on ee, and Brunel's delta
    // synapses (voltage jumps read from the ring).
    std::string coba = with_ee(small_coba(320, 80), stdp_ee);
    coba += "  step: {type: step_current, target: inh, times: [20 ms, 120 ms], amplitudes: [200 pA, 0 pA]}\n"
            "record:\n  state: {s: {population: exc, variables: [v, g_ex], neurons: [0, 5, 100, 159, 160, 161, 250, 319], interval: 0.5 ms}}\n";
    const std::string brunel = R"(
simulation: {dt: 0.1 ms, duration: 150 ms, seed: 3, min_neurons_per_thread: 1}
populations:
  exc:
    size: 400
    model: lif_curr_delta
    params: &n {C_m: 250 pF, tau_m: 20 ms, E_L: 0 mV, V_th: 20 mV, V_reset: 10 mV, t_ref: 2 ms}
    initial: &i {v: {distribution: uniform, low: 0 mV, high: 20 mV}}
  inh: {size: 100, model: lif_curr_delta, params: *n, initial: *i}
projections:
  ee: {source: exc, target: exc, receptor: ex, weight: 0.5 mV, delay: 1.5 ms, connector: {rule: fixed_number_pre, n: 40}}
  ei: {source: exc, target: inh, receptor: ex, weight: 0.5 mV, delay: 1.5 ms, connector: {rule: fixed_number_pre, n: 40}}
  ie: {source: inh, target: exc, receptor: in, weight: -2.5 mV, delay: {distribution: uniform, low: 0.5 ms, high: 2 ms}, connector: {rule: fixed_number_pre, n: 10}}
  ii: {source: inh, target: inh, receptor: in, weight: -2.5 mV, delay: 1.5 ms, connector: {rule: fixed_number_pre, n: 10}}
stimuli:
  ext_e: {type: poisson_input, target: exc, receptor: ex, n_sources: 100, rate: 20 Hz, weight: 0.5 mV}
  ext_i: {type: poisson_input, target: inh, receptor: ex, n_sources: 100, rate: 20 Hz, weight: 0.5 mV}
record:
  state: {s: {population: inh, variables: [v], neurons: [0, 33, 49, 50, 51, 99]}}
)";
    for (const auto& [name, yaml, vars] : {std::tuple{"COBA", coba, std::vector<std::string>{"v", "g_ex", "g_in"}},
                                           std::tuple{"Brunel", brunel, std::vector<std::string>{"v"}}}) {
        INFO(name);
        const auto spec = parse(yaml);
        check_like_one_part(spec, vars, 300, 300, 100);
    }
}

namespace {

// A test model that allows gaps between parts: neuron i adds its own `rate` to x each
// step and spikes when x reaches 1, and also at the times of its own train `at`.
struct ramp final : population_model {
    std::vector<float> x;
    std::vector<double> rate;
    std::vector<std::vector<std::uint64_t>> at;
    std::vector<std::size_t> next;
    ramp(const population_spec& s, double dt) : x(s.size, 0.0f), next(s.size, 0) {
        const auto& r = s.params.at("rate");
        const auto& a = s.params.at("at");
        for (std::uint32_t i = 0; i < s.size; ++i) {
            rate.push_back(r.at(i));
            at.emplace_back();
            for (double t : a.trains.size() == 1 ? a.trains[0] : a.trains[i]) at.back().push_back(static_cast<std::uint64_t>(std::llround(t / dt)));
        }
    }
    void update(const step_context& ctx, std::uint32_t b, std::uint32_t e, std::vector<std::uint32_t>& out) override {
        for (std::uint32_t i = b; i < e; ++i) {
            x[i] += static_cast<float>(rate[i]);
            bool fire = x[i] >= 1.0f;
            if (fire) x[i] -= 1.0f;
            if (next[i] < at[i].size() && at[i][next[i]] == ctx.step) fire = true, ++next[i];
            if (fire) out.push_back(i);
        }
    }
    float* state(std::size_t) override { return x.data(); }
    void reset() override { std::fill(next.begin(), next.end(), std::size_t(0)); }
};

model_registry with_ramp() {
    model_registry reg = builtin_models();
    model_info m;
    m.name = "ramp";
    m.doc = "test model";
    param_info rate;
    rate.name = "rate";
    rate.kind = param_kind::per_neuron;
    rate.default_value = 0.0;
    param_info at;
    at.name = "at";
    at.dim = dimension::time;
    at.kind = param_kind::spike_trains;
    m.params = {rate, at};
    m.state = {{"x", dimension::dimensionless, "", 0.0, "ramp"}};
    m.part_gaps = true;
    m.make = [](const population_spec& s, double dt) { return std::make_unique<ramp>(s, dt); };
    reg.add(m);
    return reg;
}

}  // namespace

TEST_CASE("a model that allows parts kept apart gets each neuron's own values and trains", "[unit][engine]") {
    // 96 ramp neurons with a rate and a train of their own drive 64 LIF neurons: in 2 and
    // 3 parts the values and trains must follow their neurons into the spaced arrays.
    std::string rates, trains;
    for (int i = 0; i < 96; ++i) {
        rates += (i ? ", " : "") + std::to_string(0.001 + 0.0007 * i);
        trains += std::string(i ? ", " : "") + "[" + std::to_string(1 + i % 17) + " ms, " + std::to_string(20 + i) + " ms]";
    }
    const std::string y = "simulation: {dt: 0.1 ms, duration: 150 ms, seed: 3, min_neurons_per_thread: 1}\n"
                          "populations:\n"
                          "  r: {size: 96, model: ramp, params: {rate: [" + rates + "], at: [" + trains + "]}}\n"
                          "  n: {size: 64, model: lif_cond_exp, params: {V_th: -50 mV}}\n"
                          "projections:\n"
                          "  rn: {source: r, target: n, receptor: ex, weight: 30 nS, connector: {rule: fixed_probability, p: 0.3}}\n";
    const auto reg = with_ramp();
    const auto spec = parse_experiment(y, "test.yaml", reg, {}).spec;
    const auto steps = steps_for(spec.simulation.duration, spec.simulation.dt);
    simulation ref(spec, reg, 1, 1);
    capture one;
    ref.run(steps, &one);
    std::size_t from_r = 0, from_n = 0;
    for (const auto& sp : one.spikes) ++(sp.pop == 0 ? from_r : from_n);
    REQUIRE(from_r > 300);
    REQUIRE(from_n > 20);
    for (int threads : {1, 2})
        for (std::size_t parts : {2, 3}) {
            INFO(threads << " threads, " << parts << " parts");
            simulation sim(spec, reg, threads, parts);
            capture c;
            sim.run(steps, &c);
            CHECK(c.spikes == one.spikes);
            CHECK(sim.state(0, "x") == ref.state(0, "x"));
            CHECK(sim.state(1, "v") == ref.state(1, "v"));
        }
}

TEST_CASE("gathered and row-by-row direct delivery give the same spikes and state", "[unit][engine]") {
    // every step's rows of the shared-weight projections gathered (from 1 row a step), or
    // none (from SIZE_MAX): the same additions in the same order, so the same bits
    const auto spec = parse(direct_coba());
    const auto steps = steps_for(spec.simulation.duration, spec.simulation.dt);
    struct restore {
        std::size_t rows;
        ~restore() { gather_rows_from(rows); }
    } restore_rows{gather_rows_from(3)};
    for (int threads : {1, 2}) {
        std::vector<capture> got(2);
        std::vector<std::vector<float>> g_ex(2);
        for (std::size_t m : {0, 1}) {
            gather_rows_from(m == 0 ? std::size_t(1) : SIZE_MAX);
            simulation sim(spec, builtin_models(), threads, threads == 1 ? 0 : 3);
            sim.run(steps, &got[m]);
            const auto g = sim.state(0, "g_ex");
            g_ex[m].assign(g.begin(), g.end());
        }
        INFO(threads << " thread(s)");
        REQUIRE(got[0].spikes.size() > 200);
        CHECK(got[0].spikes == got[1].spikes);
        CHECK(g_ex[0] == g_ex[1]);
    }
}

// The phases of a profile, each non-negative, summing to at most the run loop (each
// worker's phases are disjoint stretches of its loop).
void check_profile(const run_stats& st, std::size_t workers) {
    REQUIRE(st.profile.size() == workers);
    for (const auto& p : st.profile) {
        for (double x : {p.update, p.deliver, p.plasticity, p.record, p.wait}) CHECK(x >= 0.0);
        CHECK(p.update > 0.0);
        CHECK(p.update + p.deliver + p.plasticity + p.record <= st.run_seconds * 1.01 + 1e-6);
        CHECK(p.update + p.deliver + p.plasticity + p.record + p.wait == Approx(st.run_seconds).epsilon(0.01));
    }
}

TEST_CASE("profiling times each phase on each worker and leaves the spikes as they were", "[unit][engine]") {
    // workers a step apart (every input direct)
    const auto spec = parse(direct_coba());
    const auto steps = steps_for(spec.simulation.duration, spec.simulation.dt);
    simulation ref(spec, builtin_models(), 1);
    capture one;
    CHECK(ref.run(steps, &one).profile.empty());  // off unless asked for
    CHECK_FALSE(ref.profiling());
    for (int threads : {1, 2}) {
        INFO(threads << " threads");
        simulation sim(spec, builtin_models(), threads);
        sim.set_profiling(true);
        CHECK(sim.profiling());
        spike_summary summary(spec);  // takes each part's spikes from the workers: record
        capture c;
        observer_list obs;
        obs.add(&c);
        obs.add(&summary);
        const auto st = sim.run(steps, &obs);
        CHECK(c.spikes == one.spikes);
        check_profile(st, static_cast<std::size_t>(sim.workers()));
        double deliver = 0.0, record = 0.0;
        for (const auto& p : st.profile) {
            CHECK(p.plasticity == 0.0);  // nothing plastic: not timed at all
            deliver += p.deliver;
            record += p.record;
        }
        CHECK(deliver > 0.0);
        CHECK(record > 0.0);
        if (threads == 2) CHECK(sim.pipelined());
    }
    // the barrier loop (ring inputs), and a plastic network
    const auto ring = parse(small_coba());
    simulation barrier(ring, builtin_models(), 2);
    barrier.set_profiling(true);
    capture c;
    const auto st = barrier.run(steps_for(ring.simulation.duration, ring.simulation.dt), &c);
    CHECK(c.spikes == run(ring).spikes);
    CHECK_FALSE(barrier.pipelined());
    check_profile(st, static_cast<std::size_t>(barrier.workers()));
    const auto plastic = parse(with_ee(small_coba(), stdp_ee));
    simulation learner(plastic, builtin_models(), 1);
    learner.set_profiling(true);
    const auto sl = learner.run(steps_for(plastic.simulation.duration, plastic.simulation.dt), nullptr);
    check_profile(sl, 1);
    CHECK(sl.profile[0].plasticity > 0.0);
    CHECK(sl.profile[0].record == 0.0);  // no observer
}

TEST_CASE("direct delivery from each part's own row starts (parts too large for 32-bit ones) gives the same spikes", "[unit][engine]") {
    // Where a part of a direct projection holds 2^32 synapses or more, delivery reads each
    // part's 64-bit row starts instead of the interleaved 32-bit ones; lowering the limit
    // to 0 sends this small network down that path.
    const auto spec = parse(direct_coba());
    const auto steps = steps_for(spec.simulation.duration, spec.simulation.dt);
    simulation ref(spec, builtin_models(), 1, 1);
    capture one;
    ref.run(steps, &one);
    REQUIRE(one.spikes.size() > 200);
    for (int threads : {1, 2}) {
        for (std::size_t parts : {2, 3}) {
            INFO(threads << " threads, " << parts << " parts");
            simulation interleaved(spec, builtin_models(), threads, parts);
            const auto before = limit_interleaved_row_starts(0);
            struct restore {
                std::uint64_t limit;
                ~restore() { limit_interleaved_row_starts(limit); }
            } restore_limit{before};
            simulation own(spec, builtin_models(), threads, parts);
            limit_interleaved_row_starts(before);
            // no interleaved row starts: 4 bytes per source neuron and part fewer
            CHECK(own.connectivity_bytes() < interleaved.connectivity_bytes());
            capture c;
            own.run(steps, &c);
            CHECK(c.spikes == one.spikes);
        }
    }
}

TEST_CASE("unset, min_neurons_per_thread is 6,000 where every input is direct and 8,000 otherwise, of neurons plus synapses / 160", "[unit][engine]") {
    const int cores = usable_cpus();
    auto with_p = [](double p) {
        std::vector<std::string> s{"simulation.min_neurons_per_thread=0"};
        for (const char* pj : {"ee", "ei", "ie", "ii"}) s.push_back(std::string("projections.") + pj + ".connector.p=" + std::to_string(p));
        return s;
    };
    struct expect { std::string yaml; double p; std::uint64_t threshold; int workers; };
    const std::vector<expect> cases{
        {direct_coba(9600, 2400), 0.001, 6000, std::min(2, cores)},  // 12,000 neurons, 144,000 synapses: size 12,900, all direct: 2 workers
        {direct_coba(8800, 2200), 0.001, 6000, 1},                   // 11,000 and 121,000: 11,756, one
        {direct_coba(3200, 800), 0.02, 6000, 1},                     // COBA's 4,000 and 320,000: 6,000, one (docs/performance.md)
        {direct_coba(1600, 400), 0.5, 6000, std::min(2, cores)},     // 2,000 neurons but 2 million synapses: 14,500, two
        {small_coba(3200, 800), 0.02, 8000, 1},                      // ring delays and Poisson input, 6,000: one
        {small_coba(2000, 500), 0.5, 8000, std::min(2, cores)},      // 2,500 neurons, 3.1 million synapses: 22,031, two
    };
    for (const auto& c : cases) {
        const auto spec = parse(c.yaml, with_p(c.p));
        REQUIRE(spec.simulation.min_neurons_per_thread == 0);
        std::uint64_t neurons = 0, synapses = 0;
        for (const auto& pop : spec.populations) neurons += pop.size;
        for (const auto& pj : spec.projections) {  // fixed_probability, self-connections allowed: p of all pairs
            const auto a = spec.populations[spec.population_index(pj.source)].size, b = spec.populations[spec.population_index(pj.target)].size;
            synapses += static_cast<std::uint64_t>(std::llround(c.p * double(a) * double(b)));
        }
        simulation sim(spec, builtin_models(), 4);
        INFO(neurons << " neurons, " << synapses << " synapses");
        CHECK(sim.size_for_workers() == neurons + synapses / 160);
        CHECK(sim.min_neurons_per_worker() == c.threshold);
        CHECK(sim.workers() == c.workers);
        CHECK(sim.threads() == 4);
    }
    // set, it applies as given
    const auto spec = parse(small_coba(3200, 800), {"simulation.min_neurons_per_thread=2000"});
    simulation sim(spec, builtin_models(), 2);
    CHECK(sim.min_neurons_per_worker() == 2000);
    CHECK(sim.workers() == std::min(2, cores));
}

// Sets a stop flag at the first spikes of step 500 or later; checks that steps end in order.
struct stopper : capture {
    std::atomic<bool>* flag;
    std::uint64_t stopped_at = 0, last_step = 0;
    void on_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t n) override {
        capture::on_spikes(step, pop, ids, n);
        if (step >= 500 && !stopped_at) { flag->store(true); stopped_at = step; }
    }
    void on_step(std::uint64_t step) override { CHECK(step == last_step + 1); last_step = step; }
};

// Throws at the end of step 300.
struct failing : observer {
    void on_spikes(std::uint64_t, std::size_t, const std::uint32_t*, std::size_t) override {}
    void on_step(std::uint64_t step) override {
        if (step == 300) throw std::runtime_error("disk full at step 300");
    }
};

TEST_CASE("workers a step apart stop together, with every step up to the stop recorded", "[unit][engine]") {
    const auto spec = parse(direct_coba());
    const auto whole = run(spec);
    std::atomic<bool> stop{false};
    stopper s;
    s.flag = &stop;
    simulation sim(spec, builtin_models(), 2);
    REQUIRE(sim.workers() == 2);
    const auto st = sim.run(1400, &s, &stop);
    CHECK(st.interrupted);
    REQUIRE(s.stopped_at >= 500);
    // the stop is read by worker 0 at the start of a step n and ends the run after step
    // n+1; the observer's step s may lag the updates by 4, one per spike list but the
    // one being written (worker 0 may have passed the start of step s+4 when the stop is
    // set, then waits for step s to be recorded), so n <= s+5
    CHECK(st.steps_done >= s.stopped_at);
    CHECK(st.steps_done <= s.stopped_at + 6);
    CHECK(sim.current_step() == st.steps_done);
    CHECK(s.last_step == st.steps_done);
    std::vector<capture::spike> head;
    for (const auto& x : whole.spikes)
        if (x.step <= st.steps_done) head.push_back(x);
    CHECK(s.spikes == head);
    // continued to the end, as one run: no worker ran a step the others did not
    stop = false;
    capture rest;
    sim.run(1400 - st.steps_done, &rest);
    auto all = s.spikes;
    all.insert(all.end(), rest.spikes.begin(), rest.spikes.end());
    std::vector<capture::spike> upto;
    for (const auto& x : whole.spikes)
        if (x.step <= 1400) upto.push_back(x);
    CHECK(all == upto);
}

TEST_CASE("an observer that throws ends a run of workers a step apart with its error", "[unit][engine]") {
    const auto spec = parse(direct_coba());
    for (int threads : {2, 3}) {
        simulation sim(spec, builtin_models(), threads);
        failing f;
        CHECK_THROWS_WITH(sim.run(1000, &f), "disk full at step 300");
    }
}

// f(sim, every) for a simulation of spec at 2 and 3 threads and 0, 3 and 5 parts whose
// workers step alone and together by turns every 1, 2, 7 and 50 steps
template <class F>
void by_turns(const network_spec& spec, F&& f) {
    for (int threads : {2, 3})
        for (std::size_t parts : {0, 3, 5})
            for (std::uint64_t every : {1, 2, 7, 50}) {
                INFO(threads << " threads, " << parts << " parts, by turns every " << every << " steps");
                simulation sim(spec, builtin_models(), threads, parts);
                REQUIRE(sim.workers() >= 2);
                stall_policy pol;
                pol.alternate_every = every;
                sim.set_stall_policy(pol);
                f(sim, every);
            }
}

TEST_CASE("workers a step apart that step alone and together by turns give the same spikes", "[unit][engine]") {
    const auto spec = parse(direct_coba());
    const auto steps = steps_for(spec.simulation.duration, spec.simulation.dt);
    simulation ref(spec, builtin_models(), 1, 1);
    capture one;
    spike_summary ref_summary(spec);
    observer_list ref_obs;
    ref_obs.add(&one);
    ref_obs.add(&ref_summary);
    const auto st1 = ref.run(steps, &ref_obs);
    REQUIRE(one.spikes.size() > 200);
    by_turns(spec, [&](simulation& sim, std::uint64_t) {
        REQUIRE(sim.pipelined());
        capture c;
        spike_summary summary(spec);  // per part, from whichever worker steps it
        observer_list obs;
        obs.add(&c);
        obs.add(&summary);
        const auto st = sim.run(steps, &obs);
        CHECK(c.spikes == one.spikes);
        CHECK(st.synaptic_events == st1.synaptic_events);
        CHECK(sim.current_step() == steps);
        CHECK(st.solo_steps > steps / 5);
        CHECK(st.solo_steps < steps);
        CHECK(st.solo_spells >= 2);
        for (std::size_t p = 0; p < 2; ++p) {
            CHECK(summary.stats(p, spec.simulation.duration).spikes == ref_summary.stats(p, spec.simulation.duration).spikes);
            CHECK(summary.stats(p, spec.simulation.duration).cv_isi == ref_summary.stats(p, spec.simulation.duration).cv_isi);
        }
    });
    // by the CPU time (the default) or by turns, over several runs: the same
    stall_policy pol;
    pol.alternate_every = 3;
    for (bool turns : {false, true}) {
        INFO((turns ? "by turns" : "by the CPU time") << ", in three runs");
        simulation sim(spec, builtin_models(), 2);
        if (turns) sim.set_stall_policy(pol);
        sim.set_profiling(true);
        capture c;
        const auto a = sim.run(401, &c);
        sim.run(2, &c);
        sim.run(steps - 403, &c);
        CHECK(c.spikes == one.spikes);
        check_profile(a, 2);  // parts stepped alone count for worker 0
    }
}

TEST_CASE("workers a step apart that step alone by turns stop together and pass on an observer's error", "[unit][engine]") {
    const auto spec = parse(direct_coba());
    const auto whole = run(spec);
    stall_policy pol;
    pol.alternate_every = 5;
    for (int threads : {2, 3}) {
        INFO(threads << " threads");
        std::atomic<bool> stop{false};
        stopper s;
        s.flag = &stop;
        simulation sim(spec, builtin_models(), threads);
        sim.set_stall_policy(pol);
        const auto st = sim.run(1400, &s, &stop);
        CHECK(st.interrupted);
        CHECK(st.steps_done >= s.stopped_at);
        CHECK(st.steps_done <= s.stopped_at + 6);  // as in the test case above
        CHECK(s.last_step == st.steps_done);
        std::vector<capture::spike> head;
        for (const auto& x : whole.spikes)
            if (x.step <= st.steps_done) head.push_back(x);
        CHECK(s.spikes == head);
        // by turns every 5 steps, worker 0 goes together again at steps 11, 21, ...: runs
        // whose last step is such a step, each continued by another
        simulation turns(spec, builtin_models(), threads);
        turns.set_stall_policy(pol);
        capture c;
        std::uint64_t done = 0;
        for (std::uint64_t n : {11, 21, 10, 31, 1, 2, 3}) {
            INFO("a run of " << n << " steps after " << done);
            turns.run(n, &c);
            done += n;
            std::vector<capture::spike> upto;
            for (const auto& x : whole.spikes)
                if (x.step <= done) upto.push_back(x);
            CHECK(c.spikes == upto);
        }
        CHECK(turns.state(0, "v") == [&] {
            simulation one(spec, builtin_models(), 1);
            one.run(done, nullptr);
            return one.state(0, "v");
        }());
        // an error while the others sleep wakes them: the run ends with it
        simulation again(spec, builtin_models(), threads);
        again.set_stall_policy(pol);
        failing f;
        CHECK_THROWS_WITH(again.run(1000, &f), "disk full at step 300");
    }
}

// Sleeps 1 ms whenever a worker other than the one that made it hands it a part's
// spikes: that worker gets little CPU time and holds up the others, as one that the
// operating system put aside.
struct sleepy : observer {
    explicit sleepy(std::chrono::microseconds n = std::chrono::milliseconds(1)) : nap(n) {}
    std::chrono::microseconds nap;
    std::thread::id caller = std::this_thread::get_id();
    std::atomic<int> naps{0};
    void on_spikes(std::uint64_t, std::size_t, const std::uint32_t*, std::size_t) override {}
    bool takes_part_spikes() const override { return true; }
    void on_part_spikes(std::uint64_t, std::size_t, const std::uint32_t*, std::size_t) override {
        if (std::this_thread::get_id() == caller) return;
        naps.fetch_add(1);
        std::this_thread::sleep_for(nap);
    }
};

// direct_coba with a constant drive, so that every part spikes in most steps
std::string driven_coba() {
    auto y = direct_coba();
    const std::string pulse = "times: [10 ms, 60 ms], amplitudes: [300 pA, 0 pA]";
    const auto at = y.find(pulse);
    REQUIRE(at != std::string::npos);
    return y.replace(at, pulse.size(), "times: [0 ms], amplitudes: [400 pA]");
}

TEST_CASE("a worker held up for milliseconds at every step sends the run on alone, with the same spikes", "[unit][engine]") {
    const auto spec = parse(driven_coba());
    const auto steps = steps_for(spec.simulation.duration, spec.simulation.dt);
    const auto one = run(spec);
    REQUIRE(one.spikes.size() > 2000);
    simulation sim(spec, builtin_models(), 2);
    REQUIRE(sim.workers() == 2);
    sleepy slow;
    capture c;
    observer_list obs;
    obs.add(&c);
    obs.add(&slow);
    const auto st = sim.run(steps, &obs);
    CHECK(c.spikes == one.spikes);
    CHECK(st.solo_spells >= 1);
    CHECK(st.solo_steps > steps / 2);  // alone after the first 50 ms window (the default policy)
    CHECK(slow.naps.load() < 200);
    // with a share no worker falls below, the run stays together, held up at every nap
    stall_policy never;
    never.min_share = 0.0;
    simulation held(spec, builtin_models(), 2);
    held.set_stall_policy(never);
    sleepy slow2;
    observer_list obs2;
    obs2.add(&slow2);
    const auto st2 = held.run(300, &obs2);
    CHECK(st2.solo_steps == 0);
    CHECK(slow2.naps.load() > 50);
}

TEST_CASE("a run starts alone where the last one ended alone, until the policy is set again", "[unit][engine]") {
    const auto spec = parse(driven_coba());
    simulation sim(spec, builtin_models(), 2);
    REQUIRE(sim.workers() == 2);
    stall_policy stay;
    stay.retry_s = stay.max_retry_s = 1000.0;  // no trial together within the test
    sim.set_stall_policy(stay);
    sleepy slow;
    const auto a = sim.run(3000, &slow);
    REQUIRE(a.solo_spells == 1);
    REQUIRE(a.solo_steps > 1500);
    // short runs after it, without the nap: alone from their first step, as one spell each
    capture c;
    for (std::uint64_t n : {1, 2, 100}) {
        INFO("a run of " << n << " steps");
        const auto st = sim.run(n, &c);
        CHECK(st.solo_steps == n);
        CHECK(st.solo_spells == 1);
    }
    // the same spikes and v as one thread over the four runs
    simulation one(spec, builtin_models(), 1);
    capture c1;
    one.run(3000, nullptr);
    one.run(103, &c1);
    CHECK(c.spikes == c1.spikes);
    CHECK(sim.state(0, "v") == one.state(0, "v"));
    // a policy set again starts together (and with no share too small, stays so)
    stay.min_share = 0.0;
    sim.set_stall_policy(stay);
    const auto st = sim.run(100, nullptr);
    CHECK(st.solo_steps == 0);
    CHECK(st.solo_spells == 0);
}

TEST_CASE("what the observers do after a run's last step is no starvation of the workers", "[unit][engine]") {
    // short runs whose observer takes 300 ms at each run's end: counted in the workers'
    // windows, they would get about 1 % of the wall time (6 % under ThreadSanitizer)
    struct slow_end : observer {
        void on_spikes(std::uint64_t, std::size_t, const std::uint32_t*, std::size_t) override {}
        void on_run_end() override { std::this_thread::sleep_for(std::chrono::milliseconds(300)); }
    };
    const auto spec = parse(driven_coba());
    stall_policy pol;
    pol.min_share = 0.15;  // other processes on the CPUs (ctest -j, a busy host) leave the workers more
    // Where other processes hold the CPUs, the workers rightly go alone: a run of 2,000
    // steps with no slow end, before and after, tells whether they did (then the test
    // says nothing)
    const auto busy = [&] {
        simulation probe(spec, builtin_models(), 2);
        probe.set_stall_policy(pol);
        return probe.run(2000, nullptr).solo_steps > 0;
    };
    const bool busy_before = busy();
    simulation sim(spec, builtin_models(), 2);
    REQUIRE(sim.workers() == 2);
    sim.set_stall_policy(pol);
    slow_end o;
    std::uint64_t alone = 0;
    for (int k = 0; k < 6; ++k) alone += sim.run(200, &o).solo_steps;
    if (busy_before || busy()) {
        WARN("other processes held the CPUs: the workers went alone without slow ends too; not checked");
        return;
    }
    CHECK(alone == 0);
}

TEST_CASE("a run that starts alone hands itself on to the workers where it tries them again", "[unit][engine]") {
    // alone within the first run; the second, a second later, starts alone on the caller
    // and tries all workers at its first look (the wait before a trial has passed)
    const auto spec = parse(driven_coba());
    for (std::size_t parts : {0, 3}) {
        INFO(parts << " parts");
        simulation sim(spec, builtin_models(), 2, parts);
        REQUIRE(sim.workers() == 2);
        stall_policy pol;
        pol.retry_s = pol.max_retry_s = 1.0;
        pol.min_share = 0.1;  // the naps leave the worker a few %; other processes (ctest -j) far more
        sim.set_stall_policy(pol);
        // naps of 4 ms: a step's work is about 85 us under ThreadSanitizer on a Zen 3
        // machine, which with 1 ms naps (and the timer's overshoot) is near 10 %
        sleepy slow(std::chrono::milliseconds(4));
        capture c;
        observer_list obs;
        obs.add(&slow);
        obs.add(&c);
        const auto a = sim.run(600, &obs);
        REQUIRE(a.solo_spells == 1);
        std::this_thread::sleep_for(std::chrono::milliseconds(1050));
        const auto b = sim.run(500, &c);
        CHECK(b.solo_steps >= 2);
        if (b.solo_spells == 1) {
            CHECK(b.solo_steps < 100);  // together from the first look (every 16 steps)
        } else {
            // other processes took the CPUs (ctest -j, a busy host) after it went
            // together, and it went alone again: a second spell after steps together
            CHECK(b.solo_spells == 2);
            CHECK(b.solo_steps < 500);
        }
        simulation one(spec, builtin_models(), 1);
        capture c1;
        one.run(1100, &c1);
        CHECK(c.spikes == c1.spikes);
        CHECK(sim.state(0, "v") == one.state(0, "v"));
    }
}

TEST_CASE("simulation.step_alone sets when the workers step alone, and bad values are refused where they are", "[unit][engine]") {
    // the file's simulation line with step_alone added
    const auto with = [](const std::string& step_alone) {
        auto y = driven_coba();
        const auto at = y.find("simulation: {");
        REQUIRE(at != std::string::npos);
        return y.substr(0, at) + "simulation: {step_alone: " + step_alone + ", " + y.substr(at + 13);
    };
    const auto line_of = [](const std::string& y, const std::string& what) {
        return 1 + static_cast<int>(std::count(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(y.find(what)), '\n'));
    };
    const auto refused = [&](const std::string& step_alone, const std::string& key, const std::string& what) {
        INFO("step_alone: " << step_alone);
        const auto y = with(step_alone);
        try {
            parse(y);
            FAIL("no error");
        } catch (const config_error& e) {
            CHECK(e.file() == "test.yaml");
            CHECK(e.line() == line_of(y, "step_alone"));
            CHECK(e.key() == key);
            CHECK_THAT(e.message(), Catch::Contains(what));
        }
    };
    // the defaults, the switch, and a mapping
    const auto d = parse(driven_coba()).simulation;
    CHECK(d.alone_below == 0.75);
    CHECK(d.alone_window == 50.0);
    CHECK(d.alone_retry == 500.0);
    CHECK(d.alone_max_retry == 8000.0);
    CHECK(parse(with("false")).simulation.alone_below == 0.0);
    CHECK(parse(with("true")).simulation.alone_below == 0.75);
    const auto m = parse(with("{below: 0.5, window: 20 ms, retry: 2 s, max_retry: 30 s}")).simulation;
    CHECK(m.alone_below == 0.5);
    CHECK(m.alone_window == 20.0);
    CHECK(m.alone_retry == 2000.0);
    CHECK(m.alone_max_retry == 30000.0);
    CHECK(parse(with("{retry: 10 s}")).simulation.alone_max_retry == 10000.0);  // max_retry at least retry
    refused("{below: 1.5}", "simulation.step_alone.below", "between 0 and 1");
    refused("{below: -0.1}", "simulation.step_alone.below", "between 0 and 1");
    refused("{window: 0 ms}", "simulation.step_alone.window", "positive");
    refused("{window: 5 mV}", "simulation.step_alone.window", "expected a time");
    refused("{retry: 2 s, max_retry: 1 s}", "simulation.step_alone.max_retry", "at least retry");
    refused("{belw: 0.5}", "simulation.step_alone.belw", "unknown key");
    refused("maybe", "simulation.step_alone", "expected true or false");
    // the file's policy reaches the run: a worker held up at every step sends it alone,
    // unless step_alone is false
    for (bool on : {true, false}) {
        INFO("step_alone: " << on);
        simulation sim(parse(with(on ? "true" : "false")), builtin_models(), 2);
        REQUIRE(sim.workers() == 2);
        sleepy slow;
        const auto st = sim.run(400, &slow);
        if (on) CHECK(st.solo_steps > 0); else CHECK(st.solo_steps == 0);
    }
    // a spec built in C++ with a share the engine cannot follow
    auto bad = parse(driven_coba());
    bad.simulation.alone_below = 2.0;
    CHECK_THROWS_WITH(simulation(bad, builtin_models(), 2), Catch::Contains("stall_policy.min_share"));
}

TEST_CASE("set_stall_policy refuses a policy it cannot follow, naming the field", "[unit][engine]") {
    simulation sim(parse(direct_coba()), builtin_models(), 2);
    const auto refused = [&](auto&& change, const std::string& what) {
        stall_policy p;
        change(p);
        CHECK_THROWS_WITH(sim.set_stall_policy(p), Catch::Contains(what));
    };
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    refused([](stall_policy& p) { p.window_s = 0.0; }, "stall_policy.window_s must be a positive number of seconds (got 0)");
    refused([&](stall_policy& p) { p.window_s = inf; }, "stall_policy.window_s");
    refused([](stall_policy& p) { p.min_share = 1.5; }, "stall_policy.min_share must be between 0 and 1 (got 1.5)");
    refused([&](stall_policy& p) { p.min_share = nan; }, "stall_policy.min_share");
    refused([](stall_policy& p) { p.min_share = -0.1; }, "stall_policy.min_share");
    refused([](stall_policy& p) { p.retry_s = -1.0; }, "stall_policy.retry_s must be a positive number of seconds (got -1)");
    refused([](stall_policy& p) { p.max_retry_s = 0.25; }, "stall_policy.max_retry_s must be at least retry_s");
    // the bounds themselves are taken, and a refused policy leaves the last one in force
    stall_policy edge;
    edge.min_share = 0.0;
    edge.max_retry_s = edge.retry_s;
    CHECK_NOTHROW(sim.set_stall_policy(edge));
    edge.min_share = 1.0;
    CHECK_NOTHROW(sim.set_stall_policy(edge));
    edge.alternate_every = 4;
    sim.set_stall_policy(edge);
    stall_policy bad = edge;
    bad.window_s = -1.0;
    CHECK_THROWS(sim.set_stall_policy(bad));
    CHECK(sim.run(40, nullptr).solo_steps > 0);  // still by turns
}

TEST_CASE("workers that meet every step and step alone by turns give the same spikes and weights", "[unit][engine]") {
    // ring inputs and Poisson input: the barrier loop
    const auto spec = parse(small_coba(323, 81));
    const auto steps = steps_for(spec.simulation.duration, spec.simulation.dt);
    const auto one = run(spec);
    REQUIRE(one.spikes.size() > 100);
    by_turns(spec, [&](simulation& sim, std::uint64_t every) {
        REQUIRE_FALSE(sim.pipelined());
        capture c;
        const auto st = sim.run(steps, &c);
        CHECK(c.spikes == one.spikes);
        CHECK(st.solo_steps >= steps / 2 - every);
        CHECK(st.solo_steps < steps);
        CHECK(st.solo_spells >= 1);
    });
    // plastic, with state samples, continued in runs that start and end alone and together
    auto plastic_yaml = with_ee(small_coba(323, 81), stdp_ee);
    plastic_yaml += "record:\n  state: {v: {population: exc, variables: [v], neurons: [0, 5, 200], interval: 0.3 ms}}\n";
    const auto plastic = parse(plastic_yaml);
    simulation ref(plastic, builtin_models(), 1);
    capture r;
    ref.run(steps, &r);
    simulation sim(plastic, builtin_models(), 2);
    stall_policy pol;
    pol.alternate_every = 3;
    sim.set_stall_policy(pol);
    sim.set_profiling(true);
    capture c;
    const auto a = sim.run(7, &c);
    for (std::uint64_t n : {3, 1, 301}) sim.run(n, &c);
    sim.run(steps - 312, &c);
    CHECK(c.spikes == r.spikes);
    CHECK(c.samples == r.samples);
    CHECK(sim.weights(0) == ref.weights(0));
    check_profile(a, 2);
}

TEST_CASE("busy threads on every CPU send the workers of both loops alone, with the same spikes", "[unit][engine]") {
    // As many spinning threads as the process may use CPUs: each worker then gets about
    // half of one. The barrier loop judges by the time on a run queue, which the kernel
    // gives in /proc/thread-self/schedstat.
    std::ifstream schedstat("/proc/thread-self/schedstat");
    unsigned long long ran = 0, waited = 0;
    const bool queue_times = bool(schedstat >> ran >> waited);
    std::atomic<bool> done{false};
    std::vector<std::thread> busy;
    const auto spin_all = [&] {
        done = false;
        for (int i = 0; i < usable_cpus(); ++i)
            busy.emplace_back([&] {
                volatile std::uint64_t x = 0;
                while (!done.load(std::memory_order_relaxed)) x = x + 1;
            });
    };
    const auto stop_all = [&] {
        done = true;
        for (auto& t : busy) t.join();
        busy.clear();
    };
    for (bool barrier : {false, true}) {
        INFO((barrier ? "workers that meet every step" : "workers a step apart"));
        const auto spec = barrier ? parse(small_coba(323, 81, "6000 ms")) : parse(direct_coba(1615, 405), {"simulation.duration=6000 ms"});
        const auto steps = steps_for(spec.simulation.duration, spec.simulation.dt);
        const auto one = run(spec);
        simulation sim(spec, builtin_models(), 2);
        REQUIRE(sim.workers() == 2);
        REQUIRE(sim.pipelined() == !barrier);
        stall_policy stay;  // alone to the end once alone
        stay.retry_s = stay.max_retry_s = 1000.0;
        sim.set_stall_policy(stay);
        capture c;
        spin_all();
        run_stats st;
        try {
            st = sim.run(steps, &c);
        } catch (...) {
            stop_all();
            throw;
        }
        stop_all();
        CHECK(c.spikes == one.spikes);
        if (barrier && !queue_times) {
            WARN("no run-queue times in /proc/thread-self/schedstat: the barrier loop cannot tell starvation");
            CHECK(st.solo_steps == 0);
        } else {
            CHECK(st.solo_spells == 1);
            CHECK(st.solo_steps > 0);
            // the next run, on idle CPUs, starts alone as this one ended
            const auto next = sim.run(50, nullptr);
            CHECK(next.solo_steps == 50);
            CHECK(next.solo_spells == 1);
        }
    }
}

TEST_CASE("the run summary's rates and CV of ISI are those of the spikes, on 1 and 2 threads, over two runs", "[unit][engine]") {
    // computed here from every spike the run gave, with the summary's definitions: the
    // mean rate over all neurons, and the mean over neurons with 2 or more spikes of
    // sd(ISI) / mean(ISI) (population variance)
    const auto spec = parse(direct_coba());
    const std::uint64_t steps = steps_for(spec.simulation.duration, spec.simulation.dt);
    for (int threads : {1, 2}) {
        INFO(threads << " threads");
        simulation sim(spec, builtin_models(), threads);
        spike_summary summary(spec);
        capture c;
        observer_list obs;
        obs.add(&c);
        obs.add(&summary);
        sim.run(steps / 2, &obs);
        sim.run(steps - steps / 2, &obs);
        for (std::size_t p = 0; p < spec.populations.size(); ++p) {
            const std::uint32_t n = spec.populations[p].size;
            std::vector<std::vector<double>> times(n);
            std::uint64_t total = 0;
            for (const auto& sp : c.spikes)
                if (sp.pop == p) {
                    times[sp.id].push_back(static_cast<double>(sp.step) * spec.simulation.dt);
                    ++total;
                }
            double cv_sum = 0.0;
            std::uint32_t cv_n = 0;
            for (const auto& t : times) {
                if (t.size() < 2) continue;
                std::vector<double> isi;
                for (std::size_t k = 1; k < t.size(); ++k) isi.push_back(t[k] - t[k - 1]);
                double mean = 0.0, var = 0.0;
                for (double x : isi) mean += x;
                mean /= static_cast<double>(isi.size());
                for (double x : isi) var += (x - mean) * (x - mean);
                var /= static_cast<double>(isi.size());
                cv_sum += std::sqrt(var) / mean;
                ++cv_n;
            }
            const spike_stats s = summary.stats(p, spec.simulation.duration);
            REQUIRE(total > 0);
            CHECK(s.spikes == total);
            CHECK(s.mean_rate_hz == Approx(static_cast<double>(total) / (n * spec.simulation.duration * 1e-3)).epsilon(1e-12));
            CHECK(s.cv_neurons == cv_n);
            CHECK(s.cv_isi == Approx(cv_sum / cv_n).epsilon(1e-9));
            CHECK(summary.stats(p, spec.simulation.duration).spikes == total);  // asking again changes nothing
        }
    }
}

TEST_CASE("an observer that takes spikes per part gets each part's spikes once, from the workers", "[unit][engine]") {
    struct per_part : capture {
        std::mutex mu;
        std::vector<capture::spike> parts;
        bool takes_part_spikes() const override { return true; }
        void on_part_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t n) override {
            std::lock_guard<std::mutex> lock(mu);
            for (std::size_t i = 0; i < n; ++i) parts.push_back({step, pop, ids[i]});
        }
    };
    // both loops: workers a step apart (direct inputs) and meeting every step (ring delays)
    for (const std::string& y : {direct_coba(), small_coba()}) {
        const auto spec = parse(y);
        for (int threads : {1, 2}) {
            simulation sim(spec, builtin_models(), threads, 3);
            per_part o;
            capture plain;  // takes the serial calls only
            observer_list list;
            list.add(&plain);
            CHECK_FALSE(list.takes_part_spikes());
            list.add(&o);
            CHECK(list.takes_part_spikes());
            sim.run(steps_for(spec.simulation.duration, spec.simulation.dt), &list);
            REQUIRE(o.spikes.size() > 100);
            CHECK(plain.spikes == o.spikes);
            auto sorted = o.parts;
            std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
                return std::tie(a.step, a.pop, a.id) < std::tie(b.step, b.pop, b.id);
            });
            CHECK(sorted == o.spikes);
        }
    }
}

TEST_CASE("a cgroup's CPU quota, read from cpu.max (v2) and cpu.cfs_quota_us (v1)", "[unit][engine]") {
    CHECK_FALSE(cpu_max_quota("max 100000\n"));
    CHECK(cpu_max_quota("150000 100000\n") == 1.5);
    CHECK(cpu_max_quota("50000 100000") == 0.5);
    CHECK(cpu_max_quota("400000 100000") == 4.0);
    for (const char* bad : {"", "100000", "abc 100000", "12x 100000", "0 100000", "-1 100000", "100000 0"})
        CHECK_FALSE(cpu_max_quota(bad));
    CHECK_FALSE(cfs_quota("-1\n", "100000\n"));
    CHECK(cfs_quota("200000\n", "100000\n") == 2.0);
    CHECK(cfs_quota("25000", "100000") == 0.25);
    CHECK_FALSE(cfs_quota("", "100000"));
    CHECK_FALSE(cfs_quota("200000", "0"));
}

#if defined(__linux__)
TEST_CASE("a process confined to one CPU steps on one worker whatever threads it asks for, with the same spikes", "[unit][engine]") {
    // taskset, cgroup cpusets and Slurm confine a process to fewer CPUs than the machine
    // has; workers beyond them would spin while the one they wait for is not running.
    cpu_set_t before;
    CPU_ZERO(&before);
    REQUIRE(sched_getaffinity(0, sizeof before, &before) == 0);
    const int first = first_allowed_cpu();
    REQUIRE(first >= 0);
    struct restore {
        cpu_set_t set;
        ~restore() { sched_setaffinity(0, sizeof set, &set); }
    } back{before};
    const int all = usable_cpus();
    CHECK(all <= CPU_COUNT(&before));
    CHECK(all >= 1);

    auto spec = parse(direct_coba(), {"simulation.min_neurons_per_thread=100"});
    const auto steps = steps_for(spec.simulation.duration, spec.simulation.dt);
    simulation free_(spec, builtin_models(), 2);
    CHECK(free_.cpus() == all);
    CHECK(free_.workers() == std::min(2, all));
    capture ref;
    free_.run(steps, &ref);
    REQUIRE(ref.spikes.size() > 100);

    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
    CHECK(usable_cpus() == 1);
    simulation confined(spec, builtin_models(), 2);
    CHECK(confined.cpus() == 1);
    CHECK(confined.workers() == 1);
    CHECK(confined.threads() == 2);
    capture c;
    confined.run(steps, &c);
    CHECK(c.spikes == ref.spikes);
    REQUIRE(sched_setaffinity(0, sizeof before, &before) == 0);
    CHECK(usable_cpus() == all);
}
#endif

#if defined(__linux__)
TEST_CASE("pin_threads puts each worker on a CPU of its own for the run, with the same spikes, and gives the caller its CPUs back", "[unit][engine]") {
    // The workers' CPUs, seen from the calls that take each part's spikes (made by the
    // worker that owns the part), for workers a step apart and for workers that meet
    // every step.
    struct cpus_seen : capture {
        std::mutex mu;
        std::set<std::pair<int, int>> seen;  // (CPUs in the calling thread's set, the one CPU if a single one)
        bool takes_part_spikes() const override { return true; }
        void on_part_spikes(std::uint64_t, std::size_t, const std::uint32_t*, std::size_t) override {
            cpu_set_t set;
            CPU_ZERO(&set);
            pthread_getaffinity_np(pthread_self(), sizeof set, &set);
            int one = -1;
            for (int c = 0; c < CPU_SETSIZE; ++c)
                if (CPU_ISSET(c, &set)) one = c;
            std::lock_guard<std::mutex> g(mu);
            seen.insert({CPU_COUNT(&set), CPU_COUNT(&set) == 1 ? one : -1});
        }
    };
    cpu_set_t before;
    CPU_ZERO(&before);
    REQUIRE(pthread_getaffinity_np(pthread_self(), sizeof before, &before) == 0);
    if (CPU_COUNT(&before) < 2) {
        WARN("pinning two workers needs two CPUs: not tested here");
        return;
    }
    for (const std::string& yaml : {direct_coba(), small_coba(323, 81)}) {
        auto spec = parse(yaml);
        const auto steps = steps_for(spec.simulation.duration, spec.simulation.dt);
        simulation loose(spec, builtin_models(), 2, 2);
        capture ref;
        loose.run(steps, &ref);
        REQUIRE(ref.spikes.size() > 100);
        spec.simulation.pin_threads = true;
        simulation sim(spec, builtin_models(), 2, 2);
        REQUIRE(sim.workers() == 2);
        cpus_seen c;
        sim.run(steps, &c);
        CHECK(c.spikes == ref.spikes);
        // two workers, each on one CPU, the two different
        REQUIRE(c.seen.size() == 2);
        CHECK(c.seen.begin()->first == 1);
        CHECK(c.seen.rbegin()->first == 1);
        CHECK(c.seen.begin()->second != c.seen.rbegin()->second);
        cpu_set_t after;
        CPU_ZERO(&after);
        REQUIRE(pthread_getaffinity_np(pthread_self(), sizeof after, &after) == 0);
        CHECK(CPU_EQUAL(&before, &after));
    }
    // the key in a file: a boolean, and anything else is an error that names it
    CHECK(parse(small_coba(40, 10) + "").simulation.pin_threads == false);
    auto y = small_coba(40, 10);
    const auto at = y.find("simulation: {");
    REQUIRE(at != std::string::npos);
    CHECK(parse(y.substr(0, at) + "simulation: {pin_threads: true, " + y.substr(at + 13)).simulation.pin_threads);
    CHECK_THROWS_WITH(parse(y.substr(0, at) + "simulation: {pin_threads: maybe, " + y.substr(at + 13)),
                      Catch::Contains("simulation.pin_threads") && Catch::Contains("expected true or false"));
}
#endif

TEST_CASE("connectivity built on the workers is that of one thread, denormal weights included", "[unit][engine]") {
    // The workers flush denormals to zero while they step; construction on them runs in
    // the caller's floating-point environment, as a serial build does.
    const auto spec = parse(with_ee(small_coba(), "{source: exc, target: exc, receptor: ex, weight: {distribution: uniform, low: 1e-41 nS, "
                                                  "high: 1.1e-38 nS}, connector: {rule: fixed_probability, p: 0.1}}"));
    simulation one(spec, builtin_models(), 1);
    const auto w1 = one.weights(0);
    std::size_t tiny = 0;
    for (float w : w1) tiny += w > 0.0f && w < std::numeric_limits<float>::min();
    REQUIRE(tiny > w1.size() / 2);
    for (int threads : {2, 3}) {
        INFO(threads << " threads");
        simulation sim(spec, builtin_models(), threads);
        REQUIRE(sim.workers() >= 2);
        CHECK(sim.weights(0) == w1);
        for (std::size_t j = 0; j < spec.projections.size(); ++j) {
            const auto a = sim.synapses(j), b = one.synapses(j);
            CHECK(a.pre == b.pre);
            CHECK(a.post == b.post);
            CHECK(a.weight == b.weight);
            CHECK(a.delay == b.delay);
        }
    }
}

TEST_CASE("2-byte and 4-byte stored targets deliver the same spikes", "[unit][engine]") {
    // 70,000 targets: on one part the rows hold 4-byte indices, on two parts 2-byte
    // offsets from each part's first neuron; with delays per synapse on one projection.
    const std::string y = R"(
simulation: {dt: 0.1 ms, duration: 30 ms, seed: 3, min_neurons_per_thread: 1}
populations:
  src: {size: 200, model: poisson, params: {rate: 200 Hz}}
  tgt: {size: 70000, model: lif_curr_exp, params: {V_th: -69 mV, tau_syn_ex: 1 ms}}
projections:
  a: {source: src, target: tgt, receptor: ex, weight: 40 pA, connector: {rule: fixed_probability, p: 0.01}}
  b: {source: src, target: tgt, receptor: ex, weight: 40 pA, delay: {distribution: uniform, low: 0.1 ms, high: 1 ms},
      connector: {rule: fixed_probability, p: 0.01}}
)";
    const auto spec = parse(y);
    simulation one(spec, builtin_models(), 1, 1), two(spec, builtin_models(), 1, 2);
    CHECK(two.connectivity_bytes() < one.connectivity_bytes());
    capture a, b;
    one.run(steps_for(spec.simulation.duration, spec.simulation.dt), &a);
    two.run(steps_for(spec.simulation.duration, spec.simulation.dt), &b);
    REQUIRE(a.spikes.size() > 1000);
    bool beyond = false;
    for (const auto& s : a.spikes) beyond = beyond || (s.pop == 1 && s.id > 65535);
    CHECK(beyond);
    CHECK(a.spikes == b.spikes);
}

TEST_CASE("arrays of 32 MiB and more start on a 2 MiB huge-page boundary, smaller ones on a cache line", "[unit][engine]") {
    aligned_vector<std::uint16_t> big(std::size_t(16) << 20, 7);  // 32 MiB
    aligned_vector<float> small(1000, 1.0f);
    CHECK(reinterpret_cast<std::uintptr_t>(big.data()) % (std::uintptr_t(2) << 20) == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(small.data()) % 64 == 0);
    CHECK(big.back() == 7);
    big.push_back(9);  // grows through allocate/deallocate of the large kind
    CHECK(big.back() == 9);
    CHECK(big[123456] == 7);
    big.clear();
    big.shrink_to_fit();
    CHECK(big.capacity() == 0);
}

TEST_CASE("parts cover each population in order, split at multiples of 32 neurons", "[unit][engine]") {
    for (std::uint32_t size : {1u, 15u, 16u, 17u, 150u, 8001u, 32000u}) {
        network_spec spec;
        population_spec p;
        p.name = "p";
        p.size = size;
        spec.populations.push_back(p);
        for (std::size_t parts : {1u, 2u, 3u, 5u}) {
            INFO(size << " neurons, " << parts << " parts");
            const auto part = balance_even(spec, parts);
            REQUIRE(part.ranges.at(0).size() == parts);
            const auto& r = part.ranges[0];
            CHECK(r.front().begin == 0);
            CHECK(r.back().end == size);
            for (std::size_t k = 0; k < parts; ++k) {
                CHECK(r[k].begin <= r[k].end);
                if (k > 0) CHECK(r[k].begin == r[k - 1].end);
                if (k > 0) CHECK(r[k].begin % 32 == 0);  // no cache line of 2-byte stamps shared by two parts
                // balanced to within one line of 32 stamps
                CHECK(r[k].end - r[k].begin <= size / parts + 32);
            }
        }
    }
}

namespace {

// Populations a, b, c, ... of `sizes` (LIF, conductance-based), each projecting to the
// next (and the last to the first) with probability p, and each to itself with
// probability self_p (p / 2 where negative).
std::string chain_of(const std::vector<std::uint32_t>& sizes, double p, double self_p = -1.0) {
    if (self_p < 0) self_p = p / 2;
    std::string y = "simulation: {dt: 0.1 ms, duration: 10 ms, seed: 1}\npopulations:\n";
    const std::size_t n = sizes.size();
    auto name = [](std::size_t i) { return std::string(1, static_cast<char>('a' + i)); };
    for (std::size_t i = 0; i < n; ++i) y += "  " + name(i) + ": {size: " + std::to_string(sizes[i]) + ", model: lif_cond_exp}\n";
    y += "projections:\n";
    for (std::size_t i = 0; i < n; ++i) {
        y += "  " + name(i) + "_next: {source: " + name(i) + ", target: " + name((i + 1) % n) +
             ", receptor: ex, weight: 1 nS, connector: {rule: fixed_probability, p: " + std::to_string(p) + "}}\n";
        y += "  " + name(i) + "_self: {source: " + name(i) + ", target: " + name(i) +
             ", receptor: in, weight: 1 nS, connector: {rule: fixed_probability, p: " + std::to_string(self_p) + "}}\n";
    }
    return y;
}

// Each part's work as balance_contiguous counts it (engine.hpp), from the spec alone.
std::vector<double> part_work(const network_spec& spec, const partition& part) {
    const std::size_t n = spec.populations.size();
    std::vector<double> per_neuron(n, 1.0), fixed(n, 0.0), work(part.n_parts, 0.0);
    for (const auto& pj : spec.projections) {
        const auto s = spec.population_index(pj.source), t = spec.population_index(pj.target);
        const double in = static_cast<double>(expected_synapses(pj, spec.populations[s].size, spec.populations[t].size));
        per_neuron[t] += in / spec.populations[t].size / static_cast<double>(synapses_per_neuron);
        fixed[t] += row_piece_cost * spec.populations[s].size;
    }
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = 0; k < part.n_parts; ++k) {
            const auto& r = part.ranges[i][k];
            if (r.end > r.begin) work[k] += fixed[i] + (r.end - r.begin) * per_neuron[i];
        }
    return work;
}

}  // namespace

TEST_CASE("the build's progress hears of every projection once, in order, on one and two workers", "[unit][engine]") {
    const auto spec = parse(small_coba(323, 81));
    for (int threads : {1, 2}) {
        INFO(threads << " threads");
        std::vector<std::tuple<std::size_t, std::size_t, std::string>> heard;
        simulation sim(spec, builtin_models(), threads, 0,
                       [&](std::size_t done, std::size_t total, const std::string& name) { heard.emplace_back(done, total, name); });
        REQUIRE(heard.size() == spec.projections.size());
        for (std::size_t j = 0; j < heard.size(); ++j) {
            CHECK(std::get<0>(heard[j]) == j);
            CHECK(std::get<1>(heard[j]) == spec.projections.size());
            CHECK(std::get<2>(heard[j]) == spec.projections[j].name);
        }
    }
}

TEST_CASE("contiguous parts: COBA scaled to 40,000 neurons is cut once, into two parts of equal work", "[unit][engine]") {
    // exc 32,000 and inh 8,000, p = 0.002: each neuron has 64 + 16 = 80 inputs, so a work of
    // 1 + 80/160 = 1.5, and each population costs a part that holds any of it
    // row_piece_cost per source neuron, 40,000 sources: part 0 holds n0 excitatory
    // neurons, part 1 the other excitatory ones and every inhibitory one, and
    // F + 1.5 n0 = 2F + 1.5 (40,000 - n0) gives n0 = 20,000 + F / 3.
    const auto spec = parse(chain_of({32000, 8000}, 0.002, 0.002));
    const auto part = balance_contiguous(spec, 2);
    REQUIRE(part.n_parts == 2);
    const double f = row_piece_cost * 40000.0, n0 = 20000.0 + f / 3.0;
    const auto& a = part.ranges.at(0);
    const auto& b = part.ranges.at(1);
    CHECK(a[0].begin == 0);
    CHECK(std::abs(static_cast<double>(a[0].end) - n0) <= 32.0);
    CHECK(a[0].end % 32 == 0);
    CHECK(a[1].begin == a[0].end);
    CHECK(a[1].end == 32000);
    CHECK(b[0].begin == 0);  // none in part 0
    CHECK(b[0].end == 0);
    CHECK(b[1].begin == 0);
    CHECK(b[1].end == 8000);
    const auto w = part_work(spec, part);
    CHECK(std::abs(w[0] - w[1]) <= 32 * 1.5);
    // one part, or one population: every population split evenly
    for (const auto& [sizes, parts] : {std::pair{std::vector<std::uint32_t>{32000, 8000}, 1}, {std::vector<std::uint32_t>{5000}, 3}}) {
        const auto one = parse(chain_of(sizes, 0.01));
        CHECK(balance_contiguous(one, parts).ranges == balance_even(one, parts).ranges);
    }
}

TEST_CASE("contiguous parts take the populations in order, cut at most once per boundary, at multiples of 32, with equal work", "[unit][engine]") {
    const auto spec = parse(chain_of({10000, 25000, 3333, 64, 17000}, 0.004));
    for (std::size_t parts : {2u, 3u, 4u, 5u, 7u}) {
        INFO(parts << " parts");
        const auto part = balance_contiguous(spec, parts);
        REQUIRE(part.n_parts == parts);
        REQUIRE(part.ranges.size() == 5);
        std::size_t cuts = 0, last_part = 0;
        for (std::size_t i = 0; i < 5; ++i) {
            const auto& r = part.ranges[i];
            const std::uint32_t size = spec.populations[i].size;
            REQUIRE(r.size() == parts);
            CHECK(r.front().begin == 0);
            CHECK(r.back().end == size);
            std::size_t first = parts, last = 0;
            for (std::size_t k = 0; k < parts; ++k) {
                CHECK(r[k].begin <= r[k].end);
                if (k > 0) CHECK(r[k].begin == r[k - 1].end);
                if (r[k].begin > 0 && r[k].begin < size) {
                    ++cuts;
                    CHECK(r[k].begin % 32 == 0);
                }
                if (r[k].end > r[k].begin) {
                    first = std::min(first, k);
                    last = k;
                }
            }
            CHECK(first >= last_part);  // after the parts of the populations before it
            last_part = last;
        }
        CHECK(cuts <= parts - 1);
        const auto w = part_work(spec, part);
        double total = 0.0;
        for (double x : w) total += x;
        for (double x : w) CHECK(x <= 1.05 * total / static_cast<double>(parts));
    }
}

TEST_CASE("contiguous parts fall back to every population split evenly where populations differ in more than in-degree", "[unit][engine]") {
    const std::string base = chain_of({3000, 1000}, 0.01);
    std::vector<std::string> other = {
        // another model
        "simulation: {dt: 0.1 ms, duration: 10 ms, seed: 1}\npopulations:\n  a: {size: 3000, model: lif_cond_exp}\n"
        "  b: {size: 1000, model: lif_curr_exp}\nprojections:\n"
        "  ab: {source: a, target: b, receptor: ex, weight: 10 pA, connector: {rule: fixed_probability, p: 0.01}}\n",
        // a plastic projection
        base.substr(0, base.find("  b_next")) +
            "  b_next: {source: b, target: a, receptor: ex, weight: 1 nS, connector: {rule: fixed_probability, p: 0.01}, "
            "plasticity: {rule: stdp, tau_plus: 16.8 ms, tau_minus: 33.7 ms, a_plus: 0.05, a_minus: 0.04, w_min: 0, w_max: 20}}\n",
        // a stimulus on one population only
        base + "stimuli:\n  kick: {type: step_current, target: a, times: [1 ms], amplitudes: [100 pA]}\n",
        // on some neurons of each
        base + "stimuli:\n  ka: {type: step_current, target: a, neurons: [1, 2], times: [1 ms], amplitudes: [100 pA]}\n"
               "  kb: {type: step_current, target: b, neurons: [1, 2], times: [1 ms], amplitudes: [100 pA]}\n",
    };
    for (const auto& y : other) {
        INFO(y);
        const auto spec = parse(y);
        CHECK(balance_contiguous(spec, 2).ranges == balance_even(spec, 2).ranges);
    }
    // the same stimuli on every population, each on all its neurons: contiguous
    const auto same = parse(base + "stimuli:\n  ka: {type: step_current, target: a, times: [1 ms], amplitudes: [100 pA]}\n"
                                   "  kb: {type: step_current, target: b, times: [1 ms], amplitudes: [100 pA]}\n");
    const auto part = balance_contiguous(same, 2);
    CHECK(part.ranges[1][0].end == 0);
    CHECK(part.ranges[0][0].end > 1500);
}

TEST_CASE("a run can be continued and stopped between steps", "[unit][engine]") {
    const auto spec = parse(small_coba());
    const auto whole = run(spec);
    simulation sim(spec, builtin_models());
    capture c;
    sim.run(700, &c);
    sim.run(steps_for(spec.simulation.duration, spec.simulation.dt) - 700, &c);
    CHECK(c.spikes == whole.spikes);

    std::atomic<bool> stop{false};
    stopper s;  // (above)
    s.flag = &stop;
    simulation sim2(spec, builtin_models());
    const auto st = sim2.run(2000, &s, &stop);
    CHECK(st.interrupted);
    REQUIRE(s.stopped_at >= 500);
    CHECK(st.steps_done == s.stopped_at);
    CHECK(sim2.current_step() == s.stopped_at);
    CHECK(s.spikes.back().step == s.stopped_at);
}

TEST_CASE("synaptic events are counted per delivered synapse", "[unit][engine]") {
    const std::string y = R"(
simulation: {dt: 0.1 ms, duration: 10 ms}
populations:
  src: {size: 3, model: spike_array, params: {spike_times: [[1 ms, 2 ms], [1 ms], []]}}
  tgt: {size: 5, model: lif_curr_exp}
projections:
  p: {source: src, target: tgt, weight: 1 pA, connector: all_to_all}
)";
    const auto spec = parse(y);
    simulation sim(spec, builtin_models());
    const auto st = sim.run(100, nullptr);
    CHECK(st.synaptic_events == 3 * 5);
}

TEST_CASE("set_weights: a projection that stores one shared weight cannot be changed", "[unit][engine]") {
    const std::string y = R"(
simulation: {dt: 0.1 ms, duration: 10 ms}
populations:
  src: {size: 3, model: spike_array, params: {spike_times: [[1 ms], [], []]}}
  tgt: {size: 5, model: lif_curr_exp}
projections:
  shared: {source: src, target: tgt, weight: 1 pA, connector: all_to_all}
  drawn: {source: src, target: tgt, weight: {distribution: uniform, low: 1 pA, high: 2 pA}, connector: all_to_all}
)";
    simulation sim(parse(y), builtin_models());
    CHECK_THROWS_WITH(sim.set_weights(0, std::vector<float>(15, 2.0f)), Catch::Matchers::Contains("one shared weight"));
    sim.set_weights(1, std::vector<float>(15, 3.0f));
    CHECK(sim.weights(1) == std::vector<float>(15, 3.0f));
}

TEST_CASE("the population graph is a Boost.Graph with one edge per projection", "[unit][graph]") {
    const auto spec = parse(small_coba());
    const auto g = make_graph(spec);
    CHECK(boost::num_vertices(g) == 2);
    CHECK(boost::num_edges(g) == 4);
    const auto order = drive_order(parse(R"(
populations:
  out: {size: 1, model: lif_curr_exp}
  mid: {size: 1, model: lif_curr_exp}
  in: {size: 1, model: poisson, params: {rate: 1 Hz}}
projections:
  a: {source: in, target: mid, weight: 1 pA, connector: all_to_all}
  b: {source: mid, target: out, weight: 1 pA, connector: all_to_all}
)"));
    CHECK(order == std::vector<std::size_t>{2, 1, 0});
}

// `sources` neurons that all fire at 1 ms into `targets` lif_curr_exp neurons that never
// fire, through one static one-step projection of 0.5 pA (direct delivery), with I_ex
// recorded.
std::string burst_into(int sources, int targets, const std::string& connector) {
    return "simulation: {dt: 0.1 ms, duration: 2 ms, seed: 5, min_neurons_per_thread: 1}\n"
           "populations:\n"
           "  src: {size: " + std::to_string(sources) + ", model: spike_array, params: {spike_times: [1 ms]}}\n"
           "  tgt: {size: " + std::to_string(targets) + ", model: lif_curr_exp, params: {V_th: 1000 mV, tau_syn_ex: 2 ms}}\n"
           "projections:\n"
           "  p: {source: src, target: tgt, receptor: ex, weight: 0.5 pA, connector: " + connector + "}\n"
           "record:\n"
           "  state: {r: {population: tgt, variables: [I_ex]}}\n";
}

TEST_CASE("a step with more spiking rows than direct delivery lists at once adds every weight", "[unit][engine]") {
    // 3,000 sources fire in the same step into two lif_curr_exp neurons through a static
    // one-step projection (direct delivery, which lists and walks 1,024 rows at a time):
    // I_ex right after that delivery is 3,000 x 0.5 pA, to the rounding of 3,000 float
    // additions of the weight times 1 / sigma (lazy decay); one row of 0.5 pA is 3e-4 of it.
    const auto spec = parse(burst_into(3000, 2, "{rule: all_to_all}"));
    for (int threads : {1, 2}) {
        INFO(threads << " thread(s)");
        simulation sim(spec, builtin_models(), threads, 2);
        capture c;
        const auto st = sim.run(steps_for(spec.simulation.duration, spec.simulation.dt), &c);
        CHECK(st.synaptic_events == 6000);
        for (std::size_t j = 0; j < 2; ++j) {
            const auto tr = c.trace(0, 0, j);
            CHECK(*std::max_element(tr.begin(), tr.end()) == Approx(1500.0).epsilon(1e-5));
        }
    }
}

TEST_CASE("gathered direct delivery adds every weight of short, long and longer-than-its-list rows", "[unit][engine]") {
    // A projection with one shared weight into a float state array is delivered by
    // gathering its rows' targets into one list (walk_gathered, 8,192 targets at a time).
    // Here all 300 sources fire in the same step: four rows of 3,000 targets (the list
    // fills and is walked between them), one of all 9,000 (on one part, longer than the
    // list: walked in place), and 295 of one target each (the last ones at the end of the
    // stored targets, copied exactly). I_ex right after delivery is the number of rows
    // that reach a neuron times 0.5 pA (times 1 / sigma and back, to float rounding).
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / "engram_test_gathered";
    fs::create_directories(dir);
    {
        std::ofstream csv(dir / "rows.csv");
        csv << "pre,post\n";
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 3000; ++j) csv << i << ',' << j << '\n';
        for (int j = 0; j < 9000; ++j) csv << 4 << ',' << j << '\n';
        for (int i = 5; i < 300; ++i) csv << i << ',' << 3000 + (i - 5) << '\n';
    }
    const auto spec = parse(burst_into(300, 9000, "{rule: from_list, file: " + (dir / "rows.csv").string() + "}"));
    fs::remove_all(dir);
    for (int threads : {1, 2}) {
        INFO(threads << " thread(s)");
        simulation sim(spec, builtin_models(), threads, threads);
        capture c;
        const auto st = sim.run(steps_for(spec.simulation.duration, spec.simulation.dt), &c);
        CHECK(st.synaptic_events == 4 * 3000 + 9000 + 295);
        for (std::size_t j : {0, 1, 2999, 3000, 3150, 3294, 3295, 4499, 4500, 8999}) {
            INFO("neuron " << j);
            const double rows = j < 3000 ? 5 : j < 3295 ? 2 : 1;
            const auto tr = c.trace(0, 0, j);
            CHECK(*std::max_element(tr.begin(), tr.end()) == Approx(0.5 * rows).epsilon(1e-6));
        }
    }
}

TEST_CASE("run reports progress from the first step on, every thousandth of the run, and 1 at its end", "[unit][engine]") {
    const auto spec = parse(direct_coba());
    for (int threads : {1, 2}) {  // the step-by-step loop; workers a step apart
        INFO(threads << " threads");
        simulation sim(spec, builtin_models(), threads);
        REQUIRE(sim.pipelined() == (threads == 2));
        std::vector<double> seen;
        const std::uint64_t steps = 10000;  // a report every 10 steps
        sim.run(steps, nullptr, nullptr, [&](double f) { seen.push_back(f); });
        REQUIRE(seen.size() >= 1000);
        CHECK(seen.size() <= 1003);
        CHECK(seen.front() == Approx(1.0 / steps));
        CHECK(seen[1] - seen[0] == Approx(10.0 / steps));
        CHECK(seen.back() == 1.0);
        CHECK(std::is_sorted(seen.begin(), seen.end()));
        CHECK(*std::min_element(seen.begin(), seen.end()) > 0.0);
        // and a second run starts counting again
        std::vector<double> again;
        sim.run(100, nullptr, nullptr, [&](double f) { again.push_back(f); });
        REQUIRE(again.size() >= 100);
        CHECK(again.front() == Approx(0.01));
        CHECK(again.back() == 1.0);
    }
}

TEST_CASE("cuts that move between the parts during a run give the same spikes, state and synapses", "[unit][engine]") {
    // with the inhibitory step current, the populations lie one after another
    // (balance_contiguous); without it, every population is split (balance_even)
    const std::string contiguous = direct_coba() + "  kick_i: {type: step_current, target: inh, times: [10 ms, 60 ms], amplitudes: [300 pA, 0 pA]}\n";
    for (const auto& y : {contiguous, direct_coba()}) {
        const auto spec = parse(y);
        const auto steps = steps_for(spec.simulation.duration, spec.simulation.dt);
        simulation ref(spec, builtin_models(), 1, 1);
        capture one;
        ref.run(steps, &one);
        REQUIRE(one.spikes.size() > 200);
        auto state_of = [](const simulation& sim) {
            std::vector<std::vector<double>> out;
            for (std::size_t p = 0; p < 2; ++p)
                for (const char* v : {"v", "g_ex", "g_in"}) out.push_back(sim.state(p, v));
            return out;
        };
        for (int threads : {2, 3}) {
            for (std::size_t parts : {0, 4}) {
                for (std::uint64_t every : {3, 50}) {
                    INFO((&y == &contiguous ? "contiguous" : "even") << ", " << threads << " threads, " << parts << " parts, every " << every);
                    simulation sim(spec, builtin_models(), threads, parts);
                    REQUIRE(sim.pipelined());
                    balance_policy bp;
                    bp.enabled = true;
                    bp.every = every;
                    sim.set_balance_policy(bp);
                    const partition before = sim.partitioned();
                    capture c;
                    const auto st = sim.run(steps, &c);
                    CHECK(st.rebalances > 0);
                    CHECK(st.steps_done == steps);
                    CHECK_FALSE(sim.partitioned().ranges == before.ranges);
                    CHECK(c.spikes == one.spikes);
                    CHECK(state_of(sim) == state_of(ref));
                    for (std::size_t j = 0; j < spec.projections.size(); ++j) {
                        const auto a = sim.synapses(j), b = ref.synapses(j);
                        CHECK((a.pre == b.pre && a.post == b.post && a.weight == b.weight));
                    }
                }
            }
        }
    }
}

TEST_CASE("rebalance moves the cuts to the shares asked for, between runs, with the same spikes", "[unit][engine]") {
    const auto spec = parse(direct_coba() + "  kick_i: {type: step_current, target: inh, times: [10 ms, 60 ms], amplitudes: [300 pA, 0 pA]}\n");
    const auto steps = steps_for(spec.simulation.duration, spec.simulation.dt);
    simulation ref(spec, builtin_models(), 1, 1);
    capture one;
    ref.run(steps, &one);
    simulation sim(spec, builtin_models(), 2);
    REQUIRE(sim.parts() == 2);
    capture c;
    std::uint64_t done = 0;
    // part 0 with a quarter, then three quarters, then nearly all of the work
    for (const std::vector<double>& shares : {std::vector<double>{1, 3}, {3, 1}, {50, 1}, {1, 1}}) {
        const partition before = sim.partitioned();
        CHECK(sim.rebalance(shares) != (balance_contiguous(spec, 2, shares).ranges == before.ranges));
        CHECK(sim.partitioned().ranges == balance_contiguous(spec, 2, shares).ranges);
        const auto st = sim.run(steps / 4, &c);
        CHECK(st.rebalances == 0);
        done += steps / 4;
    }
    sim.run(steps - done, &c);
    CHECK(c.spikes == one.spikes);
    // part 0's share of the work follows the shares
    const auto quarter = balance_contiguous(spec, 2, {1, 3}), most = balance_contiguous(spec, 2, {3, 1});
    CHECK(quarter.ranges[0][0].end < most.ranges[0][0].end);
    CHECK(quarter.ranges[0][0].end % 32 == 0);  // cut within the population: at a multiple of 32
    CHECK(most.ranges[0][0].end == 323);          // all of it, and some of the next
    CHECK_THROWS_AS(balance_contiguous(spec, 2, {1, 0}), error);
    CHECK_THROWS_AS(balance_contiguous(spec, 2, {1, 2, 3}), error);
    // a simulation whose workers meet every step keeps its partition
    simulation rings(parse(small_coba()), builtin_models(), 2);
    const auto r0 = rings.partitioned().ranges;
    CHECK_FALSE(rings.rebalance({1, 3}));
    CHECK(rings.partitioned().ranges == r0);
}

TEST_CASE("simulation.rebalance turns the moving cuts off, and set_balance_policy refuses what it cannot follow", "[unit][engine]") {
    CHECK_FALSE(parse(direct_coba()).simulation.rebalance);
    CHECK(parse(direct_coba(), {"simulation.rebalance=true"}).simulation.rebalance);
    try {
        parse(direct_coba(), {"simulation.rebalance=often"});
        FAIL("a rebalance that is no boolean was taken");
    } catch (const error& e) {
        CHECK_THAT(e.what(), Catch::Contains("simulation.rebalance"));
    }
    simulation sim(parse(direct_coba()), builtin_models(), 2);
    balance_policy bad;
    bad.window_s = 0;
    CHECK_THROWS_WITH(sim.set_balance_policy(bad), Catch::Contains("window_s"));
    bad = balance_policy{};
    bad.min_gain = -0.1;
    CHECK_THROWS_WITH(sim.set_balance_policy(bad), Catch::Contains("min_gain"));
    bad = balance_policy{};
    bad.min_cpu_share = 1.5;
    CHECK_THROWS_WITH(sim.set_balance_policy(bad), Catch::Contains("min_cpu_share"));
}

namespace {
// Holds worker 1 (the thread that steps part 1 of two) up in its update: per population,
// `per_neuron` for each neuron of part 1, as a core slower by that much per neuron would be.
struct slow_core : observer {
    slow_core(const simulation& s, std::chrono::nanoseconds n) : sim(s), per_neuron(n) {}
    const simulation& sim;
    std::chrono::nanoseconds per_neuron;
    std::thread::id caller = std::this_thread::get_id();
    void on_spikes(std::uint64_t, std::size_t, const std::uint32_t*, std::size_t) override {}
    bool takes_part_spikes() const override { return true; }
    void on_part_spikes(std::uint64_t, std::size_t pop, const std::uint32_t*, std::size_t) override {
        if (std::this_thread::get_id() == caller) return;
        const auto& r = sim.partitioned().ranges.at(pop).at(1);
        const auto until = std::chrono::steady_clock::now() + per_neuron * (r.end - r.begin);
        while (std::chrono::steady_clock::now() < until) {
        }
    }
};
}  // namespace

TEST_CASE("a worker slower than the other gets a smaller part where the policy moves the cuts, with the same spikes", "[unit][engine]") {
    const auto spec = parse(driven_coba());
    const auto steps = steps_for(spec.simulation.duration, spec.simulation.dt);
    simulation one(spec, builtin_models(), 1);
    capture c1;
    const auto t0 = std::chrono::steady_clock::now();
    one.run(steps, &c1);
    const auto one_run = std::chrono::steady_clock::now() - t0;
    const auto per_step = one_run / steps;
    REQUIRE(c1.spikes.size() > 200);
    const auto first_run = c1.spikes;
    // worker 1 spends eight times one thread's time per neuron more on each of its neurons, in
    // any build (sanitizers slow every step): moves that follow the times of other
    // processes on the CPUs cannot turn that round
    std::uint32_t n_all = 0;
    for (const auto& p : spec.populations) n_all += p.size;
    const auto per_neuron = std::chrono::duration_cast<std::chrono::nanoseconds>(8 * per_step / n_all);
    simulation sim(spec, builtin_models(), 2);
    REQUIRE(sim.pipelined());
    REQUIRE(sim.parts() == 2);
    stall_policy together;
    together.min_share = 0.0;  // never alone: the slow worker runs, it is not starved
    sim.set_stall_policy(together);
    balance_policy bp;
    bp.enabled = true;
    bp.window_s = std::chrono::duration<double>(one_run).count() / 8;  // windows within a run
    sim.set_balance_policy(bp);
    auto neurons_of = [&](std::size_t k) {
        std::uint32_t n = 0;
        for (const auto& r : sim.partitioned().ranges) n += r.at(k).end - r.at(k).begin;
        return n;
    };
    const std::uint32_t before = neurons_of(1);
    slow_core slow(sim, per_neuron);
    capture c;
    observer_list obs;
    obs.add(&slow);
    obs.add(&c);
    // runs of `steps` until the cuts have moved: the policy does not move after windows
    // in which other processes (ctest -j) held a worker off its CPU (min_cpu_share), and
    // a move to shares near the old ones may leave the cuts where they were
    std::uint64_t moves = 0, starved = 0;
    double move_s = 0.0;
    for (int runs = 0; runs < 30 && (moves == 0 || neurons_of(1) == before); ++runs) {
        if (runs > 0) one.run(steps, &c1);
        const auto st = sim.run(steps, &obs);
        moves += st.rebalances;
        move_s += st.rebalance_seconds;
        starved += st.starved_windows;
    }
    if (moves == 0) {
        // only where other processes kept a worker off its CPU in every window
        CHECK(starved >= 1);
        WARN("the CPUs were too busy for the cuts to move (" << starved << " windows with a worker off its CPU)");
    } else {
        CHECK(move_s > 0.0);
        CHECK(neurons_of(1) < before);  // worker 1's part (it steps part 1) is smaller
    }
    CHECK(c.spikes == c1.spikes);
    CHECK(sim.state(0, "v") == one.state(0, "v"));
    // a worker that naps (off its CPU) is starved, not slow: the run goes on alone
    // (stall_policy) and the cuts stay (min_cpu_share, 0.9 by default)
    simulation napping(spec, builtin_models(), 2);
    napping.set_balance_policy(bp);
    const auto napped_cuts = napping.partitioned().ranges;
    sleepy naps(std::chrono::milliseconds(2));
    capture c2;
    observer_list obs2;
    obs2.add(&naps);
    obs2.add(&c2);
    const auto st_nap = napping.run(steps, &obs2);
    CHECK(st_nap.solo_spells >= 1);
    CHECK(st_nap.rebalances == 0);
    CHECK(napping.partitioned().ranges == napped_cuts);
    CHECK(c2.spikes == first_run);
    // with the policy off (the default), the cuts stay where they are
    simulation off(spec, builtin_models(), 2);
    off.set_stall_policy(together);
    const auto cuts = off.partitioned().ranges;
    slow_core slow2(off, per_neuron);
    const auto st_off = off.run(steps, &slow2);
    CHECK(st_off.rebalances == 0);
    CHECK(off.partitioned().ranges == cuts);
}
