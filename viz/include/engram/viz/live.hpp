#pragma once
// The live raster: `engram run --live`. The simulation runs on its own thread and hands
// its spikes to a live_feed (an observer) that pushes them into bounded single-producer/
// single-consumer rings; the window, on the main thread, drains them. The simulation never
// waits on drawing: when a ring is full the spike is counted as not shown, and when a
// frame takes too long the window paints only every k-th spike, saying so. Population
// rates are counted by the feed itself, so the rate trace stays exact either way.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "engram/core/engine.hpp"
#include "engram/core/spec.hpp"
#include "engram/viz/spsc_ring.hpp"

namespace engram::viz {

struct live_options {
    unsigned width = 1280, height = 800;   // window size in pixels
    double window_ms = 1000;               // time shown (+/- change it)
    unsigned fps = 30;                     // frame-rate limit
    bool close_at_end = false;             // close the window when the run ends
    std::string screenshot;                // if set: saved as PNG when the run ends (implies close_at_end)
    std::uint64_t draw_budget = 400'000;   // spikes painted per frame at most, at first (adapts)
    std::size_t ring_capacity = 1u << 20;  // spikes in flight between the threads
};

// The producer side, on the simulation thread. Population p's neuron i is global neuron
// offset(p) + i (populations stacked in the order of the spec).
class live_feed : public observer {
public:
    struct spike_event {
        std::uint64_t step;
        std::uint32_t neuron;  // global index
        std::uint32_t pop;
    };
    struct rate_event {
        std::uint64_t bin;  // bin b covers steps [b*bin_steps + 1, (b+1)*bin_steps]
        std::uint32_t pop;
        std::uint32_t count;
    };

    live_feed(const network_spec& spec, std::size_t ring_capacity, const std::atomic<bool>* stop);

    void on_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t count) override;
    void on_step(std::uint64_t step) override;  // waits here while paused

    // Consumer side (the window).
    void set_paused(bool p);
    bool paused() const { return paused_.load(std::memory_order_relaxed); }
    void release();  // ends a pause at once (when stopping)
    std::uint64_t last_step() const { return step_.load(std::memory_order_acquire); }
    // Simulated-to-wall ratio of the run so far (pauses not counted); 0 before 1 ms of run.
    double realtime_ratio() const;
    std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
    std::uint64_t bin_steps() const { return bin_steps_; }
    double dt() const { return dt_; }

    spsc_ring<spike_event> spikes;
    spsc_ring<rate_event> rates;

private:
    const std::atomic<bool>* stop_;
    std::vector<std::uint32_t> offset_, counts_;
    std::uint64_t bin_steps_ = 1;
    double dt_ = 0.1;
    std::atomic<std::uint64_t> step_{0}, dropped_{0};
    std::atomic<bool> paused_{false};
    // Wall time of the run (ns, pauses excluded) and the step it was taken at, every bin.
    std::int64_t start_ns_ = 0, paused_ns_ = 0;
    std::atomic<std::int64_t> wall_ns_{0};
    std::atomic<std::uint64_t> wall_step_{0};
    std::mutex m_;
    std::condition_variable cv_;
};

// Runs the window on the calling (main) thread until it is closed (q, Esc, the close
// button), setting `stop` so that the run ends after its current step; or, with
// close_at_end or a screenshot, once `finished()` is true and the last frame is drawn.
// `start` (may be empty) is called once, after the first frame is drawn (or when the
// window closes before that): the simulation thread should wait for it. On Linux the calling thread lowers its own
// priority (nice +10) first, so create the simulation thread before calling this. Throws engram::error if the window or
// its font cannot be made (before `start` is called).
struct live_stats {
    std::uint64_t frames = 0;      // frames drawn
    double seconds = 0;            // the window was open
    std::uint64_t max_stride = 1;  // the most the raster was thinned (1 in max_stride spikes)
    std::uint64_t dropped = 0;     // spikes that found the ring full (not shown; in the results file)
};
live_stats run_live_window(const network_spec& spec, live_feed& feed, const live_options& opt, std::atomic<bool>& stop,
                           const std::function<bool()>& finished, const std::function<void()>& start = {});

// Where the live window puts neuron `neuron` and time t_ms at the end of a run of
// `end_ms` (window `window_ms`), for a window of opt.width x opt.height showing every
// neuron: the same mapping the window draws with (tests use it).
struct live_mapping {
    int column = -1, top = -1, bottom = -1;  // pixels in the window
};
live_mapping live_position(const network_spec& spec, const live_options& opt, double end_ms, double t_ms,
                           std::uint64_t neuron);

}  // namespace engram::viz
