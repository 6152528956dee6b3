// NIR graph -> engram network_spec.
//
// Nodes that hold neurons become populations: Input -> spike_array (no spikes: the user
// supplies them), LIF and IF -> lif_curr_delta, CubaLIF -> lif_curr_exp, the non-spiking
// LI and I -> lif_curr_delta and CubaLI -> lif_curr_exp with V_th = +inf, Threshold ->
// threshold. Every path of edges from one population to another through the linear
// nodes (Linear, Affine, Scale, Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten) and Delay
// becomes a from_list projection holding the nonzero entries of the composed (sparse)
// weight matrix: positive weights on receptor `ex`, negative ones on `in` (sign kept).
// Values are indexed in C order ((channel, y, x) for images), as NIR and PyTorch flatten
// them, and shapes are carried along each path from the populations' shapes. Biases
// (Affine, Conv) become constant input currents of the populations they reach. Output
// nodes mark the populations whose spikes (or, for non-spiking ones, v) are recorded.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "engram/core/errors.hpp"
#include "engram/nir/nir.hpp"
#include "nir_h5.hpp"

namespace engram::nir {
namespace {

using detail::array;
using shape_t = std::vector<std::size_t>;
using sparse_row = std::vector<std::pair<std::uint32_t, double>>;

constexpr double inf = std::numeric_limits<double>::infinity();

template <class T>
std::string shape_text(const std::vector<T>& s) {
    std::string t = "[";
    for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
    return t + "]";
}

template <class T>
std::size_t count_of(const std::vector<T>& s) {
    std::size_t n = 1;
    for (auto d : s) n *= static_cast<std::size_t>(d);
    return n;
}

shape_t to_shape(const std::vector<hsize_t>& s) { return {s.begin(), s.end()}; }

struct reader {
    std::string path;
    h5::handle file, nodes;
    std::map<std::string, std::string> type;  // node name -> NIR type
    double ts = 1e3;                          // file time unit -> ms
    mutable bool single = false;              // a parameter of the current node was float32

    [[noreturn]] void fail(const std::string& node, const std::string& what) const {
        throw io_error(path, "import", "node '" + node + "': " + what);
    }
    h5::handle group(const std::string& n) const { return h5::open_group(nodes, n, path); }

    array get(const std::string& node, const std::string& p) const {
        const auto g = group(node);
        if (!h5::exists(g, p)) fail(node, "missing parameter '" + p + "' (a " + type.at(node) + " node needs it)");
        if (is_string(node, p)) fail(node, "parameter '" + p + "' is a string, expected numbers");
        return detail::read_array(g, p, path);
    }
    bool has(const std::string& node, const std::string& p) const { return h5::exists(group(node), p); }
    bool is_string(const std::string& node, const std::string& p) const {
        const auto ds = h5::open_dataset(group(node), p, path);
        h5::handle t(H5Dget_type(ds), H5Tclose);
        return H5Tget_class(t) == H5T_STRING;
    }

    // A neuron parameter: its shape must be `shape` (a single value is broadcast where NIR
    // allows a default); engram needs one value per population.
    double uniform(const std::string& node, const std::string& p, const std::vector<hsize_t>& shape,
                   std::optional<double> dflt = std::nullopt, bool scalar_ok = false) const {
        if (dflt && !has(node, p)) return *dflt;
        const array a = get(node, p);
        single |= a.single;
        const bool ok = a.shape == shape || (scalar_ok && a.values.size() == 1);
        if (!ok) fail(node, "parameter '" + p + "' has shape " + shape_text(a.shape) + ", expected " + shape_text(shape));
        if (a.values.empty()) fail(node, "parameter '" + p + "' is empty");
        for (double v : a.values)
            if (std::fabs(v - a.values[0]) > 1e-6 * std::fabs(a.values[0]))
                fail(node, "parameter '" + p + "' differs between neurons; engram needs one value per population");
        if (!std::isfinite(a.values[0])) fail(node, "parameter '" + p + "' is not finite");
        return a.values[0];
    }

    // Integer hyper-parameters of convolutions and pooling: one number for every spatial
    // dimension, or `dims` numbers; `dflt` when absent (none: required).
    std::vector<std::size_t> ints(const std::string& node, const std::string& p, std::size_t dims,
                                  std::optional<std::size_t> dflt, std::size_t min) const {
        if (dflt && !has(node, p)) return std::vector<std::size_t>(dims, *dflt);
        const array a = get(node, p);
        if (a.values.size() != 1 && a.values.size() != dims)
            fail(node, "parameter '" + p + "' has shape " + shape_text(a.shape) + ", expected one number or " + std::to_string(dims));
        std::vector<std::size_t> out;
        for (std::size_t d = 0; d < dims; ++d) {
            const double v = a.values[a.values.size() == 1 ? 0 : d];
            if (!(v >= static_cast<double>(min)) || v != std::floor(v) || v > 1e9)
                fail(node, "parameter '" + p + "' must hold integers >= " + std::to_string(min));
            out.push_back(static_cast<std::size_t>(v));
        }
        return out;
    }

    std::optional<double> meta(const std::string& node, const std::string& k) const {
        const auto g = group(node);
        if (!h5::exists(g, "metadata/" + k)) return std::nullopt;
        const auto md = h5::open_group(g, "metadata", path);
        const array a = detail::read_array(md, k, path);
        if (a.values.size() != 1) return std::nullopt;
        return a.values[0];
    }

