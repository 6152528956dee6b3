#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "engram/core/errors.hpp"
#include "engram/core/plasticity.hpp"
#include "engram/plasticity/plasticity.hpp"
#include "registry.hpp"

namespace engram {

double stdp_window(double t_pre, double t_post, double a_plus, double a_minus, double tau_plus, double tau_minus,
                   double trace_increment) {
    if (t_post > t_pre) return a_plus * trace_increment * std::exp(-(t_post - t_pre) / tau_plus);
    if (t_post < t_pre) return -a_minus * trace_increment * std::exp(-(t_pre - t_post) / tau_minus);
    return 0.0;
}

lazy_trace::lazy_trace(std::size_t n, double tau_ms, double dt_ms, float increment, bool nearest)
    : state_(n, entry{0.0f, 0}), increment_(increment), nearest_(nearest) {
    // Beyond exp(-20.7) ~ 1e-9 of its value a trace counts as zero.
    const double steps = std::ceil(20.7 * tau_ms / dt_ms);
    const std::size_t len = static_cast<std::size_t>(std::min(steps, double(1 << 24))) + 1;
    decay_.resize(len + 1);
    for (std::size_t k = 0; k < len; ++k) decay_[k] = static_cast<float>(std::exp(-double(k) * dt_ms / tau_ms));
    decay_[len] = 0.0f;
    last_k_ = len;
}

void lazy_trace::clear() { std::fill(state_.begin(), state_.end(), entry{0.0f, 0}); }

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

// Pair-based STDP. For an excitatory presynaptic neuron (the usual rule):
//   postsynaptic spike at n:  w += a_plus  * F+(w) * x_pre(n)
//   presynaptic spike at s:   w -= a_minus * F-(w) * y_post(s)
// For an inhibitory presynaptic neuron (presynaptic: inhibitory, NALSM's convention) the
// amplitudes trade places: a postsynaptic spike makes the weight more negative by a_minus,
// a presynaptic spike less negative by a_plus. F = 1 (additive) or F+ = w_max - w,
// F- = w - w_min (multiplicative). Weights are clipped to [w_min, w_max] after each change.
// With a depression modulator, a_minus is scaled by the modulator's value; rate_decay
// multiplies the amplitudes every step since the last reset (the modulator carries its own
// decay, so a modulated a_minus is not decayed again).
class stdp_rule final : public synapse_rule {
public:
    stdp_rule(const projection_spec& pj, double dt, std::uint32_t n_pre, std::uint32_t n_post, std::size_t parts,
              const std::vector<std::string>& mods)
        : post_(n_post, pj.plasticity.params.at("tau_minus"), dt, static_cast<float>(pj.plasticity.params.at("trace_increment")),
                pj.plasticity.options.at("pairing") == "nearest") {
        const auto& p = pj.plasticity.params;
        const auto& o = pj.plasticity.options;
        a_plus_ = p.at("a_plus");
        a_minus_ = p.at("a_minus");
        w_min_ = static_cast<float>(p.at("w_min"));
        w_max_ = static_cast<float>(p.at("w_max"));
        rate_decay_ = p.at("rate_decay");
        multiplicative_ = o.at("weight_dependence") == "multiplicative";
        inhibitory_ = o.at("presynaptic") == "inhibitory";
        const std::string& m = o.at("depression_modulator");
        if (!m.empty()) {
            const auto it = std::find(mods.begin(), mods.end(), m);
            if (it == mods.end()) throw spec_error("projections." + pj.name + ".plasticity.depression_modulator", "unknown modulator '" + m + "'");
            mod_ = static_cast<int>(it - mods.begin());
        }
        for (std::size_t k = 0; k < parts; ++k)
            pre_.emplace_back(n_pre, p.at("tau_plus"), dt, static_cast<float>(p.at("trace_increment")), o.at("pairing") == "nearest");
        amps_.resize(parts);
        for (auto& a : amps_) a = {static_cast<float>(a_plus_), static_cast<float>(a_minus_), static_cast<float>(a_minus_)};
    }

    void begin_step(std::size_t k, std::uint64_t n, const double* before, const double* after) override {
        const double f = rate_decay_ == 1.0 ? 1.0 : std::pow(rate_decay_, static_cast<double>(n - std::min(n, reset_step_)));
        auto& a = amps_[k];
        a.plus = static_cast<float>(a_plus_ * f);
        if (mod_ >= 0) {
            a.minus_pre = static_cast<float>(a_minus_ * before[mod_]);
            a.minus_post = static_cast<float>(a_minus_ * after[mod_]);
        } else {
            a.minus_pre = a.minus_post = static_cast<float>(a_minus_ * f);
        }
    }

    void on_pre(std::size_t k, std::uint64_t n, std::uint32_t pre, float* w, row_targets tgt, std::size_t count) override {
        if (tgt.index) pre_update(k, n, w, count, tgt.index, 0u);
        else pre_update(k, n, w, count, tgt.offset, tgt.base);
        pre_[k].spike(pre, n - 1);
    }
    // Idx: 4-byte target indices (base 0) or 2-byte offsets from base
    template <class Idx>
    void pre_update(std::size_t k, std::uint64_t n, float* w, std::size_t count, const Idx* tgt, std::uint32_t base) {
        const std::uint64_t s = n - 1;  // the presynaptic spike's step
        const auto& a = amps_[k];
        const lazy_trace& y = post_;
        if (!inhibitory_)
            update<-1>(w, count, a.minus_pre, [&](std::size_t c) { return y.at(base + tgt[c], s); }, [](std::size_t c) { return c; });
        else
            update<+1>(w, count, a.plus, [&](std::size_t c) { return y.at(base + tgt[c], s); }, [](std::size_t c) { return c; });
    }

