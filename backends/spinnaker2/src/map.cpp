// The mapping tool chain: lower neuron models to the chip's fixed-point form, quantize
// synapses, partition populations into per-PE slices, place the slices, then hand over
// to routing.cpp for keys, routes and tables.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/breadth_first_search.hpp>
#include <boost/pending/queue.hpp>

#include "engram/core/connectivity.hpp"
#include "engram/core/engine.hpp"
#include "engram/core/graph.hpp"
#include "engram/core/rng.hpp"
#include "engram/spinnaker2/spinnaker2.hpp"

namespace engram::s2 {

namespace {

int bits_for(std::uint64_t n) {  // bits to index n values (at least 1)
    int b = 1;
    while ((std::uint64_t(1) << b) < n) ++b;
    return b;
}

std::int32_t to_s1615(double x, const std::string& what) {
    const double v = std::round(x * 32768.0);
    if (!(std::fabs(v) < 2147483647.0))
        throw map_error(what + " = " + std::to_string(x) + " does not fit the chip's s16.15 fixed-point range (|x| < 65536)");
    return static_cast<std::int32_t>(v);
}

std::uint32_t to_u032(double x) {  // a factor in [0, 1) as u0.32
    const double v = std::round(x * 4294967296.0);
    return v >= 4294967295.0 ? 4294967295u : v <= 0 ? 0u : static_cast<std::uint32_t>(v);
}

double scalar_param(const population_spec& p, const char* name) {
    const auto& v = p.params.at(name).values;
    for (double x : v)
        if (x != v[0])
            throw map_error("population '" + p.name + "': parameter " + name +
                            " differs between neurons; a SpiNNaker2 PE runs one parameter set per population");
    return v.at(0);
}

// Current-to-voltage propagator of an exponential current over one step (as neurons/lif.cpp).
double p_current(double dt, double tau_m, double tau_s, double C) {
    if (std::fabs(tau_m - tau_s) < 1e-9 * tau_m) return dt / C * std::exp(-dt / tau_m);
    return tau_m * tau_s / (C * (tau_m - tau_s)) * (std::exp(-dt / tau_m) - std::exp(-dt / tau_s));
}

// Bytes a PE needs per neuron for state and input buffers.
std::size_t neuron_bytes(const population_map& p) {
    const std::size_t slots = p.format == row_format::delayed ? 8 : 2;
    switch (p.kind) {
    case neuron_kind::lif_curr_exp:
    case neuron_kind::lif_curr_exp_spinnaker: return 16 + slots * 2 * 4;  // v, I_exc, I_inh, refractory; 2 receptors
    case neuron_kind::lif: return 8 + slots * 4;                // v, refractory; 1 input
    case neuron_kind::spike_list: return 8;                     // replay cursor and next tick
    }
    return 0;
}
constexpr std::size_t slice_overhead = 64;      // fixed-point parameters, counters, key
constexpr std::size_t block_entry_bytes = 12;   // master population table entry: key, mask, address
// Plastic projections: a post -> pre (column) index entry per synapse (block and word,
// for potentiation at a postsynaptic spike), a trace (value, last tick) per source
// neuron of a plastic block and per neuron of a slice with plastic input.
constexpr std::size_t plastic_synapse_bytes = 4, trace_bytes = 8;

int word_bytes_for(int index_bits, int delay_bits, int weight_bits) {
    const int total = index_bits + delay_bits + 1 + weight_bits;
    if (total > 32) throw map_error("synaptic word of " + std::to_string(total) + " bits exceeds 32 (lower weight_bits or atoms_per_pe)");
    return total <= 16 ? 2 : 4;
}

// A block's row index is stored in the smaller of two forms: dense (an offset per source
// neuron, 2 bytes while the block has fewer than 65536 words, else 4) or sparse (a 2-byte
// source index and a 2-byte length per non-empty row, for sparse connectivity).
std::size_t block_bytes(std::size_t rows, std::size_t nonempty, std::size_t words, int word_bytes) {
    const std::size_t offset_bytes = words < 65536 ? 2 : 4;
    const std::size_t index = std::min(offset_bytes * (rows + 1), 4 * nonempty);
    return block_entry_bytes + index + words * static_cast<std::size_t>(word_bytes);
}

struct mapped_projection {
    std::size_t pre = 0, post = 0;
    synapse_list syn;
    std::vector<std::int32_t> q;      // quantized weights
    std::vector<std::uint8_t> dfield; // delay - 1
};

// Lowers populations: chip model, fixed-point parameters, format.
void lower_populations(network_map& m, const model_registry& models) {
    const double dt = m.spec.simulation.dt;
    for (const auto& p : m.spec.populations) {
        population_map pm;
        const model_info& info = models.get(p.model);
        const auto fmt = m.options.formats.find(p.name);
        pm.format = fmt != m.options.formats.end() && fmt->second == "int8" ? row_format::int8 : row_format::delayed;
        if (info.is_source) {
            pm.kind = neuron_kind::spike_list;
            pm.chip_model = "spike_list";
            if (p.model != "spike_array")
                pm.notes.push_back("'" + p.model + "' source: the target model runs its population model (the float engine's spikes at dt = tick); "
                                   "on a board it becomes a spike list made on the host");
        } else if (p.model == "lif_curr_exp" || p.model == "lif_curr_delta" || p.model == "lif_curr_exp_spinnaker") {
            pm.kind = p.model == "lif_curr_exp"             ? neuron_kind::lif_curr_exp
                      : p.model == "lif_curr_exp_spinnaker" ? neuron_kind::lif_curr_exp_spinnaker
                                                            : neuron_kind::lif;
            pm.chip_model = pm.kind == neuron_kind::lif ? "lif" : "lif_curr_exp";
            if (pm.format == row_format::int8) pm.chip_model += "_no_delay";
            const double tau = scalar_param(p, "tau_m"), C = scalar_param(p, "C_m"), EL = scalar_param(p, "E_L");
            fixed_neuron& f = pm.params;
            f.alpha = to_u032(std::exp(-dt / tau));
            f.threshold = to_s1615(scalar_param(p, "V_th") - EL, p.name + ".V_th - E_L");
            f.v_reset = to_s1615(scalar_param(p, "V_reset") - EL, p.name + ".V_reset - E_L");
            f.i_offset = to_s1615(tau / C * -std::expm1(-dt / tau) * scalar_param(p, "I_e"), p.name + ".I_e (as mV per tick)");
            f.t_refrac = static_cast<std::uint32_t>(std::llround(scalar_param(p, "t_ref") / dt));
            if (pm.kind != neuron_kind::lif) {
                f.exc_decay = to_u032(std::exp(-dt / scalar_param(p, "tau_syn_ex")));
                f.inh_decay = to_u032(std::exp(-dt / scalar_param(p, "tau_syn_in")));
            }
            auto v0 = p.initial.find("v");
            if (v0 != p.initial.end()) {
                const distribution& d = v0->second;
                const double mid = d.is_constant() ? d.a : 0.5 * (d.lowest() + d.highest());
                f.v_init = to_s1615((std::isfinite(mid) ? mid : d.a) - EL, p.name + ".v (initial) - E_L");
                if (!d.is_constant())
                    pm.notes.push_back("initial v is drawn per neuron; the target model starts from the float engine's draws, the py-spinnaker2 script from their middle value");
            } else {
                f.v_init = 0;
            }
        } else {
            throw map_error("population '" + p.name + "': model '" + p.model +
                            "' has no SpiNNaker2 counterpart (mapped: lif_curr_exp and lif_curr_exp_spinnaker -> lif_curr_exp, lif_curr_delta -> lif, "
                            "spike sources -> spike_list)");
        }
        if (pm.kind == neuron_kind::spike_list) pm.format = row_format::delayed;
        auto a = m.options.atoms_per_pe.find(p.name);
        pm.atoms_per_pe = a != m.options.atoms_per_pe.end() ? a->second : m.machine.max_atoms_per_pe;
        m.populations.push_back(std::move(pm));
    }
}

// Quantizes one projection: scale, integer weights, delay fields, error statistics.
void quantize(network_map& m, std::size_t j, mapped_projection& mp, const model_registry& models) {
    const projection_spec& pj = m.spec.projections[j];
    const population_map& tgt = m.populations[mp.post];
    const population_spec& tps = m.spec.populations[mp.post];
    projection_map pm;
    pm.projection = j;
    pm.format = tgt.format;
    pm.weight_bits = tgt.format == row_format::int8 ? 7 : (m.options.weight_bits > 0 ? m.options.weight_bits : 4);
    pm.q_max = (std::int32_t(1) << pm.weight_bits) - 1;
    pm.synapses = mp.syn.size();
    const std::string where = "projection '" + pj.name + "' (" + pj.source + " -> " + pj.target + ")";

    // Receptor: for lif_curr_exp the chip takes it from the weight's sign.
    const model_info& info = models.get(tps.model);
    const int receptor = info.receptor_index(pj.receptor);
    double max_abs = 0.0;
    for (float w : mp.syn.weight) max_abs = std::max(max_abs, std::fabs(static_cast<double>(w)));
    const bool two_receptors = tgt.kind == neuron_kind::lif_curr_exp || tgt.kind == neuron_kind::lif_curr_exp_spinnaker;
    if (two_receptors) {
        for (float w : mp.syn.weight) {
            if ((receptor == 0 && w < 0) || (receptor == 1 && w > 0))
                throw map_error(where + ": a " + (receptor == 0 ? "negative" : "positive") + " weight onto receptor '" +
                                pj.receptor + "'; the chip's lif_curr_exp takes the receptor from the weight's sign "
                                "(excitatory >= 0, inhibitory <= 0)");
        }
    }
    pm.max_abs_weight = max_abs;
    pm.scale = max_abs > 0 ? max_abs / pm.q_max : 1.0;
    if (pj.plasticity.plastic()) {
        // Pair-based additive STDP, the one rule the target runs: weights in [w_min, w_max]
        // with w_min >= 0, one step w_max / q_max.
        const auto& pl = pj.plasticity;
        const rule_info* ri = models.find_rule(pl.rule);
        auto opt = [&](const char* k) {  // the option, or the rule's default (its first value)
            if (auto it = pl.options.find(k); it != pl.options.end()) return it->second;
            const rule_option* o = ri ? ri->find_option(k) : nullptr;
            return o && !o->values.empty() ? o->values.front() : std::string();
        };
        auto par = [&](const char* k, double d) {  // the parameter, or the rule's default
            if (auto it = pl.params.find(k); it != pl.params.end()) return it->second;
            const param_info* pi = ri ? ri->find_param(k) : nullptr;
            return pi && pi->default_value ? *pi->default_value : d;
        };
        if (pl.rule != "stdp")
            throw map_error(where + " is plastic with rule '" + pl.rule + "'; the SpiNNaker2 target runs rule stdp only");
        if (opt("weight_dependence") != "additive")
            throw map_error(where + ": stdp with weight_dependence '" + opt("weight_dependence") +
                            "'; the SpiNNaker2 target runs additive stdp only");
        if (opt("presynaptic") == "inhibitory")
            throw map_error(where + ": stdp with presynaptic: inhibitory; the SpiNNaker2 target runs excitatory stdp only");
        if (!opt("depression_modulator").empty())
            throw map_error(where + ": stdp with a depression modulator; modulators are not mapped to SpiNNaker2");
        if (par("rate_decay", 1.0) != 1.0)
            throw map_error(where + ": stdp with rate_decay " + std::to_string(par("rate_decay", 1.0)) +
                            "; the SpiNNaker2 target runs constant amplitudes only (rate_decay 1)");
        const double w_min = par("w_min", 0.0), w_max = par("w_max", 0.0);
        if (!(w_min >= 0.0) || !(w_max > w_min))
            throw map_error(where + ": stdp weights in [" + std::to_string(w_min) + ", " + std::to_string(w_max) +
                            "]; the SpiNNaker2 target needs 0 <= w_min < w_max");
        if (receptor != 0 && two_receptors)
            throw map_error(where + ": plastic synapses onto receptor '" + pj.receptor + "'; the target's stdp potentiates excitatory synapses only");
        if (max_abs > w_max || max_abs < 0)
            throw map_error(where + ": an initial weight above w_max = " + std::to_string(w_max));
        pm.plastic = true;
        pm.scale = w_max / pm.q_max;
        pm.q_min = static_cast<std::int32_t>(std::lround(w_min / pm.scale));
        pm.a_plus_q = std::llround(par("a_plus", 0.0) / pm.scale * 65536.0);
        pm.a_minus_q = std::llround(par("a_minus", 0.0) / pm.scale * 65536.0);
        const double inc = par("trace_increment", 1.0);
        if (!(inc >= 0.0) || inc >= 32768.0) throw map_error(where + ": stdp trace_increment outside the trace format [0, 32768)");
        pm.trace_increment = static_cast<std::uint32_t>(std::llround(inc * 65536.0));
        pm.tau_plus = par("tau_plus", 0.0);
        pm.tau_minus = par("tau_minus", 0.0);
        if (!(pm.tau_plus > 0) || !(pm.tau_minus > 0)) throw map_error(where + ": stdp time constants must be > 0");
        pm.nearest = opt("pairing") == "nearest";
    }
    // One weight step in mV as the chip adds it (current models: through the
    // current-to-voltage propagator of the receptor's time constant).
    double mv_per_unit = 1.0;
    if (tgt.kind == neuron_kind::lif_curr_exp) {
        const double dt = m.spec.simulation.dt;
        const double tau = scalar_param(tps, "tau_m"), C = scalar_param(tps, "C_m");
        mv_per_unit = p_current(dt, tau, scalar_param(tps, receptor == 0 ? "tau_syn_ex" : "tau_syn_in"), C);
    } else if (tgt.kind == neuron_kind::lif_curr_exp_spinnaker) {
        // sPyNNaker's input scaling (tau_s/dt)(1 - e^{-dt/tau_s}) into a current whose
        // tick's effect on v is (1 - alpha) R I
        const double dt = m.spec.simulation.dt;
        const double tau = scalar_param(tps, "tau_m"), C = scalar_param(tps, "C_m");
        const double ts = scalar_param(tps, receptor == 0 ? "tau_syn_ex" : "tau_syn_in");
        mv_per_unit = ts / dt * -std::expm1(-dt / ts) * tau / C * -std::expm1(-dt / tau);
    }
    const double step_mv = pm.scale * mv_per_unit;
    if (!(std::fabs(step_mv) * pm.q_max < 32768.0))
        throw map_error(where + ": the largest weight (" + std::to_string(step_mv * pm.q_max) +
                        " mV per spike) does not fit the chip's s16.15 range");
    pm.weight_step = static_cast<std::int64_t>(std::llround(step_mv * 4294967296.0));
    if (pm.weight_step == 0 && max_abs > 0)
        throw map_error(where + ": one weight step (" + std::to_string(step_mv) + " mV) is below the 2^-32 mV resolution");

    // Weights and delays.
    const std::size_t n = mp.syn.size();
    mp.q.resize(n);
    mp.dfield.resize(n);
    double sq = 0.0;
    std::uint16_t max_delay = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double w = mp.syn.weight[i];
        const double r = std::round(w / pm.scale);
        const std::int32_t q = static_cast<std::int32_t>(std::clamp(r, -double(pm.q_max), double(pm.q_max)));
        mp.q[i] = q;
        const double e = std::fabs(w - q * pm.scale);
        sq += e * e;
        pm.max_error = std::max(pm.max_error, e);
        if (q == 0 && w != 0.0) ++pm.zero_weights;
        const std::uint16_t d = mp.syn.delay[i];
        max_delay = std::max(max_delay, d);
        mp.dfield[i] = static_cast<std::uint8_t>(d - 1);
    }
    pm.rms_error = n ? std::sqrt(sq / static_cast<double>(n)) : 0.0;
    const double tick = m.machine.tick_ms;
    if (pm.format == row_format::delayed && max_delay > 8)
        throw map_error(where + ": delay of " + std::to_string(max_delay) + " ticks (" + std::to_string(max_delay * tick) +
                        " ms); the delayed LIF format holds 1..8 ticks");
    if (pm.format == row_format::int8 && max_delay > 1)
        throw map_error(where + ": delay of " + std::to_string(max_delay) + " ticks onto '" + pj.target +
                        "', whose int8 (no-delay) format delivers after exactly one tick; use format delayed");
    m.projections.push_back(pm);
}

// Splits populations into slices no larger than their atoms limit and the PE's SRAM.
void partition_populations(network_map& m, const std::vector<mapped_projection>& mps,
                           const std::vector<std::uint32_t>& cap) {
    const std::size_t budget = m.machine.sram_budget();
    const std::size_t np = m.spec.populations.size();
    // Synapses per target neuron, and a bound on the row-table bytes per slice.
    std::vector<std::vector<std::uint32_t>> in(np);
    // Row-index bytes of a slice: at most the dense form (an offset per source neuron)
    // and at most the sparse one (4 bytes per synapse, each in a row of its own), plus a
    // table entry per source slice.
    std::vector<std::size_t> entries_bound(np, 0), dense_bound(np, 0);
    for (std::size_t k = 0; k < np; ++k) in[k].assign(m.spec.populations[k].size, 0);
    for (const auto& mp : mps) {
        // a plastic synapse also takes a column-index entry: counted as two words at most
        const std::uint32_t per = m.projections[static_cast<std::size_t>(&mp - mps.data())].plastic ? 2u : 1u;
        for (std::uint32_t t : mp.syn.post) in[mp.post][t] += per;
        const std::uint32_t n_pre = m.spec.populations[mp.pre].size;
        const std::size_t src_slices = (n_pre + cap[mp.pre] - 1) / cap[mp.pre];
        entries_bound[mp.post] += src_slices * block_entry_bytes;
        dense_bound[mp.post] += 4 * (static_cast<std::size_t>(n_pre) + src_slices);
    }
    m.slices.clear();
    for (std::size_t k = 0; k < np; ++k) {
        auto& pm = m.populations[k];
        pm.slices.clear();
        const auto& ps = m.spec.populations[k];
        const std::size_t per_neuron = neuron_bytes(pm);
        const int wb = word_bytes_for(bits_for(cap[k]), pm.format == row_format::delayed ? 3 : 0,
                                      pm.format == row_format::int8 ? 7 : (m.options.weight_bits > 0 ? m.options.weight_bits : 4));
        const std::size_t fixed = slice_overhead + entries_bound[k];
        if (fixed + per_neuron > budget && ps.size > 0)
            throw map_error("population '" + ps.name + "': the row tables of its inputs alone need " +
                            std::to_string(fixed) + " bytes of a PE's " + std::to_string(budget) +
                            " byte data budget (SRAM " + std::to_string(m.machine.sram_per_pe) + " - code reserve " +
                            std::to_string(m.machine.code_reserve) + ")");
        auto slice_bytes = [&](std::size_t neurons_bytes, std::size_t synapses) {
            return fixed + neurons_bytes + synapses * static_cast<std::size_t>(wb) + std::min(dense_bound[k], 4 * synapses);
        };
        std::uint32_t b = 0;
        while (b < ps.size) {
            std::uint32_t e = b;
            std::size_t nbytes = 0, syn = 0;
            while (e < ps.size && e - b < cap[k]) {
                if (slice_bytes(nbytes + per_neuron, syn + in[k][e]) > budget) break;
                nbytes += per_neuron;
                syn += in[k][e];
                ++e;
            }
            if (e == b)
                throw map_error("population '" + ps.name + "': neuron " + std::to_string(b) + " has " +
                                std::to_string(in[k][b]) + " incoming synapses (" +
                                std::to_string(slice_bytes(per_neuron, in[k][b])) +
                                " bytes with its tables), more than a PE's data budget of " + std::to_string(budget) +
                                " bytes");
            slice_map s;
            s.population = k;
            s.begin = b;
            s.end = e;
            pm.slices.push_back(m.slices.size());
            m.slices.push_back(s);
            b = e;
        }
    }
}

// Builds each PE's blocks of packed synaptic words and counts its SRAM exactly.
void build_rows(network_map& m, const std::vector<mapped_projection>& mps) {
    m.pes.assign(m.slices.size(), pe_data{});
    for (std::size_t s = 0; s < m.slices.size(); ++s) {
        const auto& sl = m.slices[s];
        const auto& pm = m.populations[sl.population];
        pe_data& pe = m.pes[s];
        pe.slice = s;
        std::uint32_t largest = 1;
        for (std::size_t t : pm.slices) largest = std::max(largest, m.slices[t].size());
        pe.index_bits = bits_for(largest);
        pe.delay_bits = pm.format == row_format::delayed ? 3 : 0;
        pe.weight_bits = pm.format == row_format::int8 ? 7 : (m.options.weight_bits > 0 ? m.options.weight_bits : 4);
        pe.word_bytes = word_bytes_for(pe.index_bits, pe.delay_bits, pe.weight_bits);
    }
    // slice of each neuron, per population
    std::vector<std::vector<std::uint32_t>> slice_of(m.spec.populations.size());
    for (std::size_t k = 0; k < m.spec.populations.size(); ++k) {
        slice_of[k].resize(m.spec.populations[k].size);
        for (std::size_t s : m.populations[k].slices)
            for (std::uint32_t i = m.slices[s].begin; i < m.slices[s].end; ++i) slice_of[k][i] = static_cast<std::uint32_t>(s);
    }
    for (std::size_t j = 0; j < mps.size(); ++j) {
        const auto& mp = mps[j];
        // Group synapses by (target slice, source slice), then by source neuron (the list
        // is ordered by source neuron, so a stable pass keeps that order).
        std::map<std::pair<std::uint32_t, std::uint32_t>, std::vector<std::uint32_t>> groups;
        for (std::uint32_t i = 0; i < mp.syn.size(); ++i)
            groups[{slice_of[mp.post][mp.syn.post[i]], slice_of[mp.pre][mp.syn.pre[i]]}].push_back(i);
        for (auto& [ts, idx] : groups) {
            const auto [tslice, sslice] = ts;
            pe_data& pe = m.pes[tslice];
            const slice_map& src = m.slices[sslice];
            const slice_map& dst = m.slices[tslice];
            row_block blk;
            blk.source_slice = sslice;
            blk.projection_map_index = j;
            blk.row_begin.assign(src.size() + 1, 0);
            std::stable_sort(idx.begin(), idx.end(), [&](std::uint32_t a, std::uint32_t b) { return mp.syn.pre[a] < mp.syn.pre[b]; });
            for (std::uint32_t i : idx) ++blk.row_begin[mp.syn.pre[i] - src.begin + 1];
            std::partial_sum(blk.row_begin.begin(), blk.row_begin.end(), blk.row_begin.begin());
            blk.words.reserve(idx.size());
            const std::uint32_t wmask = (std::uint32_t(1) << (pe.weight_bits + 1)) - 1;
            for (std::uint32_t i : idx) {
                const std::uint32_t target = mp.syn.post[i] - dst.begin;
                const std::uint32_t delay = pe.delay_bits ? mp.dfield[i] : 0;
                const std::uint32_t weight = static_cast<std::uint32_t>(mp.q[i]) & wmask;
                blk.words.push_back(target | (delay << pe.index_bits) | (weight << (pe.index_bits + pe.delay_bits)));
            }
            pe.blocks.push_back(std::move(blk));
        }
    }
    for (std::size_t s = 0; s < m.slices.size(); ++s) {
        auto& sl = m.slices[s];
        const auto& pm = m.populations[sl.population];
        std::size_t bytes = slice_overhead + neuron_bytes(pm) * sl.size();
        std::size_t syn = 0;
        bool plastic_input = false;
        for (const auto& b : m.pes[s].blocks) {
            std::size_t nonempty = 0;
            for (std::size_t i = 0; i + 1 < b.row_begin.size(); ++i) nonempty += b.row_begin[i + 1] > b.row_begin[i];
            bytes += block_bytes(b.row_begin.size() - 1, nonempty, b.words.size(), m.pes[s].word_bytes);
            syn += b.words.size();
            if (m.projections[b.projection_map_index].plastic) {
                plastic_input = true;
                bytes += plastic_synapse_bytes * b.words.size() + trace_bytes * (b.row_begin.size() - 1);
            }
        }
        if (plastic_input) bytes += trace_bytes * sl.size();
        sl.sram_bytes = bytes;
        sl.incoming_synapses = syn;
    }
}

// Rates from a run of the float engine at dt = tick (or 1 Hz everywhere without one).
std::vector<std::vector<double>> reference_rates(network_map& m, const model_registry& models, const map_progress& progress) {
    std::vector<std::vector<double>> rates(m.spec.populations.size());
    for (std::size_t k = 0; k < rates.size(); ++k) rates[k].assign(m.spec.populations[k].size, 0.0);
    double ms = m.options.reference_ms;
    if (ms < 0) ms = std::min(m.spec.simulation.duration, 1000.0);
    m.reference_ms = ms;
    if (ms <= 0) {
        for (auto& r : rates) std::fill(r.begin(), r.end(), 1.0);
        m.notes.push_back("no reference run: placement assumes the same rate for every neuron");
        return rates;
    }
    if (progress) progress("reference run of the float engine, " + std::to_string(static_cast<long long>(ms)) + " ms at dt = tick");
    struct counter : observer {
        std::vector<std::vector<double>>* r;
        void on_spikes(std::uint64_t, std::size_t pop, const std::uint32_t* ids, std::size_t n) override {
            for (std::size_t i = 0; i < n; ++i) (*r)[pop][ids[i]] += 1.0;
        }
    } c;
    c.r = &rates;
    simulation sim(m.spec, models, m.spec.simulation.threads);
    sim.run(steps_for(ms, m.spec.simulation.dt), &c);
    for (auto& r : rates)
        for (double& x : r) x *= 1000.0 / ms;
    return rates;
}

}  // namespace

