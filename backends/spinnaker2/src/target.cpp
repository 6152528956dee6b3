// The target model: the mapped network run tick by tick as the chip would run it.
//
// Order within tick t (the float engine's step t, time t*tick):
//   1. update     every neuron slice: read and clear ring slot t, advance the fixed-point
//                 state, test the threshold -> spikes of tick t; source slices run their
//                 population's model (the float engine's, deterministic) for step t
//   2. potentiate each PE with plastic input, for each of its neurons that spiked in t:
//                 every plastic synapse onto it (column index) gains a_plus x_pre, the
//                 presynaptic trace counting the source's spikes before t
//   3. send       each spike's key = slice.key | (i - slice.begin) is walked through the
//                 routing tables (walk(), cached per key after the first walk); the PEs
//                 reached must be exactly those holding a row block for the key
//   4. receive    each reached PE decodes the source neuron's row from its packed words
//                 and adds q * weight_step (int64, 32 fraction bits) into ring slot
//                 t + delay of the target, read as s16.15 rounded to nearest; a plastic
//                 row then loses a_minus y_post per synapse (postsynaptic spikes before t)
//   5. traces     the spikes of t join the pre- and postsynaptic traces
//   6. account    cycles per PE (against the tick budget), packets per link, energy
// Spikes of tick t therefore act at tick t + d, as in the float engine; the STDP pairing
// is engram's stdp rule's (plasticity/src/stdp.cpp): a pre spike at s and a post spike at
// p pair once, potentiating when p > s and depressing when p < s, and the weight a spike
// carries is the one before its own depression.
//
// STDP in fixed point: traces are u16.16 with the tick of their last spike, decayed when
// read by a table of exp(-k tick / tau) in u32.32; a change a * trace (a in weight steps
// with 16 fraction bits) is rounded to the nearest step and q is clamped to [q_min, q_max].
//
// Fixed-point arithmetic (docs/spinnaker2.md): v, I_exc, I_inh, threshold, v_reset and
// i_offset are s16.15 (int32, 15 fraction bits, mV relative to E_L); alpha and decays are
// u0.32. A product x * a is (int64)x * a >> 32 with an arithmetic shift, i.e. rounded
// towards minus infinity (error in [0, 1) LSB = [0, 2^-15) mV, always downwards). Sums
// saturate at the int32 range.
//
// Given a float simulation, each neuron starts from its state (v - E_L, and I_ex * P_me,
// I_in * P_mi; lif_curr_exp_spinnaker: I * P_mI), so that both runs start from the same
// state; without one, from v_init with zero currents. Step currents change
// i_offset to P_mI (I_e + I_stim), rounded once, at the step the engine applies them.
//
// Accounting: a PE's cycles in tick t are cycles_per_tick + neurons * cycles_per_neuron
// (source PEs: the overhead only) + packets received * cycles_per_packet + synaptic
// events * cycles_per_synapse, the packets of tick t's spikes counted in tick t (they
// arrive microseconds after being sent). Energy = synaptic events * J_synapse + neuron
// updates * J_neuron + link hops * J_hop + router passes (hops + 1 per packet that is
// routed) * J_router + idle power * chips used * simulated time.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "engram/core/engine.hpp"
#include "engram/spinnaker2/spinnaker2.hpp"

