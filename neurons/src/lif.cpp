// Leaky integrate-and-fire neurons with exact integration of their linear dynamics.
//
// Order within a step (step n advances from (n-1)*dt to n*dt):
//   v is advanced with the synaptic state at the start of the step; then the synaptic
//   state decays and this step's input is added (it takes effect at n*dt); then the
//   threshold is tested. While refractory, v is held at V_reset and inputs to v (delta
//   synapses) are dropped; synaptic currents/conductances keep evolving.
#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

// AVX-512 kernels where the build machine has the foundation subset, DQ, BW and VL
// (-march=native; every AVX-512 core since Skylake-SP has the four): DQ for the moves
// between 512-bit vectors and their 256-bit halves (_mm512_extractf32x8_ps,
// _mm512_insertf32x8) in lif_cond_exp's rare path, BW and VL for the compares of 16-bit
// refractory stamps into a mask.
#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define ENGRAM_AVX512 1
#endif

#include "engram/core/aligned.hpp"
#include "engram/core/errors.hpp"
#include "engram/neurons/fast_math.hpp"
#include "engram/neurons/models.hpp"

namespace engram {
namespace {

// The type of the LIF models' refractory stamps (lif_base::last): int16 where the
// AVX-512 kernels compare 16 of them per 256-bit op; int32 otherwise, since widening
// int16 stamps to the 32-bit lanes of an AVX2 blend costs the 8-lane kernels a shuffle
// per vector (COBA's kernel took 1.10 x as long). The same results either way.
#if defined(ENGRAM_AVX512)
using stamp = std::int16_t;
#else
using stamp = std::int32_t;
#endif

// kernel_vector_bits: 512 where compiled for AVX-512, else 256 with AVX2, else 0.
constexpr int widest_kernel_bits =
#if defined(ENGRAM_AVX512)
    512;
#elif defined(__AVX2__)
    256;
#else
    0;
#endif
std::atomic<int> kernel_bits_limit{widest_kernel_bits};

[[maybe_unused]] bool kernels_up_to(int bits) { return kernel_bits_limit.load(std::memory_order_relaxed) >= bits; }

#if defined(__AVX2__)
// The vector widths of the hand-written float kernels and the operations they use, so
// that each kernel is written once: vec8 (AVX2) and vec16 (AVX-512). Each operation is
// the same per lane at both widths, so a kernel gives the same results at either.
struct vec8 {
    using f = __m256;
    using i = __m256i;
    static constexpr unsigned lanes = 8;
    static f load(const float* p) { return _mm256_loadu_ps(p); }
    static void store(float* p, f x) { _mm256_storeu_ps(p, x); }
    static f set(float x) { return _mm256_set1_ps(x); }
    static i set(std::int32_t x) { return _mm256_set1_epi32(x); }
    // the refractory stamps (stamp: int32, or int16 in a build with AVX-512)
    static __m256i set_stamps(std::int32_t x) { return _mm256_set1_epi32(x); }
    static __m128i set_stamps(std::int16_t x) { return _mm_set1_epi16(x); }
    static f zero() { return _mm256_setzero_ps(); }
    static f add(f a, f b) { return _mm256_add_ps(a, b); }
    static f sub(f a, f b) { return _mm256_sub_ps(a, b); }
    static f mul(f a, f b) { return _mm256_mul_ps(a, b); }
    static f fmadd(f a, f b, f c) { return _mm256_fmadd_ps(a, b, c); }
    static f fnmadd(f a, f b, f c) { return _mm256_fnmadd_ps(a, b, c); }
    // r in the lanes whose stamp p[lane] is above since, x in the others
    static f select_held(const std::int32_t* p, __m256i since, f r, f x) {
        return _mm256_blendv_ps(x, r, _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), since)));
    }
    static f select_held(const std::int16_t* p, __m128i since, f r, f x) {
        const __m128i held = _mm_cmpgt_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), since);
        return _mm256_blendv_ps(x, r, _mm256_castsi256_ps(_mm256_cvtepi16_epi32(held)));
    }
    // one bit per lane, lane 0 lowest: x >= y (false for NaN)
    static std::uint32_t ge_bits(f x, f y) { return static_cast<std::uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(x, y, _CMP_GE_OQ))); }
    // per lane the larger of x and acc, acc where x is NaN
    static f max_of(f x, f acc) { return _mm256_max_ps(x, acc); }
    static bool any_ge(f x, f y) { return _mm256_movemask_ps(_mm256_cmp_ps(x, y, _CMP_GE_OQ)) != 0; }
    // every lane's bits, as int32, below bound
    static bool all_below(i bound, f x) { return all_below(bound, _mm256_castps_si256(x)); }
    static bool all_below(i bound, i x) { return _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(bound, x))) == 0xff; }
    // per lane the larger of acc and x's bits as int32 (for all_below over several vectors)
    static i max_bits(i acc, f x) { return _mm256_max_epi32(acc, _mm256_castps_si256(x)); }
};
// The same operations on 4 doubles (AVX2), for the double kernels: the steps of the
// last spikes as 4 int32, widened to a 64-bit lane mask for the blend; the doubles'
// bits as int64 lanes (all_below).
struct vec4d {
    using f = __m256d;
    using bits = __m256i;  // 4 int64
    static constexpr unsigned lanes = 4;
    static f load(const double* p) { return _mm256_loadu_pd(p); }
    static void store(double* p, f x) { _mm256_storeu_pd(p, x); }
    static f set(double x) { return _mm256_set1_pd(x); }
    static __m128i set_stamps(std::int32_t x) { return _mm_set1_epi32(x); }
    static __m128i set_stamps(std::int16_t x) { return _mm_set1_epi16(x); }
    static bits set_bits(std::int64_t x) { return _mm256_set1_epi64x(x); }
    static f add(f a, f b) { return _mm256_add_pd(a, b); }
    static f sub(f a, f b) { return _mm256_sub_pd(a, b); }
    static f mul(f a, f b) { return _mm256_mul_pd(a, b); }
    static f fmadd(f a, f b, f c) { return _mm256_fmadd_pd(a, b, c); }
    static f fnmadd(f a, f b, f c) { return _mm256_fnmadd_pd(a, b, c); }
    static f select_held(const std::int32_t* p, __m128i since, f r, f x) {
        const __m128i held = _mm_cmpgt_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), since);
        return _mm256_blendv_pd(x, r, _mm256_castsi256_pd(_mm256_cvtepi32_epi64(held)));
    }
    static f select_held(const std::int16_t* p, __m128i since, f r, f x) {
        const __m128i held = _mm_cmpgt_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)), since);
        return _mm256_blendv_pd(x, r, _mm256_castsi256_pd(_mm256_cvtepi16_epi64(held)));
    }
    static std::uint32_t ge_bits(f x, f y) { return static_cast<std::uint32_t>(_mm256_movemask_pd(_mm256_cmp_pd(x, y, _CMP_GE_OQ))); }
    static f max_of(f x, f acc) { return _mm256_max_pd(x, acc); }
    static bool any_ge(f x, f y) { return _mm256_movemask_pd(_mm256_cmp_pd(x, y, _CMP_GE_OQ)) != 0; }
    static bool all_below(bits bound, f x) { return _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(bound, _mm256_castpd_si256(x)))) == 0xf; }
};
#endif
#if defined(ENGRAM_AVX512)
// vec8's operations on 16 lanes; the compares give mask registers.
struct vec16 {
    using f = __m512;
    using i = __m512i;
    static constexpr unsigned lanes = 16;
    static f load(const float* p) { return _mm512_loadu_ps(p); }
    using stamps = __m256i;  // 16 int16 refractory stamps
    static void store(float* p, f x) { _mm512_storeu_ps(p, x); }
    static f set(float x) { return _mm512_set1_ps(x); }
    static i set(std::int32_t x) { return _mm512_set1_epi32(x); }
    static stamps set_stamps(std::int16_t x) { return _mm256_set1_epi16(x); }
    static f zero() { return _mm512_setzero_ps(); }
    static f add(f a, f b) { return _mm512_add_ps(a, b); }
    static f sub(f a, f b) { return _mm512_sub_ps(a, b); }
    static f mul(f a, f b) { return _mm512_mul_ps(a, b); }
    static f fmadd(f a, f b, f c) { return _mm512_fmadd_ps(a, b, c); }
    static f fnmadd(f a, f b, f c) { return _mm512_fnmadd_ps(a, b, c); }
    // a 256-bit compare: on Zen 4 half the pipe time of a 512-bit one
    static f select_held(const std::int16_t* p, stamps since, f r, f x) {
        return _mm512_mask_blend_ps(_mm256_cmpgt_epi16_mask(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), since), x, r);
    }
    static std::uint32_t ge_bits(f x, f y) { return static_cast<std::uint32_t>(_mm512_cmp_ps_mask(x, y, _CMP_GE_OQ)); }
    static f max_of(f x, f acc) { return _mm512_mask_max_ps(acc, 0xffff, x, acc); }
    static bool any_ge(f x, f y) { return _mm512_cmp_ps_mask(x, y, _CMP_GE_OQ) != 0; }
    static bool all_below(i bound, f x) { return all_below(bound, _mm512_castps_si512(x)); }
    static bool all_below(i bound, i x) { return _mm512_cmpgt_epi32_mask(bound, x) == 0xffff; }
    // (masked: the plain intrinsic's undefined source draws GCC 12's -Wmaybe-uninitialized)
    static i max_bits(i acc, f x) { return _mm512_mask_max_epi32(acc, 0xffff, acc, _mm512_castps_si512(x)); }
};
#endif
#if defined(ENGRAM_AVX512) && defined(__AVX512VL__)
#define ENGRAM_AVX512_F64 1
// vec4d's operations on 8 doubles: the compares give mask registers (BW and VL: a
// compare of 8 int16 stamps into a mask).
struct vec8d {
    using f = __m512d;
    using stamps = __m128i;  // 8 int16 refractory stamps
    using bits = __m512i;    // 8 int64: the doubles' bits
    static constexpr unsigned lanes = 8;
    static f load(const double* p) { return _mm512_loadu_pd(p); }
    static void store(double* p, f x) { _mm512_storeu_pd(p, x); }
    static f set(double x) { return _mm512_set1_pd(x); }
    static stamps set_stamps(std::int16_t x) { return _mm_set1_epi16(x); }
    static bits set_bits(std::int64_t x) { return _mm512_set1_epi64(x); }
    static f add(f a, f b) { return _mm512_add_pd(a, b); }
    static f sub(f a, f b) { return _mm512_sub_pd(a, b); }
    static f mul(f a, f b) { return _mm512_mul_pd(a, b); }
    static f fmadd(f a, f b, f c) { return _mm512_fmadd_pd(a, b, c); }
    static f fnmadd(f a, f b, f c) { return _mm512_fnmadd_pd(a, b, c); }
    static f select_held(const std::int16_t* p, stamps since, f r, f x) {
        return _mm512_mask_blend_pd(_mm_cmpgt_epi16_mask(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), since), x, r);
    }
    static std::uint32_t ge_bits(f x, f y) { return static_cast<std::uint32_t>(_mm512_cmp_pd_mask(x, y, _CMP_GE_OQ)); }
    static f max_of(f x, f acc) { return _mm512_mask_max_pd(acc, 0xff, x, acc); }
    static bool any_ge(f x, f y) { return _mm512_cmp_pd_mask(x, y, _CMP_GE_OQ) != 0; }
    static bool all_below(bits bound, f x) { return _mm512_cmpgt_epi64_mask(bound, _mm512_castpd_si512(x)) == 0xff; }
};
#endif
#if defined(__AVX2__)
// What lif_base::threshold_pass checks once per block of 32 neurons rather than once per
// vector. no_block_check: nothing. block_below: that the bits, as int32, of a value the
// step computes (vof(i, acc) folds each vector's into acc with V::max_bits) are below
// bound in every lane of the block's vectors; where not, redo(i) computes each vector of
// the block again, with its own check. The maximum runs on other pipes than a compare
// into a mask, which on Zen 4 shares the two pipes of the multiply-adds.
struct no_block_check {
    static constexpr bool active = false;
    struct acc {};
    acc start() const { return {}; }
};
template <class V, class Redo>
struct block_below {
    static constexpr bool active = true;
    using acc = typename V::i;
    typename V::i bound;
    Redo redo;
    acc start() const { return V::set(std::numeric_limits<std::int32_t>::min()); }
    bool ok(acc a) const { return V::all_below(bound, a); }
};
#endif
#if defined(__AVX2__)
// kern(V{}) with the widest vector type that kernel_vector_bits allows (at least AVX2).
template <class Kern>
std::uint32_t at_widest(Kern&& kern) {
#if defined(ENGRAM_AVX512)
    if (kernels_up_to(512)) return kern(vec16{});
#endif
    return kern(vec8{});
}
// The same for the double kernels: vec8d (AVX-512 with VL) or vec4d.
template <class Kern>
std::uint32_t at_widest_f64(Kern&& kern) {
#if defined(ENGRAM_AVX512_F64)
    if (kernels_up_to(512)) return kern(vec8d{});
#endif
    return kern(vec4d{});
}
#endif

