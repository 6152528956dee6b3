// The SpiNNaker2 target as a stepping session with plasticity, and the CA3 memory on it:
// lif_curr_exp_spinnaker in fixed point against the float engine, additive STDP on the
// quantized weights against engram's stdp rule, the SRAM of plastic synapses, the rules
// the target refuses, and each memory operation (and the functional protocol) answering
// on the target as on the float engine.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <cmath>
#include <string>
#include <vector>

#include "engram/ca3/experiment.hpp"
#include "engram/ca3/memory.hpp"
#include "engram/core/config.hpp"
#include "engram/core/engine.hpp"
#include "engram/core/model.hpp"
#include "engram/spinnaker2/spinnaker2.hpp"

namespace {

using namespace engram;
using bits = std::vector<std::uint32_t>;

// engram's models plus lif_curr_exp_spinnaker and ca3_input.
const model_registry& registry() {
    static const auto r = ca3::make_registry({});
    return *r;
}

s2::network_map map_text(const std::string& yaml, int weight_bits) {
    const experiment ex = parse_experiment(yaml, "s2_ca3_test.yaml", registry());
    s2::map_options o;
    o.weight_bits = weight_bits;
    o.placement = "greedy";
    o.reference_ms = 0;
    return s2::map_network(ex, registry(), o);
}

struct collector : observer {
    std::vector<std::vector<std::pair<std::uint64_t, std::uint32_t>>> spikes;
    std::uint64_t steps = 0;
    void on_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t n) override {
        if (spikes.size() <= pop) spikes.resize(pop + 1);
        for (std::size_t i = 0; i < n; ++i) spikes[pop].emplace_back(step, ids[i]);
    }
    void on_step(std::uint64_t) override { ++steps; }
};

// Pre-synaptic sources, a kick that makes the two post neurons spike, and a plastic
// projection pre -> post (one step of w_max / 255 = 4 pA).
std::string stdp_net(const std::string& rule_extra = "") {
    return R"(
simulation: {dt: 1 ms, duration: 160 ms, seed: 3}
populations:
  pre: {size: 4, model: spike_array, params: {spike_times: [[10 ms, 50 ms, 90 ms], [12 ms, 52 ms], [14 ms, 60 ms, 61 ms], [30 ms, 100 ms, 130 ms]]}}
  kick: {size: 1, model: spike_array, params: {spike_times: [13 ms, 55 ms, 95 ms, 128 ms]}}
  post:
    size: 2
    model: lif_curr_exp_spinnaker
    params: {C_m: 270 pF, tau_m: 3 ms, E_L: -60 mV, V_th: -57 mV, V_reset: -60 mV, t_ref: 1 ms, tau_syn_ex: 0.3 ms, tau_syn_in: 0.3 ms}
projections:
  drive: {source: kick, target: post, receptor: ex, weight: 6000 pA, delay: 1 ms, connector: {rule: all_to_all}}
  syn:
    source: pre
    target: post
    receptor: ex
    weight: 100 pA
    delay: 1 ms
    connector: {rule: all_to_all}
    plasticity: {rule: stdp, tau_plus: 10 ms, tau_minus: 15 ms, a_plus: 60, a_minus: 70, w_min: 0, w_max: 1020)" +
           rule_extra + R"(}
)";
}

}  // namespace

TEST_CASE("target session: lif_curr_exp_spinnaker and sources give the float engine's spikes", "[s2]") {
    // The memory's neuron at its weights: every spike in the same tick on both.
    const auto m = map_text(stdp_net(), 8);
    CHECK(m.populations[2].kind == s2::neuron_kind::lif_curr_exp_spinnaker);
    CHECK(m.populations[2].chip_model == "lif_curr_exp");
    simulation sim(m.spec, registry(), 1);
    s2::target_session session(m, registry(), &sim);
    collector f, t;
    sim.run(160, &f);
    session.run(100, &t);
    CHECK(session.current_step() == 100);
    session.run(60, &t);  // a session runs on where it stopped
    CHECK(session.current_step() == 160);
    CHECK(t.steps == 160);
    REQUIRE(f.spikes.size() == 3);
    REQUIRE(t.spikes.size() == 3);
    CHECK(t.spikes[0] == f.spikes[0]);  // sources run their own model
    CHECK(t.spikes[1] == f.spikes[1]);
    CHECK(t.spikes[2] == f.spikes[2]);
    CHECK(f.spikes[2].size() >= 8);
    CHECK(session.result().ticks == 160);
}

