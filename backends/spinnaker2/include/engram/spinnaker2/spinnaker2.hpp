#pragma once
// A SpiNNaker2-like many-core target: the machine model, the mapping tool chain
// (partition, place, keys, routes, router-table compression, quantization) and a
// tick-by-tick model of the mapped network that delivers every spike through the
// generated routing tables. docs/spinnaker2.md describes the formats and the sources
// of every default.
//
// The tool chain consumes a network_spec (never the engine's internals): synapses come
// from generate_synapses() on a copy of the spec whose dt is the machine tick, so the
// mapped network is exactly the one the floating-point engine simulates at that dt.
#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engram/core/config.hpp"
#include "engram/core/connectivity.hpp"
#include "engram/core/engine.hpp"
#include "engram/core/errors.hpp"
#include "engram/core/model.hpp"
#include "engram/core/spec.hpp"

namespace engram::s2 {

// ---------------------------------------------------------------------------------------
// Machine

struct chip_xy {
    int x = 0, y = 0;
    auto operator<=>(const chip_xy&) const = default;
};

// Link numbering of the SpiNNaker router: 0 E (+1,0), 1 NE (+1,+1), 2 N (0,+1),
// 3 W (-1,0), 4 SW (-1,-1), 5 S (0,-1). The opposite of link l is (l+3) % 6.
constexpr int n_links = 6;
chip_xy neighbour(chip_xy c, int link);
const char* link_name(int link);

// Per-PE cycle costs and per-event energies: defaults and their sources in docs/spinnaker2.md.
struct cost_model {
    double cycles_per_neuron = 0.0;     // one neuron update (fixed-point LIF)
    double cycles_per_synapse = 0.0;    // one synaptic event (word decode + ring-buffer add)
    double cycles_per_packet = 0.0;     // one received packet (key lookup, row fetch)
    double cycles_per_tick = 0.0;       // fixed per-tick overhead (timer interrupt, bookkeeping)
    double joule_per_synapse = 0.0;     // energy of one synaptic event
    double joule_per_neuron = 0.0;      // energy of one neuron update
    double joule_per_packet_hop = 0.0;  // one packet over one chip-to-chip link
    double joule_per_packet_router = 0.0;  // one packet through one router (on-chip delivery)
    double watt_idle_per_chip = 0.0;    // static power of a powered chip
};

// The defaults of the presets (src/costs.cpp; each value's source in docs/spinnaker2.md).
cost_model default_cost_model();

struct machine_spec {
    std::string name;
    std::vector<chip_xy> chips;          // chips present on the 2-D (triangular) mesh
    int pes_per_chip = 152;              // application PEs per chip (38 QPEs x 4), at most 192
    std::uint32_t sram_per_pe = 131072;  // bytes
    std::uint32_t code_reserve = 32768;  // bytes of each PE's SRAM kept for code, stack, runtime
    std::uint32_t router_entries = 16384;
    std::uint32_t max_atoms_per_pe = 256;  // default neurons per PE (populations may set fewer)
    double tick_ms = 1.0;
    double clock_hz = 150e6;             // 150 or 300 MHz
    cost_model costs;