constexpr double inf = std::numeric_limits<double>::infinity();

double scalar(const population_spec& s, const char* name) { return s.params.at(name).values.at(0); }

std::vector<param_info> lif_common() {
    return {
        {"C_m", dimension::capacitance, param_kind::scalar, 250.0, 0.0, inf, true, "membrane capacitance"},
        {"tau_m", dimension::time, param_kind::scalar, 10.0, 0.0, inf, true, "membrane time constant"},
        {"E_L", dimension::voltage, param_kind::scalar, -70.0, -inf, inf, false, "leak reversal (resting) potential"},
        {"V_th", dimension::voltage, param_kind::scalar, -55.0, -inf, inf, false, "spike threshold"},
        {"V_reset", dimension::voltage, param_kind::scalar, -70.0, -inf, inf, false, "reset potential"},
        {"t_ref", dimension::time, param_kind::scalar, 2.0, 0.0, inf, false, "absolute refractory period"},
        {"I_e", dimension::current, param_kind::scalar, 0.0, -inf, inf, false, "constant bias current"},
    };
}

// The longest refractory period the LIF models hold, in steps of dt (lif_base::last).
constexpr long long max_ref_steps = 32767;

std::string check_lif(const population_spec& s, double dt) {
    if (!(scalar(s, "V_reset") < scalar(s, "V_th"))) return "V_reset must be below V_th";
    if (const long long steps = std::llround(scalar(s, "t_ref") / dt); steps > max_ref_steps) {
        std::ostringstream os;
        os << "t_ref = " << scalar(s, "t_ref") << " ms is " << steps << " steps of dt = " << dt << " ms; the LIF models hold at most "
           << max_ref_steps << " steps (shorten t_ref or raise dt)";
        return os.str();
    }
    return {};
}

// State and lowered parameters shared by the three LIF variants. T is the precision of
// the state and the arithmetic (float by default, double with simulation.precision:
// double); the synaptic input of a step arrives as a float sum either way.
template <class T>
struct lif_base : population_model {
    // Refractoriness: the step of each neuron's last spike (a stamp: int16 with AVX-512,
    // int32 otherwise), counted from the start of the current epoch of 2^14 steps. A
    // neuron is refractory at step m in the n_ref steps after its spike: while (m - 1) -
    // last < n_ref, tested as last > m - 1 - n_ref. Read-only between spikes (a countdown
    // would be stored back for every neuron and step). At each epoch's first step,
    // update() moves its neurons' values 2^14 back, held at long_ago (-2^15). A value is
    // exact while its spike is at most 2^15 steps back; one held at long_ago is further
    // back than that, so with n_ref < 2^15 (max_ref_steps, which validation checks) it is
    // not refractory, and m - 1 - n_ref >= -2^15 is an int16 too. With AVX-512, two bytes per neuron: the kernels compare 16
    // per 256-bit op, half the pipe time of a 512-bit compare of int32 on Zen 4.
    static constexpr std::uint64_t epoch = std::uint64_t(1) << 14;
    static constexpr stamp long_ago = std::numeric_limits<std::int16_t>::min();
    aligned_vector<T> v;
    aligned_vector<stamp> last;  // step of the last spike, within the epoch
    T E_L, V_th, V_reset, I_e, P_mm, P_mI, A_m;  // A_m = 1 - P_mm
    std::int32_t n_ref;

    void reset() override { std::fill(last.begin(), last.end(), long_ago); }

    // x laid out anew, in place (the engine keeps pointers to the arrays that take
    // direct input): slot s takes slot from[s] (no_slot: an unused neuron, held at `unused`)
    template <class A, class V>
    static void gather(A& x, const std::vector<std::uint32_t>& from, V unused) {
        std::vector<typename A::value_type> out(x.size(), static_cast<typename A::value_type>(unused));
        for (std::size_t s = 0; s < from.size(); ++s)
            if (from[s] != no_slot) out[s] = x[from[s]];
        std::copy(out.begin(), out.end(), x.begin());
    }
    bool relayout_base(const std::vector<std::uint32_t>& from) {
        if (from.size() != v.size()) return false;
        gather(v, from, E_L);
        gather(last, from, long_ago);
        return true;
    }

    // Step n within its epoch; at an epoch's first step, [b, e)'s last spikes move back.
    std::int32_t step_in_epoch(std::uint64_t n, std::uint32_t b, std::uint32_t e) {
        const auto m = static_cast<std::int32_t>(n & (epoch - 1));
        if (m == 0)
            for (std::uint32_t i = b; i < e; ++i)
                last[i] = static_cast<stamp>(std::max<std::int32_t>(last[i] - static_cast<std::int32_t>(epoch), long_ago));
        return m;
    }

