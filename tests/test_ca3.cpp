// The CA3 content-addressable memory (models/ca3_cam): decoder, network, neuron stepping,
// each operation, forgetting, timing, the YAML format and the paper's three protocols.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <string>

#include "engram/ca3/experiment.hpp"
#include "engram/ca3/memory.hpp"
#include "engram/core/config.hpp"
#include "engram/core/engine.hpp"
#include "engram/core/errors.hpp"
#include "engram/core/hdf5.hpp"
#include "engram/core/model.hpp"

using namespace engram;
using namespace engram::ca3;
using bits = std::vector<std::uint32_t>;

TEST_CASE("ca3 decoder reads cues, content and latencies from hand-made output spikes", "[ca3][unit]") {
    // n = 3 cues (ids 0..2), m = 4 bits (ids 3..6). Window: steps 11..17.
    const std::vector<output_spike> s = {{9, 0}, {10, 4}, {16, 1}, {17, 3}, {17, 6}, {18, 2}, {19, 5}};
    const answer a = decode(s, 3, 4, op_kind::recall_cue, 11, 7);
    CHECK(a.cues == bits{1});
    CHECK(a.content == bits{0, 3});
    CHECK(a.cue_latency == 5);
    CHECK(a.content_latency == 6);
    CHECK(timing_ok(a));
    // Spikes before the window or from the next operation do not count.
    const answer b = decode(s, 3, 4, op_kind::recall_cue, 18, 1);
    CHECK(b.cues == bits{2});
    CHECK(b.content.empty());
    CHECK(b.content_latency == -1);
    const answer none = decode(s, 3, 4, op_kind::recall_content, 30, 7);
    CHECK(none.cues.empty());
    CHECK(none.content.empty());
    CHECK_FALSE(timing_ok(none));  // a recall by content must echo its fragment
    // A repeated spike is one bit; the earliest spike sets the latency.
    const std::vector<output_spike> r = {{5, 3}, {6, 3}, {6, 0}, {7, 0}};
    const answer c = decode(r, 3, 4, op_kind::recall_content, 0, 7);
    CHECK(c.content == bits{0});
    CHECK(c.content_latency == 5);
    CHECK(c.cue_latency == 6);
    CHECK(timing_ok(c));
}

TEST_CASE("ca3 network has the paper's populations, 3n+4m+1 memory neurons and 2nm plastic synapses", "[ca3][unit]") {
    const std::size_t n = 4, m = 7;
    const network_spec s = build_network(n, m);
    std::size_t memory_neurons = 0;
    for (const auto& p : s.populations)
        if (p.name != pop::input && p.name != pop::output) memory_neurons += p.size;
    CHECK(memory_neurons == 3 * n + 4 * m + 1);
    CHECK(s.find_population(pop::input)->size == n + m);
    CHECK(s.find_population(pop::output)->size == n + m);
    CHECK(s.find_population(pop::cue_cont)->params.at("tau_m").values[0] == 0.5);
    CHECK(s.find_population(pop::cont_cue)->params.at("tau_m").values[0] == 3.0);
    CHECK(s.find_population(pop::output)->params.at("V_th").values[0] == -57.5);
    memory mem(n, m);
    std::size_t plastic = 0;
    for (std::size_t j = 0; j < s.projections.size(); ++j) {
        const auto& pj = s.projections[j];
        if (!pj.plasticity.plastic()) continue;
        plastic += mem.sim().synapse_count(j);
        CHECK(pj.delay.a == 1.0);
        CHECK(pj.weight.a == 0.0);
    }
    CHECK(plastic == 2 * n * m);
    // Winner-take-all among addresses: inhibitory 6 nA x m, all but self, 2 ms.
    for (const auto& pj : s.projections)
        if (pj.name == "cueCont_cueCont_inh") {
            CHECK(pj.weight.a == -6000.0 * m);
            CHECK(pj.delay.a == 2.0);
            CHECK(pj.connector.pre.size() == n * (n - 1));
        }
    CHECK_THROWS_WITH(build_network(0, 3), Catch::Contains("at least one cue"));
}

