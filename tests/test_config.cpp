// Experiment files: every bad input stops before anything runs, naming file, line,
// column and key, and suggesting the nearest valid key.
#include <catch2/catch.hpp>

#include "engram/core/errors.hpp"
#include "helpers.hpp"

using namespace engram;
using namespace engram::test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {
const std::string base = R"(simulation: {dt: 0.1 ms, duration: 100 ms}
populations:
  exc:
    size: 10
    model: lif_curr_exp
    params: {tau_m: 20 ms}
  drive: {size: 5, model: poisson, params: {rate: 10 Hz}}
projections:
  p:
    source: drive
    target: exc
    weight: 10 pA
    connector: {rule: fixed_probability, p: 0.5}
record:
  state: {r: {population: exc, variables: [v]}}
)";

std::string replace(std::string s, const std::string& from, const std::string& to) {
    const auto pos = s.find(from);
    REQUIRE(pos != std::string::npos);
    return s.replace(pos, from.size(), to);
}
}  // namespace

TEST_CASE("a valid experiment parses into a spec in internal units", "[unit][config]") {
    const auto spec = parse(base);
    REQUIRE(spec.populations.size() == 2);
    CHECK(spec.populations[0].params.at("tau_m").values[0] == 20.0);
    CHECK(spec.populations[0].params.at("C_m").values[0] == 250.0);  // default filled in
    CHECK(spec.simulation.duration == 100.0);
    CHECK(spec.projections[0].connector.p == 0.5);
    CHECK(spec.projections[0].receptor == "ex");  // the model's first receptor
    CHECK(spec.spike_recorders.size() == 2);       // spikes of every population by default
}

TEST_CASE("YAML syntax errors name the line", "[unit][config]") {
    REQUIRE_THROWS_WITH(parse("populations:\n  a: {size: [1, 2}\n"), Contains("test.yaml:2:") && Contains("YAML syntax error"));
}

TEST_CASE("an unknown key is an error with the nearest valid key", "[unit][config]") {
    REQUIRE_THROWS_WITH(parse(replace(base, "    size: 10", "    sise: 10")),
                        Contains("test.yaml:4:5") && Contains("key 'populations.exc.sise'") && Contains("did you mean 'size'"));
    REQUIRE_THROWS_WITH(parse(replace(base, "tau_m: 20 ms", "tau_n: 20 ms")), Contains("did you mean 'tau_m'"));
    REQUIRE_THROWS_WITH(parse(replace(base, "simulation:", "simulaton:")), Contains("did you mean 'simulation'"));
}

TEST_CASE("a value with the wrong unit is an error", "[unit][config]") {
    REQUIRE_THROWS_WITH(parse(replace(base, "tau_m: 20 ms", "tau_m: 20 mV")),
                        Contains("test.yaml:6:") && Contains("populations.exc.params.tau_m") && Contains("expected a time"));
    REQUIRE_THROWS_WITH(parse(replace(base, "weight: 10 pA", "weight: 10 nS")), Contains("expected a current"));
    REQUIRE_THROWS_WITH(parse(replace(base, "weight: 10 pA", "weight: 10")), Contains("needs a unit"));
}

TEST_CASE("an unknown population or model is an error with a suggestion", "[unit][config]") {
    REQUIRE_THROWS_WITH(parse(replace(base, "target: exc", "target: exd")),
                        Contains("test.yaml:11:") && Contains("unknown population 'exd'") && Contains("did you mean 'exc'"));
    REQUIRE_THROWS_WITH(parse(replace(base, "model: lif_curr_exp", "model: lif_cur_exp")), Contains("did you mean 'lif_curr_exp'"));
    REQUIRE_THROWS_WITH(parse(replace(base, "target: exc", "target: drive")), Contains("cannot receive projections"));
}

