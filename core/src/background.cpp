#include "engram/core/background.hpp"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace engram {

namespace {
// A block is handed over when it holds this many of any of its three kinds of data:
// about 1,000 steps of COBA (4,000 neurons at 18 Hz) per block, a few hand-overs per
// second of a run.
constexpr std::size_t block_records = 1 << 12;
constexpr std::size_t block_ids = 1 << 16;
constexpr std::size_t block_values = 1 << 18;
constexpr std::size_t max_waiting = 4;  // blocks handed over and not yet taken

enum class kind : std::uint8_t { spikes, sample, sample_var, step, run_end };
// What one call gave: spikes (index = population, count ids in the block's ids); a state
// sample (index = recorder, count = its variables, each in a sample_var record of its own
// with count values in the block's values); the end of a step; the end of a run.
struct entry {
    std::uint64_t step;
    std::uint32_t index;
    std::uint32_t count;
    kind what;
};
struct block {
    std::vector<entry> entries;
    std::vector<std::uint32_t> ids;
    std::vector<float> values;
    bool full() const { return entries.size() >= block_records || ids.size() >= block_ids || values.size() >= block_values; }
    bool empty() const { return entries.empty(); }
    void clear() {
        entries.clear();
        ids.clear();
        values.clear();
    }
};
}  // namespace

struct background_observer::impl {
    observer& target;
    const bool parts;  // the target also takes each population's spikes as one part
    block filling;
    std::mutex mu;
    std::condition_variable work, space;  // a block waits; a block was taken (or none is left)
    std::deque<block> waiting;
    std::vector<block> pool;  // emptied blocks, their memory kept
    bool busy = false, stopping = false, broken = false;
    std::exception_ptr failed;
    std::vector<std::vector<float>> sample;  // the thread's copy of a sample, as on_sample takes it
    std::thread thread;

    explicit impl(observer& t) : target(t), parts(t.takes_part_spikes()) {
        reserve(filling);
        thread = std::thread([this] { loop(); });
    }
    static void reserve(block& b) {
        b.entries.reserve(block_records + 1);
        b.ids.reserve(block_ids);
    }

    void pass_on(const block& b) {
        const std::uint32_t* ids = b.ids.data();
        const float* values = b.values.data();
        for (std::size_t i = 0; i < b.entries.size(); ++i) {
            const entry& e = b.entries[i];
            switch (e.what) {
            case kind::spikes:
                target.on_spikes(e.step, e.index, ids, e.count);
                if (parts) target.on_part_spikes(e.step, e.index, ids, e.count);
                ids += e.count;
                break;
            case kind::sample:
                sample.resize(e.count);
                for (auto& var : sample) {
                    const entry& v = b.entries[++i];
                    var.assign(values, values + v.count);
                    values += v.count;
                }
                target.on_sample(e.step, e.index, sample);
                break;
            case kind::sample_var:
                break;  // read with its sample
            case kind::step:
                target.on_step(e.step);
                break;
            case kind::run_end:
                target.on_run_end();
                break;
            }
        }
    }
    void loop() {
        std::unique_lock<std::mutex> lk(mu);
        while (true) {
            work.wait(lk, [&] { return stopping || !waiting.empty(); });
            if (waiting.empty()) return;  // stopping, nothing left
            block b = std::move(waiting.front());
            waiting.pop_front();
            busy = true;
            const bool skip = broken;  // after an error, later blocks are dropped
            lk.unlock();
            try {
                if (!skip) pass_on(b);
            } catch (...) {
                lk.lock();
                if (!broken) failed = std::current_exception();
                broken = true;
                lk.unlock();
            }
            b.clear();
            lk.lock();
            pool.push_back(std::move(b));
            busy = false;
            space.notify_all();
        }
    }
    void rethrow_locked() {
        if (failed) {
            auto e = failed;
            failed = nullptr;
            std::rethrow_exception(e);
        }
    }
    // The filling block to the thread (after waiting for room), an empty one in its place.
    void hand_over() {
        {
            std::unique_lock<std::mutex> lk(mu);
            space.wait(lk, [&] { return waiting.size() < max_waiting; });
            rethrow_locked();
            waiting.push_back(std::move(filling));
            if (!pool.empty()) {
                filling = std::move(pool.back());
                pool.pop_back();
            } else {
                filling = block{};
            }
        }
        work.notify_one();
        reserve(filling);
    }
    void drain() {
        if (!filling.empty()) hand_over();
        std::unique_lock<std::mutex> lk(mu);
        space.wait(lk, [&] { return waiting.empty() && !busy; });
        rethrow_locked();
    }
    ~impl() {
        try {
            drain();
        } catch (...) {
        }
        {
            std::lock_guard<std::mutex> g(mu);
            stopping = true;
        }
        work.notify_one();
        thread.join();
    }
};

background_observer::background_observer(observer& target) : impl_(std::make_unique<impl>(target)) {}
background_observer::~background_observer() = default;

void background_observer::on_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t count) {
    block& b = impl_->filling;
    b.entries.push_back({step, static_cast<std::uint32_t>(pop), static_cast<std::uint32_t>(count), kind::spikes});
    b.ids.insert(b.ids.end(), ids, ids + count);
    if (b.ids.size() >= block_ids) impl_->hand_over();
}

void background_observer::on_sample(std::uint64_t step, std::size_t rec, const std::vector<std::vector<float>>& values) {
    block& b = impl_->filling;
    b.entries.push_back({step, static_cast<std::uint32_t>(rec), static_cast<std::uint32_t>(values.size()), kind::sample});
    for (const auto& v : values) {
        b.entries.push_back({step, 0, static_cast<std::uint32_t>(v.size()), kind::sample_var});
        b.values.insert(b.values.end(), v.begin(), v.end());
    }
    if (b.full()) impl_->hand_over();
}

void background_observer::on_step(std::uint64_t step) {
    block& b = impl_->filling;
    b.entries.push_back({step, 0, 0, kind::step});
    if (b.full()) impl_->hand_over();
}

void background_observer::on_run_end() {
    impl_->filling.entries.push_back({0, 0, 0, kind::run_end});
    impl_->drain();
}

void background_observer::drain() { impl_->drain(); }

}  // namespace engram
