#pragma once
// An observer that runs another one on a thread of its own.
//
// The run's thread only copies what it is given (spike ids, state samples, step ends)
// into a block; a full block goes to the observer's thread, which passes everything on
// to the target in the order it came, as the run would have. Worth it where a core is
// left over (a 1-thread run on a 2-core machine): the results file's conversions and
// writes and the firing statistics then cost the run's thread almost nothing.
//
// - The target's calls come from that one thread, serially and in step order, as the
//   observer contract asks. A target that takes part spikes (takes_part_spikes) gets
//   each population's spikes of a step once, as one part, besides on_spikes: that is
//   what one part per population would give it.
// - At most a few blocks wait at a time; a run that outpaces its target waits for it,
//   so memory stays bounded.
// - The target's first error is rethrown to the run's thread at the next hand-over, or
//   by drain(); the blocks after it are dropped, so a results file holds what came
//   before the error and no holes.
// - on_run_end (the engine calls it when a run returns) is passed on too, and waits
//   until the target has taken everything. Before touching the target after a run that
//   threw, call drain().
#include <cstdint>
#include <memory>
#include <vector>

#include "engram/core/engine.hpp"

namespace engram {

class background_observer : public observer {
public:
    explicit background_observer(observer& target);
    // Waits for what was handed over and stops the thread; an error is dropped here
    // (drain() first to see it).
    ~background_observer() override;
    background_observer(const background_observer&) = delete;
    background_observer& operator=(const background_observer&) = delete;

    void on_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t count) override;
    void on_sample(std::uint64_t step, std::size_t rec, const std::vector<std::vector<float>>& values) override;
    void on_step(std::uint64_t step) override;
    void on_run_end() override;  // passed on, then drain()

    // Hands over what is buffered and waits until the target has taken all of it;
    // rethrows the target's first error (once).
    void drain();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace engram
