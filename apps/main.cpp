// engram command line: run experiments, summarise results files, list models.
#include <CLI/CLI.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>

#include "engram/ca3/experiment.hpp"
#include "engram/core/background.hpp"
#include "engram/core/config.hpp"
#include "engram/core/engine.hpp"
#include "engram/core/errors.hpp"
#include "engram/core/results.hpp"
#include "engram/core/stats.hpp"
#include "engram/core/units.hpp"
#include "engram/core/version.hpp"
#include "engram/datasets/input.hpp"
#include "engram/lsm/classification.hpp"
#include "engram/neurons/models.hpp"
#include "engram/nir/nir.hpp"
#include "engram/spinnaker2/spinnaker2.hpp"
#include "engram/viz/live.hpp"
#include "engram/viz/plot.hpp"
#include "engram/viz/display.hpp"

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_sigint(int) {
    if (g_stop.load()) std::_Exit(130);  // second Ctrl-C: leave at once
    g_stop.store(true);
}

// Every model engram ships, with the data set source fed through `streams`.
struct app_models {
    std::shared_ptr<engram::input_streams> streams = std::make_shared<engram::input_streams>();
    engram::model_registry registry;
    app_models() {
        engram::register_builtin_models(registry);
        engram::register_dataset_models(registry, streams);
    }
};

std::string with_commas(std::uint64_t n) {
    std::string s = std::to_string(n);
    for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
    return s;
}

// A time in ms for the run summary: up to three decimals, trailing zeros dropped
// ("10000", "0.1", "12.25"), never an exponent (bench/ scripts read it as [0-9.]*).
std::string ms_text(double ms) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", ms);
    std::string s = buf;
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
}

struct run_args {
    std::string experiment, out;
    std::optional<std::uint64_t> seed;
    int threads = 0;
    std::vector<std::string> sets;
    bool quiet = false;
    bool profile = false;  // --profile: time each phase of the step on each worker
    bool live = false;  // --live: draw the run in a window (engram::viz)
    engram::viz::live_options live_opt;
    std::string live_size;
    std::string backend = "float";  // --backend: float (or engine) or spinnaker2 (target model)
};

// An experiment with a `classification` section: trials per sample, features, readout.
int classification_command(const run_args& a, const engram::experiment& ex, app_models& models) {
    using namespace engram;
    lsm::classification_options o;
    o.experiment = a.experiment;
    o.overrides = a.sets;
    if (a.seed) o.overrides.push_back("simulation.seed=" + std::to_string(*a.seed));
    o.output = a.out;
    o.workers = a.threads > 0 ? a.threads : ex.spec.simulation.threads;
    o.quiet = a.quiet;
    if (!a.quiet)
        std::printf("engram %s: %s (classification, seed %llu, %d worker%s)\n", version_string, a.experiment.c_str(),
                    static_cast<unsigned long long>(ex.spec.simulation.seed), o.workers, o.workers == 1 ? "" : "s");
    const auto rep = lsm::run_classification(o, models.registry, *models.streams);
    if (!a.quiet) {
        std::printf("\n%-8s %8s %9s %10s %9s %9s\n", "set", "samples", "accuracy", "branching", "rate Hz", "wall s");
        for (const auto& s : rep.sets)
            std::printf("%-8s %8zu %8.2f%% %10.3f %9.2f %9.1f\n", s.name.c_str(), s.samples, 100 * s.accuracy, s.branching,
                        s.mean_rate_hz, s.seconds);
        if (rep.init_samples) std::printf("initialisation: %zu samples in %.1f s\n", rep.init_samples, rep.init_seconds);
        std::printf("readout trained in %.1f s%s; total %.1f s\n", rep.readout_seconds,
                    rep.best_epoch > 0 ? (" (best epoch " + std::to_string(rep.best_epoch) + ")").c_str() : "", rep.total_seconds);
        std::printf("test confusion matrix (rows: true class):\n");
        for (const auto& row : rep.confusion) {
            for (auto v : row) std::printf(" %5lld", static_cast<long long>(v));
            std::printf("\n");
        }
        std::printf("wrote %s\n", rep.output.c_str());
    }
    return 0;
}


// "1280x800" -> width, height; throws engram::error naming the option.
void parse_size(const std::string& option, const std::string& text, unsigned& w, unsigned& h) {
    unsigned a = 0, b = 0;
    char x = 0, extra = 0;
    if (std::sscanf(text.c_str(), "%u%c%u%c", &a, &x, &b, &extra) != 3 || (x != 'x' && x != 'X') || a < 300 ||
        b < 200 || a > 8192 || b > 8192)
        throw engram::error(option + " '" + text +
                            "': expected WIDTHxHEIGHT in pixels, e.g. 1280x800 (300x200 to 8192x8192)");
    w = a;
    h = b;
}

// A time for --from/--to: "250" (ms) or a quantity such as "1.5 s".
double parse_time_ms(const std::string& option, const std::string& text) {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (end != text.c_str() && *end == '\0') return v;
    try {
        return engram::parse_as(text, engram::dimension::time);
    } catch (const std::exception& e) {
        throw engram::error(option + " '" + text + "': " + e.what());
    }
}

