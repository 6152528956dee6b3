// The CA3 content-addressable memory as an engram network (models.md section 4; the
// reference code's CA3_content_addressable.py and config/network_config.json).
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <string>

#include "engram/ca3/memory.hpp"
#include "engram/core/errors.hpp"
#include "engram/core/model.hpp"
#include "engram/neurons/models.hpp"
#include "input_queue.hpp"

namespace engram::ca3 {
namespace {

constexpr double inf = std::numeric_limits<double>::infinity();
constexpr double nan = std::numeric_limits<double>::quiet_NaN();

double scalar(const population_spec& s, const char* name) { return s.params.at(name).values.at(0); }

// PyNN's IF_curr_exp as sPyNNaker steps it (neuron_model_lif_impl.h,
// synapse_types_exponential_impl.h), which the memory's 1 ms logic is tuned to. Step n:
//   I <- I + (tau_s/dt)(1 - exp(-dt/tau_s)) * (weights arriving at step n)
//   v <- a - exp(-dt/tau_m) (a - v),  a = E_L + (tau_m/C)(I_ex + I_in + I_e)   (not refractory)
//   v >= V_th: spike, v <- V_reset, refractory for t_ref;  then I <- I exp(-dt/tau_s).
// Unlike lif_curr_exp (exact integration, input of step n acting from step n+1) a spike
// sent with delay d moves its target in the step it arrives: one hop costs d steps.
struct lif_spinnaker final : population_model {
    std::vector<float> v, I_ex, I_in;
    std::vector<std::int32_t> ref;
    float E_L, V_th, V_reset, I_e, R, P_mm, P_e, P_i, init_e, init_i;
    std::int32_t n_ref;

    lif_spinnaker(const population_spec& s, double dt) : v(s.size), I_ex(s.size), I_in(s.size), ref(s.size, 0) {
        const double tau = scalar(s, "tau_m"), te = scalar(s, "tau_syn_ex"), ti = scalar(s, "tau_syn_in");
        E_L = static_cast<float>(scalar(s, "E_L"));
        V_th = static_cast<float>(scalar(s, "V_th"));
        V_reset = static_cast<float>(scalar(s, "V_reset"));
        I_e = static_cast<float>(scalar(s, "I_e"));
        R = static_cast<float>(tau / scalar(s, "C_m"));
        P_mm = static_cast<float>(std::exp(-dt / tau));
        P_e = static_cast<float>(std::exp(-dt / te));
        P_i = static_cast<float>(std::exp(-dt / ti));
        init_e = static_cast<float>(te / dt * -std::expm1(-dt / te));
        init_i = static_cast<float>(ti / dt * -std::expm1(-dt / ti));
        n_ref = static_cast<std::int32_t>(std::llround(scalar(s, "t_ref") / dt));
    }
    float* state(std::size_t k) override { return k == 0 ? v.data() : k == 1 ? I_ex.data() : I_in.data(); }
    void reset() override { std::fill(ref.begin(), ref.end(), 0); }