    lif_base(const population_spec& s, double dt) : v(s.size), last(s.size, long_ago) {
        const double C = scalar(s, "C_m"), tau = scalar(s, "tau_m");
        E_L = static_cast<T>(scalar(s, "E_L"));
        V_th = static_cast<T>(scalar(s, "V_th"));
        V_reset = static_cast<T>(scalar(s, "V_reset"));
        I_e = static_cast<T>(scalar(s, "I_e"));
        P_mm = static_cast<T>(std::exp(-dt / tau));
        A_m = static_cast<T>(-std::expm1(-dt / tau));
        P_mI = static_cast<T>(tau / C * -std::expm1(-dt / tau));  // mV per pA of constant current
        const long long steps = std::llround(scalar(s, "t_ref") / dt);
        if (steps > max_ref_steps)  // validation refuses it first (check_lif)
            throw error("population " + s.name + ": t_ref is " + std::to_string(steps) + " steps of dt, more than " + std::to_string(max_ref_steps));
        n_ref = static_cast<std::int32_t>(steps);
    }

    // A state array for state() (float) or state_f64() (double): null in the other.
    static float* as_f32(aligned_vector<T>& x) {
        if constexpr (std::is_same_v<T, float>) return x.data(); else return nullptr;
    }
    static double* as_f64(aligned_vector<T>& x) {
        if constexpr (std::is_same_v<T, double>) return x.data(); else return nullptr;
    }

    // Threshold test. Refractory neurons sit at V_reset < V_th, so v >= V_th alone means
    // a spike. Float on AVX2: detect_avx2 takes all but the last e - b mod 32 neurons.
    // Otherwise, per block of 256 neurons a vectorised pass writes one flag byte per
    // neuron; the flags are then read back 32 at a time (AVX2) or 8 at a time, so the
    // scalar work follows the spikes, not the neurons. Clamp: the pass first holds
    // refractory neurons at V_reset (refractory from their last spike: read, not
    // written). m is the step within the epoch (step_in_epoch); a spike records it.
    template <bool Clamp = false>
    void detect(std::int32_t m, std::uint32_t b, std::uint32_t e, std::vector<std::uint32_t>& spikes) {
#if defined(__AVX2__)
        if constexpr (std::is_same_v<T, float>) {
            if (kernels_up_to(256)) {
                b = detect_avx2<Clamp>(m, b, e, spikes);
                if (b == e) return;
            }
        }
#endif
        T* __restrict vv = v.data();
        stamp* __restrict rr = last.data();
        const T th = V_th, Vr = V_reset;
        const std::int32_t nr = n_ref, m1 = m - 1;
        alignas(64) std::uint8_t flag[256];
        for (std::uint32_t c = b; c < e; c += 256) {
            const std::uint32_t n = std::min<std::uint32_t>(256, e - c);
            T* __restrict x = vv + c;
            if constexpr (Clamp) {
                const stamp* __restrict q = rr + c;
                for (std::uint32_t i = 0; i < n; ++i) {
                    const T y = m1 - q[i] < nr ? Vr : x[i];
                    x[i] = y;
                    flag[i] = y >= th;
                }
            } else {
                for (std::uint32_t i = 0; i < n; ++i) flag[i] = x[i] >= th;
            }
#if defined(__AVX2__)
            // 32 flags per load, with the width of the vector stores that wrote them (an
            // 8-byte load from inside a 32-byte store that is still in flight is not
            // forwarded and waits for it), and one bit per neuron
            for (std::uint32_t i = n; i < ((n + 31) & ~31u); ++i) flag[i] = 0;
            for (std::uint32_t i = 0; i < n; i += 32) {
                const __m256i f = _mm256_load_si256(reinterpret_cast<const __m256i*>(flag + i));
                auto bits = static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_sub_epi8(_mm256_setzero_si256(), f)));
                for (; bits; bits &= bits - 1) {
                    const std::uint32_t k = c + i + static_cast<std::uint32_t>(__builtin_ctz(bits));
                    spikes.push_back(k);
                    vv[k] = Vr;
                    rr[k] = static_cast<stamp>(m);
                }
            }
#else
            for (std::uint32_t i = n; i < ((n + 7) & ~7u); ++i) flag[i] = 0;
            for (std::uint32_t i = 0; i < n; i += 8) {
                std::uint64_t w;
                std::memcpy(&w, flag + i, 8);
                while (w) {
                    const unsigned byte = static_cast<unsigned>(__builtin_ctzll(w)) >> 3;
                    const std::uint32_t k = c + i + byte;
                    spikes.push_back(k);
                    vv[k] = Vr;
                    rr[k] = static_cast<stamp>(m);
                    w &= ~(std::uint64_t(0xFF) << (byte * 8));
                }
            }
#endif
        }
    }

#if defined(__AVX2__)
    // The float threshold pass in AVX2 without flag bytes: per 8 neurons one compare and
    // a movemask give the spike bits directly, 32 neurons per word. Same results as the
    // flag pass (v >= V_th is false for NaN, as _CMP_GE_OQ). Returns where it stopped: the
    // last e - b mod 32 neurons are left to the generic pass.
    template <bool Clamp>
    std::uint32_t detect_avx2(std::int32_t m, std::uint32_t b, std::uint32_t e, std::vector<std::uint32_t>& spikes) {
        const float* vv = v.data();
        return threshold_pass<vec8, Clamp>(m, b, e, spikes, [vv](std::size_t i) { return vec8::load(vv + i); });
    }

    // kern(V{}) with the widest vector type of the hand-written kernels for T.
    template <class Kern>
    static std::uint32_t at_widest_kernel(Kern&& kern) {
        if constexpr (std::is_same_v<T, float>) return at_widest(kern); else return at_widest_f64(kern);
    }

    // Integration and threshold test in one pass (V: vec8 or vec16 for float, vec4d or
    // vec8d for double), for the kernels that have one: step(i) advances neurons
    // [i, i + V::lanes), stores their synaptic state and returns their new v; then, as in
    // detect_avx2, the refractory hold, v's store and the threshold compare, on
    // registers. Against
    // integrate-then-detect this saves a load and a store of v per vector and the second
    // loop; step must do in the same order the operations that integrate's vectorised
    // loop does (fused multiply-adds included), so that the spikes stay those of the
    // reference kernel (tests/test_reference.cpp). Returns where it stopped: the last
    // e - b mod 32 neurons are left to integrate and detect.
    template <class V, class Step, class Check = no_block_check>
    std::uint32_t fused_pass(std::int32_t m, std::uint32_t b, std::uint32_t e, std::vector<std::uint32_t>& spikes, Step&& step,
                             const Check& check = {}) {
        return threshold_pass<V, true>(m, b, e, spikes, step, check);
    }

    // Both of the above: v of neurons [i, i + V::lanes) from vof(i); Hold: the refractory
    // hold, and v stored back. Refractory while (m - 1) - last < n_ref, tested as last >
    // m - 1 - n_ref (one compare; neither side overflows, see step_in_epoch). Per block of
    // 32 neurons the compares' lane bits make one word, neuron by neuron: spikes come out
    // in ascending order, and the scalar work follows the spikes. With Hold, one compare
    // per block finds the blocks with a spike: the lane-wise maximum of the block's new v
    // (NaN lanes left out: NaN never reaches V_th) against V_th; only those blocks' words
    // are then made, from the v just stored. A maximum runs on other pipes than a compare
    // into a mask, which on Zen 4 shares the two pipes of the multiply-adds (COBA: a
    // block in 18 has a spike). With an active Check (block_below) the block's vectors
    // come from vof(i, acc), all before any is held, stored or tested, and check.redo(i)
    // steps them again where check.ok(acc) fails.
    template <class V, bool Hold, class Vof, class Check = no_block_check>
    std::uint32_t threshold_pass(std::int32_t m, std::uint32_t b, std::uint32_t e, std::vector<std::uint32_t>& spikes, Vof&& vof,
                                 const Check& check = {}) {
        T* vv = v.data();  // not restrict: vof may read v through its own pointer
        stamp* rr = last.data();
        const T Vr = V_reset;
        const typename V::f th = V::set(T(V_th)), vreset = V::set(Vr), ninf = V::set(-std::numeric_limits<T>::infinity());
        const auto since = V::set_stamps(static_cast<stamp>(m - 1 - n_ref));  // see step_in_epoch
        // The spike bits of up to 1,024 neurons are kept and only then turned into
        // spikes: a branch on each block's bits sat at the end of the vector work's
        // longest dependency chain and was mispredicted at every spiking block.
        constexpr std::uint32_t chunk = 1024;
        std::uint32_t words[chunk / 32];
        std::uint32_t c = b;
        while (c + 32 <= e) {
            const std::uint32_t end = c + std::min<std::uint32_t>(chunk, (e - c) & ~31u);
            std::uint32_t any = 0;  // bit k: block k of the chunk has a spike
            for (std::uint32_t w = c; w < end; w += 32) {
                constexpr unsigned n = 32 / V::lanes;
                typename V::f ys[n];
                auto acc = check.start();
#pragma GCC unroll 4
                for (unsigned j = 0; j < n; ++j) {
                    const std::size_t i = std::size_t(w) + V::lanes * j;  // 64-bit: addresses fold into displacements
                    if constexpr (Check::active) ys[j] = vof(i, acc); else ys[j] = vof(i);
                }
                if constexpr (Check::active)
                    if (!check.ok(acc)) [[unlikely]] {
                        for (unsigned j = 0; j < n; ++j) {
                            // An index the compiler cannot see through: otherwise GCC
                            // reuses each vector's values of the first pass for redo,
                            // and keeps them all live across the block (on AVX2's 16
                            // registers, spilled to the stack and reloaded).
                            std::size_t i = std::size_t(w) + V::lanes * j;
                            asm("" : "+r"(i));
                            ys[j] = check.redo(i);
                        }
                    }
                if constexpr (Hold) {
                    typename V::f top = ninf;
#pragma GCC unroll 4
                    for (unsigned j = 0; j < n; ++j) {
                        const std::size_t i = std::size_t(w) + V::lanes * j;
                        const typename V::f y = V::select_held(rr + i, since, vreset, ys[j]);
                        V::store(vv + i, y);
                        top = V::max_of(y, top);
                    }
                    any |= std::uint32_t(V::any_ge(top, th)) << ((w - c) / 32);
                } else {
                    std::uint32_t bits = 0;
#pragma GCC unroll 4
                    for (unsigned j = 0; j < n; ++j) bits |= V::ge_bits(ys[j], th) << (V::lanes * j);
                    words[(w - c) / 32] = bits;
                    any |= std::uint32_t(bits != 0) << ((w - c) / 32);
                }
            }
            for (; any; any &= any - 1) {
                const auto j = static_cast<std::uint32_t>(__builtin_ctz(any));
                if constexpr (Hold) {  // the block's word, from its stored v
                    std::uint32_t bits = 0;
                    for (unsigned k = 0; k < 32 / V::lanes; ++k)
                        bits |= V::ge_bits(V::load(vv + std::size_t(c) + 32 * j + V::lanes * k), th) << (V::lanes * k);
                    words[j] = bits;
                }
                for (std::uint32_t bits = words[j]; bits; bits &= bits - 1) {
                    const std::uint32_t k = c + 32 * j + static_cast<std::uint32_t>(__builtin_ctz(bits));
                    spikes.push_back(k);
                    vv[k] = Vr;
                    rr[k] = static_cast<stamp>(m);
                }
            }
            c = end;
        }
        return c;
    }
