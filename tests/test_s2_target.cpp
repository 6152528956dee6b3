// The SpiNNaker2 target model (backends/spinnaker2/src/target.cpp): fixed-point neurons
// against the float engine within a derived bound, convergence with the weight bits,
// delivery only through the routing tables, and the cycle/energy accounting.
#include <catch2/catch.hpp>

#include <algorithm>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "engram/core/config.hpp"
#include "engram/core/engine.hpp"
#include "engram/neurons/models.hpp"
#include "engram/spinnaker2/spinnaker2.hpp"

namespace {

using namespace engram;

const model_registry& registry() {
    static const model_registry r = [] {
        model_registry m;
        register_builtin_models(m);
        return m;
    }();
    return r;
}

s2::network_map map_text(const std::string& yaml, int weight_bits = 0, const std::string& machine = "chip",
                         const std::string& placement = "greedy") {
    const experiment ex = parse_experiment(yaml, "s2_target_test.yaml", registry());
    s2::map_options o = s2::read_map_options(ex);
    if (weight_bits > 0) o.weight_bits = weight_bits;
    o.machine = s2::machine_preset(machine);
    o.placement = placement;
    o.reference_ms = 0;
    return s2::map_network(ex, registry(), o);
}

std::uint32_t key_in(const std::string& message) {
    const auto at = message.find("key 0x");
    REQUIRE(at != std::string::npos);
    return static_cast<std::uint32_t>(std::stoul(message.substr(at + 6, 8), nullptr, 16));
}

const char* single_neuron = R"(
simulation: {dt: 1 ms, duration: 120 ms, seed: 1}
populations:
  input:
    size: 1
    model: spike_array
    params: {spike_times: [10 ms, 40 ms, 42 ms, 44 ms, 80 ms, 81 ms, 82 ms]}
  neuron:
    size: 1
    model: lif_curr_exp
    params: {C_m: 250 pF, tau_m: 10 ms, E_L: -70 mV, V_th: -55 mV, V_reset: -70 mV,
             t_ref: 2 ms, tau_syn_ex: 2 ms, tau_syn_in: 2 ms, I_e: 100 pA}
projections:
  drive: {source: input, target: neuron, receptor: ex, connector: all_to_all, weight: 1500 pA, delay: 2 ms}
)";

// One spike at 5 ms from a spike_array onto three lif_curr_exp neurons (3 synapses).
std::string one_source_three_targets(const std::string& duration) {
    return "simulation: {dt: 1 ms, duration: " + duration + R"(, seed: 1}
populations:
  src: {size: 1, model: spike_array, params: {spike_times: [5 ms]}}
  dst:
    size: 3
    model: lif_curr_exp
    params: {C_m: 250 pF, tau_m: 10 ms, E_L: -70 mV, V_th: -55 mV, V_reset: -70 mV,
             t_ref: 2 ms, tau_syn_ex: 2 ms, tau_syn_in: 2 ms}
projections:
  p: {source: src, target: dst, receptor: ex, weight: 10 pA, delay: 1 ms, connector: all_to_all}
)";
}

}  // namespace

