#pragma once
// exp that the compiler vectorises (no libm call): range reduction to x = k ln2 + r,
// |r| <= ln2/2, then a Taylor polynomial. float: degree 6, relative error < 2e-7 over
// [-87, 88]. double: degree 13, relative error < 1e-15 over [-708, 709].
#include <bit>
#include <cmath>
#include <cstdint>

namespace engram {

inline float vexp(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    // round to nearest by adding and removing 1.5 * 2^23 (no branch, no libm call)
    const float k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    const std::int32_t ki = static_cast<std::int32_t>(k);
    const float r = (x - k * 0.693145751953125f) - k * 1.428606765330187e-06f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const std::int32_t e = (ki + 127) << 23;
    return p * std::bit_cast<float>(e);
}

inline double vexp(double x) {
    x = x < -708.0 ? -708.0 : x;
    x = x > 709.0 ? 709.0 : x;
    // round to nearest by adding 1.5 * 2^52; k is then also the low bits of t, read as an
    // integer (AVX2 has no vector double -> int64 conversion)
    const double shift = 6755399441055744.0;
    const double t = x * 1.4426950408889634 + shift;
    const double k = t - shift;
    const std::int64_t ki = std::bit_cast<std::int64_t>(t) - std::bit_cast<std::int64_t>(shift);
    // ln 2 split in two: k * 0.693...hi is exact for |k| < 2^20
    const double r = (x - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;  // 1/13!
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    const std::int64_t e = (ki + 1023) << 52;
    return p * std::bit_cast<double>(e);
}

}  // namespace engram
