#pragma once
// The population/projection graph of a spec, as a Boost.Graph graph: vertices are
// populations, edges projections. Used for validation, summaries, and by backends.
#include <boost/graph/adjacency_list.hpp>

#include "engram/core/spec.hpp"

namespace engram {

struct population_vertex { std::size_t population = 0; };
struct projection_edge { std::size_t projection = 0; };

using network_graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS,
                                            population_vertex, projection_edge>;

network_graph make_graph(const network_spec& spec);

// Populations in an order where sources come before the populations they drive where the
// graph allows it (cycles are broken in declaration order).
std::vector<std::size_t> drive_order(const network_spec& spec);

}  // namespace engram
