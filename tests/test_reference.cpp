// The optimised engine (vectorised kernels, CSR rows split by thread, ring buffers) against
// a straightforward reference written here: one neuron at a time, a synapse list, a map of
// pending inputs. Same float formulas, so the spikes must be identical. Spikes with a delay
// of one step into exponential synapses skip the ring in the engine: their weights
// are added to the synaptic variable after the step's decay, one at a time, in the order of
// projection and source (model.hpp, direct_input); the reference does the same.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <map>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "engram/core/rng.hpp"
#include "engram/neurons/fast_math.hpp"
#include "engram/neurons/models.hpp"
#include "helpers.hpp"

using namespace engram;
using namespace engram::test;

namespace {

double param(const population_spec& p, const char* n) { return p.params.at(n).values.at(0); }

// v's response over dt to a current decaying with tau_s (written out again here).
double p_current(double dt, double tm, double ts, double C) {
    return tm * ts / (C * (tm - ts)) * (std::exp(-dt / tm) - std::exp(-dt / ts));
}

// Reference simulation of a network of one LIF population driven by a Poisson source.
// T: the precision of the neuron state (simulation.precision); the synaptic input of a
// step is a float sum, as in the engine's ring buffers.
// Neuron-steps of exponential Euler by phi1's near polynomial, by its wide one, and
// those that neither reached (exp used).
std::uint64_t near_steps = 0, wide_steps = 0, exp_fallbacks = 0;

template <class T>
std::vector<capture::spike> reference(const network_spec& spec, std::vector<T>& v_end) {
    const double dt = spec.simulation.dt;
    const auto& src = spec.populations[0];
    const auto& pop = spec.populations[1];
    const std::string model = pop.model;
    const std::uint32_t n = pop.size;
    const double C = param(pop, "C_m"), tau = param(pop, "tau_m");
    const T EL = T(param(pop, "E_L")), Vth = T(param(pop, "V_th")), Vr = T(param(pop, "V_reset"));
    const T Am = T(-std::expm1(-dt / tau)), PmI = T(tau / C * -std::expm1(-dt / tau));
    const int nref = int(std::llround(param(pop, "t_ref") / dt));
    std::vector<T> v(n), s1(n, T(0)), s2(n, T(0));
    std::vector<int> ref(n, 0);
    {   // initial v as the engine draws it
        const auto& d = pop.initial.at("v");
        for (std::uint32_t i = 0; i < n; ++i) {
            random_stream rng(spec.simulation.seed, stream_id("init/" + pop.name + "/v"), i);
            v[i] = T(d.sample(rng));
        }
    }
    // synapses, in the order the engine keeps them
    simulation sim(spec, builtin_models());
    std::map<std::uint64_t, std::vector<std::vector<float>>> pending;  // step -> [receptor][neuron]
    std::vector<std::vector<std::tuple<std::uint32_t, std::uint32_t, float, std::uint16_t>>> rows(spec.projections.size());
    for (std::size_t j = 0; j < spec.projections.size(); ++j) {
        const auto l = sim.synapses(j);
        for (std::size_t k = 0; k < l.size(); ++k) rows[j].emplace_back(l.pre[k], l.post[k], l.weight[k], l.delay[k]);
    }
    const float rate_p = float(param(src, "rate") * dt * 1e-3);
    std::vector<capture::spike> out;
    std::vector<std::uint32_t> last_src, last_pop;
    const std::uint64_t steps = steps_for(spec.simulation.duration, dt);
    const bool exp_synapses = model == "lif_curr_exp" || model == "lif_cond_exp";
    // lif_curr_exp and lif_cond_exp decay their synaptic variables lazily (lif.cpp,
    // lazy_decay, written out again here): stored values s = g / sigma(n), sigma(n) =
    // P^(n mod K), K the largest power of 2 with P^K at least 2^-20 for the faster decay;
    // at n mod K = 0 the stored values are rescaled.
    const bool lazy = model == "lif_cond_exp" || model == "lif_curr_exp";
    double P[2] = {1.0, 1.0};
    std::uint64_t K = 1;
    if (lazy) {
        const char* taus[2] = {"tau_syn_ex", "tau_syn_in"};
        for (int j = 0; j < 2; ++j) P[j] = pop.integration == "euler" ? 1.0 - dt / param(pop, taus[j]) : std::exp(-dt / param(pop, taus[j]));
        const double k = std::log(1048576.0) / -std::log(std::min(P[0], P[1]));
        K = k >= 4096 ? 4096 : k < 1.0 ? 1 : std::bit_floor(std::uint64_t(k));
    }
    const auto sigma = [&](int j, std::uint64_t at) { return std::pow(P[j], double(at % K)); };
    std::vector<std::tuple<int, std::uint32_t, float>> direct;  // receptor, target, weight: after the update
    for (std::uint64_t step = 1; step <= steps; ++step) {
        // deliver spikes of step-1
        direct.clear();
        for (std::size_t j = 0; j < spec.projections.size(); ++j) {
            const auto& pj = spec.projections[j];
            const auto& spk = pj.source == src.name ? last_src : last_pop;
            const int r = pj.receptor == "ex" ? 0 : 1;
            const bool one_step = exp_synapses && pj.delay.is_constant() && std::llround(pj.delay.a / dt) == 1;
            for (auto i : spk)
                for (const auto& [pre, post, w, d] : rows[j])
                    if (pre == i) {
                        if (one_step) {
                            direct.emplace_back(r, post, w);
                            continue;
                        }
                        auto& slot = pending[step - 1 + d];
                        if (slot.empty()) slot.assign(2, std::vector<float>(n, 0.0f));
                        slot[r][post] += w;
                    }
        }
        std::vector<float> in_e(n, 0.0f), in_i(n, 0.0f);
        if (auto it = pending.find(step); it != pending.end()) {
            in_e = it->second[0];
            in_i = it->second[1];
            pending.erase(it);
        }
        // source
        last_src.clear();
        for (std::uint32_t i = 0; i < src.size; ++i)
            if (uniform_at(spec.simulation.seed, stream_id("poisson/" + src.name), i, step) < rate_p) last_src.push_back(i);
        for (auto i : last_src) out.push_back({step, 0, i});
        // neurons
        last_pop.clear();
        // lazy decays: conductances read times sigma(step - 1), input added times
        // 1 / sigma(step), or at a rescaling step the stored values times P^K plus input
        const double se = sigma(0, step - 1), si = sigma(1, step - 1);
        const bool rescale = step % K == 0;
        const T inv_e = T(1.0 / sigma(0, step)), inv_i = T(1.0 / sigma(1, step));
        const T fac_e = T(std::pow(P[0], double(K))), fac_i = T(std::pow(P[1], double(K)));
        const auto take_input = [&](std::uint32_t i) {
            if (rescale) {
                s1[i] = fmadd(s1[i], fac_e, T(in_e[i]));
                s2[i] = fmadd(s2[i], fac_i, T(in_i[i]));
            } else {
                s1[i] = fmadd(T(in_e[i]), inv_e, s1[i]);
                s2[i] = fmadd(T(in_i[i]), inv_i, s2[i]);
            }
        };
        for (std::uint32_t i = 0; i < n; ++i) {
            T vn;
            if (model == "lif_curr_exp") {
                const T Pme = T(p_current(dt, tau, param(pop, "tau_syn_ex"), C) * se);
                const T Pmi = T(p_current(dt, tau, param(pop, "tau_syn_in"), C) * si);
                vn = v[i] + (Am * (EL - v[i]) + (PmI * T(param(pop, "I_e")) + T(0) + Pme * s1[i] + Pmi * s2[i]));
                take_input(i);
                if (ref[i] > 0) vn = Vr;
            } else if (model == "lif_curr_delta") {
                vn = v[i] + (Am * (EL - v[i]) + (PmI * T(param(pop, "I_e")) + T(0)));
                vn = ref[i] > 0 ? Vr : vn + T(in_e[i] + in_i[i]);
            } else if (pop.integration == "euler") {  // lif_cond_exp, forward Euler
                const T gL = T(C / tau);
                const T g = fmadd(s1[i], T(se), fmadd(s2[i], T(si), gL));
                const T drive = fmadd(s2[i], T(param(pop, "E_in") * si), fmadd(s1[i], T(param(pop, "E_ex") * se), fmadd(gL, EL, T(param(pop, "I_e")))));
                vn = fmadd(T(dt / C), fmadd(-g, v[i], drive), v[i]);
                take_input(i);
                if (ref[i] > 0) vn = Vr;
            } else {  // lif_cond_exp
                // exponential Euler: v + (d + z v) phi1(z), z = -g dt/C, d = dt/C drive
                // (constants scaled by dt/C, then rounded); phi1 as the near polynomial
                // in z where it reaches, else the wide one where it reaches, else by exp
                const T z = fmadd(s1[i], T(-dt / C * se), fmadd(s2[i], T(-dt / C * si), T(-dt / tau)));
                const T d = fmadd(s2[i], T(dt / C * param(pop, "E_in") * si),
                                  fmadd(s1[i], T(dt / C * param(pop, "E_ex") * se), T(dt / C * (C / tau * param(pop, "E_L") + param(pop, "I_e")))));
                if (phi1_reaches<true>(z)) {
                    ++near_steps;
                    vn = fmadd(fmadd(z, v[i], d), phi1_poly(z, phi1_rounded<T, true>()), v[i]);
                } else if (phi1_reaches(z)) {
                    ++wide_steps;
                    vn = fmadd(fmadd(z, v[i], d), phi1_poly(z, phi1_rounded<T>()), v[i]);
                } else {
                    ++exp_fallbacks;
                    const T vinf = -d / z;
                    vn = vinf + (v[i] - vinf) * vexp(z);
                }
                take_input(i);
                if (ref[i] > 0) vn = Vr;
            }
            ref[i] = ref[i] > 0 ? ref[i] - 1 : 0;
            v[i] = vn;
            if (v[i] >= Vth) {
                last_pop.push_back(i);
                v[i] = Vr;
                ref[i] = nref;
            }
        }
        for (const auto& [r, post, w] : direct) {
            T& s = (r == 0 ? s1 : s2)[post];
            s = fmadd(T(w), r == 0 ? inv_e : inv_i, s);
        }
        for (auto i : last_pop) out.push_back({step, 1, i});
    }
    v_end = v;
    return out;
}

// delays: of the drive's projection, the recurrent excitatory and inhibitory ones
std::string network(const std::string& model, const std::string& params, const std::string& w_ex, const std::string& w_in,
                    const std::string& integration, const std::array<std::string, 3>& delays, int size = 150) {
    return R"(
simulation: {dt: 0.1 ms, duration: 150 ms, seed: 11, min_neurons_per_thread: 1}
populations:
  drive: {size: 60, model: poisson, params: {rate: 40 Hz}}
  net:
    size: )" + std::to_string(size) + R"(
    model: )" + model + (integration.empty() ? "" : "\n    integration: " + integration) + R"(
    params: {)" + params + R"(}
    initial: {v: {distribution: uniform, low: -70 mV, high: -52 mV}}
projections:
  in: {source: drive, target: net, receptor: ex, weight: )" + w_ex + R"(, delay: )" + delays[0] + R"(,
       connector: {rule: fixed_probability, p: 0.3}}
  rec_e: {source: net, target: net, receptor: ex, weight: {distribution: uniform, low: 0 )" + w_ex.substr(w_ex.find(' ') + 1) + ", high: " + w_ex + R"(}, delay: )" + delays[1] + R"(,
          connector: {rule: fixed_number_pre, n: 20}}
  rec_i: {source: net, target: net, receptor: in, weight: )" + w_in + R"(, delay: )" + delays[2] + R"(, connector: {rule: fixed_probability, p: 0.05}}
)";
}

}  // namespace

