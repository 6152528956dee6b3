#pragma once
// Plasticity rules and modulators engram ships (core/ knows none of them).
//
// stdp       pair-based STDP with exponential traces, event-driven: a trace is stored as
//            (value just after its neuron's last spike, step of that spike) and decayed
//            in closed form when read; weights change only at spikes, walking the spiking
//            neuron's row (presynaptic spike) or column (postsynaptic spike).
// astrocyte  a leaky integrator of the network's activity (NALSM's astrocyte), read by
//            stdp as its depression rate.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "engram/core/model.hpp"

namespace engram {

void register_plasticity(model_registry& r);

// The STDP window of one pre/post pair, in the units of the weight: the change caused by
// a presynaptic spike at t_pre and a postsynaptic spike at t_post (ms), for additive
// weight dependence and an excitatory presynaptic neuron:
//   t_post > t_pre:  +a_plus  * a * exp(-(t_post - t_pre) / tau_plus)
//   t_post < t_pre:  -a_minus * a * exp(-(t_pre - t_post) / tau_minus)
//   equal:           0  (pairs are counted only when one spike is strictly earlier)
double stdp_window(double t_pre, double t_post, double a_plus, double a_minus, double tau_plus, double tau_minus,
                   double trace_increment = 1.0);

// A trace as plasticity rules keep it: x(t) = sum over spikes s < t of a * exp(-(t - s)/tau)
// (all-to-all) or a * exp(-(t - s_last)/tau) (nearest spike), on the step grid, read lazily.
class lazy_trace {
public:
    lazy_trace(std::size_t n, double tau_ms, double dt_ms, float increment, bool nearest);
    // Value at step n of neuron i, counting its spikes at steps < n (n > its last spike).
    // Branch-free: a neuron that never spiked has value 0 and step 0, and the table ends in
    // a 0 that every longer interval maps to.
    float at(std::size_t i, std::uint64_t n) const {
        const auto& e = state_[i];
        const std::uint64_t k = std::min<std::uint64_t>(n - e.step, last_k_);
        return e.value * decay_[k];
    }
    void spike(std::size_t i, std::uint64_t s) {  // neuron i spiked at step s
        const float before = at(i, s);
        state_[i].value = nearest_ ? increment_ : before + increment_;
        state_[i].step = s;
    }
    void clear();
    std::size_t table_size() const { return decay_.size(); }

private:
    struct entry {
        float value;         // just after the last spike
        std::uint64_t step;  // of the last spike; 0: none yet (steps start at 1)
    };
    std::vector<entry> state_;  // value and step side by side: one cache line per read
    std::vector<float> decay_;  // exp(-k dt / tau), k = 0 .. until below 1e-9, then a 0
    std::uint64_t last_k_ = 0;
    float increment_;
    bool nearest_;
};

}  // namespace engram