// engram run --backend spinnaker2: maps the network (docs/spinnaker2.md), runs the
// target model tick by tick (every spike through the routing tables) next to the float
// engine at dt = tick, and writes the target's spikes like a float run, plus the tables
// /spinnaker2/comparison (one row per neuron population) and /spinnaker2/summary.
int spinnaker2_run(const run_args& a, const engram::experiment& ex, app_models& models) {
    using namespace engram;
    if (a.live) throw error("--live draws the float engine only; it cannot be used with --backend spinnaker2");
    std::string out = a.out.empty() ? ex.spec.simulation.output : a.out;
    if (out.empty()) out = std::filesystem::path(a.experiment).stem().string() + ".h5";
    const auto t0 = std::chrono::steady_clock::now();
    const s2::map_options opt = s2::read_map_options(ex);
    const bool tty = !a.quiet && isatty(STDOUT_FILENO);
    if (!a.quiet)
        std::printf("engram %s: %s on the SpiNNaker2 target model (machine %s, tick %g ms, %g MHz, %g ms)\n", version_string,
                    a.experiment.c_str(), opt.machine.name.c_str(), opt.machine.tick_ms, opt.machine.clock_hz * 1e-6,
                    ex.spec.simulation.duration);
    const s2::network_map m = s2::map_network(ex, models.registry, opt, [&](const std::string& stage) {
        if (!tty) return;
        std::printf("\r%-70s\r%s...", "", stage.c_str());
        std::fflush(stdout);
    });
    if (tty) std::printf("\r%-70s\r", "");
    if (!a.quiet) {
        std::printf("mapped onto %zu PEs on %zu chip%s in %.2f s\n", m.pes_used(), m.chips_used(), m.chips_used() == 1 ? "" : "s",
                    m.map_seconds);
        for (const auto& n : m.notes) std::printf("note: %s\n", n.c_str());
    }
    const s2::target_options topt;
    const s2::target_result r = s2::run_target(m, models.registry, topt);

    results_writer writer(out, m.spec, ex.resolved_yaml, &models.registry);
    const std::size_t n_pops = m.spec.populations.size();
    std::vector<std::size_t> pos(n_pops, 0);
    std::vector<std::uint32_t> ids;
    for (std::uint64_t t = 1; t <= r.ticks; ++t) {
        for (std::size_t p = 0; p < n_pops; ++p) {
            const auto& sp = r.spikes[p];
            ids.clear();
            for (; pos[p] < sp.size() && sp[pos[p]].first == t; ++pos[p]) ids.push_back(sp[pos[p]].second);
            if (!ids.empty()) writer.on_spikes(t, p, ids.data(), ids.size());
        }
        writer.on_step(t);
    }
    std::vector<std::uint64_t> pop_index, spikes_f, spikes_t;
    std::vector<double> rate_f, rate_t, rate_err, vr;
    std::string names;
    for (const auto& c : r.comparison) {
        pop_index.push_back(m.spec.population_index(c.population));
        names += (names.empty() ? "" : ", ") + c.population;
        rate_f.push_back(c.rate_float_hz);
        rate_t.push_back(c.rate_target_hz);
        rate_err.push_back(c.rate_error);
        vr.push_back(c.van_rossum);
        spikes_f.push_back(c.spikes_float);
        spikes_t.push_back(c.spikes_target);
    }
    using col = results_writer::column;
    auto one = [](double v) { return std::vector<double>{v}; };
    auto one_u = [](std::uint64_t v) { return std::vector<std::uint64_t>{v}; };
    writer.add_table("spinnaker2", {});
    writer.add_table("spinnaker2/comparison",
                     {col{"population", pop_index, "index into /spikes' populations in experiment order: " + names},
                      col{"rate_float", rate_f, "Hz"}, col{"rate_target", rate_t, "Hz"},
                      col{"rate_error", rate_err, "relative to the float rate"},
                      col{"van_rossum", vr, "per neuron sqrt(D^2 / mean spike count), tau " + std::to_string(topt.distance_tau_ms) + " ms"},
                      col{"spikes_float", spikes_f, ""}, col{"spikes_target", spikes_t, ""}});
    std::vector<col> summary{col{"ticks", one_u(r.ticks), ""},
                             col{"tick", one(m.machine.tick_ms), "ms"},
                             col{"clock", one(m.machine.clock_hz), "Hz"},
                             col{"pes", one_u(m.pes_used()), ""},
                             col{"chips", one_u(m.chips_used()), ""},
                             col{"max_pe_cycles", one(r.max_pe_cycles), "cycles per tick"},
                             col{"mean_pe_cycles", one(r.mean_pe_cycles), "cycles per tick"},
                             col{"budget_cycles", one(m.machine.cycles_per_tick_budget()), "cycles per tick"},
                             col{"ticks_over_budget", one_u(r.ticks_over_budget), ""},
                             col{"real_time", one_u(r.real_time ? 1 : 0), "1 = every PE within budget every tick"},
                             col{"synaptic_events", one_u(r.synaptic_events), ""},
                             col{"packets", one_u(r.packets), ""},
                             col{"link_packets", one_u(r.link_packets), "chip-to-chip hops"},
                             col{"max_link_packets_per_tick", one_u(r.max_link_packets_per_tick), ""},
                             col{"energy", one(r.energy_j), "J"},
                             col{"wall_seconds", one(r.wall_seconds), "s"},
                             col{"float_seconds", one(r.float_seconds), "s"}};
    for (const auto& [k, e] : r.energy_breakdown_j) summary.push_back(col{"energy_" + k, one(e), "J"});
    writer.add_table("spinnaker2/summary", summary);
    {
        std::vector<double> cyc(r.tick_max_pe_cycles.begin(), r.tick_max_pe_cycles.end());
        std::vector<std::uint64_t> tick(r.tick_max_pe_cycles.size());
        for (std::size_t i = 0; i < tick.size(); ++i) tick[i] = i;
        writer.add_table("spinnaker2/ticks",
                         {col{"tick", tick, "step of the float engine (time tick * dt)"},
                          col{"max_pe_cycles", cyc, "cycles of the busiest PE in this tick"},
                          col{"synaptic_events", r.tick_synaptic_events, "all PEs"},
                          col{"packets", r.tick_packets, "received by all PEs"},
                          col{"max_link_packets", r.tick_max_link_packets, "packets on the busiest chip-to-chip link"}});
        std::vector<std::uint64_t> chip_x, chip_y, pe, pop, first;
        for (const auto& sl : m.slices) {
            const auto xy = m.machine.chips[static_cast<std::size_t>(sl.chip)];
            chip_x.push_back(static_cast<std::uint64_t>(xy.x));
            chip_y.push_back(static_cast<std::uint64_t>(xy.y));
            pe.push_back(static_cast<std::uint64_t>(sl.pe));
            pop.push_back(sl.population);
            first.push_back(sl.begin);
        }
        std::vector<double> pe_max(r.pe_max_cycles.begin(), r.pe_max_cycles.end());
        writer.add_table("spinnaker2/pes",
                         {col{"chip_x", chip_x, ""}, col{"chip_y", chip_y, ""}, col{"pe", pe, ""},
                          col{"population", pop, "index into /spikes' populations"}, col{"first_neuron", first, ""},
                          col{"synaptic_events", r.pe_synaptic_events, "over the run"},
                          col{"packets", r.pe_packets, "received over the run"},
                          col{"max_cycles", pe_max, "cycles in its busiest tick"}});
        std::vector<std::uint64_t> lx, ly, ll, lp;
        for (std::size_t i = 0; i < r.link_use.size(); ++i)
            if (r.link_use[i]) {
                const auto xy = m.machine.chips[i / engram::s2::n_links];
                lx.push_back(static_cast<std::uint64_t>(xy.x));
                ly.push_back(static_cast<std::uint64_t>(xy.y));
                ll.push_back(i % engram::s2::n_links);
                lp.push_back(r.link_use[i]);
            }
        writer.add_table("spinnaker2/links", {col{"chip_x", lx, ""}, col{"chip_y", ly, ""},
                                              col{"link", ll, "0 E, 1 NE, 2 N, 3 W, 4 SW, 5 S"},
                                              col{"packets", lp, "over the run"}});
    }
    const double simulated_ms = static_cast<double>(r.ticks) * m.spec.simulation.dt;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    writer.close(true, simulated_ms, wall);

    if (!a.quiet) {
        std::printf("%-16s %10s %10s %9s %11s\n", "population", "float Hz", "target Hz", "rate err", "van Rossum");
        for (const auto& c : r.comparison)
            std::printf("%-16s %10.3f %10.3f %8.2f%% %11.4f\n", c.population.c_str(), c.rate_float_hz, c.rate_target_hz,
                        100 * c.rate_error, c.van_rossum);
        const double budget = m.machine.cycles_per_tick_budget();
        std::printf("PE cycles per tick: max %.0f of %.0f (%.1f%%), mean %.0f; real time: %s (%llu of %llu ticks over budget)\n",
                    r.max_pe_cycles, budget, budget > 0 ? 100 * r.max_pe_cycles / budget : 0.0, r.mean_pe_cycles,
                    r.real_time ? "yes" : "no", static_cast<unsigned long long>(r.ticks_over_budget),
                    static_cast<unsigned long long>(r.ticks));
        std::printf("traffic: %s packets, %s synaptic events, %s link hops, at most %llu packets on one link in one tick\n",
                    with_commas(r.packets).c_str(), with_commas(r.synaptic_events).c_str(), with_commas(r.link_packets).c_str(),
                    static_cast<unsigned long long>(r.max_link_packets_per_tick));
        std::printf("energy: %.4g J over %s ms (", r.energy_j, ms_text(simulated_ms).c_str());
        bool first = true;
        for (const auto& [k, e] : r.energy_breakdown_j) {
            std::printf("%s%s %.3g J", first ? "" : ", ", k.c_str(), e);
            first = false;
        }
        std::printf(")\n");
        std::printf("wall: target model %.3f s, float engine at dt = tick %.3f s (ratio %.2f); mapping %.2f s\n", r.wall_seconds,
                    r.float_seconds, r.float_seconds > 0 ? r.wall_seconds / r.float_seconds : 0.0, m.map_seconds);
        std::printf("wrote %s\n", out.c_str());
    }
    return 0;
}

