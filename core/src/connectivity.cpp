#include "engram/core/connectivity.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "engram/core/errors.hpp"
#include "engram/core/rng.hpp"

namespace engram {
namespace {

// Draws weights and delays for synapses from one owner neuron's stream.
struct synapse_sampler {
    const projection_spec& proj;
    double dt;
    std::uint64_t seed;
    u32 w_stream, d_stream;

    std::uint16_t delay_steps(double ms) const {
        const double steps = std::round(ms / dt);
        if (!(steps <= 65535.0))
            throw spec_error("projection '" + proj.name + "'",
                             "delay " + std::to_string(ms) + " ms exceeds 65535 steps");
        return static_cast<std::uint16_t>(std::max(1.0, steps));
    }
    void add(synapse_list& out, u32 pre, u32 post, random_stream& wr, random_stream& dr) const {
        out.pre.push_back(pre);
        out.post.push_back(post);
        out.weight.push_back(static_cast<float>(proj.weight.sample(wr)));
        out.delay.push_back(delay_steps(proj.delay.sample(dr)));
    }
};

// k distinct values from [0, n) (Floyd's algorithm), sorted.
std::vector<u32> sample_distinct(random_stream& rng, u32 n, u32 k) {
    std::unordered_set<u32> chosen;
    chosen.reserve(k * 2);
    for (u32 j = n - k; j < n; ++j) {
        const u32 t = rng.below(j + 1);
        if (!chosen.insert(t).second) chosen.insert(j);
    }
    std::vector<u32> v(chosen.begin(), chosen.end());
    std::sort(v.begin(), v.end());
    return v;
}

std::vector<u32> sample_with_replacement(random_stream& rng, u32 n, u32 k) {
    std::vector<u32> v(k);
    for (auto& x : v) x = rng.below(n);
    std::sort(v.begin(), v.end());
    return v;
}

// Candidates for `owner` among [0, n) with `skip` (the owner itself) removed when
// self-connections are not allowed; index k maps to k or k+1.
u32 unskip(u32 k, u32 skip) { return k >= skip ? k + 1 : k; }

}  // namespace

synapse_list generate_synapses(const projection_spec& proj, std::uint32_t n_pre,
                               std::uint32_t n_post, double dt, std::uint64_t seed) {
    const auto& c = proj.connector;
    const u32 conn_stream = stream_id("conn/" + proj.name);
    const synapse_sampler smp{proj, dt, seed, stream_id("weight/" + proj.name),
                              stream_id("delay/" + proj.name)};
    const bool same = proj.source == proj.target;
    const bool no_self = same && !c.allow_self_connections;
    const std::string where = "projection '" + proj.name + "'";
    synapse_list out;

    auto per_target = [&](auto&& sources_of) {
        for (u32 j = 0; j < n_post; ++j) {
            random_stream wr(seed, smp.w_stream, j), dr(seed, smp.d_stream, j);
            for (u32 i : sources_of(j)) smp.add(out, i, j, wr, dr);
        }
    };

    if (c.rule == "all_to_all") {
        out.pre.reserve(std::size_t(n_pre) * n_post);
        per_target([&](u32 j) {
            std::vector<u32> s;
            s.reserve(n_pre);
            for (u32 i = 0; i < n_pre; ++i)
                if (!(no_self && i == j)) s.push_back(i);
            return s;
        });
    } else if (c.rule == "one_to_one") {
        if (n_pre != n_post)
            throw spec_error(where, "one_to_one needs equal sizes, got " + std::to_string(n_pre) +
                                        " -> " + std::to_string(n_post));
        for (u32 j = 0; j < n_post; ++j) {
            random_stream wr(seed, smp.w_stream, j), dr(seed, smp.d_stream, j);
            smp.add(out, j, j, wr, dr);
        }
    } else if (c.rule == "fixed_probability") {
        const double p = c.p;
        out.pre.reserve(static_cast<std::size_t>(p * n_pre * n_post * 1.05 + 16));
        const double log_q = p < 1.0 ? std::log1p(-p) : 0.0;
        per_target([&](u32 j) {
            std::vector<u32> s;
            if (p <= 0.0) return s;
            random_stream rng(seed, conn_stream, j);
            if (p >= 1.0) {
                for (u32 i = 0; i < n_pre; ++i) s.push_back(i);
            } else {
                // Geometric skipping: the gap to the next connected source is geometric.
                double i = -1.0;
                while (true) {
                    i += 1.0 + std::floor(std::log(rng.uniform()) / log_q);
                    if (i >= n_pre) break;
                    s.push_back(static_cast<u32>(i));
                }
            }
            if (no_self) s.erase(std::remove(s.begin(), s.end(), j), s.end());
            return s;
        });
    } else if (c.rule == "fixed_number_pre") {
        const u32 avail = no_self ? n_pre - 1 : n_pre;
        if (!c.with_replacement && c.n > avail)
            throw spec_error(where, "fixed_number_pre n = " + std::to_string(c.n) + " exceeds the " +
                                        std::to_string(avail) + " available sources");
        per_target([&](u32 j) {
            random_stream rng(seed, conn_stream, j);
            auto s = c.with_replacement ? sample_with_replacement(rng, avail, static_cast<u32>(c.n))
                                        : sample_distinct(rng, avail, static_cast<u32>(c.n));
            if (no_self) for (auto& i : s) i = unskip(i, j);
            return s;
        });
    } else if (c.rule == "fixed_number_post") {
        const u32 avail = no_self ? n_post - 1 : n_post;
        if (!c.with_replacement && c.n > avail)
            throw spec_error(where, "fixed_number_post n = " + std::to_string(c.n) + " exceeds the " +
                                        std::to_string(avail) + " available targets");
        for (u32 i = 0; i < n_pre; ++i) {
            random_stream rng(seed, conn_stream, i);
            random_stream wr(seed, smp.w_stream, i), dr(seed, smp.d_stream, i);
            auto t = c.with_replacement ? sample_with_replacement(rng, avail, static_cast<u32>(c.n))
                                        : sample_distinct(rng, avail, static_cast<u32>(c.n));
            for (u32 k : t) smp.add(out, i, no_self ? unskip(k, i) : k, wr, dr);
        }
    } else if (c.rule == "fixed_total_number") {
        const std::uint64_t pairs = std::uint64_t(n_pre) * n_post - (no_self ? std::min(n_pre, n_post) : 0);
        if (!c.with_replacement && c.n > pairs)
            throw spec_error(where, "fixed_total_number n = " + std::to_string(c.n) + " exceeds the " +
                                        std::to_string(pairs) + " possible pairs");
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
        random_stream wr(seed, smp.w_stream, 0), dr(seed, smp.d_stream, 0);
        for (auto key : picks) smp.add(out, static_cast<u32>(key % n_pre), static_cast<u32>(key / n_pre), wr, dr);
    } else if (c.rule == "from_list") {
        random_stream wr(seed, smp.w_stream, 0), dr(seed, smp.d_stream, 0);
        for (std::size_t k = 0; k < c.pre.size(); ++k) {
            if (c.pre[k] >= n_pre || c.post[k] >= n_post)
                throw spec_error(where, "from_list entry " + std::to_string(k) + " (" +
                                            std::to_string(c.pre[k]) + " -> " + std::to_string(c.post[k]) +
                                            ") is outside the populations (" + std::to_string(n_pre) +
                                            " -> " + std::to_string(n_post) + " neurons)");
            out.pre.push_back(c.pre[k]);
            out.post.push_back(c.post[k]);
            const double w = k < c.weight.size() && !std::isnan(c.weight[k]) ? c.weight[k] : proj.weight.sample(wr);
            const double d = k < c.delay.size() && !std::isnan(c.delay[k]) ? c.delay[k] : proj.delay.sample(dr);
            out.weight.push_back(static_cast<float>(w));
            out.delay.push_back(smp.delay_steps(d));
        }
    } else {
        throw spec_error(where, "unknown connector rule '" + c.rule + "'");
    }
    return out;
}

std::vector<csr_rows> build_csr(const synapse_list& syn, std::uint32_t n_pre,
                                const std::vector<neuron_range>& parts, bool uniform_delay) {
    std::vector<csr_rows> out(parts.size());
    // part of each target: parts are contiguous and sorted
    auto part_of = [&](u32 t) {
        std::size_t k = 0;
        while (k + 1 < parts.size() && t >= parts[k].end) ++k;
        return k;
    };
    std::vector<std::uint8_t> owner;
    std::vector<u32> owner_wide;
    const bool many = parts.size() > 255;
    if (many) owner_wide.resize(syn.size()); else owner.resize(syn.size());
    for (std::size_t s = 0; s < syn.size(); ++s) {
        const std::size_t k = part_of(syn.post[s]);
        if (many) owner_wide[s] = static_cast<u32>(k); else owner[s] = static_cast<std::uint8_t>(k);
    }
    auto own = [&](std::size_t s) -> std::size_t { return many ? owner_wide[s] : owner[s]; };
    for (std::size_t k = 0; k < parts.size(); ++k) {
        auto& r = out[k];
        r.row_begin.assign(std::size_t(n_pre) + 1, 0);
        for (std::size_t s = 0; s < syn.size(); ++s)
            if (own(s) == k) ++r.row_begin[syn.pre[s] + 1];
        for (u32 i = 0; i < n_pre; ++i) r.row_begin[i + 1] += r.row_begin[i];
        const std::size_t nk = r.row_begin[n_pre];
        r.target.resize(nk);
        r.weight.resize(nk);
        if (!uniform_delay) r.delay.resize(nk);
        std::vector<u32> fill(r.row_begin.begin(), r.row_begin.end() - 1);
        for (std::size_t s = 0; s < syn.size(); ++s) {
            if (own(s) != k) continue;
            const u32 pos = fill[syn.pre[s]]++;
            r.target[pos] = syn.post[s];
            r.weight[pos] = syn.weight[s];
            if (!uniform_delay) r.delay[pos] = syn.delay[s];
        }
    }
    return out;
}

}  // namespace engram
