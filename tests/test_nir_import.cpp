// NIR import beyond fully connected layers: Conv1d, Conv2d, SumPool2d, AvgPool2d and
// Flatten become sparse projections, checked synapse by synapse against dense reference
// convolutions computed here; Affine biases become constant currents (checked against the
// analytic membrane trajectory); LI, CubaLI, I and Threshold nodes; round trips of the
// new node types; and the errors for malformed graphs.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <map>

#include "engram/nir/nir.hpp"
#include "helpers.hpp"
#include "nir_helpers.hpp"

using namespace engram;
using namespace engram::test;
using Catch::Matchers::Contains;

namespace {

using dense_map = std::map<std::pair<std::uint32_t, std::uint32_t>, double>;  // (pre, post) -> weight

std::vector<hsize_t> hs(const std::vector<std::size_t>& s) { return {s.begin(), s.end()}; }
std::size_t count(const std::vector<std::size_t>& s) {
    std::size_t n = 1;
    for (auto d : s) n *= d;
    return n;
}

void add_input(nir_file& f, const std::string& name, const std::vector<std::int64_t>& shape) {
    auto g = f.node(name, "Input");
    put_ints(g, "shape", shape);
}

void add_output(nir_file& f, const std::string& name, const std::vector<std::int64_t>& shape) {
    auto g = f.node(name, "Output");
    put_ints(g, "shape", shape);
}

// A LIF node of the given shape with tau = r (a weight w is a jump of w mV) and a threshold
// so high that nothing spikes.
void add_lif(nir_file& f, const std::string& name, const std::vector<std::size_t>& shape) {
    auto g = f.node(name, "LIF");
    const std::size_t n = count(shape);
    put_array(g, "tau", std::vector<double>(n, 0.02), hs(shape));
    put_array(g, "r", std::vector<double>(n, 0.02), hs(shape));
    put_array(g, "v_leak", std::vector<double>(n, 0.0), hs(shape));
    put_array(g, "v_threshold", std::vector<double>(n, 1e3), hs(shape));
    put_array(g, "v_reset", std::vector<double>(n, 0.0), hs(shape));
}

// Every instantiated synapse from `src` to `tgt`, summed per (pre, post); every one must
// have the minimum delay (one step).
dense_map synapses_between(const network_spec& spec, const std::string& src, const std::string& tgt) {
    simulation sim(spec, builtin_models());
    dense_map m;
    for (std::size_t j = 0; j < spec.projections.size(); ++j) {
        if (spec.projections[j].source != src || spec.projections[j].target != tgt) continue;
        const auto s = sim.synapses(j);
        for (std::size_t k = 0; k < s.size(); ++k) {
            m[{s.pre[k], s.post[k]}] += s.weight[k];
            CHECK(s.delay[k] == 1);
        }
    }
    return m;
}

void require_same(const dense_map& got, const dense_map& want) {
    REQUIRE(got.size() == want.size());
    for (const auto& [k, w] : want) {
        INFO("pre " << k.first << " -> post " << k.second);
        REQUIRE(got.count(k));
        CHECK(got.at(k) == Approx(w).epsilon(1e-6));
    }
}

// A kernel weight with zeros and both signs, from its indices.
double kernel_weight(std::size_t oc, std::size_t ic, std::size_t ky, std::size_t kx) {
    return static_cast<double>(static_cast<int>((oc * 7 + ic * 5 + ky * 3 + kx) % 9) - 4) * 0.25;
}

// The dense 2-d convolution (PyTorch's cross-correlation) written out directly: the weight
// of input (ic, iy, ix) in output (oc, oy, ox), as a matrix [out][in].
std::vector<std::vector<double>> dense_conv2d(std::size_t C_in, std::size_t H, std::size_t W, std::size_t C_out,
                                              std::size_t K, std::size_t stride, std::size_t pad,
                                              std::size_t& OH, std::size_t& OW) {
    OH = (H + 2 * pad - K) / stride + 1;
    OW = (W + 2 * pad - K) / stride + 1;
    std::vector<std::vector<double>> m(C_out * OH * OW, std::vector<double>(C_in * H * W, 0.0));
    for (std::size_t oc = 0; oc < C_out; ++oc)
        for (std::size_t oy = 0; oy < OH; ++oy)
            for (std::size_t ox = 0; ox < OW; ++ox)
                for (std::size_t ic = 0; ic < C_in; ++ic)
                    for (std::size_t ky = 0; ky < K; ++ky)
                        for (std::size_t kx = 0; kx < K; ++kx) {
                            const long iy = static_cast<long>(oy * stride + ky) - static_cast<long>(pad);
                            const long ix = static_cast<long>(ox * stride + kx) - static_cast<long>(pad);
                            if (iy < 0 || ix < 0 || iy >= static_cast<long>(H) || ix >= static_cast<long>(W)) continue;
                            m[(oc * OH + oy) * OW + ox][(ic * H + static_cast<std::size_t>(iy)) * W + static_cast<std::size_t>(ix)] +=
                                kernel_weight(oc, ic, ky, kx);
                        }
    return m;
}

dense_map nonzero(const std::vector<std::vector<double>>& m) {
    dense_map d;
    for (std::size_t o = 0; o < m.size(); ++o)
        for (std::size_t i = 0; i < m[o].size(); ++i)
            if (m[o][i] != 0.0) d[{static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(o)}] = m[o][i];
    return d;
}

std::vector<double> kernel(std::size_t C_out, std::size_t C_in, std::size_t K) {
    std::vector<double> w;
    for (std::size_t oc = 0; oc < C_out; ++oc)
        for (std::size_t ic = 0; ic < C_in; ++ic)
            for (std::size_t ky = 0; ky < K; ++ky)
                for (std::size_t kx = 0; kx < K; ++kx) w.push_back(kernel_weight(oc, ic, ky, kx));
    return w;
}

void add_conv2d(nir_file& f, const std::string& name, std::size_t C_out, std::size_t C_in, std::size_t K, std::int64_t stride,
                std::int64_t pad, const std::vector<std::int64_t>& input_shape = {}) {
    auto g = f.node(name, "Conv2d");
    put_array(g, "weight", kernel(C_out, C_in, K), {C_out, C_in, K, K});
    put_ints(g, "stride", {stride, stride});
    put_ints(g, "padding", {pad, pad});
    put_ints(g, "dilation", {1, 1});
    put_ints(g, "groups", {1}, true);
    put_array(g, "bias", std::vector<double>(C_out, 0.0), {C_out});
    if (!input_shape.empty()) put_ints(g, "input_shape", input_shape);
}

}  // namespace

