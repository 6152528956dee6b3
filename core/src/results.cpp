#include "engram/core/results.hpp"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <optional>
#include <set>
#include <sstream>

#include "engram/core/errors.hpp"
#include "engram/core/hdf5.hpp"
#include "engram/core/version.hpp"

#include <unistd.h>

namespace engram {

namespace {
// Spikes are buffered per population and written a chunk of the dataset at a time
// (16384 values: 128 KiB of times and 128 KiB of ids), as they are, at an offset that is
// a multiple of 128 KiB (the file is created `streamed`): the cheapest write there is,
// which matters where the run's own threads write (every core stepping), since a write
// holds up every worker. Per spike, these writes took 0.63 x the time of 64 KiB chunks
// at unaligned offsets (the kernel's page cache takes an aligned 128 KiB in large pages).
// Where HDF5's POSIX driver holds the file, the values go to their chunk's place past
// HDF5 (h5::chunk_places), queued, and at most pump_bytes of the queue are written a
// step (on_step): a due chunk's times and ids then go out in different steps, rather
// than both at once in the step that filled them (coba_large on 2 workers: 0.98 x the
// run loop).
constexpr std::size_t spike_chunk = 16384;
constexpr std::size_t flush_values = 1 << 18;  // buffered state values per variable
constexpr std::size_t pump_bytes = spike_chunk * sizeof(double);
// Chunks queued at most: a run that fills more than pump_bytes a step writes the oldest
// at once (2 MiB of buffers at most).
constexpr std::size_t max_queued = 8;

// Writes n bytes at `at` in fd, through short writes and interrupted calls.
void write_at(int fd, std::uint64_t at, const void* data, std::size_t n, const std::string& file) {
    const auto* p = static_cast<const unsigned char*>(data);
    while (n > 0) {
        const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(at));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) throw io_error(file, "write", std::string("spike chunk: ") + (w < 0 ? std::strerror(errno) : "nothing written") + " (disk full?)");
        p += w;
        at += static_cast<std::uint64_t>(w);
        n -= static_cast<std::size_t>(w);
    }
}
}  // namespace

struct results_writer::impl {
    std::string path, tmp;
    double dt = 0.1;
    h5::handle file;
    h5::space_ahead ahead;  // disk space taken ahead of the spike chunks
    struct spike_stream {
        bool recorded = false;
        bool raw = false;  // the datasets store doubles and uint64 as in memory
        h5::handle times, ids;
        // where the values go past HDF5 (see pump); empty: they go through append_chunked
        std::optional<h5::chunk_places> t_at, n_at;
        std::vector<double> t;
        std::vector<std::uint64_t> n;
        std::uint64_t rows = 0;  // spikes written (or queued, past HDF5)
        std::uint64_t written = 0;  // past HDF5: spikes whose times and ids are in the file
        // buffered spikes at which the file would reach the next chunk boundary
        std::size_t due() const { return spike_chunk - static_cast<std::size_t>(rows % spike_chunk); }
    };
    struct var_stream {
        h5::handle data;
        std::vector<float> buf;
        std::size_t cols = 0;
    };
    std::vector<spike_stream> spikes;
    // Spike values on their way to the file past HDF5: whole chunks (or the rest of
    // one), each stream's times, then its ids, written pump_bytes a step by on_step.
    struct queued {
        spike_stream* s = nullptr;
        std::vector<double> t;
        std::vector<std::uint64_t> n;
        std::uint64_t t_at = 0, n_at = 0;  // file offsets
        std::size_t done = 0;  // bytes written, of t then n
    };
    int fd = -1;
    std::deque<queued> queue;
    std::vector<queued> spare;  // written, their buffers kept
    std::vector<std::vector<var_stream>> reports;  // [recorder][variable]
    std::vector<std::vector<std::string>> time_datasets;  // mapping/time per recorder variable
    bool closed = false;

