#pragma once
// Counter-based random numbers (Philox4x32-10, Salmon et al. SC'11). A draw is a pure
// function of (seed, stream, neuron, counter): no generator state is shared, so results
// do not depend on thread count or on the order in which neurons are visited.
#include <algorithm>
#include <array>
#include <cmath>
#include <bit>
#include <cstdint>
#include <cstddef>
#include <cstring>
#include <string_view>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace engram {

using u32 = std::uint32_t;
using u64 = std::uint64_t;

inline std::array<u32, 4> philox4x32(std::array<u32, 4> ctr, std::array<u32, 2> key) {
    constexpr u32 M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
    constexpr u32 W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    for (int round = 0; round < 10; ++round) {
        const u64 p0 = static_cast<u64>(M0) * ctr[0];
        const u64 p1 = static_cast<u64>(M1) * ctr[2];
        ctr = {static_cast<u32>(p1 >> 32) ^ ctr[1] ^ key[0], static_cast<u32>(p1),
               static_cast<u32>(p0 >> 32) ^ ctr[3] ^ key[1], static_cast<u32>(p0)};
        key[0] += W0;
        key[1] += W1;
    }
    return ctr;
}

#if defined(__AVX2__)
// Ten Philox4x32 rounds on four blocks whose words 0-3 sit in the 64-bit lanes of a, b,
// c, d (lane l: block l), then the blocks written out one after another (out[4 * l + w] =
// word w of block l). One vpmuludq gives the four 64-bit products of a round.
inline void philox4x32_avx2(__m256i a, __m256i b, __m256i c, __m256i d, std::array<u32, 2> key, u32* out) {
    constexpr u32 M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
    constexpr u32 W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    const __m256i lo32 = _mm256_set1_epi64x(0xffffffffLL);
    const __m256i m0 = _mm256_set1_epi64x(M0), m1 = _mm256_set1_epi64x(M1);
    for (int round = 0; round < 10; ++round) {
        const __m256i p0 = _mm256_mul_epu32(a, m0), p1 = _mm256_mul_epu32(c, m1);
        const __m256i k0 = _mm256_set1_epi64x(key[0]), k1 = _mm256_set1_epi64x(key[1]);
        a = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), b), k0);
        c = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), d), k1);
        b = _mm256_and_si256(p1, lo32);
        d = _mm256_and_si256(p0, lo32);
        key[0] += W0;
        key[1] += W1;
    }
    // per lane l the 64-bit pairs (a, b) and (c, d), then blocks 0 1 | 2 3
    const __m256i ab = _mm256_or_si256(a, _mm256_slli_epi64(b, 32)), cd = _mm256_or_si256(c, _mm256_slli_epi64(d, 32));
    const __m256i even = _mm256_unpacklo_epi64(ab, cd), odd = _mm256_unpackhi_epi64(ab, cd);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_permute2x128_si256(even, odd, 0x20));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8), _mm256_permute2x128_si256(even, odd, 0x31));
}
#endif

// Four consecutive blocks at once: counters (counter + l) for lanes l = 0..3 of one key,
// written out block after block (out[4 * l + w] = word w of block l), the same words as
// four calls of philox4x32 (on AVX2 in the lanes of one register each).
inline void philox4x32_x4(u32 stream, u32 neuron, u64 counter, std::array<u32, 2> key, u32* out) {
#if defined(__AVX2__)
    const __m256i k = _mm256_add_epi64(_mm256_set1_epi64x(static_cast<long long>(counter)), _mm256_set_epi64x(3, 2, 1, 0));
    philox4x32_avx2(_mm256_set1_epi64x(stream), _mm256_set1_epi64x(neuron), _mm256_and_si256(k, _mm256_set1_epi64x(0xffffffffLL)),
                    _mm256_srli_epi64(k, 32), key, out);
#else
    for (int l = 0; l < 4; ++l) {
        const u64 k = counter + static_cast<u64>(l);
        const auto blk = philox4x32({stream, neuron, static_cast<u32>(k), static_cast<u32>(k >> 32)}, key);
        for (int w = 0; w < 4; ++w) out[4 * l + w] = blk[static_cast<std::size_t>(w)];
    }
#endif
}

