#pragma once
// The results file (HDF5). Spikes follow the SONATA layout:
//   /spikes/<population>/timestamps (float64, ms), /spikes/<population>/node_ids (uint64)
// state samples:
//   /report/<population>/<variable>/data [time, neuron] (float32)
//   /report/<population>/<variable>/mapping/{node_ids, time=[start, stop, dt] (ms)}
// tables added by higher layers (add_table), e.g. /samples/{index, label, start_ms, stop_ms};
// root attributes: engram_version, seed, dt_ms, duration_ms, experiment (YAML),
// wall_time_s, complete (0/1), simulated_ms.
// The file is written as PATH.tmp and renamed to PATH by close(); data is flushed in
// chunks and the file is flushed every 2^14 steps, so an interrupted run leaves a
// readable file (after a hard kill, PATH.tmp holds what was flushed).
// The writer works on the thread that calls it; to convert and write on a core the run
// leaves over, put it behind a background_observer (background.hpp).
#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "engram/core/engine.hpp"
#include "engram/core/model.hpp"

namespace engram {

class results_writer : public observer {
public:
    results_writer(const std::string& path, const network_spec& spec,
                   const std::string& experiment_yaml, const model_registry* models = nullptr);
    ~results_writer() override;

    void on_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids,
                   std::size_t count) override;
    void on_sample(std::uint64_t step, std::size_t rec,
                   const std::vector<std::vector<float>>& values) override;
    void on_step(std::uint64_t step) override;  // flushes to disk every 2^14 steps

    // A group `name` of 1-D datasets of equal length (a table), written now; call it
    // before close(). Used by higher layers for data the engine does not know about
    // (e.g. /samples from datasets/). `units` may be empty.
    struct column {
        std::string name;
        std::variant<std::vector<double>, std::vector<std::int64_t>, std::vector<std::uint64_t>> values;
        std::string units;
    };
    void add_table(const std::string& name, const std::vector<column>& columns);

    // Writes what is buffered, the final attributes, and renames PATH.tmp -> PATH.
    void close(bool complete, double simulated_ms, double wall_seconds);
    const std::string& path() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// Summary of a results file, as printed by `engram info`.
std::string describe_results(const std::string& path);

}  // namespace engram
