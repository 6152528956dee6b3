#include "engram/core/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "engram/core/errors.hpp"
#include "engram/core/hdf5.hpp"

namespace engram {
namespace {

namespace fs = std::filesystem;

struct mark_t { int line = 0, column = 0; bool from_override = false; };

// Names become HDF5 groups and --set paths.
std::string name_problem(const std::string& name) {
    if (name.empty()) return "empty name";
    for (char ch : name)
        if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-'))
            return "name '" + name + "' may contain only letters, digits, '_' and '-' (it becomes an HDF5 group and a --set path)";
    return {};
}

// Reads one experiment document into a spec, recording where each key was.
class reader {
public:
    reader(std::string file, const model_registry& models, fs::path base_dir)
        : file_(std::move(file)), models_(models), base_dir_(std::move(base_dir)) {}

    std::map<std::string, mark_t> marks;

    std::vector<std::string> overridden;  // key paths set with --set

    bool is_override(const std::string& key) const {
        for (const auto& o : overridden)
            if (key == o || (key.size() > o.size() && key.compare(0, o.size(), o) == 0 && (key[o.size()] == '.' || key[o.size()] == '[')))
                return true;
        return false;
    }

    [[noreturn]] void fail(const YAML::Node& at, const std::string& key, const std::string& what,
                           const std::string& suggestion = {}) const {
        const auto m = at.Mark();
        if (m.line < 0 || is_override(key)) throw config_error("--set", 0, 0, key, what, suggestion);
        throw config_error(file_, m.line + 1, m.column + 1, key, what, suggestion);
    }

    // Where an entry of the file is, for errors found later (building the network): its
    // file, line and column, or "--set" where an override made it or anything inside it.
    source_location at(const YAML::Node& n, const std::string& key) const {
        const auto m = n.Mark();
        if (m.line < 0 || is_override(key) || overridden_inside(key)) return {"--set", 0, 0, key};
        return {file_, m.line + 1, m.column + 1, key};
    }
    bool overridden_inside(const std::string& key) const {
        for (const auto& o : overridden)
            if (o.size() > key.size() && o.compare(0, key.size(), key) == 0 && (o[key.size()] == '.' || o[key.size()] == '['))
                return true;
        return false;
    }

    void remember(const std::string& key, const YAML::Node& n) {
        const auto m = n.Mark();
        marks[key] = m.line < 0 || is_override(key) ? mark_t{0, 0, true} : mark_t{m.line + 1, m.column + 1, false};
    }

    // Every key of `node` must be in `allowed`; returns the map's keys with their nodes.
    void check_keys(const YAML::Node& node, const std::string& path,
                    std::initializer_list<std::string_view> allowed) {
        std::vector<std::string> names(allowed.begin(), allowed.end());
        check_keys(node, path, names);
    }
    void check_keys(const YAML::Node& node, const std::string& path, const std::vector<std::string>& allowed) {
        if (!node.IsMap()) fail(node, path, "expected a mapping of keys (one of: " + join(allowed) + ")");
        for (const auto& kv : node) {
            const std::string k = kv.first.as<std::string>();
            if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
                fail(kv.first, join_key(path, k), "unknown key (valid here: " + join(allowed) + ")", nearest(k, allowed));
        }
    }

    static std::string join(const std::vector<std::string>& v) {
        std::string s;
        for (const auto& x : v) { s += s.empty() ? "" : ", "; s += x; }
        return s;
    }
    static std::string join_key(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }

    std::string scalar(const YAML::Node& n, const std::string& key) {
        if (!n.IsScalar()) fail(n, key, "expected a single value");
        remember(key, n);
        return n.Scalar();
    }

    double quantity_of(const YAML::Node& n, const std::string& key, dimension dim) {
        const std::string s = scalar(n, key);
        try {
            return parse_as(s, dim);
        } catch (const std::invalid_argument& e) {
            fail(n, key, e.what());
        }
    }

    std::uint64_t integer(const YAML::Node& n, const std::string& key, const char* what = "a non-negative integer") {
        const std::string s = scalar(n, key);
        std::uint64_t v = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc() || p != s.data() + s.size()) fail(n, key, std::string("expected ") + what + ", got '" + s + "'");
        return v;
    }

    bool boolean(const YAML::Node& n, const std::string& key) {
        const std::string s = scalar(n, key);
        if (s == "true" || s == "yes" || s == "on") return true;
        if (s == "false" || s == "no" || s == "off") return false;
        fail(n, key, "expected true or false, got '" + s + "'");
    }

    // A value of a distribution (initial state, weight, delay): finite. An infinite or NaN
    // weight or conductance would give each kernel its own result (NaN in one, a spike
    // every step in another), so the spikes would depend on the thread count.
    double finite_quantity(const YAML::Node& n, const std::string& key, dimension dim) {
        const double x = quantity_of(n, key, dim);
        if (!std::isfinite(x)) fail(n, key, "expected a finite value, got '" + scalar(n, key) + "'");
        return x;
    }

    distribution dist(const YAML::Node& n, const std::string& key, dimension dim) {
        remember(key, n);
        if (n.IsScalar()) return distribution::constant(finite_quantity(n, key, dim), dim);
        check_keys(n, key, {"distribution", "value", "values", "low", "high", "mean", "std", "min", "max", "median", "sigma"});
        if (!n["distribution"]) fail(n, key, "a distribution needs 'distribution: constant|uniform|normal|lognormal|choice'");
        const std::string kind = scalar(n["distribution"], key + ".distribution");
        distribution d;
        d.dim = dim;
        auto need = [&](const char* k) -> YAML::Node {
            if (!n[k]) fail(n, key, "distribution '" + kind + "' needs '" + k + "'");
            return n[k];
        };
        auto only = [&](std::initializer_list<std::string_view> keys) {
            std::vector<std::string> v{"distribution"};
            v.insert(v.end(), keys.begin(), keys.end());
            check_keys(n, key, v);
        };
        if (kind == "constant") {
            only({"value"});
            d = distribution::constant(finite_quantity(need("value"), key + ".value", dim), dim);
        } else if (kind == "uniform") {
            only({"low", "high"});
            d.type = distribution::kind::uniform;
            d.a = finite_quantity(need("low"), key + ".low", dim);
            d.b = finite_quantity(need("high"), key + ".high", dim);
            if (d.b < d.a) fail(n, key, "uniform distribution needs low <= high");
        } else if (kind == "normal") {
            only({"mean", "std", "min", "max"});
            d.type = distribution::kind::normal;
            d.a = finite_quantity(need("mean"), key + ".mean", dim);
            d.b = finite_quantity(need("std"), key + ".std", dim);
            if (d.b < 0) fail(n["std"], key + ".std", "standard deviation must be >= 0");
            // the bounds may be infinite (as when left out), not NaN
            if (n["min"]) d.min = quantity_of(n["min"], key + ".min", dim);
            if (n["max"]) d.max = quantity_of(n["max"], key + ".max", dim);
            if (std::isnan(d.min)) fail(n["min"], key + ".min", "expected a number, got '" + scalar(n["min"], key + ".min") + "'");
            if (std::isnan(d.max)) fail(n["max"], key + ".max", "expected a number, got '" + scalar(n["max"], key + ".max") + "'");
            if (d.min > d.max) fail(n, key, "normal distribution needs min <= max");
        } else if (kind == "choice") {
            only({"values"});
            d.type = distribution::kind::choice;
            d.values = quantity_list(need("values"), key + ".values", dim);
            if (d.values.empty()) fail(n["values"], key + ".values", "choice needs at least one value");
            for (const double x : d.values)
                if (!std::isfinite(x)) fail(n["values"], key + ".values", "expected finite values");
            d.a = d.values[0];
        } else if (kind == "lognormal") {
            only({"median", "sigma"});
            d.type = distribution::kind::lognormal;
            d.a = finite_quantity(need("median"), key + ".median", dim);
            d.b = finite_quantity(need("sigma"), key + ".sigma", dimension::dimensionless);
            if (d.b < 0) fail(n["sigma"], key + ".sigma", "sigma must be >= 0");
        } else {
            fail(n["distribution"], key + ".distribution", "unknown distribution '" + kind + "' (constant, uniform, normal, lognormal, choice)",
                 nearest(kind, std::vector<std::string>{"constant", "uniform", "normal", "lognormal", "choice"}));
        }
        return d;
    }

    std::vector<std::uint32_t> index_list(const YAML::Node& n, const std::string& key) {
        remember(key, n);
        std::vector<std::uint32_t> v;
        if (n.IsScalar()) {
            if (n.Scalar() == "all") return v;
            v.push_back(static_cast<std::uint32_t>(integer(n, key)));
            return v;
        }
        if (!n.IsSequence()) fail(n, key, "expected a list of neuron indices or 'all'");
        for (std::size_t i = 0; i < n.size(); ++i) v.push_back(static_cast<std::uint32_t>(integer(n[i], key)));
        return v;
    }

