#pragma once
// The plug-in boundary between the engine and neuron models. A model declares its
// parameters, state variables and receptors as data (one descriptor table, read by the
// YAML validator, the docs and the results file) and supplies a factory for its runtime.
// The engine calls one virtual `update` per population per thread per step.
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "engram/core/spec.hpp"
#include "engram/core/units.hpp"

namespace engram {

enum class param_kind { scalar, per_neuron, spike_trains };

struct param_info {
    std::string name;
    dimension dim = dimension::dimensionless;
    param_kind kind = param_kind::scalar;
    std::optional<double> default_value;  // none = required
    double min = -std::numeric_limits<double>::infinity();
    double max = std::numeric_limits<double>::infinity();
    bool min_exclusive = false;
    std::string doc;
};

struct state_info {
    std::string name;
    dimension dim = dimension::dimensionless;
    std::string initial_from;  // parameter whose value is the default initial value ("E_L")
    double initial = 0.0;      // used when initial_from is empty
    std::string doc;
};

struct receptor_info {
    std::string name;
    dimension weight_dim = dimension::dimensionless;
    bool nonnegative = false;  // conductances
    std::string doc;
};

// What one update call sees. Inputs are this step's ring-buffer slot per receptor,
// indexed by neuron within the population; the model reads and clears them. `input` is
// null when the model takes every receptor's input directly (direct_input) and nothing
// of this run goes through the ring: no projection with a longer delay, no plastic one,
// no Poisson stimulus on the population.
struct step_context {
    std::uint64_t step = 0;  // this update advances the state from (step-1)*dt to step*dt
    double dt = 0.1;
    std::uint64_t seed = 0;
    float* const* input = nullptr;    // [receptor][neuron], or null (above)
    const float* i_stim = nullptr;    // injected current per neuron (pA), may be null
};

class population_model {
public:
    virtual ~population_model() = default;
    // Advances neurons [begin, end) by one step and appends the indices of those that
    // spiked, in increasing order, to `spikes`.
    virtual void update(const step_context& ctx, std::uint32_t begin, std::uint32_t end,
                        std::vector<std::uint32_t>& spikes) = 0;
    // The array of state variable `var` (index into model_info::state): float for models
    // made by model_info::make, double for those made by make_f64 (simulation.precision:
    // double). For a variable the model keeps, exactly one of the two is non-null.
    virtual float* state(std::size_t var) = 0;
    virtual double* state_f64(std::size_t) { return nullptr; }
    // What the stored values of `var` are multiplied by to give its values after step
    // `step` (after that step's delivery): 1 but for variables whose decay the model
    // applies lazily (the synaptic variables of lif_curr_exp and lif_cond_exp:
    // docs/architecture.md, "Lazy decays").
    // Readers of the state (recorders, simulation::state) multiply by it, writers of
    // initial values divide by it.
    virtual double state_scale(std::size_t /*var*/, std::uint64_t /*step*/) const { return 1.0; }
    // For a receptor whose input is a jump of one state variable after the step's decay
    // (x_n = P x_(n-1) + sum of weights: exponential synapses), that variable's array:
    // direct_input for a float model, direct_input_f64 for a double one (make_f64); the
    // other is null. The engine then adds the weights of static synapses with a delay of
    // one step to it right after update() (the same step, the same value up to the order
    // of the additions) instead of through a ring slot that update() would read and
    // clear. Null in both (the default): always through the ring. A model that takes
    // every receptor's input directly must accept a null step_context::input.
    virtual float* direct_input(std::size_t /*receptor*/) { return nullptr; }
    virtual double* direct_input_f64(std::size_t /*receptor*/) { return nullptr; }
    // What the weights delivered through direct_input after the update of step `step` are
    // multiplied by (one fused multiply-add per synapse, in the state's precision): 1 /
    // state_scale of the receptor's variable at that step.
    virtual double direct_scale(std::size_t /*receptor*/, std::uint64_t /*step*/) const { return 1.0; }
    // Back to the start, for state the descriptor table does not list (refractory
    // counters, a source's position in its trains); the engine re-initialises the
    // listed state variables itself.
    virtual void reset() {}
    // The per-neuron arrays laid out anew, for moving neurons between the parts of a
    // run's partition (the engine's moving cuts, simulation.rebalance): slot s of every
    // array the model sizes from population_spec::size takes what slot from[s] held
    // (from.size() is that size; no_slot: any value, the slot is unused), in the same
    // arrays (what state(), direct_input() and the like returned stays valid). A model
    // with part_gaps overrides it; false (the default): the model cannot, and the engine
    // keeps its partition.
    static constexpr std::uint32_t no_slot = 0xFFFFFFFFu;
    virtual bool relayout(const std::vector<std::uint32_t>& /*from*/) { return false; }
};

struct model_info {
    std::string name;
    std::string doc;
    std::vector<param_info> params;
    std::vector<state_info> state;
    std::vector<receptor_info> receptors;
    bool is_source = false;        // emits spikes only; cannot be a projection target
    bool accepts_current = false;  // step_current stimuli may target it
    // update() of step n reads data that all parts share and that step n+1 may replace
    // (a data set's current sample): the workers then meet after every step instead of
    // running up to a step apart (simulation::pipelined).
    bool shared_step_data = false;
    // The model's update and state depend on a neuron's index only through the arrays it
    // sizes from population_spec::size and the per-neuron values of its spec (params'
    // values and trains): the engine may then build it with more neurons than the
    // population has and keep unused neurons between the parts of the partition
    // (simulation::impl::space_parts). False for a model that draws random numbers or
    // keys anything by the index it is given.
    bool part_gaps = false;
    // Numerical schemes a population may choose with `integration:` (the first is the
    // default, with a line of doc each); empty for models with one scheme.
    std::vector<std::pair<std::string, std::string>> integrations;
    std::function<std::unique_ptr<population_model>(const population_spec&, double dt)> make;
    // The same model with its state and arithmetic in double (simulation.precision:
    // double); empty where the model has float kernels only.
    std::function<std::unique_ptr<population_model>(const population_spec&, double dt)> make_f64;
    // Checks across parameters, and of parameters against the step dt (e.g. V_reset <
    // V_th); returns an error message or "".
    std::function<std::string(const population_spec&, double dt)> check;

