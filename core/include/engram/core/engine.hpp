#pragma once
// The simulation engine: owns the runtime state of a validated network and advances it.
//
// Step contract (step n advances time from (n-1)*dt to n*dt), for each part k of the
// partition, in parallel, with one barrier per step:
//   1. deliver    spikes of step n-1 -> ring slot (n-1+d) of part k's targets
//   2. stimulate  step currents and Poisson inputs of step n for part k's neurons
//   3. integrate  each population's update over part k's neurons: read and clear slot n,
//                 advance the state exactly, detect threshold crossings -> spikes of step n
//   3b. deliver   spikes of step n-1 of static one-step projections into exponential
//                 synapses -> straight into the synaptic variable the update just decayed
//                 (population_model::direct_input; they skip the ring of step 1)
// then, serially: 4. record spikes of step n and (before step n+1) sampled state.
// Spikes of step n therefore reach their targets at step n + d (d >= 1 step).
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engram/core/connectivity.hpp"
#include "engram/core/model.hpp"
#include "engram/core/spec.hpp"

namespace engram {

// Neuron ranges per population per part; made by a balancer, replaceable.
struct partition {
    std::size_t n_parts = 1;
    std::vector<std::vector<neuron_range>> ranges;  // [population][part]
};

// Synapses that count as one neuron towards a network's size, where the number of
// workers is chosen (simulation::size_for_workers, simulation.min_neurons_per_thread).
constexpr std::uint64_t synapses_per_neuron = 160;

// What a part pays, in neurons' work (above), per source neuron of each projection
// into a population it holds neurons of: each spike of the source has a row in the part
// to list, fetch and walk, whatever its length. Measured on COBA scaled to 40,000
// neurons, two workers (about 20 Hz; docs/performance-history.md, fortieth session).
constexpr double row_piece_cost = 0.06;

// Every population split evenly over the parts, at multiples of 32 neurons. With
// `shares` (one positive number per part), part k gets shares[k] / sum of them of each
// population instead (balance_contiguous likewise of the work): for workers of unequal
// speed (simulation: rebalancing).
partition balance_even(const network_spec& spec, std::size_t n_parts, const std::vector<double>& shares = {});
// The populations one after another, cut into parts of equal work at multiples of 32
// neurons, a neuron's work being 1 + its expected in-degree / synapses_per_neuron, plus
// row_piece_cost per population a part holds any of: at
// most n_parts - 1 populations are cut, where balance_even cuts every one, so a spike's
// row is cut into fewer pieces, and a part holding none of a projection's targets does
// not list its rows at all. Where populations differ in more than in-degree (models,
// plastic synapses, stimuli), balance_even's partition.
partition balance_contiguous(const network_spec& spec, std::size_t n_parts, const std::vector<double>& shares = {});

// Receives what the engine produced. Called serially, after each step.
// Calls come one at a time and in step order. With more than one worker they may come
// from any of the run's threads (whichever finished its share of the step first), so an
// observer must not depend on thread-local state.
class observer {
public:
    virtual ~observer() = default;
    // Spikes of step `step` (time step*dt) of population `pop`, ascending neuron index.
    virtual void on_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids,
                           std::size_t count) = 0;
    // State sample taken before step `step` (time (step-1)*dt) for recorder `rec`:
    // one value per recorded neuron per variable.
    virtual void on_sample(std::uint64_t /*step*/, std::size_t /*rec*/,
                           const std::vector<std::vector<float>>& /*values*/) {}
    // End of step `step`, after its spikes were passed on.
    virtual void on_step(std::uint64_t /*step*/) {}
    // The run has passed on its last step (also when it was stopped early) and is about
    // to return; not called when it throws.
    virtual void on_run_end() {}
    // Spikes of step `step` of one part of population `pop` (ascending), from the worker
    // that computed them, right after its update, for an observer whose
    // takes_part_spikes() is true. Unlike the calls above these are not serial: calls
    // for different parts may run at the same time, and a worker may be a step ahead of
    // another, so such an observer may only touch data of the neurons it is given (each
    // neuron's spikes still come in step order). It still gets on_spikes as well.
    virtual bool takes_part_spikes() const { return false; }
    virtual void on_part_spikes(std::uint64_t /*step*/, std::size_t /*pop*/, const std::uint32_t* /*ids*/,
                                std::size_t /*count*/) {}
};

// Passes everything on to several observers, in order. Whether an observer takes part
// spikes (takes_part_spikes) is asked once, when it is added: the workers' calls then go
// straight to those that do.
class observer_list : public observer {
public:
    void add(observer* o) {
        list_.push_back(o);
        if (o->takes_part_spikes()) parts_.push_back(o);
    }
    void on_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t count) override {
        for (auto* o : list_) o->on_spikes(step, pop, ids, count);
    }
    void on_sample(std::uint64_t step, std::size_t rec, const std::vector<std::vector<float>>& v) override {
        for (auto* o : list_) o->on_sample(step, rec, v);
    }
    void on_step(std::uint64_t step) override {
        for (auto* o : list_) o->on_step(step);
    }
    void on_run_end() override {
        for (auto* o : list_) o->on_run_end();
    }
    bool takes_part_spikes() const override { return !parts_.empty(); }
    void on_part_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t count) override {
        for (auto* o : parts_) o->on_part_spikes(step, pop, ids, count);
    }

