#pragma once
// A fixed team of threads that run one job per simulation step and meet at a spinning
// barrier. A step of a small network is a few microseconds of work: a task-scheduler
// round trip (tbb::parallel_for) costs about as much, a spin on a cache line far less.
// Waiters spin a few microseconds with a pause instruction, then block on the atomic
// (a futex), so a machine whose cores are busy with other work does not starve the
// thread that has the work to do.
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ENGRAM_CPU_PAUSE() _mm_pause()
#else
#define ENGRAM_CPU_PAUSE() ((void)0)
#endif

namespace engram {

// Flushes denormal floats to zero (FTZ, DAZ) while alive: decaying synaptic variables
// would otherwise drift into the slow denormal range. Values below 1.2e-38 become 0.
class flush_denormals {
public:
#if defined(__x86_64__) || defined(__i386__)
    flush_denormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }
    ~flush_denormals() { _mm_setcsr(saved_); }

private:
    unsigned saved_;
#endif
};

// The calling thread's floating-point control state (MXCSR on x86: rounding, FTZ/DAZ),
// and a guard that gives another thread that state while alive.
class fp_environment {
public:
#if defined(__x86_64__) || defined(__i386__)
    fp_environment() : csr_(_mm_getcsr()) {}
    class as {
    public:
        explicit as(const fp_environment& e) : saved_(_mm_getcsr()) { _mm_setcsr(e.csr_); }
        ~as() { _mm_setcsr(saved_); }
        as(const as&) = delete;
        as& operator=(const as&) = delete;

    private:
        unsigned saved_;
    };

private:
    unsigned csr_;
#else
    class as {
    public:
        explicit as(const fp_environment&) {}
    };
#endif
};

class spin_team {
public:
    explicit spin_team(int workers) : n_(workers < 1 ? 1 : workers) {
        for (int w = 1; w < n_; ++w) threads_.emplace_back([this, w] { loop(w); });
    }
    ~spin_team() {
        stop_.store(true, std::memory_order_relaxed);
        epoch_.fetch_add(1, std::memory_order_release);
        epoch_.notify_all();
        for (auto& t : threads_) t.join();
    }
    spin_team(const spin_team&) = delete;
    spin_team& operator=(const spin_team&) = delete;

    int size() const { return n_; }

    // Runs job(w) on every worker w (the caller is worker 0) and returns when all are done.
    // An exception in a worker is rethrown here.
    void run(const std::function<void(int)>& job) {
        job_ = &job;
        pending_.store(n_ - 1, std::memory_order_relaxed);
        epoch_.fetch_add(1, std::memory_order_release);
        epoch_.notify_all();
        try {
            job(0);
        } catch (...) {
            wait_done();
            throw;
        }
        wait_done();
        if (error_) {
            auto e = error_;
            error_ = nullptr;
            std::rethrow_exception(e);
        }
    }

private:
    static constexpr unsigned spin_limit = 4096;
    void wait_done() {
        unsigned spins = 0;
        int p;
        while ((p = pending_.load(std::memory_order_acquire)) != 0) {
            if (++spins < spin_limit) ENGRAM_CPU_PAUSE();
            else pending_.wait(p, std::memory_order_acquire);
        }
    }
    void loop(int w) {
        const flush_denormals ftz;
        std::uint64_t seen = 0;
        while (true) {
            unsigned spins = 0;
            std::uint64_t e;
            while ((e = epoch_.load(std::memory_order_acquire)) == seen) {
                if (++spins < spin_limit) ENGRAM_CPU_PAUSE();
                else epoch_.wait(seen, std::memory_order_acquire);
            }
            seen = e;
            if (stop_.load(std::memory_order_relaxed)) return;
            try {
                (*job_)(w);
            } catch (...) {
                if (!error_) error_ = std::current_exception();
            }
            if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
        }
    }

    int n_;
    std::vector<std::thread> threads_;
    alignas(64) std::atomic<std::uint64_t> epoch_{0};
    alignas(64) std::atomic<int> pending_{0};
    const std::function<void(int)>* job_ = nullptr;
    std::exception_ptr error_;
    std::atomic<bool> stop_{false};
};

}  // namespace engram