TEST_CASE("sizes, probabilities and counts outside their range are errors", "[unit][config]") {
    REQUIRE_THROWS_WITH(parse(replace(base, "size: 10", "size: -10")), Contains("test.yaml:4:") && Contains("size must be a positive integer"));
    REQUIRE_THROWS_WITH(parse(replace(base, "size: 10", "size: 0")), Contains("size must be between 1"));
    REQUIRE_THROWS_WITH(parse(replace(base, "p: 0.5", "p: 1.5")),
                        Contains("test.yaml:13:") && Contains("projections.p.connector.p") && Contains("probability must be in [0, 1]"));
    REQUIRE_THROWS_WITH(parse(replace(base, "{rule: fixed_probability, p: 0.5}", "{rule: fixed_number_pre, n: 6}")),
                        Contains("exceeds the 5 available sources"));
    REQUIRE_THROWS_WITH(parse(replace(base, "{rule: fixed_probability, p: 0.5}", "one_to_one")), Contains("equal size"));
    REQUIRE_THROWS_WITH(parse(replace(base, "{rule: fixed_probability, p: 0.5}", "{rule: fixed_probabilty, p: 0.5}")),
                        Contains("did you mean 'fixed_probability'"));
    REQUIRE_THROWS_WITH(parse(replace(base, "tau_m: 20 ms", "tau_m: -20 ms")), Contains("outside the valid range"));
    REQUIRE_THROWS_WITH(parse(replace(base, "tau_m: 20 ms", "V_reset: -50 mV, V_th: -55 mV")), Contains("V_reset must be below V_th"));
    REQUIRE_THROWS_WITH(parse(replace(base, "rate: 10 Hz", "rate: 20 kHz")), Contains("rate x dt exceeds 1"));
}

TEST_CASE("a recorder on a missing variable is an error with a suggestion", "[unit][config]") {
    REQUIRE_THROWS_WITH(parse(replace(base, "variables: [v]", "variables: [u]")),
                        Contains("test.yaml:15:") && Contains("no state variable 'u'") && Contains("did you mean 'v'"));
    REQUIRE_THROWS_WITH(parse(replace(base, "population: exc, variables", "population: exx, variables")), Contains("did you mean 'exc'"));
}

TEST_CASE("conductance weights must be non-negative, and other semantic errors", "[unit][config]") {
    const std::string cond = replace(base, "model: lif_curr_exp", "model: lif_cond_exp");
    REQUIRE_THROWS_WITH(parse(replace(cond, "weight: 10 pA", "weight: -1 nS")), Contains("weights must be >= 0"));
    REQUIRE_THROWS_WITH(parse(replace(cond, "weight: 10 pA", "weight: {distribution: normal, mean: 1 nS, std: 1 nS}")),
                        Contains("weights must be >= 0"));
    CHECK_NOTHROW(parse(replace(cond, "weight: 10 pA", "weight: {distribution: normal, mean: 1 nS, std: 1 nS, min: 0 nS}")));
    REQUIRE_THROWS_WITH(parse(replace(base, "    weight: 10 pA\n", "")), Contains("a projection needs 'weight'"));
    REQUIRE_THROWS_WITH(parse(replace(base, "rate: 10 Hz", "rate: 10 Hz, spike_times: [1 ms]")), Contains("unknown key"));
    REQUIRE_THROWS_WITH(parse(replace(base, "{rate: 10 Hz}", "{}")), Contains("needs parameter 'rate'"));
    REQUIRE_THROWS_WITH(parse("populations:\n  s: {size: 1, model: spike_array, params: {spike_times: [1 ms, 1.01 ms]}}\n"),
                        Contains("two spikes in the same time step"));
    REQUIRE_THROWS_WITH(parse(""), Contains("empty"));
}

