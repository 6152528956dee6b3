#include "engram/core/graph.hpp"

#include <boost/graph/strong_components.hpp>
#include <boost/graph/topological_sort.hpp>

namespace engram {

network_graph make_graph(const network_spec& spec) {
    network_graph g(spec.populations.size());
    for (std::size_t i = 0; i < spec.populations.size(); ++i) g[i].population = i;
    for (std::size_t j = 0; j < spec.projections.size(); ++j) {
        const auto& p = spec.projections[j];
        const auto s = spec.population_index(p.source);
        const auto t = spec.population_index(p.target);
        auto [e, ok] = boost::add_edge(s, t, g);
        (void)ok;
        g[e].projection = j;
    }
    return g;
}

std::vector<std::size_t> drive_order(const network_spec& spec) {
    // Condense strongly connected components, then order components topologically;
    // within a component keep declaration order.
    const network_graph g = make_graph(spec);
    const std::size_t n = boost::num_vertices(g);
    std::vector<int> comp(n);
    const int nc = boost::strong_components(g, boost::make_iterator_property_map(
                                                   comp.begin(), boost::get(boost::vertex_index, g)));
    // strong_components numbers components in reverse topological order.
    std::vector<std::size_t> order;
    for (int c = nc - 1; c >= 0; --c)
        for (std::size_t v = 0; v < n; ++v)
            if (comp[v] == c) order.push_back(v);
    return order;
}

}  // namespace engram
