#pragma once
// Counter-based random numbers (Philox4x32-10, Salmon et al. SC'11). A draw is a pure
// function of (seed, stream, neuron, counter): no generator state is shared, so results
// do not depend on thread count or on the order in which neurons are visited.
#include <array>
#include <cmath>
#include <cstdint>
#include <string_view>

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

// Stable 32-bit stream id from a name (FNV-1a), so adding a projection does not change
// the random numbers of the others.
constexpr u32 stream_id(std::string_view name) {
    u32 h = 2166136261u;
    for (char c : name) { h ^= static_cast<unsigned char>(c); h *= 16777619u; }
    return h;
}

// Uniform in [0,1) with 32 random bits.
inline double to_unit(u32 x) { return (x + 0.5) * (1.0 / 4294967296.0); }

// A sequence of draws for one (seed, stream, neuron); `counter` selects the block, so
// draw k of neuron i is the same whoever asks for it.
class random_stream {
public:
    random_stream(u64 seed, u32 stream, u32 neuron, u64 start = 0)
        : key_{static_cast<u32>(seed), static_cast<u32>(seed >> 32) ^ stream},
          stream_(stream), neuron_(neuron), counter_(start) {}

    u32 next_u32() {
        if (pos_ == 4) refill();
        return block_[pos_++];
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
    void refill() {
        block_ = philox4x32({stream_, neuron_, static_cast<u32>(counter_),
                             static_cast<u32>(counter_ >> 32)},
                            key_);
        ++counter_;
        pos_ = 0;
    }
    std::array<u32, 2> key_;
    u32 stream_, neuron_;
    u64 counter_;
    std::array<u32, 4> block_{};
    int pos_ = 4;
};

// One uniform number for (seed, stream, neuron, step): the per-step draw of sources.
inline double uniform_at(u64 seed, u32 stream, u32 neuron, u64 step) {
    const auto b = philox4x32({stream, neuron, static_cast<u32>(step), static_cast<u32>(step >> 32)},
                              {static_cast<u32>(seed), static_cast<u32>(seed >> 32) ^ stream});
    return to_unit(b[0]);
}

}  // namespace engram