// --profile: the /profile table of the results file, one row per worker, in seconds.
void write_profile(engram::results_writer& w, const std::vector<engram::worker_profile>& prof) {
    std::vector<std::int64_t> worker;
    std::vector<double> update, deliver, plasticity, record, wait;
    for (std::size_t i = 0; i < prof.size(); ++i) {
        worker.push_back(static_cast<std::int64_t>(i));
        update.push_back(prof[i].update);
        deliver.push_back(prof[i].deliver);
        plasticity.push_back(prof[i].plasticity);
        record.push_back(prof[i].record);
        wait.push_back(prof[i].wait);
    }
    w.add_table("profile", {{"worker", worker, ""},
                            {"update", update, "s"},
                            {"deliver", deliver, "s"},
                            {"plasticity", plasticity, "s"},
                            {"record", record, "s"},
                            {"wait", wait, "s"}});
}

// --profile: where each worker's run loop went, in seconds and as shares of the loop.
void print_profile(const std::vector<engram::worker_profile>& prof, double loop_s, bool cuts_moved) {
    std::printf("where the run loop went (--profile; %zu worker%s, %.3f s each):\n", prof.size(), prof.size() == 1 ? "" : "s", loop_s);
    std::printf("%-8s %16s %16s %16s %16s %16s\n", "worker", "update", "deliver", "plasticity", "record", "wait");
    const double to_pct = loop_s > 0 ? 100.0 / loop_s : 0.0;
    for (std::size_t i = 0; i < prof.size(); ++i) {
        const auto& p = prof[i];
        std::printf("%-8zu", i);
        for (double x : {p.update, p.deliver, p.plasticity, p.record, p.wait}) std::printf(" %8.3f s %5.1f%%", x, x * to_pct);
        std::printf("\n");
    }
    // The parts hold equal shares of the neurons (and, on average, of the synapses): a
    // worker that needs longer for the same work runs on a slower or busier core, and the
    // others wait for it at every step.
    // Where the cuts moved to the workers' speeds (simulation.rebalance), the shares differ.
    if (prof.size() >= 2 && !cuts_moved) {
        double lo = 0.0, hi = 0.0;
        for (std::size_t i = 0; i < prof.size(); ++i) {
            const double x = prof[i].update + prof[i].deliver + prof[i].plasticity;
            lo = i == 0 ? x : std::min(lo, x);
            hi = i == 0 ? x : std::max(hi, x);
        }
        if (lo > 0.0)
            std::printf("update, deliver and plasticity: the slowest worker took %.3f x the fastest one's time for an equal share\n"
                        "of the network (well above 1: unequal or busy cores, which the others wait for every step)\n",
                        hi / lo);
    }
}

