#pragma once
// The branching factor of a spiking network (Ivanov & Michmizos 2021, after Beggs &
// Plenz): for each spike of neuron n at step t,
//   ancestors   = spikes of n's presynaptic neurons in [t - window, t)
//   descendants = spikes of n's postsynaptic neurons in [t + 1, t + 1 + window)
//   bf(t)       = descendants / max(ancestors, 1)
// averaged over n's spikes, then over the neurons that spiked, for spikes outside a
// buffer at both ends of the recording. Near 1: critical; above: supercritical.
#include <cstdint>
#include <vector>

namespace engram::lsm {

struct adjacency {
    std::vector<std::vector<std::uint32_t>> pre, post;  // per neuron
    explicit adjacency(std::size_t n = 0) : pre(n), post(n) {}
    void add(std::uint32_t from, std::uint32_t to) {
        post[from].push_back(to);
        pre[to].push_back(from);
    }
};

// raster[t] = neurons spiking at step t (0 <= t < raster.size()). Returns NaN when no
// neuron spiked outside the buffers.
double branching_factor(const std::vector<std::vector<std::uint32_t>>& raster, const adjacency& g, std::uint32_t window,
                        std::uint32_t buffer);

}  // namespace engram::lsm
