// The SpiNNaker2 mapping tool chain: machine model, partitioning limits, keys, routes
// (every key reaches exactly its targets), table compression (no decision changes),
// quantization, placement against a random one, clear failures.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>

#include "engram/core/config.hpp"
#include "engram/neurons/models.hpp"
#include "engram/spinnaker2/spinnaker2.hpp"

using namespace engram;
using namespace engram::s2;

namespace {

experiment load(const std::string& yaml) { return parse_experiment(yaml, "s2.yaml", builtin_models()); }

network_map map_yaml(const std::string& yaml) {
    const auto ex = load(yaml);
    return map_network(ex, builtin_models(), read_map_options(ex));
}

// A feedforward chain: poisson -> a -> b -> c, plus c -> a (a loop), with small slices so
// the network spreads over several chips of the 48-chip board.
std::string chain(const std::string& extra = "", int atoms = 20) {
    const std::string a = std::to_string(atoms);
    return R"(
simulation: {dt: 1 ms, duration: 200 ms, seed: 7}
populations:
  in: {size: 200, model: poisson, params: {rate: 20 Hz}}
  a: {size: 300, model: lif_curr_exp, params: {tau_syn_ex: 5 ms, tau_syn_in: 10 ms}}
  b: {size: 300, model: lif_curr_exp}
  c: {size: 150, model: lif_curr_delta}
projections:
  in_a: {source: in, target: a, receptor: ex, weight: {distribution: uniform, low: 20 pA, high: 200 pA}, delay: 1 ms,
         connector: {rule: fixed_probability, p: 0.1}}
  a_b: {source: a, target: b, receptor: ex, weight: 150 pA, delay: {distribution: uniform, low: 1 ms, high: 8 ms},
        connector: {rule: fixed_probability, p: 0.05}}
  b_c: {source: b, target: c, receptor: ex, weight: 0.8 mV, delay: 2 ms, connector: {rule: fixed_number_pre, n: 20}}
  c_a: {source: c, target: a, receptor: in, weight: -60 pA, delay: 3 ms, connector: {rule: fixed_probability, p: 0.05}}
spinnaker2:
  machine: board48
  atoms_per_pe: {in: )" + a + ", a: " + a + ", b: " + a + ", c: " + a + "}\n" + extra;
}

// Every key of every slice walks to exactly the PEs holding a block for that slice.
void check_routes(const network_map& m) {
    std::vector<std::set<std::pair<int, int>>> expect(m.slices.size());
    for (std::size_t t = 0; t < m.pes.size(); ++t)
        for (const auto& b : m.pes[t].blocks) expect[b.source_slice].insert({m.slices[t].chip, m.slices[t].pe});
    for (std::size_t s = 0; s < m.slices.size(); ++s) {
        const auto& sl = m.slices[s];
        if (expect[s].empty()) continue;
        for (std::uint32_t i = 0; i < sl.size(); ++i) {
            const auto got = walk(m, sl.key | i, sl.chip);
            const std::set<std::pair<int, int>> g(got.begin(), got.end());
            REQUIRE(g.size() == got.size());  // each PE reached once
            REQUIRE(g == expect[s]);
        }
    }
}

}  // namespace

