#pragma once
// CA3 memory experiments: a YAML list of operations (`engram ca3 FILE.yaml`), run on one
// engram::ca3::memory, each answer decoded from the output layer and compared with an
// ideal content-addressable memory. Format: docs/ca3.md.
#include <iosfwd>
#include <string>
#include <vector>

#include "engram/ca3/memory.hpp"

namespace engram::ca3 {

struct experiment_spec {
    std::string path;    // file it came from (for messages)
    std::size_t n = 0, m = 0;
    std::string output;  // results file; empty: <experiment stem>.h5
    std::vector<operation> ops;
    parameters par;
};

experiment_spec load_experiment(const std::string& path);
experiment_spec parse_experiment(const std::string& yaml_text, const std::string& name);

// The paper's latencies (sPyMem's operating rules): the cue reaches the output 5 steps
// after the operation starts and a recalled content 1 step after it; a recall by content
// echoes its fragment after 5 steps and the matching cues after 6.
bool timing_ok(const answer& got);

struct experiment_result {
    std::vector<answer> got, expected;
    std::vector<bool> correct;  // same cues and content as expected, and timing_ok
    std::size_t n_correct = 0;
    double wall_seconds = 0.0;  // simulation of all operations
    std::uint64_t steps = 0;
    std::vector<output_spike> output;
    // Backend "spinnaker2": the target model's figures over the whole run.
    std::string backend = "float";
    std::size_t target_pes = 0, target_chips = 0;
    double target_max_pe_cycles = 0.0, target_mean_pe_cycles = 0.0, target_cycle_budget = 0.0;
    std::uint64_t target_ticks_over_budget = 0, target_synaptic_events = 0, target_packets = 0;
    double target_energy_j = 0.0, target_idle_energy_j = 0.0;  // estimate; the idle (static) part of it
    double target_map_seconds = 0.0;  // the mapping tool chain (before the operations)
};

experiment_result run_experiment(const experiment_spec& ex);
void print_table(std::ostream& os, const experiment_spec& ex, const experiment_result& r);
// /ca3: operations, answers (cue and content bit matrices), expected answers, latencies,
// correctness, and the output layer's spikes.
void write_results(const std::string& path, const experiment_spec& ex, const experiment_result& r);

std::string format_bits(const std::vector<std::uint32_t>& bits);  // "{0,1,8}" or "{}"

}  // namespace engram::ca3
