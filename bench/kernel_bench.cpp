// Neuron-update kernels alone: the populations of an experiment file, stepped in a loop
// with synthetic synaptic input, no delivery, recording or thread team. For tuning the
// kernels on a noisy machine: the figure is the minimum over trials of the time per
// neuron and step, which noise from other processes can only raise.
//
// Usage: kernel_bench [experiment.yaml] [--steps N] [--trials N] [--rate HZ] [--double] [--direct]
//                     [--vector-bits 0|256|512]
//   experiment  default experiments/coba.yaml
//   --double    the double-precision kernels (simulation.precision: double)
//   --direct    inputs added straight into the synaptic state after each update, times
//               the model's direct_scale, as the engine delivers one-step static
//               projections (coba.yaml); default: into
//               the input buffers the kernel takes in (the ring's path)
//   --vector-bits  cap the width of the hand-written kernels (limit_kernel_vector_bits;
//               default: the widest compiled, printed in the header)
//   --steps     steps per trial (default 20000 = 2 s of dt 0.1 ms)
//   --trials    trials (default 9)
//   --rate      firing rate of every source neuron (Hz, default 20): with the in-degree
//               of each projection (fixed_probability p * N_source or fixed_number_pre n)
//               it sets how many inputs arrive per step; each input adds one draw of the
//               projection's weight to a random neuron of the target.
//
// Prints per population the model, ns per neuron-step (min and median over trials), the
// rate the neurons fired at in the trials, and the steps per second of the whole set.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "engram/core/config.hpp"
#include "engram/core/errors.hpp"
#include "engram/core/fmadd.hpp"
#include "engram/core/rng.hpp"
#include "engram/neurons/models.hpp"

using namespace engram;