TEST_CASE("lif_curr_exp_spinnaker moves its target in the step the input arrives, by sPyNNaker's update", "[ca3][unit]") {
    // A spike at step 1 with delay 1 arrives at step 2. Independent computation of
    // sPyNNaker's IF_curr_exp step: I += (tau_s/dt)(1-e^{-dt/tau_s}) w; v = a - e^{-dt/tau_m}(a - v).
    const auto models = make_registry({});
    auto yaml = [](const char* w) {
        return std::string(R"(
simulation: {dt: 1 ms, duration: 3 ms}
populations:
  src: {size: 1, model: spike_array, params: {spike_times: [1 ms]}}
  n:
    size: 1
    model: lif_curr_exp_spinnaker
    params: {C_m: 270 pF, tau_m: 3 ms, E_L: -60 mV, V_th: -57 mV, V_reset: -60 mV, t_ref: 1 ms, tau_syn_ex: 0.3 ms, tau_syn_in: 0.3 ms}
projections:
  p: {source: src, target: n, receptor: ex, weight: )") + w + R"(, delay: 1 ms, connector: {rule: one_to_one}}
)";
    };
    const double init = 0.3 * (1.0 - std::exp(-1.0 / 0.3)), R = 3.0 / 270.0, P = std::exp(-1.0 / 3.0);
    {
        const auto ex = parse_experiment(yaml("2 nA"), "t.yaml", *models);
        simulation sim(ex.spec, *models, 1);
        sim.run(1, nullptr);
        CHECK(sim.state(1, "v")[0] == Approx(-60.0));
        sim.run(1, nullptr);  // step 2: the input acts now
        const double I1 = 2000.0 * init, a1 = -60.0 + R * I1, v1 = a1 - P * (a1 + 60.0);
        CHECK(sim.state(1, "v")[0] == Approx(v1).epsilon(1e-5));
        sim.run(1, nullptr);  // step 3: the current has decayed by e^{-1/0.3}
        const double I2 = I1 * std::exp(-1.0 / 0.3), a2 = -60.0 + R * I2, v2 = a2 - P * (a2 - v1);
        CHECK(sim.state(1, "v")[0] == Approx(v2).epsilon(1e-5));
        CHECK(v1 < -57.0);
    }
    {
        // 6 nA, the memory's common weight: a spike in the arrival step.
        const auto ex = parse_experiment(yaml("6 nA"), "t.yaml", *models);
        simulation sim(ex.spec, *models, 1);
        struct first_spike : observer {
            std::uint64_t step = 0;
            void on_spikes(std::uint64_t st, std::size_t p, const std::uint32_t*, std::size_t c) override {
                if (p == 1 && c && !step) step = st;
            }
        } o;
        sim.run(3, &o);
        CHECK(o.step == 2);
    }
}

TEST_CASE("ca3 learn then recall by cue returns the content 1 ms after the cue, 5-6 ms after the operation", "[ca3][unit]") {
    memory mem(3, 6);
    std::size_t j = 0;
    while (mem.spec().projections[j].name != cue_to_content) ++j;
    const auto syn = mem.sim().synapses(j);
    auto learned = [&](std::size_t k) { return syn.pre[k] == 1 && (syn.post[k] == 0 || syn.post[k] == 2 || syn.post[k] == 5); };

    const answer l = mem.learn(1, {0, 2, 5});
    CHECK(l.cues == bits{1});
    CHECK(l.content == bits{0, 2, 5});
    CHECK(l.cue_latency == 5);
    // One shot. Cue and content neurons spike at t+1 and t+3 of the learn: the +2 ms pair
    // potentiates by a_plus e^{-2/tau_plus} (clipped at w_max), the -2 ms pair depresses by
    // a_minus e^{-2/tau_minus}; every other synapse stays 0.
    const parameters p;
    const double after_learn = std::min(p.w_max, p.a_plus * std::exp(-2.0 / p.tau_plus)) - p.a_minus * std::exp(-2.0 / p.tau_minus);
    auto w = mem.sim().weights(j);
    for (std::size_t k = 0; k < syn.size(); ++k) CHECK(w[k] == Approx(learned(k) ? after_learn : 0.0).margin(1e-2));

    const answer r = mem.recall_by_cue(1);
    CHECK(r.cues == bits{1});
    CHECK(r.content == bits{0, 2, 5});
    CHECK(r.cue_latency == 5);
    CHECK(r.content_latency == 6);
    // Every output spike of the recall lies at exactly those two steps.
    for (const auto& s : mem.output_spikes())
        if (s.step >= r.first_step) CHECK(s.step - r.first_step == (s.id < 3 ? 5u : 6u));
    // The recall's causal +1 ms pair takes the learned synapses to w_max.
    w = mem.sim().weights(j);
    for (std::size_t k = 0; k < syn.size(); ++k) CHECK(w[k] == Approx(learned(k) ? p.w_max : 0.0).margin(1e-2));
}