TEST_CASE("NIR Conv2d imports as the synapses of the dense convolution", "[nir][unit]") {
    const std::size_t stride = GENERATE(1u, 2u);
    const auto dir = temp_dir("nir_conv2d");
    const auto path = (dir / "conv.nir").string();
    std::size_t OH = 0, OW = 0;
    const auto ref = dense_conv2d(2, 5, 5, 3, 3, stride, 1, OH, OW);
    CHECK(OH == (stride == 1 ? 5u : 3u));
    {
        nir_file f(path);
        add_input(f, "in", {2, 5, 5});
        add_conv2d(f, "conv", 3, 2, 3, static_cast<std::int64_t>(stride), 1, {5, 5});
        add_lif(f, "lif", {3, OH, OW});
        add_output(f, "out", {3, static_cast<std::int64_t>(OH), static_cast<std::int64_t>(OW)});
        f.edges({{"in", "conv"}, {"conv", "lif"}, {"lif", "out"}});
    }
    const auto spec = nir::import_nir(path, builtin_models());
    REQUIRE(spec.populations.size() == 2);
    CHECK(spec.populations[1].size == 3 * OH * OW);
    // positive weights on ex, negative on in, both named after the Conv2d node
    REQUIRE(spec.projections.size() == 2);
    CHECK(spec.projections[0].name == "conv_ex");
    CHECK(spec.projections[1].name == "conv_in");
    require_same(synapses_between(spec, "in", "lif"), nonzero(ref));
}

