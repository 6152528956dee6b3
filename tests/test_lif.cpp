// LIF dynamics against closed-form solutions and an independent fine-step integration.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "helpers.hpp"

using namespace engram;
using namespace engram::test;

namespace {

// One neuron of `model` with `params`, optionally driven by one input spike at 10 ms
// (delay 1 ms, so it arrives at 11 ms) of weight `weight`; v and the synaptic state are
// recorded every step.
std::string neuron(const std::string& model, const std::string& params, const std::string& weight = "",
                   const std::string& receptor = "ex", const std::string& duration = "60 ms", const std::string& delay = "1 ms") {
    std::string y = "simulation: {dt: 0.1 ms, duration: " + duration + "}\npopulations:\n  n: {size: 1, model: " + model +
                    ", params: {" + params + "}}\n";
    if (!weight.empty())
        y += "  in: {size: 1, model: spike_array, params: {spike_times: [10 ms]}}\nprojections:\n  p: {source: in, target: n, receptor: " +
             receptor + ", weight: " + weight + ", delay: " + delay + ", connector: one_to_one}\n";
    const char* vars = model == "lif_curr_exp" ? "[v, I_ex, I_in]" : model == "lif_cond_exp" ? "[v, g_ex, g_in]" : "[v]";
    y += std::string("record: {state: {r: {population: n, variables: ") + vars + "}}}\n";
    return y;
}

const double dt = 0.1;

}  // namespace

TEST_CASE("membrane potential under constant current follows the closed form", "[unit][lif]") {
    for (const char* model : {"lif_curr_exp", "lif_curr_delta"}) {
        auto c = run(parse(neuron(model, "C_m: 250 pF, tau_m: 10 ms, E_L: -70 mV, V_th: 0 mV, V_reset: -70 mV, I_e: 300 pA")));
        const auto v = c.trace(0, 0, 0);
        REQUIRE(v.size() == 600);
        for (std::size_t k = 0; k < v.size(); ++k) {
            const double t = k * dt;
            INFO(model << " t = " << t);
            REQUIRE(v[k] == Approx(-70.0 + 12.0 * (1.0 - std::exp(-t / 10.0))).margin(1e-4));
        }
    }
    // Conductance-based: with no synaptic input the exponential-Euler step is exact.
    auto c = run(parse(neuron("lif_cond_exp", "C_m: 250 pF, tau_m: 15 ms, E_L: -70 mV, V_th: 0 mV, V_reset: -70 mV, I_e: 100 pA")));
    const auto v = c.trace(0, 0, 0);
    const double g_L = 250.0 / 15.0;
    for (std::size_t k = 0; k < v.size(); ++k)
        REQUIRE(v[k] == Approx(-70.0 + 100.0 / g_L * (1.0 - std::exp(-(k * dt) / 15.0))).margin(1e-4));
}

TEST_CASE("the firing period under constant current matches the analytic formula", "[unit][lif]") {
    // R I = 20 mV, threshold 15 mV above rest: T = t_ref + tau ln(RI / (RI - 15 mV)),
    // with the crossing detected at the end of the step in which it happens.
    auto spec = parse(neuron("lif_curr_exp", "C_m: 250 pF, tau_m: 10 ms, E_L: -70 mV, V_th: -55 mV, V_reset: -70 mV, t_ref: 2 ms, I_e: 500 pA",
                             "", "ex", "200 ms"));
    auto c = run(spec);
    REQUIRE(c.spikes.size() >= 10);
    const double t_int = 10.0 * std::log(20.0 / 5.0);
    const double analytic = 2.0 + t_int;
    const double on_grid = 2.0 + std::ceil(t_int / dt) * dt;
    CHECK(c.spikes[0].step * dt == Approx(std::ceil(t_int / dt) * dt));
    for (std::size_t i = 1; i < c.spikes.size(); ++i) {
        const double isi = (c.spikes[i].step - c.spikes[i - 1].step) * dt;
        CHECK(isi == Approx(on_grid).margin(1e-9));
        CHECK(std::fabs(isi - analytic) < dt);
    }
    // Refractory: v is held at V_reset for t_ref after each spike.
    const auto v = c.trace(0, 0, 0);
    const std::uint64_t s = c.spikes[1].step;
    for (std::uint64_t k = s; k <= s + 20; ++k) CHECK(v[k] == Approx(-70.0));  // sample k = time k*dt
    CHECK(v[s + 21] > -70.0);
}