TEST_CASE("target session: additive STDP on the quantized weights follows engram's stdp rule", "[s2]") {
    for (const char* pairing : {"all_to_all", "nearest"}) {
        INFO(pairing);
        const auto m = map_text(stdp_net(std::string(", pairing: ") + pairing), 8);
        const auto& pm = m.projections[1];
        REQUIRE(pm.plastic);
        CHECK(pm.scale == Approx(4.0));
        simulation sim(m.spec, registry(), 1);
        s2::target_session session(m, registry(), &sim);
        // Same synapses in the same order, weights exact at the start (100 pA = 25 steps).
        const auto sf = sim.synapses(1), st = session.synapses(1);
        REQUIRE(sf.size() == 8);
        CHECK(st.pre == sf.pre);
        CHECK(st.post == sf.post);
        CHECK(st.delay == sf.delay);
        CHECK(session.weights(1) == std::vector<float>(8, 100.0f));
        collector f, t;
        sim.run(160, &f);
        session.run(160, &t);
        REQUIRE(t.spikes == f.spikes);  // the same pairs are seen
        const auto wf = sim.weights(1), wt = session.weights(1);
        // Each update rounds to the nearest step: at most half a step per pre or post spike.
        const std::size_t updates = 3 + 4 + 4;  // the most pre spikes of a neuron + post spikes, bounded
        double largest_change = 0.0;
        for (std::size_t k = 0; k < wf.size(); ++k) {
            INFO("synapse " << k << ": float " << wf[k] << " target " << wt[k]);
            CHECK(std::fabs(wt[k] - wf[k]) <= 0.5 * pm.scale * updates + 1e-3);
            CHECK(wt[k] >= 0.0f);
            CHECK(wt[k] <= 1020.0f);
            largest_change = std::max(largest_change, std::fabs(static_cast<double>(wf[k]) - 100.0));
        }
        CHECK(largest_change > 20.0);  // the rule did act
        // set_weights writes the nearest step, clamped to [w_min, w_max].
        session.set_weights(1, {0, 2000, -5, 101, 4, 8, 12, 1019});
        CHECK(session.weights(1) == std::vector<float>{0, 1020, 0, 100, 4, 8, 12, 1020});
        CHECK_THROWS_WITH(session.set_weights(1, {1, 2}), Catch::Contains("8 synapses"));
    }
}

TEST_CASE("map: plastic synapses cost a column-index entry and traces in SRAM; other rules are refused", "[s2]") {
    const auto plastic = map_text(stdp_net(), 8);
    std::string fixed = stdp_net();
    fixed = fixed.substr(0, fixed.find("    plasticity:")) + "\n";
    const auto still = map_text(fixed, 8);
    REQUIRE(plastic.slices.size() == still.slices.size());
    const auto post = plastic.populations[2].slices.at(0);
    // 8 synapses x 4 bytes (column index) + 4 source rows x 8 (pre traces) + 2 neurons x 8 (post traces)
    CHECK(plastic.slices[post].sram_bytes - still.slices[post].sram_bytes == 8 * 4 + 4 * 8 + 2 * 8);
    CHECK_THROWS_WITH(map_text(stdp_net(", weight_dependence: multiplicative"), 8),
                      Catch::Contains("'syn'") && Catch::Contains("additive stdp only"));
    CHECK_THROWS_WITH(map_text(stdp_net(", rate_decay: 0.99"), 8), Catch::Contains("rate_decay"));
    CHECK_THROWS_WITH(map_text(stdp_net(", presynaptic: inhibitory"), 8), Catch::Contains("excitatory stdp only"));
}

