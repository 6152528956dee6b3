#include "engram/core/aligned.hpp"
#include "engram/core/cpus.hpp"
#include "engram/core/engine.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <thread>
#include <type_traits>

#if defined(__linux__)
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "engram/core/errors.hpp"
#include "engram/core/fmadd.hpp"
#include "engram/core/plasticity.hpp"
#include "engram/core/rng.hpp"
#include "poisson.hpp"
#include "spin_team.hpp"

namespace engram {

namespace {
// limit_interleaved_row_starts: at most 2^32, the most a 32-bit row start can count
std::atomic<std::uint64_t> interleaved_limit{std::uint64_t(1) << 32};
// gather_rows_from: one or two rows of a projection in a step save no loop exit by
// gathering and wait for their targets with nothing to overlap (CUBA, about 2 a step:
// 1.02 x slower gathered; COBA, about 6: 0.96-0.97 x)
std::atomic<std::size_t> gather_min{3};
}  // namespace

std::size_t gather_rows_from(std::size_t rows) {
    return gather_min.exchange(rows);
}

std::uint64_t limit_interleaved_row_starts(std::uint64_t synapses_per_part) {
    return interleaved_limit.exchange(std::min(synapses_per_part, std::uint64_t(1) << 32));
}

std::uint64_t steps_for(double duration_ms, double dt_ms) {
    return static_cast<std::uint64_t>(std::llround(duration_ms / dt_ms));
}

namespace {
// A neuron's work: 1 + its expected in-degree / synapses_per_neuron (as
// size_for_workers counts it); what a part pays for holding any of a population's
// neurons: row_piece_cost per source neuron of each projection into it.
void work_model(const network_spec& spec, std::vector<double>& per_neuron, std::vector<double>& fixed) {
    const std::size_t n_pops = spec.populations.size();
    per_neuron.assign(n_pops, 1.0);
    fixed.assign(n_pops, 0.0);
    for (const auto& pj : spec.projections) {
        const std::size_t src = spec.population_index(pj.source), tgt = spec.population_index(pj.target);
        const std::uint32_t n_src = spec.populations[src].size, n_tgt = spec.populations[tgt].size;
        if (n_tgt == 0) continue;
        per_neuron[tgt] += static_cast<double>(expected_synapses(pj, n_src, n_tgt)) / n_tgt / static_cast<double>(synapses_per_neuron);
        fixed[tgt] += row_piece_cost * n_src;
    }
}

// Each part's work by that model.
std::vector<double> part_work(const network_spec& spec, const partition& p) {
    std::vector<double> per_neuron, fixed, w(p.n_parts, 0.0);
    work_model(spec, per_neuron, fixed);
    for (std::size_t i = 0; i < p.ranges.size(); ++i)
        for (std::size_t k = 0; k < p.n_parts; ++k) {
            const neuron_range r = p.ranges[i][k];
            if (r.end > r.begin) w[k] += fixed[i] + (r.end - r.begin) * per_neuron[i];
        }
    return w;
}

// Each part's share of the work, as a multiple of an equal share (mean 1): from `shares`
// (one positive, finite number per part), or 1 each where shares is empty.
std::vector<double> part_capacities(const std::vector<double>& shares, std::size_t P) {
    if (shares.empty()) return std::vector<double>(P, 1.0);
    if (shares.size() != P) throw error("a partition's shares: " + std::to_string(shares.size()) + " for " + std::to_string(P) + " parts");
    double sum = 0.0;
    for (const double x : shares) {
        if (!(x > 0.0) || !std::isfinite(x)) throw error("a partition's shares must be positive and finite");
        sum += x;
    }
    std::vector<double> f(P);
    for (std::size_t k = 0; k < P; ++k) f[k] = shares[k] * static_cast<double>(P) / sum;
    return f;
}
}  // namespace

partition balance_even(const network_spec& spec, std::size_t n_parts, const std::vector<double>& shares) {
    partition p;
    p.n_parts = std::max<std::size_t>(1, n_parts);
    const std::vector<double> f = part_capacities(shares, p.n_parts);
    std::vector<double> share_before(p.n_parts + 1, 0.0);  // of the whole, before part k
    for (std::size_t k = 0; k < p.n_parts; ++k) share_before[k + 1] = share_before[k] + f[k] / static_cast<double>(p.n_parts);
    for (const auto& pop : spec.populations) {
        std::vector<neuron_range> r(p.n_parts);
        // interior boundaries at multiples of 32 neurons: 64 bytes of the 2-byte refractory
        // stamps (128 of float state), so no cache line is written by two parts (the arrays
        // start on a line, aligned.hpp)
        auto cut = [&](std::size_t k) {
            if (k == p.n_parts) return pop.size;
            if (!shares.empty())
                return static_cast<std::uint32_t>(static_cast<double>(pop.size) * share_before[k]) & ~31u;
            return static_cast<std::uint32_t>(std::uint64_t(pop.size) * k / p.n_parts) & ~31u;
        };
        for (std::size_t k = 0; k < p.n_parts; ++k) {
            r[k].begin = cut(k);
            r[k].end = cut(k + 1);
        }
        p.ranges.push_back(std::move(r));
    }
    return p;
}

partition balance_contiguous(const network_spec& spec, std::size_t n_parts, const std::vector<double>& shares) {
    const std::size_t P = std::max<std::size_t>(1, n_parts), n_pops = spec.populations.size();
    if (P == 1 || n_pops < 2) return balance_even(spec, P, shares);
    // Only where a neuron's work differs between populations by its in-degree alone: one
    // model, static synapses, and the same stimuli of every population, each on all its
    // neurons. Elsewhere every population is split (balance_even), which balances any mix.
    for (const auto& ps : spec.populations)
        if (ps.model != spec.populations.front().model) return balance_even(spec, P, shares);
    for (const auto& pj : spec.projections)
        if (pj.plasticity.plastic()) return balance_even(spec, P, shares);
    std::vector<std::map<std::string, int>> stims(n_pops);
    for (const auto& st : spec.stimuli) {
        if (!st.neurons.empty()) return balance_even(spec, P, shares);
        ++stims[spec.population_index(st.target)][st.type];
    }
    for (const auto& m : stims)
        if (m != stims.front()) return balance_even(spec, P, shares);
    std::vector<double> per_neuron, fixed;
    work_model(spec, per_neuron, fixed);
    // Parts filled in turn up to a work T each (T f[k] with shares), populations cut at
    // multiples of 32 neurons (or where they end); the least T that fits n_parts parts,
    // by bisection.
    partition p;
    p.n_parts = P;
    const std::vector<double> f = part_capacities(shares, P);
    auto fill = [&](double T, bool keep) {
        if (keep) p.ranges.assign(n_pops, std::vector<neuron_range>(P));
        std::size_t k = 0;
        double load = 0.0;
        for (std::size_t i = 0; i < n_pops; ++i) {
            const std::uint32_t size = spec.populations[i].size;
            std::uint32_t pos = 0;
            if (keep)
                for (std::size_t q = 0; q < P; ++q) p.ranges[i][q] = {q < k ? 0u : size, q < k ? 0u : size};
            while (pos < size) {
                if (k == P) return false;
                const double room = T * f[k] - load - fixed[i];
                const double fit = room > 0 ? std::floor(room / per_neuron[i]) : 0.0;
                std::uint32_t end = size;
                if (fit < static_cast<double>(size - pos)) end = (pos + static_cast<std::uint32_t>(fit)) & ~31u;
                if (end <= pos) {
                    if (load > 0) {  // part k is full: the next one
                        ++k;
                        load = 0.0;
                        continue;
                    }
                    return false;  // not even a block fits an empty part
                }
                if (keep) {
                    for (std::size_t q = 0; q < k; ++q)
                        if (p.ranges[i][q].begin == size) p.ranges[i][q] = {pos, pos};
                    p.ranges[i][k] = {pos, end};
                    for (std::size_t q = k + 1; q < P; ++q) p.ranges[i][q] = {end, end};
                }
                load += fixed[i] + (end - pos) * per_neuron[i];
                pos = end;
            }
        }
        return true;
    };
    double total = 0.0, most = 0.0;
    for (std::size_t i = 0; i < n_pops; ++i) {
        total += spec.populations[i].size * per_neuron[i] + fixed[i];
        most = std::max(most, fixed[i] + 32.0 * per_neuron[i]);
    }
    double lo = total / static_cast<double>(P), hi = lo;
    while (!fill(hi, false)) hi = 2.0 * hi + most;
    for (int it = 0; it < 64 && hi - lo > 1e-9 * hi; ++it) {
        const double mid = 0.5 * (lo + hi);
        (fill(mid, false) ? hi : lo) = mid;
    }
    fill(hi, true);
    return p;
}

namespace {

// Per-part data written every step sits on its own cache line (no false sharing).
struct alignas(64) spike_buffer {
    std::vector<std::uint32_t> ids;
};
struct alignas(64) event_counter {
    std::uint64_t n = 0;
    // with profiling on: clock ticks of this part's phases (worker_profile)
    std::uint64_t update = 0, deliver = 0, plasticity = 0, record = 0;
};
// A clock for the profile: the time-stamp counter where there is one (a few ns a
// read, where steady_clock takes about 20), converted to seconds over the whole run.
inline std::uint64_t profile_ticks() {
#if defined(__x86_64__) || defined(__i386__)
    return __rdtsc();
#else
    return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
}
// The calling thread's CPU time in ns (-1 where there is no such clock).
inline std::int64_t thread_cpu_ns() {
#if defined(__linux__)
    timespec ts{};
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return -1;
    return std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
#else
    return -1;
#endif
}
// The calling thread's time spent runnable on a run queue, waiting for a CPU, in ns
// (/proc/thread-self/schedstat's second field; -1 where the kernel gives none).
inline std::int64_t thread_wait_ns() {
#if defined(__linux__)
    const int fd = ::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buf[128];
    const ssize_t got = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (got <= 0) return -1;
    buf[got] = '\0';
    unsigned long long run = 0, wait = 0;
    if (std::sscanf(buf, "%llu %llu", &run, &wait) != 2) return -1;
    return static_cast<std::int64_t>(wait);
#else
    return -1;
#endif
}
// Worker 0's choice between stepping together and alone (stall_policy), and the
// workers' windows it is made from, the same in both run loops. Together, alone once a
// worker had a starved window since the last change; alone, a trial together after
// `retry`, which doubles (up to max_retry_s) where a worker starves within two windows
// of the trial and is back to retry_s where none does. A change decided at step n takes
// effect at n + lead going alone (the pipelined loop: a worker may be a step ahead) and
// at n going together; the next decision comes no sooner than `gap` steps after the
// last change took effect. All of it carries over from one run to the next (alone or
// not, the wait before the next trial, each worker's open window with the wall time
// between the runs left out), so that short runs one after another (run() per sample)
// are judged, and stay alone, as one long run would be.
struct solo_switch {
    using wall = std::chrono::steady_clock;
    // how often (in steps) the workers read the wall clock, and worker 0 decides
    static constexpr std::uint64_t look_every = 16;
    // Worker w's current window: its start, the wall time between runs within it (not
    // counted), and its thread's CPU time or run-queue wait at the start (-1: none open);
    // starved: the windows in which it got too little (read by worker 0).
    struct alignas(64) worker_window {
        wall::time_point start{};
        wall::duration idle{};
        std::int64_t base = -1;
        std::thread::id thread{};
        std::uint64_t epoch = 0;
        bool have = true;  // the thread's clock (or the kernel's wait) is there
        std::atomic<std::uint64_t> starved{0};
    };
    std::vector<worker_window> windows;
    std::atomic<std::uint64_t> epoch{1};  // bumped by worker 0 at a trial: every window starts again
    wall::time_point ended{};              // when the last run ended
    bool alone = false, trial = false;
    wall::time_point switched{};
    double retry = -1.0;  // before the first run: the policy's retry_s
    std::uint64_t starved_base = 0;
    // per run
    std::uint64_t first = 0, since_step = 0, lead = 0, gap = 1;
    stall_policy pol;