TEST_CASE("the PSP of one spike through an exponential current synapse is a difference of exponentials", "[unit][lif]") {
    for (double tau_s : {2.0, 10.0}) {  // 10 ms = tau_m: the degenerate case t exp(-t/tau)
        const std::string p = "C_m: 250 pF, tau_m: 10 ms, E_L: -70 mV, V_th: 0 mV, V_reset: -70 mV, tau_syn_ex: " + std::to_string(tau_s) + " ms";
        auto c = run(parse(neuron("lif_curr_exp", p, "100 pA")));
        const auto v = c.trace(0, 0, 0);
        const auto I = c.trace(0, 1, 0);
        const double ta = 11.0, w = 100.0, C = 250.0, tm = 10.0;
        double peak = 0;
        for (std::size_t k = 0; k < v.size(); ++k) {
            const double t = k * dt - ta;
            double expect = 0.0, current = 0.0;
            if (t >= -1e-9) {
                current = w * std::exp(-t / tau_s);
                expect = tau_s == tm ? w / C * t * std::exp(-t / tm)
                                     : w / C * tm * tau_s / (tm - tau_s) * (std::exp(-t / tm) - std::exp(-t / tau_s));
            }
            INFO("tau_s " << tau_s << " t " << k * dt);
            REQUIRE(v[k] - (-70.0) == Approx(expect).margin(1e-4));  // float state: a few ulps of 70 mV
            REQUIRE(I[k] == Approx(current).margin(1e-3));
            peak = std::max(peak, expect);
        }
        CHECK(peak > 0.2);
    }
}

TEST_CASE("a delta synapse makes v jump by the weight at arrival, then decay with tau_m", "[unit][lif]") {
    auto c = run(parse(neuron("lif_curr_delta", "C_m: 250 pF, tau_m: 10 ms, E_L: -70 mV, V_th: 0 mV, V_reset: -70 mV", "0.5 mV")));
    const auto v = c.trace(0, 0, 0);
    for (std::size_t k = 0; k < v.size(); ++k) {
        const double t = k * dt - 11.0;
        REQUIRE(v[k] == Approx(t < -1e-9 ? -70.0 : -70.0 + 0.5 * std::exp(-t / 10.0)).margin(1e-4));
    }
}

TEST_CASE("a conductance synapse: g decays exactly, v follows a fine-step reference", "[unit][lif]") {
    const double C = 250, tm = 15, EL = -70, Eex = 0, ts = 3, w = 20;
    auto c = run(parse(neuron("lif_cond_exp",
                              "C_m: 250 pF, tau_m: 15 ms, E_L: -70 mV, V_th: 0 mV, V_reset: -70 mV, tau_syn_ex: 3 ms, E_ex: 0 mV",
                              "20 nS")));
    const auto v = c.trace(0, 0, 0);
    const auto g = c.trace(0, 1, 0);
    // Independent reference: RK4 at 1 us on C dv/dt = g_L (E_L - v) + g(t) (E_ex - v).
    const double gL = C / tm, h = 0.001, ta = 11.0;
    auto f = [&](double t, double x) {
        const double gt = t >= ta ? w * std::exp(-(t - ta) / ts) : 0.0;
        return (gL * (EL - x) + gt * (Eex - x)) / C;
    };
    double x = EL, t = 0, max_dev = 0, peak = 0;
    for (std::size_t k = 0; k < v.size(); ++k) {
        while (t < k * dt - 1e-12) {
            const double k1 = f(t, x), k2 = f(t + h / 2, x + h / 2 * k1), k3 = f(t + h / 2, x + h / 2 * k2), k4 = f(t + h, x + h * k3);
            x += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4);
            t += h;
        }
        max_dev = std::max(max_dev, std::fabs(v[k] - x));
        peak = std::max(peak, x - EL);
        const double tt = k * dt - ta;
        REQUIRE(g[k] == Approx(tt < -1e-9 ? 0.0 : w * std::exp(-tt / ts)).margin(1e-4));
    }
    INFO("peak " << peak << " mV, max deviation " << max_dev << " mV");
    CHECK(peak > 1.0);
    CHECK(max_dev < 0.03 * peak);  // first-order scheme: the error is O(dt) relative to the PSP
}