namespace {

// model, parameters, ex weight, in weight, integration scheme ("" = the model's default)
const std::vector<std::array<std::string, 5>> cases{
        {"lif_curr_exp", "tau_m: 10 ms, C_m: 250 pF, E_L: -65 mV, V_th: -55 mV, V_reset: -70 mV, t_ref: 2 ms, tau_syn_ex: 2 ms, tau_syn_in: 5 ms, I_e: 100 pA",
         "300 pA", "-200 pA", ""},
        {"lif_curr_delta", "tau_m: 10 ms, E_L: -65 mV, V_th: -55 mV, V_reset: -70 mV, t_ref: 2 ms, I_e: 150 pA", "1.5 mV", "-1 mV", ""},
        {"lif_cond_exp", "tau_m: 15 ms, C_m: 250 pF, E_L: -65 mV, V_th: -55 mV, V_reset: -70 mV, t_ref: 2 ms, tau_syn_ex: 3 ms, tau_syn_in: 6 ms, I_e: 150 pA",
         "8 nS", "10 nS", ""},
        {"lif_cond_exp", "tau_m: 15 ms, C_m: 250 pF, E_L: -65 mV, V_th: -55 mV, V_reset: -70 mV, t_ref: 2 ms, tau_syn_ex: 3 ms, tau_syn_in: 6 ms, I_e: 150 pA",
         "8 nS", "10 nS", "euler"},
        // an excitatory reversal potential other than 0 (the kernels leave g_ex E_ex out
        // where it is 0)
        {"lif_cond_exp", "tau_m: 15 ms, C_m: 250 pF, E_L: -65 mV, V_th: -55 mV, V_reset: -70 mV, t_ref: 2 ms, tau_syn_ex: 3 ms, tau_syn_in: 6 ms, I_e: 150 pA, E_ex: -20 mV",
         "12 nS", "10 nS", ""},
        {"lif_cond_exp", "tau_m: 15 ms, C_m: 250 pF, E_L: -65 mV, V_th: -55 mV, V_reset: -70 mV, t_ref: 2 ms, tau_syn_ex: 3 ms, tau_syn_in: 6 ms, I_e: 150 pA, E_ex: -20 mV",
         "12 nS", "10 nS", "euler"},
        // conductances that reach g dt / C > 1, beyond both phi1 polynomials: exp there
        // (and the wide polynomial between 7/16 and 3/4)
        {"lif_cond_exp", "tau_m: 15 ms, C_m: 20 pF, E_L: -65 mV, V_th: -55 mV, V_reset: -70 mV, t_ref: 2 ms, tau_syn_ex: 3 ms, tau_syn_in: 6 ms, I_e: 12 pA",
         "5 nS", "60 nS", ""}};

// every input through the ring; some with a delay of one step; all of them
const std::vector<std::array<std::string, 3>> delay_sets{
        {"{distribution: uniform, low: 0.1 ms, high: 2 ms}", "1 ms", "0.5 ms"},
        {"{distribution: uniform, low: 0.1 ms, high: 2 ms}", "1 ms", "0.1 ms"},
        {"0.1 ms", "0.1 ms", "0.1 ms"}};

template <class T>
void check_case(const std::array<std::string, 5>& c, const std::array<std::string, 3>& delays, int size = 150) {
    INFO(c[0] << " " << c[4] << ", delays " << delays[0] << " / " << delays[1] << " / " << delays[2] << ", " << size << " neurons");
    const auto spec = parse(network(c[0], c[1], c[2], c[3], c[4], delays, size),
                            {std::string("simulation.precision=") + (std::is_same_v<T, double> ? "double" : "float")});
    std::vector<T> v_ref;
    near_steps = wide_steps = exp_fallbacks = 0;
    const auto expect = reference<T>(spec, v_ref);
    // the high-conductance case takes the three branches of exponential Euler, the others
    // the near polynomial only
    INFO("near " << near_steps << ", wide " << wide_steps << ", exp " << exp_fallbacks);
    if (c[0] != "lif_cond_exp" || c[4] == "euler") {
        CHECK(near_steps + wide_steps + exp_fallbacks == 0);
    } else if (c[1].find("C_m: 20 pF") != std::string::npos) {
        CHECK(near_steps > 1000);
        CHECK(wide_steps > 100);
        CHECK(exp_fallbacks > 100);
    } else {
        CHECK(near_steps > 1000);
        CHECK(wide_steps + exp_fallbacks == 0);
    }
    REQUIRE(expect.size() > 200);
    std::size_t from_net = 0;
    for (const auto& s : expect) from_net += s.pop == 1;
    CHECK(from_net > 50);
    // 1 and 3 threads with the widest hand-written kernels this build has; 1 thread again
    // with each narrower width below it (256: AVX2; 0: the compiler's loops alone), all
    // to the last bit
    // (and 1 and 3 threads again with every step's direct rows of a shared weight
    // gathered, however few: few steps here have the 3 that gather by default)
    const int widest = kernel_vector_bits();
    std::vector<std::tuple<int, int, std::size_t>> runs{{1, widest, 3}, {3, widest, 3}, {1, widest, 1}, {3, widest, 1}};
    for (int bits : {256, 0})
        if (bits < widest) runs.emplace_back(1, bits, 3);
    for (const auto& [threads, bits, gather] : runs) {
        INFO(threads << " threads, kernels up to " << bits << "-bit vectors, rows gathered from " << gather << " a step");
        limit_kernel_vector_bits(bits);
        const std::size_t gather_before = gather_rows_from(gather);
        struct restore {
            int bits;
            std::size_t gather;
            ~restore() {
                limit_kernel_vector_bits(bits);
                gather_rows_from(gather);
            }
        } restore_width{widest, gather_before};
        simulation sim(spec, builtin_models(), threads, threads == 1 ? 0 : 4);
        capture got;
        sim.run(steps_for(spec.simulation.duration, spec.simulation.dt), &got);
        CHECK(got.spikes == expect);
        // and the membrane potentials to the last bit
        const auto v = sim.state(1, "v");
        CHECK(std::vector<T>(v.begin(), v.end()) == v_ref);
    }
}

template <class T>
void check_against_reference() {
    for (const auto& c : cases)
        for (const auto& delays : delay_sets) check_case<T>(c, delays);
}

}  // namespace