namespace {

struct input_event {
    std::uint32_t neuron;
    float weight;
};

struct pop_rt {
    const population_spec* spec = nullptr;
    std::unique_ptr<population_model> model;
    std::vector<std::vector<float>> input;  // [receptor][neuron]
    std::vector<float*> input_ptr;
    std::vector<double*> direct64;  // --direct --double: the double state the inputs go onto
    // per step of a 256-step cycle: events per receptor
    std::vector<std::vector<std::vector<input_event>>> events;  // [step % 256][receptor]
    std::vector<double> ns;
    std::uint64_t spikes = 0;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr, "kernel_bench: %s\nusage: kernel_bench [experiment.yaml] [--steps N] [--trials N] [--rate HZ] [--double] [--direct] [--vector-bits 0|256|512]\n", why);
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    std::string path = "experiments/coba.yaml";
    std::uint64_t steps = 20000;
    int trials = 9;
    double rate = 20.0;
    bool f64 = false, direct = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value after " + a).c_str());
            return argv[++i];
        };
        if (a == "--steps") steps = std::stoull(next());
        else if (a == "--trials") trials = std::stoi(next());
        else if (a == "--rate") rate = std::stod(next());
        else if (a == "--double") f64 = true;
        else if (a == "--direct") direct = true;
        else if (a == "--vector-bits") {
            const std::string x = next();
            if (x != "0" && x != "256" && x != "512") usage(("--vector-bits takes 0, 256 or 512, not '" + x + "'").c_str());
            engram::limit_kernel_vector_bits(std::stoi(x));
        }
        else if (a == "-h" || a == "--help") usage("help");
        else if (!a.empty() && a[0] == '-') usage(("unknown option " + a).c_str());
        else path = a;
    }
    if (steps == 0 || trials < 1 || !(rate >= 0.0)) usage("--steps and --trials must be positive, --rate not negative");
    try {
        const auto& models = builtin_models();
        const experiment ex = load_experiment(path, models);
        const network_spec& spec = ex.spec;
        const double dt = spec.simulation.dt;
        std::vector<pop_rt> pops;
        for (const auto& ps : spec.populations) {
            const model_info& info = models.get(ps.model);
            if (info.receptors.empty()) continue;  // sources: nothing to integrate
            pop_rt p;
            p.spec = &ps;
            if (f64 && !info.make_f64) usage(("model " + ps.model + " has no double-precision kernel").c_str());
            p.model = f64 ? info.make_f64(ps, dt) : info.make(ps, dt);
            p.input.assign(info.receptors.size(), std::vector<float>(ps.size, 0.0f));
            for (std::size_t r = 0; r < p.input.size(); ++r) {
                float* into = direct ? p.model->direct_input(r) : p.input[r].data();
                double* into64 = direct ? p.model->direct_input_f64(r) : nullptr;
                p.direct64.push_back(into64);
                if (!into && !into64) usage(("--direct: receptor " + info.receptors[r].name + " of " + ps.model + " takes no direct input").c_str());
                p.input_ptr.push_back(into);
            }
            // initial state as the experiment draws it
            for (const auto& [var, d] : ps.initial) {
                const int k = info.state_index(var);
                if (k < 0) continue;
                float* x = p.model->state(static_cast<std::size_t>(k));
                double* xd = p.model->state_f64(static_cast<std::size_t>(k));
                for (std::uint32_t i = 0; i < ps.size; ++i) {
                    random_stream rng(spec.simulation.seed, stream_id("init/" + ps.name + "/" + var), i);
                    const double y = d.sample(rng);
                    if (x) x[i] = static_cast<float>(y);
                    if (xd) xd[i] = y;
                }
            }
            // synthetic input: per projection onto this population, in-degree x rate x dt
            // events per neuron and step, drawn once for a cycle of 256 steps
            p.events.assign(256, std::vector<std::vector<input_event>>(info.receptors.size()));
            for (const auto& pj : spec.projections) {
                if (pj.target != ps.name) continue;
                const population_spec* src = nullptr;
                for (const auto& s : spec.populations)
                    if (s.name == pj.source) src = &s;
                double indegree = 0.0;
                if (pj.connector.rule == "fixed_probability") indegree = pj.connector.p * src->size;
                else if (pj.connector.rule == "fixed_number_pre") indegree = static_cast<double>(pj.connector.n);
                else continue;
                int r = -1;
                for (std::size_t k = 0; k < info.receptors.size(); ++k)
                    if (info.receptors[k].name == pj.receptor) r = static_cast<int>(k);
                if (r < 0) continue;
                const double per_step = indegree * rate * dt * 1e-3 * ps.size;
                random_stream rng(spec.simulation.seed, stream_id("kernel_bench/" + pj.name), 0);
                for (auto& st : p.events) {
                    // the mean count, rounded up or down at random; targets uniform
                    const auto n = static_cast<std::uint32_t>(per_step + rng.uniform());
                    for (std::uint32_t e = 0; e < n; ++e) {
                        const auto k = static_cast<std::uint32_t>(rng.uniform() * ps.size);
                        st[static_cast<std::size_t>(r)].push_back({std::min(k, ps.size - 1), static_cast<float>(pj.weight.sample(rng))});
                    }
                }
            }
            pops.push_back(std::move(p));
        }
        if (pops.empty()) usage("the experiment has no population that takes synaptic input");
        std::vector<std::uint32_t> out;
        out.reserve(1 << 16);
        std::vector<double> total_ns;
        for (int t = 0; t < trials; ++t) {
            double all = 0.0;
            for (auto& p : pops) {
                step_context ctx;
                ctx.dt = dt;
                ctx.seed = spec.simulation.seed;
                ctx.input = direct ? nullptr : p.input_ptr.data();
                std::uint64_t spikes = 0;
                const auto t0 = std::chrono::steady_clock::now();
                for (std::uint64_t s = 1; s <= steps; ++s) {
                    const auto& ev = p.events[s & 255];
                    auto add_inputs = [&] {
                        for (std::size_t r = 0; r < ev.size(); ++r) {
                            float* in = p.input_ptr[r];
                            if (double* in64 = p.direct64[r]) {  // double state: in double
                                const double scale = p.model->direct_scale(r, s);
                                for (const auto& e : ev[r]) in64[e.neuron] = fmadd(double(e.weight), scale, in64[e.neuron]);
                                continue;
                            }
                            // onto the state: times the model's factor, as the engine adds them
                            const float scale = direct ? static_cast<float>(p.model->direct_scale(r, s)) : 1.0f;
                            for (const auto& e : ev[r]) in[e.neuron] = fmadd(e.weight, scale, in[e.neuron]);
                        }
                    };
                    if (!direct) add_inputs();  // taken in by this update
                    ctx.step = s;
                    out.clear();
                    p.model->update(ctx, 0, p.spec->size, out);
                    if (direct) add_inputs();  // onto the state, after the update
                    spikes += out.size();
                }
                const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                p.ns.push_back(sec * 1e9 / (static_cast<double>(steps) * p.spec->size));
                p.spikes = spikes;
                all += sec;
            }
            total_ns.push_back(all);
        }
        // the same cap for both precisions (vec8/vec16 in float, vec4d/vec8d in double)
        const int bits = engram::kernel_vector_bits();
        const std::string kernels = bits ? "kernels up to " + std::to_string(bits) + "-bit vectors" : "the compiler's loops";
        std::printf("%s: %llu steps x %d trials, inputs at %.1f Hz per source neuron, %s precision, %s, %s\n", path.c_str(),
                    static_cast<unsigned long long>(steps), trials, rate, f64 ? "double" : "float",
                    direct ? "direct" : "through input buffers", kernels.c_str());
        std::printf("%-12s %-16s %8s %14s %14s %10s\n", "population", "model", "neurons", "ns/neuron min", "ns/neuron med", "rate Hz");
        for (auto& p : pops) {
            std::sort(p.ns.begin(), p.ns.end());
            std::printf("%-12s %-16s %8u %14.3f %14.3f %10.2f\n", p.spec->name.c_str(), p.spec->model.c_str(), p.spec->size,
                        p.ns.front(), p.ns[p.ns.size() / 2],
                        static_cast<double>(p.spikes) / (p.spec->size * steps * dt * 1e-3));
        }
        std::sort(total_ns.begin(), total_ns.end());
        std::printf("all populations: %.4f s per simulated second (min over trials), %.4f (median)\n",
                    total_ns.front() / (steps * dt * 1e-3), total_ns[total_ns.size() / 2] / (steps * dt * 1e-3));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kernel_bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