TEST_CASE("a spike with a delay of one step reaches the synapse one step later, added directly or through the ring", "[unit][lif]") {
    // A static one-step projection into exponential synapses skips the ring (model.hpp,
    // direct_input); a Poisson stimulus on the population (here one that never fires)
    // puts its inputs back through the ring. With one input spike the two give the same
    // bits, and the synaptic variable is the closed form from 10.1 ms.
    for (const char* model : {"lif_cond_exp", "lif_curr_exp"}) {
        INFO(model);
        const std::string params = "C_m: 250 pF, tau_m: 15 ms, E_L: -70 mV, V_th: 0 mV, V_reset: -70 mV, tau_syn_ex: 3 ms";
        const std::string w = std::string(model) == "lif_cond_exp" ? "20 nS" : "500 pA";
        const std::string y = neuron(model, params, w, "ex", "40 ms", "0.1 ms");
        auto direct = run(parse(y));
        auto ring = run(parse(y + "stimuli: {quiet: {type: poisson_input, target: n, receptor: ex, rate: 0 Hz, weight: " + w + "}}\n"));
        const auto x = direct.trace(0, 1, 0);
        REQUIRE(x.size() == 400);
        CHECK(x == ring.trace(0, 1, 0));
        CHECK(direct.trace(0, 0, 0) == ring.trace(0, 0, 0));
        const double w0 = std::string(model) == "lif_cond_exp" ? 20.0 : 500.0;
        for (std::size_t k = 0; k < x.size(); ++k) {
            const double tt = k * dt - 10.1;
            REQUIRE(x[k] == Approx(tt < -1e-9 ? 0.0 : w0 * std::exp(-tt / 3.0)).margin(1e-4 * w0));
        }
        CHECK(direct.trace(0, 0, 0).back() > -70.0 + 1e-3);  // and v felt it
    }
}

TEST_CASE("a step current switches on and off at the given times", "[unit][lif]") {
    const std::string y = neuron("lif_curr_exp", "C_m: 250 pF, tau_m: 10 ms, E_L: -70 mV, V_th: 0 mV, V_reset: -70 mV") +
                          "stimuli: {s: {type: step_current, target: n, times: [10 ms, 30 ms], amplitudes: [200 pA, 0 pA]}}\n";
    auto c = run(parse(y));
    const auto v = c.trace(0, 0, 0);
    const double RI = 8.0, v30 = RI * (1 - std::exp(-2.0));
    for (std::size_t k = 0; k < v.size(); ++k) {
        const double t = k * dt;
        const double expect = t <= 10 ? 0.0 : t <= 30 ? RI * (1 - std::exp(-(t - 10) / 10)) : v30 * std::exp(-(t - 30) / 10);
        INFO("t " << t);
        REQUIRE(v[k] + 70.0 == Approx(expect).margin(1e-4));
    }
}

#include "engram/neurons/fast_math.hpp"

TEST_CASE("the vectorisable exp is accurate to a few float ulps", "[unit][lif]") {
    double worst = 0;
    for (double x = -80.0; x <= 80.0; x += 0.001) {
        const double exact = std::exp(static_cast<double>(static_cast<float>(x)));
        worst = std::max(worst, std::fabs(engram::vexp(static_cast<float>(x)) - exact) / exact);
    }
    CHECK(worst < 4e-7);
    CHECK(engram::vexp(-200.0f) >= 0.0f);
    CHECK(engram::vexp(-200.0f) < 1e-37f);
}

// phi1(z) = (e^z - 1) / z against expm1 in long double over a polynomial's range
template <class T, bool Near>
double phi1_worst_error() {
    double worst = 0;
    const auto q = engram::phi1_rounded<T, Near>();
    for (long double z = engram::phi1_z_min<Near>; z <= -1e-6L; z += 1.0L / 16384) {
        const long double exact = std::expm1(z) / z;
        const T got = engram::phi1_poly(static_cast<T>(z), q);
        worst = std::max(worst, static_cast<double>(std::fabs((static_cast<long double>(got) - exact) / exact)));
    }
    return worst;
}