int run_command(run_args a) {
    using namespace engram;
    // A window needs a display and the viewer module: say so before anything is built or run.
    if (a.live) viz::require_viewer("engram run --live");
    if (a.profile && a.backend == "spinnaker2")
        throw error("--profile times the float engine's step; --backend spinnaker2 has its own timing (docs/spinnaker2.md)");
    if (!a.live && (!a.live_opt.screenshot.empty() || a.live_opt.close_at_end || !a.live_size.empty()))
        throw error("--screenshot, --live-close and --live-size need --live");
    if (!a.live_size.empty()) parse_size("--live-size", a.live_size, a.live_opt.width, a.live_opt.height);
    if (!(a.live_opt.window_ms > 0)) throw error("--live-window must be a positive time in ms");
    std::vector<std::string> overrides = a.sets;
    if (a.seed) overrides.push_back("simulation.seed=" + std::to_string(*a.seed));
    if (a.threads > 0) overrides.push_back("simulation.threads=" + std::to_string(a.threads));
    const auto t_start = std::chrono::steady_clock::now();
    app_models models;
    const model_registry& registry = models.registry;
    // A .nir file is a NIR graph (docs/nir.md): its Input populations stay silent unless
    // spikes are given, and only simulation.* keys can be set.
    const bool nir_graph = nir::is_nir_path(a.experiment);
    experiment ex = nir_graph ? nir::import_nir_experiment(a.experiment, registry, overrides)
                              : load_experiment(a.experiment, registry, overrides);
    if (a.backend == "spinnaker2") {
        if (ex.classification || ex.input)
            throw error(a.experiment + ": --backend spinnaker2 runs networks without data set input or classification "
                        "(remove the 'input' and 'classification' sections, or use the float engine)");
        return spinnaker2_run(a, ex, models);
    }
    if (ex.classification) {
        if (a.profile) throw error(a.experiment + ": --profile times a plain run, not the trials of a classification experiment");
        return classification_command(a, ex, models);
    }
    std::string input_note;
    const auto input = nir_graph ? nullptr : prepare_input(ex, *models.streams, &input_note);
    const auto& spec = ex.spec;
    std::string out = a.out.empty() ? spec.simulation.output : a.out;
    if (out.empty()) out = std::filesystem::path(a.experiment).stem().string() + ".h5";

    std::uint64_t neurons = 0;
    for (const auto& p : spec.populations) neurons += p.size;
    if (!a.quiet)
        std::printf("engram %s: %s (seed %llu, %d thread%s, dt %g ms, %g ms)\n", version_string, a.experiment.c_str(),
                    static_cast<unsigned long long>(spec.simulation.seed), spec.simulation.threads,
                    spec.simulation.threads == 1 ? "" : "s", spec.simulation.dt, spec.simulation.duration);
    if (input && !a.quiet) {
        std::printf("input: %s (%s), %zu samples of %g ms + %g ms gap into population '%s'\n", input->dataset().c_str(),
                    input->path().c_str(), input->played(), input->window_ms(), input->gap_ms(), input->population().c_str());
    }
    if (!input_note.empty() && !a.quiet) std::fprintf(stderr, "engram: note: %s\n", input_note.c_str());
    const bool tty_out = !a.quiet && isatty(STDOUT_FILENO);
    simulation sim(spec, registry, 0, 0, [&](std::size_t done, std::size_t total, const std::string& name) {
        if (!tty_out) return;
        std::printf("\rbuilding projection %zu of %zu (%s)...   ", done + 1, total, name.c_str());
        std::fflush(stdout);
    });
    if (tty_out && !spec.projections.empty()) std::printf("\r%60s\r", "");
    if (!a.quiet) {
        std::printf("built %s neurons and %s synapses in %.3f s (%.1f bytes per synapse)\n", with_commas(neurons).c_str(),
                    with_commas(sim.synapse_count()).c_str(), sim.build_seconds(),
                    sim.synapse_count() ? double(sim.connectivity_bytes()) / double(sim.synapse_count()) : 0.0);
        if (spec.simulation.double_precision) std::printf("neuron state and integration in double precision (simulation.precision)\n");
        if (sim.workers() < sim.threads()) {
            if (sim.workers() == sim.cpus())  // the CPUs, not the network, capped the team
                std::printf("note: %d threads asked for, %d used: this process may run on %d CPU%s (of the machine, its affinity mask or its "
                            "cgroup quota), and more workers than CPUs would wait for each other; results are the same\n",
                            sim.threads(), sim.workers(), sim.cpus(), sim.cpus() == 1 ? "" : "s");
            else
                std::printf("note: %d thread%s asked for, %d used: each thread needs a share of at least %s of the network's "
                            "size to gain (simulation.min_neurons_per_thread), and its size is %s (its neurons, plus one per "
                            "%llu synapses); results are the same\n",
                            sim.threads(), sim.threads() == 1 ? "" : "s", sim.workers(),
                            with_commas(sim.min_neurons_per_worker()).c_str(), with_commas(sim.size_for_workers()).c_str(),
                            static_cast<unsigned long long>(synapses_per_neuron));
        }
    }

    sim.set_profiling(a.profile);
    results_writer writer(out, spec, ex.resolved_yaml, &registry);
    spike_summary summary(spec);
    observer_list recorders;
    recorders.add(&writer);
    recorders.add(&summary);
    // A core that no worker uses converts and writes the spikes and keeps the statistics
    // meanwhile; with every core stepping, a thread of its own would only take turns with
    // a worker, so the workers record. Not with data set input: its readers may call HDF5
    // during the run (SHD, SSC), and HDF5 is not thread-safe.
    std::optional<background_observer> behind;
    if (!input && sim.workers() < sim.cpus())
        behind.emplace(recorders);
    observer* recording = behind ? static_cast<observer*>(&*behind) : &recorders;

    std::signal(SIGINT, on_sigint);
    std::signal(SIGTERM, on_sigint);
    const bool tty = !a.quiet && isatty(STDOUT_FILENO);
    auto last = std::chrono::steady_clock::now();
    const auto t_run = last;
    const double total_ms = spec.simulation.duration;
    auto progress = [&](double f) {
        if (!tty) return;
        const auto now = std::chrono::steady_clock::now();
        if (f < 1.0 && now - last < std::chrono::milliseconds(100)) return;
        last = now;
        const double wall = std::chrono::duration<double>(now - t_run).count();
        const int width = 30, done = static_cast<int>(f * width);
        std::printf("\r[%s%s] %5.1f%%  %.0f / %.0f ms  %.2fx realtime ", std::string(static_cast<std::size_t>(done), '#').c_str(),
                    std::string(static_cast<std::size_t>(width - done), ' ').c_str(), 100 * f, f * total_ms, total_ms,
                    wall > 0 ? f * total_ms * 1e-3 / wall : 0.0);
        std::fflush(stdout);
    };
    const std::uint64_t steps = steps_for(spec.simulation.duration, spec.simulation.dt);
    run_stats st;
    viz::live_stats live;
    try {
        if (a.live) {
            // The simulation on its own thread, the window on this one; spikes cross over
            // through the feed's bounded rings, so the run never waits on drawing.
            viz::live_feed feed(spec, a.live_opt.ring_capacity, &g_stop);
            observer_list obs;  // the window's feed beside the recording
            obs.add(recording);
            obs.add(&feed);
            std::atomic<bool> finished{false}, go{false};
            std::exception_ptr failure;
            auto start = [&] {
                go.store(true);
                go.notify_one();
            };
            // Made before the window lowers the main thread's priority; runs once the window is open.
            std::thread worker([&] {
                go.wait(false);
                try {
                    st = sim.run(steps, &obs, &g_stop, progress);
                } catch (...) {
                    failure = std::current_exception();
                }
                finished.store(true);
            });
            try {
                live = viz::run_live_window(
                    spec, feed, a.live_opt, g_stop, [&] { return finished.load(); }, start);
            } catch (...) {
                g_stop.store(true);
                feed.release();
                start();
                worker.join();
                throw;
            }
            worker.join();
            if (failure) std::rethrow_exception(failure);
        } else {
            st = sim.run(steps, recording, &g_stop, progress);
        }
    } catch (...) {
        if (behind) {  // what the run passed on before it failed, into the file first
            try { behind->drain(); } catch (...) {}
        }
        writer.close(false, static_cast<double>(sim.current_step()) * spec.simulation.dt, 0.0);
        throw;
    }
    if (tty) std::printf("\n");
    const double simulated_ms = static_cast<double>(st.steps_done) * spec.simulation.dt;
    if (input) write_samples(writer, *input, spec.simulation.dt, simulated_ms);
    if (!st.profile.empty()) write_profile(writer, st.profile);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    writer.close(!st.interrupted, simulated_ms, wall);

    if (!a.quiet) {
        if (a.live) {
            std::string drawn = live.max_stride > 1
                                    ? "raster thinned to 1 in " + std::to_string(live.max_stride) + " spikes at most"
                                    : "every spike drawn";
            if (live.dropped > 0) drawn += ", " + with_commas(live.dropped) + " spikes not shown (buffer full)";
            std::printf("live window: %llu frames in %.1f s (%.1f per second), %s\n",
                        static_cast<unsigned long long>(live.frames), live.seconds,
                        live.seconds > 0 ? static_cast<double>(live.frames) / live.seconds : 0.0, drawn.c_str());
        }
        if (st.interrupted) std::printf("interrupted at %.1f ms; the results file holds everything up to then\n", simulated_ms);
        std::printf("%-16s %9s %12s %10s %8s\n", "population", "neurons", "spikes", "rate (Hz)", "CV ISI");
        for (std::size_t p = 0; p < spec.populations.size(); ++p) {
            const auto s = summary.stats(p, simulated_ms);
            std::printf("%-16s %9u %12s %10.3f %8.3f\n", spec.populations[p].name.c_str(), spec.populations[p].size,
                        with_commas(s.spikes).c_str(), s.mean_rate_hz, s.cv_isi);
        }
        std::printf("simulated %s ms in %.3f s wall (run loop %.3f s): %.3f s per simulated second, %.2fx realtime\n",
                    ms_text(simulated_ms).c_str(), wall, st.run_seconds, simulated_ms > 0 ? st.run_seconds / (simulated_ms * 1e-3) : 0.0,
                    st.run_seconds > 0 ? simulated_ms * 1e-3 / st.run_seconds : 0.0);
        std::printf("synaptic events: %s (%.1f M/s)\n", with_commas(st.synaptic_events).c_str(),
                    st.run_seconds > 0 ? st.synaptic_events / st.run_seconds * 1e-6 : 0.0);
        rusage ru{};
        getrusage(RUSAGE_SELF, &ru);
        std::printf("peak memory: %.1f MiB\n", ru.ru_maxrss / 1024.0);
        if (st.solo_steps > 0)
            std::printf("note: worker 0 stepped alone for %s of %s steps (%llu time%s): the workers kept waiting for each other's "
                        "time slices, as where other busy threads share the CPUs; the spikes are the same (simulation.step_alone)\n",
                        with_commas(st.solo_steps).c_str(), with_commas(st.steps_done).c_str(),
                        static_cast<unsigned long long>(st.solo_spells), st.solo_spells == 1 ? "" : "s");
        if (st.rebalances > 0)
            std::printf("note: the cuts between the parts moved %llu time%s to the workers' measured speeds (%.1f ms in all); "
                        "the spikes are the same (simulation.rebalance)\n",
                        static_cast<unsigned long long>(st.rebalances), st.rebalances == 1 ? "" : "s", st.rebalance_seconds * 1e3);
        if (st.starved_windows > 0)
            std::printf("note: %s window%s of the workers' times kept the cuts where they were, a worker having had its CPU "
                        "for less than 90%% of the window, as where other busy threads share the CPUs (simulation.rebalance)\n",
                        with_commas(st.starved_windows).c_str(), st.starved_windows == 1 ? "" : "s");
        if (!st.profile.empty()) print_profile(st.profile, st.run_seconds, st.rebalances > 0);
        std::printf("wrote %s\n", out.c_str());
    }
    return st.interrupted ? 130 : 0;
}