namespace engram::s2 {
namespace {

using clock_type = std::chrono::steady_clock;

constexpr double fix_one = 32768.0;  // 2^15: one mV in s16.15

std::int32_t sat32(std::int64_t x) {
    return static_cast<std::int32_t>(std::clamp<std::int64_t>(x, std::numeric_limits<std::int32_t>::min(),
                                                              std::numeric_limits<std::int32_t>::max()));
}
// s16.15 x u0.32 -> s16.15, arithmetic shift (floor).
std::int32_t mul_u32(std::int32_t x, std::uint32_t a) {
    return static_cast<std::int32_t>((static_cast<std::int64_t>(x) * static_cast<std::int64_t>(a)) >> 32);
}
std::int32_t to_fixed(double mv) { return sat32(std::llround(mv * fix_one)); }
// A tick's input sum (mV with 32 fraction bits) to s16.15, rounded to nearest (half up).
std::int32_t ring_to_s1615(std::int64_t sum) { return sat32((sum + (std::int64_t(1) << 16)) >> 17); }

std::string hex_key(std::uint32_t key) {
    char b[16];
    std::snprintf(b, sizeof b, "0x%08x", key);
    return b;
}

double param(const population_spec& s, const char* name) {
    auto it = s.params.find(name);
    return it == s.params.end() || it->second.values.empty() ? 0.0 : it->second.values[0];
}

// Current-to-voltage propagators of the float engine (neurons/src/lif.cpp), in double.
struct propagators {
    double P_mI = 0.0;        // mV per pA of constant current over one tick
    double P_me = 0.0, P_mi = 0.0;  // mV per pA of exponential current at the start of the tick
};
double p_current(double dt, double tau_m, double tau_s, double C) {
    if (std::fabs(tau_m - tau_s) < 1e-9 * tau_m) return dt / C * std::exp(-dt / tau_m);
    return tau_m * tau_s / (C * (tau_m - tau_s)) * (std::exp(-dt / tau_m) - std::exp(-dt / tau_s));
}
propagators propagators_of(const population_spec& s, double dt) {
    propagators p;
    const double C = param(s, "C_m"), tau = param(s, "tau_m");
    if (!(C > 0) || !(tau > 0)) return p;
    p.P_mI = tau / C * -std::expm1(-dt / tau);
    if (s.params.count("tau_syn_ex")) p.P_me = p_current(dt, tau, param(s, "tau_syn_ex"), C);
    if (s.params.count("tau_syn_in")) p.P_mi = p_current(dt, tau, param(s, "tau_syn_in"), C);
    return p;
}

// Records every spike of the float reference run.
struct spike_collector : observer {
    // per population: (step, neuron) in step order
    std::vector<std::vector<std::pair<std::uint32_t, std::uint32_t>>> spikes;
    explicit spike_collector(std::size_t pops) : spikes(pops) {}
    void on_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t n) override {
        for (std::size_t i = 0; i < n; ++i) spikes[pop].emplace_back(static_cast<std::uint32_t>(step), ids[i]);
    }
};

// A step_current stimulus lowered to ticks: at tick `step`, `delta` pA on `neurons`.
struct current_change {
    std::uint64_t step = 0;
    double delta = 0.0;
    std::vector<std::uint32_t> neurons;  // empty: all
};

// One PE's runtime state.
struct slice_rt {
    std::size_t pop = 0;
    population_model* source = nullptr;  // source slices: the population's model
    neuron_kind kind = neuron_kind::lif;
    std::uint32_t begin = 0, n = 0;
    fixed_neuron p;
    std::vector<std::int32_t> v, ie, ii, stim;  // stim: step currents' change of i_offset (s16.15), empty if none
    std::vector<std::uint32_t> ref;
    std::uint32_t slots = 1;
    std::vector<std::int64_t> ring_e, ring_i;  // [slot * n + neuron], mV with 32 fraction bits
    // this tick's counters
    std::uint64_t packets = 0, events = 0;
    // Some PE holds a row block of this slice. A slice without one (a population with no
    // outgoing synapses) sends no packets: its keys have no routes, and its PE's code
    // would not send them.
    bool has_outgoing = false;
    // Plastic input: per local neuron, the plastic synapses onto it (column index).
    std::vector<std::uint32_t> col_begin;
    struct col_entry {
        std::uint32_t block, word, pre;  // pre: the source neuron in its population
    };
    std::vector<col_entry> col;
};

// A trace per neuron in u16.16 with the tick of its last spike, decayed when read.
struct fixed_trace {
    struct entry {
        std::uint32_t value = 0;
        std::uint64_t tick = 0;
    };
    std::vector<entry> e;
    std::vector<std::uint64_t> decay;  // u32.32: exp(-k tick / tau), ending in a 0
    std::uint32_t increment = 0;
    bool nearest = false;
    fixed_trace(std::size_t n, double tau, double dt, std::uint32_t inc, bool near) : e(n), increment(inc), nearest(near) {
        const auto len = static_cast<std::size_t>(std::min(std::ceil(20.7 * tau / dt), double(1 << 20))) + 1;
        decay.resize(len + 1, 0);
        for (std::size_t k = 0; k < len; ++k) decay[k] = static_cast<std::uint64_t>(std::llround(std::exp(-double(k) * dt / tau) * 4294967296.0));
    }
    std::uint32_t at(std::size_t i, std::uint64_t t) const {
        const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(t - e[i].tick, decay.size() - 1));
        return static_cast<std::uint32_t>((static_cast<std::uint64_t>(e[i].value) * decay[k]) >> 32);
    }
    void spike(std::size_t i, std::uint64_t t) {
        const std::uint64_t before = nearest ? 0 : at(i, t);
        e[i].value = static_cast<std::uint32_t>(std::min<std::uint64_t>(before + increment, 0xffffffffu));
        e[i].tick = t;
    }
};

struct plastic_rt {
    bool on = false;
    std::size_t pre_pop = 0, post_pop = 0;
    fixed_trace pre{0, 1, 1, 0, false}, post{0, 1, 1, 0, false};
};

// Where one synapse lives: PE (slice), block, word.
struct synapse_loc {
    std::uint32_t pre, post, slice, block, word;
};

// Where one key goes, found once by walking the tables.
struct route_info {
    struct dest {
        std::size_t slice;
        std::vector<std::size_t> blocks;  // indices into m.pes[slice].blocks
    };
    std::vector<dest> dests;
    std::vector<std::pair<std::size_t, std::uint64_t>> links;  // (chip * n_links + link, packets)
    std::uint64_t hops = 0, routers = 0;
};

// Squared van Rossum distance (1/tau) * integral (f - g)^2 dt of two sorted trains, in
// closed form: (1/2) [sum_ij e^{-|x_i-x_j|/tau} + sum_ij e^{-|y_i-y_j|/tau} - 2 sum_ij e^{-|x_i-y_j|/tau}],
// each sum in one pass (a decaying accumulator), so the cost is linear in the spikes.
double cross_sum(const std::vector<double>& x, const std::vector<double>& y, double tau) {
    // sum over pairs with y_j <= x_i plus pairs with x_i < y_j
    auto one_side = [tau](const std::vector<double>& a, const std::vector<double>& b, bool strict) {
        double total = 0.0, acc = 0.0, t_acc = 0.0;
        std::size_t j = 0;
        for (double t : a) {
            while (j < b.size() && (strict ? b[j] < t : b[j] <= t)) {
                acc = acc * std::exp(-(b[j] - t_acc) / tau) + 1.0;
                t_acc = b[j];
                ++j;
            }
            if (j > 0) total += acc * std::exp(-(t - t_acc) / tau);
        }
        return total;
    };
    return one_side(x, y, false) + one_side(y, x, true);
}
double van_rossum_sq(const std::vector<double>& x, const std::vector<double>& y, double tau) {
    const double d = 0.5 * (cross_sum(x, x, tau) + cross_sum(y, y, tau) - 2.0 * cross_sum(x, y, tau));
    return std::max(0.0, d);
}


}  // namespace

struct target_session::impl {
    const network_map& m;
    const model_registry& models;
    const network_spec& spec;
    double dt;
    std::vector<pe_data> pes;  // the map's rows; plastic words change as the session runs
    std::vector<std::unique_ptr<population_model>> sources;  // per population (sources only)
    std::vector<std::vector<current_change>> changes;
    std::vector<std::vector<double>> stim_pa;
    std::vector<std::size_t> change_pos;
    std::vector<propagators> prop;
    std::vector<slice_rt> rt;
    std::vector<int> pe_slice;
    std::vector<std::vector<std::size_t>> holders;
    std::vector<std::size_t> key_base;
    std::vector<std::optional<route_info>> routes;
    std::size_t n_link_slots = 0;
    std::vector<std::uint64_t> tick_links;
    std::vector<std::size_t> tick_links_touched;
    std::vector<plastic_rt> plastic;  // per projection
    std::vector<std::vector<std::uint32_t>> fired_per_slice;
    std::vector<std::vector<std::uint32_t>> pop_spikes;  // this tick, per population
    std::optional<std::pair<std::size_t, std::uint32_t>> trace;  // (slice, local)
    mutable std::vector<std::optional<std::vector<synapse_loc>>> locs;  // per projection, built on first use
    target_result res;
    std::uint64_t tick = 0, neuron_updates = 0, total_hops = 0, total_routers = 0;
    double cycle_sum = 0.0;

