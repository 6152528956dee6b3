// Keys, multicast routes, router tables and their compression, and the table walk the
// target model delivers spikes with.
#include <algorithm>
#include <bit>
#include <deque>
#include <map>
#include <set>
#include <sstream>

#include "engram/spinnaker2/spinnaker2.hpp"

namespace engram::s2 {

namespace {

int bits_for(std::uint64_t n) {
    int b = 1;
    while ((std::uint64_t(1) << b) < n) ++b;
    return b;
}

std::string hex(std::uint32_t x) {
    std::ostringstream os;
    os << "0x" << std::hex << x;
    return os.str();
}

std::string chip_name(const machine_spec& m, int c) {
    const auto xy = m.chips[static_cast<std::size_t>(c)];
    return "(" + std::to_string(xy.x) + "," + std::to_string(xy.y) + ")";
}

bool intersects(std::uint32_t k1, std::uint32_t m1, std::uint32_t k2, std::uint32_t m2) {
    return ((k1 ^ k2) & m1 & m2) == 0;
}


}  // namespace

void allocate_keys(network_map& m) {
    std::uint32_t largest = 1;
    std::size_t most_slices = 1;
    for (const auto& s : m.slices) largest = std::max(largest, s.size());
    for (const auto& p : m.populations) most_slices = std::max(most_slices, p.slices.size());
    key_layout& k = m.keys;
    k.neuron_bits = bits_for(largest);
    k.slice_bits = bits_for(most_slices);
    k.population_bits = bits_for(std::max<std::size_t>(1, m.populations.size()));
    const int total = k.neuron_bits + k.slice_bits + k.population_bits;
    if (total > 32)
        throw map_error("multicast keys need " + std::to_string(total) + " bits (population " + std::to_string(k.population_bits) +
                        ", slice " + std::to_string(k.slice_bits) + ", neuron " + std::to_string(k.neuron_bits) + "); a key has 32");
    const std::uint32_t mask = ~std::uint32_t(0) << k.neuron_bits;
    for (std::size_t p = 0; p < m.populations.size(); ++p) {
        const auto& sl = m.populations[p].slices;
        for (std::size_t i = 0; i < sl.size(); ++i) {
            auto& s = m.slices[sl[i]];
            s.key = (static_cast<std::uint32_t>(p) << (k.slice_bits + k.neuron_bits)) | (static_cast<std::uint32_t>(i) << k.neuron_bits);
            s.mask = mask;
        }
    }
    for (auto& pe : m.pes)
        for (auto& b : pe.blocks) {
            b.key = m.slices[b.source_slice].key;
            b.mask = m.slices[b.source_slice].mask;
        }
    for (auto& pe : m.pes)
        std::stable_sort(pe.blocks.begin(), pe.blocks.end(), [](const row_block& a, const row_block& b) { return a.key < b.key; });
}

std::optional<route> lookup(const router_table& t, std::uint32_t key, int in_link) {
    for (const auto& e : t.entries)
        if ((key & e.mask) == e.key) return e.r;
    if (in_link < 0) return std::nullopt;
    route r;
    r.links = static_cast<std::uint8_t>(1u << ((in_link + 3) % n_links));
    return r;
}

std::vector<std::pair<int, int>> walk(const network_map& m, std::uint32_t key, int chip, std::vector<std::uint64_t>* link_use) {
    std::vector<std::pair<int, int>> reached;
    std::vector<char> seen(m.machine.chips.size(), 0);
    std::deque<std::pair<int, int>> todo{{chip, -1}};  // (chip, arrival link)
    while (!todo.empty()) {
        const auto [c, in] = todo.front();
        todo.pop_front();
        if (seen[static_cast<std::size_t>(c)])
            throw map_error("key " + hex(key) + " reaches chip " + chip_name(m.machine, c) + " twice (a routing loop or overlapping tree)");
        seen[static_cast<std::size_t>(c)] = 1;
        const auto r = lookup(m.routers[static_cast<std::size_t>(c)], key, in);
        if (!r) throw map_error("key " + hex(key) + " sent from chip " + chip_name(m.machine, c) + " matches no entry of its router");
        for (int p = 0; p < m.machine.pes_per_chip; ++p)
            if (r->has_pe(p)) reached.push_back({c, p});
        for (int l = 0; l < n_links; ++l) {
            if (!((r->links >> l) & 1u)) continue;
            const int next = m.machine.chip_index(neighbour(m.machine.chips[static_cast<std::size_t>(c)], l));
            if (next < 0)
                throw map_error("key " + hex(key) + " leaves the mesh at chip " + chip_name(m.machine, c) + " over link " + link_name(l));
            if (link_use) ++(*link_use)[static_cast<std::size_t>(c) * n_links + static_cast<std::size_t>(l)];
            todo.push_back({next, (l + 3) % n_links});
        }
    }
    return reached;
}

bool compress_table(router_table& t, std::size_t capacity) {
    auto& E = t.entries;
    if (E.size() <= capacity) return true;
    t.compressed = true;
    // Ordered covering (after Mundy, Heathcote & Garside 2016): the table is kept in order
    // of generality (fewest don't-care bits first; the router takes the first match), and
    // two entries with the same route are replaced by one key/mask covering both, placed
    // after every entry at most as general. Each entry remembers the original key ranges
    // it stands for (its aliases). Invariant: every entry that precedes the owner of an
    // alias and matches it has the owner's route, so every real key keeps its route. A
    // merge is legal when
    //   - (down) the merged entry matches no alias of a later entry with another route,
    //     nor any key that relies on default routing here, and
    //   - (up) no earlier entry with another route matches the aliases it takes over.
    struct entry {
        std::uint32_t key, mask;
        route r;
        std::vector<std::pair<std::uint32_t, std::uint32_t>> aliases;
    };
    auto generality = [](std::uint32_t mask) { return std::popcount(~mask); };
    std::vector<entry> T;
    T.reserve(E.size());
    for (const auto& e : E) T.push_back({e.key, e.mask, e.r, {{e.key, e.mask}}});
    std::stable_sort(T.begin(), T.end(), [&](const entry& a, const entry& b) { return generality(a.mask) < generality(b.mask); });

    auto hits_aliases = [](std::uint32_t k, std::uint32_t mk, const entry& e) {
        for (const auto& [ak, am] : e.aliases)
            if (intersects(k, mk, ak, am)) return true;
        return false;
    };
    auto legal = [&](std::uint32_t k, std::uint32_t mk, const route& r, std::size_t i, std::size_t j, std::size_t pos) {
        for (const auto& [dk, dm] : t.default_routed)
            if (intersects(k, mk, dk, dm)) return false;
        for (std::size_t x = 0; x < T.size(); ++x) {
            if (x == i || x == j || T[x].r == r) continue;
            if (x >= pos) {
                if (hits_aliases(k, mk, T[x])) return false;  // would shadow its keys
            } else if (intersects(T[x].key, T[x].mask, k, mk) &&
                       (hits_aliases(T[x].key, T[x].mask, T[i]) || hits_aliases(T[x].key, T[x].mask, T[j]))) {
                return false;  // would take the merged keys first
            }
        }
        return true;
    };
    auto insert_pos = [&](int g) {  // after every entry at most as general
        std::size_t p = 0;
        while (p < T.size() && generality(T[p].mask) <= g) ++p;
        return p;
    };
    while (T.size() > capacity) {
        // Candidates: neighbours in key order within each route group; the cheapest legal
        // merge (fewest new don't-care bits) wins.
        std::vector<std::size_t> idx(T.size());
        for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
        std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
            return T[a].r != T[b].r ? T[a].r < T[b].r : T[a].key < T[b].key;
        });
        int best_cost = 64;
        std::size_t bi = 0, bj = 0;
        std::uint32_t bk = 0, bm = 0;
        for (std::size_t u = 0; u < idx.size(); ++u)
            for (std::size_t v = u + 1; v < idx.size() && v < u + 16 && T[idx[v]].r == T[idx[u]].r; ++v) {
                const std::size_t i = idx[u], j = idx[v];
                const std::uint32_t mk = T[i].mask & T[j].mask & ~(T[i].key ^ T[j].key);
                const int cost = std::popcount(T[i].mask ^ mk) + std::popcount(T[j].mask ^ mk);
                if (cost >= best_cost) continue;
                const std::uint32_t k = T[i].key & mk;
                // The removal of i and j shifts later entries up by at most two places;
                // positions are taken in the table before the removal.
                if (!legal(k, mk, T[i].r, i, j, insert_pos(generality(mk)))) continue;
                best_cost = cost;
                bi = i;
                bj = j;
                bk = k;
                bm = mk;
            }
        if (best_cost == 64) break;
        entry M{bk, bm, T[bi].r, {}};
        std::vector<entry> next;
        next.reserve(T.size());
        for (std::size_t x = 0; x < T.size(); ++x) {
            if (x == bi || x == bj) {
                M.aliases.insert(M.aliases.end(), T[x].aliases.begin(), T[x].aliases.end());
                continue;
            }
            next.push_back(std::move(T[x]));
        }
        const int g = generality(bm);
        std::size_t p = 0;
        while (p < next.size() && generality(next[p].mask) <= g) ++p;
        next.insert(next.begin() + static_cast<std::ptrdiff_t>(p), std::move(M));
        T.swap(next);
    }
    E.clear();
    for (const auto& e : T) E.push_back({e.key, e.mask, e.r});
    return E.size() <= capacity;
}

