#include "engram/core/stats.hpp"

#include <cmath>

namespace engram {

isi_accumulator::isi_accumulator(std::uint32_t n) : last_(n, 0.0), sum_(n, 0.0), sum2_(n, 0.0), count_(n, 0) {}

void isi_accumulator::add(std::uint32_t i, double t) {
    if (count_[i] > 0) {
        const double isi = t - last_[i];
        sum_[i] += isi;
        sum2_[i] += isi * isi;
    }
    last_[i] = t;
    ++count_[i];
    ++total_;
}

spike_stats isi_accumulator::finish(double duration_ms) const {
    spike_stats s;
    s.spikes = total_;
    const auto n = static_cast<double>(count_.size());
    s.mean_rate_hz = n > 0 && duration_ms > 0 ? total_ / (n * duration_ms * 1e-3) : 0.0;
    double cv_sum = 0.0;
    for (std::size_t i = 0; i < count_.size(); ++i) {
        if (count_[i] < 2) continue;
        const double k = count_[i] - 1;
        const double mean = sum_[i] / k;
        const double var = std::max(0.0, sum2_[i] / k - mean * mean);
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

void spike_summary::on_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t count) {
    const double t = static_cast<double>(step) * dt_;
    for (std::size_t i = 0; i < count; ++i) acc_[pop].add(ids[i], t);
}

}  // namespace engram
