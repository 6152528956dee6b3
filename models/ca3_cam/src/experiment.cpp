#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "engram/ca3/experiment.hpp"
#include "engram/core/config.hpp"
#include "engram/core/errors.hpp"
#include "engram/core/hdf5.hpp"
#include "engram/spinnaker2/spinnaker2.hpp"

namespace engram::ca3 {
namespace {

config_node convert(const YAML::Node& y) {
    config_node c;
    c.line = y.Mark().line + 1;
    c.column = y.Mark().column + 1;
    if (y.IsScalar()) {
        c.type = config_node::kind::scalar;
        c.scalar = y.Scalar();
    } else if (y.IsSequence()) {
        c.type = config_node::kind::sequence;
        for (const auto& e : y) c.values.push_back(convert(e));
    } else if (y.IsMap()) {
        c.type = config_node::kind::map;
        for (const auto& kv : y) {
            c.keys.push_back(kv.first.as<std::string>());
            c.key_marks.emplace_back(kv.first.Mark().line + 1, kv.first.Mark().column + 1);
            c.values.push_back(convert(kv.second));
        }
    }
    return c;
}

std::vector<std::uint32_t> bit_list(const config_section& cs, const config_node& n, const std::string& key, std::size_t m) {
    std::vector<std::uint32_t> out;
    if (n.type != config_node::kind::sequence) cs.fail(n, key, "expected a list of content bit indices, e.g. [0, 4]");
    for (std::size_t i = 0; i < n.values.size(); ++i) {
        const std::string k = key + "[" + std::to_string(i) + "]";
        const std::uint64_t b = cs.integer(n.values[i], k);
        if (b >= m) cs.fail(n.values[i], k, "content bit " + std::to_string(b) + " is outside [0, " + std::to_string(m) + ")");
        out.push_back(static_cast<std::uint32_t>(b));
    }
    return out;
}

}  // namespace

experiment_spec parse_experiment(const std::string& text, const std::string& name) {
    config_section cs{name};
    YAML::Node doc;
    try {
        doc = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        throw config_error(name, e.mark.line + 1, e.mark.column + 1, "", "not valid YAML: " + e.msg);
    }
    const config_node root = convert(doc);
    if (!root.is_map()) throw config_error(name, 1, 1, "", "expected a map with a 'ca3' section");
    for (std::size_t i = 0; i < root.keys.size(); ++i)
        if (root.keys[i] != "ca3")
            throw config_error(name, root.key_marks[i].first, root.key_marks[i].second, root.keys[i],
                               "unknown top-level key (a CA3 experiment has only 'ca3')", nearest(root.keys[i], std::vector<std::string>{"ca3"}));
    const config_node* ca3 = root.find("ca3");
    if (!ca3 || !ca3->is_map()) throw config_error(name, root.line, root.column, "ca3", "missing 'ca3' section (a map)");
    cs.check_keys(*ca3, "ca3", {"cues", "content_bits", "output", "operations", "clear_on_learn", "freeze_during_recall", "backend"});
    experiment_spec ex;
    ex.path = name;
    auto need = [&](const char* k) -> const config_node& {
        const config_node* v = ca3->find(k);
        if (!v) throw config_error(name, ca3->line, ca3->column, std::string("ca3.") + k, "required key missing");
        return *v;
    };
    ex.n = cs.integer(need("cues"), "ca3.cues");
    ex.m = cs.integer(need("content_bits"), "ca3.content_bits");
    if (ex.n < 1) cs.fail(need("cues"), "ca3.cues", "must be at least 1");
    if (ex.m < 1) cs.fail(need("content_bits"), "ca3.content_bits", "must be at least 1");
    if (const auto* o = ca3->find("output")) ex.output = cs.scalar(*o, "ca3.output");
    if (const auto* c = ca3->find("clear_on_learn")) ex.par.clear_on_learn = cs.boolean(*c, "ca3.clear_on_learn");
    if (const auto* c = ca3->find("freeze_during_recall"))
        ex.par.freeze_during_recall = cs.boolean(*c, "ca3.freeze_during_recall");
    if (const auto* b = ca3->find("backend")) {
        ex.par.backend = cs.scalar(*b, "ca3.backend");
        if (ex.par.backend != "float" && ex.par.backend != "spinnaker2")
            cs.fail(*b, "ca3.backend", "unknown backend '" + ex.par.backend + "' (float or spinnaker2)");
    }
    const config_node& ops = need("operations");
    if (ops.type != config_node::kind::sequence || ops.values.empty())
        cs.fail(ops, "ca3.operations", "expected a non-empty list of operations");
    double last_end = 0.0;
    for (std::size_t i = 0; i < ops.values.size(); ++i) {
        const config_node& o = ops.values[i];
        const std::string key = "ca3.operations[" + std::to_string(i) + "]";
        if (!o.is_map()) cs.fail(o, key, "expected a map such as {learn: 0, content: [1, 2]}, {recall_cue: 0} or {recall_content: [1]}");
        cs.check_keys(o, key, {"learn", "recall_cue", "recall_content", "content", "at"});
        operation op;
        int kinds = 0;
        if (const auto* v = o.find("learn")) {
            ++kinds;
            op.kind = op_kind::learn;
            op.cue = static_cast<int>(cs.integer(*v, key + ".learn"));
            const auto* c = o.find("content");
            if (!c) cs.fail(o, key + ".content", "a learn needs 'content' (a list of bits, may be empty)");
            op.content = bit_list(cs, *c, key + ".content", ex.m);
        }
        if (const auto* v = o.find("recall_cue")) {
            ++kinds;
            op.kind = op_kind::recall_cue;
            op.cue = static_cast<int>(cs.integer(*v, key + ".recall_cue"));
        }
        if (const auto* v = o.find("recall_content")) {
            ++kinds;
            op.kind = op_kind::recall_content;
            op.content = bit_list(cs, *v, key + ".recall_content", ex.m);
            if (op.content.empty()) cs.fail(*v, key + ".recall_content", "needs at least one bit");
        }
        if (kinds != 1) cs.fail(o, key, "exactly one of 'learn', 'recall_cue', 'recall_content' is needed");
        if (op.kind != op_kind::learn && o.find("content"))
            cs.fail(*o.find("content"), key + ".content", "only a learn takes 'content'");
        if (op.kind != op_kind::recall_content && static_cast<std::size_t>(op.cue) >= ex.n)
            cs.fail(o, key, "cue " + std::to_string(op.cue) + " is outside [0, " + std::to_string(ex.n) + ")");
        if (const auto* at = o.find("at")) {
            op.at = cs.quantity(*at, key + ".at", dimension::time);
            if (op.at < last_end - 1e-9)
                cs.fail(*at, key + ".at", "starts before the previous operation ends (" + std::to_string(last_end) + " ms)");
            last_end = op.at;
        }
        last_end += static_cast<double>(steps_of(op.kind));
        ex.ops.push_back(std::move(op));
    }
    return ex;
}

experiment_spec load_experiment(const std::string& path) {
    std::ifstream f(path);
    if (!f) throw io_error(path, "open", "cannot read the experiment file");
    std::stringstream ss;
    ss << f.rdbuf();
    return parse_experiment(ss.str(), path);
}

bool timing_ok(const answer& a) {
    switch (a.kind) {
        case op_kind::learn:
            return a.cue_latency == 5 && (a.content.empty() || a.content_latency == 5);
        case op_kind::recall_cue:
            return a.cue_latency == 5 && (a.content.empty() || a.content_latency == 6);
        case op_kind::recall_content:
            return a.content_latency == 5 && (a.cues.empty() || a.cue_latency == 6);
    }
    return false;
}

experiment_result run_experiment(const experiment_spec& ex) {
    experiment_result r;
    memory mem(ex.n, ex.m, ex.par);
    reference_memory ref(ex.n, ex.m);
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& op : ex.ops) {
        r.got.push_back(mem.run(op));
        answer e = ref.apply(op);
        const answer& g = r.got.back();
        const bool ok = g.cues == e.cues && g.content == e.content && timing_ok(g);
        r.correct.push_back(ok);
        r.n_correct += ok;
        r.expected.push_back(std::move(e));
    }
    r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.steps = mem.step();
    r.output = mem.output_spikes();
    r.backend = ex.par.backend;
    if (const auto* t = mem.target()) {
        const auto& m = t->map();
        const auto& tr = t->result();
        r.target_pes = m.pes_used();
        r.target_chips = m.chips_used();
        r.target_max_pe_cycles = tr.max_pe_cycles;
        r.target_mean_pe_cycles = tr.mean_pe_cycles;
        r.target_cycle_budget = m.machine.cycles_per_tick_budget();
        r.target_ticks_over_budget = tr.ticks_over_budget;
        r.target_synaptic_events = tr.synaptic_events;
        r.target_packets = tr.packets;
        r.target_energy_j = tr.energy_j;
        const auto idle = tr.energy_breakdown_j.find("idle");
        r.target_idle_energy_j = idle == tr.energy_breakdown_j.end() ? 0.0 : idle->second;
        r.target_map_seconds = m.map_seconds;
    }
    return r;
}

