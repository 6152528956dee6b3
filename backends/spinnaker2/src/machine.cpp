// The machine model: presets, the chip mesh as a Boost.Graph graph, QPE positions.
#include <algorithm>
#include <queue>

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/breadth_first_search.hpp>

#include "engram/spinnaker2/spinnaker2.hpp"

namespace engram::s2 {

namespace {
constexpr int link_dx[n_links] = {1, 1, 0, -1, -1, 0};
constexpr int link_dy[n_links] = {0, 1, 1, 0, -1, -1};
constexpr const char* link_names[n_links] = {"E", "NE", "N", "W", "SW", "S"};

// The 38 QPEs of a chip in PE order (PE p sits in QPE p / 4): qy 1..6, qx 1..7 without
// the four positions the SpiNNMachine QUAD_MAP leaves out.
std::vector<std::array<int, 2>> make_qpes() {
    std::vector<std::array<int, 2>> q;
    for (int y = 1; y <= 6; ++y)
        for (int x = 1; x <= 7; ++x) {
            if ((x == 4 || x == 7) && (y == 3 || y == 4)) continue;
            q.push_back({x, y});
        }
    return q;
}
}  // namespace

chip_xy neighbour(chip_xy c, int link) { return {c.x + link_dx[link], c.y + link_dy[link]}; }
const char* link_name(int link) { return link >= 0 && link < n_links ? link_names[link] : "?"; }

int machine_spec::chip_index(chip_xy c) const {
    for (std::size_t i = 0; i < chips.size(); ++i)
        if (chips[i] == c) return static_cast<int>(i);
    return -1;
}

std::array<int, 2> qpe_position(int pe) {
    static const auto q = make_qpes();
    const std::size_t i = static_cast<std::size_t>(pe / 4);
    if (pe < 0 || i >= q.size()) {
        // Machines with more than 152 PEs per chip: continue the grid row by row.
        const int k = pe / 4 - static_cast<int>(q.size());
        return {1 + k % 7, 7 + k / 7};
    }
    return q[i];
}

std::vector<std::string> machine_presets() { return {"chip", "board48"}; }

machine_spec machine_preset(const std::string& name) {
    machine_spec m;
    m.costs = default_cost_model();
    if (name == "chip") {
        m.name = "chip";
        m.chips = {{0, 0}};
    } else if (name == "board48") {
        // The 48-chip board: the SpiNN-5 coordinate set (rows of 5, 6, 7, 8, 7, 6, 5, 4 chips).
        m.name = "board48";
        const int x0[8] = {0, 0, 0, 0, 1, 2, 3, 4}, x1[8] = {4, 5, 6, 7, 7, 7, 7, 7};
        for (int y = 0; y < 8; ++y)
            for (int x = x0[y]; x <= x1[y]; ++x) m.chips.push_back({x, y});
    } else {
        std::string list;
        for (const auto& p : machine_presets()) list += (list.empty() ? "" : ", ") + p;
        throw spec_error("spinnaker2.machine", "unknown SpiNNaker2 machine preset '" + name + "' (presets: " + list + ")");
    }
    return m;
}

std::vector<std::vector<int>> chip_distances(const machine_spec& m) {
    using graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;
    const std::size_t n = m.chips.size();
    graph g(n);
    for (std::size_t i = 0; i < n; ++i)
        for (int l = 0; l < n_links; ++l) {
            const int j = m.chip_index(neighbour(m.chips[i], l));
            if (j >= 0) boost::add_edge(i, static_cast<std::size_t>(j), g);
        }
    std::vector<std::vector<int>> d(n, std::vector<int>(n, -1));
    for (std::size_t s = 0; s < n; ++s) {
        std::vector<int> dist(n, -1);
        dist[s] = 0;
        auto vis = boost::make_bfs_visitor(boost::record_distances(
            boost::make_iterator_property_map(dist.begin(), boost::get(boost::vertex_index, g)), boost::on_tree_edge()));
        boost::breadth_first_search(g, boost::vertex(s, g), boost::visitor(vis));
        d[s] = dist;
    }
    return d;
}

}  // namespace engram::s2
