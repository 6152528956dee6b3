// The target model: the mapped network run tick by tick as the chip would run it.
//
// Order within tick t (the float engine's step t, time t*tick):
//   1. update     every neuron slice: read and clear ring slot t, advance the fixed-point
//                 state, test the threshold -> spikes of tick t; source slices replay the
//                 spikes their population made in the float engine at step t
//   2. send       each spike's key = slice.key | (i - slice.begin) is walked through the
//                 routing tables (walk(), cached per key after the first walk); the PEs
//                 reached must be exactly those holding a row block for the key
//   3. receive    each reached PE decodes the source neuron's row from its packed words
//                 and adds q * weight_step (int64, 32 fraction bits) into ring slot
//                 t + delay of the target, read as s16.15 rounded to nearest
//   4. account    cycles per PE (against the tick budget), packets per link, energy
// Spikes of tick t therefore act at tick t + d, as in the float engine.
//
// Fixed-point arithmetic (docs/spinnaker2.md): v, I_exc, I_inh, threshold, v_reset and
// i_offset are s16.15 (int32, 15 fraction bits, mV relative to E_L); alpha and decays are
// u0.32. A product x * a is (int64)x * a >> 32 with an arithmetic shift, i.e. rounded
// towards minus infinity (error in [0, 1) LSB = [0, 2^-15) mV, always downwards). Sums
// saturate at the int32 range.
//
// Each neuron starts from the float engine's initial draw (v - E_L, and I_ex * P_me,
// I_in * P_mi), so that both runs start from the same state. Step currents change
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