TEST_CASE("weights, delays and initial values must be finite", "[unit][config]") {
    const std::string cond = replace(base, "model: lif_curr_exp", "model: lif_cond_exp");
    REQUIRE_THROWS_WITH(parse(replace(cond, "weight: 10 pA", "weight: inf nS")),
                        Contains("test.yaml:12:") && Contains("p.weight") && Contains("expected a finite value, got 'inf nS'"));
    REQUIRE_THROWS_WITH(parse(replace(cond, "weight: 10 pA", "weight: nan nS")), Contains("expected a finite value"));
    REQUIRE_THROWS_WITH(parse(replace(cond, "weight: 10 pA", "weight: {distribution: uniform, low: 0 nS, high: inf nS}")),
                        Contains("p.weight.high") && Contains("finite"));
    REQUIRE_THROWS_WITH(parse(replace(cond, "weight: 10 pA", "weight: {distribution: choice, values: [1 nS, inf nS]}")),
                        Contains("p.weight.values") && Contains("finite"));
    REQUIRE_THROWS_WITH(parse(replace(cond, "weight: 10 pA", "weight: {distribution: normal, mean: 1 nS, std: 1 nS, min: nan nS}")),
                        Contains("p.weight.min") && Contains("expected a number"));
    REQUIRE_THROWS_WITH(parse(replace(cond, "weight: 10 pA", "weight: 10 nS\n    delay: inf ms")), Contains("p.delay") && Contains("finite"));
    REQUIRE_THROWS_WITH(parse(replace(cond, "params: {tau_m: 20 ms}", "params: {tau_m: 20 ms}\n    initial: {g_ex: inf nS}")),
                        Contains("exc.initial.g_ex") && Contains("finite"));
    // infinite bounds of a normal distribution are what leaving them out means
    CHECK_NOTHROW(parse(replace(cond, "weight: 10 pA", "weight: {distribution: normal, mean: 1 nS, std: 1 nS, min: 0 nS, max: inf nS}")));
    // projection weights are stored as floats: bounds beyond float range are refused
    // before anything is built, and a drawn value beyond it when drawn
    REQUIRE_THROWS_WITH(parse(replace(cond, "weight: 10 pA", "weight: 1e300 nS")), Contains("p.weight") && Contains("within float range"));
    REQUIRE_THROWS_WITH(parse(replace(cond, "weight: 10 pA", "weight: {distribution: uniform, low: 0 nS, high: 1e39 nS}")),
                        Contains("p.weight") && Contains("within float range"));
    CHECK_NOTHROW(parse(replace(cond, "weight: 10 pA", "weight: 3e38 nS")));
    REQUIRE_THROWS_WITH(parse(replace(replace(cond, "weight: 10 pA", "weight: 1 nS"), "{rule: fixed_probability, p: 0.5}", "{rule: from_list, connections: [[0, 1, 1 nS], [1, 2, 1e39 nS]]}")),
                        Contains("p.connector") && Contains("connection 1") && Contains("within float range"));
    // negative currents too (|w|)
    REQUIRE_THROWS_WITH(parse(replace(base, "weight: 10 pA", "weight: -1e39 pA")), Contains("p.weight") && Contains("within float range") && Contains("pA"));
    for (const std::string connector : {"{rule: fixed_probability, p: 0.5}", "{rule: fixed_number_pre, n: 3}", "{rule: fixed_number_post, n: 3}",
                                        "{rule: fixed_total_number, n: 20}", "{rule: all_to_all}"}) {
        INFO(connector);
        const auto wide = parse(replace(replace(cond, "weight: 10 pA", "weight: {distribution: normal, mean: 1 nS, std: 1e300 nS, min: 0 nS}"),
                                        "{rule: fixed_probability, p: 0.5}", connector));
        // found while building, named by the file and the line of the weight
        REQUIRE_THROWS_WITH(simulation(wide, builtin_models(), 1), Contains("test.yaml:12:13: key 'projections.p.weight'") && Contains("drew the weight") &&
                                                                        Contains("beyond float range"));
        // a plastic projection (built from one pass of draws where its rule allows) too
        const auto plastic = parse(replace(replace(replace(cond, "weight: 10 pA", "weight: {distribution: normal, mean: 1 nS, std: 1e300 nS, min: 0 nS}"),
                                                   "{rule: fixed_probability, p: 0.5}", connector),
                                           "record:", "    plasticity: {rule: stdp, w_max: 1e38}\nrecord:"));
        REQUIRE(plastic.projections[0].plasticity.plastic());
        REQUIRE_THROWS_WITH(simulation(plastic, builtin_models(), 1), Contains("test.yaml:12:13: key 'projections.p.weight'") && Contains("drew the weight") &&
                                                                          Contains("beyond float range"));
    }
    // the same spec built in C++ (no file): the key alone
    auto in_code = parse(replace(cond, "weight: 10 pA", "weight: {distribution: normal, mean: 1 nS, std: 1e300 nS, min: 0 nS}"));
    in_code.projections[0].where = in_code.projections[0].weight_where = in_code.projections[0].delay_where = {};
    REQUIRE_THROWS_WITH(simulation(in_code, builtin_models(), 1), StartsWith("projections.p.weight: drew the weight"));
    // a Poisson stimulus's weight: finite (file and line) and within float range
    const std::string stim = replace(cond, "weight: 10 pA", "weight: 1 nS") + "stimuli:\n  drive: {type: poisson_input, target: exc, rate: 10 Hz, weight: 1 nS}\n";
    CHECK_NOTHROW(parse(stim));
    REQUIRE_THROWS_WITH(parse(replace(stim, "weight: 1 nS}", "weight: inf nS}")),
                        Contains("stimuli.drive.weight") && Contains("expected a finite value, got 'inf nS'") && Contains("test.yaml:"));
    REQUIRE_THROWS_WITH(parse(replace(stim, "weight: 1 nS}", "weight: 1e300 nS}")),
                        Contains("stimuli.drive.weight") && Contains("within float range"));
}

