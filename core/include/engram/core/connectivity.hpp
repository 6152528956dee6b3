#pragma once
// Instantiated connectivity. A projection's synapses are a pure function of
// (seed, projection name, owner neuron): they are generated per target (or per source
// for fixed_number_post) from the counter-based RNG, so they do not depend on the
// thread count. They are stored as CSR rows by presynaptic neuron, one set of rows per
// part of the target population, built in parallel in two passes (count, then fill;
// the second pass regenerates the same draws, so no intermediate list is kept), or, for
// most plastic projections, in one pass of draws into their columns
// (build_options::columns_first).
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engram/core/aligned.hpp"
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
    friend bool operator==(const neuron_range& a, const neuron_range& b) { return a.begin == b.begin && a.end == b.end; }
};

// Rows for the targets of one part. Weights and delays are stored per synapse only when
// they vary. Targets on a part that spans at most 65,536 neurons are 2-byte offsets from
// the part's first neuron (target16), otherwise 4-byte indices (target): a static
// projection with one weight and one delay costs 2 bytes per synapse on such parts, 4 on
// larger ones.
struct csr_rows {
    aligned_vector<std::uint64_t> row_begin;  // n_pre + 1
    aligned_vector<std::uint32_t> target;     // index within the target population; empty when target16 holds them
    aligned_vector<std::uint16_t> target16;   // target - target_base
    std::uint32_t target_base = 0;            // the part's first neuron
    aligned_vector<float> weight;             // empty: every synapse has projection_rows::weight0
    aligned_vector<std::uint16_t> delay;      // empty: every synapse has projection_rows::delay0
    // Plastic projections only: the same synapses by target (columns), for updates at
    // postsynaptic spikes. col_begin has n_post + 1 entries (only the part's own targets
    // have synapses); col_syn is the synapse's index in the rows. A column does not store
    // the sources (that would be 4 more bytes per plastic synapse): source_of() finds
    // them from the rows through a sparse index, src_block[m] = the source of synapse
    // m << src_shift, with blocks about one average row long, so a lookup reads one or
    // two row starts. A plastic synapse costs 10 bytes on a part of at most 65,536
    // neurons (2-byte target, weight, column entry), 12 on larger ones.
    aligned_vector<std::uint64_t> col_begin;
    aligned_vector<std::uint32_t> col_syn;
    aligned_vector<std::uint32_t> src_block;
    unsigned src_shift = 0;

    bool compact() const { return !target16.empty(); }
    std::uint64_t synapses() const { return target.size() + target16.size(); }
    // The target (index within the target population) of synapse s.
    std::uint32_t target_of(std::uint64_t s) const { return target16.empty() ? target[s] : target_base + target16[s]; }

    // The source of synapse s (an index into target/weight), for s < row_begin.back().
    std::uint32_t source_of(std::uint64_t s) const {
        const std::uint64_t m = s >> src_shift;
        std::uint32_t lo = src_block[m];
        const std::uint32_t hi = src_block[m + 1];  // source of the next block's first synapse
        const std::uint64_t* rb = row_begin.data();
        if (hi - lo > 8) {  // skewed rows: binary search between the two
            std::uint32_t a = lo, b = hi;  // invariant: rb[a] <= s, answer <= b
            while (a < b) {
                const std::uint32_t mid = a + (b - a + 1) / 2;
                if (rb[mid] <= s) a = mid; else b = mid - 1;
            }
            return a;
        }
        while (rb[lo + 1] <= s) ++lo;
        return lo;
    }
};

// Positions of neurons in space (x, y, z per neuron), for distance-dependent rules.
struct neuron_positions {
    std::vector<float> xyz;  // 3 * size
};
// The positions of each population of a layout, in spec.populations order (empty for
// populations in no layout). Deterministic in the seed.
std::vector<neuron_positions> place_neurons(const network_spec& spec, std::uint64_t seed);