struct plot_args {
    std::string file, from, to, size, populations;
    engram::viz::plot_options opt;
};

// engram plot: a results file to PNG (raster and rates, or --state traces), offscreen.
int plot_command(plot_args a) {
    using namespace engram;
    if (!a.from.empty()) a.opt.from = parse_time_ms("--from", a.from);
    if (!a.to.empty()) a.opt.to = parse_time_ms("--to", a.to);
    if (!a.size.empty()) parse_size("--size", a.size, a.opt.width, a.opt.height);
    for (std::size_t i = 0; !a.populations.empty() && i <= a.populations.size();) {
        const auto j = std::min(a.populations.find(',', i), a.populations.size());
        if (j > i) a.opt.populations.push_back(a.populations.substr(i, j - i));
        i = j + 1;
    }
    if (!a.opt.state.empty() && !a.opt.populations.empty()) throw error("--populations and --state exclude each other");
    const std::string out = viz::plot_results(a.file, a.opt);
    std::printf("wrote %s\n", out.c_str());
    return 0;
}

struct export_args {
    std::string format = "nir", experiment, out;
    std::vector<std::string> sets;
    bool strict = false;
};

// engram export --format nir: the network of an experiment (with its instantiated
// connectivity) as a NIR graph.
int export_command(const export_args& a) {
    using namespace engram;
    if (a.format != "nir") throw error("unknown export format '" + a.format + "' (known: nir)");
    app_models models;
    experiment ex = load_experiment(a.experiment, models.registry, a.sets);
    std::string input_note;
    const auto input = prepare_input(ex, *models.streams, &input_note);  // binds a dataset_stream source
    simulation sim(ex.spec, models.registry, 1);
    (void)input;
    const std::string out = a.out.empty() ? std::filesystem::path(a.experiment).stem().string() + ".nir" : a.out;
    nir::export_options opt;
    opt.strict = a.strict;
    const auto rep = nir::export_nir(ex, sim, out, opt);
    for (const auto& w : rep.approximations) std::fprintf(stderr, "engram: warning: NIR approximation: %s\n", w.c_str());
    std::printf("wrote %s (NIR graph: %zu nodes, %zu edges%s)\n", out.c_str(), rep.nodes, rep.edges,
                rep.approximations.empty() ? "" : ", with the approximations listed above");
    return 0;
}