    impl(const network_map& mm, const model_registry& reg, const simulation* initial);
    std::string where(std::size_t slice, std::uint32_t local) const {
        const auto& sl = m.slices[slice];
        return "population '" + spec.populations[sl.population].name + "' neuron " + std::to_string(sl.begin + local);
    }
    std::string pe_name(int chip, int pe) const {
        if (chip < 0 || static_cast<std::size_t>(chip) >= m.machine.chips.size())
            return "chip #" + std::to_string(chip) + " PE " + std::to_string(pe);
        const auto c = m.machine.chips[static_cast<std::size_t>(chip)];
        return "chip (" + std::to_string(c.x) + "," + std::to_string(c.y) + ") PE " + std::to_string(pe);
    }
    const route_info& route_of(std::size_t s, std::uint32_t local);
    void deliver(std::size_t s, std::uint32_t local, std::uint64_t t);
    void step(observer* obs);
    const std::vector<synapse_loc>& locations(std::size_t j) const;
    // Weight field of a word on PE d.
    std::int32_t weight_of(std::size_t d, std::uint32_t word) const {
        const auto& pd = pes[d];
        const std::uint32_t wb = static_cast<std::uint32_t>(pd.weight_bits) + 1;
        std::int32_t q = static_cast<std::int32_t>((word >> (pd.index_bits + pd.delay_bits)) & ((1u << wb) - 1u));
        if (q & (1 << (wb - 1))) q -= 1 << wb;
        return q;
    }
    void set_weight(std::size_t d, std::uint32_t& word, std::int32_t q) const {
        const auto& pd = pes[d];
        const std::uint32_t shift = static_cast<std::uint32_t>(pd.index_bits + pd.delay_bits);
        const std::uint32_t mask = ((1u << (pd.weight_bits + 1)) - 1u) << shift;
        word = (word & ~mask) | ((static_cast<std::uint32_t>(q) << shift) & mask);
    }
};