// Sixteen blocks of one key and counter words 2 and 3 (c2, c3): counters (stream, group0 + l,
// c2, c3) for l = 0..15, written out block after block (out[4 * l + w] = word w of block
// l), the same words as sixteen calls of philox4x32. The per-step draws of a Poisson
// stimulus or source, one block per four neurons, are these words in neuron order. On
// AVX2 four blocks per call of philox4x32_avx2. (Not AVX-512: GCC 12 warns falsely of
// uninitialised values in its integer intrinsics, and Zen 4 runs 512-bit operations at
// half the rate of 256-bit ones anyway.)
inline void philox4x32_x16_groups(u32 stream, u32 group0, u32 c2, u32 c3, std::array<u32, 2> key, u32* out) {
#if defined(__AVX2__)
    const __m256i lane = _mm256_set_epi64x(3, 2, 1, 0), lo32 = _mm256_set1_epi64x(0xffffffffLL);
    for (int q = 0; q < 4; ++q) {
        // group0 + 4 q + l, wrapping as a 32-bit word
        const __m256i g = _mm256_and_si256(_mm256_add_epi64(_mm256_set1_epi64x(static_cast<long long>(group0) + 4 * q), lane), lo32);
        philox4x32_avx2(_mm256_set1_epi64x(stream), g, _mm256_set1_epi64x(c2), _mm256_set1_epi64x(c3), key, out + 16 * q);
    }
#else
    for (u32 l = 0; l < 16; ++l) {
        const auto blk = philox4x32({stream, group0 + l, c2, c3}, key);
        for (int w = 0; w < 4; ++w) out[4 * l + static_cast<u32>(w)] = blk[static_cast<std::size_t>(w)];
    }
#endif
}

// Stable 32-bit stream id from a name (FNV-1a), so adding a projection does not change
// the random numbers of the others.
constexpr u32 stream_id(std::string_view name) {
    u32 h = 2166136261u;
    for (char c : name) { h ^= static_cast<unsigned char>(c); h *= 16777619u; }
    return h;
}

// Uniform in [0,1) with 32 random bits.
inline double to_unit(u32 x) { return (x + 0.5) * (1.0 / 4294967296.0); }

// Natural log of a positive normal double (to_unit's values), within 1.5 ulp, in
// plain arithmetic that GCC vectorises (std::log is a libm call per value; the geometric
// skips of fixed_probability take one log per synapse). u = m 2^e with m in
// [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m - 1)/(m + 1), |s| <= 0.172: the odd
// series of atanh to s^21 (next term 3e-18 relative); e ln 2 with ln 2 split so that e
// times its high part is exact.
inline double unit_log(double u) {
    const auto bits = std::bit_cast<std::uint64_t>(u);
    // m in [1, 2), halved where above sqrt(2), and the exponent, all on the bits (GCC
    // keeps a branch around conditional float arithmetic, which may trap); the exponent
    // becomes a double without an integer conversion: (2^52 + k) - 2^52
    const std::uint64_t frac = bits & 0x000FFFFFFFFFFFFFull;
    const std::uint64_t high = static_cast<std::int64_t>(frac) > 0x6A09E667F3BCDll ? 1 : 0;  // signed: AVX2 compares so
    const double m = std::bit_cast<double>(frac | (0x3FF0000000000000ull - (high << 52)));
    const double e = std::bit_cast<double>(((bits >> 52) + high) | 0x4330000000000000ull) - (4503599627370496.0 + 1023.0);
    const double s = (m - 1.0) / (m + 1.0), w = s * s;
    double r = 1.0 / 21;
    r = r * w + 1.0 / 19;
    r = r * w + 1.0 / 17;
    r = r * w + 1.0 / 15;
    r = r * w + 1.0 / 13;
    r = r * w + 1.0 / 11;
    r = r * w + 1.0 / 9;
    r = r * w + 1.0 / 7;
    r = r * w + 1.0 / 5;
    r = r * w + 1.0 / 3;
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    return e * ln2_hi + (e * ln2_lo + (2.0 * s + 2.0 * s * (w * r)));
}

