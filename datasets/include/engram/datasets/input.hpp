#pragma once
// Data sets streamed into a network: the `input` section of an experiment file.
//
//   input:
//     dataset: fashion-mnist          # mnist, fashion-mnist, nmnist, shd, ntidigits
//     path: data/fashion-mnist        # default $ENGRAM_DATA/<dataset>, else data/<dataset>
//     split: train                    # train | test
//     subset: {count: 2000, seed: 1}  # stratified by class; default: the whole split
//     encoding: {poisson: {max_rate: 100 Hz, duration: 250 ms}}
//     population: input               # a population of model dataset_stream
//     gap: 50 ms                      # silence between samples
//
// Sample k (k-th in presentation order) occupies the steps (k*P, k*P + W] with
// W = round(window/dt), P = W + round(gap/dt): the times (start_ms, stop_ms] with
// start_ms = k*P*dt, stop_ms = start_ms + W*dt. The `dataset_stream` source asks its
// dataset_input for sample k's spike trains when the simulation reaches k's window and
// holds only that sample's trains.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engram/core/config.hpp"
#include "engram/core/model.hpp"
#include "engram/core/results.hpp"
#include "engram/datasets/trains.hpp"

namespace engram {

struct input_sample {
    std::uint64_t index = 0;  // in the split of the data set
    int label = -1;
};

class dataset_input {
public:
    // Reads and checks `ex.input` (a config_error names file, line, column and key),
    // opens the data set and chooses the subset. Does not change `ex`.
    explicit dataset_input(const experiment& ex);
    ~dataset_input();

    const std::string& dataset() const { return dataset_; }
    const std::string& path() const { return path_; }  // the directory read
    const std::string& population() const { return population_; }
    std::size_t channels() const { return channels_; }  // input neurons the encoding drives
    double window_ms() const { return window_ms_; }
    double gap_ms() const { return gap_ms_; }
    // The chosen samples, in presentation order.
    const std::vector<input_sample>& samples() const { return samples_; }

    // Timing on the simulation's grid (dt in ms).
    std::uint64_t window_steps(double dt) const;
    std::uint64_t period_steps(double dt) const;
    double start_ms(std::size_t k, double dt) const;
    double stop_ms(std::size_t k, double dt) const;

    // Samples that are presented: all of them unless the run is shorter (set_played).
    std::size_t played() const { return played_; }
    void set_played(std::size_t n) { played_ = std::min(n, samples_.size()); }

    // Spike trains of sample k (presentation order), times in ms relative to the window
    // start, in [0, window] (the source moves times < one step to the first step).
    // Not thread-safe: the source calls it under its lock.
    spike_trains trains(std::size_t k);

    struct reader;  // one per kind of data set (input.cpp)

private:
    std::string file_, dataset_, path_, split_, population_;
    std::size_t channels_ = 0, played_ = 0;
    double window_ms_ = 0.0, gap_ms_ = 0.0;
    std::vector<input_sample> samples_;
    std::unique_ptr<reader> reader_;
    std::uint64_t seed_ = 1;  // the simulation seed, for random encodings
};

// Population name -> its input, set by the app before the simulation is built; the
// dataset_stream model's factory looks its input up here.
class input_streams {
public:
    void bind(const std::string& population, std::shared_ptr<dataset_input> in);
    std::shared_ptr<dataset_input> find(const std::string& population) const;

private:
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<dataset_input>> map_;
};

// Registers `dataset_stream` (a spike source with no parameters, fed by `streams`).
void register_dataset_models(model_registry& r, std::shared_ptr<input_streams> streams);

// What an app does with an experiment: if it has an `input` section, opens it, binds it
// to its population and sets the duration (count * (window + gap) when the experiment
// does not give one; when it gives a shorter one, only the samples that fit are played
// and `note` says so). Returns null when there is no input section; throws config_error
// if a dataset_stream population has none.
std::shared_ptr<dataset_input> prepare_input(experiment& ex, input_streams& streams, std::string* note = nullptr);

// Writes /samples/{index (uint64), label (int64), start_ms, stop_ms (float64)} for the
// played samples whose window ended by `simulated_ms`.
void write_samples(results_writer& w, const dataset_input& in, double dt, double simulated_ms);

}  // namespace engram