    // Forgets all it learnt (a new policy).
    void reset() {
        windows = std::vector<worker_window>();
        retry = -1.0;
    }
    // At the start of a run of `workers` workers from step `first`: by turns
    // (alternate_every) every run starts together; otherwise as the last run left off.
    // True where the run starts alone.
    bool start(const stall_policy& p, std::size_t workers, std::uint64_t first_step, std::uint64_t lead_steps,
               std::uint64_t gap_steps) {
        pol = p;
        const auto now = wall::now();
        if (windows.size() != workers) {
            windows = std::vector<worker_window>(workers);
            starved_base = 0;
        } else if (ended != wall::time_point{}) {
            for (auto& x : windows) x.idle += now - ended;
        }
        if (retry < 0.0 || pol.alternate_every) {
            alone = trial = false;
            retry = pol.retry_s;
        }
        first = since_step = first_step;
        lead = lead_steps;
        gap = gap_steps;
        return alone;
    }
    void end() { ended = wall::now(); }
    // Worker w at `now` (every look_every steps): got() is its thread's CPU time (cpu) or its time
    // runnable on a run queue, in ns, or -1 where there is none; read only where a window
    // opens or ends. A window opens where none is, or where it was opened by another
    // thread or before a trial; at its end it counts as starved where the worker ran for
    // less than min_share of it (cpu), or waited for more than the rest.
    template <class Got>
    void look(std::size_t w, wall::time_point now, bool cpu, Got&& got) {
        auto& x = windows[w];
        if (!x.have) return;
        const std::uint64_t e = epoch.load(std::memory_order_relaxed);
        const auto self = std::this_thread::get_id();
        if (x.base >= 0 && x.thread == self && x.epoch == e) {
            const auto span = now - x.start - x.idle;
            if (span < std::chrono::duration<double>(pol.window_s)) return;
            const std::int64_t g = got();
            if (g >= 0) {
                const double s = std::chrono::duration<double>(span).count(), d = double(g - x.base) * 1e-9;
                if (cpu ? d < pol.min_share * s : d > (1.0 - pol.min_share) * s)
                    x.starved.store(x.starved.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            }
            open(x, now, g, self, e);
            return;
        }
        open(x, now, got(), self, e);
    }
    // The window of worker w closed (it slept while worker 0 stepped alone): the next look opens one.
    void drop(std::size_t w) { windows[w].base = -1; }
    std::uint64_t starved() const {
        std::uint64_t x = 0;
        for (const auto& y : windows) x += y.starved.load(std::memory_order_relaxed);
        return x;
    }
    // At step n: true where worker 0 switches (`alone` and `since_step` then say how, and
    // from when).
    bool decide(std::uint64_t n, wall::time_point now) {
        if (n < since_step + gap) return false;
        bool go;
        const std::uint64_t s = pol.alternate_every ? 0 : starved();
        if (pol.alternate_every) {
            go = (n - first) % pol.alternate_every == 0;
        } else if (alone) {
            go = now - switched >= std::chrono::duration<double>(retry);
            if (go) trial = true;
        } else {
            go = s > starved_base;
            if (trial && (go || now - switched >= 2 * std::chrono::duration<double>(pol.window_s))) {
                retry = go ? std::min(2 * retry, pol.max_retry_s) : pol.retry_s;
                trial = false;
            }
        }
        if (!go) return false;
        alone = !alone;
        since_step = alone ? n + lead : n;
        switched = now;
        starved_base = s;
        if (!alone) epoch.fetch_add(1, std::memory_order_relaxed);
        return true;
    }

private:
    static void open(worker_window& x, wall::time_point now, std::int64_t g, std::thread::id self, std::uint64_t e) {
        x.have = g >= 0;
        x.base = g;
        x.start = now;
        x.idle = {};
        x.thread = self;
        x.epoch = e;
    }
};
// Adds the ticks since the last lap to a phase of a part (with profiling on).
struct phase_clock {
    event_counter* e;  // null: profiling off
    std::uint64_t t = e ? profile_ticks() : 0;
    void lap(std::uint64_t event_counter::*phase) {
        if (!e) return;
        const std::uint64_t now = profile_ticks();
        e->*phase += now - t;
        t = now;
    }
};

// One spiking neuron's row in one part, as deliver_direct lists them: where its targets
// (2-byte offsets or 4-byte indices) and weights start, how many, the state array they
// add to (float, or double for a model in double precision; offset by the part's first
// neuron for 2-byte targets) and the factor the weights are added with
// (population_model::direct_scale, rounded to float for a float array).
struct row_segment {
    const void* targets;
    const float* weights;  // null: every synapse has w0
    void* dst;
    std::uint64_t n;
    double scale;
    float w0;
    bool wide;  // 4-byte targets
    bool f64;   // dst is double
};
// One spiking neuron's row in one part of a gathered projection (below): [b, e) in its
// targets.
struct row_span {
    std::uint64_t b, e;
};
struct alignas(64) segment_list {
    aligned_vector<row_segment> s;  // deliver_direct's chunk of rows, sized at its first call
    aligned_vector<row_span> spans;       // a gathered projection's chunk of rows
    aligned_vector<std::uint16_t> flat;   // their targets, back to back
};

// Gathered delivery, for a direct projection whose synapses share one weight into a
// float array, with 2-byte targets: each row of the step is copied into one flat list
// with fixed-size copies (`fixed` targets whatever the row's length, as 32-byte blocks,
// then 16 more at a time while the row has more), then the list is walked in one loop.
// Walked one at a time, every row ended in a loop exit that its length, random, made
// the branch predictor miss (with the remainder of an unrolled loop, about two per
// row); a part's row of a COBA spike is 8-64 targets, so splitting rows between two
// parts doubled those misses. The sums are those of walk_segment, in the same order.
constexpr std::size_t gather_block = 16;       // targets per copy (32 bytes)
constexpr std::size_t gather_capacity = 8192;  // targets gathered, then walked, at a time
constexpr std::uint64_t gather_max_mean = 256; // longer rows on average: walked in place

inline void walk_gathered(const std::uint16_t* tg, std::uint64_t size, const row_span* rows, std::size_t m,
                          std::uint16_t* flat, std::size_t fixed, float* dst, float w0, float scale) {
    constexpr std::size_t ahead = 16;
    std::size_t pos = 0;
    auto walk = [&] {
#pragma GCC unroll 4
        for (std::size_t u = 0; u < pos; ++u) dst[flat[u]] = fmadd(w0, scale, dst[flat[u]]);
        pos = 0;
    };
    auto prefetch = [&](const row_span& r) {
        const char* t = reinterpret_cast<const char*>(tg + r.b);
        __builtin_prefetch(t);
        __builtin_prefetch(t + 64);
    };
    for (std::size_t j = 0; j < std::min(ahead, m); ++j) prefetch(rows[j]);
    for (std::size_t j = 0; j < m; ++j) {
        if (j + ahead < m) prefetch(rows[j + ahead]);
        const std::uint64_t b = rows[j].b, n = rows[j].e - b;
        if (pos + n + fixed + gather_block > gather_capacity) [[unlikely]] {
            walk();
            if (n + fixed + gather_block > gather_capacity) {  // longer than the list: in place
                for (std::uint64_t s = b; s < b + n; ++s) dst[tg[s]] = fmadd(w0, scale, dst[tg[s]]);
                continue;
            }
        }
        const std::uint16_t* src = tg + b;
        std::uint16_t* out = flat + pos;
        if (b + n + fixed + gather_block <= size) [[likely]] {
            // copies past the row's end read the next rows (inside the array) and write
            // past `pos + n` (inside the list): both are overwritten or ignored
            for (std::size_t c = 0; c < fixed; c += gather_block) std::memcpy(out + c, src + c, gather_block * sizeof(std::uint16_t));
            for (std::size_t c = fixed; c < n; c += gather_block) std::memcpy(out + c, src + c, gather_block * sizeof(std::uint16_t));
        } else {
            std::memcpy(out, src, n * sizeof(std::uint16_t));  // the array's last rows: exactly
        }
        pos += n;
    }
    walk();
}

// A row segment's first two cache lines of targets and first line of weights: a COBA
// row is 1-2 lines of 2-byte targets.
inline void prefetch_segment(const row_segment& g) {
    const char* t = static_cast<const char*>(g.targets);
    __builtin_prefetch(t);
    __builtin_prefetch(t + 64);
    if (g.weights) __builtin_prefetch(g.weights);
}

// Steps whose spike lists are kept: step n's in spikes[n % spike_steps]. Four: in the
// pipelined loop (run()) a worker's update of step n waits for every worker's delivery of
// step n - 3 (which read spikes[n % 4]), so a worker may update step n+1 while another
// still delivers step n-1, as far ahead as delivery allows (with three lists, only once
// that delivery was done).
constexpr std::size_t spike_steps = 4;

struct population_rt {
    const model_info* info = nullptr;
    std::unique_ptr<population_model> model;
    std::uint32_t size = 0;
    std::uint32_t slots = 1;                  // ring length (max delay in steps)
    std::uint32_t stride = 0;                 // floats per ring slot: size rounded up to 16 (whole cache lines)
    std::vector<aligned_vector<float>> ring;  // [receptor][slot * stride + neuron]
    std::vector<float*> input;                // this step's slot per receptor
    bool ring_input = true;                   // false: every input is direct (update gets no ring)
    std::vector<float> i_stim;                // empty unless a step current targets it
    std::vector<spike_buffer> spikes[spike_steps];  // [step % spike_steps][part]
    // Where part k's neuron i sits in the model's arrays (and i_stim): i + shift[k]; the
    // arrays hold `storage` neurons. Both as the population's own size and 0 unless the
    // parts are spaced (simulation::impl::space_parts).
    std::vector<std::uint32_t> shift;
    std::uint32_t storage = 0;
};

// Unused neurons before, between and after the parts in a model's arrays where parts are
// spaced (space_parts): 4 KiB of float state, 2 KiB of 2-byte stamps.
constexpr std::uint32_t part_gap = 1024;

struct projection_rt {
    std::size_t source = 0, target = 0;
    int receptor = 0;
    projection_rows rows;
    std::unique_ptr<synapse_rule> rule;  // null: static synapses
    // the target's state array its weights add to after update (float, or double for a
    // model in double precision), or both null (ring)
    float* direct = nullptr;
    double* direct64 = nullptr;
    bool is_direct() const { return direct || direct64; }
    // Direct projections: every part's row start by source, bounds[i * bounds_stride + k] =
    // part k's row_begin[i], in a table that interleaves those of every direct projection
    // from the same source (simulation::impl::row_starts), so that one cache line gives a
    // spike's rows in all parts and all those projections (deliver_direct). Null where a
    // part holds 2^32 synapses or more (or as many as a lower limit_interleaved_row_starts
    // gives).
    const std::uint32_t* bounds = nullptr;
    std::size_t bounds_stride = 0;
    // Per part: targets that walk_gathered copies per row whatever its length (the mean
    // row plus two standard deviations, in whole blocks); 0: rows walked one at a time.
    std::vector<std::uint32_t> gather_fixed;
    std::vector<std::vector<std::uint32_t>> col_src;  // per part: scratch for one column's sources
    int sorted = -1;  // whether every row holds its targets in increasing order (rows_sorted; -1: not asked yet)
};

// One spiking neuron's row [b, e) into the ring buffer: W = per-synapse weights, D =
// per-synapse delays, Idx = the type of the stored targets (2-byte offsets or 4-byte
// indices; ring and dst0 are offset to match). Scaled: each weight is added times
// `scale` in one fused multiply-add (direct delivery into a lazily decaying state). No
// branch, allocation or virtual call per synapse.
template <bool W, bool D, bool Scaled = false, class Idx, class Dst = float>
inline void deliver_row(std::uint64_t b, std::uint64_t e, const Idx* tg, const float* w, float w0,
                        const std::uint16_t* d, float* ring, Dst* dst0, std::uint32_t slots, std::uint32_t stride,
                        std::uint32_t base, Dst scale = 1.0f) {
    static_assert(!D || std::is_same_v<Dst, float>, "ring slots are float");
#pragma GCC unroll 4
    for (std::uint64_t s = b; s < e; ++s) {
        Dst* dst = dst0;
        if constexpr (D) {
            std::uint32_t slot = base + d[s];
            if (slot >= slots) slot -= slots;
            dst = ring + std::size_t(slot) * stride;
        }
        if constexpr (Scaled) dst[tg[s]] = fmadd(Dst(W ? w[s] : w0), scale, dst[tg[s]]);
        else dst[tg[s]] += W ? w[s] : w0;
    }
}

// A row segment of deliver_direct: the same loop as a ring row, into the state array,
// each weight times the segment's scale (exactly the weight where the scale is 1), in
// the array's precision.
template <class Idx, class Dst>
inline void walk_segment(const row_segment& g) {
    const Idx* t = static_cast<const Idx*>(g.targets);
    Dst* dst = static_cast<Dst*>(g.dst);
    const auto scale = static_cast<Dst>(g.scale);
    if (g.weights) deliver_row<true, false, true>(0, g.n, t, g.weights, g.w0, nullptr, nullptr, dst, 0, 0, 0, scale);
    else deliver_row<false, false, true>(0, g.n, t, g.weights, g.w0, nullptr, nullptr, dst, 0, 0, 0, scale);
}
inline void walk_segment(const row_segment& g) {
    if (g.f64) [[unlikely]] {
        if (g.wide) walk_segment<std::uint32_t, double>(g); else walk_segment<std::uint16_t, double>(g);
    } else {
        if (g.wide) walk_segment<std::uint32_t, float>(g); else walk_segment<std::uint16_t, float>(g);
    }
}

// The rows of the spiking neurons of step n-1 (all parts of the source) into the ring
// buffer of this part's targets. For a plastic projection (`rule` set; weights per
// synapse; 4-byte targets) the rule's presynaptic update follows each row's delivery, so
// a spike is delivered with the weight it found.
template <bool W, bool D, class Idx>
std::uint64_t deliver_rows(const projection_rows& pr, csr_rows& rows, const Idx* tg, const std::vector<spike_buffer>& spikes,
                           float* ring, std::uint32_t slots, std::uint32_t stride, std::uint32_t base,
                           synapse_rule* rule, std::size_t k, std::uint64_t n) {
    std::uint64_t ev = 0;
    const std::uint64_t* rb = rows.row_begin.data();
    float* w = rows.weight.data();
    const std::uint16_t* d = rows.delay.data();
    std::uint32_t slot0 = base + pr.delay0;
    if (slot0 >= slots) slot0 -= slots;
    float* dst0 = ring + std::size_t(slot0) * stride;
    // Rows in batches of spikes: first every row's bounds and a prefetch of its first
    // targets (and weights): independent loads, so their cache misses overlap. Then the
    // rows, in order. Walked one at a time, each row start is a miss the core waits for.
    constexpr std::size_t batch = 32;
    std::uint64_t bounds[2 * batch];
    for (const auto& part : spikes) {
        const std::uint32_t* ids = part.ids.data();
        const std::size_t m = part.ids.size();
        for (std::size_t j0 = 0; j0 < m; j0 += batch) {
            const std::size_t c = std::min(batch, m - j0);
            for (std::size_t j = 0; j < c; ++j) {
                const std::uint32_t i = ids[j0 + j];
                bounds[2 * j] = rb[i];
                bounds[2 * j + 1] = rb[i + 1];
            }
            for (std::size_t j = 0; j < c; ++j) {
                // the first two lines of the row's targets (a row of COBA is 1-2 lines)
                const char* t = reinterpret_cast<const char*>(tg + bounds[2 * j]);
                __builtin_prefetch(t);
                __builtin_prefetch(t + 64);
                if constexpr (W) __builtin_prefetch(w + bounds[2 * j]);
            }
            for (std::size_t j = 0; j < c; ++j) {
                const std::uint64_t b = bounds[2 * j], e = bounds[2 * j + 1];
                ev += e - b;
                if (j + 1 < c) {  // the next row's lines past its first two, up to 1 KiB
                    const char* t = reinterpret_cast<const char*>(tg + bounds[2 * j + 2]);
                    const char* end = reinterpret_cast<const char*>(tg + bounds[2 * j + 3]);
                    for (const char* q = t + 128; q < end && q < t + 1024; q += 64) __builtin_prefetch(q);
                }
                deliver_row<W, D>(b, e, tg, w, pr.weight0, d, ring, dst0, slots, stride, base);
                if (rule && b < e) {
                    row_targets t;
                    if constexpr (std::is_same_v<Idx, std::uint32_t>) t.index = tg + b;
                    else t.offset = tg + b, t.base = rows.target_base;
                    rule->on_pre(k, n, ids[j0 + j], w + b, t, e - b);
                }
            }
        }
    }
    return ev;
}

template <bool W, bool D>
std::uint64_t deliver(const projection_rows& pr, csr_rows& rows, const std::vector<spike_buffer>& spikes, float* ring,
                      std::uint32_t slots, std::uint32_t stride, std::uint32_t base, synapse_rule* rule = nullptr,
                      std::size_t k = 0, std::uint64_t n = 0) {
    if (rows.compact())  // 2-byte offsets from the part's first neuron
        return deliver_rows<W, D>(pr, rows, rows.target16.data(), spikes, ring + rows.target_base, slots, stride, base, rule, k, n);
    return deliver_rows<W, D>(pr, rows, rows.target.data(), spikes, ring, slots, stride, base, rule, k, n);
}

struct current_change {
    std::uint64_t step;
    float delta;
};

struct stimulus_rt {
    enum class kind { step_current, poisson_input } type;
    std::size_t target = 0;
    std::vector<std::uint32_t> neurons;  // sorted; all when `all`
    bool all = true;
    // step_current
    std::vector<current_change> changes;  // sorted by step
    // poisson_input
    int receptor = 0;
    double lambda = 0.0;
    std::vector<double> cdf;  // Poisson(lambda) cumulative table (lambda < 10)
    std::vector<u32> thr;     // and as thresholds on 32 random bits (poisson_thresholds)
    float weight = 0.0f;
    std::uint64_t first = 0, last = 0;
    u32 stream = 0;
};

struct recorder_rt {
    std::size_t population = 0;
    std::vector<int> vars;
    std::vector<std::uint32_t> neurons;  // their places in the model's arrays (simulation::impl::slot)
    std::uint64_t interval = 1;
};

}  // namespace

struct simulation::impl {
    network_spec spec;
    double dt = 0.1;
    std::uint64_t seed = 1;
    int threads = 1;
    partition part;
    std::vector<population_rt> pops;
    std::vector<projection_rt> projs;
    // Per source population: the interleaved row starts of its direct projections,
    // row_starts[s][(i * J + j) * P + k] = part k's row_begin[i] of the j-th of its J
    // projections that have them (projection_rt::bounds points into it).
    std::vector<std::vector<std::uint32_t>> row_starts;
    std::vector<stimulus_rt> stims;
    std::vector<recorder_rt> recs;
    std::uint64_t step = 0;  // steps completed
    double build_seconds = 0.0;
    std::vector<event_counter> events;  // per part
    std::vector<segment_list> direct_rows;  // per part: deliver_direct's scratch
    std::size_t gather_from = 3;            // gather_rows_from() when built
    std::unique_ptr<spin_team> team;  // workers of the step loop (none with one worker)
    int workers = 1;
    // Modulators: one copy per part (each part advances its own, identically, so no
    // serial phase is needed); values before and after the spikes of step n-1.
    std::vector<std::vector<std::unique_ptr<modulator>>> mods;  // [part][modulator]
    std::vector<std::vector<double>> mod_before, mod_after;     // [part][modulator]
    std::vector<std::vector<std::pair<std::size_t, double>>> mod_sources;  // [modulator]
    std::vector<std::size_t> plastic;  // indices of plastic projections