#endif
};

// Two synaptic variables that decay by factors P[0] and P[1] per step, applied lazily
// (docs/architecture.md, "Lazy decays"): after step n the stored value of variable j is
// its value divided by sigma_j(n) = P[j]^(n mod K). A step that only decays them writes
// nothing: the kernel reads them times sigma(n - 1), folded into the step's coefficients
// that multiply them, and the step's inputs are added times 1 / sigma(n). At the steps
// with n mod K = 0 the stored values are multiplied by P^K and the step's ring input is
// added, as an eager decay would do at every step. K, the same for both variables, keeps
// 1 / sigma at most 2^20 (stored values within 2^20 of the values) and depends on dt and
// the time constants alone, so the results do not depend on threads, parts or
// recording. The powers are taken in double from the exact P, so k steps of decay are
// P^k rounded once where an eager float decay compounds the rounding of P k times.
// K = 1 (a factor P of 2^-20 or less, or not positive, which validation refuses for
// forward Euler) is the eager decay.
struct lazy_decay {
    static constexpr std::uint32_t max_epoch = 4096;
    std::uint32_t K = 1;
    std::array<std::vector<double>, 2> sigma, inv;  // [variable][k] = P^k and 1 / P^k, k in [0, K]

    // the largest power of 2 (n mod K is then a mask) at most k with P^k = 2^-20
    static std::uint32_t epoch(double P) {
        if (!(P > 0.0)) return 1;
        const double k = std::log(1048576.0) / -std::log(P);
        return k >= max_epoch ? max_epoch : k < 1.0 ? 1 : std::bit_floor(static_cast<std::uint32_t>(k));
    }
    lazy_decay(double P0, double P1) : K(std::min(epoch(P0), epoch(P1))) {
        const double P[2] = {P0, P1};
        for (int j = 0; j < 2; ++j) {
            sigma[j].resize(K + 1);
            inv[j].resize(K + 1);
            for (std::uint32_t k = 0; k <= K; ++k) {
                sigma[j][k] = std::pow(P[j], double(k));
                inv[j][k] = 1.0 / sigma[j][k];
            }
        }
    }
    // n mod K (K a power of 2: the engine asks once per projection and step, and a
    // division showed in COBA's profile)
    std::uint32_t phase(std::uint64_t n) const { return static_cast<std::uint32_t>(n & (K - 1)); }
    // value after step n = stored value times at(j, n); stored = value times inv_at(j, n)
    double at(int j, std::uint64_t n) const { return sigma[j][phase(n)]; }
    double inv_at(int j, std::uint64_t n) const { return inv[j][phase(n)]; }
    // step n's phases: of n - 1 (whose values the step reads) and of n (whose inputs it
    // adds; 0: the step rescales)
    std::pair<std::uint32_t, std::uint32_t> phases(std::uint64_t n) const {
        const std::uint32_t r = phase(n - 1);
        return {r, r + 1 == K ? 0 : r + 1};
    }
    double factor(int j) const { return sigma[j][K]; }
    // The end of a rescaling step: the stored values x0, x1 of [b, e) times P^K, and the
    // step's ring input (if any) added and its slots cleared, as an eager decay stores them.
    template <class T>
    void rescale(T* __restrict x0, T* __restrict x1, float* const* input, std::uint32_t b, std::uint32_t e) const {
        const T f0 = static_cast<T>(factor(0)), f1 = static_cast<T>(factor(1));
        if (input) {
            float* __restrict in0 = input[0];
            float* __restrict in1 = input[1];
            for (std::uint32_t i = b; i < e; ++i) {
                x0[i] = fmadd(x0[i], f0, T(in0[i]));
                x1[i] = fmadd(x1[i], f1, T(in1[i]));
                in0[i] = 0.0f;
                in1[i] = 0.0f;
            }
        } else {
            for (std::uint32_t i = b; i < e; ++i) {
                x0[i] *= f0;
                x1[i] *= f1;
            }
        }
    }
};

// Propagator of an exponentially decaying current (time constant tau_s) onto v over dt:
// the solution of dv/dt = -(v-E_L)/tau_m + I/C with I(t) = I0 exp(-t/tau_s).
double p_current(double dt, double tau_m, double tau_s, double C) {
    if (std::fabs(tau_m - tau_s) < 1e-9 * tau_m) return dt / C * std::exp(-dt / tau_m);
    return tau_m * tau_s / (C * (tau_m - tau_s)) * (std::exp(-dt / tau_m) - std::exp(-dt / tau_s));
}

template <class T>
struct lif_curr_exp final : lif_base<T> {
    using B = lif_base<T>;
    using B::v, B::E_L, B::I_e, B::P_mI, B::A_m;
    aligned_vector<T> I_ex, I_in;  // stored values: the currents over sigma (lazy_decay)
    double P_me, P_mi;             // propagators of the currents onto v, times sigma(n - 1) per step
    lazy_decay decay;              // of I_ex (0) and I_in (1)
    lif_curr_exp(const population_spec& s, double dt)
        : B(s, dt), I_ex(s.size), I_in(s.size),
          decay(std::exp(-dt / scalar(s, "tau_syn_ex")), std::exp(-dt / scalar(s, "tau_syn_in"))) {
        const double C = scalar(s, "C_m"), tau = scalar(s, "tau_m");
        P_me = p_current(dt, tau, scalar(s, "tau_syn_ex"), C);
        P_mi = p_current(dt, tau, scalar(s, "tau_syn_in"), C);
    }
    aligned_vector<T>& var(std::size_t k) { return k == 0 ? v : k == 1 ? I_ex : I_in; }
    float* state(std::size_t k) override { return B::as_f32(var(k)); }
    double* state_f64(std::size_t k) override { return B::as_f64(var(k)); }
    double state_scale(std::size_t k, std::uint64_t n) const override { return k == 0 ? 1.0 : decay.at(k == 1 ? 0 : 1, n); }
    bool relayout(const std::vector<std::uint32_t>& from) override {
        if (!B::relayout_base(from)) return false;
        B::gather(I_ex, from, T(0));
        B::gather(I_in, from, T(0));
        return true;
    }
    float* direct_input(std::size_t r) override { return B::as_f32(r == 0 ? I_ex : I_in); }
    double* direct_input_f64(std::size_t r) override { return B::as_f64(r == 0 ? I_ex : I_in); }
    double direct_scale(std::size_t r, std::uint64_t n) const override { return decay.inv_at(r == 0 ? 0 : 1, n); }

    // Step n's propagators of the stored currents onto v (sigma(n - 1) folded in), the
    // factors its ring input is added with (1 / sigma(n)), and whether it rescales.
    struct coeffs {
        T me, mi, in_ex, in_in;
        bool rescale;
    };
    coeffs at_step(std::uint64_t n) const {
        const auto [r, w] = decay.phases(n);
        coeffs k;
        k.me = static_cast<T>(P_me * decay.sigma[0][r]);
        k.mi = static_cast<T>(P_mi * decay.sigma[1][r]);
        k.in_ex = static_cast<T>(decay.inv[0][w]);
        k.in_in = static_cast<T>(decay.inv[1][w]);
        k.rescale = w == 0;
        return k;
    }

