#pragma once
// Instantiated connectivity. A projection's synapses are a pure function of
// (seed, projection name, owner neuron): they are generated per target (or per source
// for fixed_number_post) from the counter-based RNG, so they do not depend on the
// thread count. They are stored as CSR rows by presynaptic neuron, one set of rows per
// part of the target population, built in parallel in two passes (count, then fill;
// the second pass regenerates the same draws, so no intermediate list is kept).
#include <cstdint>
#include <vector>

#include "engram/core/spec.hpp"

namespace engram {

// A plain list of synapses, for tests, exporters and backends.
struct synapse_list {
    std::vector<std::uint32_t> pre, post;
    std::vector<float> weight;
    std::vector<std::uint16_t> delay;  // steps, >= 1
    std::size_t size() const { return pre.size(); }
};

// A contiguous range of neurons of one population.
struct neuron_range {
    std::uint32_t begin = 0, end = 0;
};

// Rows for the targets of one part. Weights and delays are stored per synapse only when
// they vary: a projection with one weight and one delay costs 4 bytes per synapse.
struct csr_rows {
    std::vector<std::uint64_t> row_begin;  // n_pre + 1
    std::vector<std::uint32_t> target;     // index within the target population
    std::vector<float> weight;             // empty: every synapse has projection_rows::weight0
    std::vector<std::uint16_t> delay;      // empty: every synapse has projection_rows::delay0
};

struct projection_rows {
    std::uint32_t n_pre = 0;
    bool homogeneous_weight = false, uniform_delay = false;
    float weight0 = 0.0f;
    std::uint16_t delay0 = 1;
    std::uint16_t max_delay = 1;
    std::vector<csr_rows> parts;

    std::size_t size() const;
    std::size_t bytes() const;    // memory held by the rows
    synapse_list to_list() const; // ordered by presynaptic neuron, then target
};

// All synapses of one projection (validated spec), in the order the connector makes
// them (by owner neuron).
synapse_list generate_synapses(const projection_spec& proj, std::uint32_t n_pre,
                               std::uint32_t n_post, double dt, std::uint64_t seed);

// Builds the rows of every part, in parallel over parts when threads > 1.
projection_rows build_projection(const projection_spec& proj, std::uint32_t n_pre,
                                 std::uint32_t n_post, double dt, std::uint64_t seed,
                                 const std::vector<neuron_range>& parts, int threads = 1);

}  // namespace engram
