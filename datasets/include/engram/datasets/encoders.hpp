#pragma once
// Encoders: static values or time series -> spike trains (ms, sorted, one per neuron).
//
// Random encoders draw from engram's counter-based RNG: neuron i of sample s uses
// random_stream(seed, stream, i, s << 32), so a train is a pure function of
// (seed, stream, sample, neuron) and does not depend on which other neurons or samples
// are encoded, or in what order. Bad arguments throw std::invalid_argument naming the
// parameter (and the value's index).
#include <cstdint>
#include <span>
#include <vector>

#include "engram/core/rng.hpp"
#include "engram/datasets/trains.hpp"

namespace engram {

struct random_key {
    std::uint64_t seed = 1;
    std::uint64_t sample = 0;  // the sample (image) being encoded: each gets its own draws
    std::uint32_t stream = stream_id("encode/poisson");
};

// Rate codes: value v in [0, 1] -> rate v * max_rate_hz, over (0, duration_ms].
struct rate_code {
    double max_rate_hz = 100.0;
    double duration_ms = 100.0;
};

// Homogeneous Poisson trains (exponential intervals, continuous time).
spike_trains poisson_encode(std::span<const double> values, const rate_code& code, const random_key& key = {});

// Regular trains: spikes at k * T for k = 1, 2, ... while k * T <= duration, T = 1 / rate;
// exactly floor(rate * duration) spikes (to 1e-9 relative), none for v = 0.
spike_trains regular_encode(std::span<const double> values, const rate_code& code);

// Time to first spike: at most one spike per neuron, earlier for larger values.
//   linear: t = t_max * (1 - v) for v > threshold (v = 1 -> t = 0)
//   log:    t = tau * ln(v / (v - threshold)) for v > threshold (the time a leaky
//           integrator with input v needs to reach `threshold`), no spike after t_max
// Values <= threshold (in particular 0) give no spike.
struct latency_code {
    enum class curve { linear, log };
    curve shape = curve::linear;
    double t_max_ms = 50.0;
    double threshold = 0.0;  // linear: in [0, 1); log: in (0, 1)
    double tau_ms = 10.0;    // log only
};
spike_trains latency_encode(std::span<const double> values, const latency_code& code);

// Send-on-delta (sigma-delta, "level crossing") coding of time series. Each channel's
// samples x[k] are at times k * dt_ms. A reference level starts at x[0]; whenever the
// signal is at least `threshold` above it, an ON spike is emitted and the level moves up
// by `threshold` (OFF and down likewise), as often as needed. The level is kept as
// x[0] + n * threshold (integer n), so long signals do not drift. The crossing time is
// interpolated linearly between the two samples around it (`interpolate`), otherwise the
// time of the later sample. Output: 2 * channels trains, ON of channel c at 2c, OFF at 2c+1.
struct delta_code {
    double threshold = 0.1;
    double dt_ms = 1.0;
    bool interpolate = true;
};
spike_trains delta_encode(const std::vector<std::vector<double>>& channels, const delta_code& code);
spike_trains delta_encode(std::span<const double> signal, const delta_code& code);

// Bytes (pixels 0..255) -> values in [0, 1].
std::vector<double> normalize(std::span<const std::uint8_t> pixels);

}  // namespace engram