TEST_CASE("NIR Conv2d -> SumPool2d -> LIF becomes one projection: the product of the dense matrices", "[nir][unit]") {
    const auto dir = temp_dir("nir_conv_pool");
    const auto path = (dir / "cp.nir").string();
    {
        nir_file f(path);
        add_input(f, "in", {1, 4, 4});
        add_conv2d(f, "conv", 2, 1, 3, 1, 1);  // no input_shape: the shape comes from the Input
        {
            auto g = f.node("pool", "SumPool2d");
            put_ints(g, "kernel_size", {2, 2});
            put_ints(g, "stride", {2, 2});
            put_ints(g, "padding", {0, 0});
        }
        add_lif(f, "lif", {2, 2, 2});
        f.edges({{"in", "conv"}, {"conv", "pool"}, {"pool", "lif"}});
    }
    std::size_t OH = 0, OW = 0;
    const auto conv = dense_conv2d(1, 4, 4, 2, 3, 1, 1, OH, OW);  // [32][16]
    std::vector<std::vector<double>> both(8, std::vector<double>(16, 0.0));
    for (std::size_t c = 0; c < 2; ++c)
        for (std::size_t oy = 0; oy < 2; ++oy)
            for (std::size_t ox = 0; ox < 2; ++ox)
                for (std::size_t dy = 0; dy < 2; ++dy)
                    for (std::size_t dx = 0; dx < 2; ++dx)
                        for (std::size_t i = 0; i < 16; ++i)
                            both[(c * 2 + oy) * 2 + ox][i] += conv[(c * 4 + 2 * oy + dy) * 4 + 2 * ox + dx][i];
    const auto spec = nir::import_nir(path, builtin_models());
    for (const auto& p : spec.projections) CHECK(p.name.rfind("conv", 0) == 0);
    require_same(synapses_between(spec, "in", "lif"), nonzero(both));
}

TEST_CASE("NIR Conv1d with groups, dilation and padding 'same'", "[nir][unit]") {
    const auto dir = temp_dir("nir_conv1d");
    const auto path = (dir / "c1.nir").string();
    // 2 input channels, 4 output channels in 2 groups, kernel 3, dilation 2: 'same' pads 2 on each side.
    const std::size_t L = 7, C_out = 4, K = 3, dil = 2;
    std::vector<double> w;
    for (std::size_t oc = 0; oc < C_out; ++oc)
        for (std::size_t k = 0; k < K; ++k) w.push_back(kernel_weight(oc, 0, k, 1));
    {
        nir_file f(path);
        add_input(f, "in", {2, static_cast<std::int64_t>(L)});
        {
            auto g = f.node("conv", "Conv1d");
            put_array(g, "weight", w, {C_out, 1, K});
            put_ints(g, "stride", {1}, true);
            put_string(g, "padding", "same");
            put_ints(g, "dilation", {static_cast<std::int64_t>(dil)}, true);
            put_ints(g, "groups", {2}, true);
            put_array(g, "bias", std::vector<double>(C_out, 0.0), {C_out});
            put_ints(g, "input_shape", {static_cast<std::int64_t>(L)}, true);
        }
        add_lif(f, "lif", {C_out, L});
        f.edges({{"in", "conv"}, {"conv", "lif"}});
    }
    dense_map ref;
    for (std::size_t oc = 0; oc < C_out; ++oc) {
        const std::size_t ic = oc / 2;  // group of the output channel
        for (std::size_t ox = 0; ox < L; ++ox)
            for (std::size_t k = 0; k < K; ++k) {
                const long ix = static_cast<long>(ox + k * dil) - 2;
                if (ix < 0 || ix >= static_cast<long>(L) || w[oc * K + k] == 0.0) continue;
                ref[{static_cast<std::uint32_t>(ic * L + static_cast<std::size_t>(ix)), static_cast<std::uint32_t>(oc * L + ox)}] += w[oc * K + k];
            }
    }
    const auto spec = nir::import_nir(path, builtin_models());
    require_same(synapses_between(spec, "in", "lif"), ref);
}