TEST_CASE("machine presets: one chip and the 48-chip board with its mesh distances", "[s2]") {
    const auto chip = machine_preset("chip");
    CHECK(chip.chips.size() == 1);
    CHECK(chip.pes_per_chip == 152);
    CHECK(chip.sram_per_pe == 128u * 1024u);
    CHECK(chip.router_entries == 16384u);
    const auto b = machine_preset("board48");
    REQUIRE(b.chips.size() == 48);
    const auto d = chip_distances(b);
    const int o = b.chip_index({0, 0});
    CHECK(d[o][b.chip_index({4, 0})] == 4);
    CHECK(d[o][b.chip_index({7, 7})] == 7);  // along the NE diagonal
    CHECK(d[b.chip_index({4, 0})][b.chip_index({0, 3})] == 7);  // opposite signs: no diagonal shortcut
    for (std::size_t i = 0; i < d.size(); ++i)
        for (std::size_t j = 0; j < d.size(); ++j) CHECK(d[i][j] == d[j][i]);
    // 38 distinct QPEs of 4 PEs each, none at the four missing grid positions.
    std::set<std::array<int, 2>> q;
    for (int p = 0; p < 152; ++p) q.insert(qpe_position(p));
    CHECK(q.size() == 38);
    CHECK(q.count({4, 3}) == 0);
    CHECK(q.count({7, 4}) == 0);
    CHECK_THROWS_WITH(machine_preset("spin3"), Catch::Contains("chip, board48"));
}

TEST_CASE("partitioning respects the atoms limit and the SRAM budget", "[s2]") {
    // In-degree 400 into b: 400 synapses x 2 bytes per neuron, so SRAM, not atoms, limits.
    const auto m = map_yaml(R"(
simulation: {dt: 1 ms, duration: 50 ms}
populations:
  a: {size: 2000, model: poisson, params: {rate: 5 Hz}}
  b: {size: 1000, model: lif_curr_exp}
projections:
  ab: {source: a, target: b, receptor: ex, weight: 10 pA, delay: 1 ms, connector: {rule: fixed_number_pre, n: 400}}
spinnaker2: {machine: chip, atoms_per_pe: {a: 100}}
)");
    const std::size_t budget = m.machine.sram_budget();
    std::vector<std::uint32_t> covered(2, 0);
    for (const auto& s : m.slices) {
        CHECK(s.sram_bytes <= budget);
        CHECK(s.size() <= m.populations[s.population].atoms_per_pe);
        CHECK(s.begin == covered[s.population]);  // contiguous, in order
        covered[s.population] = s.end;
    }
    CHECK(covered[0] == 2000);
    CHECK(covered[1] == 1000);
    CHECK(m.populations[0].slices.size() == 20);
    // b's slices are limited by memory: fewer neurons than the default 256 atoms.
    CHECK(m.slices[m.populations[1].slices[0]].size() < 256);
    CHECK(m.slices[m.populations[1].slices[0]].sram_bytes > budget * 8 / 10);
    std::size_t syn = 0;
    for (const auto& s : m.slices) syn += s.incoming_synapses;
    CHECK(syn == 400u * 1000u);
}

TEST_CASE("a network too large for the machine fails with what does not fit", "[s2]") {
    const std::string yaml = R"(
simulation: {dt: 1 ms, duration: 50 ms}
populations:
  big: {size: 40000, model: lif_curr_delta}
spinnaker2: {machine: chip, atoms_per_pe: {big: 200}}
)";
    CHECK_THROWS_WITH(map_yaml(yaml), Catch::Contains("needs 200 PEs") && Catch::Contains("has 152") &&
                                          Catch::Contains("big 200 PEs"));
    // One neuron whose inputs alone exceed a PE.
    CHECK_THROWS_WITH(map_yaml(R"(
simulation: {dt: 1 ms, duration: 50 ms}
populations:
  a: {size: 60000, model: poisson, params: {rate: 5 Hz}}
  b: {size: 2, model: lif_curr_exp}
projections:
  ab: {source: a, target: b, receptor: ex, weight: 10 pA, delay: 1 ms, connector: {rule: all_to_all}}
spinnaker2: {machine: board48}
)"),
                      Catch::Contains("population 'b'") && Catch::Contains("data budget"));
    // Models, delays and plasticity the target cannot run.
    CHECK_THROWS_WITH(map_yaml(R"(
populations:
  a: {size: 2, model: lif_cond_exp}
)"),
                      Catch::Contains("lif_cond_exp") && Catch::Contains("no SpiNNaker2 counterpart"));
    CHECK_THROWS_WITH(map_yaml(R"(
simulation: {dt: 1 ms}
populations:
  a: {size: 2, model: lif_curr_exp}
projections:
  aa: {source: a, target: a, receptor: ex, weight: 10 pA, delay: 12 ms, connector: {rule: all_to_all}}
)"),
                      Catch::Contains("aa") && Catch::Contains("12 ticks") && Catch::Contains("1..8"));
    CHECK_THROWS_WITH(map_yaml(R"(
simulation: {dt: 1 ms}
populations:
  a: {size: 2, model: lif_curr_exp}
projections:
  aa: {source: a, target: a, receptor: ex, weight: 10 pA, delay: 2 ms, connector: {rule: all_to_all}}
spinnaker2: {formats: {a: int8}}
)"),
                      Catch::Contains("int8") && Catch::Contains("use format delayed"));
    CHECK_THROWS_WITH(map_yaml(R"(
populations:
  a: {size: 2, model: lif_curr_exp}
projections:
  aa: {source: a, target: a, receptor: in, weight: 10 pA, connector: {rule: all_to_all}}
)"),
                      Catch::Contains("sign"));
}