    std::vector<double> quantity_list(const YAML::Node& n, const std::string& key, dimension dim) {
        remember(key, n);
        std::vector<double> v;
        if (n.IsScalar()) { v.push_back(quantity_of(n, key, dim)); return v; }
        if (!n.IsSequence()) fail(n, key, "expected a value or a list of values");
        for (std::size_t i = 0; i < n.size(); ++i) v.push_back(quantity_of(n[i], key + "[" + std::to_string(i) + "]", dim));
        return v;
    }

    network_spec read(const YAML::Node& root) {
        network_spec spec;
        if (!root || root.IsNull()) throw config_error(file_, 1, 1, "", "the experiment file is empty");
        check_keys(root, "", {"description", "simulation", "populations", "projections", "stimuli", "record", "input",
                              "modulators", "layout", "classification", "spinnaker2"});
        if (auto s = root["simulation"]) read_simulation(s, spec.simulation);
        if (!root["populations"]) throw config_error(file_, 1, 1, "populations", "an experiment needs at least one population");
        read_populations(root["populations"], spec);
        if (auto l = root["layout"]) read_layouts(l, spec);
        if (auto m = root["modulators"]) read_modulators(m, spec);
        if (auto p = root["projections"]) read_projections(p, spec);
        if (auto s = root["stimuli"]) read_stimuli(s, spec);
        bool spikes_given = false;
        if (auto r = root["record"]) spikes_given = read_record(r, spec);
        if (!spikes_given)
            for (const auto& p : spec.populations) spec.spike_recorders.push_back(p.name);
        return spec;
    }

    void read_simulation(const YAML::Node& n, simulation_spec& s) {
        remember("simulation", n);
        check_keys(n, "simulation", {"dt", "duration", "seed", "threads", "min_neurons_per_thread", "output", "precision", "pin_threads", "rebalance", "step_alone"});
        if (n["dt"]) s.dt = quantity_of(n["dt"], "simulation.dt", dimension::time);
        if (n["duration"]) s.duration = quantity_of(n["duration"], "simulation.duration", dimension::time);
        if (n["seed"]) s.seed = integer(n["seed"], "simulation.seed");
        if (n["threads"]) s.threads = static_cast<int>(integer(n["threads"], "simulation.threads", "a positive integer"));
        if (n["output"]) s.output = scalar(n["output"], "simulation.output");
        if (n["min_neurons_per_thread"]) s.min_neurons_per_thread = integer(n["min_neurons_per_thread"], "simulation.min_neurons_per_thread");
        if (n["pin_threads"]) s.pin_threads = boolean(n["pin_threads"], "simulation.pin_threads");
        if (n["rebalance"]) s.rebalance = boolean(n["rebalance"], "simulation.rebalance");
        if (n["step_alone"]) read_step_alone(n["step_alone"], s);
        if (n["precision"]) {
            const std::string p = scalar(n["precision"], "simulation.precision");
            if (p != "float" && p != "double")
                fail(n["precision"], "simulation.precision", "precision must be 'float' or 'double', got '" + p + "'");
            s.double_precision = p == "double";
        }
    }

    // simulation.step_alone: true (the defaults), false (never alone), or a mapping of
    // below (a share of the wall time, 0 to 1), window, retry and max_retry (times)
    void read_step_alone(const YAML::Node& n, simulation_spec& s) {
        const std::string key = "simulation.step_alone";
        remember(key, n);
        if (n.IsScalar()) {
            if (!boolean(n, key)) s.alone_below = 0.0;
            return;
        }
        check_keys(n, key, {"below", "window", "retry", "max_retry"});
        if (const auto b = n["below"]) {
            s.alone_below = quantity_of(b, key + ".below", dimension::dimensionless);
            if (!(s.alone_below >= 0.0 && s.alone_below <= 1.0))
                fail(b, key + ".below", "expected a share of the wall time between 0 and 1 (0: never alone), got '" + scalar(b, key + ".below") + "'");
        }
        const auto positive_time = [&](const char* name, double& into) {
            const auto v = n[name];
            if (!v) return;
            into = quantity_of(v, key + "." + name, dimension::time);
            if (!(into > 0.0) || !std::isfinite(into))
                fail(v, key + "." + name, "expected a positive, finite time, got '" + scalar(v, key + "." + name) + "'");
        };
        positive_time("window", s.alone_window);
        positive_time("retry", s.alone_retry);
        positive_time("max_retry", s.alone_max_retry);
        if (!n["max_retry"]) s.alone_max_retry = std::max(s.alone_max_retry, s.alone_retry);
        if (s.alone_max_retry < s.alone_retry)
            fail(n["max_retry"] ? n["max_retry"] : n, key + ".max_retry", "max_retry must be at least retry");
    }

    void read_populations(const YAML::Node& n, network_spec& spec) {
        remember("populations", n);
        if (!n.IsMap()) fail(n, "populations", "expected a mapping from population names to populations");
        for (const auto& kv : n) {
            population_spec p;
            p.name = kv.first.as<std::string>();
            const std::string key = "populations." + p.name;
            const YAML::Node& v = kv.second;
            remember(key, kv.first);
            if (const std::string msg = name_problem(p.name); !msg.empty()) fail(kv.first, key, msg);
            check_keys(v, key, {"size", "model", "params", "initial", "integration"});
            if (!v["size"]) fail(v, key, "a population needs 'size'");
            {
                const std::string s = scalar(v["size"], key + ".size");
                if (!s.empty() && s[0] == '-') fail(v["size"], key + ".size", "size must be a positive integer, got " + s);
                const auto sz = integer(v["size"], key + ".size", "a positive integer");
                if (sz == 0 || sz > 0xFFFFFFF0u) fail(v["size"], key + ".size", "size must be between 1 and 4294967280, got " + s);
                p.size = static_cast<std::uint32_t>(sz);
            }
            if (!v["model"]) fail(v, key, "a population needs 'model' (one of: " + join(models_.names()) + ")");
            p.model = scalar(v["model"], key + ".model");
            const model_info* m = models_.find(p.model);
            if (!m) fail(v["model"], key + ".model", "unknown model '" + p.model + "' (known: " + join(models_.names()) + ")", nearest(p.model, models_.names()));
            std::vector<std::string> pnames;
            for (const auto& pi : m->params) pnames.push_back(pi.name);
            if (auto params = v["params"]) {
                remember(key + ".params", params);
                check_keys(params, key + ".params", pnames);
                for (const auto& pv : params) {
                    const std::string name = pv.first.as<std::string>();
                    const std::string pk = key + ".params." + name;
                    const param_info& pi = *m->find_param(name);
                    param_value val;
                    if (pi.kind == param_kind::spike_trains) {
                        val.trains = spike_trains(pv.second, pk);
                    } else if (pi.kind == param_kind::per_neuron) {
                        val.values = quantity_list(pv.second, pk, pi.dim);
                    } else {
                        val.values.push_back(quantity_of(pv.second, pk, pi.dim));
                    }
                    p.params[name] = std::move(val);
                }
            }
            for (const auto& pi : m->params) {
                if (p.params.count(pi.name)) continue;
                if (!pi.default_value && pi.kind != param_kind::spike_trains)
                    fail(v, key + ".params." + pi.name, "model '" + p.model + "' needs parameter '" + pi.name + "' (" + pi.doc + ")");
                param_value val;
                if (pi.default_value) val.values.push_back(*pi.default_value);
                p.params[pi.name] = std::move(val);
            }
            if (auto init = v["initial"]) {
                std::vector<std::string> snames;
                for (const auto& si : m->state) snames.push_back(si.name);
                remember(key + ".initial", init);
                check_keys(init, key + ".initial", snames);
                for (const auto& iv : init) {
                    const std::string name = iv.first.as<std::string>();
                    const auto& si = m->state[static_cast<std::size_t>(m->state_index(name))];
                    p.initial[name] = dist(iv.second, key + ".initial." + name, si.dim);
                }
            }
            if (!m->integrations.empty()) p.integration = m->integrations.front().first;
            if (auto in = v["integration"]) {
                remember(key + ".integration", in);
                p.integration = scalar(in, key + ".integration");
                std::vector<std::string> names;
                for (const auto& [name, doc] : m->integrations) names.push_back(name);
                if (names.empty())
                    fail(in, key + ".integration", "model '" + p.model + "' has one integration scheme; remove 'integration'");
                if (std::find(names.begin(), names.end(), p.integration) == names.end())
                    fail(in, key + ".integration", "model '" + p.model + "' integrates with one of: " + join(names) + "; got '" + p.integration + "'",
                         nearest(p.integration, names));
            }
            p.where = at(kv.first, key);
            spec.populations.push_back(std::move(p));
        }
    }

