// The per-event cost model of a SpiNNaker2 PE. docs/spinnaker2.md ("Cost and energy
// model") gives the source of every value and says which ones are estimates.
#include "engram/spinnaker2/spinnaker2.hpp"

namespace engram::s2 {

namespace {
// Energy of one clock cycle of an active application core, from the SpiNNaker1 figure
// in SpiNNMachine (version_spin1.py: 0.034 W per active core) at the SpiNNaker1 core
// clock of 200 MHz. No per-cycle figure for the SpiNNaker2 M4F was found in the sources
// consulted, so this SpiNNaker1 (130 nm) value is an upper bound for SpiNNaker2 (22 nm).
constexpr double joule_per_cycle = 0.034 / 200e6;  // 170 pJ
}  // namespace

cost_model default_cost_model() {
    cost_model c;
    // Cycle counts: estimates from the instruction sequence of each operation on a
    // Cortex-M4 (docs/spinnaker2.md lists the sequences).
    c.cycles_per_synapse = 16.0;   // load word, 3 bit-field extracts, ring-buffer index, load-add-store, loop
    c.cycles_per_neuron = 50.0;    // lif_curr_exp: 3 multiply-shifts, adds, threshold, refractory, stores
    c.cycles_per_packet = 100.0;   // interrupt entry/exit, master population table search, row set-up
    c.cycles_per_tick = 1000.0;    // timer interrupt, recording, bookkeeping
    c.joule_per_synapse = c.cycles_per_synapse * joule_per_cycle;
    c.joule_per_neuron = c.cycles_per_neuron * joule_per_cycle;
    // SpiNNMachine version_spin1.py: 25 pJ per routed bit, a 40-bit spike packet 1 nJ.
    c.joule_per_packet_router = 1e-9;
    c.joule_per_packet_hop = 1e-9;
    // SpiNNMachine version_spin1.py: 0.35 W per idle chip.
    c.watt_idle_per_chip = 0.35;
    return c;
}

}  // namespace engram::s2