TEST_CASE("NIR SumPool2d and AvgPool2d: a synapse from each pixel of the window, weight 1 or 1/(k k)", "[nir][unit]") {
    const std::string type = GENERATE(std::string("SumPool2d"), std::string("AvgPool2d"));
    const auto dir = temp_dir("nir_pool");
    const auto path = (dir / "pool.nir").string();
    {
        nir_file f(path);
        add_input(f, "in", {2, 4, 4});
        {
            auto g = f.node("pool", type);
            put_ints(g, "kernel_size", {2, 2});
            put_ints(g, "stride", {2, 2});
            put_ints(g, "padding", {0, 0});
        }
        add_lif(f, "lif", {2, 2, 2});
        f.edges({{"in", "pool"}, {"pool", "lif"}});
    }
    const double w = type == "AvgPool2d" ? 0.25 : 1.0;
    dense_map ref;
    for (std::uint32_t c = 0; c < 2; ++c)
        for (std::uint32_t oy = 0; oy < 2; ++oy)
            for (std::uint32_t ox = 0; ox < 2; ++ox)
                for (std::uint32_t dy = 0; dy < 2; ++dy)
                    for (std::uint32_t dx = 0; dx < 2; ++dx)
                        ref[{(c * 4 + 2 * oy + dy) * 4 + 2 * ox + dx, (c * 2 + oy) * 2 + ox}] = w;
    const auto spec = nir::import_nir(path, builtin_models());
    REQUIRE(spec.projections.size() == 1);
    CHECK(spec.projections[0].name == "pool");
    require_same(synapses_between(spec, "in", "lif"), ref);
}

TEST_CASE("NIR Flatten is the identity on indices and changes only the shape", "[nir][unit]") {
    const auto dir = temp_dir("nir_flatten");
    auto write = [&](const std::string& name, std::int64_t start, std::vector<std::size_t> lif_shape) {
        const auto path = (dir / name).string();
        nir_file f(path);
        add_input(f, "in", {2, 3, 3});
        {
            auto g = f.node("flat", "Flatten");
            put_ints(g, "start_dim", {start}, true);
            put_ints(g, "end_dim", {-1}, true);
            put_ints(g, "input_type", {2, 3, 3});
        }
        add_lif(f, "lif", lif_shape);
        f.edges({{"in", "flat"}, {"flat", "lif"}});
        return path;
    };
    dense_map ref;
    for (std::uint32_t i = 0; i < 18; ++i) ref[{i, i}] = 1.0;
    require_same(synapses_between(nir::import_nir(write("all.nir", 0, {18}), builtin_models()), "in", "lif"), ref);
    // start_dim 1: [2, 3, 3] -> [2, 9]
    require_same(synapses_between(nir::import_nir(write("part.nir", 1, {2, 9}), builtin_models()), "in", "lif"), ref);
    REQUIRE_THROWS_WITH(nir::import_nir(write("bad.nir", 1, {9, 2}), builtin_models()),
                        Contains("node 'lif': edge 'flat' -> 'lif': 'flat' gives [2, 9] (18 values), 'lif' takes [9, 2] (18 values)"));
}