struct map_args {
    std::string target = "spinnaker2", experiment, out, machine;
    std::vector<std::string> sets;
    bool quiet = false;
};

// engram map --target spinnaker2: partition, place, route and quantize the network of an
// experiment for a SpiNNaker2 machine and write MAPDIR (docs/spinnaker2.md). A network
// that does not fit throws map_error: exit status 2 with its report.
int map_command(const map_args& a) {
    using namespace engram;
    if (a.target != "spinnaker2") throw error("unknown map target '" + a.target + "' (known: spinnaker2)");
    app_models models;
    experiment ex = load_experiment(a.experiment, models.registry, a.sets);
    s2::map_options opt = s2::read_map_options(ex);
    if (!a.machine.empty()) opt.machine = s2::machine_preset(a.machine);
    const std::string out =
        a.out.empty() ? std::filesystem::path(a.experiment).stem().string() + "_s2" : a.out;
    auto progress = [&](const std::string& stage) {
        if (!a.quiet) std::fprintf(stderr, "engram map: %s\n", stage.c_str());
    };
    const s2::network_map m = s2::map_network(ex, models.registry, opt, progress);
    if (!a.quiet) std::fprintf(stderr, "engram map: writing %s\n", out.c_str());
    const auto written = s2::write_map(m, out);
    std::size_t entries = 0, largest = 0;
    for (const auto& t : m.routers) {
        entries += t.entries.size();
        largest = std::max(largest, t.entries.size());
    }
    std::printf("mapped onto %s: %zu PE%s on %zu of %zu chip%s; router tables %zu entr%s (largest %zu of %u)\n",
                m.machine.name.c_str(), m.pes_used(), m.pes_used() == 1 ? "" : "s", m.chips_used(),
                m.machine.chips.size(), m.machine.chips.size() == 1 ? "" : "s", entries, entries == 1 ? "y" : "ies",
                largest, m.machine.router_entries);
    if (m.random_placement.cost > 0)
        std::printf("placement traffic %.4g, %.3f x that of a random placement\n", m.placed.cost,
                    m.placed.cost / m.random_placement.cost);
    for (const auto& f : written.files) std::printf("wrote %s\n", f.c_str());
    return 0;
}