TEST_CASE("ca3 on the target: each operation answers as on the float engine", "[s2][ca3]") {
    ca3::parameters fp, tp;
    tp.backend = "spinnaker2";
    ca3::memory f(3, 6, fp), t(3, 6, tp);
    REQUIRE(t.target() != nullptr);
    CHECK(f.target() == nullptr);
    CHECK_THROWS_WITH(t.sim(), Catch::Contains("spinnaker2"));
    const auto& m = t.target()->map();
    CHECK(m.chips_used() == 1);
    auto same = [](const ca3::answer& a, const ca3::answer& b) {
        CHECK(a.cues == b.cues);
        CHECK(a.content == b.content);
        CHECK(a.cue_latency == b.cue_latency);
        CHECK(a.content_latency == b.content_latency);
        CHECK(a.first_step == b.first_step);
    };
    // learn
    auto a = t.learn(0, {0, 2, 5});
    same(a, f.learn(0, {0, 2, 5}));
    CHECK(a.cues == bits{0});
    CHECK(a.content == bits{0, 2, 5});
    same(t.learn(1, {1, 2}), f.learn(1, {1, 2}));
    // recall by cue: the content 1 ms after the cue, 5-6 ms after the operation starts
    a = t.recall_by_cue(0);
    same(a, f.recall_by_cue(0));
    CHECK(a.cues == bits{0});
    CHECK(a.content == bits{0, 2, 5});
    CHECK(a.cue_latency == 5);
    CHECK(a.content_latency == 6);
    CHECK(ca3::timing_ok(a));
    // recall by content: the fragment echoed after 5 ms, the cues after 6
    a = t.recall_by_content({2});
    same(a, f.recall_by_content({2}));
    CHECK(a.cues == bits{0, 1});
    CHECK(a.content == bits{2});
    CHECK(a.content_latency == 5);
    CHECK(a.cue_latency == 6);
    // a cue never learned returns nothing
    a = t.recall_by_cue(2);
    same(a, f.recall_by_cue(2));
    CHECK(a.cues == bits{2});  // the cue itself is echoed, as in the paper
    CHECK(a.content.empty());
    // forgetting by overwrite: the old content is no longer recalled
    same(t.learn(0, {4}), f.learn(0, {4}));
    a = t.recall_by_cue(0);
    same(a, f.recall_by_cue(0));
    CHECK(a.content == bits{4});
    a = t.recall_by_content({5});
    same(a, f.recall_by_content({5}));
    CHECK(a.cues.empty());
    // The plastic weights agree within a step (w_max / 15 = 400 pA): each update rounds
    // to the nearest step, and a learn makes at most a potentiation and a depression.
    const auto& spec = t.spec();
    for (const char* name : {ca3::cue_to_content, ca3::content_to_cue}) {
        std::size_t j = 0;
        while (spec.projections[j].name != name) ++j;
        INFO(name);
        const double scale = m.projections[j].scale;
        CHECK(scale == Approx(400.0));
        const auto wt = t.target()->weights(j), wf = f.sim().weights(j);
        REQUIRE(wt.size() == wf.size());
        for (std::size_t k = 0; k < wt.size(); ++k) {
            INFO("synapse " << k << ": float " << wf[k] << " target " << wt[k]);
            CHECK(std::fabs(wt[k] - wf[k]) <= scale);
        }
    }
    // Every output spike in the same tick.
    CHECK(t.output_spikes().size() == f.output_spikes().size());
    for (std::size_t k = 0; k < std::min(t.output_spikes().size(), f.output_spikes().size()); ++k) {
        CHECK(t.output_spikes()[k].step == f.output_spikes()[k].step);
        CHECK(t.output_spikes()[k].id == f.output_spikes()[k].id);
    }
    // The chip runs it in real time.
    CHECK(t.target()->result().ticks_over_budget == 0);
}

TEST_CASE("ca3 on the target: the functional protocol decodes every answer", "[s2][ca3]") {
    auto ex = ca3::load_experiment(std::string(ENGRAM_SOURCE_DIR) + "/experiments/ca3/functional.yaml");
    ex.par.backend = "spinnaker2";
    const auto r = ca3::run_experiment(ex);
    CHECK(r.n_correct == ex.ops.size());
    CHECK(r.backend == "spinnaker2");
    CHECK(r.target_pes == 10);  // IL + the 9 neuron populations, one PE each
    CHECK(r.target_ticks_over_budget == 0);
    CHECK(r.target_energy_j > 0.0);
    for (const auto& a : r.got) CHECK(ca3::timing_ok(a));
}

TEST_CASE("ca3 on the target: every protocol decodes every answer, with the float engine's output spikes", "[s2][ca3]") {
    for (const char* name : {"functional", "functional_orthogonal", "stress", "stress_orthogonal", "state_map", "state_map_overlapping"}) {
        INFO(name);
        auto ex = ca3::load_experiment(std::string(ENGRAM_SOURCE_DIR) + "/experiments/ca3/" + name + ".yaml");
        const auto rf = ca3::run_experiment(ex);
        ex.par.backend = "spinnaker2";
        const auto rt = ca3::run_experiment(ex);
        CHECK(rt.n_correct == ex.ops.size());
        CHECK(rt.target_ticks_over_budget == 0);
        REQUIRE(rt.output.size() == rf.output.size());
        bool same = true;
        for (std::size_t k = 0; k < rt.output.size(); ++k)
            same = same && rt.output[k].step == rf.output[k].step && rt.output[k].id == rf.output[k].id;
        CHECK(same);
    }
}

TEST_CASE("ca3 backend: the YAML key, its errors and engram ca3 --backend", "[s2][ca3]") {
    const auto ex = ca3::parse_experiment("ca3: {cues: 2, content_bits: 2, backend: spinnaker2, operations: [{recall_cue: 0}]}", "b.yaml");
    CHECK(ex.par.backend == "spinnaker2");
    CHECK_THROWS_WITH(ca3::parse_experiment("ca3: {cues: 2, content_bits: 2, backend: spinaker2, operations: [{recall_cue: 0}]}", "b.yaml"),
                      Catch::Contains("ca3.backend") && Catch::Contains("float or spinnaker2"));
    ca3::parameters p;
    p.backend = "loihi";
    CHECK_THROWS_WITH(ca3::memory(2, 2, p), Catch::Contains("unknown backend 'loihi'"));
    const auto out = std::filesystem::temp_directory_path() / "engram_s2_ca3_cli.h5";
    const std::string cmd = std::string(ENGRAM_BINARY) + " ca3 " + ENGRAM_SOURCE_DIR + "/experiments/ca3/functional.yaml --backend spinnaker2 -q -o " +
                            out.string();
    const int status = std::system(cmd.c_str());
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);  // 3 would mean a wrong answer
    std::filesystem::remove(out);
}