// Error bound of the fixed-point neuron against the float engine (one LSB e = 2^-15 mV):
//   I_exc: each tick's product is floored (error < e); a tick's input, summed at 32
//          fraction bits as q * weight_step, is rounded once to s16.15 (e / 2), and
//          weight_step itself is within 2^-33 mV of P_me * scale (w being exactly
//          q * scale): delta_in = |q*weight_step*2^-32 - P_me*w| + e / 2 per input tick.
//          The error left by one input decays with d = exc_decay: its total effect on v
//          is at most delta_in / (1 - d); the floors add at most e / (1 - d) per tick.
//   v:     floored product (< e per tick), the current error above, the rounding of
//          i_offset (e / 2): e_v <= (e + e / 2 + e / (1 - d)) / (1 - a) + K delta_in / (1 - d)
//          for K input spikes (a = alpha); alpha and d are within 2^-32 of exp(-dt/tau)
//          (a relative error of 2^-32 on |v| < 2^16 mV, below e).
//   float: the engine's float32 state and constants: a few ulps of |v| per step,
//          amplified by 1 / (1 - a): 4 * 2^-24 * 128 mV / (1 - a).
// While v stays farther than this bound from the threshold, both spike at the same ticks.
TEST_CASE("target: one lif_curr_exp neuron follows the float engine within the fixed-point bound", "[s2]") {
    const auto m = map_text(single_neuron);
    REQUIRE(m.spec.simulation.dt == 1.0);
    const auto& pj = m.projections.at(0);
    REQUIRE(pj.rms_error < 1e-9);  // 1500 pA = 15 steps of 100 pA: exactly representable
    s2::target_options o;
    o.trace_v = std::make_pair(std::size_t(1), std::uint32_t(0));
    const auto r = s2::run_target(m, registry(), o);
    REQUIRE(r.ticks == 120);
    REQUIRE(r.trace_v_mv.size() == 120);

    // float membrane after each step
    simulation sim(m.spec, registry(), 1);
    std::vector<double> vf;
    for (int t = 0; t < 120; ++t) {
        sim.run(1, nullptr);
        vf.push_back(sim.state(1, "v")[0]);
    }

    const auto& spec = m.spec.populations[1];
    const double dt = 1.0, tau = 10.0, ts = 2.0, C = 250.0;
    const double e = std::ldexp(1.0, -15);
    const double a = std::exp(-dt / tau), d = std::exp(-dt / ts);
    const double P_me = tau * ts / (C * (tau - ts)) * (std::exp(-dt / tau) - std::exp(-dt / ts));
    const double q = std::round(1500.0 / pj.scale);
    const double delta_in = std::fabs(q * std::ldexp(double(pj.weight_step), -32) - P_me * 1500.0) + e / 2 +
                            1e-6 * P_me * 1500.0;  // the last: float32 weight and P_me in the engine
    const double K = 7;
    const double bound = (e + e / 2 + e / (1 - d)) / (1 - a) + K * delta_in / (1 - d) + 4 * std::ldexp(1.0, -24) * 128 / (1 - a);
    double max_diff = 0.0, min_margin = 1e9;
    const double V_th = spec.params.at("V_th").values[0];
    for (std::size_t t = 0; t < vf.size(); ++t) {
        max_diff = std::max(max_diff, std::fabs(vf[t] - r.trace_v_mv[t]));
        min_margin = std::min(min_margin, std::fabs(vf[t] - V_th));
    }
    WARN("fixed-point vs float membrane: max |dv| = " << max_diff << " mV, derived bound " << bound << " mV");
    CHECK(max_diff <= bound);
    REQUIRE(min_margin > bound);  // the experiment keeps v clear of the threshold by more than the bound

    // same spikes, and some of them
    REQUIRE(!r.comparison.empty());
    const auto& c = r.comparison.at(0);
    CHECK(c.population == "neuron");
    CHECK(c.spikes_float >= 2);
    CHECK(c.spikes_target == c.spikes_float);
    CHECK(c.rate_error == 0.0);
    CHECK(c.van_rossum == 0.0);
    // the source replays the float engine's spikes at its ticks
    REQUIRE(r.spikes[0].size() == 7);
    CHECK(r.spikes[0][0].first == 10);
    CHECK(r.spikes[0][6].first == 82);
}

