#pragma once
// exp that the compiler vectorises (no libm call): range reduction to x = k ln2 + r,
// |r| <= ln2/2, then a Taylor polynomial. float: degree 6, relative error < 2e-7 over
// [-87, 88]. double: degree 13, relative error < 1e-15 over [-708, 709].
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>

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

// a * b + c, rounded once on targets with fused multiply-add and twice elsewhere, whatever
// the compiler's contraction choices: for values that optimised kernels and reference
// code must compute alike (GCC vectorises it).
template <class T>
inline T fmadd(T a, T b, T c) {
#if defined(__FMA__)
    return std::fma(a, b, c);
#else
    return a * b + c;
#endif
}

// phi1(z) = (e^z - 1) / z, the factor of an exponential-Euler step: for dv/dt = f(v)
// with f linear in v of slope -k, the exact step over dt is v + dt f(v) phi1(-k dt). No
// exp and no division: a polynomial in z, valid for z in [phi1_z_min, 0] (effective time
// constants down to 4/3 dt, which covers COBA's inhibitory bursts; outside, callers use
// exp). It is built about the range's centre c = -3/8, where its series converges
// fastest, then expanded in powers of z, so that a kernel evaluates it at z itself.
// - Double: the Taylor series of phi1 about c, to degree 13. phi1's k-th derivative is
//   the integral of s^k e^(s z) over s in [0, 1], at most 1/(k+1), so the series cut
//   after degree N is off by at most r^(N+1) / (N+2)! (r = 3/8): 8.5e-19 here.
// - Float: the series to degree 7 (1.0e-9), then its t^7 and t^6 terms (t = z - c)
//   replaced by their best lower-degree approximations on [-r, r] (Chebyshev
//   economisation: t^n less r^n T_n(t/r) / 2^(n-1)), adding at most |a_7| r^7 / 64 +
//   |a_6| r^6 / 32 = 1.8e-8: degree 5, below half a float ulp of phi1 >= 0.71.
// Expanded in z, the terms alternate in sign on the range; Horner's rule then loses a
// little more than about c, still about one ulp (tests/test_lif.cpp).
inline constexpr double phi1_centre = -0.375;
inline constexpr double phi1_radius = 0.375;
inline constexpr double phi1_z_min = phi1_centre - phi1_radius;  // -3/4, exact in float
template <class T>
inline constexpr int phi1_degree = std::is_same_v<T, float> ? 5 : 13;

// Coefficient j of the series about c: sum over k >= j of C(k, j) c^(k-j) / (k+1)!
// (phi1(z) = sum over k of z^k / (k+1)!, each z^k expanded about c).
// Long double here and below: the expansion in z must not add double roundings of its own.
constexpr long double phi1_taylor(int j, long double c = phi1_centre) {
    long double sum = 0.0L;
    for (int k = j; k < j + 40; ++k) {
        long double term = 1.0L;  // C(k, j) c^(k-j) / (k+1)!
        for (int i = 1; i <= k + 1; ++i) term /= i;
        for (int i = 0; i < j; ++i) term *= static_cast<long double>(k - i) / (j - i);
        for (int i = 0; i < k - j; ++i) term *= c;
        sum += term;
    }
    return sum;
}

// The polynomial's coefficients about c (of t^0 ... t^N, t = z - c).
template <class T>
constexpr std::array<long double, phi1_degree<T> + 1> phi1_centred() {
    constexpr int n = phi1_degree<T>;
    std::array<long double, n + 3> a{};
    for (int j = 0; j < n + 3; ++j) a[j] = phi1_taylor(j);
    if constexpr (std::is_same_v<T, float>) {
        const long double r2 = phi1_radius * phi1_radius, r4 = r2 * r2, r6 = r4 * r2;
        // t^7 ~ (112 r^2 t^5 - 56 r^4 t^3 + 7 r^6 t) / 64, from T_7(x) = 64x^7 - 112x^5 + 56x^3 - 7x
        a[5] += a[7] * 112.0 * r2 / 64.0;
        a[3] -= a[7] * 56.0 * r4 / 64.0;
        a[1] += a[7] * 7.0 * r6 / 64.0;
        // t^6 ~ (48 r^2 t^4 - 18 r^4 t^2 + r^6) / 32, from T_6(x) = 32x^6 - 48x^4 + 18x^2 - 1
        a[4] += a[6] * 48.0 * r2 / 32.0;
        a[2] -= a[6] * 18.0 * r4 / 32.0;
        a[0] += a[6] * r6 / 32.0;
    }
    std::array<long double, n + 1> out{};
    for (int j = 0; j <= n; ++j) out[j] = a[j];
    return out;
}

// The same polynomial in powers of z (of z^0 ... z^N): t^j = (z - c)^j = sum over k <= j
// of C(j, k) z^k (-c)^(j-k).
template <class T>
constexpr std::array<double, phi1_degree<T> + 1> phi1_coefficients() {
    constexpr int n = phi1_degree<T>;
    constexpr auto a = phi1_centred<T>();
    std::array<long double, n + 1> b{};
    for (int j = 0; j <= n; ++j) {
        long double binom = 1.0L, power = 1.0L;  // C(j, k) and (-c)^(j-k), from k = j down
        for (int k = j; k >= 0; --k) {
            b[k] += a[j] * binom * power;
            binom = binom * k / (j - k + 1);
            power *= -phi1_centre;
        }
    }
    std::array<double, n + 1> out{};
    for (int j = 0; j <= n; ++j) out[j] = static_cast<double>(b[j]);
    return out;
}

// The coefficients rounded to T, for phi1_poly.
template <class T>
std::array<T, phi1_degree<T> + 1> phi1_rounded() {
    constexpr auto b = phi1_coefficients<T>();
    std::array<T, phi1_degree<T> + 1> q{};
    for (std::size_t j = 0; j < q.size(); ++j) q[j] = static_cast<T>(b[j]);
    return q;
}

// The polynomial with coefficients q (phi1_rounded) at z, by Horner's rule (one fused
// multiply-add per degree where the target has them).
// Written out by a fold, not a loop: GCC does not unroll the degree-13 loop inside a
// loop it vectorises, and then leaves the outer loop scalar.
template <class T, std::size_t... J>
inline T phi1_horner(T z, const std::array<T, sizeof...(J) + 1>& q, std::index_sequence<J...>) {
    T p = q[sizeof...(J)];
    ((p = fmadd(p, z, q[sizeof...(J) - 1 - J])), ...);
    return p;
}
template <class T>
inline T phi1_poly(T z, const std::array<T, phi1_degree<T> + 1>& q) {
    return phi1_horner(z, q, std::make_index_sequence<phi1_degree<T>>{});
}

// Whether phi1_poly reaches z: z in [phi1_z_min, -0], tested on z's bits read as a
// signed integer (the non-positive floats from -0 to -3/4 are exactly the integers up to
// -3/4's; +0, positive z and NaN fall outside). One integer compare, the same in scalar
// code and in vector kernels.
template <class T>
inline bool phi1_reaches(T z) {
    using I = std::conditional_t<std::is_same_v<T, float>, std::int32_t, std::int64_t>;
    return std::bit_cast<I>(z) <= std::bit_cast<I>(static_cast<T>(phi1_z_min));
}
}  // namespace engram