    // Both datasets or neither: a failed write leaves them as they were.
    void write_spikes(spike_stream& s, const double* t, const std::uint64_t* n, std::size_t count) {
        const std::size_t before = h5::length(s.times);
        h5::append_chunked(s.times, H5T_NATIVE_DOUBLE, t, count, sizeof(double), spike_chunk, s.raw, tmp);
        try {
            h5::append_chunked(s.ids, H5T_NATIVE_UINT64, n, count, sizeof(std::uint64_t), spike_chunk, s.raw, tmp);
        } catch (...) {
            try { h5::truncate(s.times, before, tmp); } catch (...) {}
            throw;
        }
    }
    // Up to `budget` bytes of the queue to the file (everything where budget is SIZE_MAX),
    // oldest first. With pump_bytes a step, a due chunk's times and ids go out in two
    // steps, and chunks of several populations due at once in as many more: where the
    // run's own workers record (every core stepping), each write holds up every worker.
    void pump(std::size_t budget) {
        while (budget > 0 && !queue.empty()) {
            queued& q = queue.front();
            const std::size_t tb = q.t.size() * sizeof(double), nb = q.n.size() * sizeof(std::uint64_t);
            const bool in_t = q.done < tb;
            const std::size_t from = in_t ? q.done : q.done - tb, len = std::min(budget, (in_t ? tb : nb) - from);
            if (in_t) write_at(fd, q.t_at + from, reinterpret_cast<const unsigned char*>(q.t.data()) + from, len, tmp);
            else write_at(fd, q.n_at + from, reinterpret_cast<const unsigned char*>(q.n.data()) + from, len, tmp);
            q.done += len;
            budget -= len;
            if (q.done == tb + nb) {
                q.s->written += q.t.size();
                q.t.clear();
                q.n.clear();
                q.done = 0;
                spare.push_back(std::move(q));
                queue.pop_front();
            }
        }
    }
    // Queues stream s's first w buffered spikes (they fit in the chunk at s.rows).
    void enqueue(spike_stream& s, std::size_t w) {
        while (queue.size() >= max_queued) {
            const queued& f = queue.front();
            pump(f.t.size() * sizeof(double) + f.n.size() * sizeof(std::uint64_t) - f.done);
        }
        queued q;
        if (!spare.empty()) {
            q = std::move(spare.back());
            spare.pop_back();
        } else {
            q.t.reserve(spike_chunk);
            q.n.reserve(spike_chunk);
        }
        q.s = &s;
        q.t_at = s.t_at->place(s.rows);
        q.n_at = s.n_at->place(s.rows);
        // the buffers go to the queue as they are; the spikes past w start the next ones
        q.t.assign(s.t.begin() + static_cast<std::ptrdiff_t>(w), s.t.end());
        q.n.assign(s.n.begin() + static_cast<std::ptrdiff_t>(w), s.n.end());
        s.t.resize(w);
        s.n.resize(w);
        std::swap(q.t, s.t);
        std::swap(q.n, s.n);
        s.rows += w;
        queue.push_back(std::move(q));
    }
    // Writes the buffered spikes up to the last chunk boundary they reach, or all of
    // them (`all`: the periodic flush and close); the rest stays buffered.
    void flush_spike(spike_stream& s, bool all) {
        if (s.t_at) {
            // past HDF5: queued a chunk at a time, written by pump (at once where `all`)
            if (!all) {
                while (s.t.size() >= s.due()) {
                    ahead.ensure(file, 2 * spike_chunk * (sizeof(double) + sizeof(std::uint64_t)));
                    enqueue(s, s.due());
                }
                return;
            }
            if (!s.t.empty()) enqueue(s, s.t.size());
            return;
        }
        std::size_t w = s.t.size();
        if (!all) {
            const std::size_t due = s.due();
            if (w < due) return;
            w = due + (w - due) / spike_chunk * spike_chunk;
        }
        if (w == 0) return;
        // space ahead for the whole chunks (the periodic flush and close write what is
        // left: a short run takes none, and has none to give back)
        if (!all) ahead.ensure(file, w * (sizeof(double) + sizeof(std::uint64_t)));
        write_spikes(s, s.t.data(), s.n.data(), w);  // on failure the spikes stay buffered
        s.rows += w;
        s.t.erase(s.t.begin(), s.t.begin() + static_cast<std::ptrdiff_t>(w));
        s.n.erase(s.n.begin(), s.n.begin() + static_cast<std::ptrdiff_t>(w));
    }
    // The spike datasets written past HDF5 take the length of what is in the file.
    void settle() {
        for (auto& s : spikes)
            if (s.t_at) {
                s.t_at->set_length(s.written);
                s.n_at->set_length(s.written);
            }
    }
    void flush_var(var_stream& v) {
        if (v.buf.empty() || !v.cols) {
            v.buf.clear();
            return;
        }
        h5::append(v.data, H5T_NATIVE_FLOAT, v.buf.data(), v.buf.size() / v.cols, v.cols, tmp);
        v.buf.clear();
    }
    void flush_all() {
        for (auto& s : spikes) if (s.recorded) flush_spike(s, true);
        try {
            pump(SIZE_MAX);
        } catch (...) {
            settle();  // the datasets end where their values do; the rest stays queued
            throw;
        }
        settle();
        for (auto& r : reports) for (auto& v : r) flush_var(v);
        if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) throw io_error(tmp, "flush", "HDF5 flush failed (disk full?)");
    }
};