TEST_CASE("ca3 recall by content returns every cue sharing a bit with the fragment", "[ca3][unit]") {
    memory mem(4, 6);
    mem.learn(0, {0, 1});
    mem.learn(1, {1, 2, 3});
    mem.learn(3, {4});
    const answer a = mem.recall_by_content({1});
    CHECK(a.cues == bits{0, 1});
    CHECK(a.content == bits{1});  // the fragment is echoed
    CHECK(a.content_latency == 5);
    CHECK(a.cue_latency == 6);
    CHECK(mem.recall_by_content({4}).cues == bits{3});
    CHECK(mem.recall_by_content({0, 3}).cues == bits{0, 1});
    CHECK(mem.recall_by_content({5}).cues.empty());
    // A recall changes nothing: the same answers again.
    CHECK(mem.recall_by_cue(1).content == bits{1, 2, 3});
    CHECK(mem.recall_by_content({1}).cues == bits{0, 1});
}

TEST_CASE("ca3 forgetting: learning under a used cue overwrites it in both directions", "[ca3][unit]") {
    memory mem(3, 6);
    mem.learn(2, {0, 1, 2});
    mem.learn(0, {2, 3});
    mem.learn(2, {4, 5});
    CHECK(mem.recall_by_cue(2).content == bits{4, 5});
    CHECK(mem.recall_by_content({0}).cues.empty());      // the old content no longer leads to cue 2
    CHECK(mem.recall_by_content({2}).cues == bits{0});  // the other memory is intact
    CHECK(mem.recall_by_content({5}).cues == bits{2});
    CHECK(mem.recall_by_cue(0).content == bits{2, 3});
}

TEST_CASE("ca3 without clearing before a learn, pair STDP keeps the old content (why clear_on_learn exists)", "[ca3][unit]") {
    parameters p;
    p.clear_on_learn = false;
    memory mem(3, 6, p);
    mem.learn(2, {0, 1, 2});
    mem.learn(2, {4, 5});
    // The old bits are driven by the old weights during the new learn: causal pairs keep them.
    CHECK(mem.recall_by_cue(2).content == bits{0, 1, 2, 4, 5});
}

TEST_CASE("ca3 with plasticity on during a recall by content, a multi-bit fragment joins the matched cues", "[ca3][unit]") {
    for (bool freeze : {true, false}) {
        parameters p;
        p.freeze_during_recall = freeze;
        memory mem(3, 4, p);
        mem.learn(0, {0});
        mem.learn(1, {2});
        CHECK(mem.recall_by_content({0, 2}).cues == bits{0, 1});
        // The paper's always-plastic synapses: bit 2 (t+3) paired with cue 0's answer (t+4).
        CHECK(mem.recall_by_content({2}).cues == (freeze ? bits{1} : bits{0, 1}));
        CHECK(mem.recall_by_cue(0).content == bits{0});  // cue -> content is not touched
    }
}

TEST_CASE("ca3 recall of a cue never learned returns no content", "[ca3][unit]") {
    memory mem(4, 5);
    mem.learn(0, {1, 2});
    const answer a = mem.recall_by_cue(3);
    CHECK(a.content.empty());
    CHECK(a.cues == bits{3});  // the cue itself is echoed, as in the paper
    CHECK(a.content_latency == -1);
    memory empty(2, 2);
    CHECK(empty.recall_by_cue(0).content.empty());
    CHECK(empty.recall_by_content({0, 1}).cues.empty());
}