    // In: ring input this step (ctx.input), added to the stored currents times
    // 1 / sigma(n); without it the currents are only read (the engine adds the step's
    // weights after update(), or rescale takes the input in).
    template <bool Stim, bool In>
    void integrate(const step_context& ctx, const coeffs& k, std::uint32_t b, std::uint32_t e) {
        T* __restrict vv = v.data();
        T* __restrict ie = I_ex.data();
        T* __restrict ii = I_in.data();
        float* __restrict in_e = In ? ctx.input[0] : nullptr;
        float* __restrict in_i = In ? ctx.input[1] : nullptr;
        const float* __restrict stim = ctx.i_stim;
        // Members copied to locals (stores through the arrays could otherwise alias them);
        // the refractory hold is in detect's flag pass.
        const T c0 = P_mI * I_e, PmI = P_mI, Am = A_m, EL = E_L, Pme = k.me, Pmi = k.mi, ine = k.in_ex, ini = k.in_in;
        for (std::uint32_t i = b; i < e; ++i) {
            const T x = Stim ? stim[i] * PmI : T(0);
            const T a = ie[i], c = ii[i];
            vv[i] = vv[i] + (Am * (EL - vv[i]) + (c0 + x + Pme * a + Pmi * c));
            if constexpr (In) {
                ie[i] = fmadd(T(in_e[i]), ine, a);
                ii[i] = fmadd(T(in_i[i]), ini, c);
                in_e[i] = 0.0f;
                in_i[i] = 0.0f;
            }
        }
    }
#if defined(__AVX2__)
    // integrate<false, In> and detect in one pass (lif_base::fused_pass), V::lanes neurons
    // per vector; without input (In false: CUBA's) nothing but v is stored
    template <class V, bool In>
    std::uint32_t fused(const step_context& ctx, const coeffs& k, std::int32_t m, std::uint32_t b, std::uint32_t e,
                        std::vector<std::uint32_t>& spikes) {
        static_assert(std::is_same_v<T, float> || !In);  // double (vec4d, vec8d): without ring input
        using f = typename V::f;
        const T* vv = v.data();  // read here, written by fused_pass
        T* __restrict ie = I_ex.data();
        T* __restrict ii = I_in.data();
        float* __restrict in_e = In ? ctx.input[0] : nullptr;
        float* __restrict in_i = In ? ctx.input[1] : nullptr;
        const f c0 = V::set(P_mI * I_e + T(0)), Am = V::set(A_m), EL = V::set(E_L);
        const f Pme = V::set(k.me), Pmi = V::set(k.mi), ine = V::set(k.in_ex), ini = V::set(k.in_in);
        return B::template fused_pass<V>(m, b, e, spikes, [&](std::size_t i) {
            const f a = V::load(ie + i), c = V::load(ii + i), x = V::load(vv + i);
            // v + (A_m (E_L - v) + (c0 + P_me a + P_mi c))
            const f s = V::fmadd(c, Pmi, V::fmadd(a, Pme, c0));
            const f y = V::add(V::fmadd(V::sub(EL, x), Am, s), x);
            if constexpr (In) {  // the step's ring input, times 1 / sigma(n)
                V::store(ie + i, V::fmadd(V::load(in_e + i), ine, a));
                V::store(ii + i, V::fmadd(V::load(in_i + i), ini, c));
                V::store(in_e + i, V::zero());
                V::store(in_i + i, V::zero());
            }
            return y;
        });
    }
#endif
    void update(const step_context& ctx, std::uint32_t b, std::uint32_t e, std::vector<std::uint32_t>& spikes) override {
        const std::int32_t m = B::step_in_epoch(ctx.step, b, e);
        const coeffs k = at_step(ctx.step);
        // The kernels take in the step's ring input, but at a rescaling step rescale does.
        const bool in = ctx.input && !k.rescale;
        const std::uint32_t b0 = b;
        [&] {
#if defined(__AVX2__)
            // float: the ring input taken in; double: only in steps without it (as lif_cond_exp)
            if (!ctx.i_stim && (std::is_same_v<T, float> || !in) && kernels_up_to(256)) {
                b = B::at_widest_kernel([&](auto w) {
                    using V = decltype(w);
                    if constexpr (std::is_same_v<T, float>)
                        if (in) return fused<V, true>(ctx, k, m, b, e, spikes);
                    return fused<V, false>(ctx, k, m, b, e, spikes);
                });
                if (b == e) return;
            }
#endif
            if (in) {
                if (ctx.i_stim) integrate<true, true>(ctx, k, b, e); else integrate<false, true>(ctx, k, b, e);
            } else {
                if (ctx.i_stim) integrate<true, false>(ctx, k, b, e); else integrate<false, false>(ctx, k, b, e);
            }
            B::template detect<true>(m, b, e, spikes);  // refractory hold, then threshold, in one pass
        }();
        if (k.rescale) decay.rescale(I_ex.data(), I_in.data(), ctx.input, b0, e);
    }
};

template <class T>
struct lif_curr_delta final : lif_base<T> {
    using B = lif_base<T>;
    using B::v, B::last, B::E_L, B::I_e, B::P_mI, B::A_m, B::V_reset;
    lif_curr_delta(const population_spec& s, double dt) : B(s, dt) {}
    bool relayout(const std::vector<std::uint32_t>& from) override { return B::relayout_base(from); }
    float* state(std::size_t) override { return B::as_f32(v); }
    double* state_f64(std::size_t) override { return B::as_f64(v); }

    template <bool Stim>
    void integrate(const step_context& ctx, std::int32_t m, std::uint32_t b, std::uint32_t e) {
        T* __restrict vv = v.data();
        const stamp* __restrict rr = last.data();
        const std::int32_t nr = B::n_ref, m1 = m - 1;
        float* __restrict in_e = ctx.input[0];
        float* __restrict in_i = ctx.input[1];
        const float* __restrict stim = ctx.i_stim;
        const T c0 = P_mI * I_e, PmI = P_mI, Am = A_m, EL = E_L, Vr = V_reset;
        for (std::uint32_t i = b; i < e; ++i) {
            const T x = Stim ? stim[i] * PmI : T(0);
            vv[i] = vv[i] + (Am * (EL - vv[i]) + (c0 + x));
        }
        for (std::uint32_t i = b; i < e; ++i) {
            vv[i] = m1 - rr[i] < nr ? Vr : vv[i] + T(in_e[i] + in_i[i]);
            in_e[i] = 0.0f;
            in_i[i] = 0.0f;
        }
    }
    void update(const step_context& ctx, std::uint32_t b, std::uint32_t e, std::vector<std::uint32_t>& spikes) override {
        const std::int32_t m = B::step_in_epoch(ctx.step, b, e);
        if (ctx.i_stim) integrate<true>(ctx, m, b, e); else integrate<false>(ctx, m, b, e);
        B::detect(m, b, e, spikes);
    }
};

// Conductance-based: C dv/dt = g_L (E_L - v) + g_ex (E_ex - v) + g_in (E_in - v) + I.
// integration: exponential_euler (default): conductances decay exactly; v is advanced
// exactly for the conductances frozen over the step (v relaxes to v_inf with time
// constant C / g_total): v + (drive - g v) dt/C phi1(z), z = -g dt/C, with phi1(z) =
// (e^z - 1)/z one of two polynomials (fast_math.hpp: degree 4 in float where z >= -7/16,
// degree 5 where z >= -3/4), and exp and a division beyond. Computed as
// v + (d + z v) phi1(z) with d = dt/C drive: z = z_L - dt/C (g_ex + g_in) and d by two
// fused multiply-adds each, with constants scaled by dt/C.
// integration: euler: forward Euler for v and the conductances alike (the scheme of
// Brian's COBA benchmark script).
// Both decay the conductances lazily (lazy_decay): the coefficients that multiply them
// carry the step's sigma, and a step stores them only where input arrives.
template <class T>
struct lif_cond_exp final : lif_base<T> {
    using B = lif_base<T>;
    using B::v, B::E_L, B::I_e;
    aligned_vector<T> g_ex, g_in;  // stored values: the conductances over sigma (lazy_decay)
    T g_L, E_ex, E_in, dt_over_C;
    // exponential Euler: z = z_L - dt/C (g_ex + g_in), d = d_0 + dt/C (g_ex E_ex + g_in E_in)
    T z_L, d_0;
    // what the step's coefficients are made from, times sigma(n - 1), in double:
    // -dt/C, dt/C E_ex, dt/C E_in (exponential Euler); E_ex, E_in (forward Euler)
    double mdtC_d, dEex_d, dEin_d, Eex_d, Ein_d;
    std::array<T, phi1_degree<T, true> + 1> phi1_qn;  // phi1 as a polynomial in z, near range
    std::array<T, phi1_degree<T> + 1> phi1_qw;        // and wide range
    bool euler;
    lazy_decay decay;  // of g_ex (0) and g_in (1)

