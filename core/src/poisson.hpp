#pragma once
// Poisson-distributed counts from a counter-based stream (private to core).
#include <cmath>
#include <cstdint>

#include "engram/core/rng.hpp"

namespace engram {

// Exact Poisson(lambda) draw: inversion for small lambda, Hörmann's PTRS (transformed
// rejection with squeeze, 1993) for lambda >= 10.
inline std::uint32_t poisson_draw(random_stream& rng, double lambda) {
    if (lambda < 10.0) {
        double p = std::exp(-lambda), cdf = p;
        const double u = rng.uniform();
        std::uint32_t k = 0;
        while (u > cdf && k < 1000) { ++k; p *= lambda / k; cdf += p; }
        return k;
    }
    const double slam = std::sqrt(lambda), loglam = std::log(lambda);
    const double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2.0);
    while (true) {
        const double u = rng.uniform() - 0.5, v = rng.uniform();
        const double us = 0.5 - std::fabs(u);
        const double k = std::floor((2.0 * a / us + b) * u + lambda + 0.43);
        if (us >= 0.07 && v <= vr) return static_cast<std::uint32_t>(k);
        if (k < 0.0 || (us < 0.013 && v > us)) continue;
        if (std::log(v) + std::log(inv_alpha) - std::log(a / (us * us) + b) <=
            -lambda + k * loglam - std::lgamma(k + 1.0))
            return static_cast<std::uint32_t>(k);
    }
}

}  // namespace engram