    void update(const step_context& ctx, std::uint32_t b, std::uint32_t e, std::vector<std::uint32_t>& spikes) override {
        float* in_e = ctx.input[0];
        float* in_i = ctx.input[1];
        for (std::uint32_t i = b; i < e; ++i) {
            I_ex[i] += init_e * in_e[i];
            I_in[i] += init_i * in_i[i];
            in_e[i] = 0.0f;
            in_i[i] = 0.0f;
            if (ref[i] > 0) {
                --ref[i];
                v[i] = V_reset;
            } else {
                const float stim = ctx.i_stim ? ctx.i_stim[i] : 0.0f;
                const float a = E_L + R * (I_ex[i] + I_in[i] + I_e + stim);
                v[i] = a - P_mm * (a - v[i]);
                if (v[i] >= V_th) {
                    spikes.push_back(i);
                    v[i] = V_reset;
                    ref[i] = n_ref;
                }
            }
            I_ex[i] *= P_e;
            I_in[i] *= P_i;
        }
    }
};

// Emits the spikes queued for the current step.
struct queued_source final : population_model {
    std::shared_ptr<input_queue> queue;
    explicit queued_source(std::shared_ptr<input_queue> q) : queue(std::move(q)) {}
    float* state(std::size_t) override { return nullptr; }
    void update(const step_context& ctx, std::uint32_t b, std::uint32_t e, std::vector<std::uint32_t>& spikes) override {
        const auto it = queue->spikes.find(ctx.step);
        if (it == queue->spikes.end()) return;
        for (std::uint32_t i : it->second)
            if (i >= b && i < e) spikes.push_back(i);
    }
};

param_value one(double x) { return param_value{{x}, {}}; }

}  // namespace

std::unique_ptr<model_registry> make_registry(std::shared_ptr<input_queue> queue) {
    auto r = std::make_unique<model_registry>();
    register_builtin_models(*r);
    {
        model_info m;
        m.name = "lif_curr_exp_spinnaker";
        m.doc = "LIF neuron with exponential synaptic currents stepped as sPyNNaker steps IF_curr_exp (input acts in the step it arrives)";
        m.params = {
            {"C_m", dimension::capacitance, param_kind::scalar, 250.0, 0.0, inf, true, "membrane capacitance"},
            {"tau_m", dimension::time, param_kind::scalar, 10.0, 0.0, inf, true, "membrane time constant"},
            {"E_L", dimension::voltage, param_kind::scalar, -65.0, -inf, inf, false, "resting potential"},
            {"V_th", dimension::voltage, param_kind::scalar, -50.0, -inf, inf, false, "spike threshold"},
            {"V_reset", dimension::voltage, param_kind::scalar, -65.0, -inf, inf, false, "reset potential"},
            {"t_ref", dimension::time, param_kind::scalar, 1.0, 0.0, inf, false, "refractory period"},
            {"I_e", dimension::current, param_kind::scalar, 0.0, -inf, inf, false, "constant bias current"},
            {"tau_syn_ex", dimension::time, param_kind::scalar, 5.0, 0.0, inf, true, "excitatory synaptic time constant"},
            {"tau_syn_in", dimension::time, param_kind::scalar, 5.0, 0.0, inf, true, "inhibitory synaptic time constant"},
        };
        m.state = {{"v", dimension::voltage, "E_L", 0.0, "membrane potential"},
                   {"I_ex", dimension::current, "", 0.0, "excitatory synaptic current"},
                   {"I_in", dimension::current, "", 0.0, "inhibitory synaptic current"}};
        m.receptors = {{"ex", dimension::current, false, "adds (tau_s/dt)(1-exp(-dt/tau_s)) x weight to I_ex"},
                       {"in", dimension::current, false, "the same onto I_in (give inhibitory weights negative)"}};
        m.accepts_current = true;
        m.make = [](const population_spec& s, double dt) { return std::make_unique<lif_spinnaker>(s, dt); };
        m.check = [](const population_spec& s, double) -> std::string {
            return scalar(s, "V_reset") < scalar(s, "V_th") ? "" : "V_reset must be below V_th";
        };
        r->add(std::move(m));
    }
    {
        model_info m;
        m.name = "ca3_input";
        m.doc = "spike source fed while the simulation runs (engram::ca3::memory queues each operation's input)";
        m.is_source = true;
        m.make = [queue](const population_spec&, double) { return std::make_unique<queued_source>(queue); };
        r->add(std::move(m));
    }
    return r;
}

network_spec build_network(std::size_t n, std::size_t m, const parameters& p) {
    if (n < 1 || m < 1) throw spec_error("ca3", "a memory needs at least one cue and one content bit (got n = " + std::to_string(n) + ", m = " + std::to_string(m) + ")");
    if (n + m > 1'000'000) throw spec_error("ca3", "n + m = " + std::to_string(n + m) + " is beyond what this builder supports (1e6)");
    network_spec s;
    s.simulation.dt = 1.0;
    s.simulation.duration = 0.0;
    s.simulation.seed = 1;
    s.simulation.threads = 1;

    auto add_pop = [&](const char* name, std::size_t size, bool fast, bool output) {
        population_spec ps;
        ps.name = name;
        ps.size = static_cast<std::uint32_t>(size);
        ps.model = "lif_curr_exp_spinnaker";
        ps.params["C_m"] = one(fast ? p.C_fast : p.C_slow);
        ps.params["tau_m"] = one(fast ? p.tau_m_fast : p.tau_m_slow);
        ps.params["E_L"] = one(p.E_L);
        ps.params["V_th"] = one(output ? p.V_th_output : p.V_th);
        ps.params["V_reset"] = one(p.V_reset);
        ps.params["t_ref"] = one(p.t_ref);
        ps.params["I_e"] = one(0.0);
        ps.params["tau_syn_ex"] = one(p.tau_syn);
        ps.params["tau_syn_in"] = one(p.tau_syn);
        ps.initial["v"] = distribution::constant(p.E_L, dimension::voltage);
        ps.where.key = std::string("ca3.") + name;
        s.populations.push_back(std::move(ps));
        s.spike_recorders.push_back(name);
    };
    {
        population_spec in;
        in.name = pop::input;
        in.size = static_cast<std::uint32_t>(n + m);
        in.model = "ca3_input";
        in.where.key = "ca3.IL";
        s.populations.push_back(std::move(in));
        s.spike_recorders.push_back(pop::input);
    }
    add_pop(pop::cue_cue, n, false, false);
    add_pop(pop::cue_cont, n, true, false);
    add_pop(pop::cont_cue, m, false, false);
    add_pop(pop::cont_cont, m, false, false);
    add_pop(pop::cont_cond, m, true, false);
    add_pop(pop::cont_cond_int, 1, true, false);
    add_pop(pop::merge_cue, n, false, false);
    add_pop(pop::merge_cont, m, false, false);
    add_pop(pop::output, n + m, false, true);

    // Synapses as explicit lists: (pre, post) pairs with the projection's weight and delay.
    auto add_proj = [&](std::string name, const char* src, const char* tgt, double weight, double delay,
                        std::vector<std::uint32_t> pre, std::vector<std::uint32_t> post) {
        projection_spec pj;
        pj.name = std::move(name);
        pj.source = src;
        pj.target = tgt;
        pj.receptor = weight < 0 ? "in" : "ex";
        pj.weight = distribution::constant(weight, dimension::current);
        pj.delay = distribution::constant(delay, dimension::time);
        pj.connector.rule = "from_list";
        pj.connector.file = "ca3 network builder";
        pj.connector.weight.assign(pre.size(), nan);
        pj.connector.delay.assign(pre.size(), nan);
        pj.connector.pre = std::move(pre);
        pj.connector.post = std::move(post);
        pj.where.key = "ca3." + pj.name;
        s.projections.push_back(std::move(pj));
        return s.projections.size() - 1;
    };
    auto one_to_one = [&](std::string name, const char* src, const char* tgt, double w, double d, std::size_t count,
                          std::uint32_t src_off = 0, std::uint32_t tgt_off = 0) {
        std::vector<std::uint32_t> pre, post;
        for (std::uint32_t i = 0; i < count; ++i) { pre.push_back(src_off + i); post.push_back(tgt_off + i); }
        return add_proj(std::move(name), src, tgt, w, d, std::move(pre), std::move(post));
    };
    auto all_to_all = [&](std::string name, const char* src, std::size_t ns, const char* tgt, std::size_t nt, double w, double d,
                          bool self) {
        std::vector<std::uint32_t> pre, post;
        for (std::uint32_t i = 0; i < ns; ++i)
            for (std::uint32_t j = 0; j < nt; ++j)
                if (self || i != j) { pre.push_back(i); post.push_back(j); }
        return add_proj(std::move(name), src, tgt, w, d, std::move(pre), std::move(post));
    };
    const double w = p.w, dm = static_cast<double>(m);
    one_to_one("IL_cueCue", pop::input, pop::cue_cue, w, 1, n);
    one_to_one("IL_contCue", pop::input, pop::cont_cue, w, 1, m, static_cast<std::uint32_t>(n), 0);
    one_to_one("cueCue_cueCont", pop::cue_cue, pop::cue_cont, w, 2, n);
    if (n > 1) all_to_all("cueCue_cueCont_inh", pop::cue_cue, n, pop::cue_cont, n, -w * dm, 3, false);
    if (n > 1) all_to_all("cueCont_cueCont_inh", pop::cue_cont, n, pop::cue_cont, n, -w * dm, 2, false);
    all_to_all("cueCue_contCond_inh", pop::cue_cue, n, pop::cont_cond, m, -w, 2, true);
    one_to_one("contCue_contCond", pop::cont_cue, pop::cont_cond, p.w_cont_cond, 1, m);
    all_to_all("contCue_contCondInt", pop::cont_cue, m, pop::cont_cond_int, 1, w, 1, true);
    all_to_all("contCondInt_contCond", pop::cont_cond_int, 1, pop::cont_cond, m, p.w_int_cond, 1, true);
    one_to_one("contCond_contCont", pop::cont_cond, pop::cont_cont, w, 1, m);
    one_to_one("cueCue_mergeCue", pop::cue_cue, pop::merge_cue, w, 3, n);
    one_to_one("cueCont_mergeCue", pop::cue_cont, pop::merge_cue, w, 1, n);
    one_to_one("contCue_mergeCont", pop::cont_cue, pop::merge_cont, w, 3, m);
    one_to_one("contCont_mergeCont", pop::cont_cont, pop::merge_cont, w, 1, m);
    one_to_one("mergeCue_OL", pop::merge_cue, pop::output, w, 1, n);
    one_to_one("mergeCont_OL", pop::merge_cont, pop::output, w, 1, m, 0, static_cast<std::uint32_t>(n));

    plasticity_spec stdp;
    stdp.rule = "stdp";
    stdp.params = {{"tau_plus", p.tau_plus}, {"tau_minus", p.tau_minus}, {"trace_increment", 1.0},
                   {"a_plus", p.a_plus},     {"a_minus", p.a_minus},     {"w_min", 0.0},
                   {"w_max", p.w_max},       {"rate_decay", 1.0}};
    stdp.options = {{"weight_dependence", "additive"}, {"pairing", "all_to_all"}, {"presynaptic", "excitatory"},
                    {"depression_modulator", ""}};
    const auto a = all_to_all(cue_to_content, pop::cue_cue, n, pop::cont_cue, m, 0.0, 1, true);
    s.projections[a].plasticity = stdp;
    const auto b = all_to_all(content_to_cue, pop::cont_cont, m, pop::cue_cont, n, 0.0, 1, true);
    s.projections[b].plasticity = stdp;
    return s;
}

}  // namespace engram::ca3