results_writer::results_writer(const std::string& path, const network_spec& spec,
                               const std::string& experiment_yaml, const model_registry* models)
    : impl_(std::make_unique<impl>()) {
    auto& m = *impl_;
    m.path = path;
    m.tmp = path + ".tmp";
    m.dt = spec.simulation.dt;
    if (auto dir = std::filesystem::path(path).parent_path(); !dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
    }
    m.file = h5::create_file(m.tmp, true);
    h5::write_attr(m.file, "engram_version", std::string(version_string), m.tmp);
    h5::write_attr(m.file, "seed", spec.simulation.seed, m.tmp);
    h5::write_attr(m.file, "dt_ms", spec.simulation.dt, m.tmp);
    h5::write_attr(m.file, "duration_ms", spec.simulation.duration, m.tmp);
    h5::write_attr(m.file, "threads", static_cast<std::int64_t>(spec.simulation.threads), m.tmp);
    h5::write_attr(m.file, "precision", std::string(spec.simulation.double_precision ? "double" : "float"), m.tmp);
    h5::write_attr(m.file, "experiment", experiment_yaml, m.tmp);
    h5::write_attr(m.file, "complete", std::int64_t{0}, m.tmp);

    m.fd = h5::posix_descriptor(m.file);
    auto spikes_grp = h5::create_group(m.file, "spikes", m.tmp);
    m.spikes.resize(spec.populations.size());
    for (const auto& name : spec.spike_recorders) {
        const std::size_t p = spec.population_index(name);
        auto& s = m.spikes[p];
        s.recorded = true;
        auto g = h5::create_group(spikes_grp, name, m.tmp);
        h5::write_attr(g, "sorting", std::string("by_time"), m.tmp);
        h5::write_attr(g, "size", static_cast<std::int64_t>(spec.populations[p].size), m.tmp);
        h5::write_attr(g, "model", spec.populations[p].model, m.tmp);
        // chunks allocated as the extent reaches them, so that the values can go to their
        // places past HDF5 (they are stored as memory holds them on little-endian hosts)
        s.times = h5::create_extendable(g, "timestamps", H5T_IEEE_F64LE, 0, m.tmp, true);
        h5::write_attr(s.times, "units", std::string("ms"), m.tmp);
        s.ids = h5::create_extendable(g, "node_ids", H5T_STD_U64LE, 0, m.tmp, true);
        if (h5::chunk_length(s.times, m.tmp) != spike_chunk || h5::chunk_length(s.ids, m.tmp) != spike_chunk)
            throw io_error(m.tmp, "create", "spike datasets with chunks of " + std::to_string(spike_chunk) + " values");
        s.raw = h5::stored_as_in_memory(s.times, H5T_NATIVE_DOUBLE) && h5::stored_as_in_memory(s.ids, H5T_NATIVE_UINT64);
        if (s.raw && m.fd >= 0) {
            s.t_at.emplace(s.times, spike_chunk, sizeof(double), m.tmp);
            s.n_at.emplace(s.ids, spike_chunk, sizeof(std::uint64_t), m.tmp);
        }
        s.t.reserve(2 * spike_chunk);
        s.n.reserve(2 * spike_chunk);
    }

    if (!spec.state_recorders.empty()) {
        auto report = h5::create_group(m.file, "report", m.tmp);
        for (const auto& rs : spec.state_recorders) {
            const std::size_t p = spec.population_index(rs.population);
            const auto& pop = spec.populations[p];
            const std::string pg = "/report/" + pop.name;
            if (!h5::exists(m.file, pg)) h5::create_group(m.file, pg, m.tmp);
            std::vector<std::uint64_t> ids;
            if (rs.neurons.empty()) for (std::uint32_t i = 0; i < pop.size; ++i) ids.push_back(i);
            else ids.assign(rs.neurons.begin(), rs.neurons.end());
            // the interval actually used: a whole number of steps
            const double dt = spec.simulation.dt;
            const double iv = std::max<double>(1.0, static_cast<double>(std::llround(rs.interval / dt))) * dt;
            m.time_datasets.push_back({});
            std::vector<impl::var_stream> vars;
            for (const auto& var : rs.variables) {
                auto vg = h5::create_group(m.file, pg + "/" + var, m.tmp);
                impl::var_stream vs;
                vs.cols = ids.size();
                vs.data = h5::create_extendable(vg, "data", H5T_IEEE_F32LE, ids.size(), m.tmp);
                h5::write_attr(vs.data, "variable", var, m.tmp);
                if (models)
                    if (const model_info* mi = models->find(pop.model); mi && mi->state_index(var) >= 0)
                        h5::write_attr(vs.data, "units", std::string(internal_unit(mi->state[static_cast<std::size_t>(mi->state_index(var))].dim)), m.tmp);
                auto mg = h5::create_group(vg, "mapping", m.tmp);
                h5::write_vector(mg, "node_ids", ids, m.tmp);
                std::vector<std::uint64_t> ptr(ids.size() + 1);
                for (std::size_t i = 0; i < ptr.size(); ++i) ptr[i] = i;
                h5::write_vector(mg, "index_pointers", ptr, m.tmp);
                h5::write_vector(mg, "element_ids", std::vector<std::uint32_t>(ids.size(), 0), m.tmp);
                h5::write_vector(mg, "time", std::vector<double>{0.0, spec.simulation.duration, iv}, m.tmp);
                m.time_datasets.back().push_back(pg + "/" + var + "/mapping/time");
                vars.push_back(std::move(vs));
            }
            m.reports.push_back(std::move(vars));
        }
    }
    H5Fflush(m.file, H5F_SCOPE_GLOBAL);
}

