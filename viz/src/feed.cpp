#include "engram/viz/live.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "engram/viz/axes.hpp"

namespace engram::viz {

// ---- producer ---------------------------------------------------------------------------

live_feed::live_feed(const network_spec& spec, std::size_t ring_capacity, const std::atomic<bool>* stop)
    : spikes(ring_capacity), rates(1u << 18), stop_(stop), dt_(spec.simulation.dt) {
    std::uint32_t off = 0;
    for (const auto& p : spec.populations) {
        offset_.push_back(off);
        off += p.size;
    }
    counts_.assign(spec.populations.size(), 0);
    // Rates are counted in bins of about 1 ms (at least one step).
    bin_steps_ = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::llround(1.0 / dt_)));
}

void live_feed::on_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t count) {
    counts_[pop] += static_cast<std::uint32_t>(count);
    const std::uint32_t off = offset_[pop];
    std::uint64_t lost = 0;
    for (std::size_t i = 0; i < count; ++i)
        if (!spikes.try_push({step, off + ids[i], static_cast<std::uint32_t>(pop)})) ++lost;
    if (lost) dropped_.fetch_add(lost, std::memory_order_relaxed);
}

namespace {
std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
}  // namespace

double live_feed::realtime_ratio() const {
    const std::int64_t ns = wall_ns_.load(std::memory_order_acquire);
    const std::uint64_t step = wall_step_.load(std::memory_order_acquire);
    return ns > 0 ? static_cast<double>(step) * dt_ * 1e6 / static_cast<double>(ns) : 0.0;
}

void live_feed::on_step(std::uint64_t step) {
    if (start_ns_ == 0) start_ns_ = now_ns();
    if (step % bin_steps_ == 0) {
        wall_step_.store(step, std::memory_order_relaxed);
        wall_ns_.store(now_ns() - start_ns_ - paused_ns_, std::memory_order_release);
        const std::uint64_t bin = step / bin_steps_ - 1;
        for (std::size_t p = 0; p < counts_.size(); ++p) {
            rates.try_push({bin, static_cast<std::uint32_t>(p), counts_[p]});
            counts_[p] = 0;
        }
    }
    step_.store(step, std::memory_order_release);
    if (paused_.load(std::memory_order_relaxed)) {
        const std::int64_t t0 = now_ns();
        std::unique_lock lk(m_);
        while (paused_.load() && !(stop_ && stop_->load())) cv_.wait_for(lk, std::chrono::milliseconds(50));
        paused_ns_ += now_ns() - t0;
    }
}

void live_feed::set_paused(bool p) {
    {
        std::lock_guard lk(m_);
        paused_.store(p);
    }
    cv_.notify_all();
}

void live_feed::release() {
    set_paused(false);
}

// ---- where the window draws ------------------------------------------------------------

time_axis live_time(double now_ms, double window_ms, int width) {
    const double t1 = std::max(now_ms, window_ms);
    return {t1 - window_ms, t1, width};
}

live_mapping live_position(const network_spec& spec, const live_options& opt, double end_ms, double t_ms,
                           std::uint64_t neuron) {
    const auto l = raster_layout(opt.width, opt.height);
    std::uint64_t total = 0;
    for (const auto& p : spec.populations) total += p.size;
    const auto tx = live_time(end_ms, opt.window_ms, l.raster.w);
    const neuron_axis ny{0, std::max<std::uint64_t>(total, 1), l.raster.h};
    const int c = tx.column(t_ms);
    const auto b = ny.rows(neuron);
    if (c < 0 || b.top < 0) return {};
    return {l.raster.x + c, l.raster.y + b.top, l.raster.y + b.bottom};
}

}  // namespace engram::viz
