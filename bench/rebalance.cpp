// Moving the cuts between parts during a run (simulation.rebalance, balance_policy):
// one experiment built twice on T threads, once with the policy off and once on, run
// REPEATS rounds by turns (the order alternating between rounds; each round from the
// initial state, and with the cuts as built), without spike recording. With
// --spin US, every worker but worker 0 is held up for US microseconds of busy CPU time
// each time it hands a population's spikes of its part to an observer (inside its
// update: a core slower than the others, as a hybrid CPU's efficiency core or a vCPU
// whose host core is shared); without it, the machine's own differences. Prints the
// median run loop of each side, the median of the per-round ratios (on / off) with the
// rounds in which moving the cuts was faster, how often the cuts moved and what that
// took, and whether both sides gave the same spikes.
//
// Build (cmake -DENGRAM_BUILD_KERNEL_BENCH=ON): build/neurons/rebalance
// Run: build/neurons/rebalance [--threads T] [--repeats R] [--spin US] [EXPERIMENT [--set KEY=VALUE]...]
//      (default: 2 threads, 9 rounds, no spin, experiments/coba_large.yaml for 3 s)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "engram/core/config.hpp"
#include "engram/core/engine.hpp"
#include "engram/neurons/models.hpp"

namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n == 0 ? 0.0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

// The spikes of a run, in order (to compare the two sides), and the slow core.
struct spikes_and_spin : engram::observer {
    std::chrono::microseconds spin{0};
    std::thread::id caller = std::this_thread::get_id();
    std::vector<std::uint64_t> seen;  // (step << 32 | population << 28 | neuron), population < 16
    void on_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t n) override {
        for (std::size_t i = 0; i < n; ++i) seen.push_back(step << 32 | std::uint64_t(pop) << 28 | ids[i]);
    }
    bool takes_part_spikes() const override { return spin.count() > 0; }
    void on_part_spikes(std::uint64_t, std::size_t, const std::uint32_t*, std::size_t) override {
        if (std::this_thread::get_id() == caller) return;
        const auto until = std::chrono::steady_clock::now() + spin;
        while (std::chrono::steady_clock::now() < until) {
        }
    }
};

int usage() {
    std::fprintf(stderr, "usage: rebalance [--threads T] [--repeats R] [--spin US] [EXPERIMENT [--set KEY=VALUE]...]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace engram;
    try {
        int threads = 2, repeats = 9;
        long spin_us = 0;
        std::string path = "experiments/coba_large.yaml";
        std::vector<std::string> sets = {"simulation.duration=3s", "record.spikes=none"};
        auto number = [&](int& i, long least) {
            if (i + 1 >= argc) throw std::invalid_argument(std::string(argv[i]) + " needs a number");
            char* end = nullptr;
            const long v = std::strtol(argv[++i], &end, 10);
            if (*end || v < least)
                throw std::invalid_argument(std::string(argv[i - 1]) + " needs a whole number of at least " + std::to_string(least) + ", got '" +
                                            argv[i] + "'");
            return v;
        };
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            if (a == "--threads") threads = static_cast<int>(number(i, 2));
            else if (a == "--repeats") repeats = static_cast<int>(number(i, 1));
            else if (a == "--spin") spin_us = number(i, 0);
            else if (a == "--set" && i + 1 < argc) sets.push_back(argv[++i]);
            else if (a.rfind("--", 0) != 0) path = a;
            else return usage();
        }
        model_registry reg;
        register_builtin_models(reg);
        const auto ex = load_experiment(path, reg, sets);
        if (ex.spec.populations.size() > 16) throw std::invalid_argument("at most 16 populations");
        const auto steps = steps_for(ex.spec.simulation.duration, ex.spec.simulation.dt);
        simulation off(ex.spec, reg, threads), sim(ex.spec, reg, threads);
        balance_policy on;
        on.enabled = true;
        sim.set_balance_policy(on);
        if (!sim.pipelined()) throw std::invalid_argument(path + ": its workers meet every step, and only workers a step apart move the cuts");
        std::printf("rebalance: %s, %.0f ms simulated, %d rounds, %d workers, %s\n", path.c_str(), ex.spec.simulation.duration, repeats,
                    sim.workers(), spin_us ? ("workers but 0 held up " + std::to_string(spin_us) + " us per population's part spikes").c_str()
                                           : "no worker held up");
        std::vector<double> loop[2], ratio;
        std::uint64_t moves = 0;
        double moving = 0.0;
        bool same = true;
        int faster = 0;
        for (int r = 0; r < repeats; ++r) {
            double t[2] = {0, 0};
            std::vector<std::uint64_t> spikes[2];
            for (int j = 0; j < 2; ++j) {
                const int side = (r % 2) ? 1 - j : j;  // 0: off, 1: on; the order alternates
                simulation& s = side ? sim : off;
                s.reset_state();
                if (side) sim.rebalance({});  // the cuts as built
                spikes_and_spin obs;
                obs.spin = std::chrono::microseconds(spin_us);
                const auto t0 = std::chrono::steady_clock::now();
                const run_stats st = s.run(steps, &obs);
                t[side] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                if (side == 1) {
                    moves += st.rebalances;
                    moving += st.rebalance_seconds;
                }
                spikes[side] = std::move(obs.seen);
            }
            same = same && spikes[0] == spikes[1];
            loop[0].push_back(t[0]);
            loop[1].push_back(t[1]);
            ratio.push_back(t[1] / t[0]);
            faster += t[1] < t[0];
        }
        std::printf("run loop, off: %.4f s, on: %.4f s (medians); on / off %.3f (median of rounds), on faster in %d of %d\n",
                    median(loop[0]), median(loop[1]), median(ratio), faster, repeats);
        std::printf("the cuts moved %.1f times a run (%.1f ms a run); spikes of both sides identical: %s\n",
                    static_cast<double>(moves) / repeats, moving * 1e3 / repeats, same ? "yes" : "NO");
        return same ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rebalance: %s\n", e.what());
        return 1;
    }
}
