#pragma once
// exp that the compiler vectorises (no libm call): range reduction to x = k ln2 + r,
// |r| <= ln2/2, then a Taylor polynomial. float: degree 6, relative error < 2e-7 over
// [-87, 88]. double: degree 13, relative error < 1e-15 over [-708, 709].
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "engram/core/fmadd.hpp"  // fmadd

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

// phi1(z) = (e^z - 1) / z, the factor of an exponential-Euler step: for dv/dt = f(v)
// with f linear in v of slope -k, the exact step over dt is v + dt f(v) phi1(-k dt). No
// exp and no division: polynomials in z on two ranges, chosen per neuron and step:
// - near, z in [-7/16, 0]: effective time constants down to 16/7 dt. In COBA every lane
//   of 99.86 % of the 16-lane vectors an AVX-512 kernel takes (98.8 % with [-3/8, 0],
//   whose misses, each a mispredicted branch, cost 3 % of COBA's run loop).
// - wide, z in [-3/4, 0] (down to 4/3 dt), which covers COBA's inhibitory bursts;
// - outside both, callers use exp.
// Each is built about its range's centre c, where its series converges fastest, then
// expanded in powers of z, so that a kernel evaluates it at z itself.
// Both: the Taylor series of phi1 about c to degree N + 2, then its two top terms
// (t = z - c) replaced by their best lower-degree approximations on [-r, r] (Chebyshev
// economisation: t^k less r^k T_k(t/r) / 2^(k-1)). phi1's k-th derivative is the
// integral of s^k e^(s z) over s in [0, 1], at most 1/(k+1), so the series cut after
// degree N + 2 is off by at most r^(N+3) / (N+4)! (r the radius), and each economised
// term adds at most |a_k| r^k / 2^(k-1):
// - float: wide degree 5, 1.8e-8; near degree 4, 4.4e-8 (below one float ulp of
//   phi1 >= 0.8 there; phi1(0) comes out as 1 - 3.7e-8);
// - double: wide degree 11, 1.4e-18; near degree 9, 1.4e-17 (the plain series needs
//   degrees 13 and 10 for 8.5e-19 and 1.2e-16: economised, the double kernels spend 14
//   fused multiply-adds per vector instead of 15, and one multiply, phi1_eval's z^2).
// Expanded in z, the terms alternate in sign on the range; evaluated in z (phi1_eval), a
// polynomial then loses a little more than about c: in float 9.5e-8 wide, 1.1e-7 near,
// within two ulps; in double 1.7e-16 and 1.2e-16 (tests/test_lif.cpp).
// In an exponential-Euler step phi1 multiplies the step's change of v, so such an error
// moves v by far less than v's own rounding.
// The near polynomial saves one fused multiply-add per neuron in float (two in double).
template <bool Near = false>
inline constexpr double phi1_centre = Near ? -0.21875 : -0.375;
template <bool Near = false>
inline constexpr double phi1_radius = -phi1_centre<Near>;
template <bool Near = false>
inline constexpr double phi1_z_min = 2.0 * phi1_centre<Near>;  // -3/4 and -7/16, exact in float
template <class T, bool Near = false>
inline constexpr int phi1_degree = std::is_same_v<T, float> ? (Near ? 4 : 5) : (Near ? 9 : 11);