TEST_CASE("target: rate error and van Rossum distance shrink as the weight bits grow", "[s2]") {
    const std::string yaml = R"(
simulation: {dt: 1 ms, duration: 2 s, seed: 7}
populations:
  input: {size: 200, model: poisson, params: {rate: 50 Hz}}
  out:
    size: 100
    model: lif_curr_exp
    params: {C_m: 250 pF, tau_m: 10 ms, E_L: -70 mV, V_th: -55 mV, V_reset: -70 mV,
             t_ref: 2 ms, tau_syn_ex: 2 ms, tau_syn_in: 2 ms}
projections:
  ff:
    source: input
    target: out
    receptor: ex
    connector: {rule: fixed_probability, p: 0.2}
    weight: {distribution: normal, mean: 90 pA, std: 40 pA, min: 0 pA}
    delay: {distribution: uniform, low: 1 ms, high: 5 ms}
)";
    std::vector<double> err, dist;
    double rate = 0.0;
    for (int bits : {2, 4, 8, 12}) {
        const auto m = map_text(yaml, bits);
        REQUIRE(m.projections.at(0).weight_bits == bits);
        const auto r = s2::run_target(m, registry());
        REQUIRE(r.comparison.size() == 1);
        const auto& c = r.comparison[0];
        rate = c.rate_float_hz;
        err.push_back(c.rate_error);
        dist.push_back(c.van_rossum);
        WARN("weight_bits " << bits << ": float " << c.rate_float_hz << " Hz, target " << c.rate_target_hz
                            << " Hz, rate error " << c.rate_error << ", van Rossum " << c.van_rossum
                            << ", weight rms error " << m.projections[0].rms_error << " pA");
    }
    REQUIRE(rate > 2.0);
    CHECK(dist[3] < 0.25 * dist[0]);
    CHECK(dist[3] < dist[1]);
    CHECK(dist[2] < dist[0]);
    CHECK(err[3] < 0.02);
    CHECK(err[3] <= err[0]);
    CHECK(dist[3] < 0.1);
}

TEST_CASE("target: the int8 (no-delay) format delivers after one tick", "[s2]") {
    const std::string yaml = R"(
simulation: {dt: 1 ms, duration: 1 s, seed: 5}
populations:
  input: {size: 100, model: poisson, params: {rate: 50 Hz}}
  out:
    size: 50
    model: lif_curr_exp
    params: {C_m: 250 pF, tau_m: 10 ms, E_L: -70 mV, V_th: -55 mV, V_reset: -70 mV,
             t_ref: 2 ms, tau_syn_ex: 2 ms, tau_syn_in: 5 ms}
projections:
  ex: {source: input, target: out, receptor: ex, delay: 1 ms, connector: {rule: fixed_probability, p: 0.3},
       weight: {distribution: uniform, low: 50 pA, high: 250 pA}}
  in: {source: input, target: out, receptor: in, delay: 1 ms, connector: {rule: fixed_probability, p: 0.1},
       weight: {distribution: uniform, low: -200 pA, high: -50 pA}}
spinnaker2:
  formats: {out: int8}
)";
    const auto m = map_text(yaml);
    REQUIRE(m.projections.at(0).format == s2::row_format::int8);
    REQUIRE(m.pes.at(m.populations.at(1).slices.at(0)).delay_bits == 0);
    const auto r = s2::run_target(m, registry());
    REQUIRE(r.comparison.size() == 1);
    const auto& c = r.comparison[0];
    WARN("int8: float " << c.rate_float_hz << " Hz, target " << c.rate_target_hz << " Hz, van Rossum " << c.van_rossum);
    CHECK(c.rate_float_hz > 2.0);
    CHECK(c.rate_error < 0.03);
    CHECK(c.van_rossum < 0.1);
}