    std::vector<std::vector<double>> spike_trains(const YAML::Node& n, const std::string& key) {
        remember(key, n);
        std::vector<std::vector<double>> out;
        if (!n.IsSequence()) fail(n, key, "expected a list of spike times (one train for all neurons) or a list of lists (one per neuron)");
        const bool nested = n.size() > 0 && n[0].IsSequence();
        if (!nested) {
            out.push_back(quantity_list(n, key, dimension::time));
            return out;
        }
        for (std::size_t i = 0; i < n.size(); ++i) {
            if (!n[i].IsSequence()) fail(n[i], key, "mixes spike times and lists of spike times");
            out.push_back(quantity_list(n[i], key + "[" + std::to_string(i) + "]", dimension::time));
        }
        return out;
    }

    void read_projections(const YAML::Node& n, network_spec& spec) {
        remember("projections", n);
        if (!n.IsMap()) fail(n, "projections", "expected a mapping from projection names to projections");
        for (const auto& kv : n) {
            projection_spec pj;
            pj.name = kv.first.as<std::string>();
            const std::string key = "projections." + pj.name;
            const YAML::Node& v = kv.second;
            remember(key, kv.first);
            if (const std::string msg = name_problem(pj.name); !msg.empty()) fail(kv.first, key, msg);
            check_keys(v, key, {"source", "target", "receptor", "connector", "weight", "delay", "plasticity"});
            for (const char* k : {"source", "target", "connector", "weight"})
                if (!v[k]) fail(v, key, std::string("a projection needs '") + k + "'");
            pj.source = scalar(v["source"], key + ".source");
            pj.target = scalar(v["target"], key + ".target");
            std::vector<std::string> pops;
            for (const auto& p : spec.populations) pops.push_back(p.name);
            const population_spec* src = spec.find_population(pj.source);
            const population_spec* tgt = spec.find_population(pj.target);
            if (!src) fail(v["source"], key + ".source", "unknown population '" + pj.source + "'", nearest(pj.source, pops));
            if (!tgt) fail(v["target"], key + ".target", "unknown population '" + pj.target + "'", nearest(pj.target, pops));
            const model_info& tm = models_.get(tgt->model);
            if (tm.receptors.empty()) fail(v["target"], key + ".target", "population '" + pj.target + "' (model " + tm.name + ") cannot receive projections");
            std::vector<std::string> receptors;
            for (const auto& r : tm.receptors) receptors.push_back(r.name);
            pj.receptor = v["receptor"] ? scalar(v["receptor"], key + ".receptor") : receptors.front();
            const int ri = tm.receptor_index(pj.receptor);
            if (ri < 0) fail(v["receptor"], key + ".receptor", "model '" + tm.name + "' has no receptor '" + pj.receptor + "' (receptors: " + join(receptors) + ")", nearest(pj.receptor, receptors));
            const auto& rinfo = tm.receptors[static_cast<std::size_t>(ri)];
            pj.weight = dist(v["weight"], key + ".weight", rinfo.weight_dim);
            pj.delay = v["delay"] ? dist(v["delay"], key + ".delay", dimension::time)
                                  : distribution::constant(0.0, dimension::time);
            read_connector(v["connector"], key + ".connector", pj.connector, rinfo.weight_dim);
            if (auto pl = v["plasticity"]) read_plasticity(pl, key + ".plasticity", pj.plasticity, spec);
            pj.where = at(kv.first, key);
            pj.weight_where = v["weight"] ? at(v["weight"], key + ".weight") : pj.where;
            pj.delay_where = v["delay"] ? at(v["delay"], key + ".delay") : pj.where;
            pj.connector_where = v["connector"] ? at(v["connector"], key + ".connector") : pj.where;
            spec.projections.push_back(std::move(pj));
        }
    }

    void read_plasticity(const YAML::Node& n, const std::string& key, plasticity_spec& ps, const network_spec& spec) {
        remember(key, n);
        if (!n.IsMap()) fail(n, key, "expected a mapping with 'rule' and the rule's parameters");
        if (!n["rule"]) fail(n, key, "plasticity needs 'rule' (one of: " + join(models_.rule_names()) + ")");
        ps.rule = scalar(n["rule"], key + ".rule");
        const rule_info* r = models_.find_rule(ps.rule);
        if (!r) fail(n["rule"], key + ".rule", "unknown plasticity rule '" + ps.rule + "' (known: " + join(models_.rule_names()) + ")", nearest(ps.rule, models_.rule_names()));
        std::vector<std::string> allowed{"rule"};
        for (const auto& p : r->params) allowed.push_back(p.name);
        for (const auto& o : r->options) allowed.push_back(o.name);
        check_keys(n, key, allowed);
        for (const auto& p : r->params) {
            if (auto v = n[p.name]) ps.params[p.name] = quantity_of(v, key + "." + p.name, p.dim);
            else if (p.default_value) ps.params[p.name] = *p.default_value;
            else fail(n, key + "." + p.name, "rule '" + r->name + "' needs '" + p.name + "' (" + p.doc + ")");
        }
        std::vector<std::string> mods;
        for (const auto& m : spec.modulators) mods.push_back(m.name);
        for (const auto& o : r->options) {
            if (auto v = n[o.name]) {
                const std::string val = scalar(v, key + "." + o.name);
                const bool names_modulator = o.values.size() == 1 && o.values[0] == "<modulator>";
                if (names_modulator) {
                    if (std::find(mods.begin(), mods.end(), val) == mods.end())
                        fail(v, key + "." + o.name, "unknown modulator '" + val + "'" + (mods.empty() ? std::string(" (the experiment has no modulators section)") : " (modulators: " + join(mods) + ")"), nearest(val, mods));
                } else if (std::find(o.values.begin(), o.values.end(), val) == o.values.end()) {
                    fail(v, key + "." + o.name, "'" + val + "' is not one of: " + join(o.values), nearest(val, o.values));
                }
                ps.options[o.name] = val;
            } else {
                ps.options[o.name] = (o.values.size() == 1 && o.values[0] == "<modulator>") ? std::string() : o.values.front();
            }
        }
    }

    void read_layouts(const YAML::Node& n, network_spec& spec) {
        remember("layout", n);
        if (!n.IsMap()) fail(n, "layout", "expected a mapping from layout names to {grid: [x, y, z], populations: [...]}");
        for (const auto& kv : n) {
            layout_spec l;
            l.name = kv.first.as<std::string>();
            const std::string key = "layout." + l.name;
            remember(key, kv.first);
            const YAML::Node& v = kv.second;
            check_keys(v, key, {"grid", "populations", "shuffle"});
            if (!v["grid"] || !v["grid"].IsSequence() || v["grid"].size() != 3) fail(v, key + ".grid", "a layout needs 'grid: [x, y, z]'");
            for (std::size_t d = 0; d < 3; ++d) {
                const auto g = integer(v["grid"][d], key + ".grid", "a positive integer");
                if (g == 0 || g > 65535) fail(v["grid"][d], key + ".grid", "grid sizes must be between 1 and 65535");
                l.grid[d] = static_cast<std::uint32_t>(g);
            }
            if (!v["populations"] || !v["populations"].IsSequence()) fail(v, key + ".populations", "a layout needs 'populations: [...]'");
            std::vector<std::string> pops;
            for (const auto& p : spec.populations) pops.push_back(p.name);
            std::uint64_t total = 0;
            for (std::size_t i = 0; i < v["populations"].size(); ++i) {
                const auto& e = v["populations"][i];
                const std::string name = scalar(e, key + ".populations");
                const population_spec* ps = spec.find_population(name);
                if (!ps) fail(e, key + ".populations", "unknown population '" + name + "'", nearest(name, pops));
                if (spec.layout_of(name)) fail(e, key + ".populations", "population '" + name + "' is already in a layout");
                for (const auto& q : l.populations)
                    if (q == name) fail(e, key + ".populations", "population '" + name + "' is listed twice");
                l.populations.push_back(name);
                total += ps->size;
            }
            const std::uint64_t cells = std::uint64_t(l.grid[0]) * l.grid[1] * l.grid[2];
            if (total > cells)
                fail(v["populations"], key + ".populations", "the populations have " + std::to_string(total) + " neurons but the grid has " + std::to_string(cells) + " cells");
            if (auto s = v["shuffle"]) l.shuffle = boolean(s, key + ".shuffle");
            l.where = at(kv.first, key);
            spec.layouts.push_back(std::move(l));
        }
    }