// Coefficient j of the series about c: sum over k >= j of C(k, j) c^(k-j) / (k+1)!
// (phi1(z) = sum over k of z^k / (k+1)!, each z^k expanded about c).
// Long double here and below: the expansion in z must not add double roundings of its own.
constexpr long double phi1_taylor(int j, long double c) {
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

// Coefficients of the Chebyshev polynomial T_k (of x^0 ... x^k).
template <int K>
constexpr std::array<long double, K + 1> chebyshev() {
    std::array<long double, K + 1> prev{}, cur{};  // T_{k-1}, T_k
    prev[0] = 1.0L;
    if constexpr (K == 0) return prev;
    cur[1] = 1.0L;
    for (int k = 1; k < K; ++k) {  // T_{k+1} = 2x T_k - T_{k-1}
        std::array<long double, K + 1> next{};
        for (int j = 0; j <= k; ++j) next[j + 1] += 2.0L * cur[j];
        for (int j = 0; j <= k; ++j) next[j] -= prev[j];
        prev = cur;
        cur = next;
    }
    return cur;
}

// The polynomial's coefficients about c (of t^0 ... t^N, t = z - c).
template <class T, bool Near = false>
constexpr std::array<long double, phi1_degree<T, Near> + 1> phi1_centred() {
    constexpr int n = phi1_degree<T, Near>;
    constexpr long double r = phi1_radius<Near>;
    std::array<long double, n + 3> a{};
    for (int j = 0; j < n + 3; ++j) a[j] = phi1_taylor(j, phi1_centre<Near>);
    // t^k ~ t^k - r^k T_k(t/r) / 2^(k-1), for k = N + 2 then N + 1 (T_k has only
    // powers of k's parity, so the first leaves a_(N+1) alone)
    auto economise = [&a, r](const auto& cheb, int k) {
        const long double lead = cheb[static_cast<std::size_t>(k)];  // 2^(k-1)
        for (int j = k - 2; j >= 0; j -= 2) {
            long double rkj = 1.0L;  // t^j in r^k T_k(t/r): cheb[j] r^(k-j)
            for (int i = 0; i < k - j; ++i) rkj *= r;
            a[static_cast<std::size_t>(j)] -= a[static_cast<std::size_t>(k)] * cheb[static_cast<std::size_t>(j)] * rkj / lead;
        }
        a[static_cast<std::size_t>(k)] = 0.0L;
    };
    economise(chebyshev<n + 2>(), n + 2);
    economise(chebyshev<n + 1>(), n + 1);
    std::array<long double, n + 1> out{};
    for (int j = 0; j <= n; ++j) out[j] = a[j];
    return out;
}

// The same polynomial in powers of z (of z^0 ... z^N): t^j = (z - c)^j = sum over k <= j
// of C(j, k) z^k (-c)^(j-k).
template <class T, bool Near = false>
constexpr std::array<double, phi1_degree<T, Near> + 1> phi1_coefficients() {
    constexpr int n = phi1_degree<T, Near>;
    constexpr auto a = phi1_centred<T, Near>();
    std::array<long double, n + 1> b{};
    for (int j = 0; j <= n; ++j) {
        long double binom = 1.0L, power = 1.0L;  // C(j, k) and (-c)^(j-k), from k = j down
        for (int k = j; k >= 0; --k) {
            b[k] += a[j] * binom * power;
            binom = binom * k / (j - k + 1);
            power *= -phi1_centre<Near>;
        }
    }
    std::array<double, n + 1> out{};
    for (int j = 0; j <= n; ++j) out[j] = static_cast<double>(b[j]);
    return out;
}

// The coefficients rounded to T, for phi1_poly.
template <class T, bool Near = false>
std::array<T, phi1_degree<T, Near> + 1> phi1_rounded() {
    constexpr auto b = phi1_coefficients<T, Near>();
    std::array<T, phi1_degree<T, Near> + 1> q{};
    for (std::size_t j = 0; j < q.size(); ++j) q[j] = static_cast<T>(b[j]);
    return q;
}

// The polynomial of degree N with coefficients q[0..N] (phi1_rounded) at z, with the
// operations fma(a, b, c) = a b + c and mul(a, b) of F: a scalar type here (phi1_poly),
// a vector type in the kernels (neurons/src/lif.cpp), so that both evaluate it in the
// same order and agree to the last bit.
// - Float's degrees (4, 5): Horner's rule, one fused multiply-add per degree.
// - Double's (9, 11): q[0] + z r(z), where r(z) = q[1] + q[2] z + ... is split into
//   E(z^2) + z O(z^2), each by Horner's rule in z^2. One operation more than Horner's
//   rule in z (the square), but two independent chains of half its length: the double
//   kernels wait on the chain (replacing 4 of its multiply-adds by adds, which run on
//   other ports, saved 7 %, removing them 25 %). On Zen 3 the double COBA kernel took
//   0.96 x the time with it, and double COBA runs 0.94 x (eighteenth session,
//   docs/performance.md). q[0] is added last, where r's rounding is scaled by |z| <= 3/4:
//   within two double ulps of phi1, about as Horner's rule in z (tests/test_lif.cpp);
//   with q[0] inside E it was 2.8e-16.
// Written out by folds, not loops: GCC does not unroll the degree-11 loop inside a loop
// it vectorises, and then leaves the outer loop scalar.
inline constexpr std::size_t phi1_split_degree = 8;  // from this degree on, E(z^2) + z O(z^2)

template <std::size_t N, class F, class Q, class Fma, class Mul, std::size_t... J>
inline F phi1_horner(F z, const Q& q, Fma&& fma, Mul&&, std::index_sequence<J...>) {
    F p = q[N];
    ((p = fma(p, z, q[N - 1 - J])), ...);
    return p;
}
template <std::size_t N, class F, class Q, class Fma, class Mul, std::size_t... Je, std::size_t... Jo>
inline F phi1_split(F z, const Q& q, Fma&& fma, Mul&& mul, std::index_sequence<Je...>, std::index_sequence<Jo...>) {
    // r(z) = q[1] + q[2] z + ... + q[N] z^(N-1) = E(z^2) + z O(z^2), then q[0] + z r(z)
    constexpr std::size_t m = N - 1, me = m & ~std::size_t(1), mo = (m - 1) | 1;  // r's top even and odd degrees
    const F z2 = mul(z, z);
    F e = q[me + 1], o = q[mo + 1];
    ((e = fma(e, z2, q[me - 1 - 2 * Je])), ...);
    ((o = fma(o, z2, q[mo - 1 - 2 * Jo])), ...);
    return fma(fma(o, z, e), z, q[0]);
}
template <std::size_t N, class F, class Q, class Fma, class Mul>
inline F phi1_eval(F z, const Q& q, Fma&& fma, Mul&& mul) {
    if constexpr (N < phi1_split_degree) {
        return phi1_horner<N>(z, q, fma, mul, std::make_index_sequence<N>{});
    } else {
        constexpr std::size_t m = N - 1, me = m & ~std::size_t(1), mo = (m - 1) | 1;
        return phi1_split<N>(z, q, fma, mul, std::make_index_sequence<me / 2>{}, std::make_index_sequence<(mo - 1) / 2>{});
    }
}
template <class T, std::size_t N>
inline T phi1_poly(T z, const std::array<T, N>& q) {
    return phi1_eval<N - 1>(z, q, [](T a, T b, T c) { return fmadd(a, b, c); }, [](T a, T b) { return a * b; });
}

// Whether the polynomial of a range reaches z: z in [phi1_z_min, -0], tested on z's bits
// read as a signed integer (the non-positive floats from -0 to z_min are exactly the
// integers up to z_min's; +0, positive z and NaN fall outside). One integer compare, the
// same in scalar code and in vector kernels.
template <bool Near = false, class T>
inline bool phi1_reaches(T z) {
    using I = std::conditional_t<std::is_same_v<T, float>, std::int32_t, std::int64_t>;
    return std::bit_cast<I>(z) <= std::bit_cast<I>(static_cast<T>(phi1_z_min<Near>));
}

// v + (d + z v) phi1(z) with phi1 from the near polynomial qn where it reaches z, else
// from the wide one qw (the caller has checked that one of them does).
template <class T, std::size_t Nn, std::size_t Nw>
inline T phi1_step(T v, T z, T d, const std::array<T, Nn>& qn, const std::array<T, Nw>& qw) {
    const T p = phi1_reaches<true>(z) ? phi1_poly(z, qn) : phi1_poly(z, qw);
    return fmadd(fmadd(z, v, d), p, v);
}
}  // namespace engram
