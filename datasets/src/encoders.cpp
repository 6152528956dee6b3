#include "engram/datasets/encoders.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace engram {
namespace {

void check_values(std::span<const double> values, const char* who) {
    if (values.size() > std::numeric_limits<std::uint32_t>::max())
        throw std::invalid_argument(std::string(who) + ": more than 2^32 values");
    for (std::size_t i = 0; i < values.size(); ++i)
        if (!(values[i] >= 0.0 && values[i] <= 1.0))  // also rejects NaN
            throw std::invalid_argument(std::string(who) + ": value " + std::to_string(i) + " is " +
                                        std::to_string(values[i]) + ", outside [0, 1]");
}

void check_rate(const rate_code& code, const char* who) {
    if (!(code.max_rate_hz >= 0.0 && std::isfinite(code.max_rate_hz)))
        throw std::invalid_argument(std::string(who) + ": max_rate_hz must be finite and >= 0");
    if (!(code.duration_ms >= 0.0 && std::isfinite(code.duration_ms)))
        throw std::invalid_argument(std::string(who) + ": duration_ms must be finite and >= 0");
}

}  // namespace

spike_trains poisson_encode(std::span<const double> values, const rate_code& code, const random_key& key) {
    check_values(values, "poisson_encode");
    check_rate(code, "poisson_encode");
    spike_trains out(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        const double rate_per_ms = values[i] * code.max_rate_hz * 1e-3;
        if (rate_per_ms <= 0.0) continue;
        random_stream rng(key.seed, key.stream, static_cast<std::uint32_t>(i), key.sample << 32);
        auto& train = out[i];
        train.reserve(static_cast<std::size_t>(rate_per_ms * code.duration_ms * 1.2) + 4);
        for (double t = -std::log(rng.uniform()) / rate_per_ms; t <= code.duration_ms;
             t += -std::log(rng.uniform()) / rate_per_ms)
            train.push_back(t);
    }
    return out;
}

spike_trains regular_encode(std::span<const double> values, const rate_code& code) {
    check_values(values, "regular_encode");
    check_rate(code, "regular_encode");
    spike_trains out(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        const double rate_per_ms = values[i] * code.max_rate_hz * 1e-3;
        if (rate_per_ms <= 0.0) continue;
        // Count first, then place: k * T accumulates no rounding error.
        const auto n = static_cast<std::size_t>(std::floor(rate_per_ms * code.duration_ms * (1.0 + 1e-9)));
        const double period = 1.0 / rate_per_ms;
        out[i].resize(n);
        for (std::size_t k = 0; k < n; ++k) out[i][k] = static_cast<double>(k + 1) * period;
    }
    return out;
}

spike_trains latency_encode(std::span<const double> values, const latency_code& code) {
    check_values(values, "latency_encode");
    if (!(code.t_max_ms > 0.0 && std::isfinite(code.t_max_ms)))
        throw std::invalid_argument("latency_encode: t_max_ms must be finite and > 0");
    const bool log_curve = code.shape == latency_code::curve::log;
    if (log_curve ? !(code.threshold > 0.0 && code.threshold < 1.0) : !(code.threshold >= 0.0 && code.threshold < 1.0))
        throw std::invalid_argument(std::string("latency_encode: threshold must be in ") +
                                    (log_curve ? "(0, 1)" : "[0, 1)"));
    if (log_curve && !(code.tau_ms > 0.0 && std::isfinite(code.tau_ms)))
        throw std::invalid_argument("latency_encode: tau_ms must be finite and > 0");
    spike_trains out(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        const double v = values[i];
        if (v <= code.threshold) continue;
        const double t = log_curve ? code.tau_ms * std::log(v / (v - code.threshold)) : code.t_max_ms * (1.0 - v);
        if (t <= code.t_max_ms) out[i].push_back(t);
    }
    return out;
}

spike_trains delta_encode(const std::vector<std::vector<double>>& channels, const delta_code& code) {
    if (!(code.threshold > 0.0 && std::isfinite(code.threshold)))
        throw std::invalid_argument("delta_encode: threshold must be finite and > 0");
    if (!(code.dt_ms > 0.0 && std::isfinite(code.dt_ms)))
        throw std::invalid_argument("delta_encode: dt_ms must be finite and > 0");
    spike_trains out(2 * channels.size());
    for (std::size_t c = 0; c < channels.size(); ++c) {
        const auto& x = channels[c];
        for (std::size_t k = 0; k < x.size(); ++k)
            if (!std::isfinite(x[k]))
                throw std::invalid_argument("delta_encode: channel " + std::to_string(c) + ", sample " +
                                            std::to_string(k) + " is not finite");
        if (x.empty()) continue;
        auto& on = out[2 * c];
        auto& off = out[2 * c + 1];
        const double base = x[0], th = code.threshold;
        std::int64_t n = 0;  // reference level = base + n * th
        const auto crossing = [&](std::size_t k, double level) {
            const double t1 = static_cast<double>(k) * code.dt_ms;
            if (!code.interpolate) return t1;
            const double frac = (level - x[k - 1]) / (x[k] - x[k - 1]);
            return t1 - code.dt_ms + code.dt_ms * std::fmin(1.0, std::fmax(0.0, frac));
        };
        for (std::size_t k = 1; k < x.size(); ++k) {
            while (x[k] >= base + static_cast<double>(n + 1) * th) {
                ++n;
                on.push_back(crossing(k, base + static_cast<double>(n) * th));
            }
            while (x[k] <= base + static_cast<double>(n - 1) * th) {
                --n;
                off.push_back(crossing(k, base + static_cast<double>(n) * th));
            }
        }
    }
    return out;
}

spike_trains delta_encode(std::span<const double> signal, const delta_code& code) {
    return delta_encode(std::vector<std::vector<double>>{std::vector<double>(signal.begin(), signal.end())}, code);
}

std::vector<double> normalize(std::span<const std::uint8_t> pixels) {
    std::vector<double> out(pixels.size());
    for (std::size_t i = 0; i < pixels.size(); ++i) out[i] = pixels[i] / 255.0;
    return out;
}

}  // namespace engram