TEST_CASE("optimised kernels match a straightforward reference simulation", "[unit][reference]") {
    check_against_reference<float>();
}

TEST_CASE("optimised kernels match the reference on a population wider than a threshold pass's chunk", "[unit][reference]") {
    // The threshold pass turns the spike bits of 1,024 neurons at a time into spikes:
    // 2,600 neurons on one part take two full chunks, one of 17 blocks of 32, and 8
    // neurons for the scalar pass. Every delay one step, so every input direct (no ring),
    // as in COBA.
    const std::array<std::string, 3> direct{"0.1 ms", "0.1 ms", "0.1 ms"};
    check_case<float>(cases[0], direct, 2600);  // lif_curr_exp
    check_case<float>(cases[2], direct, 2600);  // lif_cond_exp, exponential Euler
}

TEST_CASE("limit_kernel_vector_bits takes 0, 256 or 512 and caps kernel_vector_bits", "[unit][reference]") {
    const int before = kernel_vector_bits();
    struct restore {
        int bits;
        ~restore() { limit_kernel_vector_bits(bits); }
    } restore_width{before};
    limit_kernel_vector_bits(512);  // no wider than what was compiled
    const int compiled = kernel_vector_bits();
    CHECK((compiled == 0 || compiled == 256 || compiled == 512));
#if defined(__AVX512F__) && defined(__AVX512DQ__)
    CHECK(compiled == 512);
#elif defined(__AVX2__)
    CHECK(compiled == 256);
#endif
    CHECK_THROWS_WITH(limit_kernel_vector_bits(128), Catch::Contains("0, 256 or 512") && Catch::Contains("128"));
    CHECK(kernel_vector_bits() == compiled);  // a rejected width changes nothing
    limit_kernel_vector_bits(256);
    CHECK(kernel_vector_bits() == std::min(256, compiled));
    limit_kernel_vector_bits(0);
    CHECK(kernel_vector_bits() == 0);
}

TEST_CASE("with precision: double the kernels match the reference in double, to the last bit", "[unit][reference]") {
    check_against_reference<double>();
}