TEST_CASE("spinnaker2 section: errors name the key and line", "[s2]") {
    CHECK_THROWS_WITH(read_map_options(load(R"(
populations:
  a: {size: 2, model: lif_curr_exp}
spinnaker2:
  machine: spin3
)")),
                      Catch::Contains("s2.yaml:5") && Catch::Contains("spinnaker2.machine") && Catch::Contains("board48"));
    CHECK_THROWS_WITH(read_map_options(load(R"(
populations:
  a: {size: 2, model: lif_curr_exp}
spinnaker2:
  atoms_per_pe: {b: 10}
)")),
                      Catch::Contains("spinnaker2.atoms_per_pe.b") && Catch::Contains("no population"));
    CHECK_THROWS_WITH(read_map_options(load(R"(
populations:
  a: {size: 2, model: lif_curr_exp}
spinnaker2: {weight_bits: 0}
)")),
                      Catch::Contains("weight_bits"));
    const auto o = read_map_options(load(R"(
populations:
  a: {size: 2, model: lif_curr_exp}
spinnaker2:
  machine: {preset: board48, clock: 300, tick: 0.5 ms, code_reserve: 16384}
  placement: {method: greedy, seed: 3}
  reference: 0 ms
  compression: always
)"));
    CHECK(o.machine.chips.size() == 48);
    CHECK(o.machine.clock_hz == 300e6);
    CHECK(o.machine.tick_ms == 0.5);
    CHECK(o.machine.sram_budget() == 131072u - 16384u);
    CHECK(o.placement == "greedy");
    CHECK(o.reference_ms == 0.0);
}

TEST_CASE("quantization: q * scale within half a step, words decode to the synapses", "[s2]") {
    const auto ex = load(chain());
    const auto m = map_network(ex, builtin_models(), read_map_options(ex));
    REQUIRE(m.projections.size() == 4);
    for (const auto& p : m.projections) {
        CHECK(p.q_max == 15);
        CHECK(p.scale == Approx(p.max_abs_weight / 15));
        CHECK(p.max_error <= p.scale / 2 + 1e-9);
        CHECK(p.rms_error <= p.max_error);
    }
    // Constant weights are exact.
    CHECK(m.projections[1].max_error == Approx(0).margin(1e-6));
    CHECK(m.projections[2].max_error == Approx(0).margin(1e-6));
    // Decode every word of every PE and count synapses and delays per projection.
    std::vector<std::size_t> count(4, 0);
    std::set<int> delays;
    for (std::size_t t = 0; t < m.pes.size(); ++t) {
        const auto& pe = m.pes[t];
        for (const auto& b : pe.blocks) {
            const auto& pm = m.projections[b.projection_map_index];
            for (std::uint32_t w : b.words) {
                const std::uint32_t target = w & ((1u << pe.index_bits) - 1);
                const std::uint32_t delay = (w >> pe.index_bits) & ((1u << pe.delay_bits) - 1);
                std::int32_t q = static_cast<std::int32_t>(w >> (pe.index_bits + pe.delay_bits));
                if (q & (1 << pe.weight_bits)) q -= 1 << (pe.weight_bits + 1);  // sign extend
                CHECK(target < m.slices[t].size());
                CHECK(std::abs(q) <= pm.q_max);
                if (pm.projection == 1) delays.insert(static_cast<int>(delay) + 1);
                if (pm.projection == 3) CHECK(q == -15);  // inhibitory: negative, the largest magnitude
                if (pm.projection == 2) CHECK(delay == 1);  // 2 ms = 2 ticks, stored as 1
            }
            count[b.projection_map_index] += b.words.size();
        }
    }
    for (std::size_t j = 0; j < 4; ++j) CHECK(count[j] == m.projections[j].synapses);
    CHECK(delays == std::set<int>{1, 2, 3, 4, 5, 6, 7, 8});
    CHECK(m.pes[0].word_bytes == 2);  // 5 index + 3 delay + 5 weight bits
}

TEST_CASE("keys: one range per slice, routes reach exactly the targets", "[s2]") {
    const auto m = map_yaml(chain());
    std::set<std::uint32_t> keys;
    for (const auto& s : m.slices) {
        CHECK((s.key & ~s.mask) == 0);
        CHECK(((s.key + s.size() - 1) & s.mask) == s.key);  // all neuron keys in range
        keys.insert(s.key);
    }
    CHECK(keys.size() == m.slices.size());
    CHECK(m.chips_used() >= 1);
    check_routes(m);
}

TEST_CASE("routes across chips: defaultable entries removed, every key still reaches its targets", "[s2]") {
    // Random placement spreads slices over the board, so paths cross intermediate chips.
    const auto m = map_yaml(chain("  placement: random\n", 10));
    CHECK(m.chips_used() > 10);
    std::size_t defaulted = 0, generated = 0, kept = 0;
    for (const auto& t : m.routers) {
        defaulted += t.default_routed.size();
        generated += t.entries_generated;
        kept += t.entries.size();
    }
    CHECK(defaulted > 0);
    CHECK(generated == kept + defaulted);
    check_routes(m);
    // A table that lost an entry: the walk fails, naming the key.
    network_map broken = m;
    for (auto& t : broken.routers)
        if (!t.entries.empty()) {
            const std::uint32_t key = t.entries[0].key;
            t.entries.erase(t.entries.begin());
            bool failed = false;
            for (const auto& s : broken.slices)
                if (s.key == key) {
                    try {
                        walk(broken, key, s.chip);
                    } catch (const map_error& e) {
                        failed = true;
                    }
                    if (!failed) {
                        // Dropped at an intermediate chip: default routing sends it on to
                        // a wrong place, so the reached set differs.
                        const auto got = walk(broken, key, s.chip);
                        const auto want = walk(m, key, s.chip);
                        failed = std::set<std::pair<int, int>>(got.begin(), got.end()) !=
                                 std::set<std::pair<int, int>>(want.begin(), want.end());
                    }
                }
            CHECK(failed);
            break;
        }
}

TEST_CASE("table compression keeps every routing decision and shrinks the tables", "[s2]") {
    // Many slices of one population sent to the same PEs: entries that merge.
    const std::string yaml = R"(
simulation: {dt: 1 ms, duration: 100 ms, seed: 2}
populations:
  in: {size: 2000, model: poisson, params: {rate: 10 Hz}}
  out: {size: 40, model: lif_curr_exp}
projections:
  io: {source: in, target: out, receptor: ex, weight: 5 pA, delay: 1 ms, connector: {rule: fixed_probability, p: 0.2}}
spinnaker2:
  machine: board48
  atoms_per_pe: {in: 16, out: 8}
  placement: random
  compression: never
)";
    const auto m = map_yaml(yaml);
    std::size_t before = 0, after = 0;
    network_map c = m;
    for (auto& t : c.routers) {
        before += t.entries.size();
        compress_table(t, 0);
        after += t.entries.size();
        // first match wins: the table is in order of generality
        for (std::size_t i = 1; i < t.entries.size(); ++i)
            CHECK(__builtin_popcount(~t.entries[i - 1].mask) <= __builtin_popcount(~t.entries[i].mask));
    }
    INFO("entries before " << before << ", after " << after);
    CHECK(after < before / 2);
    for (const auto& s : m.slices)
        for (std::uint32_t i = 0; i < s.size() && s.population == 0; ++i) {  // `out` sends nothing
            const auto a = walk(m, s.key | i, s.chip);
            const auto b = walk(c, s.key | i, s.chip);
            REQUIRE(std::set<std::pair<int, int>>(a.begin(), a.end()) == std::set<std::pair<int, int>>(b.begin(), b.end()));
        }
    // A capacity the tables cannot reach: the mapper reports the chip and the sizes.
    std::string tiny = yaml;
    tiny.replace(tiny.find("machine: board48"), 16, "machine: {preset: board48, router_entries: 1}");
    tiny.replace(tiny.find("compression: never"), 18, "compression: when_needed");
    CHECK_THROWS_WITH(map_yaml(tiny),
                      Catch::Contains("router of chip") && Catch::Contains("after compression") &&
                          Catch::Contains("holds 1"));
}

TEST_CASE("placement: greedy and local search carry less traffic than a random placement", "[s2]") {
    const auto annealed = map_yaml(chain("  placement: anneal\n", 10));
    const auto greedy = map_yaml(chain("  placement: greedy\n", 10));
    INFO("random " << annealed.random_placement.cost << ", greedy " << greedy.placed.cost << ", anneal "
                   << annealed.placed.cost);
    CHECK(greedy.placed.cost < annealed.random_placement.cost);
    CHECK(annealed.placed.cost <= greedy.placed.cost);
    CHECK(annealed.placed.cost < 0.5 * annealed.random_placement.cost);
    // Same seed, same map.
    const auto again = map_yaml(chain("  placement: anneal\n", 10));
    for (std::size_t s = 0; s < again.slices.size(); ++s) {
        CHECK(again.slices[s].chip == annealed.slices[s].chip);
        CHECK(again.slices[s].pe == annealed.slices[s].pe);
    }
    check_routes(annealed);
}

TEST_CASE("ordered covering: a general entry below a specific one with another route", "[s2]") {
    // Keys 00xx, 01xx, 10xx go to PE 1, 11xx to PE 2. Without relying on order the best
    // is three entries (0xxx, 10xx, 11xx); ordered covering needs two (11xx, then xxxx).
    route r1, r2;
    r1.add_pe(1);
    r2.add_pe(2);
    router_table t;
    const std::uint32_t m4 = 0xFFFFFFFCu;
    t.entries = {{0x0, m4, r1}, {0x4, m4, r1}, {0x8, m4, r1}, {0xC, m4, r2}};
    const router_table original = t;
    CHECK(compress_table(t, 2));
    REQUIRE(t.entries.size() == 2);
    CHECK(t.entries[0].key == 0xC);
    CHECK(t.entries[0].r == r2);
    for (std::uint32_t k = 0; k < 16; ++k) CHECK(*lookup(t, k, -1) == *lookup(original, k, -1));
    // A key that passes through by default routing must keep doing so: the general
    // entry may not capture it.
    router_table d = original;
    d.default_routed = {{0x10, m4}};
    compress_table(d, 1);
    CHECK(d.entries.size() == 2);
    CHECK(*lookup(d, 0x10, 0) == *lookup(original, 0x10, 0));
    for (std::uint32_t k = 0; k < 16; ++k) CHECK(*lookup(d, k, -1) == *lookup(original, k, -1));
}