target_session::impl::impl(const network_map& mm, const model_registry& reg, const simulation* initial)
    : m(mm), models(reg), spec(mm.spec), dt(mm.spec.simulation.dt), pes(mm.pes) {
    const std::size_t n_pops = spec.populations.size();
    if (m.populations.size() != n_pops || m.pes.size() != m.slices.size() || m.projections.size() != spec.projections.size())
        throw map_error("target session: the map is inconsistent (populations, projections or PE data do not match its spec)");

    // Stimuli the target can run: step currents become a time-varying i_offset.
    changes.resize(n_pops);
    for (const auto& st : spec.stimuli) {
        if (st.type != "step_current")
            throw map_error("stimulus '" + st.name + "' (" + st.type + " on '" + st.target +
                            "'): the target has no Poisson input generator; use a poisson population with a "
                            "projection instead");
        const std::size_t p = spec.population_index(st.target);
        if (m.populations[p].kind == neuron_kind::spike_list)
            throw map_error("stimulus '" + st.name + "': a step current cannot drive the source population '" + st.target + "'");
        double prev = 0.0;
        for (std::size_t i = 0; i < st.times.size(); ++i) {
            changes[p].push_back({static_cast<std::uint64_t>(std::llround(st.times[i] / dt)) + 1, st.amplitudes[i] - prev, st.neurons});
            prev = st.amplitudes[i];
        }
    }
    for (auto& c : changes)
        std::stable_sort(c.begin(), c.end(), [](const current_change& a, const current_change& b) { return a.step < b.step; });
    stim_pa.resize(n_pops);
    for (std::size_t p = 0; p < n_pops; ++p)
        if (!changes[p].empty()) stim_pa[p].assign(spec.populations[p].size, 0.0);
    change_pos.assign(n_pops, 0);

    // Source populations run their own model.
    sources.resize(n_pops);
    for (std::size_t p = 0; p < n_pops; ++p)
        if (m.populations[p].kind == neuron_kind::spike_list) sources[p] = models.get(spec.populations[p].model).make(spec.populations[p], dt);

    prop.resize(n_pops);
    for (std::size_t p = 0; p < n_pops; ++p) prop[p] = propagators_of(spec.populations[p], dt);
    rt.resize(m.slices.size());
    pe_slice.assign(m.machine.chips.size() * static_cast<std::size_t>(m.machine.pes_per_chip), -1);
    for (std::size_t s = 0; s < m.slices.size(); ++s) {
        const auto& sl = m.slices[s];
        const auto& pm = m.populations.at(sl.population);
        auto& r = rt[s];
        r.pop = sl.population;
        r.kind = pm.kind;
        r.begin = sl.begin;
        r.n = sl.size();
        r.p = pm.params;
        if (sl.chip < 0 || sl.pe < 0 || static_cast<std::size_t>(sl.chip) >= m.machine.chips.size() ||
            sl.pe >= m.machine.pes_per_chip)
            throw map_error("slice " + std::to_string(s) + " of population '" + spec.populations[sl.population].name +
                            "' is not placed on a PE");
        pe_slice[static_cast<std::size_t>(sl.chip) * static_cast<std::size_t>(m.machine.pes_per_chip) + static_cast<std::size_t>(sl.pe)] =
            static_cast<int>(s);
        const int db = m.pes[s].delay_bits;
        r.slots = db > 0 ? (1u << db) : 1u;
        if (pm.kind == neuron_kind::spike_list) {
            r.source = sources[sl.population].get();
            continue;
        }
        const bool two = pm.kind != neuron_kind::lif;
        const double EL = param(spec.populations[sl.population], "E_L");
        const auto& pr = prop[sl.population];
        r.v.assign(r.n, pm.params.v_init);
        r.ie.assign(r.n, 0);
        r.ii.assign(r.n, 0);
        r.ref.assign(r.n, 0);
        if (initial) {
            const std::vector<double> v = initial->state(sl.population, "v");
            for (std::uint32_t i = 0; i < r.n; ++i) r.v[i] = to_fixed(static_cast<double>(v[sl.begin + i]) - EL);
            if (two) {
                // the currents' effect on v over one tick: P_me I (exact), (1 - alpha) R I (sPyNNaker's order)
                const double fe = pm.kind == neuron_kind::lif_curr_exp ? pr.P_me : pr.P_mI;
                const double fi = pm.kind == neuron_kind::lif_curr_exp ? pr.P_mi : pr.P_mI;
                const std::vector<double> e = initial->state(sl.population, "I_ex");
                const std::vector<double> in = initial->state(sl.population, "I_in");
                for (std::uint32_t i = 0; i < r.n; ++i) {
                    r.ie[i] = to_fixed(fe * e[sl.begin + i]);
                    r.ii[i] = to_fixed(fi * in[sl.begin + i]);
                }
            }
        }
        if (!changes[sl.population].empty()) r.stim.assign(r.n, 0);
        r.ring_e.assign(static_cast<std::size_t>(r.slots) * r.n, 0);
        if (two) r.ring_i.assign(static_cast<std::size_t>(r.slots) * r.n, 0);
    }
    // The PEs (slices) holding rows of each source slice: what its keys must reach.
    holders.resize(m.slices.size());
    for (std::size_t d = 0; d < m.pes.size(); ++d)
        for (const auto& b : m.pes[d].blocks)
            if (b.source_slice < rt.size()) {
                rt[b.source_slice].has_outgoing = true;
                if (holders[b.source_slice].empty() || holders[b.source_slice].back() != d) holders[b.source_slice].push_back(d);
            }

    // Plastic projections: traces, and each PE's column index over its plastic blocks.
    plastic.resize(spec.projections.size());
    for (std::size_t j = 0; j < spec.projections.size(); ++j) {
        const auto& pm = m.projections[j];
        if (!pm.plastic) continue;
        auto& pl = plastic[j];
        pl.on = true;
        pl.pre_pop = spec.population_index(spec.projections[j].source);
        pl.post_pop = spec.population_index(spec.projections[j].target);
        pl.pre = fixed_trace(spec.populations[pl.pre_pop].size, pm.tau_plus, dt, pm.trace_increment, pm.nearest);
        pl.post = fixed_trace(spec.populations[pl.post_pop].size, pm.tau_minus, dt, pm.trace_increment, pm.nearest);
    }
    for (std::size_t d = 0; d < pes.size(); ++d) {
        auto& r = rt[d];
        std::vector<std::vector<slice_rt::col_entry>> cols;
        for (std::size_t b = 0; b < pes[d].blocks.size(); ++b) {
            const auto& blk = pes[d].blocks[b];
            if (!m.projections.at(blk.projection_map_index).plastic) continue;
            if (cols.empty()) cols.resize(r.n);
            const std::uint32_t imask = (1u << pes[d].index_bits) - 1u;
            const std::uint32_t src0 = m.slices[blk.source_slice].begin;
            for (std::uint32_t row = 0; row + 1 < blk.row_begin.size(); ++row)
                for (std::uint32_t w = blk.row_begin[row]; w < blk.row_begin[row + 1]; ++w)
                    cols.at(blk.words[w] & imask).push_back({static_cast<std::uint32_t>(b), w, src0 + row});
        }
        if (cols.empty()) continue;
        r.col_begin.assign(r.n + 1, 0);
        for (std::uint32_t i = 0; i < r.n; ++i) {
            r.col_begin[i + 1] = r.col_begin[i] + static_cast<std::uint32_t>(cols[i].size());
            r.col.insert(r.col.end(), cols[i].begin(), cols[i].end());
        }
    }

    key_base.assign(m.slices.size() + 1, 0);
    for (std::size_t s = 0; s < m.slices.size(); ++s) key_base[s + 1] = key_base[s] + m.slices[s].size();
    routes.resize(key_base.back());
    n_link_slots = m.machine.chips.size() * n_links;
    res.spikes.resize(n_pops);
    res.link_use.assign(n_link_slots, 0);
    res.pe_synaptic_events.assign(rt.size(), 0);
    res.pe_packets.assign(rt.size(), 0);
    res.pe_max_cycles.assign(rt.size(), 0.0f);
    tick_links.assign(n_link_slots, 0);
    fired_per_slice.resize(rt.size());
    pop_spikes.resize(n_pops);
    locs.resize(spec.projections.size());
}