TEST_CASE("the phi1 polynomials of exponential Euler are exact to the precision's rounding", "[unit][lif]") {
    // within two float ulps (phi1 >= 0.70 on both ranges: an ulp is at most 2^-24 / 0.70 =
    // 8.5e-8 of it; found 1.1e-7 near, 9.5e-8 wide) and two double ulps (found 1.2e-16
    // near, 1.7e-16 wide, both economised: the plain series of degrees 9 and 11 would be
    // off by 6e-15 and 1e-15; Horner's rule in z gave 9.6e-17 and 1.3e-16, and joining
    // E(z^2) and z O(z^2) with q[0] already in E 2.2e-16 and 2.8e-16)
    CHECK(phi1_worst_error<float, false>() < 1.5e-7);
    CHECK(phi1_worst_error<float, true>() < 1.5e-7);
    CHECK(phi1_worst_error<double, false>() < 2.5e-16);
    CHECK(phi1_worst_error<double, true>() < 2.5e-16);
    // the near range reaches -7/16, the wide one -3/4; the near polynomial is one degree lower in float
    CHECK(engram::phi1_z_min<true> == -0.4375);
    CHECK(engram::phi1_z_min<false> == -0.75);
    CHECK(engram::phi1_degree<float, true> + 1 == engram::phi1_degree<float, false>);
    // the expansion in z keeps phi1(0) = 1 and phi1'(0) = 1/2 (the economisation moves
    // the float coefficients by a few 1e-8)
    CHECK(engram::phi1_coefficients<double>()[0] == Approx(1.0).epsilon(1e-15));
    CHECK(engram::phi1_coefficients<double>()[1] == Approx(0.5).epsilon(1e-14));
    CHECK(engram::phi1_coefficients<double, true>()[0] == Approx(1.0).epsilon(1e-15));
    CHECK(engram::phi1_coefficients<double, true>()[1] == Approx(0.5).epsilon(1e-14));
    CHECK(engram::phi1_coefficients<float>()[0] == Approx(1.0).epsilon(3e-8));
    CHECK(engram::phi1_coefficients<float, true>()[0] == Approx(1.0).epsilon(4e-8));
    CHECK(engram::phi1_coefficients<float, true>()[1] == Approx(0.5).epsilon(1e-5));
    CHECK(engram::phi1_poly(-0.75, engram::phi1_rounded<double>()) == Approx(-std::expm1(-0.75) / 0.75).epsilon(1e-15));
    CHECK(engram::phi1_poly(-0.4375, engram::phi1_rounded<double, true>()) == Approx(-std::expm1(-0.4375) / 0.4375).epsilon(1e-15));
    // the ranges, by the bits of z: [-3/4, -0] and [-7/16, -0]; +0, positive z, below the
    // range and NaN outside
    CHECK(engram::phi1_reaches(-0.75f));
    CHECK(engram::phi1_reaches(-0.0f));
    CHECK(engram::phi1_reaches(-1e-30f));
    CHECK(engram::phi1_reaches(-0.3));
    CHECK_FALSE(engram::phi1_reaches(std::nextafter(-0.75f, -1.0f)));
    CHECK_FALSE(engram::phi1_reaches(std::nextafter(-0.75, -1.0)));
    CHECK_FALSE(engram::phi1_reaches(0.0f));
    CHECK_FALSE(engram::phi1_reaches(0.25f));
    CHECK_FALSE(engram::phi1_reaches(-std::numeric_limits<float>::quiet_NaN()));
    CHECK_FALSE(engram::phi1_reaches(std::numeric_limits<double>::quiet_NaN()));
    CHECK(engram::phi1_reaches<true>(-0.4375f));
    CHECK(engram::phi1_reaches<true>(-0.4375));
    CHECK(engram::phi1_reaches<true>(-0.0f));
    CHECK_FALSE(engram::phi1_reaches<true>(std::nextafter(-0.4375f, -1.0f)));
    CHECK_FALSE(engram::phi1_reaches<true>(std::nextafter(-0.4375, -1.0)));
    CHECK_FALSE(engram::phi1_reaches<true>(-0.5f));
    CHECK_FALSE(engram::phi1_reaches<true>(0.0f));
    CHECK_FALSE(engram::phi1_reaches<true>(std::numeric_limits<float>::quiet_NaN()));
}

TEST_CASE("the double vexp is accurate to a few double ulps", "[unit][lif]") {
    double worst = 0;
    for (double x = -700.0; x <= 700.0; x += 0.0137) {
        const double exact = std::exp(x);
        worst = std::max(worst, std::fabs(engram::vexp(x) - exact) / exact);
    }
    CHECK(worst < 1e-15);
    CHECK(engram::vexp(0.0) == 1.0);
    CHECK(engram::vexp(-1000.0) >= 0.0);
    CHECK(engram::vexp(-1000.0) < 1e-300);
}

TEST_CASE("with precision: double, v under constant current follows the closed form to double rounding", "[unit][lif]") {
    // Exact integration: the only error is rounding. In float it is of the order of the
    // float spacing at -60 mV (4e-6 mV); in double 1e9 times smaller.
    struct model_case {
        const char* model;
        const char* params;
        double (*exact)(double t);
    };
    const model_case cases[] = {
        {"lif_curr_exp", "C_m: 250 pF, tau_m: 10 ms, E_L: -70 mV, V_th: 0 mV, V_reset: -70 mV, I_e: 300 pA",
         [](double t) { return -70.0 + 12.0 * (1.0 - std::exp(-t / 10.0)); }},
        {"lif_curr_delta", "C_m: 250 pF, tau_m: 10 ms, E_L: -70 mV, V_th: 0 mV, V_reset: -70 mV, I_e: 300 pA",
         [](double t) { return -70.0 + 12.0 * (1.0 - std::exp(-t / 10.0)); }},
        {"lif_cond_exp", "C_m: 250 pF, tau_m: 15 ms, E_L: -70 mV, V_th: 0 mV, V_reset: -70 mV, I_e: 100 pA",
         [](double t) { return -70.0 + 100.0 / (250.0 / 15.0) * (1.0 - std::exp(-t / 15.0)); }},
    };
    for (const auto& c : cases) {
        INFO(c.model);
        double worst[2] = {0.0, 0.0};
        for (int d = 0; d < 2; ++d) {
            const auto spec = parse(neuron(c.model, c.params), {d ? "simulation.precision=double" : "simulation.precision=float"});
            simulation sim(spec, builtin_models(), 1);
            for (int k = 1; k <= 600; ++k) {
                sim.run(1, nullptr);
                worst[d] = std::max(worst[d], std::fabs(sim.state(0, "v")[0] - c.exact(k * dt)));
            }
        }
        CHECK(worst[1] < 1e-11);
        CHECK(worst[0] > 1e-7);  // float: the rounding the option removes
        CHECK(worst[0] < 1e-4);
    }
}

