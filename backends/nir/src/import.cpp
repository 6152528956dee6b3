// NIR graph -> engram network_spec.
//
// Nodes that hold neurons become populations: Input -> spike_array (no spikes: the user
// supplies them), LIF and IF -> lif_curr_delta, CubaLIF -> lif_curr_exp. Every path of
// edges from one population to another through Linear, Affine (zero bias), Scale and
// Delay nodes becomes a from_list projection holding the nonzero entries of the composed
// weight matrix: positive weights on receptor `ex`, negative ones on `in` (sign kept).
// Output nodes mark the populations whose spikes are recorded.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <map>
#include <set>

#include "engram/core/errors.hpp"
#include "engram/nir/nir.hpp"
#include "nir_h5.hpp"

namespace engram::nir {
namespace {

using detail::array;

std::string shape_text(const std::vector<hsize_t>& s) {
    std::string t = "[";
    for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
    return t + "]";
}

std::size_t count_of(const std::vector<hsize_t>& s) {
    std::size_t n = 1;
    for (auto d : s) n *= static_cast<std::size_t>(d);
    return n;
}

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
        return detail::read_array(g, p, path);
    }
    bool has(const std::string& node, const std::string& p) const { return h5::exists(group(node), p); }

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

    std::optional<double> meta(const std::string& node, const std::string& k) const {
        const auto g = group(node);
        if (!h5::exists(g, "metadata/" + k)) return std::nullopt;
        const auto md = h5::open_group(g, "metadata", path);
        const array a = detail::read_array(md, k, path);
        if (a.values.size() != 1) return std::nullopt;
        return a.values[0];
    }
};

