#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "engram/ca3/memory.hpp"
#include "engram/core/config.hpp"
#include "engram/core/engine.hpp"
#include "engram/core/errors.hpp"
#include "engram/core/model.hpp"
#include "engram/spinnaker2/spinnaker2.hpp"
#include "input_queue.hpp"

namespace engram::ca3 {
namespace {

// What the memory needs of a backend: stepping, the current step, and the plastic
// weights in the spec's units (clearing a cue before a learn, freezing a recall).
class runner {
public:
    virtual ~runner() = default;
    virtual void run(std::uint64_t steps, observer* obs) = 0;
    virtual std::uint64_t current_step() const = 0;
    virtual synapse_list synapses(std::size_t j) const = 0;
    virtual std::vector<float> weights(std::size_t j) const = 0;
    virtual void set_weights(std::size_t j, const std::vector<float>& w) = 0;
};

class float_runner final : public runner {
public:
    float_runner(const network_spec& spec, const model_registry& models) : sim(spec, models, 1) {}
    void run(std::uint64_t steps, observer* obs) override { sim.run(steps, obs); }
    std::uint64_t current_step() const override { return sim.current_step(); }
    synapse_list synapses(std::size_t j) const override { return sim.synapses(j); }
    std::vector<float> weights(std::size_t j) const override { return sim.weights(j); }
    void set_weights(std::size_t j, const std::vector<float>& w) override { sim.set_weights(j, w); }
    simulation sim;
};

// The network mapped onto one SpiNNaker2 chip and run by the target model.
s2::network_map map_memory(const network_spec& spec, const model_registry& models, int weight_bits) {
    experiment ex;
    ex.path = "ca3 memory";
    ex.spec = spec;
    s2::map_options o;
    o.weight_bits = weight_bits;
    o.reference_ms = 0.0;  // the input is fed while the memory runs: no reference rates
    return s2::map_network(ex, models, o);
}

class s2_runner final : public runner {
public:
    s2_runner(const network_spec& spec, const model_registry& models, int weight_bits)
        : map(map_memory(spec, models, weight_bits)), session(map, models) {}
    void run(std::uint64_t steps, observer* obs) override { session.run(steps, obs); }
    std::uint64_t current_step() const override { return session.current_step(); }
    synapse_list synapses(std::size_t j) const override { return session.synapses(j); }
    std::vector<float> weights(std::size_t j) const override { return session.weights(j); }
    void set_weights(std::size_t j, const std::vector<float>& w) override { session.set_weights(j, w); }
    s2::network_map map;
    s2::target_session session;
};

}  // namespace

const char* name(op_kind k) {
    switch (k) {
        case op_kind::learn: return "learn";
        case op_kind::recall_cue: return "recall_cue";
        case op_kind::recall_content: return "recall_content";
    }
    return "?";
}

std::uint64_t steps_of(op_kind k) { return k == op_kind::learn ? learn_steps : recall_steps; }

answer decode(const std::vector<output_spike>& spikes, std::size_t n, std::size_t m, op_kind kind, std::uint64_t first_step,
              std::uint64_t steps) {
    answer a;
    a.kind = kind;
    a.first_step = first_step;
    std::set<std::uint32_t> cues, content;
    const auto lo = std::lower_bound(spikes.begin(), spikes.end(), first_step,
                                     [](const output_spike& s, std::uint64_t t) { return s.step < t; });
    for (auto it = lo; it != spikes.end() && it->step < first_step + steps; ++it) {
        const int lat = static_cast<int>(it->step - first_step);
        if (it->id < n) {
            cues.insert(it->id);
            if (a.cue_latency < 0) a.cue_latency = lat;
        } else if (it->id < n + m) {
            content.insert(static_cast<std::uint32_t>(it->id - n));
            if (a.content_latency < 0) a.content_latency = lat;
        }
    }
    a.cues.assign(cues.begin(), cues.end());
    a.content.assign(content.begin(), content.end());
    return a;
}

answer reference_memory::apply(const operation& op) {
    answer a;
    a.kind = op.kind;
    if (op.kind != op_kind::recall_content && (op.cue < 0 || static_cast<std::size_t>(op.cue) >= stored_.size()))
        throw spec_error("ca3 reference", "cue " + std::to_string(op.cue) + " is outside [0, " + std::to_string(stored_.size()) + ")");
    for (std::uint32_t b : op.content)
        if (b >= m_) throw spec_error("ca3 reference", "content bit " + std::to_string(b) + " is outside [0, " + std::to_string(m_) + ")");
    std::vector<std::uint32_t> bits(op.content);
    std::sort(bits.begin(), bits.end());
    bits.erase(std::unique(bits.begin(), bits.end()), bits.end());
    switch (op.kind) {
        case op_kind::learn:
            stored_.at(static_cast<std::size_t>(op.cue)) = bits;
            if (!bits.empty()) a.cues = {static_cast<std::uint32_t>(op.cue)};
            a.content = bits;
            break;
        case op_kind::recall_cue: {
            const auto& c = stored_.at(static_cast<std::size_t>(op.cue));
            if (!c.empty()) {
                a.cues = {static_cast<std::uint32_t>(op.cue)};
                a.content = c;
            }
            break;
        }
        case op_kind::recall_content:
            for (std::size_t c = 0; c < stored_.size(); ++c)
                for (std::uint32_t b : stored_[c])
                    if (std::binary_search(bits.begin(), bits.end(), b)) {
                        a.cues.push_back(static_cast<std::uint32_t>(c));
                        break;
                    }
            a.content = bits;
            break;
    }
    return a;
}

// Collects every population's spikes (the output layer's also on their own).
struct recorder final : observer {
    std::size_t output_pop = 0;
    std::vector<output_spike> out;
    std::vector<std::vector<output_spike>> all;
    void on_spikes(std::uint64_t step, std::size_t p, const std::uint32_t* ids, std::size_t count) override {
        if (all.size() <= p) all.resize(p + 1);
        for (std::size_t i = 0; i < count; ++i) {
            all[p].push_back({step, ids[i]});
            if (p == output_pop) out.push_back({step, ids[i]});
        }
    }
};

struct memory::impl {
    parameters par;
    std::shared_ptr<input_queue> queue = std::make_shared<input_queue>();
    std::unique_ptr<model_registry> models;
    network_spec spec;
    std::unique_ptr<runner> sim;
    recorder rec;
    std::size_t proj_cc = 0, proj_kc = 0;                 // cue->content, content->cue
    std::vector<std::vector<std::size_t>> cc_of_cue, kc_of_cue;  // synapse indices per cue
};

memory::memory(std::size_t n, std::size_t m, const parameters& p) : impl_(std::make_unique<impl>()), n_(n), m_(m) {
    auto& s = *impl_;
    s.par = p;
    s.models = make_registry(s.queue);
    s.spec = build_network(n, m, p);
    validate(s.spec, *s.models);
    if (p.backend == "float")
        s.sim = std::make_unique<float_runner>(s.spec, *s.models);
    else if (p.backend == "spinnaker2")
        s.sim = std::make_unique<s2_runner>(s.spec, *s.models, p.s2_weight_bits);
    else
        throw spec_error("ca3.backend", "unknown backend '" + p.backend + "' (float or spinnaker2)");
    s.rec.output_pop = s.spec.population_index(pop::output);
    s.rec.all.resize(s.spec.populations.size());
    for (std::size_t j = 0; j < s.spec.projections.size(); ++j) {
        if (s.spec.projections[j].name == cue_to_content) s.proj_cc = j;
        if (s.spec.projections[j].name == content_to_cue) s.proj_kc = j;
    }
    s.cc_of_cue.resize(n);
    s.kc_of_cue.resize(n);
    const synapse_list a = s.sim->synapses(s.proj_cc), b = s.sim->synapses(s.proj_kc);
    for (std::size_t k = 0; k < a.size(); ++k) s.cc_of_cue.at(a.pre[k]).push_back(k);
    for (std::size_t k = 0; k < b.size(); ++k) s.kc_of_cue.at(b.post[k]).push_back(k);
}

memory::~memory() = default;

std::uint64_t memory::step() const { return impl_->sim->current_step(); }
const std::vector<output_spike>& memory::output_spikes() const { return impl_->rec.out; }
const std::vector<std::vector<output_spike>>& memory::all_spikes() const { return impl_->rec.all; }
const network_spec& memory::spec() const { return impl_->spec; }
simulation& memory::sim() {
    auto* f = dynamic_cast<float_runner*>(impl_->sim.get());
    if (!f) throw spec_error("ca3 memory", "sim(): the memory runs on backend '" + impl_->par.backend + "', not the float engine");
    return f->sim;
}
const s2::target_session* memory::target() const {
    auto* t = dynamic_cast<const s2_runner*>(impl_->sim.get());
    return t ? &t->session : nullptr;
}

void memory::wait(double ms) {
    if (!(ms >= 0.0) || !std::isfinite(ms)) throw spec_error("ca3.wait", "the time to wait must be a finite number of ms >= 0");
    const auto steps = static_cast<std::uint64_t>(std::llround(ms));
    if (steps) impl_->sim->run(steps, &impl_->rec);
}

answer memory::run(const operation& op) {
    auto& s = *impl_;
    const std::string where = std::string("ca3 ") + name(op.kind);
    if (op.kind != op_kind::recall_content) {
        if (op.cue < 0 || static_cast<std::size_t>(op.cue) >= n_)
            throw spec_error(where, "cue " + std::to_string(op.cue) + " is outside [0, " + std::to_string(n_) + ")");
    }
    if (op.kind == op_kind::recall_cue && !op.content.empty()) throw spec_error(where, "a recall by cue takes no content bits");
    for (std::uint32_t b : op.content)
        if (b >= m_) throw spec_error(where, "content bit " + std::to_string(b) + " is outside [0, " + std::to_string(m_) + ")");
    if (op.kind == op_kind::recall_content && op.content.empty()) throw spec_error(where, "a recall by content needs at least one bit");

    // The operation's first step: the next one, or later if op.at asks (time t = step t+1).
    std::uint64_t first = s.sim->current_step() + 1;
    if (op.at >= 0.0) {
        const auto want = static_cast<std::uint64_t>(std::llround(op.at)) + 1;
        if (want < first)
            throw spec_error(where, "starts at " + std::to_string(op.at) + " ms, before the previous operation ended (" +
                                        std::to_string(first - 1) + " ms)");
        if (want > first) s.sim->run(want - first, &s.rec);
        first = want;
    }
    if (op.kind == op_kind::learn && s.par.clear_on_learn) {
        auto w = s.sim->weights(s.proj_cc);
        for (std::size_t k : s.cc_of_cue[static_cast<std::size_t>(op.cue)]) w[k] = 0.0f;
        s.sim->set_weights(s.proj_cc, w);
        auto v = s.sim->weights(s.proj_kc);
        for (std::size_t k : s.kc_of_cue[static_cast<std::size_t>(op.cue)]) v[k] = 0.0f;
        s.sim->set_weights(s.proj_kc, v);
    }
    std::vector<std::uint32_t> ids;
    if (op.kind != op_kind::recall_content) ids.push_back(static_cast<std::uint32_t>(op.cue));
    for (std::uint32_t b : op.content) ids.push_back(static_cast<std::uint32_t>(n_ + b));
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    const std::uint64_t hold = op.kind == op_kind::learn ? learn_hold : 1;
    for (std::uint64_t h = 0; h < hold; ++h) s.queue->spikes[first + h] = ids;
    const std::uint64_t len = steps_of(op.kind);
    const bool freeze = op.kind == op_kind::recall_content && s.par.freeze_during_recall;
    std::vector<float> keep_cc, keep_kc;
    if (freeze) {
        keep_cc = s.sim->weights(s.proj_cc);
        keep_kc = s.sim->weights(s.proj_kc);
    }
    s.sim->run(len, &s.rec);
    if (freeze) {
        s.sim->set_weights(s.proj_cc, keep_cc);
        s.sim->set_weights(s.proj_kc, keep_kc);
    }
    s.queue->spikes.erase(s.queue->spikes.begin(), s.queue->spikes.upper_bound(first + len));
    return decode(s.rec.out, n_, m_, op.kind, first, len);
}

answer memory::learn(std::uint32_t cue, const std::vector<std::uint32_t>& content) {
    operation op;
    op.kind = op_kind::learn;
    op.cue = static_cast<int>(cue);
    op.content = content;
    return run(op);
}

answer memory::recall_by_cue(std::uint32_t cue) {
    operation op;
    op.kind = op_kind::recall_cue;
    op.cue = static_cast<int>(cue);
    return run(op);
}

answer memory::recall_by_content(const std::vector<std::uint32_t>& fragment) {
    operation op;
    op.kind = op_kind::recall_content;
    op.content = fragment;
    return run(op);
}

}  // namespace engram::ca3