results_writer::~results_writer() {
    // A writer destroyed without close() (an exception unwound the run) still leaves a
    // readable file under the final name, marked incomplete.
    if (impl_ && !impl_->closed) {
        try { close(false, -1.0, 0.0); } catch (...) {}
    }
}

void results_writer::on_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t count) {
    auto& s = impl_->spikes[pop];
    if (!s.recorded) return;
    const double t = static_cast<double>(step) * impl_->dt;
    s.t.insert(s.t.end(), count, t);
    s.n.insert(s.n.end(), ids, ids + count);
    if (s.t.size() >= s.due()) impl_->flush_spike(s, false);
}

void results_writer::on_sample(std::uint64_t, std::size_t rec, const std::vector<std::vector<float>>& values) {
    auto& vars = impl_->reports[rec];
    for (std::size_t v = 0; v < vars.size(); ++v) {
        vars[v].buf.insert(vars[v].buf.end(), values[v].begin(), values[v].end());
        if (vars[v].buf.size() >= flush_values) impl_->flush_var(vars[v]);
    }
}

void results_writer::on_step(std::uint64_t step) {
    if ((step & ((1u << 14) - 1)) == 0) impl_->flush_all();
    else if (!impl_->queue.empty()) impl_->pump(pump_bytes);
}

void results_writer::close(bool complete, double simulated_ms, double wall_seconds) {
    auto& m = *impl_;
    if (m.closed) return;
    m.closed = true;
    m.flush_all();
    if (simulated_ms >= 0)  // mapping/time = [start, stop, step]: stop is where the run ended
        for (const auto& rec : m.time_datasets)
            for (const auto& path : rec) {
                auto ds = h5::open_dataset(m.file, path, m.tmp);
                double t[3];
                H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, t);
                t[1] = simulated_ms;
                H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, t);
            }
    h5::write_attr(m.file, "complete", std::int64_t{complete ? 1 : 0}, m.tmp);
    if (simulated_ms >= 0) h5::write_attr(m.file, "simulated_ms", simulated_ms, m.tmp);
    h5::write_attr(m.file, "wall_time_s", wall_seconds, m.tmp);
    // Every dataset first: while one is open, H5Fclose only marks the file for closing,
    // and its last metadata (the attributes above, the superblock's end of file) would
    // reach the disk when the writer is destroyed, after the file had taken its final
    // name. Another process reading it in between found no valid HDF5 file.
    for (auto& s : m.spikes) { s.times.reset(); s.ids.reset(); }
    for (auto& r : m.reports) for (auto& v : r) v.data.reset();
    h5::close_file(m.file, m.tmp);
    m.ahead.give_back(m.tmp);
    std::error_code ec;
    // An earlier file of the same name is removed first rather than renamed over: ext4
    // writes a file's data out at once when it is renamed over another (auto_da_alloc),
    // which took 6 ms of a 10 s COBA run's 170 (the writing thread's copies had only
    // reached the page cache). No reader sees a partial file either way.
    if (!std::filesystem::is_directory(m.path, ec)) std::filesystem::remove(m.path, ec);  // a directory: rename fails below
    ec.clear();
    std::filesystem::rename(m.tmp, m.path, ec);
    if (ec) throw io_error(m.path, "rename " + m.tmp + " to", ec.message());
}

