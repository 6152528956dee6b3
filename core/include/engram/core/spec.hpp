#pragma once
// The declarative network description: what the user asked for, in engram's internal
// units, fully validated before anything is allocated (see config.hpp for YAML).
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engram/core/units.hpp"

namespace engram {

struct source_location {
    std::string file;
    int line = 0;    // 1-based, 0 = unknown
    int column = 0;  // 1-based, 0 = unknown
    std::string key; // dotted path of the key, e.g. "projections.ee.weight"
};

class random_stream;

// A value per element (synapse or neuron): a constant or a distribution.
struct distribution {
    enum class kind { constant, uniform, normal, lognormal, choice };
    kind type = kind::constant;
    double a = 0.0;  // constant: value; uniform: low; normal: mean; lognormal: median
    double b = 0.0;  // uniform: high; normal: std; lognormal: sigma (dimensionless)
    double min = -std::numeric_limits<double>::infinity();  // normal: clip bounds
    double max = std::numeric_limits<double>::infinity();
    dimension dim = dimension::dimensionless;
    std::vector<double> values;  // choice: one of these, each equally likely

    static distribution constant(double v, dimension d) { return {kind::constant, v, 0.0, -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(), d, {}}; }
    double sample(random_stream& rng) const;
    bool is_constant() const { return type == kind::constant; }
    // Smallest and largest value the distribution can produce.
    double lowest() const;
    double highest() const;
};

// A model parameter as given: one value, one per neuron, or spike trains (per neuron).
struct param_value {
    std::vector<double> values;               // size 1 (whole population) or size N
    std::vector<std::vector<double>> trains;  // spike trains, for spike sources
    double at(std::size_t i) const { return values.size() == 1 ? values[0] : values[i]; }
};

struct population_spec {
    std::string name;
    std::uint32_t size = 0;
    std::string model;
    std::map<std::string, param_value> params;        // every parameter, defaults filled in
    std::map<std::string, distribution> initial;      // state variable -> initial value
    std::string integration;  // numerical scheme, one of model_info::integrations ("" = the model's only one)
    source_location where;
};

struct connector_spec {
    std::string rule;  // all_to_all, one_to_one, fixed_probability, fixed_number_pre,
                       // fixed_number_post, fixed_total_number, from_list
    double p = 0.0;
    std::uint64_t n = 0;
    bool allow_self_connections = true;
    bool with_replacement = false;
    // from_list: explicit synapses; weight/delay may be NaN (= use the projection's).
    std::vector<std::uint32_t> pre, post;
    std::vector<double> weight, delay;
    std::string file;  // where the list came from (for messages)
    // distance: probability p * exp(-(D / lambda)^2) between neurons of a layout at
    // Euclidean distance D (grid units).
    double lambda = 1.0;
};

// A plasticity rule on a projection (plasticity/ registers the rules; core knows none).
struct plasticity_spec {
    std::string rule;                               // empty: static synapses
    std::map<std::string, double> params;           // every parameter, defaults filled in
    std::map<std::string, std::string> options;     // every option, defaults filled in
    bool plastic() const { return !rule.empty(); }
};

// A global scalar that integrates the network's activity each step (e.g. an astrocyte),
// read by plasticity rules. drive(n) = sum over sources of weight * spikes of step n.
struct modulator_spec {
    std::string name, type;
    std::map<std::string, double> params;
    std::vector<std::pair<std::string, double>> sources;  // population, weight per spike
    source_location where;
};

// Neurons of several populations placed on one 3-D grid (for distance-dependent
// connectors): the grid's cells are shuffled with the seed and dealt out to the
// populations in order.
struct layout_spec {
    std::string name;
    std::uint32_t grid[3] = {1, 1, 1};
    std::vector<std::string> populations;
    bool shuffle = true;
    source_location where;
};

struct projection_spec {
    std::string name, source, target, receptor;
    connector_spec connector;
    distribution weight;
    distribution delay;  // ms; rounded to steps, at least one step
    plasticity_spec plasticity;
    source_location where;  // the projection's entry
    // its weight, delay and connector (file empty: use where)
    source_location weight_where, delay_where, connector_where;
};

struct stimulus_spec {
    std::string name;
    std::string type;  // step_current, poisson_input
    std::string target;
    std::vector<std::uint32_t> neurons;  // empty = all
    // step_current
    std::vector<double> times;       // ms
    std::vector<double> amplitudes;  // pA
    // poisson_input
    std::string receptor;
    double rate = 0.0;           // Hz per source
    std::uint32_t n_sources = 1;
    double weight = 0.0;
    double start = 0.0, stop = std::numeric_limits<double>::infinity();  // ms
    source_location where;
};

struct state_recorder_spec {
    std::string name;
    std::string population;
    std::vector<std::string> variables;
    std::vector<std::uint32_t> neurons;  // empty = all
    double interval = 0.0;               // ms; 0 = every step
    source_location where;
};

struct simulation_spec {
    double dt = 0.1;          // ms
    double duration = 1000.0; // ms
    std::uint64_t seed = 1;
    int threads = 1;
    // below this share of the network's size (its neurons, plus one per synapses_per_neuron
    // synapses: simulation::size_for_workers) per worker, parts share a worker; 0:
    // automatic (8,000, or 6,000 where every input is direct)
    std::uint64_t min_neurons_per_thread = 0;
    bool double_precision = false;  // neuron state and integration in double (precision: double)
    bool pin_threads = false;       // each worker on a CPU of its own for the run (pin_threads: true)
    bool rebalance = false;         // runs move the cuts between parts to the workers' speeds (balance_policy; rebalance: true)
    // step_alone: worker 0 steps every part alone while a worker gets less than `below`
    // of a window's wall time (0: never); tries them all again after `retry` (doubling up
    // to `max_retry`). Times in ms. simulation::set_stall_policy's stall_policy, from the file.
    double alone_below = 0.75, alone_window = 50.0, alone_retry = 500.0, alone_max_retry = 8000.0;
    std::string output;       // results file; empty = <experiment stem>.h5
};

struct network_spec {
    simulation_spec simulation;
    std::vector<population_spec> populations;
    std::vector<projection_spec> projections;
    std::vector<stimulus_spec> stimuli;
    std::vector<std::string> spike_recorders;  // population names
    std::vector<state_recorder_spec> state_recorders;
    std::vector<modulator_spec> modulators;
    std::vector<layout_spec> layouts;

    const population_spec* find_population(const std::string& name) const;
    std::size_t population_index(const std::string& name) const;  // throws spec_error
    const layout_spec* layout_of(const std::string& population) const;  // null if none
};

}  // namespace engram