    void read_modulators(const YAML::Node& n, network_spec& spec) {
        remember("modulators", n);
        if (!n.IsMap()) fail(n, "modulators", "expected a mapping from modulator names to modulators");
        for (const auto& kv : n) {
            modulator_spec m;
            m.name = kv.first.as<std::string>();
            const std::string key = "modulators." + m.name;
            remember(key, kv.first);
            if (const std::string msg = name_problem(m.name); !msg.empty()) fail(kv.first, key, msg);
            const YAML::Node& v = kv.second;
            check_keys(v, key, {"type", "params", "sources"});
            if (!v["type"]) fail(v, key, "a modulator needs 'type' (one of: " + join(models_.modulator_names()) + ")");
            m.type = scalar(v["type"], key + ".type");
            const modulator_info* mi = models_.find_modulator(m.type);
            if (!mi) fail(v["type"], key + ".type", "unknown modulator type '" + m.type + "' (known: " + join(models_.modulator_names()) + ")", nearest(m.type, models_.modulator_names()));
            std::vector<std::string> pnames;
            for (const auto& p : mi->params) pnames.push_back(p.name);
            if (auto ps = v["params"]) {
                remember(key + ".params", ps);
                check_keys(ps, key + ".params", pnames);
            }
            for (const auto& p : mi->params) {
                if (v["params"] && v["params"][p.name]) m.params[p.name] = quantity_of(v["params"][p.name], key + ".params." + p.name, p.dim);
                else if (p.default_value) m.params[p.name] = *p.default_value;
                else fail(v, key + ".params." + p.name, "modulator '" + m.type + "' needs '" + p.name + "' (" + p.doc + ")");
            }
            if (!v["sources"] || !v["sources"].IsMap()) fail(v, key + ".sources", "a modulator needs 'sources: {population: weight per spike, ...}'");
            std::vector<std::string> pops;
            for (const auto& p : spec.populations) pops.push_back(p.name);
            for (const auto& sv : v["sources"]) {
                const std::string pop = sv.first.as<std::string>();
                remember(key + ".sources." + pop, sv.first);
                if (!spec.find_population(pop)) fail(sv.first, key + ".sources." + pop, "unknown population '" + pop + "'", nearest(pop, pops));
                m.sources.emplace_back(pop, quantity_of(sv.second, key + ".sources." + pop, dimension::dimensionless));
            }
            m.where = at(kv.first, key);
            spec.modulators.push_back(std::move(m));
        }
    }

    void read_connector(const YAML::Node& n, const std::string& key, connector_spec& c, dimension wdim) {
        remember(key, n);
        static const std::vector<std::string> rules{"all_to_all", "one_to_one", "fixed_probability", "fixed_number_pre",
                                                    "fixed_number_post", "fixed_total_number", "from_list", "distance"};
        const YAML::Node rule_node = n.IsScalar() ? n : n["rule"];
        if (!rule_node) fail(n, key, "a connector needs 'rule' (one of: " + join(rules) + ")");
        c.rule = scalar(rule_node, key + ".rule");
        if (std::find(rules.begin(), rules.end(), c.rule) == rules.end())
            fail(rule_node, key + ".rule", "unknown connector rule '" + c.rule + "' (one of: " + join(rules) + ")", nearest(c.rule, rules));
        if (n.IsScalar()) {
            if (c.rule != "all_to_all" && c.rule != "one_to_one")
                fail(n, key, "connector '" + c.rule + "' needs parameters; write it as a mapping with 'rule'");
            return;
        }
        std::vector<std::string> allowed{"rule"};
        if (c.rule != "one_to_one" && c.rule != "from_list") allowed.push_back("allow_self_connections");
        if (c.rule == "fixed_probability") allowed.push_back("p");
        if (c.rule == "distance") { allowed.push_back("p"); allowed.push_back("lambda"); }
        if (c.rule == "fixed_number_pre" || c.rule == "fixed_number_post" || c.rule == "fixed_total_number") {
            allowed.push_back("n");
            allowed.push_back("with_replacement");
        }
        if (c.rule == "from_list") { allowed.push_back("connections"); allowed.push_back("file"); }
        check_keys(n, key, allowed);
        if (auto s = n["allow_self_connections"]) c.allow_self_connections = boolean(s, key + ".allow_self_connections");
        if (auto s = n["with_replacement"]) c.with_replacement = boolean(s, key + ".with_replacement");
        if (c.rule == "fixed_probability" || c.rule == "distance") {
            if (!n["p"]) fail(n, key, c.rule + " needs 'p'");
            c.p = quantity_of(n["p"], key + ".p", dimension::dimensionless);
        }
        if (c.rule == "distance") {
            if (!n["lambda"]) fail(n, key, "distance needs 'lambda' (the length scale, in grid units)");
            c.lambda = quantity_of(n["lambda"], key + ".lambda", dimension::dimensionless);
        }
        if (std::find(allowed.begin(), allowed.end(), "n") != allowed.end()) {
            if (!n["n"]) fail(n, key, c.rule + " needs 'n'");
            const std::string s = scalar(n["n"], key + ".n");
            if (!s.empty() && s[0] == '-') fail(n["n"], key + ".n", "n must be >= 0, got " + s);
            c.n = integer(n["n"], key + ".n");
        }
        if (c.rule == "from_list") {
            if (n["connections"] && n["file"]) fail(n, key, "give either 'connections' or 'file', not both");
            if (auto l = n["connections"]) {
                remember(key + ".connections", l);
                if (!l.IsSequence()) fail(l, key + ".connections", "expected a list of [pre, post] or [pre, post, weight, delay]");
                for (std::size_t i = 0; i < l.size(); ++i) {
                    const auto e = l[i];
                    const std::string ek = key + ".connections[" + std::to_string(i) + "]";
                    if (!e.IsSequence() || e.size() < 2 || e.size() > 4) fail(e, ek, "expected [pre, post] or [pre, post, weight] or [pre, post, weight, delay]");
                    c.pre.push_back(static_cast<std::uint32_t>(integer(e[0], ek)));
                    c.post.push_back(static_cast<std::uint32_t>(integer(e[1], ek)));
                    c.weight.push_back(e.size() > 2 ? quantity_of(e[2], ek, wdim) : std::nan(""));
                    c.delay.push_back(e.size() > 3 ? quantity_of(e[3], ek, dimension::time) : std::nan(""));
                }
            } else if (auto f = n["file"]) {
                const std::string rel = scalar(f, key + ".file");
                const fs::path path = fs::path(rel).is_absolute() ? fs::path(rel) : base_dir_ / rel;
                c.file = path.string();
                try {
                    read_connection_file(c, wdim);
                } catch (const error& e) {
                    fail(f, key + ".file", e.what());
                }
            } else {
                fail(n, key, "from_list needs 'connections' or 'file'");
            }
        }
    }

    // CSV: a header "pre,post[,weight [unit]][,delay [unit]]" then one synapse per line.
    // HDF5: datasets pre, post and optionally weight and delay with a 'units' attribute.
    static void read_connection_file(connector_spec& c, dimension wdim) {
        const std::string& path = c.file;
        if (!fs::exists(path)) throw io_error(path, "open", "no such file");
        const auto ext = fs::path(path).extension().string();
        if (ext == ".h5" || ext == ".hdf5") {
            auto f = h5::open_file(path);
            c.pre = h5::read_vector<std::uint32_t>(f, "pre", path);
            c.post = h5::read_vector<std::uint32_t>(f, "post", path);
            if (c.pre.size() != c.post.size()) throw io_error(path, "read", "'pre' and 'post' differ in length");
            auto column = [&](const char* name, dimension dim, std::vector<double>& out) {
                if (!h5::exists(f, name)) return;
                auto ds = h5::open_dataset(f, name, path);
                if (!h5::has_attr(ds, "units"))
                    throw io_error(path, "read", std::string("dataset '") + name + "' needs a 'units' attribute such as '" + std::string(internal_unit(dim)) + "'");
                const double scale = parse_as("1 " + h5::read_attr_string(ds, "units", path), dim);
                out = h5::read_vector<double>(f, name, path);
                if (out.size() != c.pre.size()) throw io_error(path, "read", std::string("'") + name + "' has a different length than 'pre'");
                for (auto& x : out) x *= scale;
            };
            try {
                column("weight", wdim, c.weight);
                column("delay", dimension::time, c.delay);
            } catch (const std::invalid_argument& e) {
                throw io_error(path, "read", e.what());
            }
            return;
        }
        std::ifstream in(path);
        if (!in) throw io_error(path, "open", "cannot read");
        std::string line;
        int lineno = 0;
        int pcol = 0, qcol = 1, wcol = -1, dcol = -1;
        double wscale = 1, dscale = 1;
        bool header_seen = false;
        while (std::getline(in, line)) {
            ++lineno;
            if (line.empty() || line[0] == '#') continue;
            std::vector<std::string> cells;
            std::stringstream ss(line);
            std::string cell;
            while (std::getline(ss, cell, ',')) {
                cell.erase(0, cell.find_first_not_of(" \t\r"));
                cell.erase(cell.find_last_not_of(" \t\r") + 1);
                cells.push_back(cell);
            }
            if (!header_seen) {
                header_seen = true;
                if (!cells.empty() && !std::isdigit(static_cast<unsigned char>(cells[0][0]))) {
                    for (std::size_t i = 0; i < cells.size(); ++i) {
                        const auto& h = cells[i];
                        auto unit_of = [&](dimension dim) {
                            const auto a = h.find('['), b = h.find(']');
                            if (a == std::string::npos || b == std::string::npos)
                                throw io_error(path, "read", "line " + std::to_string(lineno) + ": column '" + h + "' needs a unit, e.g. 'weight [" + std::string(internal_unit(dim)) + "]'");
                            try {
                                return parse_as("1 " + h.substr(a + 1, b - a - 1), dim);
                            } catch (const std::invalid_argument& e) {
                                throw io_error(path, "read", "line " + std::to_string(lineno) + ": " + e.what());
                            }
                        };
                        if (h.rfind("weight", 0) == 0) { wcol = static_cast<int>(i); wscale = unit_of(wdim); }
                        else if (h.rfind("delay", 0) == 0) { dcol = static_cast<int>(i); dscale = unit_of(dimension::time); }
                        else if (h == "pre") pcol = static_cast<int>(i);
                        else if (h == "post") qcol = static_cast<int>(i);
                        else throw io_error(path, "read", "line " + std::to_string(lineno) + ": unknown column '" + h + "' (pre, post, weight [unit], delay [unit])");
                    }
                    continue;
                }
            }
            auto num = [&](std::size_t i) {
                if (i >= cells.size()) throw io_error(path, "read", "line " + std::to_string(lineno) + ": missing column " + std::to_string(i + 1));
                double v = 0;
                auto [p, ec] = std::from_chars(cells[i].data(), cells[i].data() + cells[i].size(), v);
                if (ec != std::errc() || p != cells[i].data() + cells[i].size())
                    throw io_error(path, "read", "line " + std::to_string(lineno) + ": '" + cells[i] + "' is not a number");
                return v;
            };
            const double pre = num(static_cast<std::size_t>(pcol)), post = num(static_cast<std::size_t>(qcol));
            if (pre < 0 || post < 0 || pre != std::floor(pre) || post != std::floor(post))
                throw io_error(path, "read", "line " + std::to_string(lineno) + ": neuron indices must be non-negative integers");
            c.pre.push_back(static_cast<std::uint32_t>(pre));
            c.post.push_back(static_cast<std::uint32_t>(post));
            c.weight.push_back(wcol >= 0 ? num(static_cast<std::size_t>(wcol)) * wscale : std::nan(""));
            c.delay.push_back(dcol >= 0 ? num(static_cast<std::size_t>(dcol)) * dscale : std::nan(""));
        }
    }