TEST_CASE("delays beyond what 16-bit step counts hold are refused: in the file, from --set, and when drawn", "[unit][config]") {
    // at dt 0.1 ms a delay is at most 65,535 steps: 6,553.5 ms
    CHECK_NOTHROW(parse(replace(base, "weight: 10 pA", "weight: 10 pA\n    delay: 6553.5 ms")));
    REQUIRE_THROWS_WITH(parse(replace(base, "weight: 10 pA", "weight: 10 pA\n    delay: 6553.6 ms")),
                        Contains("test.yaml:") && Contains("p.delay") && Contains("65535 steps") && Contains("6553.5 ms"));
    REQUIRE_THROWS_WITH(parse(replace(base, "weight: 10 pA", "weight: 10 pA\n    delay: {distribution: uniform, low: 1 ms, high: 1e4 ms}")),
                        Contains("p.delay") && Contains("upper bound"));
    REQUIRE_THROWS_WITH(parse(base, {"projections.p.delay=70 s"}), StartsWith("--set: key 'projections.p.delay'") && Contains("65535 steps"));
    REQUIRE_THROWS_WITH(parse(replace(base, "{rule: fixed_probability, p: 0.5}", "{rule: from_list, connections: [[0, 1, 1 pA, 1 ms], [1, 2, 1 pA, 7 s]]}")),
                        Contains("p.connector") && Contains("connection 1") && Contains("65535 steps"));
    // an unbounded distribution passes validation; a draw beyond stops the build, named by
    // the file and the line of the delay, or by --set where the delay came from there
    const std::string unbounded = "{distribution: normal, mean: 1 ms, std: 1e6 ms, min: 0.1 ms}";
    const auto wide = parse(replace(base, "weight: 10 pA", "weight: 10 pA\n    delay: " + unbounded));
    REQUIRE_THROWS_WITH(simulation(wide, builtin_models(), 1), Contains("test.yaml:13:12: key 'projections.p.delay'") && Contains("is beyond 65535 steps"));
    const auto wide_set = parse(base, {"projections.p.delay=" + unbounded});
    REQUIRE_THROWS_WITH(simulation(wide_set, builtin_models(), 1), StartsWith("--set: key 'projections.p.delay'") && Contains("is beyond 65535 steps"));
    // one key inside the delay from --set is enough
    const auto std_set = parse(replace(base, "weight: 10 pA", "weight: 10 pA\n    delay: {distribution: normal, mean: 1 ms, std: 1 ms, min: 0.1 ms}"),
                               {"projections.p.delay.std=1e6 ms"});
    REQUIRE_THROWS_WITH(simulation(std_set, builtin_models(), 1), StartsWith("--set: key 'projections.p.delay'"));
    // a connector that cannot be met: the connector's line, or --set for a count set there
    const auto too_many = parse(replace(base, "{rule: fixed_probability, p: 0.5}", "{rule: fixed_number_pre, n: 3}"));
    auto many = too_many;
    many.projections[0].connector.n = 50;  // beyond the 5 sources; validation has passed
    REQUIRE_THROWS_WITH(simulation(many, builtin_models(), 1), StartsWith("test.yaml:13:16: key 'projections.p.connector'") && Contains("n exceeds the available sources"));
}