    // The shape a node declares for its input: NIR's `input_type` (a dataset, as Flatten
    // writes it, or a group holding `input`), if present.
    std::optional<shape_t> declared_input(const std::string& node) const {
        const auto g = group(node);
        if (!h5::exists(g, "input_type")) return std::nullopt;
        std::string p = "input_type";
        {
            const h5::handle o(H5Oopen(g, p.c_str(), H5P_DEFAULT), H5Oclose);
            if (!o.valid()) return std::nullopt;
            const H5I_type_t kind = H5Iget_type(o);
            if (kind == H5I_GROUP) p = "input_type/input";
            else if (kind != H5I_DATASET) return std::nullopt;
        }
        if (!h5::exists(g, p)) return std::nullopt;
        if (is_string(node, p)) return std::nullopt;
        const array a = detail::read_array(g, p, path);
        shape_t s;
        for (double v : a.values) {
            if (!(v >= 1) || v != std::floor(v)) fail(node, "'" + p + "' must hold positive integers");
            s.push_back(static_cast<std::size_t>(v));
        }
        if (s.empty()) return std::nullopt;
        return s;
    }
};

struct pop_info {
    std::size_t index;
    std::uint32_t size;
    shape_t shape;
    double factor = 1.0;       // NIR input weight -> engram weight
    double bias_factor = 1.0;  // constant NIR input -> engram current (pA)
    bool spiking = true;
};

// A linear node on flat C-order indices: out[o] = sum over taps[o] of w in[k], + bias[o].
struct linear_op {
    shape_t out_shape;
    std::vector<sparse_row> taps;  // per output: (input index, weight); empty op = reshape only
    bool reshape_only = false;
    std::vector<double> bias;      // empty: none
};

// The values at a point of a path that starts at a population: each is a weighted sum of
// the population's neurons (`rows`), delayed by `delay` ms (empty: no Delay on the path).
// A bias path carries constants instead (`constant`, no rows).
struct flow {
    shape_t shape;
    std::vector<sparse_row> rows;
    std::vector<double> constant;
    std::vector<double> delay;
};

bool all_zero(const std::vector<double>& v) {
    return std::all_of(v.begin(), v.end(), [](double x) { return x == 0.0; });
}

// Convolution (dims = 1 or 2 spatial dimensions), PyTorch's definition (cross-correlation).
linear_op conv_op(const reader& r, const std::string& x, const shape_t& in, std::size_t dims) {
    const array w = r.get(x, "weight");
    if (w.shape.size() != dims + 2)
        r.fail(x, "'weight' has shape " + shape_text(w.shape) + ", expected " + (dims == 2 ? "[C_out, C_in, kH, kW]" : "[C_out, C_in, k]"));
    const auto c_out = static_cast<std::size_t>(w.shape[0]), c_grp = static_cast<std::size_t>(w.shape[1]);
    const std::size_t groups = r.ints(x, "groups", 1, 1, 1)[0];
    if (c_out % groups) r.fail(x, "groups = " + std::to_string(groups) + " does not divide C_out = " + std::to_string(c_out));
    const std::size_t c_in = c_grp * groups;
    std::vector<std::size_t> k(dims);
    for (std::size_t d = 0; d < dims; ++d) k[d] = static_cast<std::size_t>(w.shape[2 + d]);
    // Input shape [C_in, spatial...]: from the edge, or from the node's input_shape.
    shape_t s = in;
    if (r.has(x, "input_shape")) {
        const auto sp = r.ints(x, "input_shape", dims, std::nullopt, 1);
        shape_t want{c_in};
        want.insert(want.end(), sp.begin(), sp.end());
        if (count_of(in) != count_of(want) || (in.size() > 1 && in != want))
            r.fail(x, "its input has shape " + shape_text(in) + ", but 'input_shape' and 'weight' say " + shape_text(want));
        s = want;
    } else if (in.size() != dims + 1) {
        r.fail(x, "needs an input of shape " + std::string(dims == 2 ? "[C, H, W]" : "[C, L]") + ", gets " + shape_text(in) + " (give 'input_shape')");
    }
    if (s[0] != c_in)
        r.fail(x, "'weight' " + shape_text(w.shape) + " with groups = " + std::to_string(groups) + " takes " + std::to_string(c_in) +
                      " input channels, the input has shape " + shape_text(s));
    const auto stride = r.ints(x, "stride", dims, 1, 1), dil = r.ints(x, "dilation", dims, 1, 1);
    std::vector<std::size_t> pad_lo(dims, 0), pad_hi(dims, 0);
    if (r.has(x, "padding") && r.is_string(x, "padding")) {
        const auto g = r.group(x);
        const auto p = h5::read_strings(g, "padding", r.path);
        if (p.size() != 1 || (p[0] != "same" && p[0] != "valid")) r.fail(x, "'padding' must be 'same', 'valid' or integers");
        if (p[0] == "same")
            for (std::size_t d = 0; d < dims; ++d) {
                if (stride[d] != 1) r.fail(x, "padding 'same' needs stride 1");
                const std::size_t total = dil[d] * (k[d] - 1);  // PyTorch: the extra one goes after
                pad_lo[d] = total / 2;
                pad_hi[d] = total - pad_lo[d];
            }
    } else {
        pad_lo = pad_hi = r.ints(x, "padding", dims, 0, 0);
    }
    linear_op op;
    op.out_shape = {c_out};
    std::vector<std::size_t> n_in(dims), n_out(dims);
    for (std::size_t d = 0; d < dims; ++d) {
        n_in[d] = s[1 + d];
        const std::size_t span = dil[d] * (k[d] - 1) + 1, padded = n_in[d] + pad_lo[d] + pad_hi[d];
        if (padded < span) r.fail(x, "the kernel is larger than the padded input " + shape_text(s));
        n_out[d] = (padded - span) / stride[d] + 1;
        op.out_shape.push_back(n_out[d]);
    }
    const std::size_t H = dims == 2 ? n_in[0] : 1, W = n_in[dims - 1];
    const std::size_t OH = dims == 2 ? n_out[0] : 1, OW = n_out[dims - 1];
    const std::size_t KH = dims == 2 ? k[0] : 1, KW = k[dims - 1];
    const std::size_t SH = dims == 2 ? stride[0] : 1, SW = stride[dims - 1];
    const std::size_t DH = dims == 2 ? dil[0] : 1, DW = dil[dims - 1];
    const auto PH = static_cast<std::ptrdiff_t>(dims == 2 ? pad_lo[0] : 0), PW = static_cast<std::ptrdiff_t>(pad_lo[dims - 1]);
    op.taps.resize(c_out * OH * OW);
    const std::size_t c_out_grp = c_out / groups;
    for (std::size_t oc = 0; oc < c_out; ++oc) {
        const std::size_t g = oc / c_out_grp;
        for (std::size_t oy = 0; oy < OH; ++oy)
            for (std::size_t ox = 0; ox < OW; ++ox) {
                auto& taps = op.taps[(oc * OH + oy) * OW + ox];
                for (std::size_t icl = 0; icl < c_grp; ++icl) {
                    const std::size_t ic = g * c_grp + icl;
                    for (std::size_t ky = 0; ky < KH; ++ky) {
                        const auto iy = static_cast<std::ptrdiff_t>(oy * SH + ky * DH) - PH;
                        if (iy < 0 || iy >= static_cast<std::ptrdiff_t>(H)) continue;
                        for (std::size_t kx = 0; kx < KW; ++kx) {
                            const auto ix = static_cast<std::ptrdiff_t>(ox * SW + kx * DW) - PW;
                            if (ix < 0 || ix >= static_cast<std::ptrdiff_t>(W)) continue;
                            const double wk = w.values[((oc * c_grp + icl) * KH + ky) * KW + kx];
                            if (wk == 0.0) continue;
                            taps.emplace_back(static_cast<std::uint32_t>((ic * H + static_cast<std::size_t>(iy)) * W + static_cast<std::size_t>(ix)), wk);
                        }
                    }
                }
                std::sort(taps.begin(), taps.end());
            }
    }
    if (r.has(x, "bias")) {
        const array b = r.get(x, "bias");
        if (b.values.size() != c_out && !(b.values.size() == 1 && b.shape.empty()))
            r.fail(x, "'bias' has shape " + shape_text(b.shape) + ", expected [" + std::to_string(c_out) + "]");
        if (!all_zero(b.values)) {
            op.bias.resize(op.taps.size());
            for (std::size_t o = 0; o < op.taps.size(); ++o) op.bias[o] = b.values[b.values.size() == 1 ? 0 : o / (OH * OW)];
        }
    }
    return op;
}

// SumPool2d and AvgPool2d (PyTorch's, with count_include_pad: an average always divides
// by kH kW).
linear_op pool_op(const reader& r, const std::string& x, const shape_t& in, bool average) {
    if (in.size() != 3) r.fail(x, "needs an input of shape [C, H, W], gets " + shape_text(in));
    const auto k = r.ints(x, "kernel_size", 2, std::nullopt, 1);
    const auto stride = r.ints(x, "stride", 2, std::nullopt, 1);
    const auto pad = r.ints(x, "padding", 2, 0, 0);
    const std::size_t C = in[0], H = in[1], W = in[2];
    if (H + 2 * pad[0] < k[0] || W + 2 * pad[1] < k[1]) r.fail(x, "the kernel is larger than the padded input " + shape_text(in));
    const std::size_t OH = (H + 2 * pad[0] - k[0]) / stride[0] + 1, OW = (W + 2 * pad[1] - k[1]) / stride[1] + 1;
    const double w = average ? 1.0 / static_cast<double>(k[0] * k[1]) : 1.0;
    linear_op op;
    op.out_shape = {C, OH, OW};
    op.taps.resize(C * OH * OW);
    for (std::size_t c = 0; c < C; ++c)
        for (std::size_t oy = 0; oy < OH; ++oy)
            for (std::size_t ox = 0; ox < OW; ++ox) {
                auto& taps = op.taps[(c * OH + oy) * OW + ox];
                for (std::size_t ky = 0; ky < k[0]; ++ky) {
                    const auto iy = static_cast<std::ptrdiff_t>(oy * stride[0] + ky) - static_cast<std::ptrdiff_t>(pad[0]);
                    if (iy < 0 || iy >= static_cast<std::ptrdiff_t>(H)) continue;
                    for (std::size_t kx = 0; kx < k[1]; ++kx) {
                        const auto ix = static_cast<std::ptrdiff_t>(ox * stride[1] + kx) - static_cast<std::ptrdiff_t>(pad[1]);
                        if (ix < 0 || ix >= static_cast<std::ptrdiff_t>(W)) continue;
                        taps.emplace_back(static_cast<std::uint32_t>((c * H + static_cast<std::size_t>(iy)) * W + static_cast<std::size_t>(ix)), w);
                    }
                }
            }
    return op;
}

// Flatten: the identity on C-order indices; only the shape changes (NIR's calc_flatten_output).
linear_op flatten_op(const reader& r, const std::string& x, const shape_t& in) {
    auto dim = [&](const char* p, double dflt) {
        if (!r.has(x, p)) return dflt;
        const array a = r.get(x, p);
        if (a.values.size() != 1 || a.values[0] != std::floor(a.values[0])) r.fail(x, std::string("'") + p + "' must be one integer");
        return a.values[0];
    };
    const auto rank = static_cast<double>(in.size());
    double sd = dim("start_dim", 1), ed = dim("end_dim", -1);
    if (sd < 0) sd += rank;
    if (ed < 0) ed += rank;
    linear_op op;
    op.reshape_only = true;
    op.out_shape = in;
    if (sd < 0 || ed >= rank || sd >= ed) return op;  // nothing to merge
    const auto s = static_cast<std::size_t>(sd), e = static_cast<std::size_t>(ed);
    op.out_shape.assign(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(s));
    std::size_t merged = 1;
    for (std::size_t d = s; d <= e; ++d) merged *= in[d];
    op.out_shape.push_back(merged);
    op.out_shape.insert(op.out_shape.end(), in.begin() + static_cast<std::ptrdiff_t>(e) + 1, in.end());
    return op;
}

}  // namespace

network_spec import_nir(const std::string& path, const model_registry& models) {
    reader r;
    r.path = path;
    r.file = h5::open_file(path);
    if (!h5::exists(r.file, "node") || !h5::exists(r.file, "node/type"))
        throw io_error(path, "import", "not a NIR file (no /node/type)");
    const h5::handle top = h5::open_group(r.file, "node", path);
    const auto top_type = h5::read_strings(top, "type", path);
    if (top_type.size() != 1 || top_type[0] != "NIRGraph")
        throw io_error(path, "import", "the top node is a '" + (top_type.empty() ? std::string() : top_type[0]) + "', not a NIRGraph");
    if (!h5::exists(top, "nodes")) throw io_error(path, "import", "the graph has no 'nodes' group");
    if (!h5::exists(top, "edges")) throw io_error(path, "import", "the graph has no 'edges'");
    r.nodes = h5::open_group(top, "nodes", path);

    network_spec spec;
    if (h5::exists(top, "metadata/time_unit")) {
        const auto md = h5::open_group(top, "metadata", path);
        const auto u = h5::read_strings(md, "time_unit", path);
        if (u.size() == 1 && u[0] == "ms") r.ts = 1.0;
        else if (u.size() != 1 || u[0] != "s") throw io_error(path, "import", "metadata time_unit must be 's' or 'ms'");
    }
    if (h5::exists(top, "metadata/dt")) {
        const auto md = h5::open_group(top, "metadata", path);
        const array a = detail::read_array(md, "dt", path);
        // 12 significant digits: 1e-4 s is 0.1 ms, not 0.10000000000000002
        if (a.values.size() == 1 && a.values[0] > 0) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.12g", a.values[0] * r.ts);
            spec.simulation.dt = std::strtod(buf, nullptr);
        }
    }