    // The conductances' decay factor per step.
    static double factor(const population_spec& s, double dt, const char* tau, bool euler) {
        const double t = scalar(s, tau);
        return euler ? 1.0 - dt / t : std::exp(-dt / t);
    }
    lif_cond_exp(const population_spec& s, double dt)
        : B(s, dt), g_ex(s.size), g_in(s.size), euler(s.integration == "euler"),
          decay(factor(s, dt, "tau_syn_ex", euler), factor(s, dt, "tau_syn_in", euler)) {
        const double C = scalar(s, "C_m"), tau = scalar(s, "tau_m");
        g_L = static_cast<T>(C / tau);
        E_ex = static_cast<T>(scalar(s, "E_ex"));
        E_in = static_cast<T>(scalar(s, "E_in"));
        dt_over_C = static_cast<T>(dt / C);
        z_L = static_cast<T>(-dt / tau);
        d_0 = static_cast<T>(dt / C * (C / tau * scalar(s, "E_L") + scalar(s, "I_e")));
        mdtC_d = -dt / C;
        dEex_d = dt / C * scalar(s, "E_ex");
        dEin_d = dt / C * scalar(s, "E_in");
        Eex_d = scalar(s, "E_ex");
        Ein_d = scalar(s, "E_in");
        phi1_qn = phi1_rounded<T, true>();
        phi1_qw = phi1_rounded<T>();
    }
    aligned_vector<T>& var(std::size_t k) { return k == 0 ? v : k == 1 ? g_ex : g_in; }
    bool relayout(const std::vector<std::uint32_t>& from) override {
        if (!B::relayout_base(from)) return false;
        B::gather(g_ex, from, T(0));
        B::gather(g_in, from, T(0));
        return true;
    }
    float* state(std::size_t k) override { return B::as_f32(var(k)); }
    double* state_f64(std::size_t k) override { return B::as_f64(var(k)); }
    double state_scale(std::size_t k, std::uint64_t n) const override { return k == 0 ? 1.0 : decay.at(k == 1 ? 0 : 1, n); }
    float* direct_input(std::size_t r) override { return B::as_f32(r == 0 ? g_ex : g_in); }
    double* direct_input_f64(std::size_t r) override { return B::as_f64(r == 0 ? g_ex : g_in); }
    double direct_scale(std::size_t r, std::uint64_t n) const override { return decay.inv_at(r == 0 ? 0 : 1, n); }

    // Step n's coefficients of the stored conductances a (g_ex) and c (g_in), read as
    // a sigma_ex(n - 1) and c sigma_in(n - 1); the factors its ring input is added with
    // (1 / sigma(n)); and whether the step rescales.
    struct coeffs {
        T z_ex, z_in, d_ex, d_in;    // exponential Euler: z = z_L + z_in c + z_ex a, d = d_0 + d_in c + d_ex a
        T g_ex, g_in, dr_ex, dr_in;  // forward Euler: g = g_L + g_in c + g_ex a, drive = g_L E_L + I_e + dr_in c + dr_ex a
        T in_ex, in_in;
        bool rescale;
    };
    coeffs at_step(std::uint64_t n) const {
        const auto [r, w] = decay.phases(n);
        const double se = decay.sigma[0][r], si = decay.sigma[1][r];
        coeffs k;
        k.z_ex = static_cast<T>(mdtC_d * se);
        k.z_in = static_cast<T>(mdtC_d * si);
        k.d_ex = static_cast<T>(dEex_d * se);
        k.d_in = static_cast<T>(dEin_d * si);
        k.g_ex = static_cast<T>(se);
        k.g_in = static_cast<T>(si);
        k.dr_ex = static_cast<T>(Eex_d * se);
        k.dr_in = static_cast<T>(Ein_d * si);
        k.in_ex = static_cast<T>(decay.inv[0][w]);
        k.in_in = static_cast<T>(decay.inv[1][w]);
        k.rescale = w == 0;
        return k;
    }

    // How integrate advances v: forward Euler; exponential Euler with phi1 from the near
    // polynomial (every neuron of the block in its range), choosing per neuron between the
    // two polynomials (every neuron in the wide range), or between them and exp
    // (exp_step). The choice per neuron is the same in all three.
    enum class scheme { euler, exp_near, exp_poly, exp_any };

    // Exponential Euler where neither polynomial for phi1 reaches (z < -3/4, or z >= 0
    // with negative conductances): v relaxes to v_inf = drive / g = -d / z by exp(z).
    static T exp_step(T x, T z, T d) {
        if (z == T(0)) return x + d;  // no leak at all: phi1(0) = 1
        const T v_inf = -d / z;
        return v_inf + (x - v_inf) * vexp(z);
    }

    // In: ring input this step, added to the stored conductances times 1 / sigma(n);
    // without it the conductances are only read.
    template <bool Stim, scheme S, bool In>
    void integrate(const step_context& ctx, const coeffs& k, std::uint32_t b, std::uint32_t e) {
        T* __restrict vv = v.data();
        T* __restrict ge = g_ex.data();
        T* __restrict gi = g_in.data();
        float* __restrict in_e = In ? ctx.input[0] : nullptr;
        float* __restrict in_i = In ? ctx.input[1] : nullptr;
        const float* __restrict stim = ctx.i_stim;
        // Members copied to locals: stores through vv could otherwise alias them.
        const T gL = g_L, dtC = dt_over_C, gLEL = fmadd(g_L, E_L, I_e), zL = z_L, d0 = d_0;
        const coeffs q = k;
        const auto qn = phi1_qn;
        const auto qw = phi1_qw;
        // One pass for v and the conductances; the refractory select lives in detect's
        // flag pass (GCC does not vectorise the division and exp when they share a loop
        // with it).
        for (std::uint32_t i = b; i < e; ++i) {
            const T a = ge[i], c = gi[i];
            if constexpr (S == scheme::euler) {
                const T g = fmadd(a, q.g_ex, fmadd(c, q.g_in, gL));
                T drive = fmadd(c, q.dr_in, fmadd(a, q.dr_ex, gLEL));
                if constexpr (Stim) drive += T(stim[i]);
                vv[i] = fmadd(dtC, fmadd(-g, vv[i], drive), vv[i]);
            } else {
                // v + (d + z v) phi1(z): z = -g dt/C, d = dt/C drive
                const T z = fmadd(a, q.z_ex, fmadd(c, q.z_in, zL));
                T d = fmadd(c, q.d_in, fmadd(a, q.d_ex, d0));
                if constexpr (Stim) d = fmadd(T(stim[i]), dtC, d);
                const T x = vv[i];
                if constexpr (S == scheme::exp_near) vv[i] = fmadd(fmadd(z, x, d), phi1_poly(z, qn), x);
                else if constexpr (S == scheme::exp_poly) vv[i] = phi1_step(x, z, d, qn, qw);
                else vv[i] = phi1_reaches(z) ? phi1_step(x, z, d, qn, qw) : exp_step(x, z, d);
            }
            if constexpr (In) {
                ge[i] = fmadd(T(in_e[i]), q.in_ex, a);
                gi[i] = fmadd(T(in_i[i]), q.in_in, c);
                in_e[i] = 0.0f;
                in_i[i] = 0.0f;
            }
        }
    }
    // Exponential Euler, per block of 64 neurons: the near polynomial alone where it
    // reaches every neuron of the block (checked first, on conductances just loaded into
    // L1), the choice per neuron between the polynomials where the wide one reaches every
    // neuron, the choice that includes exp otherwise.
    template <bool Stim, bool In>
    void integrate_exp(const step_context& ctx, const coeffs& k, std::uint32_t b, std::uint32_t e) {
        const T* __restrict ge = g_ex.data();
        const T* __restrict gi = g_in.data();
        const T zex = k.z_ex, zin = k.z_in, zL = z_L;
        for (std::uint32_t c0 = b; c0 < e; c0 += 64) {
            const std::uint32_t c1 = std::min<std::uint32_t>(c0 + 64, e);
            int outside_near = 0, outside = 0;
            for (std::uint32_t i = c0; i < c1; ++i) {
                const T z = fmadd(ge[i], zex, fmadd(gi[i], zin, zL));
                outside_near |= !phi1_reaches<true>(z);
                outside |= !phi1_reaches(z);
            }
            if (outside) integrate<Stim, scheme::exp_any, In>(ctx, k, c0, c1);
            else if (outside_near) integrate<Stim, scheme::exp_poly, In>(ctx, k, c0, c1);
            else integrate<Stim, scheme::exp_near, In>(ctx, k, c0, c1);
        }
    }
    template <bool Stim, bool Euler>
    void integrate_from(const step_context& ctx, const coeffs& k, bool in, std::uint32_t b, std::uint32_t e) {
        if constexpr (Euler) {
            if (in) integrate<Stim, scheme::euler, true>(ctx, k, b, e); else integrate<Stim, scheme::euler, false>(ctx, k, b, e);
        } else {
            if (in) integrate_exp<Stim, true>(ctx, k, b, e); else integrate_exp<Stim, false>(ctx, k, b, e);
        }
    }
#if defined(__AVX2__)
    // z's bits, as int32, are below this in the lanes where phi1's near (or wide)
    // polynomial reaches (phi1_reaches as one compare: z_min's bits + 1 > z's; GCC makes
    // the other sense a min and an equality)
    template <bool Near>
    static std::int32_t phi1_bound_bits() { return std::bit_cast<std::int32_t>(float(phi1_z_min<Near>)) + 1; }

