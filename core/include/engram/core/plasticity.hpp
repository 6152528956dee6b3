#pragma once
// The plug-in boundary for plasticity. A rule (plasticity/ registers them) owns the
// per-neuron traces of one projection and changes the weights of its synapses at spikes;
// a modulator is a global scalar, driven by the network's spike counts, that rules read.
//
// Contract, for step n (which advances time from (n-1)*dt to n*dt) in part k of the
// partition; part k owns the synapses onto its targets, so no two parts touch the same
// weight or the same postsynaptic trace:
//   1. begin_step   modulators have taken in the spikes of step n-1
//   2. on_pre       for each presynaptic neuron that spiked at step n-1, after its row
//                   (part k's synapses) was delivered with the old weights
//   3. post_traces  the part's postsynaptic spikes of step n-1
//   4. (stimuli and neuron updates of step n)
//   5. on_post      for each of the part's postsynaptic neurons that spiked at step n,
//                   with its column: the part's synapses onto it
// A rule that pairs a spike at step s with traces of spikes strictly before s sees every
// pair exactly once whatever the partition, so weights do not depend on the thread count.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engram/core/model.hpp"
#include "engram/core/spec.hpp"

namespace engram {

// The targets of one row of a plastic projection: 4-byte indices within the target
// population, or (rows of parts of at most 65,536 neurons) 2-byte offsets from the part's
// first neuron.
struct row_targets {
    const std::uint32_t* index = nullptr;  // null: offset + base
    const std::uint16_t* offset = nullptr;
    std::uint32_t base = 0;
    std::uint32_t operator[](std::size_t c) const { return index ? index[c] : base + offset[c]; }
};

class synapse_rule {
public:
    virtual ~synapse_rule() = default;
    // mods_before: modulator values before the spikes of step n-1 were taken in (the
    // values of step n-1); mods_after: after (the values of step n).
    virtual void begin_step(std::size_t /*part*/, std::uint64_t /*n*/, const double* /*mods_before*/,
                            const double* /*mods_after*/) {}
    virtual void on_pre(std::size_t part, std::uint64_t n, std::uint32_t pre, float* weight,
                        row_targets target, std::size_t count) = 0;
    virtual void post_traces(std::size_t part, std::uint64_t n, const std::uint32_t* post, std::size_t count) = 0;
    // weight is the part's weight array; syn[i] indexes it, pre[i] is that synapse's source.
    virtual void on_post(std::size_t part, std::uint64_t n, std::uint32_t post, float* weight,
                         const std::uint32_t* pre, const std::uint32_t* syn, std::size_t count) = 0;
    // A new trial starts at step `n`: schedules (rate decays) restart there. Traces are
    // emptied unless keep_traces, in which case the spikes before `n` keep pairing with
    // later ones as if the trials followed each other without a gap.
    virtual void reset(std::uint64_t n, bool keep_traces) = 0;
};

class modulator {
public:
    virtual ~modulator() = default;
    virtual double value() const = 0;
    // One step: `drive` = sum over sources of weight * spike count of the step.
    virtual void advance(double drive) = 0;
    virtual void reset() = 0;
};

}  // namespace engram
