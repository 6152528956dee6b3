// Two independent 1-thread simulations of one experiment in one process, one after the
// other ("apart") and on two threads at once ("together"): what two threads of one
// process get from this machine's two cores when they share nothing, to set beside
// engram's own two workers, which step one network together (bench/threads.sh).
//
// On the 2-core EPYC VM of the twenty-ninth session, where the host at times puts the two
// vCPUs far apart (bench/lockstep.c --pingpong), "together" kept its speed in both
// placements, while a 2-thread run of the same network did not (docs/performance.md).
//
// Build (cmake -DENGRAM_BUILD_KERNEL_BENCH=ON): build/neurons/twosim
// Run: build/neurons/twosim [apart|together] [EXPERIMENT [--set KEY=VALUE]...]
//      (default: together, experiments/coba_large.yaml, 3 s simulated, no spike recording)
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
        std::string mode = "together", path = "experiments/coba_large.yaml";
        std::vector<std::string> sets = {"simulation.duration=3s", "record.spikes=none"};
        int i = 1;
        if (i < argc && (std::string(argv[i]) == "apart" || std::string(argv[i]) == "together")) mode = argv[i++];
        if (i < argc && std::string(argv[i]).rfind("--", 0) != 0) path = argv[i++];
        for (; i < argc; ++i) {
            if (std::string(argv[i]) != "--set" || i + 1 >= argc) {
                std::fprintf(stderr, "usage: twosim [apart|together] [EXPERIMENT [--set KEY=VALUE]...]\n");
                return 2;
            }
            sets.push_back(argv[++i]);
        }
        model_registry reg;
        register_builtin_models(reg);
        const auto ex = load_experiment(path, reg, sets);
        simulation a(ex.spec, reg, 1), b(ex.spec, reg, 1);
        const auto steps = steps_for(ex.spec.simulation.duration, ex.spec.simulation.dt);
        double ta = 0, tb = 0;
        auto go = [&](simulation& s, double& t) {
            const auto t0 = std::chrono::steady_clock::now();
            s.run(steps, nullptr);
            t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        };
        if (mode == "together") {
            std::thread other([&] { go(b, tb); });
            go(a, ta);
            other.join();
        } else {
            go(a, ta);
            go(b, tb);
        }
        std::printf("twosim %s: %s, %.0f ms simulated twice: run loops %.3f s and %.3f s\n", mode.c_str(), path.c_str(),
                    ex.spec.simulation.duration, ta, tb);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "twosim: %s\n", e.what());
        return 1;
    }
}