const route_info& target_session::impl::route_of(std::size_t s, std::uint32_t local) {
    auto& slot = routes[key_base[s] + local];
    if (slot) return *slot;
    const auto& sl = m.slices[s];
    const std::uint32_t key = sl.key | local;
    route_info ri;
    std::vector<std::uint64_t> lu(n_link_slots, 0);
    std::vector<std::pair<int, int>> reached;
    try {
        reached = walk(m, key, sl.chip, &lu);
    } catch (const map_error& e) {
        throw map_error("routing failure: key " + hex_key(key) + " (" + where(s, local) + ", sent from " +
                        pe_name(sl.chip, sl.pe) + "): " + e.what());
    }
    for (std::size_t l = 0; l < lu.size(); ++l)
        if (lu[l]) {
            ri.links.emplace_back(l, lu[l]);
            ri.hops += lu[l];
        }
    ri.routers = reached.empty() && ri.hops == 0 ? 0 : ri.hops + 1;  // a tree: one router per hop + the source's
    std::vector<char> seen(m.slices.size(), 0);
    for (const auto& [chip, pe] : reached) {
        const int ds = chip >= 0 && pe >= 0 && static_cast<std::size_t>(chip) < m.machine.chips.size() && pe < m.machine.pes_per_chip
                           ? pe_slice[static_cast<std::size_t>(chip) * static_cast<std::size_t>(m.machine.pes_per_chip) + static_cast<std::size_t>(pe)]
                           : -1;
        if (ds < 0)
            throw map_error("routing failure: key " + hex_key(key) + " (" + where(s, local) + ") reaches " +
                            pe_name(chip, pe) + ", which runs no slice");
        const auto d = static_cast<std::size_t>(ds);
        if (seen[d]) continue;
        seen[d] = 1;
        route_info::dest dest{d, {}};
        const auto& blocks = m.pes[d].blocks;
        for (std::size_t b = 0; b < blocks.size(); ++b)
            if ((key & blocks[b].mask) == blocks[b].key) dest.blocks.push_back(b);
        if (dest.blocks.empty())
            throw map_error("routing failure: key " + hex_key(key) + " (" + where(s, local) + ") reaches " +
                            pe_name(chip, pe) + " (population '" + spec.populations[m.slices[d].population].name +
                            "'), which holds no synapses for it");
        ri.dests.push_back(std::move(dest));
    }
    // Every PE holding rows of this slice must be reached.
    for (std::size_t d : holders[s])
        if (!seen[d])
            throw map_error("routing failure: key " + hex_key(key) + " (" + where(s, local) + ") does not reach " +
                            pe_name(m.slices[d].chip, m.slices[d].pe) + " (population '" +
                            spec.populations[m.slices[d].population].name + "'), which holds its synapses");
    slot = std::move(ri);
    return *slot;
}

// Delivery of one spike of slice s, neuron `local`, at tick t.
void target_session::impl::deliver(std::size_t s, std::uint32_t local, std::uint64_t t) {
    const auto& ri = route_of(s, local);
    const std::uint32_t key = m.slices[s].key | local;
    ++res.packets;
    total_hops += ri.hops;
    total_routers += ri.routers;
    for (const auto& [l, c] : ri.links) {
        res.link_use[l] += c;
        if (tick_links[l] == 0) tick_links_touched.push_back(l);
        tick_links[l] += c;
    }
    for (const auto& dest : ri.dests) {
        auto& tr = rt[dest.slice];
        auto& pd = pes[dest.slice];
        ++tr.packets;
        const std::uint32_t ib = static_cast<std::uint32_t>(pd.index_bits), db = static_cast<std::uint32_t>(pd.delay_bits),
                            wb = static_cast<std::uint32_t>(pd.weight_bits) + 1;
        const std::uint32_t imask = ib >= 32 ? ~0u : (1u << ib) - 1u, dmask = (1u << db) - 1u, wmask = wb >= 32 ? ~0u : (1u << wb) - 1u;
        for (std::size_t bi : dest.blocks) {
            auto& blk = pd.blocks[bi];
            const std::uint32_t j = key & ~blk.mask;
            if (j + 1 >= blk.row_begin.size())
                throw map_error("routing failure: key " + hex_key(key) + " (" + where(s, local) + "): source neuron " +
                                std::to_string(j) + " has no row in the block on " +
                                pe_name(m.slices[dest.slice].chip, m.slices[dest.slice].pe));
            const auto& pm = m.projections.at(blk.projection_map_index);
            const std::int64_t step = pm.weight_step;
            const std::uint32_t wb_first = blk.row_begin[j], wb_end = blk.row_begin[j + 1];
            tr.events += wb_end - wb_first;
            const bool two = tr.kind != neuron_kind::lif;
            const std::uint32_t slot_mask = tr.slots - 1;  // slots is a power of two
            std::int64_t* __restrict rex = tr.ring_e.data();
            std::int64_t* __restrict rin = two ? tr.ring_i.data() : rex;
            const std::uint32_t* __restrict words = blk.words.data();
            const std::uint32_t n_tr = tr.n;
            for (std::uint32_t w = wb_first; w < wb_end; ++w) {
                const std::uint32_t word = words[w];
                const std::uint32_t idx = word & imask;
                const std::uint32_t delay = ((word >> ib) & dmask) + 1;
                std::int32_t q = static_cast<std::int32_t>((word >> (ib + db)) & wmask);
                if (q & (1 << (wb - 1))) q -= 1 << wb;  // two's complement
                if (idx >= n_tr) [[unlikely]]
                    throw map_error("synaptic word of key " + hex_key(key) + " on " +
                                    pe_name(m.slices[dest.slice].chip, m.slices[dest.slice].pe) + " targets neuron " +
                                    std::to_string(idx) + " of a slice of " + std::to_string(tr.n));
                const std::int64_t x = static_cast<std::int64_t>(q) * step;
                const std::size_t slot = static_cast<std::size_t>((t + delay) & slot_mask) * n_tr + idx;
                (x < 0 ? rin : rex)[slot] += x;
            }
            if (pm.plastic) {
                // depression: the row's synapses lose a_minus * y_post (post spikes before t)
                const auto& y = plastic[blk.projection_map_index].post;
                const std::uint32_t post0 = m.slices[dest.slice].begin;
                for (std::uint32_t w = wb_first; w < wb_end; ++w) {
                    const std::uint32_t tr_y = y.at(post0 + (blk.words[w] & imask), t);
                    if (tr_y == 0) continue;
                    const std::int64_t dq = (pm.a_minus_q * tr_y + (std::int64_t(1) << 31)) >> 32;
                    const std::int32_t q = weight_of(dest.slice, blk.words[w]);
                    set_weight(dest.slice, blk.words[w], static_cast<std::int32_t>(std::clamp<std::int64_t>(q - dq, pm.q_min, pm.q_max)));
                }
            }
        }
    }
}