    void build(const model_registry& models, std::size_t parts, const simulation::build_progress& building);
    void step_part(std::size_t k, std::uint64_t n);
    void update_part(std::size_t k, std::uint64_t n);
    void deliver_direct(std::size_t k, std::uint64_t n);
    void space_parts();
    std::uint32_t slot(std::size_t pop, std::uint32_t i) const;  // neuron i's place in its model's arrays
    bool pipelined() const;
    bool direct_inputs_only() const;
    observer* part_obs = nullptr;  // the run's observer where it takes spikes per part
    bool profiling = false;
    stall_policy stalls;
    solo_switch solo;  // worker 0's choice, carried from run to run
    bool any_ring_projection = false, any_direct_projection = false;
    event_counter* clock_of(std::size_t k) { return profiling ? &events[k] : nullptr; }
    std::uint64_t min_per_worker = 8000;
    std::uint64_t size_for_workers = 0;  // neurons + expected synapses / synapses_per_neuron
    int cpus = 1;  // usable_cpus() when built
    void apply_stimuli(std::size_t k, std::uint64_t n);
    void init_state(std::size_t pop);
    // Rebalancing (balance_policy): the policy, whether every spaced population's model
    // can lay its neurons out anew (model relayout, asked once when built), and moving the
    // cuts (false where nothing moved or the simulation cannot)
    balance_policy balancing;
    bool relayout_ok = true;
    bool can_rebalance() const;
    bool repartition(const partition& np);
    void index_rows();  // gather_fixed and the interleaved row starts, from the rows
};

simulation::simulation(const network_spec& spec, const model_registry& models, int threads, std::size_t parts,
                       const build_progress& building)
    : impl_(std::make_unique<impl>()) {
    const auto t0 = std::chrono::steady_clock::now();
    impl_->spec = spec;
    impl_->dt = spec.simulation.dt;
    impl_->seed = spec.simulation.seed;
    impl_->threads = std::max(1, threads > 0 ? threads : spec.simulation.threads);
    stall_policy pol;  // simulation.step_alone (times in ms)
    pol.min_share = spec.simulation.alone_below;
    pol.window_s = spec.simulation.alone_window * 1e-3;
    pol.retry_s = spec.simulation.alone_retry * 1e-3;
    pol.max_retry_s = spec.simulation.alone_max_retry * 1e-3;
    set_stall_policy(pol);  // refuses a spec built in C++ with values it cannot follow
    impl_->build(models, parts, building);
    impl_->build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

simulation::~simulation() = default;

void simulation::impl::build(const model_registry& models, std::size_t parts, const simulation::build_progress& building) {
    // Workers: at most the requested threads and the machine's cores, and at most one per
    // simulation.min_neurons_per_thread of the network's size, counted as its neurons
    // plus one per `synapses_per_neuron` synapses it is expected to have
    // (expected_synapses): about the work of a step, where an update costs about 0.15 ns a
    // neuron and delivery about 1 ns a synaptic event, at COBA's rates. A step of a small
    // network is a few microseconds, and two workers gain only where it is longer than
    // their handshakes cost. Where every input is direct, workers run up to a step apart
    // (run()'s pipelined loop) and 6,000 per worker gain; where they meet at a barrier
    // every step, 8,000 (docs/performance-history.md, thirty-fifth session: COBA itself,
    // 4,000 neurons and 320,000 synapses, size 6,000, runs on one; COBA scaled to 8,000
    // neurons, size 16,000, gained 1.2 x on two; Brunel's 12,500 neurons and 15.6
    // million synapses, size 110,000, 1.35 x, where the neurons alone had kept it on one
    // worker). Unset (0), the threshold is the one that applies. The partition has one
    // part per worker unless the caller pins it; worker w runs parts w, w+W, ... Results
    // do not depend on either number.
    std::uint64_t neurons = 0;
    for (const auto& ps : spec.populations) {
        neurons += ps.size;
        population_rt p;
        p.info = &models.get(ps.model);
        p.size = ps.size;
        // validate() has checked that double precision has a kernel where state needs one
        p.model = spec.simulation.double_precision && p.info->make_f64 ? p.info->make_f64(ps, dt) : p.info->make(ps, dt);
        pops.push_back(std::move(p));
    }
    std::uint64_t synapses = 0;
    for (const auto& pj : spec.projections)
        synapses += expected_synapses(pj, spec.populations[spec.population_index(pj.source)].size,
                                      spec.populations[spec.population_index(pj.target)].size);
    size_for_workers = neurons + synapses / synapses_per_neuron;
    min_per_worker = spec.simulation.min_neurons_per_thread ? spec.simulation.min_neurons_per_thread
                                                            : direct_inputs_only() ? 6000 : 8000;
    const int cores = cpus = usable_cpus();  // not every CPU of the machine: taskset, cgroups
    const int useful = static_cast<int>(std::clamp<std::uint64_t>(size_for_workers / min_per_worker, 1, 1 << 16));
    workers = std::min({threads, cores, useful});
    if (workers > 1) team = std::make_unique<spin_team>(workers);
    part = balance_contiguous(spec, parts ? parts : static_cast<std::size_t>(workers));
    space_parts();
    for (std::size_t pi = 0; pi < pops.size(); ++pi) init_state(pi);
    // whether the spaced populations' models can move their neurons (rebalancing): each
    // asked to lay them out as they are
    for (auto& p : pops) {
        if (p.storage == p.size) continue;
        std::vector<std::uint32_t> same(p.storage);
        for (std::uint32_t i = 0; i < p.storage; ++i) same[i] = i;
        relayout_ok = relayout_ok && p.model->relayout(same);
    }
    balancing.enabled = spec.simulation.rebalance;
    events.assign(part.n_parts, event_counter{});
    direct_rows.assign(part.n_parts, segment_list{});
    gather_from = gather_min.load(std::memory_order_relaxed);
    for (auto& p : pops)
        for (auto& par : p.spikes) par.resize(part.n_parts);
    const auto positions = spec.layouts.empty() ? std::vector<neuron_positions>(spec.populations.size())
                                                : place_neurons(spec, seed);
    std::vector<std::string> mod_names;
    for (const auto& m : spec.modulators) mod_names.push_back(m.name);

    // Connectivity: generated per projection (deterministic), rows per target part. The
    // parts of all projections are built as one list of tasks, which the workers take in
    // turn: with contiguous parts (balance_contiguous) a projection's parts can differ
    // greatly in size, and some are empty (built one projection at a time, coba_large's
    // construction took 1.75 x as long on two workers).
    std::vector<std::unique_ptr<projection_builder>> builders;
    for (const auto& pj : spec.projections) {
        projection_rt r;
        r.source = spec.population_index(pj.source);
        r.target = spec.population_index(pj.target);
        auto& tgt = pops[r.target];
        r.receptor = tgt.info->receptor_index(pj.receptor);
        if (pj.plasticity.plastic() && !models.find_rule(pj.plasticity.rule))
            throw spec_error("projections." + pj.name + ".plasticity.rule", "unknown plasticity rule '" + pj.plasticity.rule + "'");
        build_options opt;
        opt.threads = threads;
        opt.per_synapse_weights = opt.columns = pj.plasticity.plastic();
        opt.pre_pos = &positions[r.source];
        opt.post_pos = &positions[r.target];
        builders.push_back(std::make_unique<projection_builder>(pj, pops[r.source].size, tgt.size, dt, seed, part.ranges[r.target], opt));
        projs.push_back(std::move(r));
    }
    {
        // projection by projection, part by part; `building` hears of each projection
        // when the calling thread (worker 0) first takes one of its parts, and, once the
        // list is empty, of those whose parts the other workers took
        std::vector<std::pair<std::size_t, std::size_t>> tasks;
        for (std::size_t j = 0; j < builders.size(); ++j)
            for (std::size_t k = 0; k < builders[j]->parts(); ++k) tasks.emplace_back(j, k);
        std::atomic<std::size_t> next{0};
        std::atomic<bool> failed{false};
        std::size_t announced = 0;
        auto take = [&](bool caller) {
            for (std::size_t t; !failed.load(std::memory_order_relaxed) && (t = next.fetch_add(1)) < tasks.size();) {
                const auto [j, k] = tasks[t];
                if (caller && building)
                    for (; announced <= j; ++announced) building(announced, spec.projections.size(), spec.projections[announced].name);
                try {
                    builders[j]->build_part(k);
                } catch (...) {
                    failed = true;
                    throw;
                }
            }
            if (caller && building && !failed.load(std::memory_order_relaxed))
                for (; announced < builders.size(); ++announced) building(announced, spec.projections.size(), spec.projections[announced].name);
        };
        if (team) {
            // with the caller's floating-point environment (as TBB would give its
            // threads): the workers otherwise flush denormals to zero
            const fp_environment caller;
            team->run([&](int w) {
                const fp_environment::as here(caller);
                take(w == 0);
            });
        } else {
            take(true);
        }
    }
    for (std::size_t jp = 0; jp < projs.size(); ++jp) {
        const auto& pj = spec.projections[jp];
        auto& r = projs[jp];
        auto& tgt = pops[r.target];
        r.rows = builders[jp]->finish();
        builders[jp].reset();
        if (pj.plasticity.plastic()) {
            r.rule = models.find_rule(pj.plasticity.rule)->make(pj, dt, pops[r.source].size, tgt.size, part.n_parts, mod_names);
            plastic.push_back(jp);
            for (const auto& rp : r.rows.parts) {
                std::uint64_t longest = 0;
                for (std::size_t j = 0; j + 1 < rp.col_begin.size(); ++j) longest = std::max(longest, rp.col_begin[j + 1] - rp.col_begin[j]);
                r.col_src.emplace_back(longest);
            }
        }
    }
    mods.resize(part.n_parts);
    mod_before.assign(part.n_parts, std::vector<double>(spec.modulators.size(), 0.0));
    mod_after = mod_before;
    for (const auto& ms : spec.modulators) {
        const modulator_info* mi = models.find_modulator(ms.type);
        if (!mi) throw spec_error("modulators." + ms.name + ".type", "unknown modulator type '" + ms.type + "'");
        for (std::size_t k = 0; k < part.n_parts; ++k) mods[k].push_back(mi->make(ms, dt));
        std::vector<std::pair<std::size_t, double>> src;
        for (const auto& [pop, w] : ms.sources) src.emplace_back(spec.population_index(pop), w);
        mod_sources.push_back(std::move(src));
    }
    for (const auto& ss : spec.stimuli) {
        stimulus_rt s;
        s.target = spec.population_index(ss.target);
        auto& tgt = pops[s.target];
        s.neurons = ss.neurons;
        std::sort(s.neurons.begin(), s.neurons.end());
        s.all = s.neurons.empty();
        if (ss.type == "step_current") {
            s.type = stimulus_rt::kind::step_current;
            if (tgt.i_stim.empty()) tgt.i_stim.assign(tgt.storage, 0.0f);
            double prev = 0.0;
            for (std::size_t i = 0; i < ss.times.size(); ++i) {
                const auto st = static_cast<std::uint64_t>(std::llround(ss.times[i] / dt)) + 1;
                s.changes.push_back({st, static_cast<float>(ss.amplitudes[i] - prev)});
                prev = ss.amplitudes[i];
            }
        } else {
            s.type = stimulus_rt::kind::poisson_input;
            s.receptor = tgt.info->receptor_index(ss.receptor);
            s.lambda = ss.n_sources * ss.rate * dt * 1e-3;
            if (s.lambda < 10.0) {
                s.cdf = poisson_table(s.lambda);
                s.thr = poisson_thresholds(s.cdf);
            }
            s.weight = static_cast<float>(ss.weight);
            s.first = static_cast<std::uint64_t>(std::llround(ss.start / dt)) + 1;
            s.last = std::isinf(ss.stop) ? ~std::uint64_t(0) : static_cast<std::uint64_t>(std::llround(ss.stop / dt));
            s.stream = stream_id("stimulus/" + ss.name);
        }
        stims.push_back(std::move(s));
    }

    // Inputs. A static projection with a delay of one step into a receptor the model
    // takes directly (direct_input, direct_input_f64: exponential synapses) adds its weights to
    // the state after the target's update in the same step; everything else goes
    // through ring slots of the target that update() reads and clears. A population
    // whose inputs are all direct has no ring (update() sees a null input).
    for (auto& p : pops) p.ring_input = false;
    for (auto& r : projs) {
        auto& tgt = pops[r.target];
        const auto rec = static_cast<std::size_t>(r.receptor);
        if (!r.rule && r.rows.uniform_delay && r.rows.delay0 == 1) {
            r.direct = tgt.model->direct_input(rec);
            r.direct64 = tgt.model->direct_input_f64(rec);
        }
        if (!r.is_direct()) {
            tgt.ring_input = true;
            tgt.slots = std::max<std::uint32_t>(tgt.slots, r.rows.max_delay);
        }
    }
    index_rows();
    for (const auto& r : projs) (r.is_direct() ? any_direct_projection : any_ring_projection) = true;
    for (const auto& s : stims)
        if (s.type == stimulus_rt::kind::poisson_input) pops[s.target].ring_input = true;
    for (auto& p : pops) {
        // a model without a direct input for every receptor always gets its ring
        for (std::size_t r = 0; r < p.info->receptors.size() && !p.ring_input; ++r)
            if (!p.model->direct_input(r) && !p.model->direct_input_f64(r)) p.ring_input = true;
        // a slot of the ring is laid out as the model's arrays (space_parts): part k's
        // neuron i at i + shift[k]
        p.stride = (p.storage + 15u) & ~15u;
        if (p.ring_input) {
            p.ring.resize(p.info->receptors.size());
            for (auto& rb : p.ring) rb.assign(std::size_t(p.slots) * p.stride, 0.0f);
        }
        p.input.assign(p.ring.size(), nullptr);
    }

    for (const auto& rs : spec.state_recorders) {
        recorder_rt r;
        r.population = spec.population_index(rs.population);
        for (const auto& v : rs.variables) r.vars.push_back(pops[r.population].info->state_index(v));
        r.neurons = rs.neurons;
        if (r.neurons.empty())
            for (std::uint32_t i = 0; i < pops[r.population].size; ++i) r.neurons.push_back(i);
        for (auto& i : r.neurons) i = slot(r.population, i);
        r.interval = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::llround(rs.interval / dt)));
        recs.push_back(std::move(r));
    }
    // whether rows hold their targets in order, for moving the cuts (resplit_rows; where
    // the file leaves them still, repartition asks at its first move)
    if (balancing.enabled && can_rebalance())
        for (auto& r : projs) r.sorted = rows_sorted(r.rows);
}

// What delivery reads besides the rows, made from them (when built, and after the cuts
// move): each part's fixed gather length, and the interleaved row starts.
void simulation::impl::index_rows() {
    for (auto& r : projs) {
        r.bounds = nullptr;
        r.bounds_stride = 0;
        const std::size_t P = r.rows.parts.size();
        r.gather_fixed.assign(P, 0);
        if (r.direct && r.rows.homogeneous_weight)
            for (std::size_t k = 0; k < P; ++k) {
                const auto& c = r.rows.parts[k];
                if (!c.compact() || r.rows.n_pre == 0) continue;
                double sum = 0, sq = 0;
                for (std::size_t i = 0; i < r.rows.n_pre; ++i) {
                    const double len = static_cast<double>(c.row_begin[i + 1] - c.row_begin[i]);
                    sum += len;
                    sq += len * len;
                }
                const double mean = sum / r.rows.n_pre, sd = std::sqrt(std::max(0.0, sq / r.rows.n_pre - mean * mean));
                if (mean > static_cast<double>(gather_max_mean)) continue;
                const auto blocks = static_cast<std::uint32_t>(std::ceil((mean + 2 * sd) / gather_block));
                r.gather_fixed[k] = std::max<std::uint32_t>(1, blocks) * gather_block;
            }
    }
    // The interleaved row starts: a spike's rows of all the direct projections from its
    // population and all parts in one line (COBA: ee and ei, two parts: 16 bytes a
    // source), read in deliver_direct's listing, where each projection's own array
    // missed once a spike.
    row_starts.assign(pops.size(), {});
    {
        const std::uint64_t limit = interleaved_limit.load(std::memory_order_relaxed);
        for (std::size_t src = 0; src < pops.size(); ++src) {
            std::vector<projection_rt*> with;
            for (auto& r : projs) {
                bool fits = r.source == src && r.is_direct() && r.rows.parts.size() == part.n_parts;
                for (const auto& c : r.rows.parts) fits = fits && c.synapses() < limit;
                if (fits) with.push_back(&r);
            }
            if (with.empty()) continue;
            const std::size_t J = with.size(), P = part.n_parts, n_pre = with.front()->rows.n_pre;
            auto& t = row_starts[src];
            t.resize((n_pre + 1) * J * P);
            for (std::size_t j = 0; j < J; ++j) {
                projection_rt& r = *with[j];
                for (std::size_t k = 0; k < P; ++k)
                    for (std::size_t i = 0; i <= n_pre; ++i) t[(i * J + j) * P + k] = static_cast<std::uint32_t>(r.rows.parts[k].row_begin[i]);
            }
            for (std::size_t j = 0; j < J; ++j) {
                with[j]->bounds = t.data() + j * P;
                with[j]->bounds_stride = J * P;
            }
        }
    }
}

void simulation::impl::init_state(std::size_t pi) {
    // Initial values: a distribution per state variable, drawn per neuron.
    auto& p = pops[pi];
    const auto& ps = spec.populations[pi];
    for (std::size_t v = 0; v < p.info->state.size(); ++v) {
        const auto& si = p.info->state[v];
        distribution d = distribution::constant(si.initial, si.dim);
        if (!si.initial_from.empty()) d.a = ps.params.at(si.initial_from).values.at(0);
        if (auto it = ps.initial.find(si.name); it != ps.initial.end()) d = it->second;
        float* x = p.model->state(v);
        double* xd = p.model->state_f64(v);
        // stored as the model keeps it after the steps completed (1 but for lazy decays)
        const double scale = p.model->state_scale(v, step);
        if (d.is_constant()) {
            if (x) std::fill(x, x + p.storage, static_cast<float>(d.a / scale));
            if (xd) std::fill(xd, xd + p.storage, d.a / scale);
        } else {
            const u32 st = stream_id("init/" + ps.name + "/" + si.name);
            for (std::uint32_t i = 0; i < p.size; ++i) {
                random_stream rng(seed, st, i);
                const double y = d.sample(rng) / scale;
                const std::uint32_t at = slot(pi, i);
                if (x) x[at] = static_cast<float>(y);
                if (xd) xd[at] = y;
            }
        }
    }
}

// A Poisson stimulus (lambda < 10) on the 64 neurons from i, a multiple of 4: their 16
// Philox blocks at once, the counts by the thresholds (poisson_from_bits_64), count x
// weight added by one fused multiply-add each (also where the count is 0, which leaves the
// input as it was, up to the sign of a zero). The same draws and sums as apply_stimuli's
// neuron-by-neuron loop, in vector registers.
void poisson_chunk(const stimulus_rt& s, float* in, std::uint32_t i, u32 c2, u32 c3, std::array<u32, 2> key) {
    alignas(64) u32 x[64];
    alignas(64) u32 count[64];
    philox4x32_x16_groups(s.stream, i >> 2, c2, c3, key, x);
    poisson_from_bits_64(x, s.lambda, s.cdf, s.thr, count);
    float* y = in + i;
    const float w = s.weight;
    for (int j = 0; j < 64; ++j) y[j] = fmadd(static_cast<float>(static_cast<std::int32_t>(count[j])), w, y[j]);
}

void simulation::impl::apply_stimuli(std::size_t k, std::uint64_t n) {
    for (const auto& s : stims) {
        auto& tgt = pops[s.target];
        const neuron_range r = part.ranges[s.target][k];
        auto for_each_neuron = [&](auto&& f) {
            if (s.all) {
                for (std::uint32_t i = r.begin; i < r.end; ++i) f(i);
            } else {
                auto it = std::lower_bound(s.neurons.begin(), s.neurons.end(), r.begin);
                for (; it != s.neurons.end() && *it < r.end; ++it) f(*it);
            }
        };
        if (s.type == stimulus_rt::kind::step_current) {
            auto it = std::lower_bound(s.changes.begin(), s.changes.end(), n,
                                       [](const current_change& c, std::uint64_t v) { return c.step < v; });
            for (; it != s.changes.end() && it->step == n; ++it) {
                const float d = it->delta;
                const std::uint32_t sh = tgt.shift[k];
                for_each_neuron([&](std::uint32_t i) { tgt.i_stim[i + sh] += d; });
            }
        } else if (n >= s.first && n <= s.last && s.lambda > 0.0) {
            // neuron i's draws are keyed by i; its input sits at i + shift[k]
            float* in = tgt.input[static_cast<std::size_t>(s.receptor)] + tgt.shift[k];
            if (s.lambda < 10.0) {
                // One uniform per neuron and step: a Philox block, keyed by
                // (seed, stimulus, neuron / 4, step), serves four neurons; the count by
                // the table's thresholds on its 32 bits. Where the stimulus takes every
                // neuron, 64 neurons at a time from a multiple of 4 (poisson_chunk, the
                // same draws and sums), the ends one by one.
                std::uint32_t group = ~0u;
                std::array<u32, 4> block{};
                const std::array<u32, 2> key{static_cast<u32>(seed), static_cast<u32>(seed >> 32) ^ s.stream};
                const auto c2 = static_cast<u32>(n), c3 = static_cast<u32>(n >> 32);
                auto one = [&](std::uint32_t i) {
                    if ((i >> 2) != group) {
                        group = i >> 2;
                        block = philox4x32({s.stream, group, c2, c3}, key);
                    }
                    const auto count = poisson_from_bits(block[i & 3], s.lambda, s.cdf, s.thr);
                    in[i] = fmadd(static_cast<float>(count), s.weight, in[i]);
                };
                if (s.all) {
                    std::uint32_t i = r.begin;
                    for (; i < r.end && (i & 3); ++i) one(i);
                    for (; r.end - i >= 64; i += 64) poisson_chunk(s, in, i, c2, c3, key);
                    for (; i < r.end; ++i) one(i);
                } else {
                    for_each_neuron(one);
                }
            } else {
                for_each_neuron([&](std::uint32_t i) {
                    random_stream rng(seed, s.stream, i, n << 8);
                    const auto count = poisson_draw(rng, s.lambda);
                    if (count) in[i] = fmadd(static_cast<float>(count), s.weight, in[i]);
                });
            }
        }
    }
}

// Steps 2 and 3 of step n for part k: stimuli, then integrate and detect (the part's
// spikes of step n into spikes[n % spike_steps][k]).
void simulation::impl::update_part(std::size_t k, std::uint64_t n) {
    if (!stims.empty()) apply_stimuli(k, n);
    const int cur = static_cast<int>(n % spike_steps);
    for (auto& p : pops) {
        step_context ctx;
        ctx.step = n;
        ctx.dt = dt;
        ctx.seed = seed;
        ctx.input = p.ring_input ? p.input.data() : nullptr;
        ctx.i_stim = p.i_stim.empty() ? nullptr : p.i_stim.data();
        auto& out = p.spikes[cur][k].ids;
        out.clear();
        const auto pi = static_cast<std::size_t>(&p - pops.data());
        const neuron_range r = part.ranges[pi][k];
        // in the model's arrays the part's neurons are shifted; the spikes are neuron indices
        const std::uint32_t sh = p.shift[k];
        if (r.end > r.begin) p.model->update(ctx, r.begin + sh, r.end + sh, out);
        if (sh)
            for (auto& id : out) id -= sh;
        if (part_obs && !out.empty()) {
            if (event_counter* e = clock_of(k)) {
                // the caller counts all of update_part as update: this moves to record
                // (unsigned ticks: the sum comes out right once the caller adds)
                const std::uint64_t t0 = profile_ticks();
                part_obs->on_part_spikes(n, pi, out.data(), out.size());
                const std::uint64_t d = profile_ticks() - t0;
                e->record += d;
                e->update -= d;
            } else {
                part_obs->on_part_spikes(n, pi, out.data(), out.size());
            }
        }
    }
}

// f(begin, end) for part k's row of every spiking neuron in `spikes` (a step's buffers of
// pj's source, in order), from the interleaved row starts or, where there are none, the
// part's own row_begin.
template <class F>
void for_each_spiking_row(const projection_rt& pj, const std::vector<spike_buffer>& spikes, std::size_t k, F&& f) {
    if (pj.bounds) {
        const std::size_t S = pj.bounds_stride;
        const std::uint32_t* bd = pj.bounds + k;
        for (const auto& sp : spikes)
            for (const std::uint32_t i : sp.ids) f(bd[i * S], bd[(i + 1) * S]);
    } else {
        const std::uint64_t* rb = pj.rows.parts[k].row_begin.data();
        for (const auto& sp : spikes)
            for (const std::uint32_t i : sp.ids) f(rb[i], rb[i + 1]);
    }
}

// Step 3b of step n for part k: spikes of step n-1 of static projections with a delay of
// one step, straight into the targets' state (the update of step n has decayed it; the
// next update reads it). First the bounds of every spiking neuron's row of every such
// projection (independent loads, whose cache misses overlap; from `bounds`, or from the
// part's row_begin where a part holds as many synapses as limit_interleaved_row_starts
// says or more: 2^32 unless a test lowers it),
// then the rows in the same order as deliver() would take them
// (projection, source part, spike), each row's first lines prefetched `ahead` rows
// before it is walked. Per projection, a part's row of a spike is short (COBA: 16 or 64
// targets; 8-32 in each of two parts of coba_large), so batches within one projection
// left the first rows of each batch waiting for their targets.
void simulation::impl::deliver_direct(std::size_t k, std::uint64_t n) {
    const int prev = static_cast<int>((n - 1) % spike_steps);
    // At most `chunk` rows are listed, then walked, at a time (a step where most neurons
    // fire would otherwise list them all at once).
    constexpr std::size_t chunk = 1024, ahead = 16;
    auto& segs = direct_rows[k].s;
    if (segs.size() < chunk) segs.resize(chunk);
    std::size_t m = 0;
    auto walk = [&] {
        for (std::size_t j = 0; j < std::min(ahead, m); ++j) prefetch_segment(segs[j]);
        for (std::size_t j = 0; j < m; ++j) {
            if (j + ahead < m) prefetch_segment(segs[j + ahead]);
            walk_segment(segs[j]);
        }
        m = 0;
    };
    std::uint64_t ev = 0;
    for (auto& pj : projs) {
        if (!pj.is_direct()) continue;
        if (part.ranges[pj.target][k].begin == part.ranges[pj.target][k].end) continue;  // no targets in this part
        auto& rows = pj.rows.parts[k];
        const bool wide = !rows.compact();
        const char* tg = wide ? reinterpret_cast<const char*>(rows.target.data()) : reinterpret_cast<const char*>(rows.target16.data());
        const std::size_t size = wide ? sizeof(std::uint32_t) : sizeof(std::uint16_t);
        const float* w = pj.rows.homogeneous_weight ? nullptr : rows.weight.data();
        const std::size_t off = (wide ? 0 : rows.target_base) + pops[pj.target].shift[k];
        const bool f64 = pj.direct64 != nullptr;
        void* dst = f64 ? static_cast<void*>(pj.direct64 + off) : static_cast<void*>(pj.direct + off);
        const float w0 = pj.rows.weight0;
        const double scale = pops[pj.target].model->direct_scale(static_cast<std::size_t>(pj.receptor), n);
        // gathered where the step has a few of the projection's rows (gather_rows_from)
        auto spiking = [&] {
            std::size_t c = 0;
            for (const auto& sp : pops[pj.source].spikes[prev]) c += sp.ids.size();
            return c;
        };
        if (const std::size_t fixed = pj.gather_fixed[k]; fixed && spiking() >= gather_from) {
            walk();  // the rows listed before first: the same order of additions into shared arrays
            auto& spans = direct_rows[k].spans;
            auto& flat = direct_rows[k].flat;
            if (spans.size() < chunk) spans.resize(chunk);
            if (flat.size() < gather_capacity) flat.resize(gather_capacity);
            const auto* t16 = rows.target16.data();
            const std::uint64_t n_targets = rows.target16.size();
            float* d = pj.direct + off;
            std::size_t q = 0;
            auto flush = [&] {
                walk_gathered(t16, n_targets, spans.data(), q, flat.data(), fixed, d, w0, static_cast<float>(scale));
                q = 0;
            };
            auto span = [&](std::uint64_t b, std::uint64_t e) {
                spans[q++] = row_span{b, e};
                ev += e - b;
                if (q == chunk) [[unlikely]] flush();
            };
            for_each_spiking_row(pj, pops[pj.source].spikes[prev], k, span);
            flush();
            continue;
        }
        // every spike gets an entry, empty rows too: no store waits on a load
        auto put = [&](std::uint64_t b, std::uint64_t e) {
            segs[m++] = row_segment{tg + b * size, w ? w + b : nullptr, dst, e - b, scale, w0, wide, f64};
            ev += e - b;
            if (m == chunk) [[unlikely]] walk();
        };
        for_each_spiking_row(pj, pops[pj.source].spikes[prev], k, put);
    }
    walk();
    events[k].n += ev;
}

// Parts kept apart in the models' arrays. Each worker streams its part's state arrays in
// the update, and the core's hardware prefetchers fetch a few lines past the part's end,
// which are the next part's, or past an array's end, which begin another array, often
// the next part's region of it. The core that owns those lines writes them every step
// (its update, the spikes it delivers), and each such line then crosses between the
// cores twice: up to a microsecond where this VM's two vCPUs are far apart. With part k's
// neuron i at i + (k + 1) part_gap and part_gap unused neurons after the last part, no
// part's lines lie within part_gap neurons of another part's, in any array (measured on
// coba_large, 2 workers: the walk that adds each worker's delivered weights into its
// conductances took 1.5 x the time of the same part on one thread, 3-4 x where the vCPUs
// were far apart; spaced, 1.0 x; docs/performance.md, "Two threads"). The same held
// where workers meet at a barrier every step and inputs go through rings (Brunel on two
// workers: each worker's update of half the network took 0.9 x the whole network's on one
// thread). Only with two parts or more, in each population whose model allows it
// (model_info::part_gaps), within a budget of unused neurons: its model is built again with `storage`
// neurons, its per-neuron parameter values and spike trains spread to match, and every
// other array indexed by neuron follows the same layout: the slots of its rings, its step
// currents, where the delivered weights and Poisson inputs are added, the neurons that
// state recorders sample, and simulation::state. Spikes, draws (keyed by neuron index)
// and plastic rules (which index their own arrays) see neuron indices. Results do not
// change.
void simulation::impl::space_parts() {
    const std::size_t P = part.n_parts;
    for (auto& p : pops) {
        p.storage = p.size;
        p.shift.assign(P, 0);
    }
    if (P < 2) return;
    // The unused neurons added, in all: within the network's own count of neurons, or
    // 65,536 where that is less (many small populations are spaced first come, first
    // served, and the rest not).
    std::uint64_t neurons = 0, added = 0;
    for (const auto& p : pops) neurons += p.size;
    const std::uint64_t budget = std::max<std::uint64_t>(neurons, 65536), extra = (P + 1) * std::uint64_t(part_gap);
    for (std::size_t pi = 0; pi < pops.size(); ++pi) {
        auto& p = pops[pi];
        if (!p.info->part_gaps || p.info->shared_step_data || added + extra > budget || std::uint64_t(p.size) + extra > 0xFFFFFFFFull)
            continue;
        added += extra;
        for (std::size_t k = 0; k < P; ++k) p.shift[k] = static_cast<std::uint32_t>((k + 1) * part_gap);
        p.storage = p.size + static_cast<std::uint32_t>((P + 1) * part_gap);
        population_spec ps = spec.populations[pi];
        ps.size = p.storage;
        auto spread = [&](auto& v, auto gap_value) {  // per-neuron values to the spaced layout
            std::remove_reference_t<decltype(v)> out(p.storage, gap_value);
            for (std::size_t k = 0; k < P; ++k)
                for (std::uint32_t i = part.ranges[pi][k].begin; i < part.ranges[pi][k].end; ++i) out[i + p.shift[k]] = std::move(v[i]);
            v = std::move(out);
        };
        for (auto& [name, pv] : ps.params) {
            if (p.size > 1 && pv.values.size() == p.size) spread(pv.values, pv.values.front());
            if (pv.trains.size() == p.size) spread(pv.trains, std::vector<double>{});
        }
        p.model = spec.simulation.double_precision && p.info->make_f64 ? p.info->make_f64(ps, dt) : p.info->make(ps, dt);
    }
}

// Moving the cuts between parts during a run (balance_policy): only where the workers run
// a step apart (static one-step projections into direct inputs: rows alone, no rings,
// columns or plastic state per part) and every spaced population's model can lay its
// neurons out anew.
bool simulation::impl::can_rebalance() const { return relayout_ok && pipelined(); }

// The partition replaced by np (the same number of parts): each spaced population's
// neurons move to their slots under np (model relayout, step currents), each projection
// into a population whose cuts moved gets its rows cut anew (resplit_rows; the parts are
// tasks the workers take, so each part's new rows are mostly made on the core that will
// read them), and what delivery reads besides the rows is made again. The spike lists of
// the last step stay as they are: delivery reads every part's list, in order, by neuron.
bool simulation::impl::repartition(const partition& np) {
    if (np.n_parts != part.n_parts || np.ranges.size() != part.ranges.size())
        throw std::logic_error("repartition: a partition of another shape");
    if (np.ranges == part.ranges || !can_rebalance()) return false;
    const std::size_t P = part.n_parts;
    std::vector<bool> moved(pops.size(), false);
    for (std::size_t pi = 0; pi < pops.size(); ++pi) moved[pi] = np.ranges[pi] != part.ranges[pi];
    // the rows first (where memory runs out, nothing has changed yet)
    std::vector<std::vector<csr_rows>> fresh(projs.size());
    for (std::size_t j = 0; j < projs.size(); ++j)
        if (moved[projs[j].target]) fresh[j].resize(P);
    for (std::size_t j = 0; j < projs.size(); ++j)
        if (!fresh[j].empty() && projs[j].sorted < 0) projs[j].sorted = rows_sorted(projs[j].rows);  // once: the cut keeps it
    auto make_part = [&](std::size_t k) {
        for (std::size_t j = 0; j < projs.size(); ++j)
            if (!fresh[j].empty())
                fresh[j][k] = resplit_rows(projs[j].rows, part.ranges[projs[j].target], np.ranges[projs[j].target][k], projs[j].sorted == 1);
    };
    if (team) {
        const auto W = static_cast<std::size_t>(team->size());
        team->run([&](int w) {
            for (auto k = static_cast<std::size_t>(w); k < P; k += W) make_part(k);
        });
    } else {
        for (std::size_t k = 0; k < P; ++k) make_part(k);
    }
    for (std::size_t j = 0; j < projs.size(); ++j)
        if (!fresh[j].empty()) projs[j].rows.parts = std::move(fresh[j]);
    // then the neurons: slot s under np takes the slot its neuron has now
    for (std::size_t pi = 0; pi < pops.size(); ++pi) {
        auto& p = pops[pi];
        if (!moved[pi] || p.storage == p.size) continue;
        std::vector<std::uint32_t> from(p.storage, population_model::no_slot);
        for (std::size_t k = 0; k < P; ++k)
            for (std::uint32_t i = np.ranges[pi][k].begin; i < np.ranges[pi][k].end; ++i) from[i + p.shift[k]] = slot(pi, i);
        if (!p.model->relayout(from)) throw std::logic_error("repartition: a model refused to lay its neurons out anew");
        if (!p.i_stim.empty()) {
            std::vector<float> out(p.i_stim.size(), 0.0f);
            for (std::size_t sl = 0; sl < from.size(); ++sl)
                if (from[sl] != population_model::no_slot) out[sl] = p.i_stim[from[sl]];
            p.i_stim = std::move(out);
        }
    }
    part = np;
    index_rows();
    return true;
}

std::uint32_t simulation::impl::slot(std::size_t pop, std::uint32_t i) const {
    const auto& p = pops[pop];
    if (p.storage == p.size) return i;
    const auto& r = part.ranges[pop];
    for (std::size_t k = 0; k < r.size(); ++k)
        if (i < r[k].end) return i + p.shift[k];
    return i + p.shift.back();
}

// Whether workers may run a step apart (run()'s pipelined loop): every input is direct (no ring
// slot is read in the step its spike is delivered, none is shared), and nothing reads
// all parts at once within a step (modulators, plastic rules, state samples, a model
// whose update reads data shared by all parts: model_info::shared_step_data).
bool simulation::impl::pipelined() const {
    if (!team || !mod_sources.empty() || !plastic.empty() || !recs.empty()) return false;
    for (const auto& p : pops)
        if (p.ring_input || p.info->shared_step_data) return false;
    for (const auto& pj : projs)
        if (!pj.is_direct()) return false;
    return true;
}

// Before the connectivity is built: whether every input will be direct and nothing
// will read all parts within a step, as pipelined() then finds (it decides; this only
// picks the worker count).
bool simulation::impl::direct_inputs_only() const {
    if (!spec.modulators.empty() || !spec.state_recorders.empty()) return false;
    for (const auto& ss : spec.stimuli)
        if (ss.type != "step_current") return false;
    for (const auto& p : pops) {
        if (p.info->shared_step_data) return false;
        for (std::size_t r = 0; r < p.info->receptors.size(); ++r)
            if (!p.model->direct_input(r) && !p.model->direct_input_f64(r)) return false;
    }
    for (const auto& pj : spec.projections) {
        if (pj.plasticity.plastic() || !pj.delay.is_constant() || !pj.connector.delay.empty()) return false;
        if (std::max(1.0, std::round(pj.delay.a / dt)) != 1.0) return false;
    }
    return true;
}

void simulation::impl::step_part(std::size_t k, std::uint64_t n) {
    phase_clock clock{clock_of(k)};
    const int prev = static_cast<int>((n - 1) % spike_steps);
    // 0. modulators take in the spikes of step n-1 (each part its own copy)
    if (!mod_sources.empty()) {
        for (std::size_t m = 0; m < mod_sources.size(); ++m) {
            double drive = 0.0;
            for (const auto& [pop, w] : mod_sources[m]) {
                std::size_t count = 0;
                for (const auto& b : pops[pop].spikes[prev]) count += b.ids.size();
                drive += w * static_cast<double>(count);
            }
            mod_before[k][m] = mods[k][m]->value();
            mods[k][m]->advance(drive);
            mod_after[k][m] = mods[k][m]->value();
        }
    }
    for (std::size_t j : plastic) projs[j].rule->begin_step(k, n, mod_before[k].data(), mod_after[k].data());
    // (a phase with no work is not timed: its few ns go to the next one, and each clock
    // read costs as much)
    const bool plasticity = !mod_sources.empty() || !plastic.empty();
    if (plasticity) clock.lap(&event_counter::plasticity);
    // 1. deliver spikes of step n-1 into this part's targets
    std::uint64_t ev = 0;
    for (auto& pj : projs) {
        if (pj.is_direct()) continue;  // after the update (3b)
        // no targets in this part (a plastic rule sees every spike of every part)
        if (!pj.rule && part.ranges[pj.target][k].begin == part.ranges[pj.target][k].end) continue;
        auto& tgt = pops[pj.target];
        auto& pr = pj.rows;
        auto& rows = pr.parts[k];
        float* ring = tgt.ring[static_cast<std::size_t>(pj.receptor)].data() + tgt.shift[k];
        const std::uint32_t base = static_cast<std::uint32_t>((n - 1) % tgt.slots);
        const auto& spikes = pops[pj.source].spikes[prev];
        if (pj.rule)
            ev += pr.uniform_delay ? deliver<true, false>(pr, rows, spikes, ring, tgt.slots, tgt.stride, base, pj.rule.get(), k, n)
                                   : deliver<true, true>(pr, rows, spikes, ring, tgt.slots, tgt.stride, base, pj.rule.get(), k, n);
        else if (pr.homogeneous_weight)
            ev += pr.uniform_delay ? deliver<false, false>(pr, rows, spikes, ring, tgt.slots, tgt.stride, base)
                                   : deliver<false, true>(pr, rows, spikes, ring, tgt.slots, tgt.stride, base);
        else
            ev += pr.uniform_delay ? deliver<true, false>(pr, rows, spikes, ring, tgt.slots, tgt.stride, base)
                                   : deliver<true, true>(pr, rows, spikes, ring, tgt.slots, tgt.stride, base);
    }
    events[k].n += ev;
    if (any_ring_projection) clock.lap(&event_counter::deliver);
    for (std::size_t j : plastic) {
        const auto& post = pops[projs[j].target].spikes[prev][k].ids;
        projs[j].rule->post_traces(k, n, post.data(), post.size());
    }
    if (plasticity) clock.lap(&event_counter::plasticity);
    update_part(k, n);
    clock.lap(&event_counter::update);
    deliver_direct(k, n);
    if (any_direct_projection) clock.lap(&event_counter::deliver);
    // 4. postsynaptic updates of plastic projections for this part's spikes of step n
    const int cur = static_cast<int>(n % spike_steps);
    for (std::size_t j : plastic) {
        auto& pj = projs[j];
        auto& rows = pj.rows.parts[k];
        const std::uint64_t* cb = rows.col_begin.data();
        const std::uint32_t* cs = rows.col_syn.data();
        auto& src = pj.col_src[k];  // the column's sources, found from the rows
        float* w = rows.weight.data();
        for (std::uint32_t post : pops[pj.target].spikes[cur][k].ids) {
            const std::uint64_t b = cb[post], e = cb[post + 1];
            if (b == e) continue;
            // The column's weights lie scattered over the part's rows, mostly out of the
            // cache: each is requested here, so that its miss overlaps the sources'
            // lookups and the others' misses before the rule writes it (plastic Brunel on
            // 1 thread: 0.73 x the run loop; forty-third session)
            for (std::uint64_t s = b; s < e; ++s) {
                __builtin_prefetch(w + cs[s], 1);
                src[s - b] = rows.source_of(cs[s]);
            }
            pj.rule->on_post(k, n, post, w, src.data(), cs + b, e - b);
        }
    }
    if (plasticity) clock.lap(&event_counter::plasticity);
}

namespace {

// simulation.pin_threads: for the run, worker w on the w-th CPU of the calling thread's
// own set (taskset, cgroup cpusets), where that set has a CPU per worker; the calling
// thread (worker 0) gets its set back when the run ends, however it ends. The team's
// threads stay where they were put. Where the set has fewer CPUs than workers, or the
// system has no affinity calls, nothing is pinned.
class pinned_workers {
public:
    pinned_workers(spin_team* team, bool on) {
#if defined(__linux__)
        if (!on || !team) return;
        if (pthread_getaffinity_np(pthread_self(), sizeof saved_, &saved_) != 0) return;
        std::vector<int> cpus;
        for (int c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &saved_)) cpus.push_back(c);
        if (cpus.size() < static_cast<std::size_t>(team->size())) return;
        restore_ = true;
        team->run([&](int w) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpus[static_cast<std::size_t>(w)], &one);
            pthread_setaffinity_np(pthread_self(), sizeof one, &one);  // advice: a refusal leaves the thread where it was
        });
#else
        (void)team;
        (void)on;
#endif
    }
    ~pinned_workers() {
#if defined(__linux__)
        if (restore_) pthread_setaffinity_np(pthread_self(), sizeof saved_, &saved_);
#endif
    }
    pinned_workers(const pinned_workers&) = delete;
    pinned_workers& operator=(const pinned_workers&) = delete;