TEST_CASE("target: spikes reach their targets only through the routing tables", "[s2]") {
    const std::string yaml = R"(
simulation: {dt: 1 ms, duration: 300 ms, seed: 3}
populations:
  drive: {size: 40, model: poisson, params: {rate: 40 Hz}}
  exc:
    size: 60
    model: lif_curr_exp
    params: {C_m: 250 pF, tau_m: 10 ms, E_L: -70 mV, V_th: -55 mV, V_reset: -70 mV,
             t_ref: 2 ms, tau_syn_ex: 2 ms, tau_syn_in: 5 ms}
  inh:
    size: 20
    model: lif_curr_delta
    params: {C_m: 250 pF, tau_m: 10 ms, E_L: -70 mV, V_th: -55 mV, V_reset: -70 mV, t_ref: 2 ms}
projections:
  de: {source: drive, target: exc, receptor: ex, weight: 400 pA, delay: 1 ms, connector: {rule: fixed_probability, p: 0.3}}
  ee: {source: exc, target: exc, receptor: ex, weight: 100 pA, delay: 2 ms, connector: {rule: fixed_probability, p: 0.1}}
  ei: {source: exc, target: inh, receptor: ex, weight: 2 mV, delay: 1 ms, connector: {rule: fixed_probability, p: 0.2}}
  ie: {source: inh, target: exc, receptor: in, weight: -300 pA, delay: 3 ms, connector: {rule: fixed_probability, p: 0.3}}
spinnaker2:
  atoms_per_pe: {drive: 16, exc: 16, inh: 8}
  weight_bits: 10
)";
    const auto m = map_text(yaml, 0, "board48", "random");
    REQUIRE(m.slices.size() >= 10);
    const auto r = s2::run_target(m, registry());
    REQUIRE(r.comparison.size() == 2);
    for (const auto& c : r.comparison) {
        CHECK(c.spikes_target > 0);
        CHECK(c.rate_error < 0.15);
    }
    CHECK(r.packets > 0);
    REQUIRE(m.chips_used() > 1);  // random placement over the board: packets cross links
    CHECK(r.link_packets > 0);
    CHECK(r.max_link_packets_per_tick > 0);
    // The per-tick and per-PE series add up to the totals.
    REQUIRE(r.tick_synaptic_events.size() == r.ticks);
    std::uint64_t ev = 0, pk = 0, pe_ev = 0, pe_pk = 0, link_max = 0;
    for (std::size_t t = 0; t < r.ticks; ++t) {
        ev += r.tick_synaptic_events[t];
        pk += r.tick_packets[t];
        link_max = std::max(link_max, r.tick_max_link_packets[t]);
    }
    for (std::size_t s = 0; s < m.slices.size(); ++s) {
        pe_ev += r.pe_synaptic_events[s];
        pe_pk += r.pe_packets[s];
    }
    CHECK(ev == r.synaptic_events);
    CHECK(pe_ev == r.synaptic_events);
    CHECK(pk == pe_pk);
    CHECK(link_max == r.max_link_packets_per_tick);
    CHECK(*std::max_element(r.tick_max_pe_cycles.begin(), r.tick_max_pe_cycles.end()) == Approx(r.max_pe_cycles));
    CHECK(*std::max_element(r.pe_max_cycles.begin(), r.pe_max_cycles.end()) == Approx(r.max_pe_cycles));

    // Find an entry with a PE bit whose removal loses synapses, in a copy of the map.
    auto find_entry = [&](const s2::network_map& mm) -> std::pair<std::size_t, std::size_t> {
        for (std::size_t c = 0; c < mm.routers.size(); ++c)
            for (std::size_t k = 0; k < mm.routers[c].entries.size(); ++k) {
                const auto& e = mm.routers[c].entries[k];
                if (e.r.pes[0] | e.r.pes[1] | e.r.pes[2]) return {c, k};
            }
        FAIL("no routing entry delivers to a PE");
        return {0, 0};
    };
    SECTION("a PE bit cleared") {
        auto bad = m;
        const auto [c, k] = find_entry(bad);
        auto& e = bad.routers[c].entries[k];
        int pe = 0;
        while (!e.r.has_pe(pe)) ++pe;
        e.r.pes[static_cast<std::size_t>(pe) / 64] &= ~(std::uint64_t(1) << (pe % 64));
        try {
            s2::run_target(bad, registry());
            FAIL("run_target accepted a table with a PE bit cleared");
        } catch (const s2::map_error& err) {
            const std::string msg = err.what();
            INFO(msg);
            CHECK(msg.find("routing failure") != std::string::npos);
            CHECK(msg.find("does not reach") != std::string::npos);
            CHECK((key_in(msg) & e.mask) == e.key);
        }
    }
    SECTION("an entry removed") {
        auto bad = m;
        const auto [c, k] = find_entry(bad);
        const auto e = bad.routers[c].entries[k];
        bad.routers[c].entries.erase(bad.routers[c].entries.begin() + static_cast<std::ptrdiff_t>(k));
        try {
            s2::run_target(bad, registry());
            FAIL("run_target accepted a table with an entry removed");
        } catch (const s2::map_error& err) {
            const std::string msg = err.what();
            INFO(msg);
            CHECK(msg.find("routing failure") != std::string::npos);
            CHECK((key_in(msg) & e.mask) == e.key);
        }
    }
    SECTION("a PE bit added") {
        auto bad = m;
        const auto [c, k] = find_entry(bad);
        auto& e = bad.routers[c].entries[k];
        int pe = 0;
        while (e.r.has_pe(pe)) ++pe;  // a PE this key does not go to
        e.r.add_pe(pe);
        try {
            s2::run_target(bad, registry());
            FAIL("run_target accepted a table that sends a key to a wrong PE");
        } catch (const s2::map_error& err) {
            const std::string msg = err.what();
            INFO(msg);
            CHECK(msg.find("routing failure") != std::string::npos);
            CHECK((key_in(msg) & e.mask) == e.key);
        }
    }
}