    // The lanes of 8 neurons that the near polynomial does not reach (w = d + z x; y: the
    // near step): the wide polynomial where it reaches, exp_step beyond. Out of line: in
    // COBA 0.14 % of the 16-lane vectors come here (two blocks of 8 each).
    [[gnu::noinline]] __m256 beyond_near(__m256 x, __m256 z, __m256 d, __m256 w, __m256 y) const {
        const __m256i near = _mm256_cmpgt_epi32(_mm256_set1_epi32(phi1_bound_bits<true>()), _mm256_castps_si256(z));
        constexpr int n = phi1_degree<float>;
        __m256 p = _mm256_set1_ps(phi1_qw[n]);
        for (int j = n - 1; j >= 0; --j) p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(phi1_qw[j]));
        y = _mm256_blendv_ps(_mm256_fmadd_ps(w, p, x), y, _mm256_castsi256_ps(near));
        const __m256i inside = _mm256_cmpgt_epi32(_mm256_set1_epi32(phi1_bound_bits<false>()), _mm256_castps_si256(z));
        if (_mm256_movemask_ps(_mm256_castsi256_ps(inside)) != 0xff) {
            alignas(32) float ys[8], xs[8], zs[8], ds[8];
            alignas(32) std::int32_t in[8];
            _mm256_store_ps(ys, y);
            _mm256_store_ps(xs, x);
            _mm256_store_ps(zs, z);
            _mm256_store_ps(ds, d);
            _mm256_store_si256(reinterpret_cast<__m256i*>(in), inside);
            for (int k = 0; k < 8; ++k)
                if (!in[k]) ys[k] = exp_step(xs[k], zs[k], ds[k]);
            y = _mm256_load_ps(ys);
        }
        return y;
    }
#if defined(ENGRAM_AVX512)
    // The same for 16 lanes: each half of 8 with a lane the near polynomial does not
    // reach goes through the 8-lane code, so the rare paths exist once.
    [[gnu::noinline]] __m512 beyond_near(__m512 x, __m512 z, __m512 d, __m512 w, __m512 y) const {
        const __m256i near_bound = _mm256_set1_epi32(phi1_bound_bits<true>());
        __m256 h[2];
        for (int k = 0; k < 2; ++k) {
            const __m256 xk = k ? _mm512_extractf32x8_ps(x, 1) : _mm512_extractf32x8_ps(x, 0);
            const __m256 zk = k ? _mm512_extractf32x8_ps(z, 1) : _mm512_extractf32x8_ps(z, 0);
            const __m256 dk = k ? _mm512_extractf32x8_ps(d, 1) : _mm512_extractf32x8_ps(d, 0);
            const __m256 wk = k ? _mm512_extractf32x8_ps(w, 1) : _mm512_extractf32x8_ps(w, 0);
            const __m256 yk = k ? _mm512_extractf32x8_ps(y, 1) : _mm512_extractf32x8_ps(y, 0);
            h[k] = vec8::all_below(near_bound, zk) ? yk : beyond_near(xk, zk, dk, wk, yk);
        }
        return _mm512_insertf32x8(_mm512_castps256_ps512(h[0]), h[1], 1);
    }
#endif

    // phi1_bound_bits<true> as V's all_below takes it: int32 lanes for float, the
    // doubles' bits as int64 lanes for vec4d and vec8d.
    template <class V>
    static auto phi1_near_bound() {
        if constexpr (std::is_same_v<T, float>) return V::set(phi1_bound_bits<true>());
        else return V::set_bits(std::bit_cast<std::int64_t>(double(phi1_z_min<true>)) + 1);
    }
    // The double kernels' lanes that the near polynomial does not reach: each such lane
    // as integrate takes it (the wide polynomial where it reaches, exp_step beyond), on
    // scalars. Out of line and rare, as the float one.
    void beyond_near_lanes(const double* xs, const double* zs, const double* ds, double* ys, int n) const {
        for (int j = 0; j < n; ++j)
            if (!phi1_reaches<true>(zs[j])) ys[j] = phi1_reaches(zs[j]) ? phi1_step(xs[j], zs[j], ds[j], phi1_qn, phi1_qw) : exp_step(xs[j], zs[j], ds[j]);
    }
#if defined(__AVX2__)
    [[gnu::noinline]] __m256d beyond_near(__m256d x, __m256d z, __m256d d, __m256d, __m256d y) const {
        alignas(32) double xs[4], zs[4], ds[4], ys[4];
        _mm256_store_pd(xs, x);
        _mm256_store_pd(zs, z);
        _mm256_store_pd(ds, d);
        _mm256_store_pd(ys, y);
        beyond_near_lanes(xs, zs, ds, ys, 4);
        return _mm256_load_pd(ys);
    }
#endif
#if defined(ENGRAM_AVX512_F64)
    [[gnu::noinline]] __m512d beyond_near(__m512d x, __m512d z, __m512d d, __m512d, __m512d y) const {
        alignas(64) double xs[8], zs[8], ds[8], ys[8];
        _mm512_store_pd(xs, x);
        _mm512_store_pd(zs, z);
        _mm512_store_pd(ds, d);
        _mm512_store_pd(ys, y);
        beyond_near_lanes(xs, zs, ds, ys, 8);
        return _mm512_load_pd(ys);
    }
#endif

    // integrate<false, scheme, In> and detect in one pass (lif_base::fused_pass), V::lanes
    // neurons per vector. Exp: exponential Euler, per vector the near polynomial for phi1;
    // where z leaves its range in any lane, the wide one for those lanes, and where z
    // leaves that too, exp_step (integrate's choice per neuron). Otherwise forward Euler.
    // Eex0: E_ex is 0 (the usual excitatory reversal potential, and the default), so the
    // multiply-add of g_ex E_ex into the drive is left out: x 0 + y is y for every finite
    // x (up to the sign of a zero, which the step's last add absorbs), and the
    // conductances are finite (the experiment file refuses infinite or NaN weights and
    // initial values), so the results stay those of integrate to the last bit. Without
    // input (In false: COBA's, delivered into the state after the update) a vector costs
    // nine fused multiply-adds and no store of the conductances; the kernel is bound by
    // them (docs/performance.md). In double (V = vec4d or vec8d) only without ring input (In false).
    template <class V, bool In, bool Exp, bool Eex0>
    std::uint32_t fused(const step_context& ctx, const coeffs& k, std::int32_t m, std::uint32_t b, std::uint32_t e,
                        std::vector<std::uint32_t>& spikes) {
        static_assert(std::is_same_v<T, float> || !In);
        using f = typename V::f;
        const T* vv = v.data();  // read here, written by fused_pass
        T* __restrict ge = g_ex.data();
        T* __restrict gi = g_in.data();
        float* __restrict in_e = In ? ctx.input[0] : nullptr;
        float* __restrict in_i = In ? ctx.input[1] : nullptr;
        const f gL = V::set(g_L), gLEL = V::set(fmadd(g_L, E_L, I_e)), dtC = V::set(dt_over_C);
        const f zL = V::set(z_L), d0 = V::set(d_0);
        const f zex = V::set(k.z_ex), zin = V::set(k.z_in), dex = V::set(k.d_ex), din = V::set(k.d_in);
        const f gex = V::set(k.g_ex), gin = V::set(k.g_in), drex = V::set(k.dr_ex), drin = V::set(k.dr_in);
        const f inex = V::set(k.in_ex), inin = V::set(k.in_in);
        const auto near_bound = phi1_near_bound<V>();
        constexpr int n = phi1_degree<T, true>;
        f q[n + 1];
        for (int j = 0; j <= n; ++j) q[j] = V::set(phi1_qn[j]);
        // exp_step_near: exponential Euler's step of vector i by the near polynomial, with z
        // and what beyond_near needs; exp_step_checked: that step with the range test of
        // the vector's z, and beyond_near's lanes where it fails
        struct near_step {
            f x, z, d, w, y;
        };
        const auto exp_step_near = [&](std::size_t i) {
            const f a = V::load(ge + i), c = V::load(gi + i), x = V::load(vv + i);
            const f z = V::fmadd(a, zex, V::fmadd(c, zin, zL));
            const f d = V::fmadd(c, din, Eex0 ? d0 : V::fmadd(a, dex, d0));
            const f p = phi1_eval<n>(z, q, [](f r, f s, f t) { return V::fmadd(r, s, t); }, [](f r, f s) { return V::mul(r, s); });
            const f w = V::fmadd(z, x, d);
            const f y = V::fmadd(w, p, x);
            return near_step{x, z, d, w, y};
        };
        const auto exp_step_checked = [&](std::size_t i) {
            const auto [x, z, d, w, y] = exp_step_near(i);
            if (!V::all_below(near_bound, z)) [[unlikely]] return beyond_near(x, z, d, w, y);
            return y;
        };
        if constexpr (Exp && !In && std::is_same_v<T, float>) {
            // z's range checked once per 32 neurons: nothing is stored before the check, so a
            // block with a lane outside it is stepped again, vector by vector
            const block_below<V, decltype(exp_step_checked)> check{near_bound, exp_step_checked};
            return B::template fused_pass<V>(m, b, e, spikes, [&](std::size_t i, typename V::i& acc) {
                const near_step s = exp_step_near(i);
                acc = V::max_bits(acc, s.z);
                return s.y;
            }, check);
        }
        return B::template fused_pass<V>(m, b, e, spikes, [&](std::size_t i) {
            const f a = V::load(ge + i), c = V::load(gi + i);
            f y;
            if constexpr (Exp) {  // v + (d + z v) phi1(z): z = -g dt/C, d = dt/C drive
                y = exp_step_checked(i);
            } else {  // v + dt/C (drive - g v), g = g_L + a + c, drive = g_L E_L + I_e + a E_ex + c E_in
                const f x = V::load(vv + i);
                const f g = V::fmadd(a, gex, V::fmadd(c, gin, gL));
                const f drive = V::fmadd(c, drin, Eex0 ? gLEL : V::fmadd(a, drex, gLEL));
                y = V::fmadd(dtC, V::fnmadd(g, x, drive), x);
            }
            if constexpr (In) {  // the step's ring input, times 1 / sigma(n)
                V::store(ge + i, V::fmadd(V::load(in_e + i), inex, a));
                V::store(gi + i, V::fmadd(V::load(in_i + i), inin, c));
                V::store(in_e + i, V::zero());
                V::store(in_i + i, V::zero());
            }
            return y;
        });
    }