TEST_CASE("integration: euler advances lif_cond_exp by forward Euler", "[unit][lif]") {
    // No synaptic input: v_n = v_inf + (v_0 - v_inf) (1 - dt/tau_m)^n, the forward-Euler
    // solution, which differs from the exact one by O(dt) and tends to the same v_inf.
    const std::string params = "C_m: 250 pF, tau_m: 15 ms, E_L: -70 mV, V_th: 0 mV, V_reset: -70 mV, I_e: 100 pA";
    std::string y = neuron("lif_cond_exp", params);
    y.replace(y.find("model: lif_cond_exp"), 19, "model: lif_cond_exp, integration: euler");
    auto c = run(parse(y));
    const auto v = c.trace(0, 0, 0);
    REQUIRE(v.size() == 600);
    const double v_inf = -70.0 + 100.0 / (250.0 / 15.0);
    double worst_vs_exact = 0.0;
    for (std::size_t k = 0; k < v.size(); ++k) {
        INFO("step " << k);
        REQUIRE(v[k] == Approx(v_inf + (-70.0 - v_inf) * std::pow(1.0 - dt / 15.0, double(k))).margin(1e-4));
        worst_vs_exact = std::max(worst_vs_exact, std::fabs(v[k] - (v_inf + (-70.0 - v_inf) * std::exp(-double(k) * dt / 15.0))));
    }
    CHECK(worst_vs_exact > 1e-3);  // a different scheme, first order: visibly not the exact solution
    CHECK(worst_vs_exact < 0.02);
    // One input spike of 5 nS: g_ex decays by (1 - dt/tau_syn) per step from its arrival.
    std::string y2 = neuron("lif_cond_exp", "tau_syn_ex: 2 ms", "5 nS");
    y2.replace(y2.find("model: lif_cond_exp"), 19, "model: lif_cond_exp, integration: euler");
    auto c2 = run(parse(y2));
    const auto g = c2.trace(0, 1, 0);
    std::size_t first = 0;
    while (first < g.size() && g[first] == 0.0) ++first;
    REQUIRE(first + 100 < g.size());
    // the weight on arrival, then one Euler step of decay: 5 (1 - 0.05) = 4.75 (the exact
    // decay would give 5 e^-0.05 = 4.756)
    CHECK(g[first] == Approx(5.0).epsilon(1e-6));
    CHECK(g[first + 1] == Approx(4.75).epsilon(1e-6));
    for (std::size_t k = first; k < first + 100; ++k) REQUIRE(g[k] == Approx(5.0 * std::pow(1.0 - dt / 2.0, double(k - first))).epsilon(1e-5));
}

namespace {

// Drives neuron 0 of a one-neuron `model` population step by step from `first`: a large
// input at the steps in `kicks`; returns the steps at which it spiked.
std::vector<std::uint64_t> spikes_from(const std::string& model, std::uint64_t first, std::uint64_t steps,
                                       const std::vector<std::uint64_t>& kicks, const std::vector<std::uint64_t>& jumps = {}) {
    const auto spec = parse(neuron(model, "C_m: 250 pF, tau_m: 10 ms, E_L: -70 mV, V_th: -55 mV, V_reset: -70 mV, t_ref: 2 ms"));
    const model_info& info = builtin_models().get(model);
    auto pop = info.make(spec.populations[0], dt);
    pop->state(0)[0] = -70.0f;  // at rest (the engine would set the initial state)
    const float big = model == "lif_curr_delta" ? 100.0f : model == "lif_cond_exp" ? 5000.0f : 1e5f;
    std::vector<float> in_e(16, 0.0f), in_i(16, 0.0f);
    float* inputs[2] = {in_e.data(), in_i.data()};
    std::vector<std::uint64_t> out;
    std::vector<std::uint32_t> ids;
    auto step = [&](std::uint64_t n, bool kick) {
        step_context ctx;
        ctx.step = n;
        ctx.dt = dt;
        ctx.input = inputs;
        in_e[0] = kick ? big : 0.0f;
        ids.clear();
        pop->update(ctx, 0, 1, ids);
        if (!ids.empty()) out.push_back(n);
    };
    for (std::uint64_t n : jumps) step(n, false);  // idle steps far apart (epoch boundaries)
    for (std::uint64_t n = first; n < first + steps; ++n)
        step(n, std::find(kicks.begin(), kicks.end(), n - first) != kicks.end());
    for (auto& s : out) s -= first;
    return out;
}

}  // namespace