// A sequence of draws for one (seed, stream, neuron); `counter` selects the block, so
// draw k of neuron i is the same whoever asks for it.
class random_stream {
public:
    random_stream(u64 seed, u32 stream, u32 neuron, u64 start = 0)
        : key_{static_cast<u32>(seed), static_cast<u32>(seed >> 32) ^ stream},
          stream_(stream), neuron_(neuron), counter_(start) {}

    u32 next_u32() {
        if (pos_ == end_) refill();
        return block_[pos_++];
    }
    // From the first draw on, four blocks at a time (refill): for a caller that will
    // draw many words, in runs of next_u32s that then never straddle two refills. The
    // words are the same.
    void draw_in_bulk() { wide_ = true; }
    // n words at once, the same as n calls of next_u32: copied from the block a run at a
    // time, so that a caller converts them as one vector (stored one by one, a vector
    // load of them waits until every store has left the core).
    void next_u32s(u32* out, int n) {
        if (end_ - pos_ >= n) {
            std::memcpy(out, block_.data() + pos_, sizeof(u32) * static_cast<std::size_t>(n));
            pos_ += n;
            return;
        }
        while (n > 0) {
            if (pos_ == end_) refill();
            const int take = std::min(n, end_ - pos_);
            std::memcpy(out, block_.data() + pos_, sizeof(u32) * static_cast<std::size_t>(take));
            pos_ += take;
            out += take;
            n -= take;
        }
    }
    double uniform() { return to_unit(next_u32()); }
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    // Uniform integer in [0, n) (Lemire's nearly-divisionless method, exact).
    u32 below(u32 n) {
        u64 m = static_cast<u64>(next_u32()) * n;
        u32 l = static_cast<u32>(m);
        if (l < n) {
            const u32 t = static_cast<u32>(-n) % n;
            while (l < t) { m = static_cast<u64>(next_u32()) * n; l = static_cast<u32>(m); }
        }
        return static_cast<u32>(m >> 32);
    }
    double normal() {  // Box-Muller, one value per call (no cached state across calls)
        const double u1 = uniform(), u2 = uniform();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }

private:
    // The first refill makes one block (most streams draw a few numbers); a stream that
    // comes back for more gets four blocks at a time (long draws: connectivity). The words
    // are the same either way.
    [[gnu::noinline]] void refill() {
        if (!wide_) {
            const auto b = philox4x32({stream_, neuron_, static_cast<u32>(counter_), static_cast<u32>(counter_ >> 32)}, key_);
            for (int w = 0; w < 4; ++w) block_[static_cast<std::size_t>(w)] = b[static_cast<std::size_t>(w)];
            ++counter_;
            end_ = 4;
            wide_ = true;
        } else {
            philox4x32_x4(stream_, neuron_, counter_, key_, block_.data());
            counter_ += 4;
            end_ = 16;
        }
        pos_ = 0;
    }
    std::array<u32, 2> key_;
    u32 stream_, neuron_;
    u64 counter_;
    std::array<u32, 16> block_{};
    int pos_ = 0, end_ = 0;
    bool wide_ = false;
};

// One uniform number for (seed, stream, neuron, step): the per-step draw of sources. Word
// neuron mod 4 of the block (stream, neuron / 4, step), so that four neurons share a
// block and a population's draws of a step come 64 at a time from
// philox4x32_x16_groups.
inline double uniform_at(u64 seed, u32 stream, u32 neuron, u64 step) {
    const auto b = philox4x32({stream, neuron >> 2, static_cast<u32>(step), static_cast<u32>(step >> 32)},
                              {static_cast<u32>(seed), static_cast<u32>(seed >> 32) ^ stream});
    return to_unit(b[neuron & 3]);
}

}  // namespace engram