    void read_stimuli(const YAML::Node& n, network_spec& spec) {
        remember("stimuli", n);
        if (!n.IsMap()) fail(n, "stimuli", "expected a mapping from stimulus names to stimuli");
        for (const auto& kv : n) {
            stimulus_spec s;
            s.name = kv.first.as<std::string>();
            const std::string key = "stimuli." + s.name;
            const YAML::Node& v = kv.second;
            remember(key, kv.first);
            if (const std::string msg = name_problem(s.name); !msg.empty()) fail(kv.first, key, msg);
            if (!v.IsMap() || !v["type"]) fail(v, key, "a stimulus needs 'type' (step_current or poisson_input)");
            s.type = scalar(v["type"], key + ".type");
            if (s.type == "step_current") {
                check_keys(v, key, {"type", "target", "neurons", "times", "amplitudes"});
                if (!v["times"] || !v["amplitudes"]) fail(v, key, "step_current needs 'times' and 'amplitudes'");
                s.times = quantity_list(v["times"], key + ".times", dimension::time);
                s.amplitudes = quantity_list(v["amplitudes"], key + ".amplitudes", dimension::current);
            } else if (s.type == "poisson_input") {
                check_keys(v, key, {"type", "target", "neurons", "receptor", "rate", "n_sources", "weight", "start", "stop"});
                if (!v["rate"] || !v["weight"]) fail(v, key, "poisson_input needs 'rate' and 'weight'");
                s.rate = quantity_of(v["rate"], key + ".rate", dimension::frequency);
                if (v["n_sources"]) s.n_sources = static_cast<std::uint32_t>(integer(v["n_sources"], key + ".n_sources"));
                if (v["start"]) s.start = quantity_of(v["start"], key + ".start", dimension::time);
                if (v["stop"]) s.stop = quantity_of(v["stop"], key + ".stop", dimension::time);
            } else {
                fail(v["type"], key + ".type", "unknown stimulus type '" + s.type + "' (step_current, poisson_input)",
                     nearest(s.type, std::vector<std::string>{"step_current", "poisson_input"}));
            }
            if (!v["target"]) fail(v, key, "a stimulus needs 'target'");
            s.target = scalar(v["target"], key + ".target");
            const population_spec* tgt = spec.find_population(s.target);
            if (!tgt) {
                std::vector<std::string> pops;
                for (const auto& p : spec.populations) pops.push_back(p.name);
                fail(v["target"], key + ".target", "unknown population '" + s.target + "'", nearest(s.target, pops));
            }
            if (v["neurons"]) s.neurons = index_list(v["neurons"], key + ".neurons");
            if (s.type == "poisson_input") {
                const model_info& tm = models_.get(tgt->model);
                if (tm.receptors.empty()) fail(v["target"], key + ".target", "population '" + s.target + "' has no receptors");
                s.receptor = v["receptor"] ? scalar(v["receptor"], key + ".receptor") : tm.receptors.front().name;
                const int ri = tm.receptor_index(s.receptor);
                if (ri < 0) {
                    std::vector<std::string> rs;
                    for (const auto& r : tm.receptors) rs.push_back(r.name);
                    fail(v["receptor"], key + ".receptor", "model '" + tm.name + "' has no receptor '" + s.receptor + "'", nearest(s.receptor, rs));
                }
                s.weight = finite_quantity(v["weight"], key + ".weight", tm.receptors[static_cast<std::size_t>(ri)].weight_dim);
            }
            s.where = at(kv.first, key);
            spec.stimuli.push_back(std::move(s));
        }
    }

    bool read_record(const YAML::Node& n, network_spec& spec) {
        remember("record", n);
        check_keys(n, "record", {"spikes", "state"});
        bool spikes_given = false;
        std::vector<std::string> pops;
        for (const auto& p : spec.populations) pops.push_back(p.name);
        if (auto s = n["spikes"]) {
            spikes_given = true;
            remember("record.spikes", s);
            if (s.IsScalar() && s.Scalar() == "all") {
                spec.spike_recorders = pops;
            } else if (s.IsScalar() && s.Scalar() == "none") {
            } else if (s.IsSequence()) {
                for (std::size_t i = 0; i < s.size(); ++i) {
                    const std::string name = scalar(s[i], "record.spikes");
                    if (!spec.find_population(name)) fail(s[i], "record.spikes", "unknown population '" + name + "'", nearest(name, pops));
                    spec.spike_recorders.push_back(name);
                }
            } else {
                fail(s, "record.spikes", "expected 'all', 'none' or a list of population names");
            }
        }
        if (auto st = n["state"]) {
            remember("record.state", st);
            if (!st.IsMap()) fail(st, "record.state", "expected a mapping from recorder names to recorders");
            for (const auto& kv : st) {
                state_recorder_spec r;
                r.name = kv.first.as<std::string>();
                const std::string key = "record.state." + r.name;
                const YAML::Node& v = kv.second;
                remember(key, kv.first);
                if (const std::string msg = name_problem(r.name); !msg.empty()) fail(kv.first, key, msg);
                check_keys(v, key, {"population", "variables", "neurons", "interval"});
                if (!v["population"] || !v["variables"]) fail(v, key, "a state recorder needs 'population' and 'variables'");
                r.population = scalar(v["population"], key + ".population");
                const population_spec* p = spec.find_population(r.population);
                if (!p) fail(v["population"], key + ".population", "unknown population '" + r.population + "'", nearest(r.population, pops));
                const model_info& m = models_.get(p->model);
                std::vector<std::string> vars;
                for (const auto& si : m.state) vars.push_back(si.name);
                const YAML::Node vn = v["variables"];
                remember(key + ".variables", vn);
                std::vector<YAML::Node> items;
                if (vn.IsScalar()) items.push_back(vn);
                else if (vn.IsSequence()) for (std::size_t i = 0; i < vn.size(); ++i) items.push_back(vn[i]);
                else fail(vn, key + ".variables", "expected a variable name or a list of names");
                for (const auto& it : items) {
                    const std::string name = scalar(it, key + ".variables");
                    if (m.state_index(name) < 0)
                        fail(it, key + ".variables", "model '" + m.name + "' has no state variable '" + name + "' (variables: " + join(vars) + ")", nearest(name, vars));
                    r.variables.push_back(name);
                }
                if (v["neurons"]) r.neurons = index_list(v["neurons"], key + ".neurons");
                if (v["interval"]) r.interval = quantity_of(v["interval"], key + ".interval", dimension::time);
                r.where = at(kv.first, key);
                spec.state_recorders.push_back(std::move(r));
            }
        }
        return spikes_given;
    }