    int chip_index(chip_xy c) const;     // -1 if absent
    std::uint32_t sram_budget() const { return sram_per_pe > code_reserve ? sram_per_pe - code_reserve : 0; }
    double cycles_per_tick_budget() const { return clock_hz * tick_ms * 1e-3; }
};

// "chip" (one chip, board version 201) and "board48" (48 chips, the SpiNN-5 coordinate
// set of board version 248). Throws spec_error for an unknown name, listing the presets.
machine_spec machine_preset(const std::string& name);
std::vector<std::string> machine_presets();

// QPE grid position of a PE (qx in 1..7, qy in 1..6, as in the SpiNNMachine QUAD_MAP).
std::array<int, 2> qpe_position(int pe);

// Shortest chip-to-chip hop counts over the mesh (Boost.Graph BFS), [from][to]; -1 when
// unreachable.
std::vector<std::vector<int>> chip_distances(const machine_spec& m);

// ---------------------------------------------------------------------------------------
// Options (the experiment's optional `spinnaker2:` section, docs/spinnaker2.md)

struct map_options {
    machine_spec machine = machine_preset("chip");
    std::map<std::string, std::uint32_t> atoms_per_pe;  // per population
    std::map<std::string, std::string> formats;         // population -> "delayed" | "int8"
    int weight_bits = 0;            // magnitude bits of delayed-format weights (0: 4, i.e. -15..15)
    std::string placement = "anneal";  // "anneal" (greedy + local search), "greedy", "random"
    std::uint64_t placement_seed = 1;
    std::uint64_t placement_iterations = 0;  // local-search moves; 0: 200 per slice
    double chip_hop_cost = 16.0;    // placement: one chip-to-chip hop costs this many QPE hops
    double reference_ms = -1.0;     // reference run for rates: -1 min(duration, 1000 ms), 0 none
    std::string compression = "when_needed";  // "when_needed", "always", "never"
};

// Reads ex.spinnaker2 (if any) on top of the defaults; errors name file, line and key.
map_options read_map_options(const experiment& ex);

// ---------------------------------------------------------------------------------------
// The map

// lif_curr_exp_spinnaker: IF_curr_exp in the chip's native order (sPyNNaker's): a tick's
// input joins the currents before v is updated, so it acts in the tick it arrives.
enum class neuron_kind { lif, lif_curr_exp, lif_curr_exp_spinnaker, spike_list };
enum class row_format { delayed, int8 };

// One population's neurons on one PE, with the fixed-point parameters of the chip's
// update (all voltages relative to E_L):
//   v   <- (alpha * v) >> 32 + i_offset + I_exc + I_inh    (lif_curr_exp; lif: + input)
//   I_x <- (decay_x * I_x) >> 32 + input_x
//   spike when v >= threshold: v <- v_reset, refractory for t_refrac ticks
// lif_curr_exp_spinnaker: I_x <- I_x + input_x; v as above unless refractory, threshold;
// then I_x <- (decay_x * I_x) >> 32 (I_x in mV per tick: (1 - alpha) R I).
// v, I, threshold, v_reset, i_offset are s16.15 (int32, 15 fraction bits, mV);
// alpha and decays are u0.32 (uint32). Weights arrive already in mV units (the
// projection's scale folds in the current-to-voltage propagator).
struct fixed_neuron {
    std::int32_t threshold = 0, v_reset = 0, i_offset = 0, v_init = 0;
    std::uint32_t alpha = 0, exc_decay = 0, inh_decay = 0;
    std::uint32_t t_refrac = 0;  // ticks
};

struct slice_map {
    std::size_t population = 0;        // index in spec.populations
    std::uint32_t begin = 0, end = 0;  // neurons [begin, end) of the population
    int chip = -1, pe = -1;            // placement (chip index in machine.chips, PE 0..pes_per_chip-1)
    std::uint32_t key = 0, mask = 0;   // multicast key of neuron `begin` (neuron i: key | (i-begin))
    std::size_t sram_bytes = 0;        // neuron state + rows + buffers (code reserve excluded)
    std::size_t incoming_synapses = 0;
    double rate_hz = 0.0;              // mean rate from the reference run (0 without one)
    std::uint32_t size() const { return end - begin; }
};

struct population_map {
    neuron_kind kind = neuron_kind::lif;
    row_format format = row_format::delayed;
    std::string chip_model;            // py-spinnaker2 name: lif, lif_curr_exp, lif_no_delay, ..., spike_list
    std::uint32_t atoms_per_pe = 0;
    fixed_neuron params;
    std::vector<std::size_t> slices;   // indices into network_map::slices
    std::vector<std::string> notes;    // approximations (e.g. parameters with no chip counterpart)
};

// Quantization of one projection: w = q * scale, q in [-q_max, q_max] (sign selects the
// receptor of two-receptor models), delay d ticks stored as d-1 in 0..7 (delayed format)
// or required to be 1 tick (int8 format).
struct projection_map {
    std::size_t projection = 0;  // index in spec.projections
    row_format format = row_format::delayed;
    int weight_bits = 4;         // magnitude bits
    std::int32_t q_max = 15;
    double scale = 0.0;          // weight units (pA or mV, the receptor's) per step
    // One weight step in mV with 32 fraction bits (mV * 2^32). The chip's input ring
    // buffers accumulate q * weight_step in int64 at 32 fraction bits and hand each
    // neuron the tick's sum as s16.15, rounded to nearest ((sum + 2^16) >> 17): one
    // rounding per neuron per tick instead of one per synapse (as sPyNNaker's per-receptor
    // weight shift). (Was `scale_fixed` in s16.15: too coarse for small steps.)
    std::int64_t weight_step = 0;
    std::size_t synapses = 0;
    double max_abs_weight = 0.0;
    double rms_error = 0.0, max_error = 0.0;  // |w - q*scale|, in weight units
    std::size_t zero_weights = 0;  // nonzero weights that quantized to 0
    // Plastic projections (rule stdp, additive weights; docs/spinnaker2.md, "Plasticity"):
    // scale = w_max / q_max, q kept in [q_min, q_max]; pair-based STDP on q in fixed point
    // with per-neuron traces as engram's rule pairs spikes.
    bool plastic = false;
    std::int32_t q_min = 0;         // round(w_min / scale)
    std::int64_t a_plus_q = 0, a_minus_q = 0;  // amplitudes in weight steps, 16 fraction bits
    std::uint32_t trace_increment = 0;         // u16.16
    double tau_plus = 0.0, tau_minus = 0.0;    // ms
    bool nearest = false;                      // pairing: nearest (else all_to_all)
};

// A PE's synaptic data: a master population table of blocks (one per source slice with
// synapses onto this PE), each a row per source neuron of packed words.
// Word layout (LSB first): target index (index_bits) | delay-1 (delay_bits) |
// weight (1 + weight_bits, two's complement). word_bytes is 2 or 4.
struct row_block {
    std::uint32_t key = 0, mask = 0;  // the source slice's key and mask
    std::size_t source_slice = 0, projection_map_index = 0;
    // Source neurons + 1 offsets into words. On the chip the row index takes the smaller
    // of this dense form and a sparse one (source index, length per non-empty row); the
    // SRAM count uses that (docs/spinnaker2.md).
    std::vector<std::uint32_t> row_begin;
    std::vector<std::uint32_t> words;
};
// Several blocks may carry the same key (one per projection from that source slice): a
// packet is processed by every block whose key matches.
struct pe_data {
    std::size_t slice = 0;
    int index_bits = 8, delay_bits = 3, weight_bits = 4, word_bytes = 2;
    std::vector<row_block> blocks;  // sorted by key
};

// A route: links (bit l = link l) and PEs (bit p of pes[p / 64]).
struct route {
    std::uint8_t links = 0;
    std::array<std::uint64_t, 3> pes{};
    auto operator<=>(const route&) const = default;
    bool has_pe(int p) const { return (pes[static_cast<std::size_t>(p) / 64] >> (p % 64)) & 1u; }
    void add_pe(int p) { pes[static_cast<std::size_t>(p) / 64] |= std::uint64_t(1) << (p % 64); }
    bool empty() const { return links == 0 && pes[0] == 0 && pes[1] == 0 && pes[2] == 0; }
};

struct route_entry {
    std::uint32_t key = 0, mask = 0;
    route r;
};

struct router_table {
    int chip = 0;
    std::vector<route_entry> entries;  // first match wins
    // Key ranges that reach this router and rely on default routing (straight through),
    // because their entries were removed as defaultable: compression must not capture them.
    std::vector<std::pair<std::uint32_t, std::uint32_t>> default_routed;  // (key, mask)
    std::size_t entries_generated = 0;  // before removing defaultable entries
    std::size_t entries_uncompressed = 0;
    bool compressed = false;
};

struct key_layout {
    int population_bits = 0, slice_bits = 0, neuron_bits = 0;
};

struct traffic {
    double chip_hops = 0.0;  // sum over slice pairs of spikes/s x chip-to-chip hops
    double qpe_hops = 0.0;   // the same, QPE hops within chips
    double cost = 0.0;       // chip_hop_cost * chip_hops + qpe_hops (the placement objective)
};

struct network_map {
    machine_spec machine;
    map_options options;
    network_spec spec;        // the mapped spec (dt = tick)
    key_layout keys;
    std::vector<population_map> populations;  // spec.populations order
    std::vector<projection_map> projections;  // spec.projections order
    std::vector<slice_map> slices;
    std::vector<pe_data> pes;                 // one per slice, same order
    std::vector<router_table> routers;        // one per chip of machine.chips
    traffic placed, random_placement;         // objective of this placement and of a random one
    std::vector<std::string> notes;           // what the report should say (dt change, approximations)
    double reference_ms = 0.0;                // length of the reference run behind the rates
    double map_seconds = 0.0;

