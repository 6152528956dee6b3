// NIR export and import: the exact HDF5 layout of nir.write, a hand-written graph in the
// style of NIR's documentation, round trips (same network, same spikes), error paths and
// the strict mode's refusal.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>

#include "engram/core/hdf5.hpp"
#include "engram/nir/nir.hpp"
#include "helpers.hpp"
#include "nir_helpers.hpp"

using namespace engram;
using namespace engram::test;
using Catch::Matchers::Contains;

namespace {

// --- small HDF5 helpers for reading and writing NIR files by hand ---

std::vector<std::string> read_strings(hid_t loc, const std::string& name) {
    h5::handle ds(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), H5Dclose);
    REQUIRE(ds.valid());
    h5::handle ft(H5Dget_type(ds), H5Tclose);
    REQUIRE(H5Tget_class(ft) == H5T_STRING);
    REQUIRE(H5Tis_variable_str(ft) > 0);
    h5::handle sp(H5Dget_space(ds), H5Sclose);
    const auto n = static_cast<std::size_t>(H5Sget_simple_extent_npoints(sp));
    h5::handle mt(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5Tget_cset(ft));
    std::vector<char*> p(n);
    REQUIRE(H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data()) >= 0);
    std::vector<std::string> out(p.begin(), p.end());
    H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, p.data());
    return out;
}

std::string type_of_node(hid_t file, const std::string& node) {
    const auto s = read_strings(file, "/node/nodes/" + node + "/type");
    REQUIRE(s.size() == 1);
    return s[0];
}

std::vector<float> floats(hid_t file, const std::string& path) { return h5::read_vector<float>(file, path, "t"); }