TEST_CASE("target: cycles and energy match a hand count", "[s2]") {
    const std::string yaml = one_source_three_targets("10 ms");
    for (const char* machine : {"chip", "board48"}) {
        INFO(machine);
        const auto m = map_text(yaml, 0, machine, "random");
        REQUIRE(m.slices.size() == 2);
        const auto r = s2::run_target(m, registry());
        const auto& k = m.machine.costs;
        REQUIRE(r.ticks == 10);
        CHECK(r.packets == 1);
        CHECK(r.synaptic_events == 3);
        CHECK(r.spikes[1].empty());
        // hops: the chip distance between the two PEs' chips (a shortest-path route)
        const auto dist = s2::chip_distances(m.machine);
        const auto hops = static_cast<std::uint64_t>(
            dist.at(static_cast<std::size_t>(m.slices[0].chip)).at(static_cast<std::size_t>(m.slices[1].chip)));
        CHECK(r.link_packets == hops);
        if (std::string(machine) == "board48") CHECK(hops > 0);  // random placement of 2 PEs over 48 chips
        // per tick: every PE its overhead; dst 3 neuron updates; the spike's tick 1 packet + 3 events on dst
        const double busiest = k.cycles_per_tick + 3 * k.cycles_per_neuron + k.cycles_per_packet + 3 * k.cycles_per_synapse;
        CHECK(r.max_pe_cycles == Approx(busiest));
        const double total = 20 * k.cycles_per_tick + 30 * k.cycles_per_neuron + k.cycles_per_packet + 3 * k.cycles_per_synapse;
        CHECK(r.mean_pe_cycles == Approx(total / 20));
        CHECK(r.ticks_over_budget == 0);
        CHECK(r.real_time);
        const double energy = 3 * k.joule_per_synapse + 30 * k.joule_per_neuron + double(hops) * k.joule_per_packet_hop +
                              double(hops + 1) * k.joule_per_packet_router +
                              k.watt_idle_per_chip * double(m.chips_used()) * 0.010;
        CHECK(r.energy_j == Approx(energy));
        CHECK(r.energy_breakdown_j.at("synapses") == Approx(3 * k.joule_per_synapse));
        CHECK(r.energy_breakdown_j.at("neurons") == Approx(30 * k.joule_per_neuron));
        std::uint64_t used = 0;
        for (auto u : r.link_use) used += u;
        CHECK(used == hops);
        CHECK(r.max_link_packets_per_tick == (hops > 0 ? 1u : 0u));
    }
}

TEST_CASE("target: a slow clock is reported as not real time", "[s2]") {
    const std::string yaml = one_source_three_targets("20 ms");
    auto m = map_text(yaml);
    const auto& k = m.machine.costs;
    // a clock that affords the quiet ticks but not the tick with the spike
    const double quiet = k.cycles_per_tick + 3 * k.cycles_per_neuron;
    const double busy = quiet + k.cycles_per_packet + 3 * k.cycles_per_synapse;
    m.machine.clock_hz = 0.5 * (quiet + busy) / (m.machine.tick_ms * 1e-3);
    const auto r = s2::run_target(m, registry());
    CHECK(r.ticks_over_budget == 1);
    CHECK_FALSE(r.real_time);
}

TEST_CASE("target: Poisson input stimuli are refused with a hint", "[s2]") {
    const std::string yaml = R"(
simulation: {dt: 1 ms, duration: 20 ms, seed: 1}
populations:
  n: {size: 3, model: lif_curr_exp}
stimuli:
  noise: {type: poisson_input, target: n, receptor: ex, rate: 100 Hz, weight: 10 pA}
)";
    // the mapper refuses it ...
    REQUIRE_THROWS_WITH(map_text(yaml), Catch::Contains("poisson population"));
    // ... and so does the target model, given a map that has one
    const std::string quiet = yaml.substr(0, yaml.find("stimuli:"));
    auto m = map_text(quiet);
    stimulus_spec st;
    st.name = "noise";
    st.type = "poisson_input";
    st.target = "n";
    st.receptor = "ex";
    st.rate = 100;
    st.weight = 10;
    m.spec.stimuli.push_back(st);
    REQUIRE_THROWS_WITH(s2::run_target(m, registry()), Catch::Contains("use a poisson population"));
}