private:
#if defined(__linux__)
    cpu_set_t saved_{};
#endif
    bool restore_ = false;
};

}  // namespace

run_stats simulation::run(std::uint64_t steps, observer* obs, const std::atomic<bool>* stop,
                          const std::function<void(double)>& progress) {
    auto& m = *impl_;
    run_stats st;
    st.build_seconds = m.build_seconds;
    const auto t0 = std::chrono::steady_clock::now();
    const std::uint64_t first = m.step + 1, last = m.step + steps;
    std::vector<std::vector<float>> sample;
    std::vector<std::uint32_t> merged;
    // progress every report_every steps, from the first: counted down (a division per
    // step showed in COBA's profile)
    const std::uint64_t report_every = std::max<std::uint64_t>(1, steps / 1000);
    std::uint64_t until_report = 1;
    m.part_obs = obs && obs->takes_part_spikes() ? obs : nullptr;
    struct clear_part_obs {
        observer*& p;
        ~clear_part_obs() { p = nullptr; }
    } clear{m.part_obs};

    // Profiling: each part's phases in its events[k], the observers' time per worker.
    const std::size_t n_workers = m.team ? static_cast<std::size_t>(m.team->size()) : 1;
    std::vector<event_counter> worker_clock(n_workers);
    const std::uint64_t tick0 = m.profiling ? profile_ticks() : 0;
    for (auto& e : m.events) e.update = e.deliver = e.plasticity = e.record = 0;

    // 4a. spikes of step s to the observers (serially, one call per population), by worker w
    auto record = [&](std::uint64_t s, std::size_t w) {
        if (!obs) return;
        phase_clock clock{m.profiling ? &worker_clock[w] : nullptr};
        const int par = static_cast<int>(s % spike_steps);
        for (std::size_t p = 0; p < m.pops.size(); ++p) {
            const auto& parts = m.pops[p].spikes[par];
            if (parts.size() == 1) {
                if (!parts[0].ids.empty()) obs->on_spikes(s, p, parts[0].ids.data(), parts[0].ids.size());
            } else {
                merged.clear();
                for (const auto& b : parts) merged.insert(merged.end(), b.ids.begin(), b.ids.end());
                if (!merged.empty()) obs->on_spikes(s, p, merged.data(), merged.size());
            }
        }
        obs->on_step(s);
        clock.lap(&event_counter::record);
    };
    using wall = std::chrono::steady_clock;
    const stall_policy pol = m.stalls;
    std::uint64_t solo_steps = 0, solo_spells = 0, starved_windows = 0;
    // worker 0 alone: part k of another worker, its profile ticks moved to worker 0's
    auto foreign = [&](std::size_t k, auto&& phase) {
        event_counter* e = m.clock_of(k);
        if (!e) return phase();
        const event_counter before = *e;
        phase();
        auto move = [&](std::uint64_t event_counter::*f) {
            const std::uint64_t d = e->*f - before.*f;
            e->*f -= d;
            worker_clock[0].*f += d;
        };
        move(&event_counter::update);
        move(&event_counter::deliver);
        move(&event_counter::plasticity);
        move(&event_counter::record);
    };
    // worker 0 alone: phase(k) for every part k, timed as `field` of its part (unless
    // null), parts of other workers counted for worker 0
    auto every_part = [&](auto&& phase, std::uint64_t event_counter::*field) {
        const auto W_ = static_cast<std::size_t>(m.team->size());
        for (std::size_t k = 0; k < m.part.n_parts; ++k) {
            phase_clock clock{m.clock_of(k)};
            const auto timed = [&] {
                phase(k);
                if (field) clock.lap(field);
            };
            if (k % W_ == 0) timed(); else foreign(k, timed);
        }
    };
    // With a team, the first worker to finish its parts of step n records step n-1 while
    // the others finish theirs (the spikes of step n-1 stay untouched until step n+1).
    // Observers are called one at a time, in step order, from whichever worker that is.
    // Stepping alone (stall_policy): each worker measures, over windows of wall time, how
    // long it waited on a run queue for a CPU (these workers sleep between steps of their
    // own accord, which their CPU time would count as starvation); worker 0, which runs
    // the loop, steps every part itself while one waited more than 1 - min_share of a
    // window. The step is a barrier, so the switch needs no protocol.
    solo_switch& sw = m.solo;
    const bool judged = m.team && !pol.alternate_every;
    std::uint64_t recorded_upto = first - 1;  // the claimer's (job), or worker 0's between steps
    std::uint64_t step_n = 0;
    std::atomic<bool> claimed{false};  // step n-1 is being recorded; reset before each step
    const std::function<void(int)> job = [&](int w) {
        const auto w_ = static_cast<std::size_t>(w);
        if (judged && step_n % solo_switch::look_every == 0) sw.look(w_, wall::now(), false, [] { return thread_wait_ns(); });
        for (std::size_t k = w_; k < m.part.n_parts; k += static_cast<std::size_t>(m.team->size()))
            m.step_part(k, step_n);
        if (step_n > first && !claimed.exchange(true, std::memory_order_relaxed) && step_n - 1 > recorded_upto) {
            record(step_n - 1, w_);
            recorded_upto = step_n - 1;
        }
    };
    // worker 0's decisions (solo_switch): alone or together from step n on
    auto decide_barrier = [&](std::uint64_t n) {
        if (!pol.alternate_every && n % solo_switch::look_every != 0) return;
        if (sw.decide(n, pol.alternate_every ? wall::time_point{} : wall::now()) && sw.alone) ++solo_spells;
    };
    auto loop = [&] {
        if (m.team && sw.start(pol, n_workers, first, 0, 1)) ++solo_spells;  // alone as the last run ended
        for (std::uint64_t n = first; n <= last; ++n) {
            // 4b. sample state before step n (time (n-1)*dt)
            if (obs && !m.recs.empty()) {
                phase_clock clock{m.profiling ? &worker_clock[0] : nullptr};
                for (std::size_t r = 0; r < m.recs.size(); ++r) {
                    const auto& rec = m.recs[r];
                    if ((n - 1) % rec.interval) continue;
                    sample.resize(rec.vars.size());
                    for (std::size_t v = 0; v < rec.vars.size(); ++v) {
                        auto& model = *m.pops[rec.population].model;
                        const auto var = static_cast<std::size_t>(rec.vars[v]);
                        sample[v].resize(rec.neurons.size());
                        const double scale = model.state_scale(var, n - 1);
                        if (const float* x = model.state(var))
                            for (std::size_t i = 0; i < rec.neurons.size(); ++i) sample[v][i] = static_cast<float>(x[rec.neurons[i]] * scale);
                        else if (const double* xd = model.state_f64(var))
                            for (std::size_t i = 0; i < rec.neurons.size(); ++i) sample[v][i] = static_cast<float>(xd[rec.neurons[i]] * scale);
                    }
                    obs->on_sample(n, r, sample);
                }
                clock.lap(&event_counter::record);
            }
            for (auto& p : m.pops) {
                if (p.ring.empty()) continue;  // (a division per population and step, where no ring needs it)
                const std::size_t slot = (n % p.slots) * p.stride;
                for (std::size_t r = 0; r < p.ring.size(); ++r) p.input[r] = p.ring[r].data() + slot;
            }
            if (m.team && (judged || pol.alternate_every)) decide_barrier(n);
            if (!m.team) {
                for (std::size_t k = 0; k < m.part.n_parts; ++k) m.step_part(k, n);
            } else if (sw.alone) {  // every part here, and the records the job would make
                every_part([&](std::size_t k) { m.step_part(k, n); }, nullptr);  // step_part times its phases
                if (n > first && recorded_upto < n - 1) record(n - 1, 0);
                record(n, 0);
                recorded_upto = n;
                ++solo_steps;
            } else {
                step_n = n;
                claimed.store(false, std::memory_order_relaxed);  // published by run()
                m.team->run(job);
            }
            m.step = n;
            if (!m.team) record(n, 0);
            ++st.steps_done;
            if (progress && --until_report == 0) {
                until_report = report_every;
                progress(double(n - first + 1) / double(steps));
            }
            if (stop && stop->load(std::memory_order_relaxed)) {
                st.interrupted = n < last;
                break;
            }
        }
    };
    // Pipelined (every input direct, nothing that reads all parts within a step): one
    // team job for the whole run, and no barrier. Worker w's step n: update its parts;
    // once every worker has updated step n-1, deliver step n-1's spikes into its parts.
    // Its update of step n waits only until every worker has delivered step n-3 and step
    // n-4 is recorded (spikes[n % spike_steps] is then free), so a worker runs up to a
    // step and a delivery ahead (its update of n needs its own delivery of n-1, which
    // needs every update of n-2), and a slower part or a recording does not stall the
    // other worker every step. The
    // operations on each part are those of the step-by-step loop, in the same order: the
    // same spikes. Spikes go to the observers in step order, by whichever worker would
    // otherwise wait. Worker 0 reports progress and reads the stop flag, at the start of
    // a step and before publishing "updated" for it. A worker reaches the start of step
    // n+2 only through its wait in step n+1 for every worker to have updated step n, so
    // it sees a final step that worker 0 stored at the start of step n (release before
    // that "updated n", acquired by the wait): a stop read there ends every worker after
    // step n+1, with no handshake per step. (Reordering that check and that wait would
    // break this.)
    // Alone (stall_policy): where a worker gets too little of the CPUs, worker 0 steps
    // every part from a step s on while the others sleep, and from a step r on all workers
    // step their own parts again. Worker 0 alone decides, at the start of a step n: alone
    // from s = n + lead (a worker may be a step ahead, at n + 1, and reads the word at the
    // start of each step after its wait for every delivery of lead steps back: at n + lead
    // that includes worker 0's delivery of n, so it sees the decision), or together again
    // from r = n (the others sleep until woken). The decision, "from step x on, alone or
    // together" with the opposite before x, is one word; worker 0 changes it only lead
    // steps after the last change took effect, by when every worker has read that
    // change (together: worker 0's delivery at x + 1 needed their updates of x; alone: a
    // worker that has not yet read it still finds its step before x under the opposite).
    // Alone, worker 0 publishes every worker's counters, and waits at its first step for
    // every worker's delivery of s - 1; it decides on r after its delivery of r - 1 into
    // every part, so a worker woken by that decision finds its parts ready. Each part
    // still takes its operations in the same order: the same spikes.
    struct alignas(64) step_counter {
        std::atomic<std::uint64_t> v{0};
    };
    struct aborted {};
    // Rebalancing (balance_policy): the loop runs in segments. Worker 0 ends one after the
    // next step (as a stop would) where the workers' measured times ask for new cuts;
    // the cuts move between segments, on the team, and the next segment goes on from the
    // step after. Each worker's time in its updates and deliveries: busy[w], in ticks.
    struct alignas(64) tick_counter {
        std::atomic<std::uint64_t> v{0};
    };
    auto pipelined_loop = [&] {
        const int W = m.team->size();
        const auto W_ = static_cast<std::size_t>(W);
        const balance_policy bal = m.balancing;
        const bool balancing = bal.enabled && m.can_rebalance();
        std::vector<tick_counter> busy(W_);
        // and its thread's CPU time (ns) at its last look (every 16 steps), where the
        // system gives it: a worker off its CPU for part of a window is starved (the stall
        // policy's case), not slow, and the cuts do not move for it
        std::vector<tick_counter> cpu(W_);
        const bool cpu_clock = balancing && bal.min_cpu_share > 0.0 && thread_cpu_ns() >= 0;
        std::vector<double> shares;  // worker 0's request: the parts' shares of the next cuts
        double cut_s = 0.0;          // what moving the cuts took the last time (s)
        for (std::uint64_t seg_first = first;;) {
          bool rebalance_asked = false, stopped = false;
          std::vector<step_counter> updated(W_), delivered(W_);
          for (std::size_t w = 0; w < W_; ++w) updated[w].v = delivered[w].v = seg_first - 1;
          alignas(64) std::atomic<std::uint64_t> recorded{seg_first - 1};
          alignas(64) std::atomic<std::uint64_t> final_step{last};
          alignas(64) std::atomic<bool> recording{false}, abort{false}, ended{false};
          // 2 x + 1: alone from step x on (together before); 2 x: together from x on. The
          // run starts alone where the last one ended alone (solo_switch).
          // the lag of each update's wait for the deliveries, and of the switch to alone
          constexpr std::uint64_t lead = spike_steps - 1;
          const bool alone_first = sw.start(pol, W_, seg_first, lead, lead);
          if (alone_first) ++solo_spells;
          alignas(64) std::atomic<std::uint64_t> mode{2 * seg_first + (alone_first ? 1 : 0)};
          alignas(64) std::atomic<std::uint32_t> wake{0};  // bumped whenever sleepers must look again
          const bool judged_here = !pol.alternate_every && W > 1;
          auto alone_at = [](std::uint64_t md, std::uint64_t n) { return (n >= md / 2) == bool(md & 1); };
          auto rouse = [&] {
              wake.fetch_add(1, std::memory_order_release);
              wake.notify_all();
          };
          auto least = [](const std::vector<step_counter>& c) {
              std::uint64_t x = ~std::uint64_t(0);
              for (const auto& e : c) x = std::min(x, e.v.load(std::memory_order_acquire));
              return x;
          };
          // records every step that all workers have updated, unless another worker is at it
          auto try_record = [&](std::size_t w) {
              if (!obs || recording.load(std::memory_order_relaxed)) return;
              const std::uint64_t upto = least(updated);
              if (recorded.load(std::memory_order_relaxed) >= upto || recording.exchange(true, std::memory_order_acquire)) return;
              for (std::uint64_t s = recorded.load(std::memory_order_relaxed) + 1; s <= upto; ++s) {
                  record(s, w);
                  recorded.store(s, std::memory_order_release);
              }
              recording.store(false, std::memory_order_release);
          };
          auto wait_until = [&](std::size_t w, auto&& ready) {
              for (unsigned spins = 0; !ready(); ++spins) {
                  if (abort.load(std::memory_order_relaxed)) throw aborted{};
                  try_record(w);
                  if (spins < 4096) ENGRAM_CPU_PAUSE(); else std::this_thread::yield();
              }
          };
          // A run that starts alone (as the last one ended) runs on the caller alone, without
          // waking the others, which would cost two time slices of theirs per run on busy
          // CPUs; where worker 0 tries them together again at a step `handoff`, the team
          // takes the run on from there.
          bool without_team = false, handed = false;
          std::uint64_t from = seg_first, handoff = 0;
          // worker 0's window of the workers' times: its start, and busy[] and cpu[] then.
          // A segment's first window opens at worker 0's first look after every worker
          // has updated a step of it (each stores its CPU time as it starts the segment):
          // from the segment's start it would count the workers' wake-up, and the CPU
          // times they stored in the segment before.
          wall::time_point window_start = wall::now();
          bool window_open = false;
          std::vector<std::uint64_t> busy_base(W_), cpu_base(W_);
          const std::vector<double> work = balancing ? part_work(m.spec, m.part) : std::vector<double>{};
          auto new_window = [&](wall::time_point now) {
              window_start = now;
              window_open = true;
              for (std::size_t w = 0; w < W_; ++w) {
                  busy_base[w] = busy[w].v.load(std::memory_order_relaxed);
                  cpu_base[w] = cpu[w].v.load(std::memory_order_relaxed);
              }
          };
          // worker 0 at the start of step n (not stopping, every part with its worker): new
          // cuts where the window's times ask for them, the segment then ending after n + 1
          auto consider = [&](std::uint64_t n, wall::time_point now) {
              const std::size_t P = m.part.n_parts;
              if (bal.every) {
                  if ((n + 1 - seg_first) % bal.every) return;
                  shares.assign(P, 0.0);
                  for (std::size_t k = 0; k < P; ++k) shares[k] = 1.0 + static_cast<double>((n / bal.every + 3 * k) % 5);
              } else {
                  if (sw.alone) return new_window(now);  // (a window of the workers together)
                  if (!window_open) {
                      if (least(updated) >= seg_first) new_window(now);
                      return;
                  }
                  if (now - window_start < std::chrono::duration<double>(bal.window_s)) return;
                  const double window = std::chrono::duration<double>(now - window_start).count();
                  if (cpu_clock)  // every worker on its CPU for min_cpu_share of the window or more
                      for (std::size_t w = 0; w < W_; ++w)
                          if (static_cast<double>(cpu[w].v.load(std::memory_order_relaxed) - cpu_base[w]) < bal.min_cpu_share * 1e9 * window) {
                              ++starved_windows;
                              return new_window(now);
                          }
                  // each worker's work (parts w, w + W, ...) per tick of its time: its speed
                  std::vector<double> speed(W_, 0.0), took(W_, 0.0);
                  double all_work = 0.0, all_speed = 0.0, slowest = 0.0;
                  for (std::size_t w = 0; w < W_; ++w) {
                      took[w] = static_cast<double>(busy[w].v.load(std::memory_order_relaxed) - busy_base[w]);
                      double wk = 0.0;
                      for (std::size_t k = w; k < P; k += W_) wk += work[k];
                      if (!(took[w] > 0.0) || !(wk > 0.0)) return new_window(now);
                      speed[w] = wk / took[w];
                      all_work += wk;
                      all_speed += speed[w];
                      slowest = std::max(slowest, took[w]);
                  }
                  // the slowest worker's time against all of it spread to the speeds, and
                  // what that would save in a window like this one against what moving
                  // the cuts took the last time
                  const double even = all_work / all_speed;
                  if (slowest <= (1.0 + bal.min_gain) * even || (1.0 - even / slowest) * window < 2.0 * cut_s)
                      return new_window(now);
                  shares.assign(P, 0.0);
                  for (std::size_t k = 0; k < P; ++k) shares[k] = speed[k % W_];
              }
              rebalance_asked = true;
              final_step.store(std::min(n + 1, last), std::memory_order_release);
          };
          const std::function<void(int)> pipe_job = [&](int w) {
              const auto w_ = static_cast<std::size_t>(w);
              bool stopping = false;
              // The counters only grow: what this worker last read of them stands until it
              // no longer suffices, and only then is read again (each read of a line another
              // core has written since is a transfer between cores).
              std::uint64_t seen_updated = seg_first - 1, seen_delivered = seg_first - 1, seen_recorded = seg_first - 1;
              std::uint64_t next_report = 1;  // worker 0: progress after steps first, first + report_every, ...
              // every worker delivered n-lag, and step n-spike_steps recorded
              auto delivered_and_recorded = [&](std::uint64_t n, std::uint64_t lag) {
                  if (seen_delivered + lag < n) seen_delivered = least(delivered);
                  if (obs && seen_recorded + spike_steps < n) seen_recorded = recorded.load(std::memory_order_acquire);
                  return seen_delivered + lag >= n && (!obs || seen_recorded + spike_steps >= n);
              };
              auto all_updated = [&](std::uint64_t n) {  // every worker updated n-1
                  if (seen_updated + 1 < n) seen_updated = least(updated);
                  return seen_updated + 1 >= n;
              };
              // worker 0 at the start of step n (solo_switch): alone from n + lead, or together from n
              auto decide = [&](std::uint64_t n, wall::time_point now) {
                  if (!sw.decide(n, now)) return;
                  mode.store(2 * sw.since_step + (sw.alone ? 1 : 0), std::memory_order_release);
                  if (sw.alone) ++solo_spells; else if (without_team) handed = true, handoff = n; else rouse();
              };
              // a worker other than 0 from step n on, while worker 0 steps alone: false where
              // the run ended meanwhile, else true with n the step it goes on from
              auto sleep_through = [&](std::uint64_t& n) {
                  while (true) {
                      const std::uint32_t g = wake.load(std::memory_order_acquire);
                      if (abort.load(std::memory_order_relaxed)) throw aborted{};
                      const std::uint64_t md = mode.load(std::memory_order_acquire);
                      if (!(md & 1)) {
                          // together from here (worker 0 stored that after its delivery of n - 1),
                          // up to the run's last step even where worker 0 has ended meanwhile
                          n = md / 2;
                          sw.drop(w_);  // the time asleep is no starvation: a new window
                          return true;
                      }
                      if (ended.load(std::memory_order_acquire)) {  // alone to the end
                          sw.drop(w_);
                          return false;
                      }
                      wake.wait(g, std::memory_order_acquire);
                  }
              };
              if (cpu_clock) cpu[w_].v.store(static_cast<std::uint64_t>(std::max<std::int64_t>(0, thread_cpu_ns())), std::memory_order_relaxed);
              try {
                  for (std::uint64_t n = from;; ++n) {
                      if (w == 0 && !stopping) {
                          if (n > first && progress && --next_report == 0) {
                              next_report = report_every;
                              progress(double(n - first) / double(steps));
                          }
                          // step n+1 may already have started elsewhere: a stop ends the run after it
                          if (stop && stop->load(std::memory_order_relaxed)) {
                              stopping = stopped = true;
                              final_step.store(std::min(n + 1, last), std::memory_order_release);
                          }
                      }
                      if (final_step.load(std::memory_order_acquire) < n) break;
                      if (judged_here && n % solo_switch::look_every == 0) {  // the wall clock every 16 steps
                          const auto now = wall::now();
                          sw.look(w_, now, true, [] { return thread_cpu_ns(); });
                          if (cpu_clock) cpu[w_].v.store(static_cast<std::uint64_t>(std::max<std::int64_t>(0, thread_cpu_ns())), std::memory_order_relaxed);
                          if (w == 0 && !stopping) decide(n, now);
                          if (w == 0 && !stopping && balancing && !bal.every && !rebalance_asked) consider(n, now);
                      } else if (pol.alternate_every && w == 0 && !stopping) {
                          decide(n, {});
                      }
                      if (bal.every && w == 0 && !stopping && balancing && !rebalance_asked) consider(n, {});
                      if (without_team && handed) return;  // worker 0 hands the run on to the team
                      if (w == 0 && sw.alone && n >= sw.since_step) {
                          // every part, every worker's counters; at the first such step every
                          // worker's delivery of n - 1 first
                          wait_until(0, [&] { return delivered_and_recorded(n, 1); });
                          every_part([&](std::size_t k) { m.update_part(k, n); }, &event_counter::update);
                          for (auto& c : updated) c.v.store(n, std::memory_order_release);
                          every_part([&](std::size_t k) { m.deliver_direct(k, n); }, &event_counter::deliver);
                          for (auto& c : delivered) c.v.store(n, std::memory_order_release);
                          try_record(0);
                          ++solo_steps;
                          continue;
                      }
                      wait_until(w_, [&] { return delivered_and_recorded(n, lead); });
                      if (w != 0 && alone_at(mode.load(std::memory_order_acquire), n)) {
                          if (!sleep_through(n)) break;
                          --n;  // the loop's ++n: step n again, together
                          continue;
                      }
                      const std::uint64_t u0 = balancing ? profile_ticks() : 0;
                      for (std::size_t k = w_; k < m.part.n_parts; k += W_) {
                          phase_clock clock{m.clock_of(k)};
                          m.update_part(k, n);
                          clock.lap(&event_counter::update);
                      }
                      updated[w_].v.store(n, std::memory_order_release);
                      const std::uint64_t u1 = balancing ? profile_ticks() : 0;
                      wait_until(w_, [&] { return all_updated(n); });
                      const std::uint64_t d0 = balancing ? profile_ticks() : 0;
                      for (std::size_t k = w_; k < m.part.n_parts; k += W_) {
                          phase_clock clock{m.clock_of(k)};
                          m.deliver_direct(k, n);
                          clock.lap(&event_counter::deliver);
                      }
                      delivered[w_].v.store(n, std::memory_order_release);
                      if (balancing)  // only this worker writes it
                          busy[w_].v.store(busy[w_].v.load(std::memory_order_relaxed) + (u1 - u0) + (profile_ticks() - d0),
                                           std::memory_order_relaxed);
                  }
              } catch (const aborted&) {
                  return;  // another worker failed; the team rethrows its error
              } catch (...) {
                  abort.store(true, std::memory_order_relaxed);
                  rouse();
                  throw;
              }
              if (w == 0) {  // sleepers wake to the end
                  ended.store(true, std::memory_order_release);
                  rouse();
              }
          };
          if (alone_first && judged_here) {
              without_team = true;
              pipe_job(0);
              without_team = false;
              if (handed) {
                  from = handoff;
                  m.team->run(pipe_job);
              }
          } else {
              m.team->run(pipe_job);
          }
          const std::uint64_t end = final_step.load();
          for (std::uint64_t s = recorded.load() + 1; s <= end; ++s) record(s, 0);
          m.step = end;
          st.steps_done = end + 1 - first;
          st.interrupted = end < last;
          st.solo_steps = solo_steps;
          st.solo_spells = solo_spells;
          st.starved_windows = starved_windows;
          if (!rebalance_asked || stopped || end >= last) break;
          // the next segment, from the step after, with the cuts moved (worker 0's window
          // of the stall policy closed meanwhile, as between two runs)
          sw.end();
          const auto t_cut = wall::now();
          m.repartition(balance_contiguous(m.spec, m.part.n_parts, shares));
          ++st.rebalances;
          cut_s = std::chrono::duration<double>(wall::now() - t_cut).count();
          st.rebalance_seconds += cut_s;
          seg_first = end + 1;
        }
        if (progress) progress(double(st.steps_done) / double(steps));
    };
    const pinned_workers pinned(m.team.get(), m.spec.simulation.pin_threads);
    // The time from the end of the step loop (what the observers do at the run's end
    // included) to the next run's loop is in no worker's window.
    struct ends_loop {
        solo_switch& sw;
        bool done = false;
        void now() {
            sw.end();
            done = true;
        }
        ~ends_loop() {
            if (!done) sw.end();
        }
    } ends{m.solo};
    if (m.pipelined() && steps > 0) {
        const flush_denormals ftz;
        pipelined_loop();
        ends.now();
    } else {
        {
            const flush_denormals ftz;  // as the workers do: same arithmetic on every thread
            loop();
            ends.now();
        }
        if (m.team && st.steps_done > 0 && recorded_upto < m.step) record(m.step, 0);
        st.solo_steps = solo_steps;
        st.solo_spells = solo_spells;
    }
    if (obs) obs->on_run_end();  // within the run's time: an observer that buffers finishes here
    if (progress) progress(double(st.steps_done) / double(std::max<std::uint64_t>(1, steps)));
    st.run_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (auto& e : m.events) { st.synaptic_events += e.n; e.n = 0; }
    if (m.profiling) {
        // ticks to seconds over this run (the time-stamp counter runs at a fixed rate)
        const std::uint64_t ticks = profile_ticks() - tick0;
        const double per_tick = ticks > 0 ? st.run_seconds / static_cast<double>(ticks) : 0.0;
        st.profile.assign(n_workers, worker_profile{});
        for (std::size_t k = 0; k < m.part.n_parts; ++k) {
            auto& p = st.profile[k % n_workers];  // worker w steps parts w, w + W, ...
            const auto& e = m.events[k];
            p.update += static_cast<double>(e.update) * per_tick;
            p.deliver += static_cast<double>(e.deliver) * per_tick;
            p.plasticity += static_cast<double>(e.plasticity) * per_tick;
            p.record += static_cast<double>(e.record) * per_tick;
        }
        for (std::size_t w = 0; w < n_workers; ++w) {
            auto& p = st.profile[w];
            p.update += static_cast<double>(worker_clock[w].update) * per_tick;  // parts of others, stepped alone
            p.deliver += static_cast<double>(worker_clock[w].deliver) * per_tick;
            p.record += static_cast<double>(worker_clock[w].record) * per_tick;
            p.wait = std::max(0.0, st.run_seconds - (p.update + p.deliver + p.plasticity + p.record));
        }
    }
    return st;
}

