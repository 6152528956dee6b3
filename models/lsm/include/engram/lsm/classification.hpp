#pragma once
// Classification with a spiking reservoir: the `classification` section of an experiment.
//
//   classification:
//     features: [exc, inh]                # populations whose spike counts per sample are the features
//     train: {split: train, subset: {from: 0, to: 50000}}
//     valid: {split: train, subset: {from: 50000, to: 60000}}   # optional: picks the readout's best epoch
//     test:  {split: test}
//     initialisation:                     # optional: NALSM's first phase; the weights learned here,
//       split: train                      # over many short samples with plasticity on, are frozen
//       subset: {count: 50000, seed: 2}   # as the start of every trial
//       window: 20 ms
//       set: {modulators.astro.params.decay: 1}   # overrides for this phase only
//     trials: {set: {...}}                # overrides for the feature runs
//     reset_weights: true                 # weights back to their start before every sample
//     reset_traces: true                  # false: plasticity traces carry over from the
//                                         # previous sample (NALSM's code never clears them)
//     readout: {type: softmax, optimizer: adadelta, lr: 0.1, epochs: 30, batch: 250, l2: 5e-10}
//              # or {type: ridge, lambda: 1e-3}
//     branching: {samples: 20, window: 4 ms, buffer: 25 ms}
//     chunk: 500                          # samples per independent simulation (parallel over workers)
//
// The experiment's `input` section names the data set, the encoding and the population
// (dataset_stream) it drives; each set above replaces its split and subset. Every sample
// is a trial: neuron state, traces (unless reset_traces: false) and modulators are
// reset, plastic weights go back to their start, and the sample plays for the encoding's
// window. Trials are independent (with kept traces, of all but the chunk's previous
// sample), so sets run in chunks of `chunk` samples on separate simulations in parallel;
// the result does not depend on the number of workers.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engram/core/model.hpp"

namespace engram {
class input_streams;
}

namespace engram::lsm {

struct classification_options {
    std::string experiment;              // path of the YAML file
    std::vector<std::string> overrides;  // --set
    std::string output;                  // results file (default: from the experiment)
    int workers = 1;                     // simulations run in parallel
    bool quiet = false;
};

struct set_result {
    std::string name;
    std::size_t samples = 0;
    double accuracy = 0.0;
    double branching = 0.0;     // mean branching factor of the first samples (NaN: none)
    double mean_rate_hz = 0.0;  // mean rate of the feature neurons
    double seconds = 0.0;       // wall time of the set's simulations
};

// A plastic projection's weights at the end of the initialisation phase (the weights
// every trial starts from), in the order of simulation::synapses.
struct learned_weights {
    std::string projection;
    std::vector<std::uint32_t> pre, post;
    std::vector<float> weight;
    double mean_before = 0.0, mean_after = 0.0;
    double at_min = 0.0, at_max = 0.0;  // fractions of the synapses at w_min / w_max
};

struct classification_report {
    std::vector<set_result> sets;
    std::vector<std::vector<std::int64_t>> confusion;  // test set [true][predicted]
    double init_seconds = 0.0, readout_seconds = 0.0, total_seconds = 0.0;
    std::size_t init_samples = 0;
    double init_branching = 0.0;                   // at the end of the initialisation phase
    std::vector<std::size_t> init_branching_at;    // samples of the phase done ...
    std::vector<double> init_branching_curve;      // ... and the branching factor then
    std::vector<learned_weights> init_weights;     // per plastic projection
    int best_epoch = -1;
    std::string output;
};

classification_report run_classification(const classification_options& o, const model_registry& models,
                                          input_streams& streams);

}  // namespace engram::lsm