    std::size_t pes_used() const { return slices.size(); }
    std::size_t chips_used() const;
};

// Mapping failures (too large for the machine, a table that cannot be compressed to fit,
// a model or delay the target cannot run) throw map_error with a report of what does not
// fit and by how much.
class map_error : public error {
public:
    using error::error;
};

using map_progress = std::function<void(const std::string& stage)>;

// The whole tool chain. `models` supplies the descriptor tables (receptor names) and the
// float engine for the reference run.
network_map map_network(const experiment& ex, const model_registry& models, const map_options& options,
                        const map_progress& progress = {});

// Stages, exposed for tests and tools (map_network calls them in this order).
// Slice traffic: for each source slice, (target slice, packets/s) for every target slice
// that receives synapses from it (one packet per spike per target PE: multicast).
using slice_graph = std::vector<std::vector<std::pair<std::size_t, double>>>;
void place(network_map& m, const slice_graph& g);
void allocate_keys(network_map& m);
void build_routes(network_map& m);
// Compresses one table towards `capacity` entries; returns whether it fits. Never changes
// the route of a key in `entries` or `default_routed`.
bool compress_table(router_table& t, std::size_t capacity);
traffic placement_traffic(const network_map& m, const slice_graph& g);

// Walks the routing tables for one key sent by PE `pe` of chip `chip`: the (chip, pe)
// pairs it reaches, and (optional) a count per (chip, link) it used, indexed
// chip * n_links + link. Throws map_error when the key matches no entry where it must,
// loops, or leaves the mesh.
std::vector<std::pair<int, int>> walk(const network_map& m, std::uint32_t key, int chip,
                                      std::vector<std::uint64_t>* link_use = nullptr);

// First matching entry of a table for a key arriving over `in_link` (-1: from a local
// PE): the route, or the default route (straight through) when none matches; nullopt
// when a locally sent key matches nothing.
std::optional<route> lookup(const router_table& t, std::uint32_t key, int in_link);

// ---------------------------------------------------------------------------------------
// Writing MAPDIR: map.json, rows.h5, report.txt, chip_load.png, network_s2.py

struct written_map {
    std::vector<std::string> files;
};
written_map write_map(const network_map& m, const std::string& dir);
std::string report_text(const network_map& m);

// ---------------------------------------------------------------------------------------
// Target model

struct target_options {
    double duration_ms = -1.0;  // -1: the experiment's duration
    bool compare = true;        // also run the float engine at dt = tick and compare
    double distance_tau_ms = 10.0;  // van Rossum distance time constant
    // Optional membrane trace of one neuron (population index, neuron), for tests: the
    // target's v after each tick's update, in mV (E_L added back).
    std::optional<std::pair<std::size_t, std::uint32_t>> trace_v;
};

struct population_comparison {
    std::string population;
    double rate_float_hz = 0.0, rate_target_hz = 0.0;
    double rate_error = 0.0;       // |target - float| / float (0 when both are 0, 1 when only float is 0)
    // Per neuron sqrt(D^2 / ((n_float + n_target) / 2)), D^2 = (1/tau) int (f - g)^2 dt of
    // the exponentially filtered trains: 0 identical, about 1 unrelated or one train empty;
    // the mean over the neurons that spiked in either run.
    double van_rossum = 0.0;
    std::size_t spikes_float = 0, spikes_target = 0;
};

struct target_result {
    std::uint64_t ticks = 0;
    // spikes per population: (tick, neuron) in tick order
    std::vector<std::vector<std::pair<std::uint32_t, std::uint32_t>>> spikes;
    std::uint64_t synaptic_events = 0, packets = 0, link_packets = 0;
    double max_pe_cycles = 0.0;         // largest per-tick cycle count of any PE
    double mean_pe_cycles = 0.0;        // mean over PEs and ticks
    std::uint64_t ticks_over_budget = 0;  // ticks in which some PE exceeded its cycle budget
    bool real_time = true;
    std::vector<std::uint64_t> link_use;  // total packets per (chip, link)
    std::uint64_t max_link_packets_per_tick = 0;
    // Per tick: the busiest PE's cycles, synaptic events and packets received by all PEs,
    // and the busiest link's packets.
    std::vector<float> tick_max_pe_cycles;
    std::vector<std::uint64_t> tick_synaptic_events, tick_packets, tick_max_link_packets;
    // Per PE (slice order): synaptic events and packets over the run, its busiest tick.
    std::vector<std::uint64_t> pe_synaptic_events, pe_packets;
    std::vector<float> pe_max_cycles;
    double energy_j = 0.0;              // estimate over the run
    std::map<std::string, double> energy_breakdown_j;
    std::vector<population_comparison> comparison;
    double wall_seconds = 0.0;          // the tick loop of the target model
    double float_seconds = 0.0;         // the float reference run at dt = tick
    std::vector<double> trace_v_mv;     // with target_options::trace_v: one value per tick
};

// The mapped network as a stepping session: tick by tick (fixed-point neurons, packed
// synaptic words, spikes delivered only through the routing tables, STDP on the words of
// plastic projections). Source populations run their own population_model (sources are
// deterministic: their spikes are the float engine's at dt = tick). The session keeps a
// reference to `m` and `models`: both must outlive it.
class target_session {
public:
    // `initial` (may be null): a float simulation of m.spec whose current state (v, and
    // I_ex / I_in of current-based models) each neuron is loaded with; without one every
    // neuron starts from its population's v_init with zero currents.
    target_session(const network_map& m, const model_registry& models, const simulation* initial = nullptr);
    ~target_session();
    target_session(const target_session&) = delete;
    target_session& operator=(const target_session&) = delete;

    // Runs `ticks` ticks: obs (may be null) hears each tick's spikes per population
    // (ascending neuron index) and the end of the tick, as from the float engine.
    void run(std::uint64_t ticks, observer* obs = nullptr);
    std::uint64_t current_step() const;
    // The mapped synapses of a projection ordered by presynaptic neuron then target (the
    // float engine's order for the same network), weights as their quantized value q * scale.
    synapse_list synapses(std::size_t projection) const;
    // Weights in the order of synapses(j), in the spec's units (q * scale), and back
    // (rounded to the nearest step; plastic projections clamp to [w_min, w_max]).
    std::vector<float> weights(std::size_t projection) const;
    void set_weights(std::size_t projection, const std::vector<float>& w);
    // Membrane trace of one neuron (population, neuron) into result().trace_v_mv.
    void trace_v(std::size_t population, std::uint32_t neuron);
    // Accumulated over every run() so far: spikes, accounting and energy (no comparison).
    const target_result& result() const;
    const network_map& map() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// Runs a whole experiment on a target_session and (options.compare) the float engine at
// dt = tick, and compares their spikes.
target_result run_target(const network_map& m, const model_registry& models, const target_options& options = {});

}  // namespace engram::s2