void simulation::set_profiling(bool on) { impl_->profiling = on; }
void simulation::set_balance_policy(const balance_policy& p) {
    if (!(p.window_s > 0.0) || !std::isfinite(p.window_s))
        throw error("balance_policy.window_s must be positive (got " + std::to_string(p.window_s) + ")");
    if (!(p.min_gain >= 0.0)) throw error("balance_policy.min_gain must not be negative (got " + std::to_string(p.min_gain) + ")");
    if (!(p.min_cpu_share >= 0.0 && p.min_cpu_share <= 1.0))
        throw error("balance_policy.min_cpu_share must be within [0, 1] (got " + std::to_string(p.min_cpu_share) + ")");
    impl_->balancing = p;
}
bool simulation::rebalance(const std::vector<double>& shares) {
    auto& m = *impl_;
    if (!m.can_rebalance()) return false;
    return m.repartition(balance_contiguous(m.spec, m.part.n_parts, shares));
}
void simulation::set_stall_policy(const stall_policy& p) {
    const auto refuse = [](const char* field, double value, const char* need) {
        char got[32];
        std::snprintf(got, sizeof got, "%g", value);
        throw error("stall_policy." + std::string(field) + " must be " + need + " (got " + got + ")");
    };
    if (!(p.window_s > 0.0) || !std::isfinite(p.window_s)) refuse("window_s", p.window_s, "a positive number of seconds");
    if (!(p.min_share >= 0.0 && p.min_share <= 1.0)) refuse("min_share", p.min_share, "between 0 and 1");
    if (!(p.retry_s > 0.0) || !std::isfinite(p.retry_s)) refuse("retry_s", p.retry_s, "a positive number of seconds");
    if (!(p.max_retry_s >= p.retry_s) || !std::isfinite(p.max_retry_s))
        refuse("max_retry_s", p.max_retry_s, "at least retry_s, and finite");
    impl_->stalls = p;
    impl_->solo.reset();  // together again, and the new policy's retry_s
}
bool simulation::profiling() const { return impl_->profiling; }
std::uint64_t simulation::current_step() const { return impl_->step; }
double simulation::dt() const { return impl_->dt; }
const network_spec& simulation::spec() const { return impl_->spec; }
int simulation::threads() const { return impl_->threads; }
std::size_t simulation::parts() const { return impl_->part.n_parts; }
const partition& simulation::partitioned() const { return impl_->part; }
bool simulation::pipelined() const { return impl_->pipelined(); }
int simulation::workers() const { return impl_->workers; }
int simulation::cpus() const { return impl_->cpus; }
std::uint64_t simulation::min_neurons_per_worker() const { return impl_->min_per_worker; }
std::uint64_t simulation::size_for_workers() const { return impl_->size_for_workers; }
double simulation::build_seconds() const { return impl_->build_seconds; }
std::size_t simulation::synapse_count(std::size_t j) const { return impl_->projs.at(j).rows.size(); }
std::size_t simulation::synapse_count() const {
    std::size_t n = 0;
    for (const auto& p : impl_->projs) n += p.rows.size();
    return n;
}
std::size_t simulation::connectivity_bytes() const {
    std::size_t n = 0;
    for (const auto& p : impl_->projs) n += p.rows.bytes();
    for (const auto& t : impl_->row_starts) n += t.size() * sizeof(std::uint32_t);
    return n;
}
synapse_list simulation::synapses(std::size_t j) const { return impl_->projs.at(j).rows.to_list(); }