    config_node to_config_node(const YAML::Node& n, const std::string& key) const {
        config_node c;
        const auto m = n.Mark();
        if (m.line < 0 || is_override(key)) c.from_override = true;
        else { c.line = m.line + 1; c.column = m.column + 1; }
        if (n.IsScalar()) {
            c.type = config_node::kind::scalar;
            c.scalar = n.Scalar();
        } else if (n.IsSequence()) {
            c.type = config_node::kind::sequence;
            for (std::size_t i = 0; i < n.size(); ++i) c.values.push_back(to_config_node(n[i], key + "." + std::to_string(i)));
        } else if (n.IsMap()) {
            c.type = config_node::kind::map;
            for (const auto& kv : n) {
                const std::string k = kv.first.as<std::string>();
                c.keys.push_back(k);
                const auto km = kv.first.Mark();
                const bool over = km.line < 0 || is_override(key + "." + k);
                c.key_marks.emplace_back(over ? 0 : km.line + 1, over ? 0 : km.column + 1);
                c.values.push_back(to_config_node(kv.second, key + "." + k));
            }
        }
        return c;
    }

private:
    std::string file_;
    const model_registry& models_;
    fs::path base_dir_;
};

void apply_override(YAML::Node& root, const std::string& text) {
    const auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0)
        throw config_error("--set", 0, 0, text, "expected key=value, e.g. simulation.duration=\"10 s\"");
    const std::string path = text.substr(0, eq);
    const std::string value = text.substr(eq + 1);
    std::vector<std::string> parts;
    std::stringstream ss(path);
    for (std::string seg; std::getline(ss, seg, '.');) {
        if (seg.empty()) throw config_error("--set", 0, 0, path, "empty component in key path");
        parts.push_back(seg);
    }
    YAML::Node v;
    try {
        v = YAML::Load(value);
    } catch (const YAML::Exception& e) {
        throw config_error("--set", 0, 0, path, "value is not valid YAML: " + e.msg);
    }
    YAML::Node cur = root;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const bool last = i + 1 == parts.size();
        if (cur.IsSequence()) {
            std::size_t idx = 0;
            auto [p, ec] = std::from_chars(parts[i].data(), parts[i].data() + parts[i].size(), idx);
            if (ec != std::errc() || idx >= cur.size())
                throw config_error("--set", 0, 0, path, "'" + parts[i] + "' is not an index of the list there");
            if (last) { cur[idx] = v; return; }
            YAML::Node next = cur[idx];
            cur.reset(next);
            continue;
        }
        if (!cur.IsMap() && !cur.IsNull())
            throw config_error("--set", 0, 0, path, "'" + parts[i - 1] + "' holds a value, not a mapping");
        if (last) { cur[parts[i]] = v; return; }
        if (!cur[parts[i]] || cur[parts[i]].IsNull()) cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
        YAML::Node next = cur[parts[i]];
        cur.reset(next);
    }
}

experiment build(YAML::Node root, const std::string& name, const fs::path& base_dir,
                 const model_registry& models, const std::vector<std::string>& overrides) {
    for (const auto& o : overrides) apply_override(root, o);
    reader r(name, models, base_dir);
    for (const auto& o : overrides) r.overridden.push_back(o.substr(0, o.find('=')));
    experiment ex;
    ex.path = name;
    ex.spec = r.read(root);
    ex.duration_given = root["simulation"] && root["simulation"].IsMap() && root["simulation"]["duration"];
    if (auto in = root["input"]) ex.input = r.to_config_node(in, "input");
    if (auto c = root["classification"]) ex.classification = r.to_config_node(c, "classification");
    if (auto c = root["spinnaker2"]) ex.spinnaker2 = r.to_config_node(c, "spinnaker2");
    try {
        validate(ex.spec, models);
    } catch (const spec_error& e) {
        // Map the spec path back to the place in the file.
        std::string key = e.where();
        while (!key.empty() && !r.marks.count(key)) {
            const auto dot = key.find_last_of('.');
            key = dot == std::string::npos ? std::string() : key.substr(0, dot);
        }
        const auto m = key.empty() ? mark_t{} : r.marks[key];
        const std::string what = std::string(e.what()).substr(e.where().empty() ? 0 : e.where().size() + 2);
        throw config_error(m.from_override ? "--set" : name, m.line, m.column, e.where(), what);
    }
    // Store the experiment as run: overrides applied and every default written out.
    auto fmt = [](double v, dimension d) {
        std::ostringstream os;
        os.precision(17);
        os << v;
        if (d != dimension::dimensionless) os << ' ' << internal_unit(d);
        return os.str();
    };
    const auto& sim = ex.spec.simulation;
    root["simulation"]["dt"] = fmt(sim.dt, dimension::time);
    root["simulation"]["duration"] = fmt(sim.duration, dimension::time);
    root["simulation"]["seed"] = sim.seed;
    root["simulation"]["threads"] = sim.threads;
    root["simulation"]["precision"] = sim.double_precision ? "double" : "float";
    for (const auto& p : ex.spec.populations) {
        const model_info& m = models.get(p.model);
        if (!p.integration.empty()) root["populations"][p.name]["integration"] = p.integration;
        for (const auto& pi : m.params) {
            if (pi.kind == param_kind::spike_trains || root["populations"][p.name]["params"][pi.name]) continue;
            root["populations"][p.name]["params"][pi.name] = fmt(p.params.at(pi.name).values.at(0), pi.dim);
        }
    }
    YAML::Emitter out;
    out << root;
    ex.resolved_yaml = out.c_str();
    return ex;
}

}  // namespace

const config_node* config_node::find(const std::string& k) const {
    for (std::size_t i = 0; i < keys.size(); ++i)
        if (keys[i] == k) return &values[i];
    return nullptr;
}

void set_duration(experiment& ex, double duration_ms) {
    ex.spec.simulation.duration = duration_ms;
    YAML::Node root = YAML::Load(ex.resolved_yaml);
    std::ostringstream os;
    os.precision(17);
    os << duration_ms << " ms";
    root["simulation"]["duration"] = os.str();
    YAML::Emitter out;
    out << root;
    ex.resolved_yaml = out.c_str();
}

experiment load_experiment(const std::string& path, const model_registry& models,
                           const std::vector<std::string>& overrides) {
    std::ifstream in(path);
    if (!in) throw io_error(path, "open", fs::exists(path) ? "permission denied" : "no such file");
    std::stringstream ss;
    ss << in.rdbuf();
    YAML::Node root;
    try {
        root = YAML::Load(ss.str());
    } catch (const YAML::ParserException& e) {
        throw config_error(path, e.mark.line + 1, e.mark.column + 1, "", "YAML syntax error: " + e.msg);
    }
    return build(root, path, fs::path(path).parent_path(), models, overrides);
}

experiment parse_experiment(const std::string& text, const std::string& name, const model_registry& models,
                            const std::vector<std::string>& overrides) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::ParserException& e) {
        throw config_error(name, e.mark.line + 1, e.mark.column + 1, "", "YAML syntax error: " + e.msg);
    }
    return build(root, name, fs::current_path(), models, overrides);
}

namespace {
std::string fmt_ms(double ms) {
    std::ostringstream os;
    os << ms << " ms";
    return os.str();
}
}  // namespace

namespace {
// A number for a message, as iostream writes it ("6553.5", "1e+06").
std::string format_number(double x) {
    std::ostringstream os;
    os << x;
    return os.str();
}
}  // namespace