void target_session::impl::step(observer* obs) {
    const std::uint64_t t = ++tick;
    const std::size_t n_pops = spec.populations.size();
    const auto& costs = m.machine.costs;
    // step currents changing at this tick
    for (std::size_t p = 0; p < n_pops; ++p) {
        bool changed = false;
        auto& ch = changes[p];
        for (; change_pos[p] < ch.size() && ch[change_pos[p]].step <= t; ++change_pos[p]) {
            const auto& c = ch[change_pos[p]];
            if (c.neurons.empty())
                for (auto& a : stim_pa[p]) a += c.delta;
            else
                for (auto i : c.neurons) stim_pa[p][i] += c.delta;
            changed = true;
        }
        if (!changed) continue;
        // the chip reloads i_offset = P_mI (I_e + I_stim), rounded once; stim holds the change
        const double I_e = param(spec.populations[p], "I_e");
        for (std::size_t s : m.populations[p].slices) {
            auto& r = rt[s];
            for (std::uint32_t i = 0; i < r.n; ++i)
                r.stim[i] = to_fixed(prop[p].P_mI * (I_e + stim_pa[p][r.begin + i])) - r.p.i_offset;
        }
    }
    // 1. update each slice
    std::vector<std::uint32_t> fired;
    for (std::size_t s = 0; s < rt.size(); ++s) {
        auto& r = rt[s];
        fired.clear();
        if (r.kind == neuron_kind::spike_list) {
            step_context ctx;
            ctx.step = t;
            ctx.dt = dt;
            ctx.seed = spec.simulation.seed;
            r.source->update(ctx, r.begin, r.begin + r.n, fired);
            for (auto& i : fired) i -= r.begin;
        } else {
            const std::size_t base = static_cast<std::size_t>(t % r.slots) * r.n;
            const fixed_neuron& p = r.p;
            for (std::uint32_t i = 0; i < r.n; ++i) {
                const std::int32_t in_e = ring_to_s1615(r.ring_e[base + i]);
                r.ring_e[base + i] = 0;
                std::int32_t in_i = 0;
                if (r.kind != neuron_kind::lif) {
                    in_i = ring_to_s1615(r.ring_i[base + i]);
                    r.ring_i[base + i] = 0;
                }
                const std::int64_t drive = static_cast<std::int64_t>(p.i_offset) + (r.stim.empty() ? 0 : r.stim[i]);
                std::int32_t v;
                if (r.kind == neuron_kind::lif_curr_exp) {
                    // v with the currents at the start of the tick, then the currents decay and take this tick's input
                    v = sat32(static_cast<std::int64_t>(mul_u32(r.v[i], p.alpha)) + drive + r.ie[i] + r.ii[i]);
                    r.ie[i] = sat32(static_cast<std::int64_t>(mul_u32(r.ie[i], p.exc_decay)) + in_e);
                    r.ii[i] = sat32(static_cast<std::int64_t>(mul_u32(r.ii[i], p.inh_decay)) + in_i);
                    if (r.ref[i] > 0) {
                        v = p.v_reset;
                        --r.ref[i];
                    }
                } else if (r.kind == neuron_kind::lif_curr_exp_spinnaker) {
                    // the chip's order: this tick's input joins the currents, v moves unless
                    // refractory, then the currents decay
                    r.ie[i] = sat32(static_cast<std::int64_t>(r.ie[i]) + in_e);
                    r.ii[i] = sat32(static_cast<std::int64_t>(r.ii[i]) + in_i);
                    if (r.ref[i] > 0) {
                        v = p.v_reset;
                        --r.ref[i];
                    } else {
                        v = sat32(static_cast<std::int64_t>(mul_u32(r.v[i], p.alpha)) + drive + r.ie[i] + r.ii[i]);
                    }
                    r.ie[i] = mul_u32(r.ie[i], p.exc_decay);
                    r.ii[i] = mul_u32(r.ii[i], p.inh_decay);
                } else {
                    // delta synapses: input jumps v unless refractory
                    v = sat32(static_cast<std::int64_t>(mul_u32(r.v[i], p.alpha)) + drive);
                    if (r.ref[i] > 0) {
                        v = p.v_reset;
                        --r.ref[i];
                    } else {
                        v = sat32(static_cast<std::int64_t>(v) + in_e);
                    }
                }
                if (v >= p.threshold) {
                    fired.push_back(i);
                    v = p.v_reset;
                    r.ref[i] = p.t_refrac;
                }
                r.v[i] = v;
            }
            neuron_updates += r.n;
        }
        auto& out = res.spikes[r.pop];
        for (std::uint32_t i : fired) out.emplace_back(static_cast<std::uint32_t>(t), r.begin + i);
        fired_per_slice[s].swap(fired);
    }
    // 2. potentiation at this tick's postsynaptic spikes (pre traces hold spikes before t)
    for (std::size_t d = 0; d < rt.size(); ++d) {
        auto& r = rt[d];
        if (r.col.empty()) continue;
        for (std::uint32_t i : fired_per_slice[d])
            for (std::uint32_t c = r.col_begin[i]; c < r.col_begin[i + 1]; ++c) {
                const auto& e = r.col[c];
                auto& blk = pes[d].blocks[e.block];
                const auto& pm = m.projections[blk.projection_map_index];
                const std::uint32_t x = plastic[blk.projection_map_index].pre.at(e.pre, t);
                if (x == 0) continue;
                const std::int64_t dq = (pm.a_plus_q * x + (std::int64_t(1) << 31)) >> 32;
                const std::int32_t q = weight_of(d, blk.words[e.word]);
                set_weight(d, blk.words[e.word], static_cast<std::int32_t>(std::clamp<std::int64_t>(q + dq, pm.q_min, pm.q_max)));
                ++r.events;
            }
    }
    // 3./4. only once every slice has read slot t: a delay of 2^delay_bits ticks writes
    // into the slot just read
    for (std::size_t s = 0; s < rt.size(); ++s) {
        if (!rt[s].has_outgoing) continue;
        for (std::uint32_t i : fired_per_slice[s]) deliver(s, i, t);
    }
    // 5. traces take this tick's spikes
    for (auto& pl : plastic) {
        if (!pl.on) continue;
        for (std::size_t s : m.populations[pl.pre_pop].slices)
            for (std::uint32_t i : fired_per_slice[s]) pl.pre.spike(m.slices[s].begin + i, t);
        for (std::size_t s : m.populations[pl.post_pop].slices)
            for (std::uint32_t i : fired_per_slice[s]) pl.post.spike(m.slices[s].begin + i, t);
    }
    if (obs) {
        for (std::size_t p = 0; p < n_pops; ++p) {
            auto& ids = pop_spikes[p];
            ids.clear();
            for (std::size_t s : m.populations[p].slices)
                for (std::uint32_t i : fired_per_slice[s]) ids.push_back(m.slices[s].begin + i);
            std::sort(ids.begin(), ids.end());
            if (!ids.empty()) obs->on_spikes(t, p, ids.data(), ids.size());
        }
    }
    if (trace) res.trace_v_mv.push_back(rt[trace->first].v[trace->second] / fix_one + param(spec.populations[rt[trace->first].pop], "E_L"));
    // 6. accounting: the packets and synaptic events of this tick's spikes are processed
    // in this tick (they arrive within microseconds of being sent)
    const double budget = m.machine.cycles_per_tick_budget();
    bool over = false;
    double tick_max = 0.0;
    std::uint64_t tick_events = 0, tick_packets = 0, tick_link_max = 0;
    for (std::size_t s = 0; s < rt.size(); ++s) {
        auto& r = rt[s];
        const double neurons = r.kind == neuron_kind::spike_list ? 0.0 : static_cast<double>(r.n);
        const double c = costs.cycles_per_tick + neurons * costs.cycles_per_neuron +
                         static_cast<double>(r.packets) * costs.cycles_per_packet +
                         static_cast<double>(r.events) * costs.cycles_per_synapse;
        tick_max = std::max(tick_max, c);
        cycle_sum += c;
        over = over || c > budget;
        res.synaptic_events += r.events;
        tick_events += r.events;
        tick_packets += r.packets;
        res.pe_synaptic_events[s] += r.events;
        res.pe_packets[s] += r.packets;
        res.pe_max_cycles[s] = std::max(res.pe_max_cycles[s], static_cast<float>(c));
        r.packets = r.events = 0;
    }
    res.max_pe_cycles = std::max(res.max_pe_cycles, tick_max);
    res.ticks_over_budget += over;
    for (std::size_t l : tick_links_touched) {
        tick_link_max = std::max(tick_link_max, tick_links[l]);
        tick_links[l] = 0;
    }
    res.max_link_packets_per_tick = std::max(res.max_link_packets_per_tick, tick_link_max);
    res.tick_max_pe_cycles.push_back(static_cast<float>(tick_max));
    res.tick_synaptic_events.push_back(tick_events);
    res.tick_packets.push_back(tick_packets);
    res.tick_max_link_packets.push_back(tick_link_max);
    tick_links_touched.clear();
    if (obs) obs->on_step(t);
}