struct pop_info {
    std::size_t index;
    std::uint32_t size;
    double factor = 1.0;  // NIR input weight -> engram weight
};

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
    const std::set<std::string> neuron_types = {"LIF", "CubaLIF", "IF"};
    const std::set<std::string> through_types = {"Linear", "Affine", "Scale", "Delay"};
    for (const auto& [n, t] : r.type) {
        if (t == "Input" || t == "Output" || neuron_types.count(t) || through_types.count(t)) continue;
        if (t == "LI" || t == "I" || t == "CubaLI" || t == "Threshold")
            r.fail(n, "unsupported node '" + n + "' of type '" + t + "': engram simulates spiking neurons (LIF, CubaLIF, IF) only");
        r.fail(n, "unsupported node '" + n + "' of type '" + t + "'");
    }

    // Populations: Inputs first, then neurons.
    std::map<std::string, pop_info> pops;
    auto new_pop = [&](const std::string& n, const std::string& model, std::uint32_t size) -> population_spec& {
        population_spec p;
        p.name = n;
        p.size = size;
        p.model = model;
        p.where.file = path;
        p.where.key = "nodes." + n;
        for (const auto& pi : models.get(model).params) {
            param_value v;
            if (pi.default_value) v.values.push_back(*pi.default_value);
            p.params[pi.name] = v;
        }
        pops[n] = {spec.populations.size(), size};
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
        std::size_t size = 1;
        for (double d : s.values) {
            if (!(d >= 1) || d != std::floor(d)) r.fail(n, "'shape' must hold positive integers");
            size *= static_cast<std::size_t>(d);
        }
        if (s.values.empty()) r.fail(n, "'shape' is empty");
        new_pop(n, "spike_array", static_cast<std::uint32_t>(size));
    }
    for (const auto& n : names) {
        const std::string& t = r.type[n];
        if (!neuron_types.count(t)) continue;
        r.single = false;
        const array th = r.get(n, "v_threshold");
        if (th.values.empty()) r.fail(n, "'v_threshold' is empty");
        const auto& shape = th.shape;
        const auto size = static_cast<std::uint32_t>(count_of(shape));
        const double v_th = r.uniform(n, "v_threshold", shape);
        const double v_reset = r.uniform(n, "v_reset", shape, 0.0, true);
        const double res = r.uniform(n, "r", shape);
        const double t_ref = r.meta(n, "t_ref").value_or(0.0) * r.ts;
        if (!(v_reset < v_th)) r.fail(n, "v_reset must be below v_threshold");
        if (t == "CubaLIF") {
            const double tau_syn = r.uniform(n, "tau_syn", shape), tau_mem = r.uniform(n, "tau_mem", shape);
            const double v_leak = r.uniform(n, "v_leak", shape), w_in = r.uniform(n, "w_in", shape, 1.0, true);
            if (!(tau_syn > 0) || !(tau_mem > 0) || !(res > 0)) r.fail(n, "tau_syn, tau_mem and r must be positive");
            auto& p = new_pop(n, "lif_curr_exp", size);
            const double tau_m = tau_mem * r.ts, I_e = r.meta(n, "I_e").value_or(0.0);
            set(p, "tau_m", tau_m);
            set(p, "C_m", tau_m / res);  // tau_mem dv/dt = ... + r I  <=>  C dv/dt = ... + I
            set(p, "E_L", v_leak - res * I_e);
            set(p, "I_e", I_e);
            set(p, "tau_syn_ex", tau_syn * r.ts);
            set(p, "tau_syn_in", tau_syn * r.ts);
            set(p, "V_th", v_th);
            set(p, "V_reset", v_reset);
            set(p, "t_ref", t_ref);
            pops[n].factor = w_in / tau_syn;  // tau_syn dI/dt = -I + w_in S: a spike of weight w adds w_in w / tau_syn
        } else if (t == "LIF") {
            const double tau = r.uniform(n, "tau", shape), v_leak = r.uniform(n, "v_leak", shape);
            if (!(tau > 0)) r.fail(n, "tau must be positive");
            auto& p = new_pop(n, "lif_curr_delta", size);
            const double tau_m = tau * r.ts;
            const double C = r.meta(n, "C_m").value_or(p.params["C_m"].values[0]), I_e = r.meta(n, "I_e").value_or(0.0);
            set(p, "tau_m", tau_m);
            set(p, "C_m", C);
            set(p, "E_L", v_leak - tau_m / C * I_e);
            set(p, "I_e", I_e);
            set(p, "V_th", v_th);
            set(p, "V_reset", v_reset);
            set(p, "t_ref", t_ref);
            pops[n].factor = res / tau;  // tau dv/dt = ... + r I: a spike of weight w makes v jump by r w / tau
        } else {  // IF: no leak, approximated by a very long membrane time constant
            auto& p = new_pop(n, "lif_curr_delta", size);
            set(p, "tau_m", 1e12);
            set(p, "E_L", v_reset);
            set(p, "V_th", v_th);
            set(p, "V_reset", v_reset);
            set(p, "t_ref", t_ref);
            pops[n].factor = res;  // dv/dt = r I: a spike of weight w makes v jump by r w
        }
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

    // Walk from every population through weight and delay nodes to the next population.
    std::set<std::string> recorded, proj_names;
    const double dt = spec.simulation.dt;
    for (const auto& [pname, pinfo] : pops) {
        const std::uint32_t n_pre = pinfo.size;
        // m: weights [n_cur][n_pre] (empty = identity), d: delays in ms per output (empty = none)
        std::function<void(const std::string&, const std::string&, const std::string&, std::vector<double>,
                           std::size_t, std::vector<double>, int)>
            walk = [&](const std::string& from, const std::string& x, const std::string& first, std::vector<double> m,
                       std::size_t n_cur, std::vector<double> d, int depth) {
                if (depth > 32) r.fail(x, "a cycle of nodes without neurons");
                const std::string& t = r.type.at(x);
                auto mismatch = [&](std::size_t want) {
                    r.fail(x, "edge '" + from + "' -> '" + x + "': '" + from + "' gives " + std::to_string(n_cur) +
                                  " values, '" + x + "' takes " + std::to_string(want));
                };
                if (t == "Output") {
                    if (first.empty()) recorded.insert(pname);
                    return;
                }
                if (t == "Input") r.fail(x, "an Input node cannot receive edges");
                if (pops.count(x)) {
                    const pop_info& tgt = pops.at(x);
                    if (n_cur != tgt.size) mismatch(tgt.size);
                    auto& tp = spec.populations[tgt.index];
                    const auto& info = models.get(tp.model);
                    std::string base = first.empty() ? pname + "_to_" + x : first;
                    projection_spec ex, in;
                    ex.connector.rule = in.connector.rule = "from_list";
                    for (std::size_t j = 0; j < n_cur; ++j)
                        for (std::uint32_t i = 0; i < n_pre; ++i) {
                            const double w = (m.empty() ? (i == j ? 1.0 : 0.0) : m[j * n_pre + i]) * tgt.factor;
                            if (w == 0.0) continue;
                            auto& c = (w > 0 ? ex : in).connector;
                            c.pre.push_back(i);
                            c.post.push_back(static_cast<std::uint32_t>(j));
                            c.weight.push_back(w);
                            c.delay.push_back(d.empty() ? dt : std::max(d[j], dt));
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
                const std::string f = first.empty() ? x : first;
                if (t == "Linear" || t == "Affine") {
                    const array w = r.get(x, "weight");
                    if (w.shape.size() != 2 || w.shape[1] != n_cur)
                        r.fail(x, "'weight' has shape " + shape_text(w.shape) + ", expected [n_out, " + std::to_string(n_cur) + "]");
                    if (t == "Affine") {
                        const array b = r.get(x, "bias");
                        if (b.values.size() != w.shape[0]) r.fail(x, "'bias' has shape " + shape_text(b.shape) + ", expected [" + std::to_string(w.shape[0]) + "]");
                        for (double v : b.values)
                            if (v != 0.0) r.fail(x, "a non-zero Affine bias (a constant input) is not supported");
                    }
                    for (std::size_t k = 1; k < d.size(); ++k)
                        if (d[k] != d[0]) r.fail(x, "a Delay with different delays before a weight node is not supported");
                    const auto n_out = static_cast<std::size_t>(w.shape[0]);
                    std::vector<double> m2(n_out * n_pre, 0.0);
                    for (std::size_t o = 0; o < n_out; ++o)
                        for (std::size_t k = 0; k < n_cur; ++k) {
                            const double wk = w.values[o * n_cur + k];
                            if (wk == 0.0) continue;
                            if (m.empty()) m2[o * n_pre + k] += wk;
                            else for (std::size_t i = 0; i < n_pre; ++i) m2[o * n_pre + i] += wk * m[k * n_pre + i];
                        }
                    std::vector<double> d2 = d.empty() ? d : std::vector<double>(n_out, d[0]);
                    for (const auto& s : succ[x]) walk(x, s, f, m2, n_out, d2, depth + 1);
                    return;
                }
                if (t == "Scale") {
                    const array s = r.get(x, "scale");
                    if (s.values.size() != n_cur) r.fail(x, "'scale' has shape " + shape_text(s.shape) + ", expected [" + std::to_string(n_cur) + "]");
                    if (m.empty()) {
                        m.assign(n_cur * n_pre, 0.0);
                        for (std::size_t k = 0; k < n_cur; ++k) m[k * n_pre + k] = 1.0;
                    }
                    for (std::size_t k = 0; k < n_cur; ++k)
                        for (std::size_t i = 0; i < n_pre; ++i) m[k * n_pre + i] *= s.values[k];
                    for (const auto& s2 : succ[x]) walk(x, s2, f, m, n_cur, d, depth + 1);
                    return;
                }
                // Delay
                const array dl = r.get(x, "delay");
                if (dl.values.size() != n_cur && dl.values.size() != 1)
                    r.fail(x, "'delay' has shape " + shape_text(dl.shape) + ", expected [" + std::to_string(n_cur) + "]");
                if (d.empty()) d.assign(n_cur, 0.0);
                for (std::size_t k = 0; k < n_cur; ++k) {
                    const double v = dl.values[dl.values.size() == 1 ? 0 : k];
                    if (!(v >= 0) || !std::isfinite(v)) r.fail(x, "delays must be finite and >= 0");
                    d[k] += v * r.ts;
                }
                for (const auto& s : succ[x]) walk(x, s, f, m, n_cur, d, depth + 1);
            };
        for (const auto& s : succ[pname]) walk(pname, s, "", {}, n_pre, {}, 0);
    }
    for (const auto& p : spec.populations)
        if (recorded.count(p.name)) spec.spike_recorders.push_back(p.name);
    if (spec.spike_recorders.empty())
        for (const auto& p : spec.populations)
            if (p.model != "spike_array") spec.spike_recorders.push_back(p.name);
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
            else throw bad("only simulation.duration, dt, seed, threads, min_neurons_per_thread and output can be set for a NIR graph");
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
