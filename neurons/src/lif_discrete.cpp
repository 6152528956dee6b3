// A discrete-time current-based LIF neuron, as liquid-state-machine papers write it
// (Ivanov & Michmizos 2021, NALSM): forward Euler on the step grid, an exponential
// synaptic kernel, a refractory period that blocks spiking but not integration.
//
// Step n:   i <- i * exp(-dt/tau_syn) + (dt/tau_syn) * (weights arriving on `syn`)
//           v <- v * (1 - dt/tau_m) + i + (weights arriving on `direct`) + bias
//           if refractory: one step of it passes, no spike
//           else if v >= V_th: spike, v <- V_reset, refractory for t_ref
// With dt = 1 ms and tau_syn = 1 ms this is NALSM's update V += sum w e^{-sigma} + I - V/tau_v.
#include <algorithm>
#include <cmath>
#include <limits>

#include "engram/neurons/models.hpp"

namespace engram {
namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

double scalar(const population_spec& s, const char* name) { return s.params.at(name).values.at(0); }

struct lif_discrete final : population_model {
    std::vector<float> v, i;
    std::vector<std::int32_t> ref;
    float leak, decay, gain, V_th, V_reset, bias;
    std::int32_t n_ref;

    lif_discrete(const population_spec& s, double dt) : v(s.size), i(s.size), ref(s.size, 0) {
        leak = static_cast<float>(1.0 - dt / scalar(s, "tau_m"));
        decay = static_cast<float>(std::exp(-dt / scalar(s, "tau_syn")));
        gain = static_cast<float>(dt / scalar(s, "tau_syn"));
        V_th = static_cast<float>(scalar(s, "V_th"));
        V_reset = static_cast<float>(scalar(s, "V_reset"));
        bias = static_cast<float>(scalar(s, "bias"));
        n_ref = static_cast<std::int32_t>(std::llround(scalar(s, "t_ref") / dt));
    }
    float* state(std::size_t k) override { return k == 0 ? v.data() : i.data(); }
    void reset() override { std::fill(ref.begin(), ref.end(), 0); }

    void update(const step_context& ctx, std::uint32_t b, std::uint32_t e, std::vector<std::uint32_t>& spikes) override {
        float* __restrict vv = v.data();
        float* __restrict ii = i.data();
        float* __restrict syn = ctx.input[0];
        float* __restrict direct = ctx.input[1];
        const float L = leak, P = decay, G = gain, B = bias;
        for (std::uint32_t k = b; k < e; ++k) {
            ii[k] = ii[k] * P + G * syn[k];
            vv[k] = vv[k] * L + ii[k] + direct[k] + B;
            syn[k] = 0.0f;
            direct[k] = 0.0f;
        }
        std::int32_t* __restrict rr = ref.data();
        const float th = V_th, vr = V_reset;
        const std::int32_t nr = n_ref;
        for (std::uint32_t k = b; k < e; ++k) {
            if (rr[k] > 0) {
                --rr[k];
            } else if (vv[k] >= th) {
                vv[k] = vr;
                rr[k] = nr;
                spikes.push_back(k);
            }
        }
    }
};

}  // namespace

void register_lif_discrete(model_registry& r) {
    model_info m;
    m.name = "lif_discrete";
    m.doc = "discrete-time current-based LIF (forward Euler, exponential synaptic kernel, refractoriness blocks spikes only); NALSM's liquid neuron";
    m.params = {
        {"tau_m", dimension::time, param_kind::scalar, 64.0, 0.0, inf, true, "membrane time constant (leak factor 1 - dt/tau_m per step)"},
        {"tau_syn", dimension::time, param_kind::scalar, 1.0, 0.0, inf, true, "synaptic kernel time constant"},
        {"V_th", dimension::voltage, param_kind::scalar, 20.0, -inf, inf, false, "spike threshold"},
        {"V_reset", dimension::voltage, param_kind::scalar, 0.0, -inf, inf, false, "potential after a spike"},
        {"bias", dimension::voltage, param_kind::scalar, 0.0, -inf, inf, false, "added to v every step"},
        {"t_ref", dimension::time, param_kind::scalar, 2.0, 0.0, inf, false, "steps after a spike in which the neuron cannot spike"},
    };
    m.state = {{"v", dimension::voltage, "V_reset", 0.0, "membrane potential"},
               {"i", dimension::voltage, "", 0.0, "synaptic kernel (mV added to v per step)"}};
    m.receptors = {{"syn", dimension::voltage, false, "through the synaptic kernel: a weight w adds w dt/tau_syn e^{-k dt/tau_syn} to v at the k-th step after arrival"},
                   {"direct", dimension::voltage, false, "added to v in the step it arrives (NALSM's input current)"}};
    m.make = [](const population_spec& s, double dt) { return std::make_unique<lif_discrete>(s, dt); };
    m.check = [](const population_spec& s, double) -> std::string {
        if (!(scalar(s, "V_reset") < scalar(s, "V_th"))) return "V_reset must be below V_th";
        return {};
    };
    r.add(std::move(m));
}

}  // namespace engram
