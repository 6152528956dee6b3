#pragma once
// A bounded single-producer/single-consumer ring. The producer (the simulation thread)
// never waits: try_push fails when the ring is full and the caller counts what it lost.
#include <atomic>
#include <bit>
#include <cstddef>
#include <vector>

namespace engram::viz {

template <class T>
class spsc_ring {
public:
    // Capacity is rounded up to a power of two (at least 2).
    explicit spsc_ring(std::size_t capacity) : buf_(std::bit_ceil(capacity < 2 ? std::size_t{2} : capacity)) {
        mask_ = buf_.size() - 1;
    }
    std::size_t capacity() const { return buf_.size(); }

    // Producer side.
    bool try_push(const T& v) {
        const std::size_t h = head_.load(std::memory_order_relaxed);
        if (h - tail_cache_ == buf_.size()) {
            tail_cache_ = tail_.load(std::memory_order_acquire);
            if (h - tail_cache_ == buf_.size()) return false;
        }
        buf_[h & mask_] = v;
        head_.store(h + 1, std::memory_order_release);
        return true;
    }

    // Consumer side: calls f(item) for everything pushed so far, at most `max` items;
    // returns how many.
    template <class F>
    std::size_t drain(F&& f, std::size_t max = static_cast<std::size_t>(-1)) {
        const std::size_t t = tail_.load(std::memory_order_relaxed);
        const std::size_t h = head_.load(std::memory_order_acquire);
        std::size_t n = h - t;
        if (n > max) n = max;
        for (std::size_t i = 0; i < n; ++i) f(buf_[(t + i) & mask_]);
        tail_.store(t + n, std::memory_order_release);
        return n;
    }
    std::size_t size_approx() const {
        return head_.load(std::memory_order_acquire) - tail_.load(std::memory_order_acquire);
    }

private:
    std::vector<T> buf_;
    std::size_t mask_ = 0;
    alignas(64) std::atomic<std::size_t> head_{0};
    std::size_t tail_cache_ = 0;  // producer's last view of tail_
    alignas(64) std::atomic<std::size_t> tail_{0};
};

}  // namespace engram::viz
