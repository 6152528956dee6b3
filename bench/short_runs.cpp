// Many short runs of one simulation (run() called again and again, as a model that
// presents one sample per run does) beside BUSY spinning threads, three ways: on one
// thread; on 2 threads with the stall state as engram carries it from run to run
// ("carried"); and on 2 threads with each run starting afresh, together and with new
// windows ("fresh", what every run did before the thirty-third session; made here by
// setting the policy again before each run). Prints wall seconds, the ratio to one
// thread and the steps stepped alone.
//
// Build (cmake -DENGRAM_BUILD_KERNEL_BENCH=ON): build/neurons/short_runs
// Run: build/neurons/short_runs [RUNS [STEPS [BUSY [EXPERIMENT]]]]
//      (default: 1000 runs of 100 steps, 2 busy threads, experiments/coba_large.yaml
//      without spike recording)
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "engram/core/config.hpp"
#include "engram/core/engine.hpp"
#include "engram/neurons/models.hpp"

int main(int argc, char** argv) {
    using namespace engram;
    try {
        const int runs = argc > 1 ? std::stoi(argv[1]) : 1000;
        const std::uint64_t steps = argc > 2 ? std::stoull(argv[2]) : 100;
        const int busy_threads = argc > 3 ? std::stoi(argv[3]) : 2;
        const std::string path = argc > 4 ? argv[4] : "experiments/coba_large.yaml";
        model_registry reg;
        register_builtin_models(reg);
        const auto ex = load_experiment(path, reg, {"record.spikes=none"});
        struct result {
            double seconds;
            std::uint64_t alone;
        };
        const auto measure = [&](int threads, bool fresh) {
            simulation sim(ex.spec, reg, threads);
            std::atomic<bool> done{false};
            std::vector<std::thread> busy;
            for (int i = 0; i < busy_threads; ++i)
                busy.emplace_back([&] {
                    volatile std::uint64_t x = 0;
                    while (!done.load(std::memory_order_relaxed)) x = x + 1;
                });
            result r{0.0, 0};
            const auto t0 = std::chrono::steady_clock::now();
            for (int k = 0; k < runs; ++k) {
                if (fresh) sim.set_stall_policy(stall_policy{});
                r.alone += sim.run(steps, nullptr).solo_steps;
            }
            r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            done = true;
            for (auto& t : busy) t.join();
            return r;
        };
        const result one = measure(1, false), carried = measure(2, false), fresh = measure(2, true);
        std::printf("short_runs: %s, %d runs of %llu steps beside %d busy threads\n", path.c_str(), runs,
                    static_cast<unsigned long long>(steps), busy_threads);
        const auto row = [&](const char* name, const result& r) {
            std::printf("  %-28s %8.3f s  %5.2f x one thread  %llu of %llu steps alone\n", name, r.seconds, r.seconds / one.seconds,
                        static_cast<unsigned long long>(r.alone), static_cast<unsigned long long>(runs * steps));
        };
        row("1 thread", one);
        row("2 threads, state carried", carried);
        row("2 threads, each run afresh", fresh);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "short_runs: %s\n", e.what());
        return 1;
    }
}