void build_routes(network_map& m) {
    const machine_spec& M = m.machine;
    const std::size_t nc = M.chips.size();
    m.routers.assign(nc, router_table{});
    for (std::size_t c = 0; c < nc; ++c) m.routers[c].chip = static_cast<int>(c);
    // Targets of each source slice: the PEs holding a block for it.
    std::vector<std::set<std::size_t>> targets(m.slices.size());
    for (std::size_t t = 0; t < m.pes.size(); ++t)
        for (const auto& b : m.pes[t].blocks) targets[b.source_slice].insert(t);
    // Breadth-first trees per source chip (links tried in order 0..5): the parent link
    // of every chip, so each target's path is a shortest path and all of a source's
    // paths form one tree.
    std::map<int, std::vector<int>> parent_link;  // chip -> [chip] link used to arrive from the parent (-1 root)
    auto tree_of = [&](int root) -> const std::vector<int>& {
        auto it = parent_link.find(root);
        if (it != parent_link.end()) return it->second;
        std::vector<int> pl(nc, -2);
        pl[static_cast<std::size_t>(root)] = -1;
        std::deque<int> q{root};
        while (!q.empty()) {
            const int c = q.front();
            q.pop_front();
            for (int l = 0; l < n_links; ++l) {
                const int n = M.chip_index(neighbour(M.chips[static_cast<std::size_t>(c)], l));
                if (n >= 0 && pl[static_cast<std::size_t>(n)] == -2) {
                    pl[static_cast<std::size_t>(n)] = l;  // reached from c over link l
                    q.push_back(n);
                }
            }
        }
        return parent_link.emplace(root, std::move(pl)).first->second;
    };
    for (std::size_t s = 0; s < m.slices.size(); ++s) {
        if (targets[s].empty()) continue;
        const auto& src = m.slices[s];
        const auto& pl = tree_of(src.chip);
        std::map<int, route> routes;  // chip -> route
        routes[src.chip];
        for (std::size_t t : targets[s]) {
            const auto& dst = m.slices[t];
            if (pl[static_cast<std::size_t>(dst.chip)] == -2)
                throw map_error("chip " + chip_name(M, dst.chip) + " cannot be reached from chip " + chip_name(M, src.chip));
            routes[dst.chip].add_pe(dst.pe);
            // Walk back to the root, adding the tree links.
            int c = dst.chip;
            while (c != src.chip) {
                const int l = pl[static_cast<std::size_t>(c)];
                const chip_xy back = neighbour(M.chips[static_cast<std::size_t>(c)], (l + 3) % n_links);
                const int p = M.chip_index(back);
                routes[p].links = static_cast<std::uint8_t>(routes[p].links | (1u << l));
                c = p;
            }
        }
        for (auto& [c, r] : routes) {
            auto& table = m.routers[static_cast<std::size_t>(c)];
            ++table.entries_generated;
            if (c != src.chip) {
                const int l = pl[static_cast<std::size_t>(c)];  // arrives over link (l+3)%6, leaves straight on l
                const bool no_pes = r.pes[0] == 0 && r.pes[1] == 0 && r.pes[2] == 0;
                if (no_pes && r.links == (1u << l)) {
                    table.default_routed.push_back({src.key, src.mask});
                    continue;
                }
            }
            table.entries.push_back({src.key, src.mask, r});
        }
    }
    const std::string& mode = m.options.compression;
    for (auto& t : m.routers) {
        std::stable_sort(t.entries.begin(), t.entries.end(), [](const route_entry& a, const route_entry& b) { return a.key < b.key; });
        t.entries_uncompressed = t.entries.size();
        const std::size_t cap = M.router_entries;
        if (mode == "always") compress_table(t, 0);
        else if (mode == "when_needed" && t.entries.size() > cap) compress_table(t, cap);
        if (t.entries.size() > cap)
            throw map_error("router of chip " + chip_name(M, t.chip) + " needs " + std::to_string(t.entries.size()) +
                            " entries" + (mode == "never" ? "" : " after compression (" + std::to_string(t.entries_uncompressed) + " before)") +
                            " and holds " + std::to_string(cap) + "; spread the network over more chips or use fewer, larger slices");
    }
}

}  // namespace engram::s2