std::vector<float> simulation::weights(std::size_t j) const {
    const auto& r = impl_->projs.at(j).rows;
    std::vector<float> w;
    w.reserve(r.size());
    for (std::uint32_t i = 0; i < r.n_pre; ++i)
        for (const auto& p : r.parts)
            for (std::uint64_t s = p.row_begin[i]; s < p.row_begin[i + 1]; ++s) w.push_back(p.weight.empty() ? r.weight0 : p.weight[s]);
    return w;
}

void simulation::set_weights(std::size_t j, const std::vector<float>& w) {
    auto& r = impl_->projs.at(j).rows;
    const std::string& name = impl_->spec.projections.at(j).name;
    if (w.size() != r.size())
        throw spec_error("projections." + name, "set_weights: " + std::to_string(w.size()) + " weights for " + std::to_string(r.size()) + " synapses");
    for (const auto& p : r.parts)
        if (p.weight.empty() && p.synapses() > 0)
            throw spec_error("projections." + name, "set_weights: the projection stores one shared weight (only plastic or per-synapse-weight projections can be changed)");
    std::size_t at = 0;
    for (std::uint32_t i = 0; i < r.n_pre; ++i)
        for (auto& p : r.parts)
            for (std::uint64_t s = p.row_begin[i]; s < p.row_begin[i + 1]; ++s) p.weight[s] = w[at++];
}