TEST_CASE("target: a step current drives a lif population as in the float engine", "[s2]") {
    const std::string yaml = R"(
simulation: {dt: 1 ms, duration: 200 ms, seed: 1}
populations:
  n:
    size: 4
    model: lif_curr_delta
    params: {C_m: 250 pF, tau_m: 10 ms, E_L: -70 mV, V_th: -55 mV, V_reset: -70 mV, t_ref: 2 ms}
stimuli:
  step: {type: step_current, target: n, neurons: [1, 2], times: [20 ms, 120 ms], amplitudes: [420 pA, 0 pA]}
)";
    const auto m = map_text(yaml);
    const auto r = s2::run_target(m, registry());
    REQUIRE(r.comparison.size() == 1);
    const auto& c = r.comparison[0];
    CHECK(c.spikes_float > 5);
    CHECK(c.spikes_target == c.spikes_float);
    CHECK(c.van_rossum == 0.0);
    for (const auto& [t, i] : r.spikes[0]) {
        CHECK((i == 1 || i == 2));
        CHECK(t > 20);
        CHECK(t <= 125);
    }
}

TEST_CASE("target: engram run --backend spinnaker2 writes a results file", "[s2]") {
    const auto dir = std::filesystem::temp_directory_path() / "engram_test_s2_run";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const auto yaml = dir / "tiny.yaml";
    {
        std::ofstream f(yaml);
        f << R"(
simulation: {dt: 0.1 ms, duration: 200 ms, seed: 2}
populations:
  input: {size: 50, model: poisson, params: {rate: 40 Hz}}
  out:
    size: 20
    model: lif_curr_exp
    params: {C_m: 250 pF, tau_m: 10 ms, E_L: -70 mV, V_th: -55 mV, V_reset: -70 mV,
             t_ref: 2 ms, tau_syn_ex: 2 ms, tau_syn_in: 2 ms}
projections:
  ff: {source: input, target: out, receptor: ex, weight: 300 pA, delay: 1 ms,
       connector: {rule: fixed_probability, p: 0.3}}
spinnaker2: {weight_bits: 8, reference: 0 ms}
)";
    }
    const auto out = dir / "tiny_s2.h5";
    const auto log = dir / "log.txt";
    const std::string cmd = std::string(ENGRAM_BINARY) + " run " + yaml.string() + " --backend spinnaker2 -o " +
                            out.string() + " > " + log.string() + " 2>&1";
    const int rc = std::system(cmd.c_str());
    std::ifstream lf(log);
    const std::string text((std::istreambuf_iterator<char>(lf)), std::istreambuf_iterator<char>());
    INFO(text);
    REQUIRE(rc == 0);
    CHECK(std::filesystem::exists(out));
    CHECK(text.find("van Rossum") != std::string::npos);
    CHECK(text.find("real time") != std::string::npos);
    const std::string info_cmd = std::string(ENGRAM_BINARY) + " info " + out.string() + " > " + log.string() + " 2>&1";
    CHECK(std::system(info_cmd.c_str()) == 0);
    std::ifstream lf2(log);
    const std::string info((std::istreambuf_iterator<char>(lf2)), std::istreambuf_iterator<char>());
    INFO(info);
    CHECK(info.find("out") != std::string::npos);
    CHECK(info.find("SpiNNaker2 target model") != std::string::npos);
    CHECK(info.find("van Rossum") != std::string::npos);
    // an unknown backend is refused
    const std::string bad = std::string(ENGRAM_BINARY) + " run " + yaml.string() + " --backend loihi -o " +
                            (dir / "x.h5").string() + " > " + log.string() + " 2>&1";
    CHECK(std::system(bad.c_str()) != 0);
    std::filesystem::remove_all(dir);
}