TEST_CASE("an Affine bias is a constant current: v follows the analytic LIF solution", "[nir][unit]") {
    const auto dir = temp_dir("nir_bias");
    const auto path = (dir / "bias.nir").string();
    // tau dv/dt = (v_leak - v) + r (W x + b): with no input spikes v -> v_leak + r b.
    const double tau = 0.02, r = 10.0, v_leak = -70.0;
    const std::vector<double> b = {0.5, 0.5, 1.0};
    {
        nir_file f(path);
        add_input(f, "in", {1});
        {
            auto g = f.node("aff", "Affine");
            put_array(g, "weight", {1.0, 0.0, 0.0}, {3, 1});
            put_array(g, "bias", b, {3});
        }
        {
            auto g = f.node("lif", "LIF");
            put_array(g, "tau", {tau, tau, tau}, {3});
            put_array(g, "r", {r, r, r}, {3});
            put_array(g, "v_leak", {v_leak, v_leak, v_leak}, {3});
            put_array(g, "v_threshold", {0.0, 0.0, 0.0}, {3});
            put_array(g, "v_reset", {-80.0, -80.0, -80.0}, {3});
        }
        f.edges({{"in", "aff"}, {"aff", "lif"}});
    }
    auto spec = nir::import_nir(path, builtin_models());
    const auto& p = spec.populations.at(1);
    // the value most neurons share is I_e = r b C / tau_m; the other one a step current from t = 0
    const double C = p.params.at("C_m").values[0];
    CHECK(p.params.at("I_e").values[0] == Approx(r * 0.5 * C / 20.0));
    REQUIRE(spec.stimuli.size() == 1);
    CHECK(spec.stimuli[0].type == "step_current");
    CHECK(spec.stimuli[0].neurons == std::vector<std::uint32_t>{2});
    CHECK(spec.stimuli[0].times == std::vector<double>{0.0});
    CHECK(spec.stimuli[0].amplitudes[0] == Approx(r * 0.5 * C / 20.0));
    CHECK(spec.projections.size() == 1);  // the weight of input 0 onto neuron 0

    spec.simulation.duration = 60.0;
    state_recorder_spec rec;
    rec.name = "v";
    rec.population = "lif";
    rec.variables = {"v"};
    spec.state_recorders = {rec};
    const auto c = run(spec);
    for (std::size_t j = 0; j < 3; ++j) {
        const auto v = c.trace(0, 0, j);
        REQUIRE(v.size() == 600);
        for (std::size_t k = 0; k < v.size(); k += 7) {
            const double t = static_cast<double>(k) * 0.1e-3;  // sample k is v at time k dt
            INFO("neuron " << j << " t = " << t);
            CHECK(v[k] == Approx(v_leak + r * b[j] * (1.0 - std::exp(-t / tau))).margin(2e-4));
        }
    }
    CHECK(c.spikes.empty());
}