bool simulation::plastic(std::size_t j) const { return impl_->projs.at(j).rule != nullptr; }

double simulation::modulator_value(std::size_t m) const {
    if (impl_->mods.empty() || m >= impl_->mods[0].size()) throw spec_error("modulators", "no modulator " + std::to_string(m));
    return impl_->mods[0][m]->value();
}

void simulation::reset_state(bool keep_traces) {
    auto& m = *impl_;
    for (std::size_t p = 0; p < m.pops.size(); ++p) {
        auto& pop = m.pops[p];
        m.init_state(p);
        pop.model->reset();
        for (auto& rb : pop.ring) std::fill(rb.begin(), rb.end(), 0.0f);
        for (auto& par : pop.spikes)
            for (auto& b : par) b.ids.clear();
    }
    for (auto& pj : m.projs)
        if (pj.rule) pj.rule->reset(m.step + 1, keep_traces);
    for (auto& part : m.mods)
        for (auto& mod : part) mod->reset();
}
std::vector<double> simulation::state(std::size_t pop, const std::string& var) const {
    const auto& p = impl_->pops.at(pop);
    const int v = p.info->state_index(var);
    if (v < 0) throw spec_error("population '" + impl_->spec.populations[pop].name + "'", "no state variable '" + var + "'");
    std::vector<double> out;
    const float* x = p.model->state(static_cast<std::size_t>(v));
    const double* xd = x ? nullptr : p.model->state_f64(static_cast<std::size_t>(v));
    if (x || xd) {
        out.resize(p.size);
        for (std::uint32_t i = 0; i < p.size; ++i) {
            const std::uint32_t at = impl_->slot(pop, i);
            out[i] = x ? static_cast<double>(x[at]) : xd[at];
        }
    }
    const double scale = p.model->state_scale(static_cast<std::size_t>(v), impl_->step);
    if (scale != 1.0)
        for (double& y : out) y *= scale;
    return out;
}

}  // namespace engram