std::size_t network_map::chips_used() const {
    std::vector<char> used(machine.chips.size(), 0);
    for (const auto& s : slices)
        if (s.chip >= 0) used[static_cast<std::size_t>(s.chip)] = 1;
    return static_cast<std::size_t>(std::count(used.begin(), used.end(), 1));
}

// ---------------------------------------------------------------------------------------
// Placement

namespace {

struct pe_slot {
    int chip, pe;
};

// The slice graph as a Boost.Graph graph: undirected, one edge per connected pair with
// the packets/s of both directions summed.
using slice_ugraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS, boost::no_property,
                                           boost::property<boost::edge_weight_t, double>>;

struct placer {
    const network_map& m;
    slice_ugraph sg;
    slice_graph nbr;  // sg's adjacency with weights, flattened for the inner loops
    std::vector<std::vector<int>> hops;
    double Q;

    placer(const network_map& mm, const slice_graph& g) : m(mm), sg(g.size()), hops(chip_distances(mm.machine)), Q(mm.options.chip_hop_cost) {
        std::map<std::pair<std::size_t, std::size_t>, double> w;
        for (std::size_t a = 0; a < g.size(); ++a)
            for (auto [b, x] : g[a])
                if (a != b) w[{std::min(a, b), std::max(a, b)}] += x;
        for (const auto& [ab, x] : w) boost::add_edge(ab.first, ab.second, x, sg);
        nbr.resize(g.size());
        const auto weight = boost::get(boost::edge_weight, sg);
        for (std::size_t a = 0; a < g.size(); ++a)
            for (auto [e, end] = boost::out_edges(a, sg); e != end; ++e)
                nbr[a].push_back({boost::target(*e, sg), weight[*e]});
    }
    // Slices in breadth-first order over the slice graph, starting from each unvisited
    // slice in `seeds` order: connected slices come one after another.
    std::vector<std::size_t> bfs_order(const std::vector<std::size_t>& seeds) const {
        std::vector<boost::default_color_type> colour(boost::num_vertices(sg), boost::white_color);
        auto cmap = boost::make_iterator_property_map(colour.begin(), boost::get(boost::vertex_index, sg));
        std::vector<std::size_t> order;
        struct recorder : boost::default_bfs_visitor {
            std::vector<std::size_t>* out;
            void discover_vertex(std::size_t v, const slice_ugraph&) const { out->push_back(v); }
        } vis;
        vis.out = &order;
        boost::queue<std::size_t> q;
        for (std::size_t s : seeds)
            if (colour[s] == boost::white_color) boost::breadth_first_visit(sg, s, q, vis, cmap);
        return order;
    }
    double dist(pe_slot a, pe_slot b) const {
        const auto qa = qpe_position(a.pe), qb = qpe_position(b.pe);
        const int h = hops[static_cast<std::size_t>(a.chip)][static_cast<std::size_t>(b.chip)];
        return Q * (h < 0 ? 1e6 : h) + std::abs(qa[0] - qb[0]) + std::abs(qa[1] - qb[1]);
    }
};

// Free PEs in locality order: chips by hop distance from the first chip, PEs in order.
std::vector<pe_slot> all_slots(const network_map& m) {
    const auto d = chip_distances(m.machine);
    std::vector<int> chips(m.machine.chips.size());
    std::iota(chips.begin(), chips.end(), 0);
    std::stable_sort(chips.begin(), chips.end(), [&](int a, int b) { return d[0][static_cast<std::size_t>(a)] < d[0][static_cast<std::size_t>(b)]; });
    std::vector<pe_slot> s;
    for (int c : chips)
        for (int p = 0; p < m.machine.pes_per_chip; ++p) s.push_back({c, p});
    return s;
}

}  // namespace