TEST_CASE("overrides (--set) change any key by its dotted path before validation", "[unit][config]") {
    auto spec = parse(base, {"simulation.duration=10 s", "populations.exc.size=7", "simulation.seed=99",
                             "projections.p.connector.p=0.25"});
    CHECK(spec.simulation.duration == 10000.0);
    CHECK(spec.populations[0].size == 7);
    CHECK(spec.simulation.seed == 99);
    CHECK(spec.projections[0].connector.p == 0.25);
    spec = parse(base, {"populations.exc.params.E_L=-65 mV"});
    CHECK(spec.populations[0].params.at("E_L").values[0] == -65.0);
    REQUIRE_THROWS_WITH(parse(base, {"populations.exc.sise=3"}), Contains("--set") && Contains("did you mean 'size'"));
    REQUIRE_THROWS_WITH(parse(base, {"projections.p.connector.p=2"}), Contains("--set") && Contains("probability"));
    REQUIRE_THROWS_WITH(parse(base, {"simulation.duration"}), Contains("expected key=value"));
}

TEST_CASE("the shipped experiments parse", "[unit][config]") {
    for (const char* f : {"coba.yaml", "cuba.yaml", "brunel.yaml", "single_neuron.yaml", "coba_large.yaml", "coba_xl.yaml"}) {
        INFO(f);
        CHECK_NOTHROW(load_experiment(std::string(ENGRAM_SOURCE_DIR) + "/experiments/" + f, builtin_models()));
    }
}

TEST_CASE("the scaled COBA experiments keep coba.yaml's populations' ratio and in-degree", "[unit][config]") {
    // thread-scaling benchmarks compare them with COBA: each neuron must get the same
    // expected number of inputs from each population (3,200 x 0.02 = 64 excitatory,
    // 800 x 0.02 = 16 inhibitory), whatever the size
    const auto load = [](const char* f) {
        return load_experiment(std::string(ENGRAM_SOURCE_DIR) + "/experiments/" + f, builtin_models()).spec;
    };
    const auto coba = load("coba.yaml");
    for (const char* f : {"coba_large.yaml", "coba_xl.yaml"}) {
        INFO(f);
        const auto big = load(f);
        REQUIRE(big.populations.size() == coba.populations.size());
        REQUIRE(big.projections.size() == coba.projections.size());
        CHECK(big.populations[0].size * coba.populations[1].size == big.populations[1].size * coba.populations[0].size);
        for (std::size_t j = 0; j < coba.projections.size(); ++j) {
            const auto& a = coba.projections[j];
            const auto& b = big.projections[j];
            const auto n_src = [](const network_spec& s, const std::string& name) {
                for (const auto& pop : s.populations)
                    if (pop.name == name) return double(pop.size);
                return 0.0;
            };
            CHECK(b.source == a.source);
            CHECK(b.target == a.target);
            CHECK(n_src(big, b.source) * b.connector.p == Approx(n_src(coba, a.source) * a.connector.p));
        }
    }
}

TEST_CASE("runaway and ambiguous inputs are refused", "[unit][config]") {
    REQUIRE_THROWS_WITH(parse(base, {"simulation.duration=inf ms"}), Contains("duration must be finite"));
    REQUIRE_THROWS_WITH(parse(replace(base, "  exc:\n", "  ex/c:\n")), Contains("may contain only letters"));
    REQUIRE_THROWS_WITH(parse(base + "  spikes: [exc, exc]\n"), Contains("listed twice"));
    REQUIRE_THROWS_WITH(parse(replace(base, "{rule: fixed_probability, p: 0.5}", "{rule: one_to_one, allow_self_connections: false}")),
                        Contains("unknown key"));
    const std::string cond = replace(base, "model: lif_curr_exp", "model: lif_cond_exp");
    REQUIRE_THROWS_WITH(parse(replace(replace(cond, "weight: 10 pA", "weight: 1 nS"), "{rule: fixed_probability, p: 0.5}",
                                      "{rule: from_list, connections: [[0, 1, -2 nS]]}")),
                        Contains("weights must be >= 0"));
    REQUIRE_THROWS_WITH(parse(replace(base, "rate: 10 Hz", "rate: 10 Hz, start: 50 ms, stop: 10 ms")), Contains("stop is before start"));
    REQUIRE_THROWS_WITH(parse("populations:\n  a: {size: 1, model: lif_curr_exp}\nprojections:\n  p: {source: a, target: a, weight: 1 pA, "
                              "connector: {rule: fixed_number_pre, n: 1, with_replacement: true, allow_self_connections: false}}\n"),
                        Contains("no neuron pair"));
}

