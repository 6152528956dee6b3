#pragma once
// exp for float that the compiler vectorises (no libm call): range reduction to
// x = k ln2 + r, |r| <= ln2/2, and a degree-6 Taylor polynomial; relative error < 2e-7
// over [-87, 88].
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

}  // namespace engram
