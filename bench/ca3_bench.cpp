// CA3 memory measurements (docs/ca3.md, "Results"):
//   ca3_bench scale [max_seconds]   largest n, m answering every operation correctly, time per operation
//   ca3_bench one N M                one size (CA3_BENCH_VERBOSE=1 prints the first wrong
//                                    answers; CA3_BENCH_GAP=ms idles that long before each operation)
//   ca3_bench fragment              recall accuracy as the content fragment shrinks from all bits to one
// Built with -DENGRAM_BUILD_CA3_BENCH=ON.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "engram/ca3/experiment.hpp"
#include "engram/ca3/memory.hpp"
#include "engram/core/engine.hpp"

using namespace engram::ca3;
using bits = std::vector<std::uint32_t>;
using clk = std::chrono::steady_clock;

namespace {

bits random_content(std::mt19937& rng, std::size_t m, double p) {
    bits b;
    std::bernoulli_distribution on(p);
    for (std::uint32_t i = 0; i < m; ++i)
        if (on(rng)) b.push_back(i);
    if (b.empty()) b.push_back(static_cast<std::uint32_t>(rng() % m));
    return b;
}

struct tally {
    std::size_t ops = 0, correct = 0, wrong_answer = 0, wrong_timing = 0;
    double build_s = 0, run_s = 0;
};

// Learn every cue, recall every cue, recall every bit alone, overwrite every cue with new
// contents, and recall everything again: 2 (2n + m) operations at the paper's cadence.
tally scale_run(std::size_t n, std::size_t m, std::uint32_t seed) {
    tally t;
    std::mt19937 rng(seed);
    const auto t0 = clk::now();
    memory mem(n, m);
    t.build_s = std::chrono::duration<double>(clk::now() - t0).count();
    reference_memory ref(n, m);
    const double gap = std::getenv("CA3_BENCH_GAP") ? std::atof(std::getenv("CA3_BENCH_GAP")) : 0.0;
    auto apply = [&](const operation& op) {
        if (gap > 0) mem.wait(gap);
        const auto a = clk::now();
        const answer got = mem.run(op);
        t.run_s += std::chrono::duration<double>(clk::now() - a).count();
        const answer want = ref.apply(op);
        ++t.ops;
        const bool same = got.cues == want.cues && got.content == want.content, timed = timing_ok(got);
        t.correct += same && timed;
        t.wrong_answer += !same;
        t.wrong_timing += !timed;
        if ((!same || !timed) && std::getenv("CA3_BENCH_VERBOSE") && t.wrong_answer + t.wrong_timing <= 5)
            std::printf("# op %zu %s cue %d: got cues %s content %zu bits (lat %d/%d), expected cues %s content %zu bits\n", t.ops - 1,
                        name(op.kind), op.cue, format_bits(got.cues).c_str(), got.content.size(), got.cue_latency,
                        got.content_latency, format_bits(want.cues).c_str(), want.content.size());
    };
    for (int round = 0; round < 2; ++round) {
        for (std::uint32_t c = 0; c < n; ++c) apply({op_kind::learn, static_cast<int>(c), random_content(rng, m, 0.25), -1.0});
        for (std::uint32_t c = 0; c < n; ++c) apply({op_kind::recall_cue, static_cast<int>(c), {}, -1.0});
        for (std::uint32_t b = 0; b < m; ++b) apply({op_kind::recall_content, -1, {b}, -1.0});
    }
    return t;
}

int scale(double max_seconds) {
    std::printf("%6s %6s %9s %7s %9s %9s %10s %11s %12s\n", "n", "m", "neurons", "ops", "correct", "wrong", "build_s",
                "us_per_op", "us_per_step");
    const std::size_t ns[] = {5, 16, 64, 256, 1024, 2048};
    const std::size_t ms[] = {10, 64, 256, 1024, 2048};
    for (std::size_t n : ns)
        for (std::size_t m : ms) {
            const auto t0 = clk::now();
            const tally t = scale_run(n, m, 11);
            const double steps = static_cast<double>(2 * (n * learn_steps + n * recall_steps + m * recall_steps));
            std::printf("%6zu %6zu %9zu %7zu %9zu %4zu/%-4zu %10.3f %11.1f %12.2f\n", n, m, 3 * n + 4 * m + 1 + 2 * (n + m), t.ops,
                        t.correct, t.wrong_answer, t.wrong_timing, t.build_s, 1e6 * t.run_s / double(t.ops),
                        1e6 * t.run_s / steps);
            std::fflush(stdout);
            if (std::chrono::duration<double>(clk::now() - t0).count() > max_seconds) {
                std::printf("# stopping: (%zu, %zu) took more than %.0f s\n", n, m, max_seconds);
                return 0;
            }
        }
    return 0;
}

// For each fragment size k: every cue recalled by content from a random k-bit subset of
// its stored content. exact: the answer equals the ideal memory's (every cue sharing a
// bit); own: the cue the fragment came from is among the answer; cues: mean answer size.
int fragment() {
    const std::size_t n = 16, m = 32;
    for (int orthogonal = 1; orthogonal >= 0; --orthogonal)
        for (int freeze = 1; freeze >= 0; --freeze) {
            std::mt19937 rng(3);
            parameters p;
            p.freeze_during_recall = freeze;
            memory mem(n, m, p);
            reference_memory ref(n, m);
            std::vector<bits> stored(n);
            for (std::uint32_t c = 0; c < n; ++c) {
                if (orthogonal && c >= m / 4) continue;  // 8 cues of 4 disjoint bits; the others stay empty
                if (orthogonal) stored[c] = {4 * c, 4 * c + 1, 4 * c + 2, 4 * c + 3};
                else stored[c] = random_content(rng, m, 0.25);
                const operation op{op_kind::learn, static_cast<int>(c), stored[c], -1.0};
                mem.run(op);
                ref.apply(op);
            }
            std::size_t kmax = 0;
            for (const auto& s : stored) kmax = std::max(kmax, s.size());
            std::printf("# %s contents (%zu cues x %zu bits, %s), plasticity during recall: %s\n",
                        orthogonal ? "orthogonal" : "random non-orthogonal (p = 0.25)", n, m,
                        orthogonal ? "8 cues of 4 disjoint bits" : "mean 8 bits each", freeze ? "frozen (default)" : "on (as in the paper)");
            std::printf("%4s %7s %8s %8s %8s %9s\n", "k", "probes", "exact", "own", "cues", "ideal");
            for (std::size_t k = kmax; k >= 1; --k) {
                std::size_t probes = 0, exact = 0, own = 0, cues = 0, ideal = 0;
                for (std::uint32_t c = 0; c < n; ++c) {
                    if (stored[c].size() < k) continue;  // (never learned, or fewer bits)
                    bits f = stored[c];
                    std::shuffle(f.begin(), f.end(), rng);
                    f.resize(k);
                    std::sort(f.begin(), f.end());
                    const operation op{op_kind::recall_content, -1, f, -1.0};
                    const answer got = mem.run(op), want = ref.apply(op);
                    ++probes;
                    exact += got.cues == want.cues;
                    own += std::find(got.cues.begin(), got.cues.end(), c) != got.cues.end();
                    cues += got.cues.size();
                    ideal += want.cues.size();
                }
                std::printf("%4zu %7zu %8.3f %8.3f %8.2f %9.2f\n", k, probes, double(exact) / double(probes),
                            double(own) / double(probes), double(cues) / double(probes), double(ideal) / double(probes));
            }
        }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "scale") return scale(argc > 2 ? std::atof(argv[2]) : 120.0);
    if (mode == "fragment") return fragment();
    if (mode == "one" && argc > 3) {
        const tally t = scale_run(std::strtoul(argv[2], nullptr, 10), std::strtoul(argv[3], nullptr, 10), 11);
        std::printf("ops %zu correct %zu wrong answer %zu wrong timing %zu, %.1f us per op\n", t.ops, t.correct, t.wrong_answer,
                    t.wrong_timing, 1e6 * t.run_s / double(t.ops));
        return 0;
    }
    std::fprintf(stderr, "usage: ca3_bench scale [max_seconds] | ca3_bench fragment\n");
    return 2;
}
