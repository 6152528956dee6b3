#include "engram/core/connectivity.hpp"
#include "engram/core/cpus.hpp"

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <unordered_set>

#include "engram/core/errors.hpp"
#include "engram/core/rng.hpp"
#include "engram/core/units.hpp"

namespace engram {
namespace {

// A problem found while building a projection or layout. Where its spec came from a file
// (or a --set), a config_error with the file and the line of the value concerned (a
// drawn weight or delay) or of the entry; for a spec built in C++, a spec_error. Either
// names the key.
// A file known without a line (a NIR graph) is named with the element's own key there.
[[noreturn]] void fail_build(const source_location& where, const std::string& key, const std::string& what) {
    if (where.file.empty()) throw spec_error(key, what);
    if (where.line > 0 || where.file == "--set" || where.key.empty()) throw config_error(where.file, where.line, where.column, key, what);
    throw config_error(where.file, 0, 0, where.key, key + ": " + what);
}
const source_location& connector_where(const projection_spec& proj) {
    return proj.connector_where.file.empty() ? proj.where : proj.connector_where;
}

// The errors of delay_steps and weight_value, out of line and cold, so that the
// per-synapse paths that call them stay small.
[[noreturn, gnu::cold, gnu::noinline]] void fail_delay(const projection_spec& proj, double ms, double dt) {
    std::ostringstream m;
    m << "the delay " << ms << " ms is beyond 65535 steps (" << 65535.0 * dt << " ms at dt " << dt << " ms)";
    fail_build(proj.delay_where.file.empty() ? proj.where : proj.delay_where, "projections." + proj.name + ".delay", m.str());
}
[[noreturn, gnu::cold, gnu::noinline]] void fail_weight(const projection_spec& proj, double w) {
    std::ostringstream m;
    const auto unit = internal_unit(proj.weight.dim);
    m << "drew the weight " << w << ' ' << unit << ", beyond float range (|w| <= 3.4e+38 " << unit << ')';
    fail_build(proj.weight_where.file.empty() ? proj.where : proj.weight_where, "projections." + proj.name + ".weight", m.str());
}

std::uint16_t delay_steps(const projection_spec& proj, double ms, double dt) {
    const double steps = std::round(ms / dt);
    if (!(steps <= 65535.0)) [[unlikely]] fail_delay(proj, ms, dt);
    return static_cast<std::uint16_t>(std::max(1.0, steps));
}

// A weight as stored (float): a drawn value beyond float range would become infinite and
// then NaN in the state it is added to, so it is an error naming the projection.
float weight_value(const projection_spec& proj, double w) {
    if (!(std::fabs(w) <= static_cast<double>(std::numeric_limits<float>::max()))) [[unlikely]] fail_weight(proj, w);
    return static_cast<float>(w);
}

// Per-thread scratch for sampling without replacement.
struct sampler_scratch {
    std::vector<std::uint64_t> bits;
};

// k distinct values from [0, n): draw until k are distinct (a bitmap rejects repeats).
// With `sorted`, they are read back in increasing order; without, they stay in the order
// drawn (callers that only count them, or whose result does not depend on the order).
// Sorted and dense (a bitmap of at most 8 words per value: Brunel's 1,000 of 64,000, a
// bit in 64), the values are read off the bitmap word by word with no branch on a word's
// bits: each word writes its lowest two set bits' places whether it has them or not and
// moves the output on by its count (a word of more than two, 8 % of them at one bit in
// 64, goes on in a loop). A loop over each word's bits, with a branch on empty words,
// mispredicted about once a word: that scan took 2-3 x as long, and sample_distinct 1.8 x
// as long in the plastic Brunel of 10^8 synapses (perf).
void sample_distinct(random_stream& rng, u32 n, u32 k, sampler_scratch& s, std::vector<u32>& out, bool sorted = true) {
    out.clear();
    if (k == 0) return;
    if (k == n) {
        for (u32 i = 0; i < n; ++i) out.push_back(i);
        return;
    }
    s.bits.resize((std::size_t(n) + 63) / 64);
    std::uint64_t* bits = s.bits.data();
    const std::size_t words = s.bits.size();
    if (sorted && words <= 8 * std::size_t(k)) {
        for (u32 got = 0; got < k;) {
            const u32 x = rng.below(n);
            std::uint64_t& w = bits[x >> 6];
            const std::uint64_t bit = std::uint64_t(1) << (x & 63);
            got += (w & bit) == 0 ? 1u : 0u;
            w |= bit;
        }
        constexpr int slots = 2;
        out.resize(std::size_t(k) + slots);
        u32* o = out.data();
        constexpr std::uint64_t top = std::uint64_t(1) << 63;  // so that ctz of an empty word is defined
        for (std::size_t wi = 0; wi < words; ++wi) {
            std::uint64_t w = bits[wi];
            bits[wi] = 0;
            const u32 base = static_cast<u32>(wi * 64);
            const int c = __builtin_popcountll(w);
            for (int j = 0; j < slots; ++j) {
                o[j] = base + static_cast<u32>(__builtin_ctzll(w | top));
                w &= w - 1;
            }
            if (c > slots) [[unlikely]] {
                for (u32* p = o + slots; w; w &= w - 1) *p++ = base + static_cast<u32>(__builtin_ctzll(w));
            }
            o += c;
        }
        out.resize(k);
        return;
    }
    // unsorted, or sparse: the picks written by index into `out` (each a place whether or
    // not it is a repeat, which moves on only if not), sorted where asked, and the bitmap
    // cleared (against a push per pick and a copy into `out`: sample_distinct and memmove
    // took 27 % of the samples of Brunel's 10^8 static build instead of 33 %)
    out.resize(k);
    u32* o = out.data();
    for (u32 got = 0; got < k;) {
        const u32 x = rng.below(n);
        std::uint64_t& w = bits[x >> 6];
        const std::uint64_t bit = std::uint64_t(1) << (x & 63);
        o[got] = x;
        got += (w & bit) == 0 ? 1u : 0u;
        w |= bit;
    }
    if (sorted) std::sort(out.begin(), out.end());
    for (u32 x : out) bits[x >> 6] = 0;
}

void sample_with_replacement(random_stream& rng, u32 n, u32 k, std::vector<u32>& out) {
    out.resize(k);
    for (auto& x : out) x = rng.below(n);
    std::sort(out.begin(), out.end());
}

// With self-connections excluded, candidate index k maps to neuron k or k+1.
u32 unskip(u32 k, u32 skip) { return k >= skip ? k + 1 : k; }

// fixed_probability's gaps a batch at a time: step[b] = min(floor(gap[b]), cap) + 1 for
// gaps > 0 and cap < 2^52, as vectors. (In plain code GCC computes each step where the
// summing loop, which may leave early, reads it: one by one.)
constexpr int geometric_batch = 8;
inline void geometric_steps(const double* gap, double cap, std::int64_t* step) {
#if defined(__AVX2__)  // (also with AVX-512: GCC 12 warns falsely of uninitialised values in its 512-bit intrinsics)
    for (int h = 0; h < geometric_batch; h += 4) {
        const __m256d g = _mm256_min_pd(_mm256_floor_pd(_mm256_loadu_pd(gap + h)), _mm256_set1_pd(cap));
        // a whole number below 2^52 plus 2^52 has 2^52's bits plus the number
        const __m256i bits = _mm256_castpd_si256(_mm256_add_pd(g, _mm256_set1_pd(4503599627370496.0)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(step + h), _mm256_sub_epi64(bits, _mm256_set1_epi64x(0x4330000000000000LL - 1)));
    }
#else
    for (int b = 0; b < geometric_batch; ++b) step[b] = static_cast<std::int64_t>(std::min(std::floor(gap[b]), cap)) + 1;
#endif
}

// The drawn weights and delays of a projection's synapses: each owner neuron's (the
// target, or the source for fixed_number_post, or 0 for the rules that draw from one
// list) come from its own two streams, one draw per synapse in the order the connector
// makes them. Constant ones are not drawn: callers test that first.
class synapse_values {
public:
    synapse_values(const projection_spec& proj, double dt, std::uint64_t seed)
        : proj_(proj), dt_(dt), seed_(seed), w_stream_(stream_id("weight/" + proj.name)), d_stream_(stream_id("delay/" + proj.name)) {}
    struct owner {
        random_stream wr, dr;
    };
    owner of(u32 o) const { return owner{random_stream(seed_, w_stream_, o), random_stream(seed_, d_stream_, o)}; }
    float draw_weight(owner& ov) const { return weight_value(proj_, proj_.weight.sample(ov.wr)); }
    std::uint16_t draw_delay(owner& ov) const { return delay_steps(proj_, proj_.delay.sample(ov.dr), dt_); }

private:
    const projection_spec& proj_;
    double dt_;
    std::uint64_t seed_;
    u32 w_stream_, d_stream_;
};

// Calls emit(pre, post, weight, delay_steps) for every synapse of `proj` whose target is
// in `targets`, in canonical order (by owner neuron). With `values` false, weights and
// delays are not drawn (emit gets 0, 0): the counting pass. A rule that draws a target's
// sources as a set (fixed_number_pre without replacement) makes them in increasing order
// where `values` or `sorted`; otherwise in the order drawn.
template <class Emit>
void for_each_synapse(const projection_spec& proj, u32 n_pre, u32 n_post, double dt, std::uint64_t seed,
                      neuron_range targets, bool values, const neuron_positions* pre_pos,
                      const neuron_positions* post_pos, Emit&& emit, bool sorted = false) {
    const auto& c = proj.connector;
    const u32 conn_stream = stream_id("conn/" + proj.name);
    const synapse_values vals(proj, dt, seed);
    const bool same = proj.source == proj.target;
    const bool no_self = same && !c.allow_self_connections;
    const bool w_const = proj.weight.is_constant(), d_const = proj.delay.is_constant();
    const float w0 = static_cast<float>(proj.weight.a);
    const std::uint16_t d0 = delay_steps(proj, proj.delay.a, dt);
    const std::string where = "projections." + proj.name + ".connector";

    using owner_values = synapse_values::owner;
    auto values_of = [&](u32 owner) { return vals.of(owner); };
    // Inlined into every rule's loop (GCC left it out of line): each call's pushes go
    // through the store buffer behind the fill pass's stores that miss the cache. Inlined,
    // building Brunel's 10^8 synapses took 0.66-0.69 x the time on Zen 3 (seventeenth
    // session).
    auto put = [&](owner_values& ov, u32 pre, u32 post) __attribute__((always_inline)) {
        if (!values) { emit(pre, post, 0.0f, std::uint16_t(0)); return; }
        const float w = w_const ? w0 : vals.draw_weight(ov);
        const std::uint16_t d = d_const ? d0 : vals.draw_delay(ov);
        emit(pre, post, w, d);
    };
    const u32 tb = targets.begin, te = std::min(targets.end, n_post);
    std::vector<u32> buf;
    sampler_scratch scratch;

    if (c.rule == "all_to_all") {
        for (u32 j = tb; j < te; ++j) {
            auto ov = values_of(j);
            for (u32 i = 0; i < n_pre; ++i)
                if (!(no_self && i == j)) put(ov, i, j);
        }
    } else if (c.rule == "one_to_one") {
        if (n_pre != n_post) fail_build(connector_where(proj), where, "one_to_one needs populations of equal size");
        for (u32 j = tb; j < te; ++j) {
            auto ov = values_of(j);
            put(ov, j, j);
        }
    } else if (c.rule == "fixed_probability") {
        const double p = c.p;
        if (p <= 0.0) return;
        const double inv_log_q = p < 1.0 ? 1.0 / std::log1p(-p) : 0.0;
        for (u32 j = tb; j < te; ++j) {
            auto ov = values_of(j);
            if (p >= 1.0) {
                for (u32 i = 0; i < n_pre; ++i)
                    if (!(no_self && i == j)) put(ov, i, j);
                continue;
            }
            // Geometric skipping: the gap to the next connected source is geometric,
            // 1 + floor(log(u) / log(1 - p)), one draw per gap. Gaps in batches of 8, so
            // that their logs vectorise (unit_log); draws past the row's end are unused.
            // The sources are integers: each gap's floor, capped at n_pre (a gap that long
            // ends the row wherever it starts, so the cap changes nothing), converted
            // (geometric_steps) and summed up in integer registers. Summed in a double kept
            // in memory, each synapse waited for the one before through a store and a load.
            // A batch's words come as one copy (next_u32s): drawn one by one, each went
            // through a store that the vector load of all eight waited for.
            random_stream rng(seed, conn_stream, j);
            rng.draw_in_bulk();  // 16 words a refill: every batch of 8 in one copy
            std::int64_t i = -1;
            constexpr int batch = geometric_batch;
            const double cap = static_cast<double>(n_pre);
            u32 word[batch];
            double gap[batch];
            std::int64_t step[batch];
            for (bool more = true; more;) {
                rng.next_u32s(word, batch);
                for (int b = 0; b < batch; ++b) gap[b] = unit_log(to_unit(word[b])) * inv_log_q;
                geometric_steps(gap, cap, step);
                for (int b = 0; b < batch; ++b) {
                    i += step[b];
                    if (i >= static_cast<std::int64_t>(n_pre)) { more = false; break; }
                    const u32 ii = static_cast<u32>(i);
                    if (!(no_self && ii == j)) put(ov, ii, j);
                }
            }
        }
    } else if (c.rule == "distance") {
        if (!pre_pos || !post_pos || pre_pos->xyz.size() != 3 * std::size_t(n_pre) || post_pos->xyz.size() != 3 * std::size_t(n_post))
            fail_build(connector_where(proj), where, "the distance rule needs both populations in a layout");
        const double inv_l2 = 1.0 / (c.lambda * c.lambda);
        for (u32 j = tb; j < te; ++j) {
            auto ov = values_of(j);
            random_stream rng(seed, conn_stream, j);
            const float* q = &post_pos->xyz[3 * std::size_t(j)];
            for (u32 i = 0; i < n_pre; ++i) {
                const double u = rng.uniform();  // one draw per candidate, so the list is stable
                if (no_self && i == j) continue;
                const float* r = &pre_pos->xyz[3 * std::size_t(i)];
                const double dx = r[0] - q[0], dy = r[1] - q[1], dz = r[2] - q[2];
                if (u < c.p * std::exp(-(dx * dx + dy * dy + dz * dz) * inv_l2)) put(ov, i, j);
            }
        }
    } else if (c.rule == "fixed_number_pre") {
        const u32 avail = no_self ? n_pre - 1 : n_pre;
        const u32 k = static_cast<u32>(c.n);
        if (!c.with_replacement && k > avail) fail_build(connector_where(proj), where, "n exceeds the available sources");
        if (k > 0 && avail == 0) fail_build(connector_where(proj), where, "there is no source to connect");
        for (u32 j = tb; j < te; ++j) {
            random_stream rng(seed, conn_stream, j);
            // Without values the order of one target's sources does not matter: each goes
            // to its own row, where targets stay in ascending order.
            if (c.with_replacement) sample_with_replacement(rng, avail, k, buf); else sample_distinct(rng, avail, k, scratch, buf, values || sorted);
            auto ov = values_of(j);
            for (u32 x : buf) put(ov, no_self ? unskip(x, j) : x, j);
        }
    } else if (c.rule == "fixed_number_post") {
        const u32 avail = no_self ? n_post - 1 : n_post;
        const u32 k = static_cast<u32>(c.n);
        if (!c.with_replacement && k > avail) fail_build(connector_where(proj), where, "n exceeds the available targets");
        if (k > 0 && avail == 0) fail_build(connector_where(proj), where, "there is no target to connect");
        for (u32 i = 0; i < n_pre; ++i) {
            random_stream rng(seed, conn_stream, i);
            if (c.with_replacement) sample_with_replacement(rng, avail, k, buf); else sample_distinct(rng, avail, k, scratch, buf);
            auto ov = values_of(i);
            for (u32 x : buf) {
                const u32 j = no_self ? unskip(x, i) : x;
                if (!values) { if (j >= tb && j < te) put(ov, i, j); continue; }
                // draw values for every synapse of the owner, keep those in range
                const float w = w_const ? w0 : vals.draw_weight(ov);
                const std::uint16_t d = d_const ? d0 : vals.draw_delay(ov);
                if (j >= tb && j < te) emit(i, j, w, d);
            }
        }
    } else if (c.rule == "fixed_total_number") {
        const std::uint64_t pairs = std::uint64_t(n_pre) * n_post - (no_self ? std::min(n_pre, n_post) : 0u);
        if (!c.with_replacement && c.n > pairs) fail_build(connector_where(proj), where, "n exceeds the possible pairs");
        if (c.n > 0 && pairs == 0) fail_build(connector_where(proj), where, "there is no pair to connect");
        random_stream rng(seed, conn_stream, 0);
        std::vector<std::uint64_t> picks;
        picks.reserve(c.n);
        std::unordered_set<std::uint64_t> seen;
        while (picks.size() < c.n) {
            const u32 i = rng.below(n_pre), j = rng.below(n_post);
            if (no_self && i == j) continue;
            const std::uint64_t key = std::uint64_t(j) * n_pre + i;  // ordered by target
            if (!c.with_replacement && !seen.insert(key).second) continue;
            picks.push_back(key);
        }
        std::sort(picks.begin(), picks.end());
        auto ov = values_of(0);
        for (auto key : picks) {
            const u32 i = static_cast<u32>(key % n_pre), j = static_cast<u32>(key / n_pre);
            if (!values) { if (j >= tb && j < te) put(ov, i, j); continue; }
            const float w = w_const ? w0 : vals.draw_weight(ov);
            const std::uint16_t d = d_const ? d0 : vals.draw_delay(ov);
            if (j >= tb && j < te) emit(i, j, w, d);
        }
    } else if (c.rule == "from_list") {
        auto ov = values_of(0);
        for (std::size_t k = 0; k < c.pre.size(); ++k) {
            if (c.pre[k] >= n_pre || c.post[k] >= n_post)
                fail_build(connector_where(proj), where, "connection " + std::to_string(k) + " is outside the populations");
            const bool own_w = k < c.weight.size() && !std::isnan(c.weight[k]);
            const bool own_d = k < c.delay.size() && !std::isnan(c.delay[k]);
            // draws are taken for every entry without its own value, in list order
            const float w = own_w ? weight_value(proj, c.weight[k]) : w_const ? w0 : vals.draw_weight(ov);
            const std::uint16_t d = own_d ? delay_steps(proj, c.delay[k], dt) : d_const ? d0 : vals.draw_delay(ov);
            if (c.post[k] >= tb && c.post[k] < te) emit(c.pre[k], c.post[k], w, d);
        }
    } else {
        fail_build(connector_where(proj), where, "unknown connector rule '" + c.rule + "'");
    }
}

// The sparse source index of a part's rows (csr_rows::source_of): blocks of 2^shift
// synapses, about one average row long, so a lookup reads one or two row starts.
void build_source_index(csr_rows& rows, std::uint32_t n_pre) {
    const std::uint64_t n = rows.row_begin.empty() ? 0 : rows.row_begin.back();
    const std::uint64_t mean_row = n_pre ? std::max<std::uint64_t>(1, n / n_pre) : 1;
    unsigned shift = 0;
    while (shift < 24 && (std::uint64_t(2) << shift) <= mean_row) ++shift;
    rows.src_shift = shift;
    rows.src_block.clear();
    if (n == 0) { rows.src_block.assign(2, 0); return; }
    const std::uint64_t blocks = ((n - 1) >> shift) + 1;
    rows.src_block.resize(blocks + 1);
    std::uint32_t i = 0;
    for (std::uint64_t m = 0; m <= blocks; ++m) {
        const std::uint64_t s = std::min(m << shift, n - 1);
        while (rows.row_begin[std::size_t(i) + 1] <= s) ++i;
        rows.src_block[m] = i;
    }
}

}  // namespace

synapse_list generate_synapses(const projection_spec& proj, std::uint32_t n_pre, std::uint32_t n_post, double dt,
                               std::uint64_t seed, const neuron_positions* pre_pos, const neuron_positions* post_pos) {
    synapse_list out;
    for_each_synapse(proj, n_pre, n_post, dt, seed, {0, n_post}, true, pre_pos, post_pos, [&](u32 i, u32 j, float w, std::uint16_t d) {
        out.pre.push_back(i);
        out.post.push_back(j);
        out.weight.push_back(w);
        out.delay.push_back(d);
    });
    return out;
}

std::uint64_t expected_synapses(const projection_spec& proj, std::uint32_t n_pre, std::uint32_t n_post) {
    const auto& c = proj.connector;
    const bool same = proj.source == proj.target;
    const std::uint64_t pre = n_pre, post = n_post, self = same && !c.allow_self_connections ? std::min(pre, post) : 0;
    if (c.rule == "all_to_all") return pre * post - self;
    if (c.rule == "one_to_one") return std::min(pre, post);
    if (c.rule == "fixed_probability") return static_cast<std::uint64_t>(std::llround(c.p * static_cast<double>(pre * post - self)));
    if (c.rule == "fixed_number_pre") return c.n * post;
    if (c.rule == "fixed_number_post") return c.n * pre;
    if (c.rule == "fixed_total_number") return c.n;
    if (c.rule == "from_list") return c.pre.size();
    return 0;
}

projection_rows build_projection(const projection_spec& proj, std::uint32_t n_pre, std::uint32_t n_post, double dt,
                                 std::uint64_t seed, const std::vector<neuron_range>& parts, int threads) {
    build_options o;
    o.threads = threads;
    return build_projection(proj, n_pre, n_post, dt, seed, parts, o);
}

struct projection_builder::state {
    const projection_spec& proj;
    std::uint32_t n_pre, n_post;
    double dt;
    std::uint64_t seed;
    std::vector<neuron_range> parts;
    build_options opt;
    projection_rows r;
    std::vector<std::uint16_t> part_max;
};

projection_builder::projection_builder(const projection_spec& proj, std::uint32_t n_pre, std::uint32_t n_post, double dt,
                                       std::uint64_t seed, const std::vector<neuron_range>& parts, const build_options& opt)
    : s_(new state{proj, n_pre, n_post, dt, seed, parts, opt, {}, {}}) {
    projection_rows& r = s_->r;
    r.n_pre = n_pre;
    const auto& c = proj.connector;
    // Weights and delays are stored per synapse only when they can differ.
    bool list_w = false, list_d = false;
    if (c.rule == "from_list") {
        for (std::size_t k = 0; k < c.pre.size(); ++k) {
            if (k < c.weight.size() && !std::isnan(c.weight[k]) && static_cast<float>(c.weight[k]) != static_cast<float>(proj.weight.a)) list_w = true;
            if (k < c.delay.size() && !std::isnan(c.delay[k]) && delay_steps(proj, c.delay[k], dt) != delay_steps(proj, proj.delay.a, dt)) list_d = true;
        }
    }
    r.homogeneous_weight = proj.weight.is_constant() && !list_w && !opt.per_synapse_weights;
    r.uniform_delay = proj.delay.is_constant() && !list_d;
    r.weight0 = static_cast<float>(proj.weight.a);
    r.delay0 = delay_steps(proj, proj.delay.a, dt);
    r.parts.resize(parts.size());
    s_->part_max.assign(parts.size(), r.delay0);
}

projection_builder::~projection_builder() = default;

std::size_t projection_builder::parts() const { return s_->parts.size(); }

void projection_builder::build_part(std::size_t k) {
    const projection_spec& proj = s_->proj;
    const auto& c = proj.connector;
    const std::uint32_t n_pre = s_->n_pre, n_post = s_->n_post;
    const double dt = s_->dt;
    const std::uint64_t seed = s_->seed;
    const std::vector<neuron_range>& parts = s_->parts;
    const build_options& opt = s_->opt;
    projection_rows& r = s_->r;
    std::vector<std::uint16_t>& part_max = s_->part_max;
    {
        csr_rows& rows = r.parts[k];
        rows.row_begin.assign(std::size_t(n_pre) + 1, 0);
        if (columns_first(k)) return;
        // The count pass keeps the synapses of a small part, so that the fill pass need not
        // draw them again; it can only when the fill pass draws no weights or delays (the
        // count pass does not). A larger part drops them and draws again. A pair is the
        // source and the target's place in the part in 4 bytes, source above jbits bits
        // (half the memory that the first writes fault in, page by page); parts whose
        // sources and places do not fit draw again too.
        const bool values = !r.homogeneous_weight || !r.uniform_delay;
        constexpr std::size_t keep_max = std::size_t(1) << 20;  // (source, target) pairs: 4 MiB
        const u32 span = std::min(parts[k].end, n_post) - std::min(parts[k].begin, n_post);
        const int jbits = std::bit_width(std::max<u32>(span, 1) - 1);
        const u32 jmask = static_cast<u32>((std::uint64_t(1) << jbits) - 1), jbase = parts[k].begin;
        bool keep = !values && jbits < 32 && std::bit_width(std::max<u32>(n_pre, 1) - 1) + jbits <= 32;  // (a shift by 32 is undefined)
        // kept[0, nk): written in place, not pushed (a call per synapse; see `put` in
        // for_each_synapse), in room grown out of line when full; left uninitialised (no
        // pass over the memory before the pairs are written)
        std::unique_ptr<std::uint32_t[]> kept;
        std::uint32_t* kp = nullptr;
        std::size_t nk = 0, room = 0;
        if (keep) {
            room = 4096;
            if (c.rule == "fixed_probability") {  // the expected count and 4 sd more
                const double mean = c.p * n_pre * span;
                room = static_cast<std::size_t>(std::min<double>(keep_max, mean + 4.0 * std::sqrt(mean) + 64.0));
            }
            kept.reset(new std::uint32_t[room]);
            kp = kept.get();
        }
        // Each source's count in 4 bytes (a part's row of one source has fewer than 2^32
        // synapses): half the lines of row_begin's 8-byte entries, so that more of the
        // counts' random increments find their line in L1. While the pairs are kept, they
        // are counted after the pass, from the pairs: the pass's emit then stores one pair
        // per synapse and nothing else (with the count's increment beside it, GCC read
        // the pass's state back from memory after each synapse).
        std::vector<std::uint32_t> counts(n_pre);
        std::uint32_t* cnt = counts.data();
        auto grow = [&]() __attribute__((noinline, cold)) {
            if (room >= keep_max) {  // too many to keep: counted so far, then dropped
                for (std::size_t x = 0; x < nk; ++x) ++cnt[kp[x] >> jbits];
                keep = false;
                kept.reset();
                kp = nullptr;
            } else {
                const std::size_t more = std::min(keep_max, 2 * room);
                std::unique_ptr<std::uint32_t[]> bigger(new std::uint32_t[more]);
                std::copy(kp, kp + nk, bigger.get());
                kept = std::move(bigger);
                kp = kept.get();
                room = more;
            }
        };
        for_each_synapse(proj, n_pre, n_post, dt, seed, parts[k], false, opt.pre_pos, opt.post_pos,
                         [&](u32 i, u32 j, float, std::uint16_t) __attribute__((always_inline)) {
                             if (keep) {
                                 if (nk == room) [[unlikely]] grow();
                                 if (keep) {
                                     kp[nk++] = i << jbits | (j - jbase);
                                     return;
                                 }
                             }
                             ++cnt[i];
                         });
        if (keep)
            for (std::size_t x = 0; x < nk; ++x) ++cnt[kp[x] >> jbits];
        for (u32 i = 0; i < n_pre; ++i) rows.row_begin[i + 1] = rows.row_begin[i] + cnt[i];
        const std::size_t n = rows.row_begin[n_pre];
        // 2-byte targets where the part allows (plastic rules are handed 4-byte targets)
        const bool compact = parts[k].end - parts[k].begin <= 65536u;
        rows.target_base = parts[k].begin;
        if (compact) rows.target16.resize(n); else rows.target.resize(n);
        if (!r.homogeneous_weight) rows.weight.resize(n);
        if (!r.uniform_delay) rows.delay.resize(n);
        std::vector<std::uint64_t> fill(rows.row_begin.begin(), rows.row_begin.end() - 1);
        std::uint16_t dmax = r.delay0;
        auto put = [&](u32 i, u32 j, float w, std::uint16_t d) __attribute__((always_inline)) {
            const std::uint64_t pos = fill[i]++;
            if (compact) rows.target16[pos] = static_cast<std::uint16_t>(j - rows.target_base);
            else rows.target[pos] = j;
            if (!r.homogeneous_weight) rows.weight[pos] = w;
            if (!r.uniform_delay) { rows.delay[pos] = d; dmax = std::max(dmax, d); }
        };
        if (keep) {
            for (std::size_t x = 0; x < nk; ++x) put(kp[x] >> jbits, (kp[x] & jmask) + jbase, 0.0f, 0);
            kept.reset();
        } else {
            // Drawn again, a chunk of synapses at a time, then put: each put stores to a
            // random row, and most of those stores miss the cache. Stores leave the store
            // buffer in program order, so with the puts among the draws the draws' own
            // stores (the sampler's lists and bitmap, the counter-based streams' blocks)
            // queued behind them. In chunks the draws run on cached lines and the puts
            // back to back: Brunel's 10^8 synapses built in 0.74 x the time on 1 thread
            // and 0.85 x on 2, coba_large's in 0.81 x (Zen 3, eighteenth session; 256
            // synapses a chunk: 0.82 x; prefetching each put's row line 24 puts ahead
            // made it slower).
            // A synapse as drawn: its source and target, and its values where they are drawn
            // (8 bytes without, so that a chunk's sort and puts move half the bytes).
            struct drawn {
                u32 i, j;
                float w;
                std::uint16_t d;
            };
            struct drawn_pair {
                u32 i, j;
            };
            // Where the rows are many (the line each row is being written at adds up to
            // more than 16 MiB, beyond a core's share of the last-level cache), a put finds
            // its row's line evicted since the row's last put. There the chunk is 32 MiB of
            // synapses as drawn (two buffers of it while the part is built), and they are
            // put in order of source block (1,024 rows a block; a stable counting sort, so
            // each row keeps the order of the draws): the puts of a block find the
            // block's lines in the cache. Brunel at 10^9 synapses (800,000 sources, 51 MB
            // of lines) built in 0.69 x the time on 2 threads; at 10^8 (5 MB) batching
            // gained nothing (Zen 3, thirty-seventh session). A row's line is still
            // fetched again in each chunk that puts to it: 8-byte pairs put twice the
            // synapses per chunk, so half as many fetches.
            const bool batched = std::size_t(n_pre) * 64 > (std::size_t(16) << 20);
            auto draw_and_put = [&]<class E>(E) {
                const std::size_t chunk = batched ? (std::size_t(32) << 20) / sizeof(E) : 1024;
                // (left uninitialised: every entry is written before it is read)
                std::unique_ptr<E[]> buf(new E[chunk]), sorted(batched ? new E[chunk] : nullptr);
                const int shift = 10;
                std::vector<std::uint32_t> at(batched ? (std::size_t(n_pre) >> shift) + 2 : 0);
                std::size_t m = 0;
                auto put_one = [&](const E& e) __attribute__((always_inline)) {
                    if constexpr (std::is_same_v<E, drawn>) put(e.i, e.j, e.w, e.d);
                    else put(e.i, e.j, 0.0f, 0);
                };
                auto put_all = [&] {
                    // (the count in a local: the puts' 8-byte stores could be to m, so GCC
                    // read it back from memory after each)
                    const std::size_t count = m;
                    const E* in = buf.get();
                    if (!batched) {
                        for (std::size_t x = 0; x < count; ++x) put_one(in[x]);
                        m = 0;
                        return;
                    }
                    std::fill(at.begin(), at.end(), 0u);
                    for (std::size_t x = 0; x < count; ++x) ++at[(in[x].i >> shift) + 1];
                    for (std::size_t b = 1; b < at.size(); ++b) at[b] += at[b - 1];
                    for (std::size_t x = 0; x < count; ++x) sorted[at[in[x].i >> shift]++] = in[x];
                    for (std::size_t x = 0; x < count; ++x) put_one(sorted[x]);
                    m = 0;
                };
                for_each_synapse(proj, n_pre, n_post, dt, seed, parts[k], values, opt.pre_pos, opt.post_pos,
                                 [&](u32 i, u32 j, float w, std::uint16_t d) __attribute__((always_inline)) {
                                     if constexpr (std::is_same_v<E, drawn>) buf[m++] = {i, j, w, d};
                                     else buf[m++] = {i, j};
                                     if (m == chunk) [[unlikely]] put_all();
                                 });
                put_all();
            };
            if (values) draw_and_put(drawn{}); else draw_and_put(drawn_pair{});
        }
        part_max[k] = dmax;
        if (opt.columns) {
            if (n > 0xFFFFFFFFull) fail_build(proj.where, "projections." + proj.name, "a plastic projection holds at most 2^32 synapses per part");
            rows.col_begin.assign(std::size_t(n_post) + 1, 0);
            for (std::size_t s = 0; s < n; ++s) ++rows.col_begin[std::size_t(rows.target_of(s)) + 1];
            for (u32 j = 0; j < n_post; ++j) rows.col_begin[j + 1] += rows.col_begin[j];
            rows.col_syn.resize(n);
            std::vector<std::uint64_t> at(rows.col_begin.begin(), rows.col_begin.end() - 1);
            for (u32 i = 0; i < n_pre; ++i)  // by source, so each column is ordered by source
                for (std::uint64_t s = rows.row_begin[i]; s < rows.row_begin[i + 1]; ++s)
                    rows.col_syn[at[rows.target_of(s)]++] = static_cast<u32>(s);
            build_source_index(rows, n_pre);
        }
    }
}

// A plastic part from a connector that makes its synapses target by target
// (build_options::columns_first). The pass of draws appends each synapse's source to
// col_syn, so that each target's sources lie in its column in the order drawn, which is
// by source, as the columns built from the rows have them; it also counts the rows and
// the columns. Then one pass over the columns puts each synapse in its source's row (rows
// fill in the order of their targets, as the fill pass of a static projection does) and
// overwrites the column's entry with the synapse's place in the rows, drawing the
// target's weights and delays (if they are drawn) in the column's order, as the fill pass
// does. Against two passes of draws and the columns made from the rows by a scatter over
// every synapse, that saves a pass of draws, a count and a scatter, and equal weights
// are written in one sweep instead of synapse by synapse. col_syn is sized for the
// count (the mean and 6 standard deviations for fixed_probability; it grows where more
// come), so it holds no memory that the rows would not: the peak is the final size. Not for more
// than 262,144 sources, where the fill pass puts synapses in order of source block.
bool projection_builder::columns_first(std::size_t k) {
    const projection_spec& proj = s_->proj;
    const auto& c = proj.connector;
    const build_options& opt = s_->opt;
    projection_rows& r = s_->r;
    const bool by_target = c.rule == "fixed_number_pre" || c.rule == "all_to_all" || c.rule == "one_to_one" || c.rule == "fixed_probability";
    if (!opt.columns || !opt.columns_first || !by_target) return false;
    const std::uint32_t n_pre = s_->n_pre, n_post = s_->n_post;
    // rows whose current lines do not stay cached: the fill pass puts them by source block
    if (std::size_t(n_pre) * 64 > (std::size_t(16) << 20)) return false;
    const neuron_range part = s_->parts[k];
    const u32 tb = std::min(part.begin, n_post), te = std::max(tb, std::min(part.end, n_post));
    const double span = te - tb;
    double expect = 0.0;
    if (c.rule == "fixed_number_pre") expect = static_cast<double>(c.n) * span;
    else if (c.rule == "all_to_all") expect = static_cast<double>(n_pre) * span;
    else if (c.rule == "one_to_one") expect = span;
    else expect = c.p * n_pre * span + 6.0 * std::sqrt(c.p * n_pre * span) + 1024.0;
    if (expect > 4294967295.0) return false;  // (the two passes count them, then refuse them)
    csr_rows& rows = r.parts[k];
    aligned_vector<std::uint32_t>& col = rows.col_syn;
    // written by index (GCC left a push_back per synapse out of line: 4-5 % of the build)
    col.resize(opt.columns_room ? opt.columns_room : static_cast<std::size_t>(expect));
    std::uint32_t* cp = col.data();
    std::size_t n = 0;
    rows.col_begin.assign(std::size_t(n_post) + 1, 0);
    std::uint64_t* cb = rows.col_begin.data();
    std::vector<std::uint32_t> fill(n_pre);  // each row's count, then where its next synapse goes
    std::uint32_t* cnt = fill.data();
    // sources sorted within a target, as the fill pass has them; no values drawn yet
    for_each_synapse(
        proj, n_pre, n_post, s_->dt, s_->seed, part, false, opt.pre_pos, opt.post_pos,
        [&](u32 i, u32 j, float, std::uint16_t) __attribute__((always_inline)) {
            if (n == col.size()) [[unlikely]] {  // (fixed_probability beyond its mean and 6 sd)
                col.resize(n + n / 2 + 1024);
                cp = col.data();
            }
            cp[n++] = i;
            ++cnt[i];
            ++cb[std::size_t(j) + 1];
        },
        true);
    col.resize(n);
    if (n > 0xFFFFFFFFull) fail_build(proj.where, "projections." + proj.name, "a plastic projection holds at most 2^32 synapses per part");
    for (u32 i = 0; i < n_pre; ++i) {
        rows.row_begin[i + 1] = rows.row_begin[i] + cnt[i];
        fill[i] = static_cast<std::uint32_t>(rows.row_begin[i]);
    }
    for (u32 j = 0; j < n_post; ++j) cb[j + 1] += cb[j];
    const bool compact = part.end - part.begin <= 65536u;
    rows.target_base = part.begin;
    if (compact) rows.target16.resize(n); else rows.target.resize(n);
    const bool w_const = proj.weight.is_constant();
    if (!r.homogeneous_weight) {
        if (w_const) rows.weight.assign(n, r.weight0); else rows.weight.resize(n);
    }
    if (!r.uniform_delay) rows.delay.resize(n);
    std::uint32_t* cs = col.data();
    std::uint32_t* at = fill.data();
    if (!w_const || !r.uniform_delay) {
        // each target's values drawn from its streams in the order of its column, which is
        // the order the fill pass draws them in; a column's values first, then its puts, so
        // that the draws' stores do not queue behind the puts' misses (as in the fill pass)
        const synapse_values vals(proj, s_->dt, s_->seed);
        std::uint16_t dmax = r.delay0;
        std::vector<float> wv;
        std::vector<std::uint16_t> dv;
        for (u32 j = tb; j < te; ++j) {
            const std::uint64_t b = cb[j], m = cb[j + 1] - b;
            auto ov = vals.of(j);
            if (!w_const) {
                wv.resize(m);
                for (std::uint64_t x = 0; x < m; ++x) wv[x] = vals.draw_weight(ov);
            }
            if (!r.uniform_delay) {
                dv.resize(m);
                for (std::uint64_t x = 0; x < m; ++x) dmax = std::max(dmax, dv[x] = vals.draw_delay(ov));
            }
            for (std::uint64_t x = 0; x < m; ++x) {
                const std::uint32_t pos = at[cs[b + x]]++;
                if (compact) rows.target16[pos] = static_cast<std::uint16_t>(j - part.begin); else rows.target[pos] = j;
                if (!w_const) rows.weight[pos] = wv[x];
                if (!r.uniform_delay) rows.delay[pos] = dv[x];
                cs[b + x] = pos;
            }
        }
        s_->part_max[k] = dmax;
    } else if (compact) {
        std::uint16_t* t16 = rows.target16.data();
        // each put's line requested 64 puts ahead (the rows' current lines, one per
        // source, outgrow L2): 0.92 x and 0.88 x the plastic Brunel's whole process at
        // 10^8 on 1 and 2 threads; 16 ahead gained nothing measurable
        const std::uint64_t ahead = 64, end = cb[te];
        for (u32 j = tb; j < te; ++j) {
            const auto t = static_cast<std::uint16_t>(j - part.begin);
            for (std::uint64_t s = cb[j]; s < cb[j + 1]; ++s) {
                if (s + ahead < end) __builtin_prefetch(t16 + at[cs[s + ahead]], 1);
                const std::uint32_t pos = at[cs[s]]++;
                t16[pos] = t;
                cs[s] = pos;
            }
        }
    } else {
        std::uint32_t* t32 = rows.target.data();
        for (u32 j = tb; j < te; ++j)
            for (std::uint64_t s = cb[j]; s < cb[j + 1]; ++s) {
                const std::uint32_t pos = at[cs[s]]++;
                t32[pos] = j;
                cs[s] = pos;
            }
    }
    build_source_index(rows, n_pre);
    return true;
}

projection_rows projection_builder::finish() {
    projection_rows r = std::move(s_->r);
    r.max_delay = *std::max_element(s_->part_max.begin(), s_->part_max.end());
    return r;
}

projection_rows build_projection(const projection_spec& proj, std::uint32_t n_pre, std::uint32_t n_post, double dt,
                                 std::uint64_t seed, const std::vector<neuron_range>& parts, const build_options& opt) {
    projection_builder b(proj, n_pre, n_post, dt, seed, parts, opt);
    auto build_part = [&](std::size_t k) { b.build_part(k); };
    if (opt.for_parts && parts.size() > 1) {
        opt.for_parts(parts.size(), build_part);
    } else if (opt.threads > 1 && parts.size() > 1) {
        const int cores = usable_cpus();
        tbb::task_arena arena(std::min({opt.threads, static_cast<int>(parts.size()), cores}));
        arena.execute([&] { tbb::parallel_for(std::size_t(0), parts.size(), build_part); });
    } else {
        for (std::size_t k = 0; k < parts.size(); ++k) build_part(k);
    }
    return b.finish();
}

namespace {

// How resplit_rows takes an old part's rows into a new part: all of every row (whole), the
// entries of each row whose stored target x (an offset from the old part's first neuron,
// or an index) has x - lo < span, found entry by entry (cut), or, where each row holds its
// targets in increasing order, as the range between two bounds, each found from the row's
// end nearer to it (sorted; from_start: the range begins at the old part's first neuron,
// to_end: it ends at its last, so that bound needs no search): rows are short (8-32
// entries of a part in coba_large), and a cut that moves by a few neurons leaves a bound
// a step or two from an end.
enum class take { whole, cut, sorted };
struct piece {
    const csr_rows* c;
    take how;
    std::uint32_t lo, span;
    bool from_start, to_end;
    std::int64_t shift;  // stored target + shift = the new part's stored target
    std::vector<std::uint32_t> kept;  // sorted: each row's kept entries [s0, s1), as s0 - b and s1 - b
};

// The first entry of the sorted row [b, e) that is v or more (e if none), looked for from
// the end of the row nearer to v: where the cut moves by a few neurons, a step or two.
template <class S>
inline std::uint64_t first_from(const S* t, std::uint64_t b, std::uint64_t e, std::uint32_t v) {
    if (b == e || std::uint32_t(t[b]) >= v) return b;
    const std::uint32_t x0 = t[b], x1 = t[e - 1];
    if (x1 < v) return e;
    // x0 < v <= x1
    std::uint64_t s;
    if (v - x0 <= x1 - v) {
        for (s = b + 1; std::uint32_t(t[s]) < v;) ++s;
    } else {
        for (s = e - 1; std::uint32_t(t[s - 1]) >= v;) --s;
    }
    return s;
}

// Row [b, e)'s kept entries, where p.how is sorted: [s0, s1).
template <class S>
inline std::pair<std::uint64_t, std::uint64_t> kept_range(const piece& p, const S* t, std::uint64_t b, std::uint64_t e) {
    const std::uint64_t s0 = p.from_start ? b : first_from(t, b, e, p.lo);
    const std::uint64_t s1 = p.to_end ? e : first_from(t, s0, e, p.lo + p.span);
    return {s0, s1};
}

template <class S>
void count_rows(piece& p, const S* t, std::size_t n_pre, std::uint64_t* n) {
    const std::uint64_t* rb = p.c->row_begin.data();
    if (p.how == take::whole) {
        for (std::size_t i = 0; i < n_pre; ++i) n[i] += rb[i + 1] - rb[i];
    } else if (p.how == take::sorted) {
        p.kept.resize(2 * n_pre);
        for (std::size_t i = 0; i < n_pre; ++i) {
            const auto [s0, s1] = kept_range(p, t, rb[i], rb[i + 1]);
            p.kept[2 * i] = static_cast<std::uint32_t>(s0 - rb[i]);
            p.kept[2 * i + 1] = static_cast<std::uint32_t>(s1 - rb[i]);
            n[i] += s1 - s0;
        }
    } else {
        for (std::size_t i = 0; i < n_pre; ++i) {
            std::uint32_t k = 0;
            for (std::uint64_t s = rb[i]; s < rb[i + 1]; ++s) k += std::uint32_t(std::uint32_t(t[s]) - p.lo) < p.span;
            n[i] += k;
        }
    }
}

// The kept entries of each row, written from at[i] on (at[i] moves past them), with their
// weights and delays (W, D).
template <bool W, bool D, class S, class T>
void put_rows(const piece& p, const S* t, std::size_t n_pre, std::uint64_t* at, T* out, float* ow, std::uint16_t* od) {
    const csr_rows& c = *p.c;
    const std::uint64_t* rb = c.row_begin.data();
    const float* w = W ? c.weight.data() : nullptr;
    const std::uint16_t* d = D ? c.delay.data() : nullptr;
    const std::int64_t shift = p.shift;
    auto copy = [&](std::uint64_t b, std::uint64_t e, std::uint64_t pos) {
        T* o = out + pos;
        const S* x = t + b;
        for (std::uint64_t s = 0; s < e - b; ++s) o[s] = static_cast<T>(static_cast<std::int64_t>(x[s]) + shift);
        if constexpr (W) std::copy(w + b, w + e, ow + pos);
        if constexpr (D) std::copy(d + b, d + e, od + pos);
    };
    for (std::size_t i = 0; i < n_pre; ++i) {
        const std::uint64_t b = rb[i], e = rb[i + 1];
        std::uint64_t pos = at[i];
        if (p.how == take::whole) {
            copy(b, e, pos);
            pos += e - b;
        } else if (p.how == take::sorted) {
            const std::uint64_t s0 = b + p.kept[2 * i], s1 = b + p.kept[2 * i + 1];  // (count_rows found them)
            copy(s0, s1, pos);
            pos += s1 - s0;
        } else {
            // (a branch: the kept entries mostly lie together; a store of every entry at the
            // cursor would write past the row's end, into another part's piece of the next row)
            for (std::uint64_t s = b; s < e; ++s) {
                const std::uint32_t x = t[s];
                if (std::uint32_t(x - p.lo) >= p.span) continue;
                out[pos] = static_cast<T>(static_cast<std::int64_t>(x) + shift);
                if constexpr (W) ow[pos] = w[s];
                if constexpr (D) od[pos] = d[s];
                ++pos;
            }
        }
        at[i] = pos;
    }
}

// Whether each row of t holds its entries in increasing order: the places where an entry
// is less than the one before, counted over the whole array (one loop the compiler
// vectorises), must all be where a row begins.
template <class S>
bool in_order(const S* t, const aligned_vector<std::uint64_t>& rb) {
    const std::uint64_t n = rb.back();
    std::uint64_t down = 0;
    for (std::uint64_t s = 1; s < n; ++s) down += t[s] < t[s - 1];
    for (std::size_t i = 1; i + 1 < rb.size() && down > 0; ++i) {
        const std::uint64_t b = rb[i];
        if (b > 0 && b < n && b != rb[i - 1]) down -= t[b] < t[b - 1];  // once per row start
    }
    return down == 0;
}
}  // namespace

bool rows_sorted(const projection_rows& rows) {
    for (const auto& c : rows.parts) {
        if (c.synapses() == 0) continue;
        if (!(c.compact() ? in_order(c.target16.data(), c.row_begin) : in_order(c.target.data(), c.row_begin))) return false;
    }
    return true;
}

csr_rows resplit_rows(const projection_rows& rows, const std::vector<neuron_range>& from, neuron_range part, bool sorted) {
    if (from.size() != rows.parts.size()) throw std::logic_error("resplit_rows: the ranges do not match the rows' parts");
    for (const auto& c : rows.parts)
        if (!c.col_begin.empty()) throw std::logic_error("resplit_rows: rows with columns (plastic synapses) cannot be cut anew");
    const std::size_t n_pre = rows.n_pre;
    csr_rows out;
    out.row_begin.assign(n_pre + 1, 0);
    const bool compact = part.end - part.begin <= 65536u;
    out.target_base = part.begin;
    // The old parts that hold targets of `part`, each taken as a whole, rows after rows.
    std::vector<piece> pieces;
    for (std::size_t q = 0; q < from.size(); ++q) {
        const neuron_range r = from[q];
        const csr_rows& c = rows.parts[q];
        if (r.end <= r.begin || r.end <= part.begin || r.begin >= part.end || c.synapses() == 0) continue;
        const std::uint32_t first = std::max(r.begin, part.begin), end = std::min(r.end, part.end);
        const std::uint32_t stored0 = c.compact() ? c.target_base : 0;  // what a stored target is counted from
        const std::int64_t shift = static_cast<std::int64_t>(stored0) - (compact ? static_cast<std::int64_t>(part.begin) : 0);
        const take how = r.begin >= part.begin && r.end <= part.end ? take::whole : sorted ? take::sorted : take::cut;
        pieces.push_back({&c, how, first - stored0, end - first, first == r.begin, end == r.end, shift, {}});
    }
    std::uint64_t* n = out.row_begin.data() + 1;  // row i's count, then its end
    for (auto& p : pieces) {
        if (p.c->compact()) count_rows(p, p.c->target16.data(), n_pre, n); else count_rows(p, p.c->target.data(), n_pre, n);
    }
    for (std::size_t i = 0; i < n_pre; ++i) n[i] += out.row_begin[i];
    const std::uint64_t total = out.row_begin[n_pre];
    if (compact) out.target16.resize(total); else out.target.resize(total);
    const bool W = !rows.homogeneous_weight, D = !rows.uniform_delay;
    if (W) out.weight.resize(total);
    if (D) out.delay.resize(total);
    std::vector<std::uint64_t> at(out.row_begin.begin(), out.row_begin.end() - 1);
    for (const auto& p : pieces) {
        auto put = [&](const auto* t, auto* o) {
            float* ow = out.weight.data();
            std::uint16_t* od = out.delay.data();
            if (W && D) put_rows<true, true>(p, t, n_pre, at.data(), o, ow, od);
            else if (W) put_rows<true, false>(p, t, n_pre, at.data(), o, ow, od);
            else if (D) put_rows<false, true>(p, t, n_pre, at.data(), o, ow, od);
            else put_rows<false, false>(p, t, n_pre, at.data(), o, ow, od);
        };
        const csr_rows& c = *p.c;
        if (c.compact()) {
            if (compact) put(c.target16.data(), out.target16.data()); else put(c.target16.data(), out.target.data());
        } else {
            if (compact) put(c.target.data(), out.target16.data()); else put(c.target.data(), out.target.data());
        }
    }
    return out;
}

std::size_t projection_rows::size() const {
    std::size_t n = 0;
    for (const auto& p : parts) n += p.synapses();
    return n;
}

std::size_t projection_rows::bytes() const {
    std::size_t n = 0;
    for (const auto& p : parts)
        n += p.row_begin.capacity() * sizeof(std::uint64_t) + p.target.capacity() * sizeof(std::uint32_t) + p.target16.capacity() * sizeof(std::uint16_t) +
             p.weight.capacity() * sizeof(float) + p.delay.capacity() * sizeof(std::uint16_t) +
             p.col_begin.capacity() * sizeof(std::uint64_t) + (p.col_syn.capacity() + p.src_block.capacity()) * sizeof(std::uint32_t);
    return n;
}

synapse_list projection_rows::to_list() const {
    synapse_list out;
    for (u32 i = 0; i < n_pre; ++i)
        for (const auto& p : parts)
            for (std::uint64_t s = p.row_begin[i]; s < p.row_begin[i + 1]; ++s) {
                out.pre.push_back(i);
                out.post.push_back(p.target_of(s));
                out.weight.push_back(p.weight.empty() ? weight0 : p.weight[s]);
                out.delay.push_back(p.delay.empty() ? delay0 : p.delay[s]);
            }
    return out;
}

std::vector<neuron_positions> place_neurons(const network_spec& spec, std::uint64_t seed) {
    std::vector<neuron_positions> out(spec.populations.size());
    for (const auto& l : spec.layouts) {
        const std::uint64_t cells = std::uint64_t(l.grid[0]) * l.grid[1] * l.grid[2];
        std::vector<std::uint64_t> order(cells);
        for (std::uint64_t c = 0; c < cells; ++c) order[c] = c;
        if (l.shuffle) {  // Fisher-Yates with the layout's own stream
            random_stream rng(seed, stream_id("layout/" + l.name), 0);
            for (std::uint64_t c = cells; c > 1; --c) std::swap(order[c - 1], order[rng.below(static_cast<u32>(c))]);
        }
        std::uint64_t next = 0;
        for (const auto& name : l.populations) {
            const std::size_t p = spec.population_index(name);
            const std::uint32_t n = spec.populations[p].size;
            if (next + n > cells)
                fail_build(l.where, "layout." + l.name, "populations need more than the grid's " + std::to_string(cells) + " cells");
            auto& xyz = out[p].xyz;
            xyz.resize(3 * std::size_t(n));
            for (std::uint32_t i = 0; i < n; ++i) {
                const std::uint64_t c = order[next++];
                xyz[3 * i] = static_cast<float>(c % l.grid[0]);
                xyz[3 * i + 1] = static_cast<float>((c / l.grid[0]) % l.grid[1]);
                xyz[3 * i + 2] = static_cast<float>(c / (std::uint64_t(l.grid[0]) * l.grid[1]));
            }
        }
    }
    return out;
}

}  // namespace engram