std::string format_bits(const std::vector<std::uint32_t>& bits) {
    std::string s = "{";
    for (std::size_t i = 0; i < bits.size(); ++i) s += (i ? "," : "") + std::to_string(bits[i]);
    return s + "}";
}

void print_table(std::ostream& os, const experiment_spec& ex, const experiment_result& r) {
    os << "CA3 memory: " << ex.n << " cues x " << ex.m << " content bits (" << 3 * ex.n + 4 * ex.m + 1
       << " memory neurons), " << ex.ops.size() << " operations, " << r.steps << " ms\n";
    os << std::left << std::setw(5) << "#" << std::setw(8) << "t (ms)" << std::setw(16) << "operation" << std::setw(22) << "input"
       << std::setw(20) << "cues out" << std::setw(24) << "content out" << std::setw(10) << "lat (ms)" << "ok\n";
    for (std::size_t i = 0; i < ex.ops.size(); ++i) {
        const auto& op = ex.ops[i];
        const auto& g = r.got[i];
        std::string in = op.kind == op_kind::recall_content ? format_bits(op.content)
                         : op.kind == op_kind::learn        ? std::to_string(op.cue) + " <- " + format_bits(op.content)
                                                            : std::to_string(op.cue);
        std::string lat = (g.cue_latency < 0 ? std::string("-") : std::to_string(g.cue_latency)) + "/" +
                          (g.content_latency < 0 ? std::string("-") : std::to_string(g.content_latency));
        os << std::left << std::setw(5) << i << std::setw(8) << (g.first_step - 1) << std::setw(16) << name(op.kind)
           << std::setw(22) << in << std::setw(20) << format_bits(g.cues) << std::setw(24) << format_bits(g.content)
           << std::setw(10) << lat << (r.correct[i] ? "yes" : "NO (expected " + format_bits(r.expected[i].cues) + " " +
                                                                  format_bits(r.expected[i].content) + ")")
           << "\n";
    }
    os << r.n_correct << " of " << ex.ops.size() << " answers correct (latency cue/content in ms after the operation starts; "
       << std::fixed << std::setprecision(3) << 1e3 * r.wall_seconds << " ms wall, "
       << 1e6 * r.wall_seconds / static_cast<double>(std::max<std::size_t>(1, ex.ops.size())) << " us per operation)\n";
    if (r.backend == "spinnaker2")
        os << "SpiNNaker2 target: " << r.target_pes << " PEs on " << r.target_chips << " chip(s); busiest PE "
           << std::setprecision(0) << r.target_max_pe_cycles << " cycles in a tick (mean " << r.target_mean_pe_cycles
           << ", budget " << r.target_cycle_budget << ", " << r.target_ticks_over_budget << " ticks over); "
           << r.target_synaptic_events << " synaptic events, " << r.target_packets << " packets; energy "
           << std::setprecision(3) << 1e3 * r.target_energy_j << " mJ (" << 1e6 * (r.target_energy_j - r.target_idle_energy_j)
           << " uJ beyond the chip's idle power); mapped in " << 1e3 * r.target_map_seconds << " ms\n";
    os.unsetf(std::ios::floatfield);
}