TEST_CASE("refractoriness is the same across the 2^14-step epochs of the spike record", "[unit][lif]") {
    // t_ref = 2 ms = 20 steps. Kicked at every step from 0 to 60: a spike at s0 (0 where
    // the input moves v at once, 1 where it flows through a synaptic current), then held
    // for 20 steps after each spike - wherever the run is, including across the boundary
    // at 2^14 where the records move back.
    const std::uint64_t epoch = std::uint64_t(1) << 14;
    std::vector<std::uint64_t> every;
    for (std::uint64_t k = 0; k <= 60; ++k) every.push_back(k);
    for (const char* model : {"lif_curr_exp", "lif_curr_delta", "lif_cond_exp"}) {
        INFO(model);
        const auto near_start = spikes_from(model, 1, 61, every);
        const std::uint64_t s0 = std::string(model) == "lif_curr_delta" ? 0 : 1;
        REQUIRE(near_start == std::vector<std::uint64_t>{s0, s0 + 21, s0 + 42});
        for (std::uint64_t first : {epoch - 30, epoch - 1, epoch, 3 * epoch - 10, (std::uint64_t(1) << 28) - 7, (std::uint64_t(1) << 40) - 5}) {
            INFO("first step " << first);
            CHECK(spikes_from(model, first, 61, every) == near_start);
        }
        // Idle through many epoch boundaries (the records held at "long ago", not
        // overflowing), then kicked: it fires, is held 20 steps, fires again.
        std::vector<std::uint64_t> idle;
        for (std::uint64_t k = 1; k <= 12; ++k) idle.push_back(k * epoch);
        CHECK(spikes_from(model, 12 * epoch + 1, 30, {0, 3, 21}, idle) == std::vector<std::uint64_t>{s0, s0 + 21});
    }
}

TEST_CASE("a refractory period longer than the 2^14-step epoch holds for exactly its steps, up to the longest accepted", "[unit][lif]") {
    // 70 neurons (two blocks of 32 through the vector kernels, 6 through the scalar code)
    // under a constant current that takes them from V_reset to V_th in a few ms: every
    // interval between spikes is the hold of n_ref steps plus that climb, so it must grow
    // by exactly the steps t_ref adds. 20,000 and 32,767 steps (the most accepted) span
    // one and two epoch boundaries of the spike record; 20 steps as the reference.
    for (const char* precision : {"float", "double"})
        for (const char* model : {"lif_curr_exp", "lif_curr_delta", "lif_cond_exp"}) {
            INFO(model << " in " << precision);
            auto isis = [&](const std::string& t_ref) {
                const std::string y = std::string("simulation: {dt: 0.1 ms, duration: 9000 ms, precision: ") + precision +
                                      "}\npopulations:\n  n: {size: 70, model: " + model +
                                      ", params: {C_m: 250 pF, tau_m: 10 ms, E_L: -70 mV, V_th: -55 mV, V_reset: -70 mV, I_e: 500 pA, t_ref: " +
                                      t_ref + "}}\n";
                const auto c = run(parse(y));
                std::vector<std::vector<std::uint64_t>> per(70);
                for (const auto& sp : c.spikes) per[sp.id].push_back(sp.step);
                std::vector<std::uint64_t> out;  // every interval of every neuron
                for (const auto& t : per) {
                    REQUIRE(t.size() >= 2);
                    REQUIRE(t == per[0]);  // the neurons are identical
                    for (std::size_t k = 1; k < t.size(); ++k) out.push_back(t[k] - t[k - 1]);
                }
                return out;
            };
            const auto ref = isis("2 ms");
            REQUIRE(std::all_of(ref.begin(), ref.end(), [&](std::uint64_t d) { return d == ref[0]; }));
            for (const auto& [t_ref, steps] : {std::pair<const char*, std::uint64_t>{"2000 ms", 20000}, {"3276.7 ms", 32767}}) {
                INFO("t_ref " << t_ref);
                const auto longer = isis(t_ref);
                REQUIRE(!longer.empty());
                for (std::uint64_t d : longer) CHECK(d == ref[0] + steps - 20);
            }
        }
}