TEST_CASE("ca3 operations reject bad input naming it", "[ca3][unit]") {
    memory mem(2, 3);
    CHECK_THROWS_WITH(mem.learn(2, {0}), Catch::Contains("cue 2 is outside [0, 2)"));
    CHECK_THROWS_WITH(mem.learn(0, {3}), Catch::Contains("content bit 3 is outside [0, 3)"));
    CHECK_THROWS_WITH(mem.recall_by_content({}), Catch::Contains("at least one bit"));
    operation late;
    late.kind = op_kind::recall_cue;
    late.cue = 0;
    late.at = 0.0;
    mem.recall_by_cue(0);
    CHECK_THROWS_WITH(mem.run(late), Catch::Contains("before the previous operation ended"));
}

TEST_CASE("ca3 experiment YAML: operations, and errors naming file, line and key", "[ca3][unit]") {
    const auto ex = parse_experiment(R"(
ca3:
  cues: 2
  content_bits: 3
  operations:
    - {learn: 1, content: [0, 2]}
    - {recall_cue: 1, at: 20 ms}
    - {recall_content: [2]}
)", "e.yaml");
    REQUIRE(ex.ops.size() == 3);
    CHECK(ex.ops[0].kind == op_kind::learn);
    CHECK(ex.ops[0].content == bits{0, 2});
    CHECK(ex.ops[1].at == 20.0);
    const auto r = run_experiment(ex);
    CHECK(r.n_correct == 3);
    CHECK(r.got[1].first_step == 21);
    CHECK(r.got[2].cues == bits{1});

    auto bad = [](const std::string& ops) {
        return "ca3:\n  cues: 2\n  content_bits: 3\n  operations:\n" + ops;
    };
    CHECK_THROWS_WITH(parse_experiment(bad("    - {recal_cue: 1}\n"), "e.yaml"),
                      Catch::Contains("e.yaml:5") && Catch::Contains("ca3.operations[0].recal_cue") && Catch::Contains("recall_cue"));
    CHECK_THROWS_WITH(parse_experiment(bad("    - {learn: 0, content: [0, 7]}\n"), "e.yaml"),
                      Catch::Contains("ca3.operations[0].content[1]") && Catch::Contains("outside [0, 3)"));
    CHECK_THROWS_WITH(parse_experiment(bad("    - {learn: 0, recall_cue: 0, content: []}\n"), "e.yaml"),
                      Catch::Contains("exactly one of"));
    CHECK_THROWS_WITH(parse_experiment(bad("    - {recall_cue: 5}\n"), "e.yaml"), Catch::Contains("cue 5 is outside"));
    CHECK_THROWS_WITH(parse_experiment(bad("    - {recall_cue: 0, at: 3 mV}\n"), "e.yaml"), Catch::Contains("ca3.operations[0].at"));
    CHECK_THROWS_WITH(parse_experiment(bad("    - {recall_cue: 0, at: 10 ms}\n    - {recall_cue: 1, at: 12 ms}\n"), "e.yaml"),
                      Catch::Contains("ca3.operations[1].at") && Catch::Contains("before the previous operation ends"));
    CHECK_THROWS_WITH(parse_experiment("ca3:\n  cues: 2\n  content_bit: 3\n", "e.yaml"), Catch::Contains("content_bits"));
    CHECK_THROWS_WITH(parse_experiment("simulation: {}\n", "e.yaml"), Catch::Contains("unknown top-level key"));
    CHECK_THROWS_WITH(load_experiment("/nonexistent/x.yaml"), Catch::Contains("/nonexistent/x.yaml"));
}

TEST_CASE("ca3 the paper's three protocols decode every answer correctly", "[ca3][science]") {
    for (const char* name : {"functional", "functional_orthogonal", "stress", "stress_orthogonal", "state_map",
                             "state_map_overlapping"}) {
        INFO(name);
        const auto ex = load_experiment(std::string(ENGRAM_SOURCE_DIR) + "/experiments/ca3/" + name + ".yaml");
        const auto r = run_experiment(ex);
        CHECK(r.n_correct == ex.ops.size());
        if (std::string(name) == "functional") CHECK(ex.ops.size() == 9);
        if (std::string(name) == "stress") {
            CHECK(ex.ops.size() == 60);
            CHECK(r.got.back().first_step - 1 == 827);  // the reference's last operation (input at 827 ms)
        }
        if (std::string(name) == "state_map") CHECK(ex.n == 16);
    }
}

