#include "engram/core/stats.hpp"

#include <cmath>

namespace engram {

isi_accumulator::isi_accumulator(std::uint32_t n) : n_(n) {}

void isi_accumulator::add(std::uint32_t i, double t) {
    neuron& x = n_[i];
    if (x.count > 0) {
        const double isi = t - x.last;
        x.sum += isi;
        x.sum2 += isi * isi;
    }
    x.last = t;
    ++x.count;
}

void isi_accumulator::add(const std::uint32_t* ids, std::size_t count, double t) {
    // The records of a step's spiking neurons are scattered over the population and
    // mostly out of cache: request them all, then update them.
    for (std::size_t i = 0; i < count; ++i) __builtin_prefetch(&n_[ids[i]], 1);
    for (std::size_t i = 0; i < count; ++i) add(ids[i], t);
}

spike_stats isi_accumulator::finish(double duration_ms) const {
    spike_stats s;
    for (const neuron& x : n_) s.spikes += x.count;
    const auto n = static_cast<double>(n_.size());
    s.mean_rate_hz = n > 0 && duration_ms > 0 ? static_cast<double>(s.spikes) / (n * duration_ms * 1e-3) : 0.0;
    double cv_sum = 0.0;
    for (const neuron& x : n_) {
        if (x.count < 2) continue;
        const auto k = static_cast<double>(x.count - 1);
        const double mean = x.sum / k;
        const double var = std::max(0.0, x.sum2 / k - mean * mean);
        if (mean > 0) { cv_sum += std::sqrt(var) / mean; ++s.cv_neurons; }
    }
    s.cv_isi = s.cv_neurons ? cv_sum / s.cv_neurons : std::nan("");
    return s;
}

}  // namespace engram

namespace engram {

spike_summary::spike_summary(const network_spec& spec) : dt_(spec.simulation.dt) {
    for (const auto& p : spec.populations) acc_.emplace_back(p.size);
}

void spike_summary::on_part_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t count) {
    const double t = static_cast<double>(step) * dt_;
    acc_[pop].add(ids, count, t);
}

}  // namespace engram