TEST_CASE("a refractory period beyond 32,767 steps of dt is refused, naming t_ref", "[unit][lif]") {
    const std::string y = "simulation: {dt: 0.1 ms, duration: 10 ms}\npopulations:\n  n: {size: 4, model: lif_cond_exp, params: {t_ref: 3276.8 ms}}\n";
    using Catch::Matchers::Contains;
    REQUIRE_THROWS_WITH(parse(y), Contains("populations.n.params") && Contains("t_ref = 3276.8 ms is 32768 steps") && Contains("at most 32767"));
    CHECK_NOTHROW(parse(y, {"simulation.dt=0.2ms"}));  // 16,384 steps of the coarser dt
    // built without validation (the C++ API), at the finer dt: the model refuses it too
    const auto spec = parse(y, {"simulation.dt=0.2ms"});
    for (const char* model : {"lif_curr_exp", "lif_curr_delta", "lif_cond_exp"}) {
        INFO(model);
        const model_info& info = builtin_models().get(model);
        REQUIRE_THROWS_WITH(info.make(spec.populations[0], 0.1), Contains("population n: t_ref is 32768 steps of dt"));
        CHECK_NOTHROW(info.make(spec.populations[0], 0.2));
    }
}

TEST_CASE("lazily decayed synaptic variables read as their exact decay, across rescaling steps, reset and precisions", "[unit][lif]") {
    // lif_cond_exp and lif_curr_exp keep their synaptic variables divided by P^(n mod K)
    // and rescale every K steps (K = 64 for tau 0.5 ms at dt 0.1 ms): recordings,
    // simulation::state and reset_state must see the values themselves. Inputs arrive
    // through direct delivery (delay one step) on ex and through the ring on in.
    // Expected: initial value P^n plus each weight P^(n - arrival), in double.
    const std::string y = R"(
simulation: {dt: 0.1 ms, duration: 40 ms, seed: 1}
populations:
  g: {size: 2, model: lif_cond_exp, params: {V_th: 1000 mV, tau_syn_ex: 0.5 ms, tau_syn_in: 4 ms}, initial: {g_ex: 2 nS, g_in: 3 nS}}
  c: {size: 2, model: lif_curr_exp, params: {V_th: 1000 mV, tau_syn_ex: 0.5 ms, tau_syn_in: 4 ms}, initial: {I_ex: 20 pA, I_in: -30 pA}}
  e: {size: 2, model: lif_cond_exp, params: {V_th: 1000 mV, tau_syn_ex: 0.005 ms, tau_syn_in: 4 ms}}
  s: {size: 1, model: spike_array, params: {spike_times: [5 ms, 7.3 ms, 21 ms]}}
projections:
  ge: {source: s, target: g, receptor: ex, weight: 4 nS, delay: 0.1 ms, connector: all_to_all}
  gi: {source: s, target: g, receptor: in, weight: 6 nS, delay: 1.5 ms, connector: all_to_all}
  ce: {source: s, target: c, receptor: ex, weight: 40 pA, delay: 0.1 ms, connector: all_to_all}
  ci: {source: s, target: c, receptor: in, weight: -60 pA, delay: 1.5 ms, connector: all_to_all}
  ee: {source: s, target: e, receptor: ex, weight: 4 nS, delay: 0.1 ms, connector: all_to_all}
record:
  state:
    rg: {population: g, variables: [g_ex, g_in]}
    rc: {population: c, variables: [I_ex, I_in]}
    re: {population: e, variables: [g_ex]}
)";
    // sample k: the state after step k; a spike at t arrives in step t/dt + delay/dt
    const auto expected = [](double tau, double initial, double w, int delay_steps, std::size_t k) {
        const double P = std::exp(-dt / tau);
        double x = initial * std::pow(P, double(k));
        for (double t : {5.0, 7.3, 21.0}) {
            const auto a = static_cast<std::size_t>(std::llround(t / dt)) + static_cast<std::size_t>(delay_steps);
            if (k >= a) x += w * std::pow(P, double(k - a));
        }
        return x;
    };
    for (const char* precision : {"float", "double"}) {
        INFO(precision);
        const auto spec = parse(y, {std::string("simulation.precision=") + precision});
        simulation sim(spec, builtin_models(), 1);
        capture c;
        sim.run(200, &c);  // 20 ms: rescaled at steps 64, 128 and 192
        // recorded samples are float in both precisions; simulation::state reads the state
        // itself, in double every input added in double (a factor 1 / sigma rounded to
        // float would be off by 6e-8)
        const double eps = std::string(precision) == "double" ? 1e-12 : 2e-6;
        const auto check = [&](std::size_t rec, std::size_t var, double tau, double initial, double w, int delay_steps) {
            for (std::size_t j = 0; j < 2; ++j) {
                const auto tr = c.trace(rec, var, j);
                REQUIRE(tr.size() == 200);
                for (std::size_t k = 0; k < tr.size(); ++k) {
                    INFO("recorder " << rec << " variable " << var << " sample " << k);
                    REQUIRE(tr[k] == Approx(expected(tau, initial, w, delay_steps, k)).epsilon(2e-6).margin(1e-30));
                }
            }
        };
        check(0, 0, 0.5, 2.0, 4.0, 1);
        check(0, 1, 4.0, 3.0, 6.0, 15);
        check(1, 0, 0.5, 20.0, 40.0, 1);
        check(1, 1, 4.0, -30.0, -60.0, 15);
        // a factor of e^-20 per step (K = 1: the eager decay): the weight for one step,
        // then nearly nothing
        check(2, 0, 0.005, 0.0, 4.0, 1);
        // simulation::state after step 200 (not a rescaling step)
        for (double x : sim.state(0, "g_in")) CHECK(x == Approx(expected(4.0, 3.0, 6.0, 15, 200)).epsilon(eps));
        for (double x : sim.state(0, "g_ex")) CHECK(x == Approx(expected(0.5, 2.0, 4.0, 1, 200)).epsilon(eps));
        for (double x : sim.state(1, "I_ex")) CHECK(x == Approx(expected(0.5, 20.0, 40.0, 1, 200)).epsilon(eps));
        // back to the initial values at step 200; they decay from there
        sim.reset_state();
        for (double x : sim.state(0, "g_ex")) CHECK(x == Approx(2.0).epsilon(1e-6));
        for (double x : sim.state(1, "I_in")) CHECK(x == Approx(-30.0).epsilon(1e-6));
        // (the spike at 21 ms still comes: it arrives in steps 211 and 225)
        capture after;
        sim.run(100, &after);
        for (std::size_t k = 0; k < 100; ++k) {
            INFO("after reset, sample " << k);
            const double in = 3.0 * std::exp(-double(k) * dt / 4.0) + (k >= 25 ? 6.0 * std::exp(-double(k - 25) * dt / 4.0) : 0.0);
            const double ex = 20.0 * std::exp(-double(k) * dt / 0.5) + (k >= 11 ? 40.0 * std::exp(-double(k - 11) * dt / 0.5) : 0.0);
            REQUIRE(after.trace(0, 1, 0)[k] == Approx(in).epsilon(2e-6));
            REQUIRE(after.trace(1, 0, 1)[k] == Approx(ex).epsilon(2e-6).margin(1e-30));
        }
    }
}

