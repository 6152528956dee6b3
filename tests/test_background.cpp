// background_observer: the target gets what the run gave, in the same order, from a
// thread of its own, all of it by the time run() returns; its errors reach the run.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "engram/core/background.hpp"
#include "helpers.hpp"

using namespace engram;
using namespace engram::test;

namespace {
const std::string net = small_coba() + R"(
record:
  spikes: all
  state: {mem: {population: exc, variables: [v, g_ex], neurons: [0, 5, 9], interval: 0.5 ms}}
)";

// Every call, in order, as text; part spikes in a list of their own (a run passes them
// on from the update, before the step's on_spikes). Optionally throws at a step's end.
struct trace : observer {
    bool parts = false;
    std::uint64_t fail_at = 0;  // on_step of this step throws (0: never)
    std::vector<std::string> calls, part_calls;
    std::vector<std::thread::id> threads;
    static std::string ids_text(const std::uint32_t* ids, std::size_t n) {
        std::string s;
        for (std::size_t i = 0; i < n; ++i) s += " " + std::to_string(ids[i]);
        return s;
    }
    void seen() {
        if (threads.empty() || threads.back() != std::this_thread::get_id()) threads.push_back(std::this_thread::get_id());
    }
    void on_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t n) override {
        seen();
        calls.push_back("spikes " + std::to_string(step) + " " + std::to_string(pop) + ":" + ids_text(ids, n));
    }
    void on_sample(std::uint64_t step, std::size_t rec, const std::vector<std::vector<float>>& v) override {
        seen();
        std::string s = "sample " + std::to_string(step) + " " + std::to_string(rec) + ":";
        for (const auto& var : v) {
            s += " [";
            for (float x : var) s += " " + std::to_string(x);
            s += " ]";
        }
        calls.push_back(s);
    }
    void on_step(std::uint64_t step) override {
        seen();
        calls.push_back("step " + std::to_string(step));
        if (step == fail_at) throw std::runtime_error("target failed at step " + std::to_string(step));
    }
    void on_run_end() override {
        seen();
        calls.push_back("end");
    }
    bool takes_part_spikes() const override { return parts; }
    void on_part_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t n) override {
        part_calls.push_back("part " + std::to_string(step) + " " + std::to_string(pop) + ":" + ids_text(ids, n));
    }
};
}  // namespace

TEST_CASE("a background_observer passes on every call in order, from one thread of its own, by the end of run()", "[unit][engine]") {
    const auto spec = parse(net);
    for (const bool parts : {false, true}) {
        INFO("target takes part spikes: " << parts);
        trace direct, behind_target;
        direct.parts = behind_target.parts = parts;
        {
            simulation sim(spec, builtin_models());
            sim.run(6000, &direct);  // several blocks: 4,096 records each at most
        }
        simulation sim(spec, builtin_models());
        background_observer behind(behind_target);
        sim.run(6000, &behind);
        // everything is there when run() returns, without a drain
        REQUIRE(direct.calls.size() > 3 * 4096);
        CHECK(direct.calls.back() == "end");
        CHECK(behind_target.calls == direct.calls);
        CHECK(behind_target.part_calls == direct.part_calls);
        CHECK(parts == !direct.part_calls.empty());
        REQUIRE(behind_target.threads.size() == 1);
        CHECK(behind_target.threads[0] != std::this_thread::get_id());
        // a second run goes on from there
        const std::size_t before = behind_target.calls.size();
        sim.run(10, &behind);
        CHECK(behind_target.calls.size() > before + 10);
        CHECK(behind_target.calls.back() == "end");
        CHECK(behind_target.calls[behind_target.calls.size() - 2] == "step 6010");
    }
}

TEST_CASE("a background_observer's target error ends the run with that error; nothing after it is passed on", "[unit][engine]") {
    const auto spec = parse(net);
    for (const std::uint64_t fail_at : {std::uint64_t{3}, std::uint64_t{5000}}) {  // in the first block; later
        INFO("fails at step " << fail_at);
        trace target;
        target.fail_at = fail_at;
        simulation sim(spec, builtin_models());
        background_observer behind(target);
        CHECK_THROWS_WITH(sim.run(40000, &behind), "target failed at step " + std::to_string(fail_at));
        // the run stopped soon after (a few blocks ahead at most), and the target saw no
        // call after the failing one
        CHECK(sim.current_step() < fail_at + 6 * 4096);
        behind.drain();  // the error came once
        REQUIRE_FALSE(target.calls.empty());
        CHECK(target.calls.back() == "step " + std::to_string(fail_at));
    }
}

TEST_CASE("a background_observer's error at the last hand-over comes from run() (on_run_end)", "[unit][engine]") {
    const auto spec = parse(net);
    trace target;
    target.fail_at = 20;  // the run's only block goes at the end
    simulation sim(spec, builtin_models());
    background_observer behind(target);
    CHECK_THROWS_WITH(sim.run(50, &behind), "target failed at step 20");
    CHECK(sim.current_step() == 50);
    CHECK(target.calls.back() == "step 20");
}