TEST_CASE("NIR LI and CubaLI are leaky integrators that never spike, and their v is recorded", "[nir][unit]") {
    const auto dir = temp_dir("nir_li");
    const auto path = (dir / "li.nir").string();
    // neuron 0: a constant input b = 2 (bias); neuron 1: one spike of weight 0.01 at 5 ms.
    const double tau = 0.01, r = 3.0, v_leak = 1.0;
    {
        nir_file f(path);
        add_input(f, "in", {1});
        {
            auto g = f.node("aff", "Affine");
            put_array(g, "weight", {0.0, 0.01}, {2, 1});
            put_array(g, "bias", {2.0, 0.0}, {2});
        }
        {
            auto g = f.node("li", "LI");
            put_array(g, "tau", {tau, tau}, {2});
            put_array(g, "r", {r, r}, {2});
            put_array(g, "v_leak", {v_leak, v_leak}, {2});
        }
        {
            auto g = f.node("culi", "CubaLI");
            put_array(g, "tau_mem", {tau}, {1});
            put_array(g, "tau_syn", {0.002}, {1});
            put_array(g, "r", {r}, {1});
            put_array(g, "v_leak", {0.0}, {1});
            put_array(g, "w_in", {1.0}, {1});
        }
        {
            auto g = f.node("lin", "Linear");
            put_array(g, "weight", {1.0}, {1, 1});
        }
        add_output(f, "out", {2});
        f.edges({{"in", "aff"}, {"aff", "li"}, {"li", "out"}, {"in", "lin"}, {"lin", "culi"}});
    }
    auto spec = nir::import_nir(path, builtin_models());
    const auto& li = *spec.find_population("li");
    CHECK(li.model == "lif_curr_delta");
    CHECK(std::isinf(li.params.at("V_th").values[0]));
    CHECK(li.params.at("t_ref").values[0] == 0.0);
    CHECK(spec.find_population("culi")->model == "lif_curr_exp");
    CHECK(std::isinf(spec.find_population("culi")->params.at("V_th").values[0]));
    CHECK(spec.spike_recorders.empty());
    REQUIRE(spec.state_recorders.size() == 1);  // the Output follows li
    CHECK(spec.state_recorders[0].population == "li");
    CHECK(spec.state_recorders[0].variables == std::vector<std::string>{"v"});

    spec.populations[spec.population_index("in")].params["spike_times"].trains = {{5.0}};
    spec.simulation.duration = 40.0;
    const auto c = run(spec);
    CHECK(c.spikes.size() == 1);  // the input's only
    const auto v0 = c.trace(0, 0, 0), v1 = c.trace(0, 0, 1);
    // v relaxes to v_leak + r b with time constant tau: at t = tau it has come 1 - 1/e of the way
    CHECK(v0.at(100) == Approx(v_leak + r * 2.0 * (1.0 - std::exp(-1.0))).epsilon(1e-5));
    CHECK(v0.back() == Approx(v_leak + r * 2.0 * (1.0 - std::exp(-0.0399 / tau))).epsilon(1e-5));
    // the spike (step 50) arrives one step later, at 5.1 ms: a jump of r w / tau, then decay
    CHECK(v1.at(50) == Approx(v_leak));
    CHECK(v1.at(51) == Approx(v_leak + r * 0.01 / tau).epsilon(1e-5));
    CHECK(v1.at(151) == Approx(v_leak + r * 0.01 / tau * std::exp(-1.0)).epsilon(1e-5));
}

TEST_CASE("NIR I integrates its input without leak", "[nir][unit]") {
    const auto dir = temp_dir("nir_i");
    const auto path = (dir / "i.nir").string();
    {
        nir_file f(path);
        add_input(f, "in", {1});
        {
            auto g = f.node("aff", "Affine");
            put_array(g, "weight", {0.0}, {1, 1});
            put_array(g, "bias", {4.0}, {1});
        }
        {
            auto g = f.node("acc", "I");
            put_array(g, "r", {50.0}, {1});
        }
        f.edges({{"in", "aff"}, {"aff", "acc"}});
    }
    auto spec = nir::import_nir(path, builtin_models());
    REQUIRE(spec.state_recorders.size() == 1);  // no Output: every neuron population is recorded
    spec.simulation.duration = 100.0;
    const auto c = run(spec);
    const auto v = c.trace(0, 0, 0);
    // dv/dt = r b = 200 mV/s
    for (std::size_t k = 0; k < v.size(); k += 100) CHECK(v[k] == Approx(200.0 * static_cast<double>(k) * 1e-4).epsilon(1e-4).margin(1e-6));
    CHECK(v.back() == Approx(200.0 * 0.0999).epsilon(1e-4));
}

