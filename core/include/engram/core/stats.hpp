#pragma once
// Firing statistics as used in the benchmarks (same definitions as ../shared/peers).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engram/core/engine.hpp"

namespace engram {

struct spike_stats {
    std::uint64_t spikes = 0;
    double mean_rate_hz = 0.0;
    double cv_isi = 0.0;         // mean over neurons with >= 2 spikes of std(ISI)/mean(ISI)
    std::uint32_t cv_neurons = 0;
};

// Accumulates per-neuron ISI moments online, so no spike train is kept.
class isi_accumulator {
public:
    explicit isi_accumulator(std::uint32_t n);
    void add(std::uint32_t neuron, double t_ms);
    // Several neurons' spikes at one time (their records are fetched together first).
    void add(const std::uint32_t* neurons, std::size_t count, double t_ms);
    spike_stats finish(double duration_ms) const;

private:
    // One 32-byte record per neuron: a spike touches one cache line, not four.
    struct alignas(32) neuron {
        double last = 0.0, sum = 0.0, sum2 = 0.0;
        std::uint64_t count = 0;
    };
    std::vector<neuron> n_;
};

// Per-population firing statistics of a run, as an engine observer. It takes the spikes
// per part, from the workers (observer::on_part_spikes): each touches only its own
// neurons' records, so the records are updated in parallel and stay in the cache of
// the core that owns them.
class spike_summary : public observer {
public:
    spike_summary(const network_spec& spec);
    void on_spikes(std::uint64_t, std::size_t, const std::uint32_t*, std::size_t) override {}
    bool takes_part_spikes() const override { return true; }
    void on_part_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t count) override;
    spike_stats stats(std::size_t pop, double duration_ms) const { return acc_[pop].finish(duration_ms); }

private:
    double dt_;
    std::vector<isi_accumulator> acc_;
};

}  // namespace engram
