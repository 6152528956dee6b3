#pragma once
// Poisson-distributed counts from a counter-based stream (private to core).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "engram/core/rng.hpp"

namespace engram {

// Exact Poisson(lambda) draw: inversion for small lambda, Hörmann's PTRS (transformed
// rejection with squeeze, 1993) for lambda >= 10.
// `exp_neg_lambda` = exp(-lambda), precomputed by callers that draw often.
inline std::uint32_t poisson_draw(random_stream& rng, double lambda, double exp_neg_lambda) {
    if (lambda < 10.0) {
        double p = exp_neg_lambda, cdf = p;
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

// Inversion with a precomputed cumulative table (same values as the loop above, so the
// same draws), for a lambda used for many draws. Built by poisson_table(lambda).
inline std::vector<double> poisson_table(double lambda) {
    std::vector<double> cdf;
    double p = std::exp(-lambda), c = p;
    cdf.push_back(c);
    for (std::uint32_t k = 1; k < 1000 && c < 1.0 - 1e-12; ++k) {
        p *= lambda / k;
        c += p;
        cdf.push_back(c);
    }
    return cdf;
}

// The count for one uniform u in [0,1) by the table (lambda < 10).
inline std::uint32_t poisson_from_uniform(double u, double lambda, const std::vector<double>& cdf) {
    std::uint32_t k = 0;
    const auto n = static_cast<std::uint32_t>(cdf.size());
    while (k < n && u > cdf[k]) ++k;
    if (k < n) return k;
    // beyond the table (probability < 1e-12): continue the recurrence
    double p = cdf[n - 1] - (n > 1 ? cdf[n - 2] : 0.0), c = cdf[n - 1];
    k = n - 1;
    while (u > c && k < 1000) { ++k; p *= lambda / k; c += p; }
    return k;
}

// The table as thresholds on the 32 random bits x of the uniform u = to_unit(x) =
// (x + 0.5) 2^-32: u > cdf[k] exactly when x > floor(cdf[k] 2^32 - 0.5) (both sides exact
// in double; clamped to 2^32 - 1, which no x exceeds). So the count is the number of
// thresholds below x, and integer compares give poisson_from_uniform's draws. Needs
// cdf[k] 2^32 >= 0.5 (true for poisson_table(lambda), lambda < 10: cdf[0] = e^-lambda).
// poisson_table runs to 1 - 1e-12, so its last threshold is 2^32 - 1 and the count never
// passes the table; a table cut short (the tests) does, and then the recurrence goes on.
inline std::vector<std::uint32_t> poisson_thresholds(const std::vector<double>& cdf) {
    std::vector<std::uint32_t> t;
    for (double c : cdf) {
        const double y = std::floor(c * 4294967296.0 - 0.5);
        if (!(y >= 0.0)) throw std::invalid_argument("poisson_thresholds: table entry below 2^-33");
        t.push_back(static_cast<std::uint32_t>(std::min(y, 4294967295.0)));
    }
    return t;
}

// poisson_from_uniform(to_unit(x), lambda, cdf) with thr = poisson_thresholds(cdf).
inline std::uint32_t poisson_from_bits(std::uint32_t x, double lambda, const std::vector<double>& cdf,
                                       const std::vector<std::uint32_t>& thr) {
    std::uint32_t k = 0;
    const auto n = static_cast<std::uint32_t>(thr.size());
    while (k < n && x > thr[k]) ++k;
    return k < n ? k : poisson_from_uniform(to_unit(x), lambda, cdf);
}

// poisson_from_bits for 64 values at once: one compare per value and threshold, up to
// the largest count among them, in loops the compiler vectorises.
inline void poisson_from_bits_64(const std::uint32_t* x, double lambda, const std::vector<double>& cdf,
                                 const std::vector<std::uint32_t>& thr, std::uint32_t* count) {
    for (int j = 0; j < 64; ++j) count[j] = 0;
    const std::size_t n = thr.size();
    std::size_t k = 0;
    for (; k < n; ++k) {
        const std::uint32_t t = thr[k];
        std::uint32_t any = 0;
        for (int j = 0; j < 64; ++j) {
            const std::uint32_t above = x[j] > t;
            count[j] += above;
            any |= above;
        }
        if (!any) break;
    }
    if (k == n)  // past the table in some lane (only with a table cut short)
        for (int j = 0; j < 64; ++j)
            if (x[j] > thr[n - 1]) count[j] = poisson_from_uniform(to_unit(x[j]), lambda, cdf);
}

inline std::uint32_t poisson_draw(random_stream& rng, double lambda, const std::vector<double>& cdf) {
    if (lambda >= 10.0 || cdf.empty()) return poisson_draw(rng, lambda, std::exp(-lambda));
    return poisson_from_uniform(rng.uniform(), lambda, cdf);
}

inline std::uint32_t poisson_draw(random_stream& rng, double lambda) {
    return poisson_draw(rng, lambda, lambda < 10.0 ? std::exp(-lambda) : 0.0);
}

}  // namespace engram