    const std::vector<std::string> names = h5::children(r.nodes);
    for (const auto& n : names) {
        const auto g = r.group(n);
        if (!h5::exists(g, "type")) r.fail(n, "has no 'type'");
        const auto t = h5::read_strings(g, "type", path);
        if (t.size() != 1) r.fail(n, "'type' is not one string");
        r.type[n] = t[0];
    }
    const std::set<std::string> neuron_types = {"LIF", "CubaLIF", "IF", "LI", "CubaLI", "I", "Threshold"};
    const std::set<std::string> through_types = {"Linear", "Affine", "Scale", "Delay", "Conv1d", "Conv2d",
                                                 "SumPool2d", "AvgPool2d", "Flatten"};
    for (const auto& [n, t] : r.type) {
        if (t == "Input" || t == "Output" || neuron_types.count(t) || through_types.count(t)) continue;
        r.fail(n, "unsupported node '" + n + "' of type '" + t + "'");
    }

    // Populations: Inputs first, then neurons.
    std::map<std::string, pop_info> pops;
    auto new_pop = [&](const std::string& n, const std::string& model, const std::vector<hsize_t>& shape) -> population_spec& {
        population_spec p;
        p.name = n;
        p.size = static_cast<std::uint32_t>(count_of(shape));
        p.model = model;
        p.where.file = path;
        p.where.key = "nodes." + n;
        for (const auto& pi : models.get(model).params) {
            param_value v;
            if (pi.default_value) v.values.push_back(*pi.default_value);
            p.params[pi.name] = v;
        }
        pops[n] = {spec.populations.size(), p.size, to_shape(shape)};
        spec.populations.push_back(std::move(p));
        return spec.populations.back();
    };
    // Values read from float32 arrays are given float precision in engram's units, so that
    // 0.015f s becomes 15 ms, not 14.9999996647 ms.
    auto set = [&r](population_spec& p, const char* k, double v) {
        p.params[k].values = {r.single ? static_cast<double>(static_cast<float>(v)) : v};
    };
    for (const auto& n : names) {
        if (r.type[n] != "Input") continue;
        const array s = r.get(n, "shape");
        std::vector<hsize_t> shape;
        for (double d : s.values) {
            if (!(d >= 1) || d != std::floor(d)) r.fail(n, "'shape' must hold positive integers");
            shape.push_back(static_cast<hsize_t>(d));
        }
        if (s.values.empty()) r.fail(n, "'shape' is empty");
        if (count_of(shape) > std::numeric_limits<std::uint32_t>::max()) r.fail(n, "too many neurons");
        new_pop(n, "spike_array", shape);
    }
    for (const auto& n : names) {
        const std::string& t = r.type[n];
        if (!neuron_types.count(t)) continue;
        r.single = false;
        // The node's shape is that of its parameters.
        const char* shape_param = t == "Threshold" ? "threshold" : t == "I" ? "r" : t == "LI" ? "tau" : t == "CubaLI" ? "tau_mem" : "v_threshold";
        const array sh = r.get(n, shape_param);
        if (sh.values.empty()) r.fail(n, std::string("'") + shape_param + "' is empty");
        const auto& shape = sh.shape;
        const bool spiking = t == "LIF" || t == "CubaLIF" || t == "IF";
        const double v_th = spiking ? r.uniform(n, "v_threshold", shape) : inf;
        const double t_ref = r.meta(n, "t_ref").value_or(0.0) * r.ts;
        double v_reset = 0.0;
        if (spiking) {
            v_reset = r.uniform(n, "v_reset", shape, 0.0, true);
            if (!(v_reset < v_th)) r.fail(n, "v_reset must be below v_threshold");
        }
        if (t == "Threshold") {
            auto& p = new_pop(n, "threshold", shape);
            set(p, "threshold", r.uniform(n, "threshold", shape));
            pops[n].spiking = true;  // factor 1: the step's input is the sum of the weights that arrive in it
            continue;
        }
        const double res = r.uniform(n, "r", shape);
        if (t == "CubaLIF" || t == "CubaLI") {
            const double tau_syn = r.uniform(n, "tau_syn", shape), tau_mem = r.uniform(n, "tau_mem", shape);
            const double v_leak = r.uniform(n, "v_leak", shape), w_in = r.uniform(n, "w_in", shape, 1.0, true);
            if (!(tau_syn > 0) || !(tau_mem > 0) || !(res > 0)) r.fail(n, "tau_syn, tau_mem and r must be positive");
            auto& p = new_pop(n, "lif_curr_exp", shape);
            const double tau_m = tau_mem * r.ts, I_e = r.meta(n, "I_e").value_or(0.0);
            set(p, "tau_m", tau_m);
            set(p, "C_m", tau_m / res);  // tau_mem dv/dt = ... + r I  <=>  C dv/dt = ... + I
            set(p, "E_L", v_leak - res * I_e);
            set(p, "I_e", I_e);
            set(p, "tau_syn_ex", tau_syn * r.ts);
            set(p, "tau_syn_in", tau_syn * r.ts);
            set(p, "V_th", v_th);
            set(p, "V_reset", spiking ? v_reset : v_leak - res * I_e);  // never used without spikes
            set(p, "t_ref", spiking ? t_ref : 0.0);
            pops[n].factor = w_in / tau_syn;  // tau_syn dI/dt = -I + w_in S: a spike of weight w adds w_in w / tau_syn
            pops[n].bias_factor = w_in;       // a constant input b: I -> w_in b (engram's I_e)
        } else if (t == "LIF" || t == "LI") {
            const double tau = r.uniform(n, "tau", shape), v_leak = r.uniform(n, "v_leak", shape);
            if (!(tau > 0)) r.fail(n, "tau must be positive");
            auto& p = new_pop(n, "lif_curr_delta", shape);
            const double tau_m = tau * r.ts;
            const double C = r.meta(n, "C_m").value_or(p.params["C_m"].values[0]), I_e = r.meta(n, "I_e").value_or(0.0);
            set(p, "tau_m", tau_m);
            set(p, "C_m", C);
            set(p, "E_L", v_leak - tau_m / C * I_e);
            set(p, "I_e", I_e);
            set(p, "V_th", v_th);
            set(p, "V_reset", spiking ? v_reset : v_leak - tau_m / C * I_e);  // never used without spikes
            set(p, "t_ref", spiking ? t_ref : 0.0);
            pops[n].factor = res / tau;               // tau dv/dt = ... + r I: a spike of weight w makes v jump by r w / tau
            pops[n].bias_factor = res * C / tau_m;    // a constant input b moves v_inf by r b: I_e = r b C / tau_m
        } else {  // IF and I: no leak, approximated by a very long membrane time constant
            auto& p = new_pop(n, "lif_curr_delta", shape);
            set(p, "tau_m", 1e12);
            set(p, "E_L", v_reset);
            set(p, "V_th", v_th);
            set(p, "V_reset", v_reset);
            set(p, "t_ref", spiking ? t_ref : 0.0);
            pops[n].factor = res;                                      // dv/dt = r I: a spike of weight w makes v jump by r w
            pops[n].bias_factor = res * p.params["C_m"].values[0] / r.ts;  // dv/dt = r b per file time unit = I_e / C per ms
        }
        pops[n].spiking = spiking;
    }