void print_models() {
    using namespace engram;
    const app_models models;
    for (const auto& m : models.registry.all()) {
        std::printf("%s: %s\n", m.name.c_str(), m.doc.c_str());
        for (const auto& p : m.params) {
            std::string def = p.default_value ? std::to_string(*p.default_value) : p.kind == engram::param_kind::spike_trains ? "none" : "required";
            if (p.default_value && std::isinf(*p.default_value)) def = "inf";
            std::printf("  param %-12s [%s] default %s  %s\n", p.name.c_str(), std::string(internal_unit(p.dim)).c_str(),
                        def.c_str(), p.doc.c_str());
        }
        for (const auto& s : m.state)
            std::printf("  state %-12s [%s]  %s\n", s.name.c_str(), std::string(internal_unit(s.dim)).c_str(), s.doc.c_str());
        for (const auto& r : m.receptors)
            std::printf("  receptor %-9s weight [%s]  %s\n", r.name.c_str(), std::string(internal_unit(r.weight_dim)).c_str(),
                        r.doc.c_str());
        for (std::size_t i = 0; i < m.integrations.size(); ++i)
            std::printf("  integration %-17s %s%s\n", m.integrations[i].first.c_str(), i == 0 ? "(default) " : "",
                        m.integrations[i].second.c_str());
        if (m.make_f64) std::printf("  precision   float (default), double\n");
    }
    auto param_line = [](const engram::param_info& p) {
        const std::string def = p.default_value ? std::to_string(*p.default_value) : "required";
        const std::string unit(internal_unit(p.dim));
        std::printf("  param %-16s [%s] default %s  %s\n", p.name.c_str(), unit.empty() ? "-" : unit.c_str(), def.c_str(), p.doc.c_str());
    };
    for (const auto& r : models.registry.rules()) {
        std::printf("plasticity rule %s: %s\n", r.name.c_str(), r.doc.c_str());
        for (const auto& p : r.params) param_line(p);
        for (const auto& o : r.options) {
            std::string vals;
            for (const auto& v : o.values) vals += (vals.empty() ? "" : " | ") + v;
            std::printf("  option %-15s %s  %s\n", o.name.c_str(), vals.c_str(), o.doc.c_str());
        }
    }
    for (const auto& name : models.registry.modulator_names()) {
        const auto* m = models.registry.find_modulator(name);
        std::printf("modulator %s: %s\n", m->name.c_str(), m->doc.c_str());
        for (const auto& p : m->params) param_line(p);
    }
}