TEST_CASE("NIR Threshold spikes exactly in the steps whose input exceeds the threshold", "[nir][unit]") {
    const auto dir = temp_dir("nir_threshold");
    const auto path = (dir / "th.nir").string();
    {
        nir_file f(path);
        add_input(f, "in", {3});
        {
            auto g = f.node("lin", "Linear");
            put_array(g, "weight", {1.0, 0.5, 0.6}, {1, 3});
        }
        {
            auto g = f.node("th", "Threshold");
            put_array(g, "threshold", {1.0}, {1});
        }
        add_output(f, "out", {1});
        f.edges({{"in", "lin"}, {"lin", "th"}, {"th", "out"}});
    }
    auto spec = nir::import_nir(path, builtin_models());
    CHECK(spec.find_population("th")->model == "threshold");
    CHECK(spec.spike_recorders == std::vector<std::string>{"th"});
    // input 1.0 (= threshold: no spike) at 10 ms; 1.1 at 20 ms; 0.5 at 30 ms; 0.6 in two
    // consecutive steps at 40 ms (memoryless: no spike); 1.5 at 50 ms
    spec.populations[0].params["spike_times"].trains = {{10.0, 50.0}, {20.0, 30.0, 50.0}, {20.0, 40.0, 40.1}};
    spec.simulation.duration = 60.0;
    const auto c = run(spec);
    std::vector<std::uint64_t> steps;
    for (const auto& s : c.spikes)
        if (s.pop == 1) steps.push_back(s.step);
    CHECK(steps == std::vector<std::uint64_t>{201, 501});
}

TEST_CASE("NIR round trip of LI, I, CubaLI and Threshold populations", "[nir][unit]") {
    const auto dir = temp_dir("nir_roundtrip_new");
    const auto path = (dir / "rt.nir").string();
    auto spec = parse(R"(
simulation: {dt: 0.1 ms, duration: 50 ms, seed: 3}
populations:
  drive: {size: 2, model: spike_array, params: {spike_times: [[5 ms, 20 ms], [10 ms, 20 ms]]}}
  li: {size: 2, model: lif_curr_delta, params: {tau_m: 12 ms, C_m: 200 pF, E_L: -60 mV, V_reset: -60 mV, t_ref: 0 ms, I_e: 20 pA}}
  integ: {size: 1, model: lif_curr_delta, params: {tau_m: 1000000000000 ms, V_th: 100 mV, E_L: 0 mV, V_reset: 0 mV, t_ref: 0 ms}}
  culi: {size: 2, model: lif_curr_exp, params: {tau_m: 15 ms, C_m: 150 pF, E_L: -65 mV, V_reset: -65 mV, t_ref: 0 ms, tau_syn_ex: 3 ms, tau_syn_in: 3 ms}}
  thr: {size: 2, model: threshold, params: {threshold: 1.5 pA}}
projections:
  a: {source: drive, target: li, receptor: ex, weight: 2 mV, connector: all_to_all}
  b: {source: drive, target: integ, receptor: in, weight: -1 mV, connector: all_to_all}
  c: {source: drive, target: culi, receptor: ex, weight: 30 pA, connector: one_to_one}
  d: {source: drive, target: thr, receptor: ex, weight: 1 pA, connector: all_to_all}
)");
    for (const char* p : {"li", "integ", "culi"})
        spec.populations[spec.population_index(p)].params["V_th"].values = {std::numeric_limits<double>::infinity()};
    simulation sim(spec, builtin_models());
    const auto rep = nir::export_nir(spec, sim, path);
    CHECK(rep.approximations.empty());
    {
        h5::handle f = h5::open_file(path);
        auto type = [&](const std::string& n) { return h5::read_strings(f, "/node/nodes/" + n + "/type", path).at(0); };
        CHECK(type("li") == "LI");
        CHECK(type("integ") == "I");
        CHECK(type("culi") == "CubaLI");
        CHECK(type("thr") == "Threshold");
    }
    auto back = nir::import_nir(path, builtin_models());
    for (const auto& p : spec.populations) {
        const auto* q = back.find_population(p.name);
        REQUIRE(q);
        CHECK(q->model == p.model);
        CHECK(q->size == p.size);
        for (const auto& [k, v] : p.params) {
            if (k == "spike_times") continue;
            INFO(p.name << "." << k);
            CHECK(q->params.at(k).values.at(0) == Approx(v.values.at(0)).epsilon(1e-6).margin(1e-9));
        }
    }
    simulation sim2(back, builtin_models());
    REQUIRE(back.projections.size() == spec.projections.size());
    for (std::size_t j = 0; j < spec.projections.size(); ++j) {
        std::size_t j2 = 0;
        while (j2 < back.projections.size() && back.projections[j2].name != spec.projections[j].name) ++j2;
        REQUIRE(j2 < back.projections.size());
        const auto x = sim.synapses(j), y = sim2.synapses(j2);
        CHECK(x.pre == y.pre);
        CHECK(x.post == y.post);
        CHECK(x.delay == y.delay);
        REQUIRE(x.weight.size() == y.weight.size());
        for (std::size_t k = 0; k < x.size(); ++k) CHECK(y.weight[k] == Approx(x.weight[k]).epsilon(1e-6));
    }
    // same spikes of the threshold units (2 pA > 1.5 pA at 20 ms only), once the input is set again
    back.populations[back.population_index("drive")].params["spike_times"] =
        spec.populations[spec.population_index("drive")].params.at("spike_times");
    back.simulation.duration = spec.simulation.duration;
    const auto c1 = run(spec), c2 = run(back);
    auto thr_spikes = [](const network_spec& s, const capture& c) {
        std::vector<std::pair<std::uint64_t, std::uint32_t>> v;
        for (const auto& x : c.spikes)
            if (s.populations[x.pop].name == "thr") v.emplace_back(x.step, x.id);
        return v;
    };
    CHECK(thr_spikes(spec, c1) == std::vector<std::pair<std::uint64_t, std::uint32_t>>{{201, 0}, {201, 1}});
    CHECK(thr_spikes(back, c2) == thr_spikes(spec, c1));
}