    // Edges: an (n, 2) string dataset as nir.write makes it (also accepted: a group with
    // 'src' and 'dst' string arrays).
    std::vector<std::pair<std::string, std::string>> edges;
    {
        std::vector<std::string> src, dst;
        if (H5Oexists_by_name(top, "edges/src", H5P_DEFAULT) > 0) {
            const auto g = h5::open_group(top, "edges", path);
            src = h5::read_strings(g, "src", path);
            dst = h5::read_strings(g, "dst", path);
            if (src.size() != dst.size()) throw io_error(path, "import", "edges/src and edges/dst differ in length");
        } else {
            const auto flat = h5::read_strings(top, "edges", path);
            const auto sh = h5::shape(top, "edges", path);
            if (!flat.empty() && (sh.size() != 2 || sh[1] != 2))
                throw io_error(path, "import", "'edges' has shape " + shape_text(sh) + ", expected [n, 2]");
            for (std::size_t k = 0; k + 1 < flat.size(); k += 2) { src.push_back(flat[k]); dst.push_back(flat[k + 1]); }
        }
        for (std::size_t k = 0; k < src.size(); ++k) {
            for (const auto* e : {&src[k], &dst[k]})
                if (!r.type.count(*e))
                    throw io_error(path, "import", "edge '" + src[k] + "' -> '" + dst[k] + "': no node '" + *e + "'");
            edges.emplace_back(src[k], dst[k]);
        }
    }
    std::map<std::string, std::vector<std::string>> succ;
    for (const auto& [a, b] : edges) succ[a].push_back(b);