void validate(const network_spec& spec, const model_registry& models) {
    const auto& sim = spec.simulation;
    if (!(sim.dt > 0)) throw spec_error("simulation.dt", "dt must be > 0");
    if (!(sim.duration >= 0) || !std::isfinite(sim.duration)) throw spec_error("simulation.duration", "duration must be finite and >= 0");
    if (!std::isfinite(sim.dt)) throw spec_error("simulation.dt", "dt must be finite");
    if (sim.duration / sim.dt > 1e15) throw spec_error("simulation.duration", "more than 1e15 steps");
    if (sim.threads < 1 || sim.threads > 1024) throw spec_error("simulation.threads", "threads must be between 1 and 1024");
    auto check_name = [](const std::string& key, const std::string& name) {
        if (const std::string msg = name_problem(name); !msg.empty()) throw spec_error(key, msg);
    };
    std::set<std::string> names;
    for (const auto& p : spec.populations) {
        const std::string key = "populations." + p.name;
        check_name(key, p.name);
        if (!names.insert(p.name).second) throw spec_error(key, "population name used twice");
        if (p.size == 0) throw spec_error(key + ".size", "size must be a positive integer");
        const model_info* m = models.find(p.model);
        if (!m) models.get(p.model);  // throws with a suggestion
        for (const auto& pi : m->params) {
            const std::string pk = key + ".params." + pi.name;
            auto it = p.params.find(pi.name);
            if (it == p.params.end()) throw spec_error(pk, "missing parameter");
            const auto& val = it->second;
            if (pi.kind == param_kind::spike_trains) {
                if (val.trains.size() > 1 && val.trains.size() != p.size)
                    throw spec_error(pk, "has " + std::to_string(val.trains.size()) + " spike trains for " + std::to_string(p.size) + " neurons (give one train, or one per neuron)");
                for (std::size_t i = 0; i < val.trains.size(); ++i) {
                    std::vector<std::int64_t> steps;
                    for (double t : val.trains[i]) {
                        if (!(t > 0)) throw spec_error(pk, "spike times must be > 0, got " + std::to_string(t) + " ms");
                        steps.push_back(std::llround(t / sim.dt));
                    }
                    std::sort(steps.begin(), steps.end());
                    if (std::adjacent_find(steps.begin(), steps.end()) != steps.end())
                        throw spec_error(pk, "train " + std::to_string(i) + " has two spikes in the same time step (dt " + std::to_string(sim.dt) + " ms)");
                }
                continue;
            }
            if (val.values.empty()) throw spec_error(pk, "missing value");
            if (pi.kind == param_kind::scalar && val.values.size() != 1) throw spec_error(pk, "expects one value");
            if (val.values.size() != 1 && val.values.size() != p.size)
                throw spec_error(pk, "has " + std::to_string(val.values.size()) + " values for " + std::to_string(p.size) + " neurons");
            for (double x : val.values) {
                const bool low = pi.min_exclusive ? !(x > pi.min) : !(x >= pi.min);
                if (low || x > pi.max) {
                    std::ostringstream os;
                    os << "value " << x << " " << internal_unit(pi.dim) << " is outside the valid range "
                       << (pi.min_exclusive ? "(" : "[") << pi.min << ", " << pi.max << "] for " << pi.doc;
                    throw spec_error(pk, os.str());
                }
            }
            if (pi.dim == dimension::frequency && pi.kind != param_kind::scalar)
                for (double x : val.values)
                    if (x * sim.dt * 1e-3 > 1.0) throw spec_error(pk, "rate x dt exceeds 1 (at most one spike per step); use poisson_input for larger rates");
        }
        if (m->check)
            if (const std::string msg = m->check(p, sim.dt); !msg.empty()) throw spec_error(key + ".params", msg);
        if (p.integration == "euler")  // forward Euler on a decay exp(-t/tau) is monotone only for dt < tau
            for (const auto& pi : m->params)
                if (pi.dim == dimension::time && pi.name.rfind("tau", 0) == 0 && !(sim.dt < p.params.at(pi.name).values.at(0)))
                    throw spec_error(key + ".integration", "forward Euler needs dt below every time constant: dt " + fmt_ms(sim.dt) +
                                                               " is not below " + pi.name + " = " + fmt_ms(p.params.at(pi.name).values.at(0)));
        if (sim.double_precision && !m->make_f64 && !m->state.empty()) {
            std::string f64;
            for (const auto& n : models.names())
                if (models.get(n).make_f64) f64 += (f64.empty() ? "" : ", ") + n;
            throw spec_error("simulation.precision", "population '" + p.name + "' uses model '" + p.model +
                                                         "', which has float kernels only (double precision: " + f64 + ")");
        }
        for (const auto& [var, d] : p.initial)
            if (m->state_index(var) < 0) throw spec_error(key + ".initial." + var, "no state variable '" + var + "'");
    }
    names.clear();
    for (const auto& pj : spec.projections) {
        const std::string key = "projections." + pj.name;
        check_name(key, pj.name);
        if (!names.insert(pj.name).second) throw spec_error(key, "projection name used twice");
        const population_spec* src = spec.find_population(pj.source);
        const population_spec* tgt = spec.find_population(pj.target);
        if (!src) throw spec_error(key + ".source", "unknown population '" + pj.source + "'");
        if (!tgt) throw spec_error(key + ".target", "unknown population '" + pj.target + "'");
        const model_info& tm = models.get(tgt->model);
        const int ri = tm.receptor_index(pj.receptor);
        if (ri < 0) throw spec_error(key + ".receptor", "model '" + tm.name + "' has no receptor '" + pj.receptor + "'");
        const auto& rinfo = tm.receptors[static_cast<std::size_t>(ri)];
        if (pj.weight.dim != rinfo.weight_dim)
            throw spec_error(key + ".weight", "receptor '" + rinfo.name + "' takes a " + std::string(dimension_name(rinfo.weight_dim)));
        if (rinfo.nonnegative && pj.weight.lowest() < 0)
            throw spec_error(key + ".weight", "receptor '" + rinfo.name + "' is a conductance: weights must be >= 0 (bound the distribution with min)");
        if (pj.delay.lowest() < 0) throw spec_error(key + ".delay", "delays must be >= 0 (bound the distribution with min)");
        // delays are stored as steps in 16 bits; a drawn value beyond is caught when drawn
        const double max_delay = 65535.0 * spec.simulation.dt;
        const auto too_long = [&](double ms) { return std::isfinite(ms) && std::round(ms / spec.simulation.dt) > 65535.0; };
        if (too_long(pj.delay.highest()))
            throw spec_error(key + ".delay", "delays are stored as at most 65535 steps (" + format_number(max_delay) +
                                                 " ms at this dt): the value or the distribution's upper bound must be within");
        {  // weights are stored as floats; a value drawn beyond float range is caught when drawn
            constexpr double fmax = std::numeric_limits<float>::max();
            const auto beyond = [](double x) { return std::isfinite(x) && std::fabs(x) > fmax; };
            const auto& w = pj.weight;
            if (beyond(w.lowest()) || beyond(w.highest()) || beyond(w.a))  // a: a normal's mean, a lognormal's median
                throw spec_error(key + ".weight", "weights are stored as floats: the value, bounds, mean or median must be within float range (|w| <= 3.4e+38 " +
                                                      std::string(internal_unit(w.dim)) + ")");
        }
        const auto& c = pj.connector;
        const std::string ck = key + ".connector";
        if ((c.rule == "fixed_probability" || c.rule == "distance") && !(c.p >= 0.0 && c.p <= 1.0))
            throw spec_error(ck + ".p", "probability must be in [0, 1], got " + std::to_string(c.p));
        if (c.rule == "distance") {
            if (!(c.lambda > 0.0) || !std::isfinite(c.lambda)) throw spec_error(ck + ".lambda", "lambda must be > 0");
            if (!spec.layout_of(pj.source)) throw spec_error(ck, "the distance rule needs population '" + pj.source + "' in a layout (see 'layout')");
            if (!spec.layout_of(pj.target)) throw spec_error(ck, "the distance rule needs population '" + pj.target + "' in a layout (see 'layout')");
            if (spec.layout_of(pj.source) != spec.layout_of(pj.target)) throw spec_error(ck, "the distance rule needs source and target in the same layout");
        }
        if (pj.plasticity.plastic()) {
            const std::string pk = key + ".plasticity";
            const rule_info* r = models.find_rule(pj.plasticity.rule);
            if (!r) throw spec_error(pk + ".rule", "unknown plasticity rule '" + pj.plasticity.rule + "'");
            for (const auto& pi : r->params) {
                auto it = pj.plasticity.params.find(pi.name);
                if (it == pj.plasticity.params.end()) throw spec_error(pk + "." + pi.name, "missing parameter");
                const double x = it->second;
                const bool low = pi.min_exclusive ? !(x > pi.min) : !(x >= pi.min);
                if (low || x > pi.max) {
                    std::ostringstream os;
                    os << "value " << x << " is outside the valid range " << (pi.min_exclusive ? "(" : "[") << pi.min << ", " << pi.max << "] for " << pi.doc;
                    throw spec_error(pk + "." + pi.name, os.str());
                }
            }
            std::vector<std::string> mods;
            for (const auto& m : spec.modulators) mods.push_back(m.name);
            if (r->check)
                if (const std::string msg = r->check(pj.plasticity, mods); !msg.empty()) throw spec_error(pk, msg);
        }
        const bool no_self = pj.source == pj.target && !c.allow_self_connections;
        if (c.rule == "one_to_one" && src->size != tgt->size)
            throw spec_error(ck, "one_to_one needs populations of equal size (" + std::to_string(src->size) + " vs " + std::to_string(tgt->size) + ")");
        if (!c.with_replacement) {
            if (c.rule == "fixed_number_pre" && c.n > src->size - (no_self ? 1u : 0u))
                throw spec_error(ck + ".n", "n = " + std::to_string(c.n) + " exceeds the " + std::to_string(src->size - (no_self ? 1u : 0u)) + " available sources (set with_replacement: true to allow repeats)");
            if (c.rule == "fixed_number_post" && c.n > tgt->size - (no_self ? 1u : 0u))
                throw spec_error(ck + ".n", "n = " + std::to_string(c.n) + " exceeds the " + std::to_string(tgt->size - (no_self ? 1u : 0u)) + " available targets (set with_replacement: true to allow repeats)");
            if (c.rule == "fixed_total_number" && c.n > std::uint64_t(src->size) * tgt->size)
                throw spec_error(ck + ".n", "n = " + std::to_string(c.n) + " exceeds the number of neuron pairs");
        }
        if (c.rule == "from_list")
            for (std::size_t k = 0; k < c.pre.size(); ++k) {
                if (k < c.weight.size() && rinfo.nonnegative && c.weight[k] < 0)
                    throw spec_error(ck, "connection " + std::to_string(k) + ": receptor '" + rinfo.name + "' is a conductance: weights must be >= 0");
                if (k < c.weight.size() && std::fabs(c.weight[k]) > static_cast<double>(std::numeric_limits<float>::max()))
                    throw spec_error(ck, "connection " + std::to_string(k) + ": the weight must be within float range (|w| <= 3.4e+38 " +
                                             std::string(internal_unit(rinfo.weight_dim)) + ")");
                if (k < c.delay.size() && c.delay[k] < 0)
                    throw spec_error(ck, "connection " + std::to_string(k) + ": delays must be >= 0");
                if (k < c.delay.size() && too_long(c.delay[k]))
                    throw spec_error(ck, "connection " + std::to_string(k) + ": the delay must be at most 65535 steps (" + format_number(max_delay) + " ms at this dt)");
                if (c.pre[k] >= src->size || c.post[k] >= tgt->size)
                    throw spec_error(ck, "connection " + std::to_string(k) + " (" + std::to_string(c.pre[k]) + " -> " + std::to_string(c.post[k]) + ") is outside the populations (" + std::to_string(src->size) + " -> " + std::to_string(tgt->size) + " neurons)");
            }
        if (c.with_replacement && c.n > 0) {
            const std::uint64_t avail = c.rule == "fixed_number_pre" ? src->size - (no_self ? 1u : 0u)
                                      : c.rule == "fixed_number_post" ? tgt->size - (no_self ? 1u : 0u)
                                      : std::uint64_t(src->size) * tgt->size - (no_self ? std::min(src->size, tgt->size) : 0u);
            if (avail == 0) throw spec_error(ck + ".n", "there is no neuron pair to connect (self-connections are not allowed)");
        }
    }
    names.clear();
    for (const auto& m : spec.modulators) {
        const std::string key = "modulators." + m.name;
        check_name(key, m.name);
        if (!names.insert(m.name).second) throw spec_error(key, "modulator name used twice");
        if (!models.find_modulator(m.type)) throw spec_error(key + ".type", "unknown modulator type '" + m.type + "'");
        for (const auto& [pop, w] : m.sources) {
            if (!spec.find_population(pop)) throw spec_error(key + ".sources." + pop, "unknown population '" + pop + "'");
            if (!std::isfinite(w)) throw spec_error(key + ".sources." + pop, "weight must be finite");
        }
    }
    names.clear();
    for (const auto& s : spec.stimuli) {
        const std::string key = "stimuli." + s.name;
        check_name(key, s.name);
        if (!names.insert(s.name).second) throw spec_error(key, "stimulus name used twice");
        const population_spec* tgt = spec.find_population(s.target);
        if (!tgt) throw spec_error(key + ".target", "unknown population '" + s.target + "'");
        const model_info& tm = models.get(tgt->model);
        for (auto i : s.neurons)
            if (i >= tgt->size) throw spec_error(key + ".neurons", "neuron " + std::to_string(i) + " is outside population '" + s.target + "' (" + std::to_string(tgt->size) + " neurons)");
        if (s.type == "step_current") {
            if (!tm.accepts_current) throw spec_error(key + ".target", "model '" + tm.name + "' does not take injected current");
            if (s.times.size() != s.amplitudes.size()) throw spec_error(key, "'times' and 'amplitudes' differ in length");
            for (std::size_t i = 0; i < s.times.size(); ++i) {
                if (s.times[i] < 0) throw spec_error(key + ".times", "times must be >= 0");
                if (i && s.times[i] <= s.times[i - 1]) throw spec_error(key + ".times", "times must increase");
            }
        } else if (s.type == "poisson_input") {
            if (tm.receptor_index(s.receptor) < 0) throw spec_error(key + ".receptor", "no receptor '" + s.receptor + "'");
            if (!(s.rate >= 0)) throw spec_error(key + ".rate", "rate must be >= 0");
            if (s.n_sources < 1) throw spec_error(key + ".n_sources", "n_sources must be >= 1");
            if (s.stop < s.start) throw spec_error(key + ".stop", "stop is before start");
            if (s.start < 0) throw spec_error(key + ".start", "start must be >= 0");
            // added to float inputs, also where the step's count is 0 (0 x inf would be NaN)
            if (!(std::fabs(s.weight) <= std::numeric_limits<float>::max()))
                throw spec_error(key + ".weight", "the weight must be finite and within float range");
            if (tm.receptors[static_cast<std::size_t>(tm.receptor_index(s.receptor))].nonnegative && s.weight < 0)
                throw spec_error(key + ".weight", "receptor '" + s.receptor + "' is a conductance: the weight must be >= 0");
        } else {
            throw spec_error(key + ".type", "unknown stimulus type '" + s.type + "'");
        }
    }
    names.clear();
    for (const auto& name : spec.spike_recorders) {
        if (!spec.find_population(name)) throw spec_error("record.spikes", "unknown population '" + name + "'");
        if (!names.insert(name).second) throw spec_error("record.spikes", "population '" + name + "' is listed twice");
    }
    std::set<std::string> recorded;
    for (const auto& r : spec.state_recorders) {
        const std::string key = "record.state." + r.name;
        const population_spec* p = spec.find_population(r.population);
        if (!p) throw spec_error(key + ".population", "unknown population '" + r.population + "'");
        const model_info& m = models.get(p->model);
        for (const auto& v : r.variables) {
            if (m.state_index(v) < 0) throw spec_error(key + ".variables", "model '" + m.name + "' has no state variable '" + v + "'");
            if (!recorded.insert(r.population + "/" + v).second)
                throw spec_error(key + ".variables", "'" + r.population + "/" + v + "' is recorded twice");
        }
        for (auto i : r.neurons)
            if (i >= p->size) throw spec_error(key + ".neurons", "neuron " + std::to_string(i) + " is outside population '" + r.population + "' (" + std::to_string(p->size) + " neurons)");
        if (r.interval < 0) throw spec_error(key + ".interval", "interval must be >= 0");
        check_name(key, r.name);
    }
}