TEST_CASE("NIR import errors for convolutions, pooling and shapes name the node", "[nir][unit]") {
    const auto dir = temp_dir("nir_conv_errors");
    auto imp = [&](const std::string& variant) {
        const auto path = (dir / (variant + ".nir")).string();
        {
            nir_file f(path);
            add_input(f, "in", {variant == "channels" ? 3 : 2, 5, 5});
            if (variant == "rank") {
                auto g = f.node("conv", "Conv2d");
                put_array(g, "weight", std::vector<double>(18, 1.0), {3, 2, 3});
            } else {
                add_conv2d(f, "conv", 3, 2, 3, 1, 1);
            }
            if (variant == "pool") {
                auto g = f.node("pool", "AvgPool2d");
                put_ints(g, "stride", {2, 2});
            }
            add_lif(f, "lif", variant == "edge" ? std::vector<std::size_t>{40} : variant == "pool" ? std::vector<std::size_t>{3, 2, 2} : std::vector<std::size_t>{3, 5, 5});
            if (variant == "pool") f.edges({{"in", "conv"}, {"conv", "pool"}, {"pool", "lif"}});
            else f.edges({{"in", "conv"}, {"conv", "lif"}});
        }
        nir::import_nir(path, builtin_models());
    };
    REQUIRE_NOTHROW(imp("ok"));
    REQUIRE_THROWS_AS(imp("rank"), io_error);
    REQUIRE_THROWS_WITH(imp("rank"), Contains("node 'conv': 'weight' has shape [3, 2, 3], expected [C_out, C_in, kH, kW]"));
    REQUIRE_THROWS_WITH(imp("edge"), Contains("node 'lif': edge 'conv' -> 'lif': 'conv' gives [3, 5, 5] (75 values), 'lif' takes [40] (40 values)"));
    REQUIRE_THROWS_WITH(imp("pool"), Contains("node 'pool': missing parameter 'kernel_size'"));
    REQUIRE_THROWS_WITH(imp("channels"), Contains("node 'conv': 'weight' [3, 2, 3, 3] with groups = 1 takes 2 input channels, the input has shape [3, 5, 5]"));
}