    // The linear node x applied to values of shape `in`.
    auto build_op = [&](const std::string& x, const shape_t& in) -> linear_op {
        const std::string& t = r.type.at(x);
        const std::size_t n_in = count_of(in);
        if (t == "Conv2d") return conv_op(r, x, in, 2);
        if (t == "Conv1d") return conv_op(r, x, in, 1);
        if (t == "SumPool2d" || t == "AvgPool2d") return pool_op(r, x, in, t == "AvgPool2d");
        if (t == "Flatten") return flatten_op(r, x, in);
        linear_op op;
        if (t == "Scale") {
            const array s = r.get(x, "scale");
            if (s.values.size() != n_in) r.fail(x, "'scale' has shape " + shape_text(s.shape) + ", expected [" + std::to_string(n_in) + "]");
            op.out_shape = in;
            op.taps.resize(n_in);
            for (std::size_t k = 0; k < n_in; ++k)
                if (s.values[k] != 0.0) op.taps[k].emplace_back(static_cast<std::uint32_t>(k), s.values[k]);
            return op;
        }
        // Linear, Affine
        const array w = r.get(x, "weight");
        if (w.shape.size() != 2 || w.shape[1] != n_in)
            r.fail(x, "'weight' has shape " + shape_text(w.shape) + ", expected [n_out, " + std::to_string(n_in) + "]");
        const auto n_out = static_cast<std::size_t>(w.shape[0]);
        op.out_shape = {n_out};
        op.taps.resize(n_out);
        for (std::size_t o = 0; o < n_out; ++o)
            for (std::size_t k = 0; k < n_in; ++k)
                if (const double wk = w.values[o * n_in + k]; wk != 0.0) op.taps[o].emplace_back(static_cast<std::uint32_t>(k), wk);
        if (t == "Affine") {
            const array b = r.get(x, "bias");
            if (b.values.size() != n_out) r.fail(x, "'bias' has shape " + shape_text(b.shape) + ", expected [" + std::to_string(n_out) + "]");
            if (!all_zero(b.values)) op.bias = b.values;
        }
        return op;
    };