traffic placement_traffic(const network_map& m, const slice_graph& g) {
    traffic t;
    const auto d = chip_distances(m.machine);
    for (std::size_t a = 0; a < g.size(); ++a)
        for (auto [b, w] : g[a]) {
            const auto& sa = m.slices[a];
            const auto& sb = m.slices[b];
            const int h = d[static_cast<std::size_t>(sa.chip)][static_cast<std::size_t>(sb.chip)];
            const auto qa = qpe_position(sa.pe), qb = qpe_position(sb.pe);
            t.chip_hops += w * h;
            t.qpe_hops += w * (std::abs(qa[0] - qb[0]) + std::abs(qa[1] - qb[1]));
        }
    t.cost = m.options.chip_hop_cost * t.chip_hops + t.qpe_hops;
    return t;
}

void place(network_map& m, const slice_graph& g) {
    auto slots = all_slots(m);
    const std::size_t S = m.slices.size();
    if (S > slots.size()) {
        std::ostringstream os;
        os << "the network needs " << S << " PEs and machine '" << m.machine.name << "' has " << slots.size() << " ("
           << m.machine.chips.size() << " chips x " << m.machine.pes_per_chip << " PEs); per population:";
        for (std::size_t k = 0; k < m.populations.size(); ++k)
            os << " " << m.spec.populations[k].name << " " << m.populations[k].slices.size() << " PEs ("
               << m.populations[k].atoms_per_pe << " atoms per PE max)" << (k + 1 < m.populations.size() ? "," : "");
        os << ". Use a larger machine (spinnaker2.machine: board48) or more atoms per PE";
        throw map_error(os.str());
    }
    std::vector<std::size_t> order;
    if (m.options.placement == "random") {
        order.resize(S);
        std::iota(order.begin(), order.end(), 0);
        random_stream rng(m.options.placement_seed, 0x5032u, 1);
        for (std::size_t i = slots.size(); i > 1; --i) std::swap(slots[i - 1], slots[rng.below(static_cast<std::uint32_t>(i))]);
        for (std::size_t i = 0; i < S; ++i) {
            m.slices[i].chip = slots[i].chip;
            m.slices[i].pe = slots[i].pe;
        }
        return;
    }
    placer P(m, g);
    // Greedy: slices in breadth-first order over the slice graph from the populations in
    // drive order (sources first); each takes the free PE
    // closest (traffic-weighted) to its already placed neighbours, searching the first
    // free PEs in locality order (a window, so the cost stays linear in the slices).
    std::vector<std::size_t> seeds;
    for (std::size_t k : drive_order(m.spec))
        for (std::size_t s : m.populations[k].slices) seeds.push_back(s);
    order = P.bfs_order(seeds);
    std::vector<char> used(slots.size(), 0);
    std::vector<std::size_t> slot_of(S, 0);
    std::vector<char> placed(S, 0);
    std::size_t first_free = 0;
    const std::size_t window = 4 * static_cast<std::size_t>(m.machine.pes_per_chip);
    for (std::size_t s : order) {
        while (used[first_free]) ++first_free;
        std::size_t best = first_free;
        double best_cost = std::numeric_limits<double>::infinity();
        bool any = false;
        for (auto [b, w] : P.nbr[s]) any = any || placed[b];
        if (any) {
            std::size_t seen = 0;
            for (std::size_t i = first_free; i < slots.size() && seen < window; ++i) {
                if (used[i]) continue;
                ++seen;
                double c = 0.0;
                for (auto [b, w] : P.nbr[s])
                    if (placed[b]) c += w * P.dist(slots[i], slots[slot_of[b]]);
                if (c < best_cost) { best_cost = c; best = i; }
            }
        }
        used[best] = 1;
        slot_of[s] = best;
        placed[s] = 1;
    }
    // Local search: move a slice to a free PE or swap it with another, keep the change
    // when the traffic cost falls (greedy descent with random proposals, seeded).
    if (m.options.placement == "anneal" && S > 1) {
        const std::uint64_t iters = m.options.placement_iterations ? m.options.placement_iterations : 200 * S;
        random_stream rng(m.options.placement_seed, 0x5032u, 2);
        std::vector<std::ptrdiff_t> occupant(slots.size(), -1);
        for (std::size_t s = 0; s < S; ++s) occupant[slot_of[s]] = static_cast<std::ptrdiff_t>(s);
        // Candidate PEs: those of chips in use plus one ring of neighbours (bounded).
        const std::size_t span = std::min(slots.size(), std::max<std::size_t>(S + S / 2 + 8, window));
        auto cost_at = [&](std::size_t s, std::size_t slot, std::ptrdiff_t skip) {
            double c = 0.0;
            for (auto [b, w] : P.nbr[s])
                if (static_cast<std::ptrdiff_t>(b) != skip) c += w * P.dist(slots[slot], slots[slot_of[b]]);
            return c;
        };
        for (std::uint64_t it = 0; it < iters; ++it) {
            const std::size_t a = rng.below(static_cast<std::uint32_t>(S));
            if (P.nbr[a].empty()) continue;
            const std::size_t to = rng.below(static_cast<std::uint32_t>(span));
            const std::size_t from = slot_of[a];
            if (to == from) continue;
            const std::ptrdiff_t b = occupant[to];
            double delta = cost_at(a, to, b) - cost_at(a, from, b);
            if (b >= 0) {
                const auto bb = static_cast<std::size_t>(b);
                delta += cost_at(bb, from, static_cast<std::ptrdiff_t>(a)) - cost_at(bb, to, static_cast<std::ptrdiff_t>(a));
            }
            if (delta < -1e-12) {
                occupant[to] = static_cast<std::ptrdiff_t>(a);
                occupant[from] = b;
                slot_of[a] = to;
                if (b >= 0) slot_of[static_cast<std::size_t>(b)] = from;
            }
        }
    }
    for (std::size_t s = 0; s < S; ++s) {
        m.slices[s].chip = slots[slot_of[s]].chip;
        m.slices[s].pe = slots[slot_of[s]].pe;
    }
}