    const param_info* find_param(const std::string& n) const;
    int state_index(const std::string& n) const;     // -1 if absent
    int receptor_index(const std::string& n) const;  // -1 if absent
};

class synapse_rule;
class modulator;

// Plasticity rules and modulators (plasticity.hpp has their runtime interfaces).
struct rule_option {
    std::string name;
    std::vector<std::string> values;  // the first is the default
    std::string doc;
};

struct rule_info {
    std::string name, doc;
    std::vector<param_info> params;
    std::vector<rule_option> options;
    // modulators: names of the network's modulators, in the order their values are passed.
    std::function<std::unique_ptr<synapse_rule>(const projection_spec&, double dt, std::uint32_t n_pre,
                                                std::uint32_t n_post, std::size_t parts,
                                                const std::vector<std::string>& modulators)>
        make;
    // Checks across parameters; returns an error message or "".
    std::function<std::string(const plasticity_spec&, const std::vector<std::string>& modulators)> check;
    const param_info* find_param(const std::string& n) const;
    const rule_option* find_option(const std::string& n) const;
};

struct modulator_info {
    std::string name, doc;
    std::vector<param_info> params;
    std::function<std::unique_ptr<modulator>(const modulator_spec&, double dt)> make;
    const param_info* find_param(const std::string& n) const;
};

class model_registry {
public:
    void add(model_info info);
    const model_info* find(const std::string& name) const;
    const model_info& get(const std::string& name) const;  // throws spec_error with suggestion
    std::vector<std::string> names() const;
    const std::vector<model_info>& all() const { return models_; }

    void add_rule(rule_info info);
    const rule_info* find_rule(const std::string& name) const;
    std::vector<std::string> rule_names() const;
    const std::vector<rule_info>& rules() const { return rules_; }
    void add_modulator(modulator_info info);
    const modulator_info* find_modulator(const std::string& name) const;
    std::vector<std::string> modulator_names() const;

private:
    std::vector<model_info> models_;
    std::vector<rule_info> rules_;
    std::vector<modulator_info> modulators_;
};

// The registry with every model engram ships (neurons/ registers itself through
// register_builtin_models, which apps and tests call).
}  // namespace engram