    // f after the linear node x: rows (or constants) composed with the node's taps.
    auto apply = [&](const std::string& x, const flow& f, const linear_op& op, std::size_t n_pre) {
        if (op.reshape_only) {
            flow g = f;
            g.shape = op.out_shape;
            return g;
        }
        flow g;
        g.shape = op.out_shape;
        const std::size_t n_out = op.taps.size();
        const bool constants = !f.constant.empty();
        if (constants) g.constant.assign(n_out, 0.0);
        else g.rows.resize(n_out);
        if (!f.delay.empty()) g.delay.assign(n_out, 0.0);
        std::vector<double> acc(constants ? 0 : n_pre, 0.0);
        std::vector<char> seen(acc.size(), 0);
        std::vector<std::uint32_t> touched;
        for (std::size_t o = 0; o < n_out; ++o) {
            bool have_delay = false;
            for (const auto& [k, w] : op.taps[o]) {
                if (!f.delay.empty()) {
                    if (have_delay && f.delay[k] != g.delay[o])
                        r.fail(x, "inputs with different delays (from a Delay node) meet in one output; engram needs one delay per synapse path");
                    g.delay[o] = f.delay[k];
                    have_delay = true;
                }
                if (constants) { g.constant[o] += w * f.constant[k]; continue; }
                for (const auto& [i, v] : f.rows[k]) {
                    if (!seen[i]) { seen[i] = 1; touched.push_back(i); }
                    acc[i] += w * v;
                }
            }
            if (constants) continue;
            std::sort(touched.begin(), touched.end());
            for (auto i : touched) {
                if (acc[i] != 0.0) g.rows[o].emplace_back(i, acc[i]);
                acc[i] = 0.0;
                seen[i] = 0;
            }
            touched.clear();
        }
        return g;
    };