void write_results(const std::string& path, const experiment_spec& ex, const experiment_result& r) {
    h5::new_file f(path);  // PATH.tmp until complete: an earlier PATH stays until then
    auto g = h5::create_group(f, "ca3", path);
    h5::write_attr(g, "cues", static_cast<std::uint64_t>(ex.n), path);
    h5::write_attr(g, "content_bits", static_cast<std::uint64_t>(ex.m), path);
    h5::write_attr(g, "experiment", ex.path, path);
    h5::write_attr(g, "op_codes", std::string("0 learn, 1 recall_cue, 2 recall_content"), path);
    h5::write_attr(g, "n_correct", static_cast<std::uint64_t>(r.n_correct), path);
    h5::write_attr(g, "wall_seconds", r.wall_seconds, path);
    h5::write_attr(g, "backend", r.backend, path);
    if (r.backend == "spinnaker2") {
        h5::write_attr(g, "target_pes", static_cast<std::uint64_t>(r.target_pes), path);
        h5::write_attr(g, "target_max_pe_cycles", r.target_max_pe_cycles, path);
        h5::write_attr(g, "target_cycle_budget", r.target_cycle_budget, path);
        h5::write_attr(g, "target_ticks_over_budget", r.target_ticks_over_budget, path);
        h5::write_attr(g, "target_energy_j", r.target_energy_j, path);
        h5::write_attr(g, "target_idle_energy_j", r.target_idle_energy_j, path);
    }
    const std::size_t k = ex.ops.size();
    std::vector<std::uint32_t> kind(k), ok(k);
    std::vector<std::int64_t> cue(k), cue_lat(k), cont_lat(k);
    std::vector<double> start(k);
    std::vector<std::uint32_t> in_bits(k * ex.m), out_cues(k * ex.n), out_cont(k * ex.m), exp_cues(k * ex.n), exp_cont(k * ex.m);
    for (std::size_t i = 0; i < k; ++i) {
        kind[i] = static_cast<std::uint32_t>(ex.ops[i].kind);
        cue[i] = ex.ops[i].cue;
        start[i] = static_cast<double>(r.got[i].first_step - 1);
        cue_lat[i] = r.got[i].cue_latency;
        cont_lat[i] = r.got[i].content_latency;
        ok[i] = r.correct[i];
        for (auto b : ex.ops[i].content) in_bits[i * ex.m + b] = 1;
        for (auto c : r.got[i].cues) out_cues[i * ex.n + c] = 1;
        for (auto b : r.got[i].content) out_cont[i * ex.m + b] = 1;
        for (auto c : r.expected[i].cues) exp_cues[i * ex.n + c] = 1;
        for (auto b : r.expected[i].content) exp_cont[i * ex.m + b] = 1;
    }
    h5::write_vector(g, "op", kind, path);
    h5::write_vector(g, "cue", cue, path);
    h5::write_vector(g, "start_ms", start, path);
    h5::write_vector(g, "input_bits", in_bits, path);
    h5::write_vector(g, "answer_cues", out_cues, path);
    h5::write_vector(g, "answer_content", out_cont, path);
    h5::write_vector(g, "expected_cues", exp_cues, path);
    h5::write_vector(g, "expected_content", exp_cont, path);
    h5::write_vector(g, "cue_latency_ms", cue_lat, path);
    h5::write_vector(g, "content_latency_ms", cont_lat, path);
    h5::write_vector(g, "correct", ok, path);
    std::vector<double> ts;
    std::vector<std::uint32_t> ids;
    for (const auto& s : r.output) { ts.push_back(static_cast<double>(s.step)); ids.push_back(s.id); }
    h5::write_vector(g, "output_spike_times_ms", ts, path);
    h5::write_vector(g, "output_spike_ids", ids, path);
    g.reset();
    f.commit();
}

}  // namespace engram::ca3