private:
    std::vector<observer*> list_;
    std::vector<observer*> parts_;  // those of list_ that take part spikes
};

// Where one worker's share of a run loop went, in seconds (simulation::set_profiling).
// update: stimuli, integration and threshold detection; deliver: spike delivery (ring
// rows, and the direct rows that follow the update); plasticity: modulators and the
// rules' traces, presynaptic and postsynaptic updates (their delivery-time updates
// count as deliver); record: the observers (results file, statistics), whichever worker
// called them; wait: the rest of the loop, waiting for the other workers at the step's
// synchronisation points and the loop's own bookkeeping.
struct worker_profile {
    double update = 0.0, deliver = 0.0, plasticity = 0.0, record = 0.0, wait = 0.0;
};

struct run_stats {
    std::uint64_t steps_done = 0;
    std::uint64_t synaptic_events = 0;
    double build_seconds = 0.0;
    double run_seconds = 0.0;
    bool interrupted = false;
    std::vector<worker_profile> profile;  // one per worker where profiling was on, else empty
    // Workers of which one got too little of the CPUs: the steps worker 0 stepped alone,
    // and how many times it went alone (stall_policy).
    std::uint64_t solo_steps = 0;
    std::uint64_t solo_spells = 0;
    // Times the run cut its parts anew (balance_policy), and the wall time that took.
    std::uint64_t rebalances = 0;
    double rebalance_seconds = 0.0;
    // Windows of the moving cuts after which they could not move, a worker having had
    // its CPU for less than balance_policy::min_cpu_share of the window.
    std::uint64_t starved_windows = 0;
};

// When a run moves the cuts between its parts (workers a step apart only:
// simulation::pipelined). Each worker's time in its parts' updates and deliveries is
// measured over windows of window_s of wall time. Where the slowest worker took more than
// 1 + min_gain times what the same work spread in proportion to the workers' measured
// speeds would take (a host that runs one vCPU slower than the other, for hundreds of
// milliseconds at a time), the run pauses after the next step, the parts are cut anew in
// proportion to those speeds (balance_contiguous with shares, each part's work counted
// as it counts it), the neurons' state and the rows move to their new parts, and the
// run goes on. Which part holds a neuron does not change what is computed: the spikes
// are the same.
struct balance_policy {
    bool enabled = false;  // simulation.rebalance
    double window_s = 0.1;
    double min_gain = 0.04;
    // the least share of a window each worker must have spent on its CPU (its thread's CPU
    // time): a worker that waits for time slices is starved (stall_policy), not slow
    double min_cpu_share = 0.9;
    // tests: every this many steps, a new partition whatever the times, its shares drawn
    // from the step number (0: by the times)
    std::uint64_t every = 0;
};

// When the workers of a run step alone. Workers meet once or twice a step, so where the
// CPUs are shared with other busy threads (another simulation, a build), a worker that
// the operating system has put aside holds up the others for its whole wait for a time
// slice: milliseconds against microseconds of work per step. Each worker measures, over
// windows of window_s of wall time, the CPU time it got (workers a step apart,
// simulation::pipelined) or the time it spent runnable on a run queue (workers that meet
// every step, which sleep between steps of their own accord; /proc/thread-self/schedstat,
// without which they never go alone); once one got less than min_share of a window,
// worker 0 steps every part alone (workers a step apart: from the step after next)
// while the others sleep, and after retry_s tries all workers again (retry_s doubling,
// up to max_retry_s, each time a worker starves within two windows of the trial). A run
// starts as the last one ended (alone or together, and when to try again), so that short
// runs one after another stay alone while the CPUs stay busy. Which worker steps a part
// does not change what is computed: the spikes are the same.
struct stall_policy {
    double window_s = 0.05;
    double min_share = 0.75;
    double retry_s = 0.5;
    double max_retry_s = 8.0;
    // tests: from the first step on, alone and together by turns every this many steps,
    // whatever the CPU time (0: by the CPU time)
    std::uint64_t alternate_every = 0;
};

class simulation {
public:
    // Builds the runtime network (connectivity, state, initial values). The spec must
    // have passed validate(); threads = 0 uses spec.simulation.threads. `parts` pins the
    // number of parts of the partition (0: one per worker); results do not depend on it.
    // `building` (may be empty) hears of each projection once, in order, on the calling
    // thread: as that thread takes the projection's first part, or, where the other
    // workers built all its parts, once the last part has been taken. For progress
    // output on large networks.
    using build_progress = std::function<void(std::size_t done, std::size_t total, const std::string& projection)>;
    simulation(const network_spec& spec, const model_registry& models, int threads = 0, std::size_t parts = 0,
               const build_progress& building = {});
    ~simulation();
    simulation(const simulation&) = delete;
    simulation& operator=(const simulation&) = delete;