void config_section::fail(const config_node& n, const std::string& key, const std::string& what,
                          const std::string& suggestion) const {
    if (n.from_override) throw config_error("--set", 0, 0, key, what, suggestion);
    throw config_error(file, n.line, n.column, key, what, suggestion);
}

void config_section::check_keys(const config_node& n, const std::string& key, const std::vector<std::string>& allowed) const {
    std::string list;
    for (const auto& x : allowed) list += (list.empty() ? "" : ", ") + x;
    if (!n.is_map()) fail(n, key, "expected a mapping of keys (one of: " + list + ")");
    for (std::size_t i = 0; i < n.keys.size(); ++i)
        if (std::find(allowed.begin(), allowed.end(), n.keys[i]) == allowed.end()) {
            const auto [line, col] = n.key_marks[i];
            const std::string k = key + "." + n.keys[i];
            const std::string what = "unknown key (valid here: " + list + ")";
            if (line == 0) throw config_error("--set", 0, 0, k, what, nearest(n.keys[i], allowed));
            throw config_error(file, line, col, k, what, nearest(n.keys[i], allowed));
        }
}

std::string config_section::scalar(const config_node& n, const std::string& key) const {
    if (!n.is_scalar()) fail(n, key, "expected a single value");
    return n.scalar;
}

double config_section::quantity(const config_node& n, const std::string& key, dimension dim) const {
    try {
        return parse_as(scalar(n, key), dim);
    } catch (const std::invalid_argument& e) {
        fail(n, key, e.what());
    }
}

std::uint64_t config_section::integer(const config_node& n, const std::string& key) const {
    const std::string s = scalar(n, key);
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) fail(n, key, "expected a non-negative integer, got '" + s + "'");
    return v;
}

bool config_section::boolean(const config_node& n, const std::string& key) const {
    const std::string s = scalar(n, key);
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
    fail(n, key, "expected true or false, got '" + s + "'");
}

std::vector<std::string> config_section::strings(const config_node& n, const std::string& key) const {
    if (n.is_scalar()) return {n.scalar};
    if (n.type != config_node::kind::sequence) fail(n, key, "expected a name or a list of names");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n.values.size(); ++i) out.push_back(scalar(n.values[i], key + "[" + std::to_string(i) + "]"));
    return out;
}

}  // namespace engram