    void post_traces(std::size_t, std::uint64_t n, const std::uint32_t* post, std::size_t count) override {
        for (std::size_t c = 0; c < count; ++c) post_.spike(post[c], n - 1);
    }

    void on_post(std::size_t k, std::uint64_t n, std::uint32_t, float* w, const std::uint32_t* pre, const std::uint32_t* syn,
                 std::size_t count) override {
        const auto& a = amps_[k];
        const auto& x = pre_[k];
        if (!inhibitory_)
            update<+1>(w, count, a.plus, [&](std::size_t c) { return x.at(pre[c], n); }, [&](std::size_t c) { return syn[c]; });
        else
            update<-1>(w, count, a.minus_post, [&](std::size_t c) { return x.at(pre[c], n); }, [&](std::size_t c) { return syn[c]; });
    }

    void reset(std::uint64_t n, bool keep_traces) override {
        if (!keep_traces) {
            for (auto& t : pre_) t.clear();
            post_.clear();
        }
        reset_step_ = n;
    }

private:
    float clip(float w) const { return std::min(w_max_, std::max(w_min_, w)); }

    // w[index(c)] += sign * amp * F(w) * trace(c), clipped, for c < count. No branch per
    // synapse: a zero trace leaves the weight unchanged (it is within its bounds).
    template <int Sign, class Trace, class Index>
    void update(float* w, std::size_t count, float amp, Trace&& trace, Index&& index) const {
        const float lo = w_min_, hi = w_max_, sa = Sign * amp;
        if (!multiplicative_) {
            for (std::size_t c = 0; c < count; ++c) {
                float& ws = w[index(c)];
                ws = std::min(hi, std::max(lo, ws + sa * trace(c)));
            }
        } else {
            for (std::size_t c = 0; c < count; ++c) {
                float& ws = w[index(c)];
                const float room = Sign > 0 ? hi - ws : ws - lo;
                ws = std::min(hi, std::max(lo, ws + sa * room * trace(c)));
            }
        }
    }

    struct alignas(64) amplitudes {
        float plus, minus_pre, minus_post;
    };
    std::vector<lazy_trace> pre_;  // one copy per part: each part reads and writes its own
    lazy_trace post_;              // parts write disjoint neurons
    std::vector<amplitudes> amps_;
    double a_plus_ = 0, a_minus_ = 0, rate_decay_ = 1.0;
    float w_min_ = 0, w_max_ = 0;
    bool multiplicative_ = false, inhibitory_ = false;
    int mod_ = -1;
    std::uint64_t reset_step_ = 1;
};

}  // namespace

void register_stdp(model_registry& r) {
    rule_info m;
    m.name = "stdp";
    m.doc = "pair-based STDP with exponential traces (additive or multiplicative, all-to-all or nearest-spike pairing)";
    m.params = {
        {"tau_plus", dimension::time, param_kind::scalar, 20.0, 0.0, inf, true, "time constant of the presynaptic trace (potentiation window)"},
        {"tau_minus", dimension::time, param_kind::scalar, 20.0, 0.0, inf, true, "time constant of the postsynaptic trace (depression window)"},
        {"trace_increment", dimension::dimensionless, param_kind::scalar, 1.0, 0.0, inf, false, "jump of a trace at a spike"},
        {"a_plus", dimension::dimensionless, param_kind::scalar, 0.01, 0.0, inf, false, "potentiation amplitude (weight units per unit trace)"},
        {"a_minus", dimension::dimensionless, param_kind::scalar, 0.0105, 0.0, inf, false, "depression amplitude (scales the modulator's value when one is named)"},
        {"w_min", dimension::dimensionless, param_kind::scalar, 0.0, -inf, inf, false, "lower weight bound (weight units)"},
        {"w_max", dimension::dimensionless, param_kind::scalar, std::nullopt, -inf, inf, false, "upper weight bound (weight units)"},
        {"rate_decay", dimension::dimensionless, param_kind::scalar, 1.0, 0.0, 1.0, false, "factor applied to the amplitudes every step since the last reset"},
    };
    m.options = {
        {"weight_dependence", {"additive", "multiplicative"}, "additive: fixed steps; multiplicative: steps scaled by the distance to the bound"},
        {"pairing", {"all_to_all", "nearest"}, "all_to_all: traces sum over spikes; nearest: only the last spike counts"},
        {"presynaptic", {"excitatory", "inhibitory"}, "inhibitory: the amplitudes trade places (NALSM's convention for inhibitory sources)"},
        {"depression_modulator", {"<modulator>"}, "a modulator whose value scales a_minus (astrocyte-modulated STDP)"},
    };
    m.check = [](const plasticity_spec& ps, const std::vector<std::string>&) -> std::string {
        if (ps.params.at("w_min") > ps.params.at("w_max")) return "w_min must not exceed w_max";
        return "";
    };
    m.make = [](const projection_spec& pj, double dt, std::uint32_t n_pre, std::uint32_t n_post, std::size_t parts,
                const std::vector<std::string>& mods) -> std::unique_ptr<synapse_rule> {
        return std::make_unique<stdp_rule>(pj, dt, n_pre, n_post, parts, mods);
    };
    r.add_rule(std::move(m));
}

}  // namespace engram