struct build_options {
    int threads = 1;
    // Runs body(k) for every part k in [0, n), possibly at once on several threads (the
    // engine hands in its workers: no thread pool of TBB's is left spinning after the
    // construction, taking CPU time from the run that follows). Empty: a TBB arena of
    // `threads` threads (at most the parts and the CPUs the process may use).
    std::function<void(std::size_t n, const std::function<void(std::size_t)>& body)> for_parts;
    bool per_synapse_weights = false;  // store weights per synapse even when all are equal
    bool columns = false;              // build the post->pre index (plastic projections)
    // With columns, where the connector makes the synapses target by target with a count
    // known beforehand (fixed_number_pre, all_to_all, one_to_one; fixed_probability by its
    // mean), from at most 262,144 sources: one pass of draws that lists each target's
    // sources in the columns' array, then one pass that puts them in the rows (drawing
    // weights and delays where they vary) and turns each entry into its synapse's index
    // (projection_builder::build_part). false: the two passes of draws of a static
    // projection, then the columns from the rows (the same rows and columns; for tests).
    bool columns_first = true;
    // Where nonzero, the columns' array of that one pass starts with room for this many
    // synapses instead of the count expected (fixed_probability: its mean and 6 standard
    // deviations more), and grows as more come; for tests of that growth.
    std::size_t columns_room = 0;
    const neuron_positions* pre_pos = nullptr;  // for the distance rule
    const neuron_positions* post_pos = nullptr;
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
                               std::uint32_t n_post, double dt, std::uint64_t seed,
                               const neuron_positions* pre_pos = nullptr, const neuron_positions* post_pos = nullptr);

// The number of synapses a projection's connector is expected to make (its mean, for a
// random rule), known before it is built: all_to_all, one_to_one, fixed_probability,
// fixed_number_pre/post, fixed_total_number and from_list; 0 for the distance rule,
// whose count depends on the layouts.
std::uint64_t expected_synapses(const projection_spec& proj, std::uint32_t n_pre, std::uint32_t n_post);

// A projection's rows, built part by part: build_part(k) once for every part k, in any
// order and at once on several threads (each writes only its part), then finish(). The
// rows do not depend on the order. The spec must outlive the builder.
class projection_builder {
public:
    projection_builder(const projection_spec& proj, std::uint32_t n_pre, std::uint32_t n_post, double dt, std::uint64_t seed,
                       const std::vector<neuron_range>& parts, const build_options& opt);
    ~projection_builder();
    projection_builder(const projection_builder&) = delete;
    projection_builder& operator=(const projection_builder&) = delete;
    std::size_t parts() const;
    void build_part(std::size_t k);
    projection_rows finish();  // once, after every part's build_part

private:
    struct state;
    std::unique_ptr<state> s_;
    bool columns_first(std::size_t k);  // build_options::columns_first, where it applies
};

// Builds the rows of every part, in parallel over parts when threads > 1.
projection_rows build_projection(const projection_spec& proj, std::uint32_t n_pre,
                                 std::uint32_t n_post, double dt, std::uint64_t seed,
                                 const std::vector<neuron_range>& parts, int threads = 1);
projection_rows build_projection(const projection_spec& proj, std::uint32_t n_pre,
                                 std::uint32_t n_post, double dt, std::uint64_t seed,
                                 const std::vector<neuron_range>& parts, const build_options& opt);

// The rows of the targets in `part`, a part of a new partition of the target population,
// made from `rows`, cut by `from` (the old partition's ranges): every source's synapses
// into `part`, in the order they had, stored as a build for the new partition stores
// them (2-byte targets on a part of at most 65,536 neurons; weights and delays per synapse
// where rows has them). For static projections: throws std::logic_error where rows has
// columns. The engine moves the cut between parts with it during a run (rebalancing),
// each worker making its own part. sorted: every row holds its targets in increasing
// order (rows_sorted), so that in the rows of an old part that the new one takes only
// some of, the kept entries are found from the row's end nearer to each bound, not entry
// by entry.
csr_rows resplit_rows(const projection_rows& rows, const std::vector<neuron_range>& from, neuron_range part, bool sorted = false);
// Whether every row of every part holds its targets in increasing order: those of rules
// that make synapses target by target do; fixed_number_post's (by source) need not.
bool rows_sorted(const projection_rows& rows);

}  // namespace engram