TEST_CASE("one-step inputs reach 4-byte targets directly, in float and in double", "[unit][lif]") {
    // A part of more than 65,536 neurons stores 4-byte targets; one-step static inputs then
    // go straight onto the synaptic variable through the wide path of direct delivery,
    // in the state's precision. Expected: each weight times P^(n - arrival), at the listed
    // targets only.
    const std::string y = R"(
simulation: {dt: 0.1 ms, duration: 20 ms, seed: 1}
populations:
  g: {size: 70000, model: lif_cond_exp, params: {V_th: 1000 mV, tau_syn_ex: 2 ms}, initial: {g_ex: 0 nS}}
  s: {size: 2, model: spike_array, params: {spike_times: [[1 ms, 3.4 ms], [2 ms]]}}
projections:
  ge: {source: s, target: g, receptor: ex, weight: 1 nS, delay: 0.1 ms,
       connector: {rule: from_list, connections: [[0, 0, 2 nS], [0, 65535, 3 nS], [1, 65536, 5 nS], [0, 69999, 7 nS], [1, 69999, 0.5 nS]]}}
)";
    const double P = std::exp(-dt / 2.0);
    const std::size_t n = 150;  // past a rescaling step (K = 128 for P = e^-0.05)
    // a spike at t arrives in step t/dt + 1
    const auto x = [&](double w, std::initializer_list<double> times) {
        double sum = 0.0;
        for (double t : times) {
            const auto a = static_cast<std::size_t>(std::llround(t / dt)) + 1;
            if (n >= a) sum += w * std::pow(P, double(n - a));
        }
        return sum;
    };
    for (const char* precision : {"float", "double"}) {
        INFO(precision);
        const double eps = std::string(precision) == "double" ? 1e-12 : 2e-6;
        simulation sim(parse(y, {std::string("simulation.precision=") + precision}), builtin_models(), 1);
        capture c;
        sim.run(n, &c);
        const auto g = sim.state(0, "g_ex");
        REQUIRE(g.size() == 70000);
        CHECK(g[0] == Approx(x(2.0, {1.0, 3.4})).epsilon(eps));
        CHECK(g[65535] == Approx(x(3.0, {1.0, 3.4})).epsilon(eps));
        CHECK(g[65536] == Approx(x(5.0, {2.0})).epsilon(eps));
        CHECK(g[69999] == Approx(x(7.0, {1.0, 3.4}) + x(0.5, {2.0})).epsilon(eps));
        std::size_t others = 0;
        for (std::size_t i = 0; i < g.size(); ++i)
            if (i != 0 && i != 65535 && i != 65536 && i != 69999 && g[i] != 0.0) ++others;
        CHECK(others == 0);
    }
}
