#pragma once
// Instantiated connectivity. Each projection's synapses are generated from the counter-
// based RNG keyed by (seed, projection, neuron), so the list does not depend on the
// thread count; it is then stored as CSR by presynaptic neuron, split by target range.
#include <cstdint>
#include <vector>

#include "engram/core/spec.hpp"

namespace engram {

struct synapse_list {
    std::vector<std::uint32_t> pre, post;
    std::vector<float> weight;
    std::vector<std::uint16_t> delay;  // steps, >= 1
    std::size_t size() const { return pre.size(); }
};

// Generates the synapses of one projection (validated spec). Order is canonical:
// the order the connector produced them in, identical for any thread count.
synapse_list generate_synapses(const projection_spec& proj, std::uint32_t n_pre,
                               std::uint32_t n_post, double dt, std::uint64_t seed);

// Compressed sparse rows by presynaptic neuron, for the targets of one partition part.
struct csr_rows {
    std::vector<std::uint32_t> row_begin;  // n_pre + 1
    std::vector<std::uint32_t> target;     // index within the target population
    std::vector<float> weight;
    std::vector<std::uint16_t> delay;      // empty when the projection has one delay
};

// A contiguous range of neurons of one population.
struct neuron_range {
    std::uint32_t begin = 0, end = 0;
};

// Splits synapses by the target ranges (parts) and builds one CSR per part; the order
// of synapses within a row is preserved, so sums into one target happen in the same
// order whatever the partition.
std::vector<csr_rows> build_csr(const synapse_list& syn, std::uint32_t n_pre,
                                const std::vector<neuron_range>& parts, bool uniform_delay);

}  // namespace engram