TEST_CASE("ca3 recall from fragments of every size on random non-orthogonal contents", "[ca3][science]") {
    const std::size_t n = 8, m = 16;
    std::mt19937 rng(5);
    memory mem(n, m);
    reference_memory ref(n, m);
    std::vector<bits> stored(n);
    for (std::uint32_t c = 0; c < n; ++c) {
        for (std::uint32_t b = 0; b < m; ++b)
            if (rng() % 3 == 0) stored[c].push_back(b);
        operation op{op_kind::learn, static_cast<int>(c), stored[c], -1.0};
        ref.apply(op);
        mem.run(op);
    }
    for (std::uint32_t c = 0; c < n; ++c) {
        bits frag = stored[c];
        while (!frag.empty()) {
            operation op{op_kind::recall_content, -1, frag, -1.0};
            const answer want = ref.apply(op), got = mem.run(op);
            CHECK(got.cues == want.cues);
            CHECK(std::find(got.cues.begin(), got.cues.end(), c) != got.cues.end());
            frag.pop_back();
        }
    }
}

TEST_CASE("engram ca3 prints the table and writes the answers to the results file", "[ca3][unit]") {
    const auto dir = std::filesystem::temp_directory_path() / "engram_test_ca3_cli";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const auto out = (dir / "f.h5").string(), log = (dir / "log.txt").string();
    const std::string cmd = std::string(ENGRAM_BINARY) + " ca3 " + ENGRAM_SOURCE_DIR + "/experiments/ca3/functional.yaml -o " + out +
                            " > " + log + " 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
    std::ifstream in(log);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK_THAT(text, Catch::Contains("9 of 9 answers correct"));
    CHECK_THAT(text, Catch::Contains("recall_content  {6}"));
    auto f = h5::open_file(out);
    auto g = h5::open_group(f, "ca3", out);
    CHECK(h5::read_vector<std::uint32_t>(g, "correct", out) == std::vector<std::uint32_t>(9, 1));
    const auto content = h5::read_vector<std::uint32_t>(g, "answer_content", out);
    REQUIRE(content.size() == 9 * 10);
    // Operation 3 recalls cue 0, which holds bits {0, 1, 8, 9}.
    CHECK(std::vector<std::uint32_t>(content.begin() + 30, content.begin() + 40) ==
          std::vector<std::uint32_t>{1, 1, 0, 0, 0, 0, 0, 0, 1, 1});
    const auto cues = h5::read_vector<std::uint32_t>(g, "answer_cues", out);
    // Recall by content {6}: cues 3 and 4 (operation 4); after cue 3 was rewritten, cue 4 alone (operation 8).
    CHECK(std::vector<std::uint32_t>(cues.begin() + 20, cues.begin() + 25) == std::vector<std::uint32_t>{0, 0, 0, 1, 1});
    CHECK(std::vector<std::uint32_t>(cues.begin() + 40, cues.begin() + 45) == std::vector<std::uint32_t>{0, 0, 0, 0, 1});
    CHECK(h5::read_vector<std::int64_t>(g, "content_latency_ms", out)[3] == 6);
    // A wrong answer makes the exit status 3: the same operations, forgetting switched off.
    const auto bad = (dir / "nofree.yaml").string();
    {
        std::ifstream src(std::string(ENGRAM_SOURCE_DIR) + "/experiments/ca3/functional.yaml");
        std::ofstream dst(bad);
        std::string line;
        while (std::getline(src, line)) {
            dst << line << "\n";
            if (line == "  content_bits: 10") dst << "  clear_on_learn: false\n";
        }
    }
    const int rc = std::system((std::string(ENGRAM_BINARY) + " ca3 -q " + bad + " -o " + (dir / "b.h5").string()).c_str());
    CHECK(WEXITSTATUS(rc) == 3);
}