TEST_CASE("the stored experiment has overrides applied and every default written out", "[unit][config]") {
    const auto ex = parse_experiment(base, "test.yaml", builtin_models(), {"simulation.seed=5"});
    CHECK_THAT(ex.resolved_yaml, Contains("seed: 5") && Contains("C_m: 250 pF") && Contains("tau_m: 20 ms") && Contains("dt: 0.1"));
    // and it parses back to the same spec
    const auto again = parse(ex.resolved_yaml);
    CHECK(again.populations[0].params.at("C_m").values == ex.spec.populations[0].params.at("C_m").values);
    CHECK(again.simulation.seed == 5);
    CHECK_THAT(ex.resolved_yaml, Contains("precision: float"));
    const auto dbl = parse_experiment(base, "test.yaml", builtin_models(), {"simulation.precision=double"});
    CHECK(parse(dbl.resolved_yaml).simulation.double_precision);
}

TEST_CASE("simulation.precision takes float or double, and double needs a double kernel", "[unit][config]") {
    CHECK_FALSE(parse(base).simulation.double_precision);
    CHECK(parse(replace(base, "duration: 100 ms}", "duration: 100 ms, precision: double}")).simulation.double_precision);
    CHECK_FALSE(parse(base, {"simulation.precision=float"}).simulation.double_precision);
    REQUIRE_THROWS_WITH(parse(replace(base, "duration: 100 ms}", "duration: 100 ms, precision: quad}")),
                        Contains("test.yaml:1") && Contains("simulation.precision") && Contains("'float' or 'double', got 'quad'"));
    // lif_discrete has float kernels only: the error names the population, the model and
    // the models that do have double kernels
    const std::string discrete =
        replace(replace(replace(base, "model: lif_curr_exp", "model: lif_discrete"), "params: {tau_m: 20 ms}", "params: {}"), "10 pA", "1 mV");
    CHECK_NOTHROW(parse(discrete));
    REQUIRE_THROWS_WITH(parse(discrete, {"simulation.precision=double"}),
                        Contains("simulation.precision") && Contains("population 'exc' uses model 'lif_discrete'") &&
                            Contains("lif_curr_exp, lif_curr_delta, lif_cond_exp"));
    REQUIRE_THROWS_WITH(parse(replace(discrete, "duration: 100 ms}", "duration: 100 ms, precision: double}")),
                        Contains("test.yaml:1:") && Contains("which has float kernels only"));
}

TEST_CASE("a population's integration scheme is checked against its model", "[unit][config]") {
    const std::string cond = replace(replace(base, "model: lif_curr_exp", "model: lif_cond_exp"), "10 pA", "1 nS");
    CHECK(parse(cond).populations[0].integration == "exponential_euler");
    CHECK(parse(cond, {"populations.exc.integration=euler"}).populations[0].integration == "euler");
    REQUIRE_THROWS_WITH(parse(replace(cond, "model: lif_cond_exp", "model: lif_cond_exp\n    integration: eulr")),
                        Contains("test.yaml:6:") && Contains("populations.exc.integration") && Contains("exponential_euler, euler") &&
                            Contains("did you mean 'euler'"));
    REQUIRE_THROWS_WITH(parse(base, {"populations.exc.integration=euler"}), Contains("has one integration scheme"));
    REQUIRE_THROWS_WITH(parse(cond, {"populations.exc.integration=euler", "simulation.dt=3 ms"}),
                        Contains("forward Euler needs dt below every time constant") && Contains("tau_syn_ex"));
    // the stored experiment names the scheme, and parses back to it
    const auto ex = parse_experiment(cond, "test.yaml", builtin_models(), {"populations.exc.integration=euler"});
    CHECK(parse(ex.resolved_yaml).populations[0].integration == "euler");
}
