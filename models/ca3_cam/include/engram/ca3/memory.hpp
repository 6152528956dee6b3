#pragma once
// A spiking content-addressable memory after hippocampal CA3 (Casanueva-Morato et al.,
// Neural Networks 178:106474, 2024): n one-hot cues, m content bits, 3n + 4m + 1 LIF
// neurons, one-shot pair-based STDP. docs/ca3.md maps it onto the paper.
//
//   engram::ca3::memory mem(5, 10);
//   mem.learn(0, {0, 1, 8, 9});
//   auto r = mem.recall_by_cue(0);          // r.content == {0, 1, 8, 9}
//   auto q = mem.recall_by_content({8});    // q.cues == {0}
//
// One simulation persists across calls; each call runs its operation's time window.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engram/core/spec.hpp"

namespace engram {
class model_registry;
class simulation;
namespace s2 {
class target_session;
}
}  // namespace engram

namespace engram::ca3 {

// The paper's values (config/network_config.json of the reference code), engram units:
// pF, ms, mV, pA. Weights of the "in" receptor are given as positive magnitudes.
struct parameters {
    // "slow" populations (cue/content recall, merge, output) and "fast" ones
    // (CA3cueContRecall, CA3contCond, CA3contCondInt)
    double C_slow = 270.0, tau_m_slow = 3.0;
    double C_fast = 140.0, tau_m_fast = 0.5;
    double E_L = -60.0, V_reset = -60.0, V_th = -57.0, V_th_output = -57.5;
    double t_ref = 1.0, tau_syn = 0.3;
    double w = 6000.0;            // the common static weight, 6 nA
    double w_cont_cond = 9000.0;  // CA3contCue -> CA3contCond
    double w_int_cond = 2000.0;   // CA3contCondInt -> CA3contCond
    // Plastic cue->content and content->cue synapses (engram's `stdp` rule). The paper's
    // sPyNNaker rule (A+ = A- = w_max = 6 nA, tau 3 ms) relies on SpiNNaker's pairing of a
    // postsynaptic spike delayed by the dendritic delay; with engram's pairing of emission
    // times a 3 ms hold gives the symmetric pairs +2/-2 ms, so the window is made
    // asymmetric here (docs/ca3.md, "Plasticity").
    double a_plus = 50000.0, a_minus = 5000.0, tau_plus = 1.0, tau_minus = 1.0, w_max = 6000.0;
    // Before a learn, clear the synapses of the cue being written (both plastic
    // matrices): forgetting by overwriting (docs/ca3.md, "Forgetting").
    bool clear_on_learn = true;
    // Keep the plastic weights of a recall by content as they were before it. In the
    // paper's network every synapse stays plastic; a fragment of k > 1 bits then pairs its
    // CA3contContRecall spikes (t+3) with the matched addresses' CA3cueContRecall spikes
    // (t+4) and writes all k bits into each matched address's content->cue row
    // (docs/ca3.md, "Recall by content"). false reproduces that.
    bool freeze_during_recall = true;
    // Where the network runs: "float" (engram's engine) or "spinnaker2" (the SpiNNaker2
    // target model of backends/spinnaker2 on one chip: fixed-point neurons, quantized
    // weights, spikes through the routing tables, STDP on the quantized weights;
    // docs/ca3.md, "On the SpiNNaker2 target").
    std::string backend = "float";
    // Magnitude bits of the target's weights (per-projection scale): the plastic weights
    // take steps of w_max / (2^bits - 1). The static weights are one value per projection
    // and exact at any width.
    int s2_weight_bits = 4;
};

enum class op_kind { learn, recall_cue, recall_content };
const char* name(op_kind k);

// Steps each operation occupies at dt = 1 ms (sPyMem's operating rules): a learn holds
// its input 3 ms and takes 10 ms; a recall is a 1 ms spike and takes 7 ms.
constexpr std::uint64_t learn_steps = 10, learn_hold = 3, recall_steps = 7;
std::uint64_t steps_of(op_kind k);

struct operation {
    op_kind kind = op_kind::recall_cue;
    int cue = -1;                         // learn, recall_cue
    std::vector<std::uint32_t> content;   // learn: the bits set; recall_content: the fragment
    double at = -1.0;                     // start time (ms); < 0: as soon as the last one ends
};

struct output_spike {
    std::uint64_t step;
    std::uint32_t id;  // output layer: [0, n) cues, [n, n + m) content bits
};

// What the output layer said during one operation's window.
struct answer {
    op_kind kind = op_kind::recall_cue;
    std::uint64_t first_step = 0;  // the operation's input starts here (time (first_step-1)*dt)
    std::vector<std::uint32_t> cues, content;  // ascending
    int cue_latency = -1;      // steps from first_step to the first cue spike; -1: none
    int content_latency = -1;  // steps from first_step to the first content spike; -1: none
};

// Decodes the output spikes with first_step <= step < first_step + steps.
answer decode(const std::vector<output_spike>& spikes, std::size_t n, std::size_t m, op_kind kind,
              std::uint64_t first_step, std::uint64_t steps);

// What an ideal content-addressable memory answers (the reference the tests and the
// experiment driver compare against): learn echoes its cue and content; recall by cue
// gives the cue and its stored content (nothing if never learned); recall by content
// gives every cue whose content shares a bit with the fragment, and echoes the fragment.
class reference_memory {
public:
    reference_memory(std::size_t n, std::size_t m) : stored_(n), m_(m) {}
    answer apply(const operation& op);

private:
    std::vector<std::vector<std::uint32_t>> stored_;  // empty: nothing learned
    std::size_t m_;
};

// Population and projection names of the network (so tests and tools can find them).
namespace pop {
inline constexpr const char* input = "IL";
inline constexpr const char* cue_cue = "CA3cueCueRecall";
inline constexpr const char* cue_cont = "CA3cueContRecall";
inline constexpr const char* cont_cue = "CA3contCueRecall";
inline constexpr const char* cont_cont = "CA3contContRecall";
inline constexpr const char* cont_cond = "CA3contCond";
inline constexpr const char* cont_cond_int = "CA3contCondInt";
inline constexpr const char* merge_cue = "CA3mergeCue";
inline constexpr const char* merge_cont = "CA3mergeCont";
inline constexpr const char* output = "OL";
}  // namespace pop
inline constexpr const char* cue_to_content = "cueCue_contCue_stdp";
inline constexpr const char* content_to_cue = "contCont_cueCont_stdp";

// The network: the input source (model ca3_input), the 3n + 4m + 1 memory neurons
// (model lif_curr_exp_spinnaker) and the output layer, dt = 1 ms.
network_spec build_network(std::size_t n, std::size_t m, const parameters& p = {});

// engram's built-in models plus the two this model adds: `lif_curr_exp_spinnaker`
// (IF_curr_exp stepped as sPyNNaker steps it: the input of step n acts in step n) and
// `ca3_input` (a spike source whose spikes are queued while the simulation runs).
// Spikes queued in `queue` (step -> neuron ids) are emitted by every ca3_input population
// built from this registry.
struct input_queue;
std::unique_ptr<model_registry> make_registry(std::shared_ptr<input_queue> queue);

class memory {
public:
    memory(std::size_t n, std::size_t m, const parameters& p = {});
    ~memory();
    memory(const memory&) = delete;
    memory& operator=(const memory&) = delete;

    answer learn(std::uint32_t cue, const std::vector<std::uint32_t>& content);
    answer recall_by_cue(std::uint32_t cue);
    answer recall_by_content(const std::vector<std::uint32_t>& fragment);
    // Runs one operation; op.at (ms) may delay its start, never move it back.
    answer run(const operation& op);
    // Lets the network run idle for `ms`.
    void wait(double ms);

    std::size_t cues() const { return n_; }
    std::size_t content_bits() const { return m_; }
    std::uint64_t step() const;  // steps simulated so far
    const std::vector<output_spike>& output_spikes() const;
    // Spikes of every population so far: [population index in spec()][k] = (step, id).
    const std::vector<std::vector<output_spike>>& all_spikes() const;
    const network_spec& spec() const;
    // The float engine (backend "float"; throws spec_error on another backend).
    simulation& sim();
    // The target session (backend "spinnaker2"; null on the float backend): its map
    // (PEs, formats) and its accounting (cycles, energy) so far.
    const s2::target_session* target() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
    std::size_t n_, m_;
};

}  // namespace engram::ca3