const std::vector<synapse_loc>& target_session::impl::locations(std::size_t j) const {
    if (j >= locs.size()) throw map_error("target session: no projection " + std::to_string(j));
    auto& l = locs[j];
    if (l) return *l;
    std::vector<synapse_loc> v;
    for (std::size_t d = 0; d < pes.size(); ++d) {
        const std::uint32_t imask = (1u << pes[d].index_bits) - 1u;
        for (std::size_t b = 0; b < pes[d].blocks.size(); ++b) {
            const auto& blk = pes[d].blocks[b];
            if (blk.projection_map_index != j) continue;
            const std::uint32_t src0 = m.slices[blk.source_slice].begin, dst0 = m.slices[d].begin;
            for (std::uint32_t row = 0; row + 1 < blk.row_begin.size(); ++row)
                for (std::uint32_t w = blk.row_begin[row]; w < blk.row_begin[row + 1]; ++w)
                    v.push_back({src0 + row, dst0 + (blk.words[w] & imask), static_cast<std::uint32_t>(d), static_cast<std::uint32_t>(b), w});
        }
    }
    std::stable_sort(v.begin(), v.end(), [](const synapse_loc& a, const synapse_loc& b) { return a.pre != b.pre ? a.pre < b.pre : a.post < b.post; });
    l = std::move(v);
    return *l;
}



target_session::target_session(const network_map& m, const model_registry& models, const simulation* initial)
    : impl_(std::make_unique<impl>(m, models, initial)) {}
target_session::~target_session() = default;

void target_session::run(std::uint64_t ticks, observer* obs) {
    const auto t0 = clock_type::now();
    for (std::uint64_t k = 0; k < ticks; ++k) impl_->step(obs);
    auto& s = *impl_;
    auto& res = s.res;
    const auto& costs = s.m.machine.costs;
    res.ticks = s.tick;
    res.real_time = res.ticks_over_budget == 0;
    res.mean_pe_cycles = s.tick > 0 && !s.rt.empty() ? s.cycle_sum / (static_cast<double>(s.tick) * static_cast<double>(s.rt.size())) : 0.0;
    res.link_packets = s.total_hops;
    const double seconds = static_cast<double>(s.tick) * s.dt * 1e-3;
    res.energy_breakdown_j["synapses"] = static_cast<double>(res.synaptic_events) * costs.joule_per_synapse;
    res.energy_breakdown_j["neurons"] = static_cast<double>(s.neuron_updates) * costs.joule_per_neuron;
    res.energy_breakdown_j["links"] = static_cast<double>(s.total_hops) * costs.joule_per_packet_hop;
    res.energy_breakdown_j["routers"] = static_cast<double>(s.total_routers) * costs.joule_per_packet_router;
    res.energy_breakdown_j["idle"] = costs.watt_idle_per_chip * static_cast<double>(s.m.chips_used()) * seconds;
    res.energy_j = 0.0;
    for (const auto& [k, e] : res.energy_breakdown_j) res.energy_j += e;
    res.wall_seconds += std::chrono::duration<double>(clock_type::now() - t0).count();
}