#endif
    void update(const step_context& ctx, std::uint32_t b, std::uint32_t e, std::vector<std::uint32_t>& spikes) override {
        const std::int32_t m = B::step_in_epoch(ctx.step, b, e);
        const coeffs k = at_step(ctx.step);
        // The kernels take in the step's ring input, but at a rescaling step rescale does.
        const bool in = ctx.input && !k.rescale;
        const std::uint32_t b0 = b;
        [&] {
#if defined(__AVX2__)
            // float: the ring input taken in; double: only in steps without it (COBA's inputs
            // are all direct; at a rescaling step rescale takes the ring's)
            if (!ctx.i_stim && (std::is_same_v<T, float> || !in) && kernels_up_to(256)) {
                b = B::at_widest_kernel([&](auto w) {
                    using V = decltype(w);
                    const auto run = [&](auto in_t, auto eex0_t) {
                        constexpr bool I = decltype(in_t)::value, Z = decltype(eex0_t)::value;
                        return euler ? fused<V, I, false, Z>(ctx, k, m, b, e, spikes) : fused<V, I, true, Z>(ctx, k, m, b, e, spikes);
                    };
                    const auto with_input = [&](auto eex0_t) {
                        if constexpr (std::is_same_v<T, float>)
                            if (in) return run(std::true_type{}, eex0_t);
                        return run(std::false_type{}, eex0_t);
                    };
                    return E_ex == T(0) ? with_input(std::true_type{}) : with_input(std::false_type{});
                });
                if (b == e) return;
            }
#endif
            if (euler) {
                if (ctx.i_stim) integrate_from<true, true>(ctx, k, in, b, e); else integrate_from<false, true>(ctx, k, in, b, e);
            } else {
                if (ctx.i_stim) integrate_from<true, false>(ctx, k, in, b, e); else integrate_from<false, false>(ctx, k, in, b, e);
            }
            B::template detect<true>(m, b, e, spikes);  // refractory hold, then threshold, in one pass
        }();
        if (k.rescale) decay.rescale(g_ex.data(), g_in.data(), ctx.input, b0, e);
    }
};

}  // namespace

int kernel_vector_bits() { return std::min(kernel_bits_limit.load(std::memory_order_relaxed), widest_kernel_bits); }

void limit_kernel_vector_bits(int bits) {
    if (bits != 0 && bits != 256 && bits != 512) throw error("limit_kernel_vector_bits: the width must be 0, 256 or 512 bits, not " + std::to_string(bits));
    kernel_bits_limit.store(bits, std::memory_order_relaxed);
}

void register_lif_models(model_registry& r) {
    {
        model_info m;
        m.name = "lif_curr_exp";
        m.doc = "LIF neuron with exponentially decaying synaptic currents (NEST iaf_psc_exp, PyNN IF_curr_exp), exact integration";
        m.params = lif_common();
        m.params.push_back({"tau_syn_ex", dimension::time, param_kind::scalar, 2.0, 0.0, inf, true, "excitatory synaptic time constant"});
        m.params.push_back({"tau_syn_in", dimension::time, param_kind::scalar, 2.0, 0.0, inf, true, "inhibitory synaptic time constant"});
        m.state = {{"v", dimension::voltage, "E_L", 0.0, "membrane potential"},
                   {"I_ex", dimension::current, "", 0.0, "excitatory synaptic current"},
                   {"I_in", dimension::current, "", 0.0, "inhibitory synaptic current"}};
        m.receptors = {{"ex", dimension::current, false, "adds the weight to I_ex"},
                       {"in", dimension::current, false, "adds the weight to I_in (give inhibitory weights negative)"}};
        m.accepts_current = true;
        m.part_gaps = true;
        m.make = [](const population_spec& s, double dt) { return std::make_unique<lif_curr_exp<float>>(s, dt); };
        m.make_f64 = [](const population_spec& s, double dt) { return std::make_unique<lif_curr_exp<double>>(s, dt); };
        m.check = check_lif;
        r.add(std::move(m));
    }
    {
        model_info m;
        m.name = "lif_curr_delta";
        m.doc = "LIF neuron whose synaptic inputs make the membrane potential jump (NEST iaf_psc_delta, PyNN IF_curr_delta)";
        m.params = lif_common();
        m.state = {{"v", dimension::voltage, "E_L", 0.0, "membrane potential"}};
        m.receptors = {{"ex", dimension::voltage, false, "adds the weight to v"},
                       {"in", dimension::voltage, false, "adds the weight to v (give inhibitory weights negative)"}};
        m.accepts_current = true;
        m.part_gaps = true;
        m.make = [](const population_spec& s, double dt) { return std::make_unique<lif_curr_delta<float>>(s, dt); };
        m.make_f64 = [](const population_spec& s, double dt) { return std::make_unique<lif_curr_delta<double>>(s, dt); };
        m.check = check_lif;
        r.add(std::move(m));
    }
    {
        model_info m;
        m.name = "lif_cond_exp";
        m.doc = "LIF neuron with exponentially decaying synaptic conductances and reversal potentials (NEST iaf_cond_exp, PyNN IF_cond_exp)";
        m.params = lif_common();
        m.params[1].default_value = 15.0;  // tau_m = C_m / g_L with NEST's g_L = 16.67 nS
        m.params[4].default_value = -60.0;
        m.params.push_back({"tau_syn_ex", dimension::time, param_kind::scalar, 0.2, 0.0, inf, true, "excitatory conductance time constant"});
        m.params.push_back({"tau_syn_in", dimension::time, param_kind::scalar, 2.0, 0.0, inf, true, "inhibitory conductance time constant"});
        m.params.push_back({"E_ex", dimension::voltage, param_kind::scalar, 0.0, -inf, inf, false, "excitatory reversal potential"});
        m.params.push_back({"E_in", dimension::voltage, param_kind::scalar, -85.0, -inf, inf, false, "inhibitory reversal potential"});
        m.state = {{"v", dimension::voltage, "E_L", 0.0, "membrane potential"},
                   {"g_ex", dimension::conductance, "", 0.0, "excitatory conductance"},
                   {"g_in", dimension::conductance, "", 0.0, "inhibitory conductance"}};
        m.receptors = {{"ex", dimension::conductance, true, "adds the weight to g_ex"},
                       {"in", dimension::conductance, true, "adds the weight to g_in"}};
        m.accepts_current = true;
        m.part_gaps = true;
        m.integrations = {{"exponential_euler", "conductances decay exactly; v relaxes exactly towards v_inf over the step with the conductances frozen (a polynomial for (e^z - 1)/z while g dt / C <= 3/4, exp beyond)"},
                          {"euler", "forward Euler for v, g_ex and g_in (Brian's COBA benchmark script); first-order, stable while dt is well below tau_syn and C / g"}};
        m.make = [](const population_spec& s, double dt) { return std::make_unique<lif_cond_exp<float>>(s, dt); };
        m.make_f64 = [](const population_spec& s, double dt) { return std::make_unique<lif_cond_exp<double>>(s, dt); };
        m.check = check_lif;
        r.add(std::move(m));
    }
}

}  // namespace engram