    // Runs `steps` steps. `stop` (may be null) is polled every step; when set the run
    // ends after the current step. `progress` (may be null) is called now and then with
    // the fraction done.
    run_stats run(std::uint64_t steps, observer* obs, const std::atomic<bool>* stop = nullptr,
                  const std::function<void(double)>& progress = {});

    // Time each phase of the step on each worker in the runs that follow (run_stats::profile).
    // Results are the same; the clock reads cost a few percent on a small network (about
    // three per part and step; docs/performance.md, "Where the time goes").
    void set_profiling(bool on);
    bool profiling() const;
    // When the workers go on alone (stall_policy); the default is the spec's
    // simulation.step_alone (stall_policy{} unless the file says otherwise). The next
    // run starts together. Throws engram::error naming the field where window_s or retry_s
    // is not positive, min_share is outside [0, 1] or max_retry_s is below retry_s.
    void set_stall_policy(const stall_policy& p);

    // When runs move the cuts between parts (balance_policy); the default, enabled where
    // the file sets simulation.rebalance: true. Throws engram::error naming the field
    // where window_s is not positive, min_gain is negative or min_cpu_share is outside
    // [0, 1].
    void set_balance_policy(const balance_policy& p);
    // Moves the cuts between parts now, part k taking shares[k] / their sum of the work
    // (balance_contiguous; empty: the cuts as built), where the simulation can (workers a
    // step apart, and models that can lay their neurons out anew): false where it cannot
    // or nothing moved. The same spikes follow.
    bool rebalance(const std::vector<double>& shares);

    std::uint64_t current_step() const;
    double dt() const;
    std::size_t synapse_count() const;
    std::size_t synapse_count(std::size_t projection) const;
    const network_spec& spec() const;
    // The instantiated synapses of a projection, ordered by presynaptic neuron then target
    // (for tests, exporters and backends: exactly the network that is simulated).
    synapse_list synapses(std::size_t projection) const;
    // Weights of a projection in the order of synapses(j), and back (plastic projections,
    // or projections whose weights are stored per synapse): save and restore learned
    // weights between trials.
    std::vector<float> weights(std::size_t projection) const;
    void set_weights(std::size_t projection, const std::vector<float>& w);
    bool plastic(std::size_t projection) const;
    // Value of modulator m (spec.modulators order) after the last step.
    double modulator_value(std::size_t m) const;
    // Back to the initial state between trials: state variables re-drawn as at the start,
    // models' internal state reset, pending inputs and spikes dropped, plasticity traces
    // and modulators reset. Weights and the step count are kept; keep_traces keeps the
    // plasticity traces too (the next trial pairs with the last one's spikes).
    void reset_state(bool keep_traces = false);
    // Memory held by the connectivity (CSR rows, and direct projections' row starts by
    // source and part), in bytes.
    std::size_t connectivity_bytes() const;
    // A state variable of a population, one value per neuron (float state converted
    // exactly to double).
    std::vector<double> state(std::size_t pop, const std::string& var) const;
    int threads() const;        // what the user asked for
    int workers() const;        // threads actually stepping: fewer for small networks, at most cpus()
    int cpus() const;           // the CPUs this process could use when it was built (usable_cpus)
    std::uint64_t min_neurons_per_worker() const;  // the threshold that applied (simulation.min_neurons_per_thread, or its automatic value)
    // The network's size as the threshold counts it: its neurons plus one per
    // synapses_per_neuron synapses its connectors are expected to make.
    std::uint64_t size_for_workers() const;
    std::size_t parts() const;  // parts of the partition
    const partition& partitioned() const;  // the neurons of each population in each part
    // Whether run() lets the workers run up to a step apart, with no barrier per step:
    // more than one worker, every input a one-step static projection into an exponential
    // synapse, and nothing that reads all parts within a step (modulators, plastic rules,
    // state recorders, a model with shared_step_data).
    bool pipelined() const;
    double build_seconds() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

std::uint64_t steps_for(double duration_ms, double dt_ms);

// Direct projections keep the row starts of all parts interleaved by source, in 32 bits,
// where each part holds fewer synapses than this limit (default and most: 2^32); a
// projection with a larger part reads each part's own 64-bit row starts instead. The
// limit is process-wide and read when a simulation is built; tests lower it to reach the
// second path on small networks. Returns the limit before the call.
std::uint64_t limit_interleaved_row_starts(std::uint64_t synapses_per_part);

// A direct projection whose synapses share one weight gathers its rows of a step into one
// list before adding them (docs/architecture.md, "Gathered rows") where the step has at
// least this many of its rows (default 3); fewer are walked one at a time. Both give the
// same sums in the same order. Process-wide, read when a simulation is built; tests set
// 1 (always) or SIZE_MAX (never) to compare the two. Returns the value before the call.
std::size_t gather_rows_from(std::size_t rows);

}  // namespace engram