std::uint64_t target_session::current_step() const { return impl_->tick; }
const target_result& target_session::result() const { return impl_->res; }
const network_map& target_session::map() const { return impl_->m; }

void target_session::trace_v(std::size_t population, std::uint32_t neuron) {
    auto& s = *impl_;
    s.trace.reset();
    for (std::size_t k = 0; k < s.m.slices.size(); ++k)
        if (s.m.slices[k].population == population && neuron >= s.m.slices[k].begin && neuron < s.m.slices[k].end &&
            s.rt[k].kind != neuron_kind::spike_list)
            s.trace = std::make_pair(k, neuron - s.m.slices[k].begin);
    if (!s.trace)
        throw map_error("trace_v: no neuron " + std::to_string(neuron) + " in a neuron population " + std::to_string(population));
}

synapse_list target_session::synapses(std::size_t projection) const {
    const auto& s = *impl_;
    const auto& locs = s.locations(projection);
    const double scale = s.m.projections[projection].scale;
    synapse_list out;
    for (const auto& l : locs) {
        const auto& pd = s.pes[l.slice];
        const std::uint32_t word = pd.blocks[l.block].words[l.word];
        out.pre.push_back(l.pre);
        out.post.push_back(l.post);
        out.weight.push_back(static_cast<float>(s.weight_of(l.slice, word) * scale));
        const std::uint32_t dmask = (1u << pd.delay_bits) - 1u;
        out.delay.push_back(static_cast<std::uint16_t>(((word >> pd.index_bits) & dmask) + 1));
    }
    return out;
}

std::vector<float> target_session::weights(std::size_t projection) const {
    const auto& s = *impl_;
    const auto& locs = s.locations(projection);
    const double scale = s.m.projections[projection].scale;
    std::vector<float> w;
    w.reserve(locs.size());
    for (const auto& l : locs) w.push_back(static_cast<float>(s.weight_of(l.slice, s.pes[l.slice].blocks[l.block].words[l.word]) * scale));
    return w;
}

void target_session::set_weights(std::size_t projection, const std::vector<float>& w) {
    auto& s = *impl_;
    const auto& locs = s.locations(projection);
    const auto& pm = s.m.projections[projection];
    if (w.size() != locs.size())
        throw map_error("set_weights: projection '" + s.spec.projections[projection].name + "' has " + std::to_string(locs.size()) +
                        " synapses, got " + std::to_string(w.size()) + " weights");
    const std::int32_t lo = pm.plastic ? pm.q_min : -pm.q_max;
    for (std::size_t k = 0; k < locs.size(); ++k) {
        const auto& l = locs[k];
        const auto q = static_cast<std::int32_t>(std::clamp<double>(std::round(w[k] / pm.scale), lo, pm.q_max));
        s.set_weight(l.slice, s.pes[l.slice].blocks[l.block].words[l.word], q);
    }
}

target_result run_target(const network_map& m, const model_registry& models, const target_options& options) {
    const network_spec& spec = m.spec;
    const double dt = spec.simulation.dt;
    const double duration = options.duration_ms < 0 ? spec.simulation.duration : options.duration_ms;
    const std::uint64_t ticks = steps_for(duration, dt);
    const std::size_t n_pops = spec.populations.size();

    // Float engine at dt = tick: the initial state each neuron is loaded with, and the
    // spikes to compare with.
    simulation sim(spec, models, 1);
    target_session session(m, models, &sim);
    if (options.trace_v) session.trace_v(options.trace_v->first, options.trace_v->second);
    spike_collector ref(n_pops);
    double float_seconds = 0.0;
    if (options.compare) {
        const auto t0 = clock_type::now();
        sim.run(ticks, &ref);
        float_seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    }
    session.run(ticks);
    target_result res = session.result();
    for (auto& sp : res.spikes) std::sort(sp.begin(), sp.end());
    res.float_seconds = float_seconds;
    const double seconds = static_cast<double>(ticks) * dt * 1e-3;
    // Comparison with the float engine (neuron populations only: sources make the same spikes).
    if (options.compare) {
        const double tau = options.distance_tau_ms;
        for (std::size_t p = 0; p < n_pops; ++p) {
            if (m.populations[p].kind == neuron_kind::spike_list) continue;
            const std::uint32_t n = spec.populations[p].size;
            population_comparison c;
            c.population = spec.populations[p].name;
            c.spikes_float = ref.spikes[p].size();
            c.spikes_target = res.spikes[p].size();
            const double denom = static_cast<double>(n) * seconds;
            c.rate_float_hz = denom > 0 ? static_cast<double>(c.spikes_float) / denom : 0.0;
            c.rate_target_hz = denom > 0 ? static_cast<double>(c.spikes_target) / denom : 0.0;
            // relative to the float rate; 1 when the float population is silent and the target's is not
            c.rate_error = c.rate_float_hz > 0 ? std::fabs(c.rate_target_hz - c.rate_float_hz) / c.rate_float_hz
                                               : (c.rate_target_hz > 0 ? 1.0 : 0.0);
            // van Rossum distance per neuron, normalised by the spike count: sqrt(D^2 / ((n_f + n_t) / 2)),
            // 0 for identical trains, about 1 for unrelated ones (or when one train is empty);
            // averaged over the neurons that spiked in either run.
            std::vector<std::vector<double>> tf(n), tt(n);
            for (const auto& [step, i] : ref.spikes[p]) tf[i].push_back(step * dt);
            for (const auto& [step, i] : res.spikes[p]) tt[i].push_back(step * dt);
            double sum = 0.0;
            std::size_t active = 0;
            for (std::uint32_t i = 0; i < n; ++i) {
                const double k = 0.5 * static_cast<double>(tf[i].size() + tt[i].size());
                if (k == 0) continue;
                sum += std::sqrt(van_rossum_sq(tf[i], tt[i], tau) / k);
                ++active;
            }
            c.van_rossum = active ? sum / static_cast<double>(active) : 0.0;
            res.comparison.push_back(c);
        }
    }
    return res;
}

}  // namespace engram::s2