    // Walk from every population through linear and delay nodes to the next population;
    // then from every node with a bias, carrying the constant to the populations it reaches.
    std::set<std::string> recorded, proj_names;
    std::map<std::string, flow> bias_sources;             // biased node -> its bias as a flow
    std::map<std::string, std::vector<double>> pop_bias;  // population -> constant current per neuron (pA)
    const double dt = spec.simulation.dt;
    std::function<void(const std::string&, const std::string&, const std::string&, const std::string&, flow, std::size_t, int)> walk =
        [&](const std::string& pname, const std::string& from, const std::string& x, const std::string& first, flow f,
            std::size_t n_pre, int depth) {
            if (depth > 64) r.fail(x, "a cycle of nodes without neurons");
            const std::string& t = r.type.at(x);
            const bool constants = !f.constant.empty();
            auto mismatch = [&](const shape_t& want) {
                r.fail(x, "edge '" + from + "' -> '" + x + "': '" + from + "' gives " + shape_text(f.shape) + " (" +
                              std::to_string(count_of(f.shape)) + " values), '" + x + "' takes " + shape_text(want) + " (" +
                              std::to_string(count_of(want)) + " values)");
            };
            if (t == "Output") {
                if (first.empty() && !constants) recorded.insert(pname);
                return;
            }
            if (t == "Input") r.fail(x, "an Input node cannot receive edges");
            if (pops.count(x)) {
                const pop_info& tgt = pops.at(x);
                if (count_of(f.shape) != tgt.size || (f.shape.size() > 1 && tgt.shape.size() > 1 && f.shape != tgt.shape))
                    mismatch(tgt.shape);
                if (constants) {
                    auto& b = pop_bias[x];
                    b.resize(tgt.size, 0.0);
                    for (std::size_t j = 0; j < tgt.size; ++j) b[j] += f.constant[j] * tgt.bias_factor;
                    return;
                }
                auto& tp = spec.populations[tgt.index];
                const auto& info = models.get(tp.model);
                std::string base = first.empty() ? pname + "_to_" + x : first;
                projection_spec ex, in;
                ex.connector.rule = in.connector.rule = "from_list";
                for (std::size_t j = 0; j < f.rows.size(); ++j)
                    for (const auto& [i, v] : f.rows[j]) {
                        const double w = v * tgt.factor;
                        if (w == 0.0) continue;
                        auto& c = (w > 0 ? ex : in).connector;
                        c.pre.push_back(i);
                        c.post.push_back(static_cast<std::uint32_t>(j));
                        c.weight.push_back(w);
                        c.delay.push_back(f.delay.empty() ? dt : std::max(f.delay[j], dt));
                    }
                const bool both = !ex.connector.pre.empty() && !in.connector.pre.empty();
                for (auto* pr : {&ex, &in}) {
                    if (pr->connector.pre.empty()) continue;
                    pr->receptor = pr == &ex ? "ex" : "in";
                    std::string nm = both ? base + "_" + pr->receptor : base;
                    while (proj_names.count(nm)) nm += "_" + x;
                    proj_names.insert(nm);
                    pr->name = nm;
                    pr->source = pname;
                    pr->target = x;
                    pr->weight = distribution::constant(pr->connector.weight[0], info.receptors.at(static_cast<std::size_t>(info.receptor_index(pr->receptor))).weight_dim);
                    pr->delay = distribution::constant(pr->connector.delay[0], dimension::time);
                    pr->connector.file = path;
                    pr->where.file = path;
                    pr->where.key = "nodes." + (first.empty() ? x : first);
                    spec.projections.push_back(std::move(*pr));
                }
                return;
            }
            // A shape the node declares for its input must hold as many values as arrive;
            // the values are then read in that shape (C order, so the indices do not change).
            if (const auto d = r.declared_input(x)) {
                if (count_of(*d) != count_of(f.shape)) mismatch(*d);
                f.shape = *d;
            }
            const std::string fst = first.empty() ? x : first;
            if (t == "Delay") {
                const array dl = r.get(x, "delay");
                const std::size_t n = count_of(f.shape);
                if (dl.values.size() != n && dl.values.size() != 1)
                    r.fail(x, "'delay' has shape " + shape_text(dl.shape) + ", expected " + shape_text(f.shape));
                if (!constants) {
                    if (f.delay.empty()) f.delay.assign(n, 0.0);
                    for (std::size_t k = 0; k < n; ++k) {
                        const double v = dl.values[dl.values.size() == 1 ? 0 : k];
                        if (!(v >= 0) || !std::isfinite(v)) r.fail(x, "delays must be finite and >= 0");
                        f.delay[k] += v * r.ts;
                    }
                }
                for (const auto& s : succ[x]) walk(pname, x, s, fst, f, n_pre, depth + 1);
                return;
            }
            const linear_op op = build_op(x, f.shape);
            if (!constants && !op.bias.empty() && !bias_sources.count(x)) {
                flow b;
                b.shape = op.out_shape;
                b.constant = op.bias;
                bias_sources[x] = std::move(b);
            }
            const flow g = apply(x, f, op, n_pre);
            for (const auto& s : succ[x]) walk(pname, x, s, fst, g, n_pre, depth + 1);
        };
    for (const auto& [pname, pinfo] : pops) {
        flow f;
        f.shape = pinfo.shape;
        f.rows.resize(pinfo.size);
        for (std::uint32_t i = 0; i < pinfo.size; ++i) f.rows[i].emplace_back(i, 1.0);
        for (const auto& s : succ[pname]) walk(pname, pname, s, "", f, pinfo.size, 0);
    }
    for (const auto& [x, b] : bias_sources)
        for (const auto& s : succ[x]) walk(x, x, s, x, b, 0, 0);

