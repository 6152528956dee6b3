// Where a second worker's time goes, without the results file or a process in between:
// one experiment run in turn as 1 thread with 1 part, 1 thread with P parts, and T
// threads with P parts (one simulation each, built once), REPEATS rounds, with
// engram's profile on. From the medians it prints the cost of cutting the network into
// parts (1 thread, P parts against 1 part: each spike's row is cut into P segments, each
// listed and walked on its own) and the cost of stepping the parts at once on T cores
// (each worker's update and delivery against the same part's on one thread), which
// engram's own code cannot change. `--stats` adds engram run's firing statistics
// (spike_summary, which takes the spikes from the workers); `--record` adds them and
// the results file with the experiment's recording, as engram run sets them up (their
// own thread where a core is left over: 1 thread on 2 cores), in a scratch file
// removed after each run.
//
// Build (cmake -DENGRAM_BUILD_KERNEL_BENCH=ON): build/neurons/parts
// Run: build/neurons/parts [--threads T] [--parts P] [--repeats R] [--stats | --record]
//                          [EXPERIMENT [--set KEY=VALUE]...]
//      (default: 2 threads, 2 parts, 7 rounds, experiments/coba_large.yaml for 3 s,
//      without spike recording unless --record)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engram/core/background.hpp"
#include "engram/core/config.hpp"
#include "engram/core/cpus.hpp"
#include "engram/core/engine.hpp"
#include "engram/core/results.hpp"
#include "engram/core/stats.hpp"
#include "engram/neurons/models.hpp"

namespace {

struct sample {
    double loop = 0, update = 0, deliver = 0, record = 0, wait = 0;  // phases: the slowest worker's
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n == 0 ? 0.0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

int usage() {
    std::fprintf(stderr, "usage: parts [--threads T] [--parts P] [--repeats R] [--stats | --record] [EXPERIMENT [--set KEY=VALUE]...]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace engram;
    try {
        int threads = 2, repeats = 7;
        std::size_t parts = 2;
        bool stats = false, record = false;
        std::string path = "experiments/coba_large.yaml";
        std::vector<std::string> sets = {"simulation.duration=3s"};
        auto number = [&](int& i) {
            if (i + 1 >= argc) throw std::invalid_argument(std::string(argv[i]) + " needs a number");
            char* end = nullptr;
            const long v = std::strtol(argv[++i], &end, 10);
            if (*end || v < 1) throw std::invalid_argument(std::string(argv[i - 1]) + " needs a positive whole number, got '" + argv[i] + "'");
            return v;
        };
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            if (a == "--threads") threads = static_cast<int>(number(i));
            else if (a == "--parts") parts = static_cast<std::size_t>(number(i));
            else if (a == "--repeats") repeats = static_cast<int>(number(i));
            else if (a == "--stats") stats = true;
            else if (a == "--record") record = stats = true;
            else if (a == "--set" && i + 1 < argc) sets.push_back(argv[++i]);
            else if (a.rfind("--", 0) != 0) path = a;
            else return usage();
        }
        if (!record) sets.insert(sets.begin() + 1, "record.spikes=none");  // a --set of the caller's still wins
        model_registry reg;
        register_builtin_models(reg);
        const auto ex = load_experiment(path, reg, sets);
        const auto steps = steps_for(ex.spec.simulation.duration, ex.spec.simulation.dt);
        struct config {
            const char* name;
            int threads;
            std::size_t parts;
            std::unique_ptr<simulation> sim;
            std::vector<sample> runs;
        };
        config cs[3] = {{"1 thread, 1 part", 1, 1, nullptr, {}},
                        {"1 thread, P parts", 1, parts, nullptr, {}},
                        {"T threads, P parts", threads, parts, nullptr, {}}};
        for (auto& c : cs) {
            c.sim = std::make_unique<simulation>(ex.spec, reg, c.threads, c.parts);
            c.sim->set_profiling(true);
        }
        if (cs[2].sim->workers() != threads)
            std::fprintf(stderr, "parts: %d threads asked for, %d used (simulation.min_neurons_per_thread or the CPUs)\n", threads,
                         cs[2].sim->workers());
        std::printf("parts: %s, %.0f ms simulated, %d rounds; T = %d workers, P = %zu parts%s\n", path.c_str(),
                    ex.spec.simulation.duration, repeats, cs[2].sim->workers(), parts,
                    record ? ", with the results file and spike_summary" : stats ? ", with spike_summary" : "");
        const std::string scratch = (std::filesystem::temp_directory_path() / "engram_parts_bench.h5").string();
        for (int r = 0; r < repeats; ++r)
            for (auto& c : cs) {
                spike_summary summary(ex.spec);
                std::optional<results_writer> writer;
                observer_list list;
                std::optional<background_observer> behind;
                observer* obs = stats ? &summary : nullptr;
                if (record) {
                    writer.emplace(scratch, ex.spec, ex.resolved_yaml, &reg);
                    list.add(&*writer);
                    list.add(&summary);
                    obs = &list;
                    if (c.sim->workers() < usable_cpus()) obs = &behind.emplace(list);
                }
                const auto t0 = std::chrono::steady_clock::now();
                const run_stats st = c.sim->run(steps, obs);
                sample s;
                s.loop = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                if (behind) behind->drain();
                if (writer) {
                    writer->close(true, ex.spec.simulation.duration, s.loop);
                    std::filesystem::remove(scratch);
                }
                for (const auto& p : st.profile) {
                    s.update = std::max(s.update, p.update);
                    s.deliver = std::max(s.deliver, p.deliver);
                    s.record = std::max(s.record, p.record);
                    s.wait = std::max(s.wait, p.wait);
                }
                c.runs.push_back(s);
            }
        auto med = [](const config& c, double sample::*f) {
            std::vector<double> v;
            for (const auto& s : c.runs) v.push_back(s.*f);
            return median(v);
        };
        std::printf("%-20s %9s %9s %9s %9s %9s   (medians, s; phases: the slowest worker's)\n", "configuration", "loop", "update",
                    "deliver", "record", "wait");
        for (const auto& c : cs)
            std::printf("%-20s %9.4f %9.4f %9.4f %9.4f %9.4f\n", c.name, med(c, &sample::loop), med(c, &sample::update),
                        med(c, &sample::deliver), med(c, &sample::record), med(c, &sample::wait));
        const double P = static_cast<double>(parts), T = static_cast<double>(cs[2].sim->workers());
        std::printf("cutting into %zu parts (1 thread):        loop %.3f x, update %.3f x, deliver %.3f x\n", parts,
                    med(cs[1], &sample::loop) / med(cs[0], &sample::loop), med(cs[1], &sample::update) / med(cs[0], &sample::update),
                    med(cs[1], &sample::deliver) / med(cs[0], &sample::deliver));
        // a worker's share of the parts, on one thread: P / T parts' worth of the 1-thread, P-part phases
        const double share = std::max(1.0, std::ceil(P / T)) / P;
        std::printf("stepping them on %.0f cores at once:         update %.3f x, deliver %.3f x a worker's share on 1 thread\n", T,
                    med(cs[2], &sample::update) / (share * med(cs[1], &sample::update)),
                    med(cs[2], &sample::deliver) / (share * med(cs[1], &sample::deliver)));
        std::printf("speed-up of the loop: %.3f x against 1 thread, 1 part (%.3f x against 1 thread, %zu parts)\n",
                    med(cs[0], &sample::loop) / med(cs[2], &sample::loop), med(cs[1], &sample::loop) / med(cs[2], &sample::loop), parts);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "parts: %s\n", e.what());
        return 1;
    }
}