// ---------------------------------------------------------------------------------------

network_map map_network(const experiment& ex, const model_registry& models, const map_options& options,
                        const map_progress& progress) {
    const auto t0 = std::chrono::steady_clock::now();
    network_map m;
    m.machine = options.machine;
    m.options = options;
    m.spec = ex.spec;
    if (m.machine.pes_per_chip > 192) throw map_error("pes_per_chip above 192 is not supported by the route format");
    const double tick = m.machine.tick_ms;
    if (std::fabs(m.spec.simulation.dt - tick) > 1e-12) {
        m.notes.push_back("the experiment's dt of " + std::to_string(m.spec.simulation.dt) + " ms became the machine tick of " +
                          std::to_string(tick) + " ms; the float engine is compared at the same dt");
        m.spec.simulation.dt = tick;
    }
    for (const auto& st : m.spec.stimuli)
        if (st.type != "step_current")
            throw map_error("stimulus '" + st.name + "' (" + st.type +
                            ") has no SpiNNaker2 counterpart; drive the network from a poisson population instead");
    if (!m.spec.modulators.empty()) throw map_error("modulators are not mapped to SpiNNaker2");

    if (progress) progress("lowering neuron models");
    lower_populations(m, models);

    if (progress) progress("generating and quantizing synapses");
    const auto positions = m.spec.layouts.empty() ? std::vector<neuron_positions>(m.spec.populations.size())
                                                  : place_neurons(m.spec, m.spec.simulation.seed);
    std::vector<mapped_projection> mps(m.spec.projections.size());
    for (std::size_t j = 0; j < m.spec.projections.size(); ++j) {
        const auto& pj = m.spec.projections[j];
        auto& mp = mps[j];
        mp.pre = m.spec.population_index(pj.source);
        mp.post = m.spec.population_index(pj.target);
        mp.syn = generate_synapses(pj, m.spec.populations[mp.pre].size, m.spec.populations[mp.post].size, tick,
                                   m.spec.simulation.seed, &positions[mp.pre], &positions[mp.post]);
        quantize(m, j, mp, models);
    }

    if (progress) progress("partitioning");
    std::vector<std::uint32_t> cap(m.populations.size());
    for (std::size_t k = 0; k < cap.size(); ++k) cap[k] = std::max<std::uint32_t>(1, m.populations[k].atoms_per_pe);
    // Source slices smaller than the atom limit make more row blocks than the bound
    // assumed: shrink and retry until every PE fits.
    for (int attempt = 0;; ++attempt) {
        partition_populations(m, mps, cap);
        build_rows(m, mps);
        bool ok = true;
        for (const auto& s : m.slices)
            if (s.sram_bytes > m.machine.sram_budget()) {
                ok = false;
                cap[s.population] = std::max<std::uint32_t>(1, cap[s.population] * 9 / 10);
            }
        if (ok) break;
        if (attempt == 30) throw map_error("could not partition the network within the PE's SRAM budget");
    }

    const auto rates = reference_rates(m, models, progress);
    for (auto& s : m.slices) {
        double r = 0.0;
        for (std::uint32_t i = s.begin; i < s.end; ++i) r += rates[s.population][i];
        s.rate_hz = s.size() ? r / s.size() : 0.0;
    }
    // Slice graph: packets/s from each source slice to each target slice that holds a
    // row for it (one packet per spike of a neuron with a non-empty row there).
    slice_graph g(m.slices.size());
    for (std::size_t t = 0; t < m.pes.size(); ++t) {
        std::map<std::size_t, double> in;
        std::map<std::size_t, std::vector<char>> sends;
        for (const auto& b : m.pes[t].blocks) {
            auto& v = sends[b.source_slice];
            v.resize(b.row_begin.size() - 1, 0);
            for (std::size_t i = 0; i + 1 < b.row_begin.size(); ++i)
                if (b.row_begin[i + 1] > b.row_begin[i]) v[i] = 1;
        }
        for (auto& [src, v] : sends) {
            const auto& ss = m.slices[src];
            double w = 0.0;
            for (std::size_t i = 0; i < v.size(); ++i)
                if (v[i]) w += rates[ss.population][ss.begin + i];
            g[src].push_back({t, w});
        }
    }

    if (progress) progress("placing " + std::to_string(m.slices.size()) + " slices");
    {
        network_map r = m;  // the same slices at random PEs, for the report
        r.options.placement = "random";
        place(r, g);
        m.random_placement = placement_traffic(r, g);
    }
    place(m, g);
    m.placed = placement_traffic(m, g);

    if (progress) progress("allocating keys and building routes");
    allocate_keys(m);
    build_routes(m);
    m.map_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return m;
}

}  // namespace engram::s2