    // Constant inputs: the value most neurons share goes to I_e, other values to step
    // currents from t = 0 (one per value, on the neurons that have it).
    for (const auto& [pname, bias] : pop_bias) {
        auto& p = spec.populations[pops.at(pname).index];
        std::map<double, std::vector<std::uint32_t>> by_value;
        for (std::size_t j = 0; j < bias.size(); ++j) by_value[bias[j]].push_back(static_cast<std::uint32_t>(j));
        auto base = by_value.begin();
        for (auto it = by_value.begin(); it != by_value.end(); ++it)
            if (it->second.size() > base->second.size()) base = it;
        p.params["I_e"].values = {p.params["I_e"].values.at(0) + base->first};
        std::size_t k = 0;
        for (const auto& [value, neurons] : by_value) {
            if (value == base->first) continue;
            stimulus_spec s;
            s.name = pname + "_bias" + (by_value.size() > 2 ? "_" + std::to_string(k++) : std::string());
            s.type = "step_current";
            s.target = pname;
            s.neurons = neurons;
            s.times = {0.0};
            s.amplitudes = {value - base->first};
            s.where.file = path;
            s.where.key = "nodes." + pname;
            spec.stimuli.push_back(std::move(s));
        }
    }

    // Recording: the populations that feed an Output (all of them when there is none);
    // spikes of spiking ones, v of the non-spiking leaky integrators.
    auto record = [&](const population_spec& p) {
        if (pops.at(p.name).spiking) {
            spec.spike_recorders.push_back(p.name);
        } else {
            state_recorder_spec sr;
            sr.name = p.name;
            sr.population = p.name;
            sr.variables = {"v"};
            sr.where.file = path;
            sr.where.key = "nodes." + p.name;
            spec.state_recorders.push_back(std::move(sr));
        }
    };
    for (const auto& p : spec.populations)
        if (recorded.count(p.name)) record(p);
    if (recorded.empty())
        for (const auto& p : spec.populations)
            if (p.model != "spike_array") record(p);
    validate(spec, models);
    return spec;
}

experiment import_nir_experiment(const std::string& path, const model_registry& models,
                                 const std::vector<std::string>& overrides) {
    experiment ex;
    ex.path = path;
    ex.spec = import_nir(path, models);
    auto& sim = ex.spec.simulation;
    for (const auto& o : overrides) {
        const auto eq = o.find('=');
        const std::string key = o.substr(0, eq);
        std::string val = eq == std::string::npos ? "" : o.substr(eq + 1);
        if (val.size() >= 2 && (val.front() == '"' || val.front() == '\'') && val.back() == val.front())
            val = val.substr(1, val.size() - 2);
        auto bad = [&](const std::string& what) { return config_error("--set", 0, 0, key, what); };
        try {
            if (key == "simulation.duration") { sim.duration = parse_as(val, dimension::time); ex.duration_given = true; }
            else if (key == "simulation.dt") sim.dt = parse_as(val, dimension::time);
            else if (key == "simulation.seed") sim.seed = std::stoull(val);
            else if (key == "simulation.threads") sim.threads = std::stoi(val);
            else if (key == "simulation.min_neurons_per_thread") sim.min_neurons_per_thread = std::stoull(val);
            else if (key == "simulation.output") sim.output = val;
            else if (key == "simulation.pin_threads" || key == "simulation.rebalance") {
                config_node v;
                v.type = config_node::kind::scalar;
                v.scalar = val;
                v.from_override = true;
                (key == "simulation.pin_threads" ? sim.pin_threads : sim.rebalance) = config_section{"--set"}.boolean(v, key);
            }
            else throw bad("only simulation.duration, dt, seed, threads, min_neurons_per_thread, pin_threads, rebalance and output can be set for a NIR graph");
        } catch (const std::invalid_argument& e) {
            throw bad(e.what());
        } catch (const std::out_of_range&) {
            throw bad("value out of range");
        }
    }
    validate(ex.spec, models);
    ex.resolved_yaml = "# network imported from the NIR graph " + path + "\n";
    return ex;
}

}  // namespace engram::nir
