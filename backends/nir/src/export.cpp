// engram network -> NIR graph (the HDF5 layout of `nir.write`, NIR 1.0).
//
// Per population one node named after it: spike sources -> Input (shape [n]);
// lif_curr_delta -> LIF; lif_curr_exp and lif_cond_exp -> CubaLIF; with V_th = +inf (never
// spiking) lif_curr_delta -> LI (or I when tau_m >= 1e12 ms, no leak) and the others ->
// CubaLI; threshold -> Threshold. Per projection a
// Linear node (dense [n_post, n_pre] matrix of the instantiated synapses, duplicates
// summed) followed by a Delay node (one delay per target neuron), with edges
// source -> Linear -> Delay -> target. An Output node follows every neuron population
// that has no outgoing projection or whose spikes are recorded.
#include <filesystem>
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "engram/core/version.hpp"
#include "engram/nir/nir.hpp"
#include "nir_h5.hpp"

namespace engram::nir {
namespace {

using detail::write_floats;
using detail::write_ints;
using detail::write_string;

double param(const population_spec& p, const char* name) { return p.params.at(name).values.at(0); }

std::string num(double v) {
    std::ostringstream os;
    os << v;
    return os.str();
}

bool is_source_model(const std::string& m) { return m == "spike_array" || m == "poisson" || m == "dataset_stream"; }
bool is_lif_model(const std::string& m) { return m == "lif_curr_delta" || m == "lif_curr_exp" || m == "lif_cond_exp"; }

// One NIR node as it will be written: its type and its float parameters.
struct node {
    std::string type;
    std::vector<std::pair<std::string, std::vector<float>>> params;  // each of shape [n] unless noted
    std::vector<hsize_t> matrix_shape;                                // Linear weight
    std::int64_t shape = -1;                                          // Input / Output
    std::vector<std::pair<std::string, double>> metadata;
    std::string model;  // metadata "engram_model"
};

constexpr std::size_t max_dense = std::size_t(1) << 28;

}  // namespace

export_refused::export_refused(std::vector<std::string> items)
    : error([&] {
          std::string m = "NIR cannot express this network exactly, so the strict export stops; it would approximate:";
          for (const auto& s : items) m += "\n  - " + s;
          return m;
      }()),
      items_(std::move(items)) {}

export_report export_nir(const network_spec& spec, const simulation& sim, const std::string& path,
                         const export_options& options) {
    export_report report;
    auto& approx = report.approximations;
    const double dt = spec.simulation.dt;
    std::map<std::string, node> nodes;
    std::vector<std::string> order;  // node names in creation order
    std::vector<std::pair<std::string, std::string>> edges;
    std::set<std::string> names;
    for (const auto& p : spec.populations) names.insert(p.name);
    auto unique = [&](std::string n) {
        while (names.count(n)) n += "_";
        names.insert(n);
        return n;
    };
    auto add = [&](const std::string& name, node n) { order.push_back(name); nodes[name] = std::move(n); };

    // Populations.
    for (const auto& p : spec.populations) {
        const auto n = static_cast<std::size_t>(p.size);
        auto full = [n](double v) { return std::vector<float>(n, static_cast<float>(v)); };
        node nd;
        nd.model = p.model;
        if (is_source_model(p.model)) {
            nd.type = "Input";
            nd.shape = p.size;
            if (p.model == "poisson")
                approx.push_back("population '" + p.name + "': Poisson source exported as an Input node; its rate is not part of the graph");
            add(p.name, std::move(nd));
            continue;
        }
        if (p.model == "threshold") {
            nd.type = "Threshold";
            nd.params = {{"threshold", full(param(p, "threshold"))}};
            if (param(p, "I_e") != 0.0)
                approx.push_back("population '" + p.name + "': constant input I_e = " + num(param(p, "I_e")) +
                                 " pA dropped (a NIR Threshold node has none)");
            add(p.name, std::move(nd));
            continue;
        }
        if (!is_lif_model(p.model))
            throw spec_error("populations." + p.name, "model '" + p.model + "' has no NIR counterpart");
        const double C = param(p, "C_m"), tau_m = param(p, "tau_m"), I_e = param(p, "I_e");
        const double R = tau_m / C;  // GOhm = mV/pA
        const double v_leak = param(p, "E_L") + R * I_e;
        // V_th = +inf: a leaky integrator that never spikes (what engram imports LI, CubaLI and I as).
        const bool spiking = !std::isinf(param(p, "V_th"));
        if (!spiking && p.model == "lif_curr_delta") {
            if (tau_m >= 1e12) {  // no leak: NIR's I, dv/dt = r I; r = 1 makes a weight w a jump of w mV
                nd.type = "I";
                nd.params = {{"r", full(1.0)}};
                if (I_e != 0.0)
                    approx.push_back("population '" + p.name + "': constant input I_e = " + num(I_e) + " pA dropped (a NIR I node has none)");
            } else {
                nd.type = "LI";
                nd.params = {{"tau", full(tau_m * 1e-3)}, {"r", full(tau_m * 1e-3)}, {"v_leak", full(v_leak)}};
            }
            nd.metadata = {{"C_m", C}, {"I_e", I_e}};
            add(p.name, std::move(nd));
            continue;
        }
        if (spiking && param(p, "t_ref") > 0)
            approx.push_back("population '" + p.name + "': refractory period t_ref = " + num(param(p, "t_ref")) +
                             " ms dropped (NIR neurons have none; kept in the node's metadata for engram)");
        if (p.model == "lif_curr_delta") {
            nd.type = "LIF";
            // tau dv/dt = (v_leak - v) + r I with I a sum of weighted Dirac spikes: r = tau makes
            // a weight w a jump of w mV, as in engram.
            nd.params = {{"tau", full(tau_m * 1e-3)}, {"r", full(tau_m * 1e-3)}, {"v_leak", full(v_leak)},
                         {"v_threshold", full(param(p, "V_th"))}, {"v_reset", full(param(p, "V_reset"))}};
        } else {
            nd.type = spiking ? "CubaLIF" : "CubaLI";
            const double te = param(p, "tau_syn_ex"), ti = param(p, "tau_syn_in");
            if (te != ti)
                approx.push_back("population '" + p.name + "': one synaptic time constant in CubaLIF: tau_syn = tau_syn_ex = " + num(te) +
                                 " ms; tau_syn_in = " + num(ti) + " ms approximated by scaling inhibitory weights by tau_syn_in/tau_syn_ex (same charge)");
            if (p.model == "lif_cond_exp")
                approx.push_back("population '" + p.name + "': conductance-based synapses (lif_cond_exp) approximated as currents at the resting potential: ex weights x (E_ex - E_L), in weights x (E_in - E_L)");
            if (p.integration == "euler")
                approx.push_back("population '" + p.name + "': integration: euler is a numerical scheme; NIR holds the continuous dynamics only");
            // tau_syn dI/dt = -I + w_in S: w_in = tau_syn makes a weight w a jump of w pA.
            nd.params = {{"tau_syn", full(te * 1e-3)}, {"tau_mem", full(tau_m * 1e-3)}, {"r", full(R)},
                         {"v_leak", full(v_leak)}, {"v_threshold", full(param(p, "V_th"))},
                         {"v_reset", full(param(p, "V_reset"))}, {"w_in", full(te * 1e-3)}};
            if (!spiking) nd.params.erase(nd.params.begin() + 4, nd.params.begin() + 6);  // CubaLI: no threshold, no reset
        }
        nd.metadata = {{"t_ref", param(p, "t_ref") * 1e-3}, {"C_m", C}, {"I_e", I_e}};
        add(p.name, std::move(nd));
    }
    for (const auto& s : spec.stimuli)
        approx.push_back("stimulus '" + s.name + "' (" + s.type + " into '" + s.target + "') dropped: NIR graphs hold no stimuli");

    for (const auto& m : spec.modulators)
        approx.push_back("modulator '" + m.name + "' (" + m.type + ") dropped: NIR has no global signals");
    // Projections.
    std::set<std::string> has_outgoing;
    for (std::size_t j = 0; j < spec.projections.size(); ++j) {
        const auto& pr = spec.projections[j];
        const auto& src = *spec.find_population(pr.source);
        const auto& tgt = *spec.find_population(pr.target);
        has_outgoing.insert(pr.source);
        if (pr.plasticity.plastic())
            approx.push_back("projection '" + pr.name + "': plasticity (" + pr.plasticity.rule + ") dropped: NIR holds static weights; the initial weights are written");
        const std::size_t n_pre = src.size, n_post = tgt.size;
        if (n_pre * n_post > max_dense)
            throw spec_error("projections." + pr.name, "a dense " + std::to_string(n_post) + " x " + std::to_string(n_pre) +
                                                           " weight matrix is too large for a NIR Linear node");
        double factor = 1.0;
        const bool inh = pr.receptor == "in";
        if (tgt.model == "lif_curr_exp" || tgt.model == "lif_cond_exp") {
            if (inh) factor = param(tgt, "tau_syn_in") / param(tgt, "tau_syn_ex");
            if (tgt.model == "lif_cond_exp") factor *= param(tgt, inh ? "E_in" : "E_ex") - param(tgt, "E_L");
        }
        const synapse_list syn = sim.synapses(j);
        std::vector<float> w(n_post * n_pre, 0.0f);
        std::vector<double> dsum(n_post, 0.0);
        std::vector<std::uint32_t> dcount(n_post, 0), dmin(n_post, ~0u), dmax(n_post, 0);
        double all = 0.0;
        for (std::size_t k = 0; k < syn.size(); ++k) {
            const std::uint32_t i = syn.pre[k], t = syn.post[k];
            w[t * n_pre + i] += static_cast<float>(syn.weight[k] * factor);
            dsum[t] += syn.delay[k];
            ++dcount[t];
            dmin[t] = std::min<std::uint32_t>(dmin[t], syn.delay[k]);
            dmax[t] = std::max<std::uint32_t>(dmax[t], syn.delay[k]);
            all += syn.delay[k];
        }
        const double mean_all = syn.size() ? all / static_cast<double>(syn.size()) : 1.0;
        bool varies = false;
        std::vector<float> delay(n_post);
        for (std::size_t t = 0; t < n_post; ++t) {
            varies |= dcount[t] > 0 && dmin[t] != dmax[t];
            const double steps = dcount[t] ? dsum[t] / dcount[t] : mean_all;
            delay[t] = static_cast<float>(steps * dt * 1e-3);
        }
        if (varies)
            approx.push_back("projection '" + pr.name + "': delays differ between synapses onto the same neuron; NIR's Delay node has one delay per neuron, so each neuron gets the mean of its synapses' delays");
        const std::string lin = unique(pr.name), del = unique(pr.name + "_delay");
        node l;
        l.type = "Linear";
        l.params = {{"weight", std::move(w)}};
        l.matrix_shape = {n_post, n_pre};
        add(lin, std::move(l));
        node d;
        d.type = "Delay";
        d.params = {{"delay", std::move(delay)}};
        add(del, std::move(d));
        edges.emplace_back(pr.source, lin);
        edges.emplace_back(lin, del);
        edges.emplace_back(del, pr.target);
    }
    // Outputs.
    std::vector<const population_spec*> outs;
    for (const auto& p : spec.populations) {
        if (is_source_model(p.model)) continue;
        const bool recorded = std::find(spec.spike_recorders.begin(), spec.spike_recorders.end(), p.name) != spec.spike_recorders.end();
        if (!has_outgoing.count(p.name) || recorded) outs.push_back(&p);
    }
    for (const auto* p : outs) {
        node o;
        o.type = "Output";
        o.shape = p->size;
        const std::string name = unique(outs.size() == 1 ? "output" : "output_" + p->name);
        add(name, std::move(o));
        edges.emplace_back(p->name, name);
    }

    if (options.strict && !approx.empty()) throw export_refused(approx);

    // Written as PATH.tmp, renamed to PATH when complete: a failure leaves no partial file
    // and an earlier file of that name as it was.
    h5::new_file file(path);
    {
        write_string(file, "version", "1.0.0", path);
        h5::handle top = h5::create_group(file, "node", path);
        write_string(top, "type", "NIRGraph", path);
        {
            h5::handle md = h5::create_group(top, "metadata", path);
            write_string(md, "time_unit", "s", path);
            write_string(md, "voltage_unit", "mV", path);
            write_string(md, "current_unit", "pA", path);
            write_string(md, "resistance_unit", "GOhm", path);
            detail::write_double(md, "dt", dt * 1e-3, path);
            write_string(md, "generator", std::string("engram ") + version_string, path);
        }
        h5::handle group = h5::create_group(top, "nodes", path);
        for (const auto& name : order) {
            const node& nd = nodes.at(name);
            h5::handle g = h5::create_group(group, name, path);
            write_string(g, "type", nd.type, path);
            if (nd.shape >= 0) write_ints(g, "shape", {nd.shape}, path);
            for (const auto& [pname, values] : nd.params)
                write_floats(g, pname, values, nd.matrix_shape.empty() ? std::vector<hsize_t>{values.size()} : nd.matrix_shape, path);
            if (!nd.metadata.empty() || !nd.model.empty()) {
                h5::handle md = h5::create_group(g, "metadata", path);
                write_string(md, "engram_model", nd.model, path);
                for (const auto& [k, v] : nd.metadata) detail::write_double(md, k, v, path);
            }
        }
        detail::write_string_pairs(top, "edges", edges, path);
    }
    file.commit();
    report.nodes = order.size();
    report.edges = edges.size();
    return report;
}

export_report export_nir(const experiment& ex, const simulation& sim, const std::string& path,
                         const export_options& options) {
    return export_nir(ex.spec, sim, path, options);
}

bool is_nir_path(const std::string& path) {
    return path.size() >= 4 && path.compare(path.size() - 4, 4, ".nir") == 0;
}

}  // namespace engram::nir