void results_writer::add_table(const std::string& name, const std::vector<column>& columns) {
    auto& m = *impl_;
    if (m.closed) throw io_error(m.path, "write table '" + name + "' to", "the file is already closed");
    auto g = h5::exists(m.file, name) ? h5::open_group(m.file, name, m.tmp) : h5::create_group(m.file, name, m.tmp);
    for (const auto& c : columns) {
        std::visit([&](const auto& v) { h5::write_vector(g, c.name, v, m.tmp); }, c.values);
        if (!c.units.empty()) {
            auto ds = h5::open_dataset(g, c.name, m.tmp);
            h5::write_attr(ds, "units", c.units, m.tmp);
        }
    }
}

const std::string& results_writer::path() const { return impl_->path; }

std::string describe_results(const std::string& path) {
    auto f = h5::open_file(path);
    std::ostringstream os;
    os << path << "\n";
    auto attr_s = [&](const char* n) { return h5::has_attr(f, n) ? h5::read_attr_string(f, n, path) : std::string("?"); };
    auto attr_d = [&](const char* n) { return h5::has_attr(f, n) ? h5::read_attr_double(f, n, path) : std::nan(""); };
    os << "  engram " << attr_s("engram_version") << ", seed "
       << (h5::has_attr(f, "seed") ? std::to_string(h5::read_attr_uint64(f, "seed", path)) : std::string("?"))
       << ", dt " << attr_d("dt_ms") << " ms, duration " << attr_d("duration_ms") << " ms";
    if (h5::has_attr(f, "simulated_ms")) os << ", simulated " << attr_d("simulated_ms") << " ms";
    os << ", wall " << attr_d("wall_time_s") << " s";
    os << (attr_d("complete") == 1.0 ? ", complete\n" : ", INCOMPLETE (interrupted)\n");
    const double dur = h5::has_attr(f, "simulated_ms") ? attr_d("simulated_ms") : attr_d("duration_ms");
    if (h5::exists(f, "spikes")) {
        auto g = h5::open_group(f, "spikes", path);
        os << "  spikes:\n";
        char line[256];
        for (const auto& pop : h5::children(g)) {
            auto pg = h5::open_group(g, pop, path);
            const auto t = h5::read_vector<double>(pg, "timestamps", path);
            const double n = h5::has_attr(pg, "size") ? h5::read_attr_double(pg, "size", path) : 0;
            const double rate = n > 0 && dur > 0 ? t.size() / (n * dur * 1e-3) : 0.0;
            std::snprintf(line, sizeof line, "    %-16s %8.0f neurons %10zu spikes %9.3f Hz", pop.c_str(), n, t.size(), rate);
            os << line;
            if (!t.empty()) os << "  [" << t.front() << ", " << t.back() << "] ms";
            os << "\n";
        }
    }
    if (h5::exists(f, "samples/label")) {  // written by the input section (datasets/)
        const auto labels = h5::read_vector<std::int64_t>(f, "samples/label", path);
        std::set<std::int64_t> classes(labels.begin(), labels.end());
        os << "  samples: " << labels.size() << " presented, " << classes.size() << " classes (/samples: index, label, start_ms, stop_ms)\n";
    }
    if (h5::exists(f, "classification")) {  // written by a classification experiment (models/lsm)
        auto g = h5::open_group(f, "classification", path);
        os << "  classification (" << (h5::has_attr(g, "readout") ? h5::read_attr_string(g, "readout", path) : std::string("?"))
           << " readout, features: " << (h5::has_attr(g, "features") ? h5::read_attr_string(g, "features", path) : std::string("?")) << "):\n";
        char line[256];
        for (const char* set : {"train", "valid", "test"}) {
            if (!h5::exists(g, set)) continue;
            auto sg = h5::open_group(g, set, path);
            const auto n = h5::shape(sg, "label", path);
            std::snprintf(line, sizeof line, "    %-6s %8llu samples  accuracy %6.2f %%  branching factor %.3f  rate %.1f Hz\n", set,
                          static_cast<unsigned long long>(n.empty() ? 0 : n[0]), 100 * h5::read_attr_double(sg, "accuracy", path),
                          h5::read_attr_double(sg, "branching_factor", path), h5::read_attr_double(sg, "mean_rate_hz", path));
            os << line;
        }
        os << "    /classification: confusion (test, rows = true class), readout_weights, readout_bias"
           << (h5::exists(g, "initialisation") ? ", initialisation/{sample, branching_factor}" : "") << "\n";
    }
    if (h5::exists(f, "spinnaker2/summary/ticks")) {  // written by `engram run --backend spinnaker2`
        auto one = [&](const char* name) {
            const std::string k = std::string("spinnaker2/summary/") + name;
            return h5::exists(f, k) ? h5::read_vector<double>(f, k, path).at(0) : 0.0;
        };
        char line[256];
        std::snprintf(line, sizeof line,
                      "  SpiNNaker2 target model: %.0f PEs on %.0f chip(s), busiest PE %.0f of %.0f cycles per tick (%s), "
                      "%.0f synaptic events, energy %.4g J\n",
                      one("pes"), one("chips"), one("max_pe_cycles"), one("budget_cycles"),
                      one("real_time") > 0 ? "real time" : "not real time", one("synaptic_events"), one("energy"));
        os << line;
        if (h5::exists(f, "spinnaker2/comparison/population")) {
            const auto pop = h5::read_vector<double>(f, "spinnaker2/comparison/population", path);
            const auto rf = h5::read_vector<double>(f, "spinnaker2/comparison/rate_float", path);
            const auto rt = h5::read_vector<double>(f, "spinnaker2/comparison/rate_target", path);
            const auto vr = h5::read_vector<double>(f, "spinnaker2/comparison/van_rossum", path);
            // the population column's units name the rows: "...: exc, inh"
            std::vector<std::string> spec_names;
            {
                auto ds = h5::open_dataset(f, "spinnaker2/comparison/population", path);
                const std::string u = h5::has_attr(ds, "units") ? h5::read_attr_string(ds, "units", path) : std::string();
                const auto colon = u.rfind(": ");
                for (std::size_t b = colon == std::string::npos ? u.size() : colon + 2; b < u.size();) {
                    const auto e = std::min(u.find(", ", b), u.size());
                    spec_names.push_back(u.substr(b, e - b));
                    b = e + 2;
                }
            }
            for (std::size_t i = 0; i < pop.size() && i < rf.size() && i < rt.size() && i < vr.size(); ++i) {
                std::snprintf(line, sizeof line, "    %-16s float %8.3f Hz  target %8.3f Hz  van Rossum %.3f\n",
                              i < spec_names.size() ? spec_names[i].c_str() : "?", rf[i], rt[i], vr[i]);
                os << line;
            }
        }
        os << "    /spinnaker2: comparison, summary, ticks (per tick), pes (per PE), links (per chip link)\n";
    }
    if (h5::exists(f, "report")) {
        auto g = h5::open_group(f, "report", path);
        os << "  report:\n";
        for (const auto& pop : h5::children(g)) {
            auto pg = h5::open_group(g, pop, path);
            for (const auto& var : h5::children(pg)) {
                const auto shp = h5::shape(pg, var + "/data", path);
                os << "    " << pop << "/" << var << ": " << (shp.size() > 0 ? shp[0] : 0) << " samples x "
                   << (shp.size() > 1 ? shp[1] : 0) << " neurons\n";
            }
        }
    }
    return os.str();
}

}  // namespace engram