// `engram ca3 FILE.yaml`: the operations of a CA3 memory experiment, their decoded
// answers as a table, and the results file. Exit status 3 when an answer is wrong.
int ca3_command(const std::string& file, const std::string& out_opt, const std::string& backend, bool quiet) {
    auto ex = engram::ca3::load_experiment(file);
    if (!backend.empty()) ex.par.backend = backend == "engine" ? "float" : backend;
    const auto r = engram::ca3::run_experiment(ex);
    std::string out = out_opt.empty() ? ex.output : out_opt;
    if (out.empty()) out = std::filesystem::path(file).stem().string() + ".h5";
    engram::ca3::write_results(out, ex, r);
    if (!quiet) {
        engram::ca3::print_table(std::cout, ex, r);
        std::cout << "wrote " << out << "\n";
    }
    return r.n_correct == ex.ops.size() ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"engram: an event-driven simulator for spiking neural networks"};
    {
        // the version, and which hand-written float kernels this build runs (models.hpp)
        const int bits = engram::kernel_vector_bits();
        app.set_version_flag("--version", std::string(engram::version_string) + "\nfloat LIF kernels: " +
                                              (bits == 512 ? "AVX-512, 16 neurons per vector"
                                               : bits == 256 ? "AVX2, 8 neurons per vector"
                                                             : "the compiler's vectorised loops"));
    }
    app.require_subcommand(1);

    run_args ra;
    auto* run = app.add_subcommand("run", "run an experiment file and write an HDF5 results file");
    run->add_option("experiment", ra.experiment, "experiment YAML file, or a NIR graph (.nir)")->required();
    run->add_option("-o,--out", ra.out, "results file (default: simulation.output or <experiment>.h5)");
    run->add_option("--seed", ra.seed, "random seed (overrides simulation.seed)");
    run->add_option("--threads", ra.threads, "worker threads (overrides simulation.threads)");
    run->add_option("--set", ra.sets, "override a key by its dotted path, e.g. --set simulation.duration=\"10 s\" (repeatable)")
        ->allow_extra_args(false);
    run->add_flag("-q,--quiet", ra.quiet, "print nothing but errors");
    run->add_flag("--profile", ra.profile,
                  "time each phase of the step (update, deliver, plasticity, record, wait) on each worker; printed after the run "
                  "and written to the results file's /profile table (docs/performance.md)");
    run->add_option("--backend", ra.backend,
                    "float (the float engine, default; also 'engine') or spinnaker2 (map the network and run the fixed-point "
                    "target model, compared with the float engine; docs/spinnaker2.md)")
        ->check(CLI::IsMember({"float", "engine", "spinnaker2"}));
    run->add_flag("--live", ra.live,
                  "draw the run in a window while it goes: spike raster, population rates, status line "
                  "(keys: space pause, +/- time window, wheel/PgUp/PgDn zoom, up/down scroll, s save PNG, q quit; "
                  "needs a display, docs/visualisation.md)");
    run->add_option("--live-window", ra.live_opt.window_ms, "with --live: time shown, in ms (default 1000)");
    run->add_option("--live-size", ra.live_size, "with --live: window size WIDTHxHEIGHT (default 1280x800)");
    run->add_option("--live-fps", ra.live_opt.fps, "with --live: frames per second at most (default 30)")
        ->check(CLI::Range(1, 240));
    run->add_flag("--live-close", ra.live_opt.close_at_end, "with --live: close the window when the run ends");
    run->add_option("--screenshot", ra.live_opt.screenshot,
                    "with --live: save the window as PNG when the run ends, then close it");

    plot_args pa;
    auto* plot =
        app.add_subcommand("plot", "render a results file to PNG: spike raster with population rates, or state traces");
    plot->add_option("file", pa.file, "results file (.h5)")->required();
    plot->add_option("-o,--out", pa.opt.out,
                     "PNG file (default: beside FILE, FILE with .png for .h5, or FILE_POP_VAR.png with --state)");
    plot->add_option("--from", pa.from, "start of the time range: ms, or a time such as \"1.5 s\" (default 0)");
    plot->add_option("--to", pa.to, "end of the time range (default: the end of the run)");
    plot->add_option("--populations", pa.populations,
                     "populations to show, in this order, comma-separated (default: all)");
    plot->add_option("--state", pa.opt.state, "plot the recorded traces /report/POP/VAR instead, e.g. neuron/v");
    plot->add_option("--size", pa.size, "image size WIDTHxHEIGHT (default 1200x800)");
    plot->add_option("--bin", pa.opt.bin_ms, "rate bin in ms (default: about 200 bins over the range)");

    std::string info_file;
    auto* info = app.add_subcommand("info", "summarise a results file");
    info->add_option("file", info_file, "results file (.h5)")->required();

    export_args ea;
    auto* exp = app.add_subcommand("export", "write the network of an experiment in another format (NIR)");
    exp->add_option("--format", ea.format, "output format (nir)")->check(CLI::IsMember({"nir"}));
    exp->add_option("experiment", ea.experiment, "experiment YAML file")->required();
    exp->add_option("-o,--out", ea.out, "output file (default: <experiment>.nir)");
    exp->add_flag("--strict", ea.strict, "refuse to write an approximation (refractory periods, conductances, ...)");
    exp->add_option("--set", ea.sets, "override a key by its dotted path (repeatable)")->allow_extra_args(false);

    map_args ma;
    auto* map = app.add_subcommand("map", "map an experiment's network onto a SpiNNaker2 machine and write MAPDIR (docs/spinnaker2.md)");
    map->add_option("--target", ma.target, "target machine family (spinnaker2)")->check(CLI::IsMember({"spinnaker2"}));
    map->add_option("experiment", ma.experiment, "experiment YAML file")->required();
    map->add_option("-o,--out", ma.out, "map directory (default: <experiment>_s2)");
    map->add_option("--machine", ma.machine, "machine preset, overriding spinnaker2.machine (chip, board48)")
        ->check(CLI::IsMember({"chip", "board48"}));
    map->add_option("--set", ma.sets, "override a key by its dotted path (repeatable)")->allow_extra_args(false);
    map->add_flag("-q,--quiet", ma.quiet, "no progress lines");

    auto* models = app.add_subcommand("models", "list the neuron and source models, plasticity rules and modulators with their parameters");

    std::string ca3_file, ca3_out, ca3_backend;
    bool ca3_quiet = false;
    auto* ca3 = app.add_subcommand("ca3", "run a CA3 content-addressable memory experiment (docs/ca3.md)");
    ca3->add_option("experiment", ca3_file, "CA3 experiment YAML file (a 'ca3' section with operations)")->required();
    ca3->add_option("-o,--out", ca3_out, "results file (default: ca3.output or <experiment>.h5)");
    ca3->add_option("--backend", ca3_backend, "float (the float engine; also 'engine') or spinnaker2 (the SpiNNaker2 target model) (default: ca3.backend, float)")
        ->check(CLI::IsMember({"float", "engine", "spinnaker2"}));
    ca3->add_flag("-q,--quiet", ca3_quiet, "print nothing but errors");

    CLI11_PARSE(app, argc, argv);
    try {
        if (run->parsed()) return run_command(ra);
        if (exp->parsed()) return export_command(ea);
        if (map->parsed()) return map_command(ma);
        if (plot->parsed()) return plot_command(pa);
        if (info->parsed()) { std::cout << engram::describe_results(info_file); return 0; }
        if (models->parsed()) { print_models(); return 0; }
        if (ca3->parsed()) return ca3_command(ca3_file, ca3_out, ca3_backend, ca3_quiet);
    } catch (const engram::error& e) {
        std::fprintf(stderr, "engram: error: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "engram: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