// The graph of NIR's documentation: Input -> Affine -> LIF -> Output, with one thing
// changed by `variant` for the error tests.
std::string write_doc_graph(const std::string& path, const std::string& variant = "") {
    h5::silence_errors();
    h5::handle f(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    put_string(f, "version", "1.0.0");
    h5::handle top(H5Gcreate2(f, "node", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    put_string(top, "type", "NIRGraph");
    h5::handle nodes(H5Gcreate2(top, "nodes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    auto group = [&](const std::string& n, const std::string& type) {
        h5::handle g(H5Gcreate2(nodes, n.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
        put_string(g, "type", type);
        return g;
    };
    {
        auto g = group("input", "Input");
        h5::handle sp(H5Screate_simple(1, std::vector<hsize_t>{1}.data(), nullptr), H5Sclose);
        h5::handle ds(H5Dcreate2(g, "shape", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
        const std::int64_t two = 2;
        H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &two);
    }
    {
        auto g = group("affine", "Affine");
        // neuron 0 <- input 0 (excitatory), neuron 1 <- input 1, neuron 2 <- input 0 (inhibitory)
        put_array(g, "weight", {2.0, 0.0, 0.0, 2.0, -0.5, 0.0}, {3, 2});
        put_array(g, "bias", {0.0, 0.0, 0.0}, {3});
    }
    {
        auto g = group("lif", variant == "graph" ? "NIRGraph" : variant == "if" ? "IF" : "LIF");
        if (variant != "missing") put_array(g, "tau", {0.02, 0.02, 0.02}, {3});
        put_array(g, "r", variant == "shape" ? std::vector<double>{0.02, 0.02} : std::vector<double>{0.02, 0.02, 0.02},
                  {variant == "shape" ? 2u : 3u});
        put_array(g, "v_leak", {0.0, 0.0, 0.0}, {3});
        put_array(g, "v_threshold", {1.0, 1.0, 1.0}, {3});
        put_array(g, "v_reset", {0.0, 0.0, 0.0}, {3});
    }
    {
        auto g = group("output", "Output");
        put_array(g, "shape", {3}, {1});
    }
    put_edges(top, {{"input", "affine"}, {"affine", "lif"}, {"lif", variant == "edge" ? "outptu" : "output"}});
    return path;
}

const std::string small_net = R"(
simulation: {dt: 0.1 ms, duration: 100 ms, seed: 5}
populations:
  drive: {size: 3, model: spike_array, params: {spike_times: [[5 ms, 30 ms], [10 ms], [12 ms, 13 ms, 14 ms]]}}
  exc:
    size: 4
    model: lif_curr_exp
    params: {C_m: 200 pF, tau_m: 15 ms, E_L: -65 mV, V_th: -50 mV, V_reset: -68 mV, t_ref: 2 ms,
             tau_syn_ex: 3 ms, tau_syn_in: 3 ms, I_e: 50 pA}
  out:
    size: 2
    model: lif_curr_delta
    params: {C_m: 250 pF, tau_m: 10 ms, E_L: -70 mV, V_th: -55 mV, V_reset: -70 mV, t_ref: 1 ms}
projections:
  d2e: {source: drive, target: exc, receptor: ex, weight: {distribution: uniform, low: 800 pA, high: 1500 pA},
        delay: 1.5 ms, connector: {rule: fixed_probability, p: 0.7}}
  e2o: {source: exc, target: out, receptor: ex, weight: 9 mV, delay: 2 ms, connector: all_to_all}
  d2o: {source: drive, target: out, receptor: in, connector: {rule: from_list, connections: [[0, 0, -3 mV, 1 ms], [1, 1, -2 mV, 3 ms]]},
        weight: -1 mV}
record:
  spikes: all
)";

}  // namespace

TEST_CASE("NIR export writes nir.write's layout, field by field", "[unit][nir]") {
    const auto dir = temp_dir("nir_layout");
    const auto path = (dir / "net.nir").string();
    const auto spec = parse(small_net);
    simulation sim(spec, builtin_models());
    const auto rep = nir::export_nir(spec, sim, path);
    // populations, Linear + Delay per projection, an Output per recorded neuron population
    CHECK(rep.nodes == 3 + 2 * 3 + 2);
    CHECK(rep.edges == 3 * 3 + 2);

    h5::handle f = h5::open_file(path);
    CHECK(read_strings(f, "/version") == std::vector<std::string>{"1.0.0"});
    CHECK(read_strings(f, "/node/type") == std::vector<std::string>{"NIRGraph"});
    CHECK(read_strings(f, "/node/metadata/time_unit") == std::vector<std::string>{"s"});
    CHECK(type_of_node(f, "drive") == "Input");
    CHECK(h5::read_vector<std::int64_t>(f, "/node/nodes/drive/shape", path) == std::vector<std::int64_t>{3});
    CHECK(type_of_node(f, "exc") == "CubaLIF");
    for (const char* p : {"tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"})
        CHECK(h5::shape(f, std::string("/node/nodes/exc/") + p, path) == std::vector<hsize_t>{4});
    CHECK(floats(f, "/node/nodes/exc/tau_mem")[0] == Approx(0.015));
    CHECK(floats(f, "/node/nodes/exc/tau_syn")[3] == Approx(0.003));
    CHECK(floats(f, "/node/nodes/exc/w_in")[1] == Approx(0.003));
    CHECK(floats(f, "/node/nodes/exc/r")[0] == Approx(15.0 / 200.0));
    CHECK(floats(f, "/node/nodes/exc/v_leak")[0] == Approx(-65.0 + 15.0 / 200.0 * 50.0));  // I_e folded in
    CHECK(floats(f, "/node/nodes/exc/v_threshold")[2] == Approx(-50.0));
    CHECK(floats(f, "/node/nodes/exc/v_reset")[2] == Approx(-68.0));
    CHECK(type_of_node(f, "out") == "LIF");
    for (const char* p : {"tau", "r", "v_leak", "v_threshold", "v_reset"})
        CHECK(h5::shape(f, std::string("/node/nodes/out/") + p, path) == std::vector<hsize_t>{2});
    CHECK(floats(f, "/node/nodes/out/tau")[0] == Approx(0.010));
    CHECK(floats(f, "/node/nodes/out/r")[0] == Approx(0.010));

    // Linear: the dense [n_post, n_pre] matrix of the simulated synapses, 0 where absent.
    CHECK(type_of_node(f, "d2e") == "Linear");
    CHECK(h5::shape(f, "/node/nodes/d2e/weight", path) == std::vector<hsize_t>{4, 3});
    const auto w = floats(f, "/node/nodes/d2e/weight");
    const auto syn = sim.synapses(0);
    std::vector<float> dense(12, 0.0f);
    for (std::size_t k = 0; k < syn.size(); ++k) dense[syn.post[k] * 3 + syn.pre[k]] += syn.weight[k];
    CHECK(w == dense);
    CHECK(type_of_node(f, "d2e_delay") == "Delay");
    CHECK(floats(f, "/node/nodes/d2e_delay/delay") == std::vector<float>(4, 1.5e-3f));
    CHECK(floats(f, "/node/nodes/d2o_delay/delay") == std::vector<float>{1e-3f, 3e-3f});  // one delay per target
    CHECK(floats(f, "/node/nodes/d2o/weight") == std::vector<float>{-3.0f, 0.0f, 0.0f, 0.0f, -2.0f, 0.0f});
    CHECK(type_of_node(f, "output_out") == "Output");
    CHECK(h5::read_vector<std::int64_t>(f, "/node/nodes/output_out/shape", path) == std::vector<std::int64_t>{2});
    CHECK(type_of_node(f, "output_exc") == "Output");

    CHECK(h5::shape(f, "/node/edges", path) == std::vector<hsize_t>{11, 2});
    const auto e = read_strings(f, "/node/edges");
    std::vector<std::pair<std::string, std::string>> pairs;
    for (std::size_t k = 0; k < e.size(); k += 2) pairs.emplace_back(e[k], e[k + 1]);
    for (const auto& want : std::vector<std::pair<std::string, std::string>>{
             {"drive", "d2e"}, {"d2e", "d2e_delay"}, {"d2e_delay", "exc"}, {"exc", "e2o"}, {"e2o_delay", "out"}, {"out", "output_out"}, {"exc", "output_exc"}})
        CHECK(std::find(pairs.begin(), pairs.end(), want) != pairs.end());
    // Refractory periods are approximated (and kept in metadata for engram).
    CHECK(rep.approximations.size() == 2);
}

TEST_CASE("NIR round trip: same network, same spikes", "[unit][nir]") {
    const auto dir = temp_dir("nir_roundtrip");
    const auto path = (dir / "net.nir").string();
    const auto spec = parse(small_net);
    simulation sim(spec, builtin_models());
    nir::export_nir(spec, sim, path);
    auto back = nir::import_nir(path, builtin_models());

    REQUIRE(back.populations.size() == spec.populations.size());
    for (const auto& p : spec.populations) {
        const auto* q = back.find_population(p.name);
        REQUIRE(q);
        CHECK(q->size == p.size);
        CHECK(q->model == p.model);
        for (const auto& [k, v] : p.params) {
            if (k == "spike_times") continue;
            INFO(p.name << "." << k);
            CHECK(q->params.at(k).values.at(0) == Approx(v.values.at(0)).epsilon(1e-6).margin(1e-9));
        }
    }
    CHECK(back.find_population("exc")->params.at("tau_m").values[0] == 15.0);  // float32 seconds back to 15 ms exactly
    CHECK(back.find_population("drive")->params.at("spike_times").trains.empty());
    // The user supplies the input spikes.
    back.populations[back.population_index("drive")].params["spike_times"] =
        spec.populations[spec.population_index("drive")].params.at("spike_times");
    back.simulation.duration = spec.simulation.duration;
    back.simulation.seed = spec.simulation.seed;
    CHECK(back.simulation.dt == spec.simulation.dt);

    simulation sim2(back, builtin_models());
    REQUIRE(back.projections.size() == spec.projections.size());
    for (std::size_t j = 0; j < spec.projections.size(); ++j) {
        const auto& pr = spec.projections[j];
        std::size_t j2 = 0;
        while (j2 < back.projections.size() && back.projections[j2].name != pr.name) ++j2;
        REQUIRE(j2 < back.projections.size());
        CHECK(back.projections[j2].receptor == pr.receptor);
        CHECK(back.projections[j2].source == pr.source);
        CHECK(back.projections[j2].target == pr.target);
        const auto a = sim.synapses(j), b = sim2.synapses(j2);
        CHECK(a.pre == b.pre);
        CHECK(a.post == b.post);
        CHECK(a.delay == b.delay);
        REQUIRE(a.weight.size() == b.weight.size());
        for (std::size_t k = 0; k < a.size(); ++k) CHECK(b.weight[k] == Approx(a.weight[k]).epsilon(1e-6));
    }

    const auto c1 = run(spec), c2 = run(back);
    auto by_name = [](const network_spec& s, const capture& c) {
        std::vector<std::tuple<std::string, std::uint64_t, std::uint32_t>> v;
        for (const auto& x : c.spikes) v.emplace_back(s.populations[x.pop].name, x.step, x.id);
        std::sort(v.begin(), v.end());
        return v;
    };
    CHECK(c1.count(spec.population_index("out")) > 0);
    CHECK(c1.count(spec.population_index("exc")) > 0);
    CHECK(by_name(spec, c1) == by_name(back, c2));
}

TEST_CASE("a hand-written NIR graph (Input -> Affine -> LIF -> Output) imports and runs", "[unit][nir]") {
    const auto dir = temp_dir("nir_doc");
    const auto path = write_doc_graph((dir / "doc.nir").string());
    auto ex = nir::import_nir_experiment(path, builtin_models(), {"simulation.duration=50 ms"});
    auto& spec = ex.spec;
    CHECK(spec.simulation.duration == Approx(50.0));
    REQUIRE(spec.populations.size() == 2);
    CHECK(spec.populations[0].name == "input");
    CHECK(spec.populations[0].model == "spike_array");
    CHECK(spec.populations[0].size == 2);
    CHECK(spec.populations[1].name == "lif");
    CHECK(spec.populations[1].model == "lif_curr_delta");
    CHECK(spec.populations[1].size == 3);
    CHECK(spec.populations[1].params.at("tau_m").values[0] == Approx(20.0));
    CHECK(spec.populations[1].params.at("t_ref").values[0] == 0.0);
    CHECK(spec.spike_recorders == std::vector<std::string>{"lif"});
    // positive weights on ex, negative ones on in, scaled by r / tau (= 1 here)
    REQUIRE(spec.projections.size() == 2);
    CHECK(spec.projections[0].name == "affine_ex");
    CHECK(spec.projections[0].receptor == "ex");
    CHECK(spec.projections[0].connector.weight == std::vector<double>{2.0, 2.0});
    CHECK(spec.projections[1].name == "affine_in");
    CHECK(spec.projections[1].receptor == "in");
    CHECK(spec.projections[1].connector.post == std::vector<std::uint32_t>{2});
    CHECK(spec.projections[1].connector.weight[0] == Approx(-0.5));

    spec.populations[0].params["spike_times"].trains = {{10.0}, {20.0}};
    const auto c = run(spec);
    // A jump of 2 > v_threshold = 1 one step (the minimum delay) after each input spike.
    std::vector<std::pair<std::uint64_t, std::uint32_t>> lif;
    for (const auto& s : c.spikes) if (s.pop == 1) lif.emplace_back(s.step, s.id);
    CHECK(lif == std::vector<std::pair<std::uint64_t, std::uint32_t>>{{101, 0}, {201, 1}});
}

TEST_CASE("an IF node imports as a LIF neuron without leak", "[unit][nir]") {
    const auto dir = temp_dir("nir_if");
    auto spec = nir::import_nir(write_doc_graph((dir / "if.nir").string(), "if"), builtin_models());
    const auto& p = spec.populations.at(1);
    CHECK(p.model == "lif_curr_delta");
    CHECK(p.params.at("tau_m").values[0] >= 1e9);
    CHECK(p.params.at("E_L").values[0] == 0.0);
    CHECK(spec.projections.at(0).connector.weight == std::vector<double>{0.04, 0.04});  // r w
    spec.populations[0].params["spike_times"].trains = {{10.0}, {20.0}};
    spec.simulation.duration = 50.0;
    const auto c = run(spec);
    CHECK(c.count(1) == 0);  // 0.04 mV jumps stay below the threshold of 1 mV
}

TEST_CASE("NIR import errors name the node and the problem", "[unit][nir]") {
    const auto dir = temp_dir("nir_errors");
    auto imp = [&](const std::string& variant) {
        nir::import_nir(write_doc_graph((dir / (variant + ".nir")).string(), variant), builtin_models());
    };
    REQUIRE_THROWS_AS(imp("missing"), io_error);
    REQUIRE_THROWS_WITH(imp("missing"), Contains("node 'lif': missing parameter 'tau'"));
    REQUIRE_THROWS_WITH(imp("shape"), Contains("node 'lif': parameter 'r' has shape [2], expected [3]"));
    REQUIRE_THROWS_WITH(imp("edge"), Contains("edge 'lif' -> 'outptu': no node 'outptu'"));
    REQUIRE_THROWS_WITH(imp("graph"), Contains("unsupported node 'lif' of type 'NIRGraph'"));
    REQUIRE_THROWS_WITH(nir::import_nir((dir / "none.nir").string(), builtin_models()), Contains("not a readable HDF5 file"));
    REQUIRE_THROWS_AS(nir::import_nir_experiment(write_doc_graph((dir / "ok.nir").string()), builtin_models(),
                                                 {"populations.lif.size=4"}),
                      config_error);
    CHECK(nir::import_nir_experiment(write_doc_graph((dir / "ok.nir").string()), builtin_models(), {"simulation.pin_threads=true"})
              .spec.simulation.pin_threads);
    CHECK_THROWS_WITH(nir::import_nir_experiment(write_doc_graph((dir / "ok.nir").string()), builtin_models(), {"simulation.pin_threads=maybe"}),
                      Catch::Contains("simulation.pin_threads") && Catch::Contains("expected true or false"));
}

TEST_CASE("strict NIR export refuses and lists every approximation", "[unit][nir]") {
    const auto dir = temp_dir("nir_strict");
    const auto spec = parse(R"(
simulation: {dt: 0.1 ms, duration: 10 ms}
populations:
  noise: {size: 5, model: poisson, params: {rate: 10 Hz}}
  cond: {size: 4, model: lif_cond_exp}
  cur: {size: 3, model: lif_curr_exp, params: {t_ref: 0 ms, tau_syn_ex: 2 ms, tau_syn_in: 6 ms}}
projections:
  nc: {source: noise, target: cond, receptor: ex, weight: 1 nS, connector: all_to_all}
  cc: {source: cond, target: cur, receptor: in, weight: -5 pA, delay: {distribution: uniform, low: 0.5 ms, high: 3 ms}, connector: all_to_all}
stimuli:
  step: {type: step_current, target: cur, times: [1 ms], amplitudes: [10 pA]}
)");
    simulation sim(spec, builtin_models());
    const auto path = (dir / "s.nir").string();
    nir::export_options strict;
    strict.strict = true;
    try {
        nir::export_nir(spec, sim, path, strict);
        FAIL("a strict export must refuse");
    } catch (const nir::export_refused& e) {
        CHECK(e.items().size() == 7);
        const std::string m = e.what();
        CHECK_THAT(m, Contains("population 'noise': Poisson source"));
        CHECK_THAT(m, Contains("population 'cond': refractory period t_ref = 2 ms"));
        CHECK_THAT(m, Contains("population 'cond': conductance-based synapses"));
        CHECK_THAT(m, Contains("population 'cur': one synaptic time constant"));
        CHECK_THAT(m, Contains("population 'cond': one synaptic time constant"));
        CHECK_THAT(m, Contains("stimulus 'step' (step_current into 'cur')"));
        CHECK_THAT(m, Contains("projection 'cc': delays differ"));
    }
    CHECK_FALSE(std::filesystem::exists(path));
    const auto rep = nir::export_nir(spec, sim, path);  // not strict: writes, and lists the same
    CHECK(rep.approximations.size() == 7);
    CHECK(std::filesystem::exists(path));
    // The approximation imports and runs.
    const auto back = nir::import_nir(path, builtin_models());
    CHECK(back.find_population("cond")->model == "lif_curr_exp");
    CHECK(back.find_population("noise")->model == "spike_array");
}

TEST_CASE("NIR export names a forward-Euler population as an approximation", "[unit][nir]") {
    const auto dir = temp_dir("nir_euler");
    const auto spec = parse(R"(
simulation: {dt: 0.1 ms, duration: 10 ms}
populations:
  cond: {size: 4, model: lif_cond_exp, integration: euler, params: {t_ref: 0 ms, tau_syn_in: 0.2 ms}}
)");
    simulation sim(spec, builtin_models());
    const auto rep = nir::export_nir(spec, sim, (dir / "e.nir").string());
    bool named = false;
    for (const auto& a : rep.approximations) named |= a.find("population 'cond': integration: euler") != std::string::npos;
    CHECK(named);
}