target_result run_target(const network_map& m, const model_registry& models, const target_options& options) {
    const network_spec& spec = m.spec;
    const double dt = spec.simulation.dt;
    const double duration = options.duration_ms < 0 ? spec.simulation.duration : options.duration_ms;
    const std::uint64_t ticks = steps_for(duration, dt);
    const std::size_t n_pops = spec.populations.size();
    if (m.populations.size() != n_pops || m.pes.size() != m.slices.size())
        throw map_error("run_target: the map is inconsistent (populations or PE data do not match its spec)");

    // Stimuli the target can run: step currents become a time-varying i_offset.
    std::vector<std::vector<current_change>> changes(n_pops);
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

    target_result res;
    res.ticks = ticks;
    res.spikes.resize(n_pops);

    // Float reference at dt = tick: the source spikes to replay, the spikes to compare with,
    // and the initial state each neuron is loaded with.
    simulation sim(spec, models, 1);
    std::vector<std::vector<float>> init_v(n_pops), init_ie(n_pops), init_ii(n_pops);
    for (std::size_t p = 0; p < n_pops; ++p) {
        if (m.populations[p].kind == neuron_kind::spike_list) continue;
        const float* v = sim.state(p, "v");
        init_v[p].assign(v, v + spec.populations[p].size);
        if (m.populations[p].kind == neuron_kind::lif_curr_exp) {
            const float* e = sim.state(p, "I_ex");
            const float* i = sim.state(p, "I_in");
            init_ie[p].assign(e, e + spec.populations[p].size);
            init_ii[p].assign(i, i + spec.populations[p].size);
        }
    }
    spike_collector ref(n_pops);
    {
        const auto t0 = clock_type::now();
        sim.run(ticks, &ref);
        res.float_seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    }
    const auto t_start = clock_type::now();

    // Runtime state per slice.
    std::vector<propagators> prop(n_pops);
    for (std::size_t p = 0; p < n_pops; ++p) prop[p] = propagators_of(spec.populations[p], dt);
    std::vector<slice_rt> rt(m.slices.size());
    std::vector<int> pe_slice(m.machine.chips.size() * static_cast<std::size_t>(m.machine.pes_per_chip), -1);
    std::vector<std::vector<std::size_t>> slice_of_neuron(n_pops);  // source populations only
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
            auto& son = slice_of_neuron[sl.population];
            if (son.empty()) son.assign(spec.populations[sl.population].size, 0);
            for (std::uint32_t i = sl.begin; i < sl.end; ++i) son[i] = s;
            continue;
        }
        const double EL = param(spec.populations[sl.population], "E_L");
        r.v.resize(r.n);
        r.ie.assign(r.n, 0);
        r.ii.assign(r.n, 0);
        r.ref.assign(r.n, 0);
        for (std::uint32_t i = 0; i < r.n; ++i) {
            r.v[i] = to_fixed(static_cast<double>(init_v[sl.population][sl.begin + i]) - EL);
            if (pm.kind == neuron_kind::lif_curr_exp) {
                r.ie[i] = to_fixed(prop[sl.population].P_me * init_ie[sl.population][sl.begin + i]);
                r.ii[i] = to_fixed(prop[sl.population].P_mi * init_ii[sl.population][sl.begin + i]);
            }
        }
        if (!changes[sl.population].empty()) r.stim.assign(r.n, 0);
        r.ring_e.assign(static_cast<std::size_t>(r.slots) * r.n, 0);
        if (pm.kind == neuron_kind::lif_curr_exp) r.ring_i.assign(static_cast<std::size_t>(r.slots) * r.n, 0);
    }
    // The PEs (slices) holding rows of each source slice: what its keys must reach.
    std::vector<std::vector<std::size_t>> holders(m.slices.size());
    for (std::size_t d = 0; d < m.pes.size(); ++d)
        for (const auto& b : m.pes[d].blocks)
            if (b.source_slice < rt.size()) {
                rt[b.source_slice].has_outgoing = true;
                if (holders[b.source_slice].empty() || holders[b.source_slice].back() != d) holders[b.source_slice].push_back(d);
            }

    // Step-current amplitude per neuron (pA), for populations with step currents.
    std::vector<std::vector<double>> stim_pa(n_pops);
    for (std::size_t p = 0; p < n_pops; ++p)
        if (!changes[p].empty()) stim_pa[p].assign(spec.populations[p].size, 0.0);
    std::vector<std::size_t> change_pos(n_pops, 0);

    // Key routes, walked on first use. Index: slice offset + neuron within the slice.
    std::vector<std::size_t> key_base(m.slices.size() + 1, 0);
    for (std::size_t s = 0; s < m.slices.size(); ++s) key_base[s + 1] = key_base[s] + m.slices[s].size();
    std::vector<std::optional<route_info>> routes(key_base.back());
    const std::size_t n_link_slots = m.machine.chips.size() * n_links;
    res.link_use.assign(n_link_slots, 0);
    res.pe_synaptic_events.assign(rt.size(), 0);
    res.pe_packets.assign(rt.size(), 0);
    res.pe_max_cycles.assign(rt.size(), 0.0f);
    std::vector<std::uint64_t> tick_links(n_link_slots, 0);
    std::vector<std::size_t> tick_links_touched;

    auto where = [&](std::size_t slice, std::uint32_t local) {
        const auto& sl = m.slices[slice];
        return "population '" + spec.populations[sl.population].name + "' neuron " + std::to_string(sl.begin + local);
    };
    auto pe_name = [&](int chip, int pe) {
        if (chip < 0 || static_cast<std::size_t>(chip) >= m.machine.chips.size())
            return "chip #" + std::to_string(chip) + " PE " + std::to_string(pe);
        const auto c = m.machine.chips[static_cast<std::size_t>(chip)];
        return "chip (" + std::to_string(c.x) + "," + std::to_string(c.y) + ") PE " + std::to_string(pe);
    };
    auto route_of = [&](std::size_t s, std::uint32_t local) -> const route_info& {
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
    };

    // Delivery of one spike of slice s, neuron `local`, at tick t.
    const auto& costs = m.machine.costs;
    std::uint64_t total_hops = 0, total_routers = 0;
    auto deliver = [&](std::size_t s, std::uint32_t local, std::uint64_t t) {
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
            const auto& pd = m.pes[dest.slice];
            ++tr.packets;
            const std::uint32_t ib = static_cast<std::uint32_t>(pd.index_bits), db = static_cast<std::uint32_t>(pd.delay_bits),
                                wb = static_cast<std::uint32_t>(pd.weight_bits) + 1;
            const std::uint32_t imask = ib >= 32 ? ~0u : (1u << ib) - 1u, dmask = (1u << db) - 1u, wmask = wb >= 32 ? ~0u : (1u << wb) - 1u;
            for (std::size_t bi : dest.blocks) {
                const auto& blk = pd.blocks[bi];
                const std::uint32_t j = key & ~blk.mask;
                if (j + 1 >= blk.row_begin.size())
                    throw map_error("routing failure: key " + hex_key(key) + " (" + where(s, local) + "): source neuron " +
                                    std::to_string(j) + " has no row in the block on " +
                                    pe_name(m.slices[dest.slice].chip, m.slices[dest.slice].pe));
                const std::int64_t step = m.projections.at(blk.projection_map_index).weight_step;
                const std::uint32_t wb_first = blk.row_begin[j], wb_end = blk.row_begin[j + 1];
                tr.events += wb_end - wb_first;
                const bool two = tr.kind == neuron_kind::lif_curr_exp;
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
            }
        }
    };

    // Tracing one neuron.
    std::optional<std::pair<std::size_t, std::uint32_t>> trace;  // (slice, local)
    if (options.trace_v) {
        const auto [tp, tn] = *options.trace_v;
        for (std::size_t s = 0; s < m.slices.size(); ++s)
            if (m.slices[s].population == tp && tn >= m.slices[s].begin && tn < m.slices[s].end &&
                rt[s].kind != neuron_kind::spike_list)
                trace = std::make_pair(s, tn - m.slices[s].begin);
        if (!trace) throw map_error("trace_v: no neuron " + std::to_string(tn) + " in a neuron population " + std::to_string(tp));
        res.trace_v_mv.reserve(ticks);
    }

    const double budget = m.machine.cycles_per_tick_budget();
    std::vector<std::size_t> src_pos(n_pops, 0);
    std::vector<std::uint32_t> fired;
    std::vector<std::vector<std::uint32_t>> fired_per_slice(rt.size());
    std::uint64_t neuron_updates = 0;
    double cycle_sum = 0.0;
    for (std::uint64_t t = 1; t <= ticks; ++t) {
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
        for (std::size_t s = 0; s < rt.size(); ++s) {
            auto& r = rt[s];
            fired.clear();
            if (r.kind == neuron_kind::spike_list) {
                const auto& sp = ref.spikes[r.pop];
                auto& pos = src_pos[r.pop];
                // the population's spikes are replayed slice by slice; pos advances once all
                // slices of the population saw this tick (below)
                for (std::size_t k = pos; k < sp.size() && sp[k].first == t; ++k)
                    if (slice_of_neuron[r.pop][sp[k].second] == s) fired.push_back(sp[k].second - r.begin);
            } else {
                const std::size_t base = static_cast<std::size_t>(t % r.slots) * r.n;
                const fixed_neuron& p = r.p;
                const bool exp_kind = r.kind == neuron_kind::lif_curr_exp;
                for (std::uint32_t i = 0; i < r.n; ++i) {
                    const std::int32_t in_e = ring_to_s1615(r.ring_e[base + i]);
                    r.ring_e[base + i] = 0;
                    std::int32_t in_i = 0;
                    if (exp_kind) {
                        in_i = ring_to_s1615(r.ring_i[base + i]);
                        r.ring_i[base + i] = 0;
                    }
                    const std::int64_t drive = static_cast<std::int64_t>(p.i_offset) + (r.stim.empty() ? 0 : r.stim[i]);
                    std::int32_t v;
                    if (exp_kind) {
                        // v with the currents at the start of the tick, then the currents decay and take this tick's input
                        v = sat32(static_cast<std::int64_t>(mul_u32(r.v[i], p.alpha)) + drive + r.ie[i] + r.ii[i]);
                        r.ie[i] = sat32(static_cast<std::int64_t>(mul_u32(r.ie[i], p.exc_decay)) + in_e);
                        r.ii[i] = sat32(static_cast<std::int64_t>(mul_u32(r.ii[i], p.inh_decay)) + in_i);
                        if (r.ref[i] > 0) {
                            v = p.v_reset;
                            --r.ref[i];
                        }
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
        // 2./3. only once every slice has read slot t: a delay of 2^delay_bits ticks
        // writes into the slot just read
        for (std::size_t s = 0; s < rt.size(); ++s) {
            if (!rt[s].has_outgoing) continue;
            for (std::uint32_t i : fired_per_slice[s]) deliver(s, i, t);
        }
        for (std::size_t p = 0; p < n_pops; ++p) {
            auto& pos = src_pos[p];
            const auto& sp = ref.spikes[p];
            while (pos < sp.size() && sp[pos].first <= t) ++pos;
        }
        if (trace) res.trace_v_mv.push_back(rt[trace->first].v[trace->second] / fix_one + param(spec.populations[rt[trace->first].pop], "E_L"));
        // 4. accounting: the packets and synaptic events of this tick's spikes are processed
        // in this tick (they arrive within microseconds of being sent)
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
    }
    // Spikes of a population in tick order, neurons ascending within a tick.
    for (auto& sp : res.spikes) std::sort(sp.begin(), sp.end());
    res.real_time = res.ticks_over_budget == 0;
    res.mean_pe_cycles = ticks > 0 && !rt.empty() ? cycle_sum / (static_cast<double>(ticks) * static_cast<double>(rt.size())) : 0.0;
    res.link_packets = total_hops;

    const double seconds = static_cast<double>(ticks) * dt * 1e-3;
    res.energy_breakdown_j["synapses"] = static_cast<double>(res.synaptic_events) * costs.joule_per_synapse;
    res.energy_breakdown_j["neurons"] = static_cast<double>(neuron_updates) * costs.joule_per_neuron;
    res.energy_breakdown_j["links"] = static_cast<double>(total_hops) * costs.joule_per_packet_hop;
    res.energy_breakdown_j["routers"] = static_cast<double>(total_routers) * costs.joule_per_packet_router;
    res.energy_breakdown_j["idle"] = costs.watt_idle_per_chip * static_cast<double>(m.chips_used()) * seconds;
    res.energy_j = 0.0;
    for (const auto& [k, e] : res.energy_breakdown_j) res.energy_j += e;
    res.wall_seconds = std::chrono::duration<double>(clock_type::now() - t_start).count();

    // Comparison with the float engine (neuron populations only: sources replay its spikes).
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
