#pragma once
// Small fixtures shared by the tests.
#include <filesystem>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

#include <unistd.h>
#if defined(__linux__)
#include <sched.h>
#endif

#include "engram/core/config.hpp"
#include "engram/core/engine.hpp"
#include "engram/neurons/models.hpp"

namespace engram::test {

// Folders made by temp_dir, removed when the test process exits.
struct temp_dirs {
    std::vector<std::filesystem::path> made;
    ~temp_dirs() {
        for (const auto& d : made) {
            std::error_code ec;
            std::filesystem::remove_all(d, ec);
        }
    }
};
inline temp_dirs& made_temp_dirs() {
    static temp_dirs t;
    return t;
}

// An empty folder under the system's temporary directory (removed first if present),
// one per process: ctest runs test cases in parallel processes that use the same names.
inline std::filesystem::path temp_dir(const std::string& name) {
    const auto d = std::filesystem::temp_directory_path() / ("engram_test_" + std::to_string(::getpid()) + "_" + name);
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    made_temp_dirs().made.push_back(d);
    return d;
}

// Everything a run produced, kept in memory.
struct capture : observer {
    struct spike { std::uint64_t step; std::size_t pop; std::uint32_t id; bool operator==(const spike&) const = default; };
    std::vector<spike> spikes;
    // samples[rec][k][var][neuron]
    std::vector<std::vector<std::vector<std::vector<float>>>> samples;
    void on_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t n) override {
        for (std::size_t i = 0; i < n; ++i) spikes.push_back({step, pop, ids[i]});
    }
    void on_sample(std::uint64_t, std::size_t rec, const std::vector<std::vector<float>>& v) override {
        if (samples.size() <= rec) samples.resize(rec + 1);
        samples[rec].push_back(v);
    }
    std::vector<double> trace(std::size_t rec, std::size_t var, std::size_t neuron) const {
        std::vector<double> out;
        for (const auto& s : samples.at(rec)) out.push_back(s.at(var).at(neuron));
        return out;
    }
    std::size_t count(std::size_t pop) const {
        std::size_t n = 0;
        for (const auto& s : spikes) n += s.pop == pop;
        return n;
    }
};

inline network_spec parse(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
    return parse_experiment(yaml, "test.yaml", builtin_models(), overrides).spec;
}

inline capture run(const network_spec& spec, int threads = 1) {
    simulation sim(spec, builtin_models(), threads);
    capture c;
    sim.run(steps_for(spec.simulation.duration, spec.simulation.dt), &c);
    return c;
}

// A COBA-like network small enough for unit tests (400 neurons, Poisson-free, self-sustained).
inline std::string small_coba(int n_exc = 320, int n_inh = 80, const char* duration = "200 ms") {
    return std::string(R"(
simulation: {dt: 0.1 ms, duration: )") + duration + R"(, seed: 7, min_neurons_per_thread: 1}
populations:
  exc:
    size: )" + std::to_string(n_exc) + R"(
    model: lif_cond_exp
    params: &p {C_m: 200 pF, tau_m: 20 ms, E_L: -60 mV, V_th: -50 mV, V_reset: -60 mV, t_ref: 5 ms,
                tau_syn_ex: 5 ms, tau_syn_in: 10 ms, E_ex: 0 mV, E_in: -80 mV}
    initial: &i
      v: {distribution: normal, mean: -55 mV, std: 5 mV}
      g_ex: {distribution: normal, mean: 40 nS, std: 15 nS}
      g_in: {distribution: normal, mean: 200 nS, std: 120 nS}
  inh: {size: )" + std::to_string(n_inh) + R"(, model: lif_cond_exp, params: *p, initial: *i}
projections:
  ee: {source: exc, target: exc, receptor: ex, weight: 12 nS, connector: {rule: fixed_probability, p: 0.1}}
  ei: {source: exc, target: inh, receptor: ex, weight: 12 nS, connector: {rule: fixed_probability, p: 0.1}}
  ie: {source: inh, target: exc, receptor: in, weight: 67 nS, delay: {distribution: uniform, low: 0.1 ms, high: 2 ms}, connector: {rule: fixed_probability, p: 0.1}}
  ii: {source: inh, target: inh, receptor: in, weight: 67 nS, connector: {rule: fixed_probability, p: 0.1}}
stimuli:
  kick: {type: poisson_input, target: exc, receptor: ex, rate: 10 Hz, n_sources: 100, weight: 3 nS, stop: 50 ms}
)";
}

#if defined(__linux__)
// The lowest CPU of the calling thread's affinity mask (-1 if it cannot be read).
inline int first_allowed_cpu() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) return c;
    return -1;
}
#endif

}  // namespace engram::test
