// The results file: SONATA spike layout, state reports, attributes, readable by the HDF5
// command-line tools, complete after an interruption.
#include <catch2/catch.hpp>
#include <cstring>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <csignal>
#include <cstdlib>
#include <sstream>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "engram/core/background.hpp"
#include "engram/core/errors.hpp"
#include "engram/core/hdf5.hpp"
#include "engram/core/png.hpp"
#include "engram/core/results.hpp"
#include "helpers.hpp"

using namespace engram;
using namespace engram::test;
using Catch::Matchers::Contains;

namespace {
std::string shell(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p);
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    pclose(p);
    return out;
}

const std::string net = small_coba() + R"(
record:
  spikes: all
  state: {mem: {population: exc, variables: [v, g_ex], neurons: [0, 5, 9], interval: 0.5 ms}}
)";
}  // namespace

TEST_CASE("the results file has the SONATA layout and opens with the HDF5 tools", "[unit][results]") {
    const auto dir = std::filesystem::temp_directory_path() / "engram_test_results";
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "run.h5").string();
    const auto ex = parse_experiment(net, "net.yaml", builtin_models());
    simulation sim(ex.spec, builtin_models());
    capture c;
    {
        results_writer w(path, ex.spec, ex.resolved_yaml);
        observer_list obs;
        obs.add(&w);
        obs.add(&c);
        sim.run(2000, &obs);
        CHECK(std::filesystem::exists(path + ".tmp"));
        w.close(true, 200.0, 1.0);
    }
    REQUIRE(std::filesystem::exists(path));
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));

    const std::string ls = shell("h5ls -r " + path);
    for (const char* obj : {"/spikes/exc/timestamps", "/spikes/exc/node_ids", "/spikes/inh/timestamps",
                            "/report/exc/v/data", "/report/exc/g_ex/data", "/report/exc/v/mapping/node_ids",
                            "/report/exc/v/mapping/time"})
        CHECK_THAT(ls, Contains(obj));
    CHECK_THAT(shell("h5dump -a /spikes/exc/timestamps/units " + path), Contains("\"ms\""));
    CHECK_THAT(shell("h5dump -a /spikes/exc/sorting " + path), Contains("by_time"));

    auto f = h5::open_file(path);
    const auto t = h5::read_vector<double>(f, "spikes/exc/timestamps", path);
    const auto ids = h5::read_vector<std::uint64_t>(f, "spikes/exc/node_ids", path);
    std::vector<double> t_expect;
    std::vector<std::uint64_t> id_expect;
    for (const auto& s : c.spikes)
        if (s.pop == 0) { t_expect.push_back(s.step * 0.1); id_expect.push_back(s.id); }
    REQUIRE(t.size() == t_expect.size());
    for (std::size_t i = 0; i < t.size(); ++i) CHECK(t[i] == Approx(t_expect[i]).margin(1e-9));
    CHECK(ids == id_expect);

    CHECK(h5::shape(f, "report/exc/v/data", path) == std::vector<hsize_t>{400, 3});
    CHECK(h5::read_vector<std::uint64_t>(f, "report/exc/v/mapping/node_ids", path) == std::vector<std::uint64_t>{0, 5, 9});
    CHECK(h5::read_vector<double>(f, "report/exc/v/mapping/time", path) == std::vector<double>{0.0, 200.0, 0.5});
    const auto v = h5::read_vector<float>(f, "report/exc/v/data", path);
    REQUIRE(v.size() == c.samples[0].size() * 3);
    CHECK(v[3 * 10 + 1] == c.samples[0][10][0][1]);  // row 10, neuron 5
    CHECK(h5::read_attr_double(f, "seed", path) == 7);
    CHECK(h5::read_attr_double(f, "complete", path) == 1);
    CHECK_THAT(h5::read_attr_string(f, "experiment", path), Contains("lif_cond_exp"));
    CHECK(h5::read_attr_string(f, "precision", path) == "float");
    CHECK_THAT(describe_results(path), Contains("exc") && Contains("complete"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("an interrupted run leaves a readable file with what was recorded so far", "[unit][results]") {
    const auto dir = std::filesystem::temp_directory_path() / "engram_test_interrupt";
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "run.h5").string();
    const auto ex = parse_experiment(net, "net.yaml", builtin_models());
    simulation sim(ex.spec, builtin_models());
    std::atomic<bool> stop{false};
    {
        results_writer w(path, ex.spec, ex.resolved_yaml);
        sim.run(300, &w, &stop);
        stop = true;
        const auto st = sim.run(1700, &w, &stop);
        CHECK(st.interrupted);
        // the writer goes out of scope without close(), as when an exception unwinds
    }
    REQUIRE(std::filesystem::exists(path));
    auto f = h5::open_file(path);
    CHECK(h5::read_attr_double(f, "complete", path) == 0);
    const auto t = h5::read_vector<double>(f, "spikes/exc/timestamps", path);
    REQUIRE_FALSE(t.empty());
    CHECK(t.back() <= 30.1);
    CHECK(h5::shape(f, "report/exc/v/data", path)[0] == 61);  // samples at 0, 0.5, ..., 30 ms
    CHECK_THAT(describe_results(path), Contains("INCOMPLETE"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("a results file that cannot be opened is an io_error naming it", "[unit][results]") {
    REQUIRE_THROWS_WITH(describe_results("/nonexistent/x.h5"), Contains("/nonexistent/x.h5"));
}

TEST_CASE("spikes cross the writer's chunks in order: one call of many chunks, many small ones", "[unit][results]") {
    const auto dir = temp_dir("results_blocks");
    const std::string path = (dir / "blocks.h5").string();
    const auto ex = parse_experiment(net, "net.yaml", builtin_models());
    const std::uint32_t n_exc = ex.spec.populations[0].size;
    std::vector<double> t_expect;
    std::vector<std::uint64_t> id_expect;
    {
        results_writer w(path, ex.spec, ex.resolved_yaml);
        std::vector<std::uint32_t> ids;
        // 3,000 steps of 40 spikes (120,000: 14 chunks of 8,192 and a part), then one call
        // of 150,000 spikes: chunk boundaries inside a call, and many chunks in one call
        for (std::uint64_t step = 1; step <= 3001; ++step) {
            const std::size_t k = step <= 3000 ? 40 : 150000;
            ids.resize(k);
            for (std::size_t i = 0; i < k; ++i) ids[i] = static_cast<std::uint32_t>((step * 7 + i) % n_exc);
            w.on_spikes(step, 0, ids.data(), ids.size());
            for (auto id : ids) { t_expect.push_back(step * 0.1); id_expect.push_back(id); }
        }
        w.close(true, 300.1, 1.0);
    }
    auto f = h5::open_file(path);
    const auto t = h5::read_vector<double>(f, "spikes/exc/timestamps", path);
    const auto ids = h5::read_vector<std::uint64_t>(f, "spikes/exc/node_ids", path);
    REQUIRE(t.size() == t_expect.size());
    CHECK(ids == id_expect);
    std::size_t off = 0;
    for (std::size_t i = 0; i < t.size(); ++i) off += std::fabs(t[i] - t_expect[i]) > 1e-9;
    CHECK(off == 0);
}

TEST_CASE("spikes written past HDF5 reach the file during the run, in order, across flushes and bursts", "[unit][results]") {
    // As the engine calls the writer: on_spikes, then on_step, every step. 40,000 steps
    // of 0-59 spikes cross the flushes at steps 16,384 and 32,768 inside chunks (the rest
    // of such a chunk is written after the flush); three steps of 40,000 spikes each fill
    // more chunks in one step than a step writes.
    const auto dir = temp_dir("results_past_hdf5");
    const std::string path = (dir / "past.h5").string();
    const auto spec = parse("populations:\n  a: {size: 5000, model: lif_curr_exp}\n  b: {size: 50, model: lif_curr_exp}\n");
    std::vector<double> ta;
    std::vector<std::uint64_t> ia, ib;
    std::vector<double> seen_during;  // the first chunk of a's times, read while the writer is open
    {
        results_writer w(path, spec, "");
        std::vector<std::uint32_t> ids;
        for (std::uint64_t step = 1; step <= 40000; ++step) {
            const std::size_t k = step == 5000 || step == 20000 || step == 33000 ? 40000 : (step * 13) % 60;
            ids.resize(k);
            for (std::size_t j = 0; j < k; ++j) ids[j] = static_cast<std::uint32_t>((step * 31 + j * 7) % 5000);
            w.on_spikes(step, 0, ids.data(), k);
            for (auto id : ids) { ta.push_back(static_cast<double>(step) * 0.1); ia.push_back(id); }
            if (step % 7 == 0) {
                const std::uint32_t one = static_cast<std::uint32_t>(step % 50);
                w.on_spikes(step, 1, &one, 1);
                ib.push_back(one);
            }
            w.on_step(step);
            if (step == 1000) {  // a's first chunk (16,384 spikes) was due near step 560
                REQUIRE(ta.size() > 20000);
                // its place, from the same file opened again in this process (which shares
                // the writer's HDF5 state), and its bytes as another reader finds them
                const std::string tmp = path + ".tmp";
                auto r = h5::handle(H5Fopen(tmp.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
                REQUIRE(r.valid());
                h5::handle d(H5Dopen2(r, "/spikes/a/timestamps", H5P_DEFAULT), H5Dclose);
                REQUIRE(d.valid());
                const hsize_t first = 0;
                unsigned mask = 0;
                haddr_t addr = HADDR_UNDEF;
                hsize_t bytes = 0;
                REQUIRE(H5Dget_chunk_info_by_coord(d, &first, &mask, &addr, &bytes) >= 0);
                REQUIRE(bytes == 16384 * sizeof(double));
                seen_during.resize(16384);
                std::ifstream raw(tmp, std::ios::binary);
                raw.seekg(static_cast<std::streamoff>(addr));
                raw.read(reinterpret_cast<char*>(seen_during.data()), static_cast<std::streamsize>(bytes));
                REQUIRE(raw.gcount() == static_cast<std::streamsize>(bytes));
            }
        }
        w.close(true, 4000.0, 0.0);
    }
    // written during the run, not held until its end
    CHECK(std::equal(seen_during.begin(), seen_during.end(), ta.begin()));
    auto f = h5::open_file(path);
    const auto t = h5::read_vector<double>(f, "spikes/a/timestamps", path);
    REQUIRE(t.size() == ta.size());
    CHECK(t == ta);
    CHECK(h5::read_vector<std::uint64_t>(f, "spikes/a/node_ids", path) == ia);
    CHECK(h5::read_vector<std::uint64_t>(f, "spikes/b/node_ids", path) == ib);
    CHECK(h5::read_vector<double>(f, "spikes/b/timestamps", path).size() == ib.size());
    // h5py reads the same values
    if (std::system("/usr/bin/python3 -c 'import h5py' 2>/dev/null") == 0) {
        const std::string out = shell("/usr/bin/python3 -c \"import h5py; f = h5py.File('" + path +
                                      "', 'r'); t = f['spikes/a/timestamps'][:]; n = f['spikes/a/node_ids'][:]; "
                                      "print(len(t), repr(float(t.sum())), int(n.sum()))\"");
        double sum = 0;
        std::uint64_t nsum = 0;
        for (double x : ta) sum += x;
        for (auto x : ia) nsum += x;
        std::istringstream is(out);
        std::size_t n = 0;
        double s = 0;
        std::uint64_t ns = 0;
        is >> n >> s >> ns;
        CHECK(n == ta.size());
        CHECK(s == Approx(sum).epsilon(1e-9));  // numpy sums pairwise
        CHECK(ns == nsum);
    }
}

TEST_CASE("a spike chunk the file cannot take is an io_error naming the file", "[unit][results]") {
    // A child whose files may not grow past 1 MiB (RLIMIT_FSIZE; the writes then fail
    // with EFBIG): 1,000 spikes a step fill a chunk every 16 steps, and the queued chunks
    // past 1 MiB cannot be written.
    const auto dir = temp_dir("results_past_hdf5");
    const std::string path = (dir / "full.h5").string();
    const auto spec = parse("populations:\n  a: {size: 5000, model: lif_curr_exp}\n");
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        std::signal(SIGXFSZ, SIG_IGN);
        const rlimit lim{1u << 20, 1u << 20};
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0) std::_Exit(5);
        int code = 1;  // no error
        try {
            results_writer w(path, spec, "");
            std::vector<std::uint32_t> ids(1000);
            for (std::uint64_t step = 1; step <= 2000; ++step) {
                for (std::size_t j = 0; j < ids.size(); ++j) ids[j] = static_cast<std::uint32_t>((step + j) % 5000);
                w.on_spikes(step, 0, ids.data(), ids.size());
                w.on_step(step);
            }
            w.close(true, 200.0, 0.0);
        } catch (const io_error& e) {
            const std::string m = e.what();
            code = m.find(path) != std::string::npos && m.find("spike chunk") != std::string::npos ? 0 : 2;
        } catch (...) {
            code = 3;
        }
        std::_Exit(code);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);  // 1: no error; 2: one not naming the file; 3: another kind
}

TEST_CASE("h5::chunk_places: a chunk is allocated as the extent reaches it, its values written past HDF5 read back through it", "[unit][results]") {
    const auto dir = temp_dir("results_past_hdf5");
    const std::string path = (dir / "places.h5").string();
    constexpr std::size_t chunk = 16384;
    std::vector<double> v(3 * chunk + 100);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.5 * static_cast<double>(i) + 1.0;
    {
        auto f = h5::create_file(path, true);
        auto d = h5::create_extendable(f, "t", H5T_IEEE_F64LE, 0, path, true);
        const int fd = h5::posix_descriptor(f);
        REQUIRE(fd >= 0);
        h5::chunk_places at(d, chunk, sizeof(double), path);
        // the third chunk first: the extent reaches into it, so HDF5 allocates every chunk up to it
        const std::uint64_t third = at.place(2 * chunk);
        CHECK(third % h5::streamed_alignment == 0);
        CHECK(h5::length(d) == 2 * chunk + 1);
        CHECK(at.place(2 * chunk + 10) == third + 10 * sizeof(double));
        // every value, one at a time at its place (chunks 0 and 1 were allocated with 2)
        std::size_t short_writes = 0;
        for (std::size_t i = 0; i < v.size(); ++i)
            short_writes += ::pwrite(fd, &v[i], sizeof(double), static_cast<off_t>(at.place(i))) != sizeof(double);
        CHECK(short_writes == 0);
        CHECK(h5::length(d) == 3 * chunk + 1);  // into the fourth chunk, behind what is written
        at.set_length(v.size());
        CHECK(h5::length(d) == v.size());
        // shrunk below a chunk, that chunk is freed; asked for again, it has a place again
        const std::uint64_t fourth = at.place(3 * chunk);
        at.set_length(chunk);
        CHECK(h5::length(d) == chunk);
        // another dataset's chunks take the space freed, so the chunks come back elsewhere
        auto u = h5::create_extendable(f, "u", H5T_IEEE_F64LE, 0, path, true);
        h5::chunk_places u_at(u, chunk, sizeof(double), path);
        u_at.place(3 * chunk);
        CHECK(at.place(3 * chunk) != fourth);
        CHECK(at.place(2 * chunk) != third);
        for (std::size_t i = chunk; i < v.size(); ++i)
            short_writes += ::pwrite(fd, &v[i], sizeof(double), static_cast<off_t>(at.place(i))) != sizeof(double);
        CHECK(short_writes == 0);
        at.set_length(v.size());
    }
    auto r = h5::open_file(path);
    CHECK(h5::read_vector<double>(r, "t", path) == v);
}

TEST_CASE("a results file replaces an earlier one of the same name only when complete; a directory of that name is an error", "[unit][results]") {
    const auto dir = std::filesystem::temp_directory_path() / "engram_test_results_replace";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "run.h5").string();
    const auto ex = parse_experiment(net, "net.yaml", builtin_models());
    auto write = [&](const std::string& to, std::uint64_t steps) {
        simulation sim(ex.spec, builtin_models());
        results_writer w(to, ex.spec, ex.resolved_yaml);
        sim.run(steps, &w);
        w.close(true, 0.1 * static_cast<double>(steps), 1.0);
    };
    auto simulated = [&](const std::string& p) {
        auto f = h5::open_file(p);
        return h5::read_attr_double(f, "simulated_ms", p);
    };
    write(path, 500);
    REQUIRE(simulated(path) == Approx(50.0));
    {  // a second run: until it closes, the first file is there as it was
        simulation sim(ex.spec, builtin_models());
        results_writer w(path, ex.spec, ex.resolved_yaml);
        sim.run(1000, &w);
        CHECK(simulated(path) == Approx(50.0));
        w.close(true, 100.0, 1.0);
    }
    CHECK(simulated(path) == Approx(100.0));
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
    // a directory where the file would go: an error naming it, the directory kept
    const std::string sub = (dir / "out.h5").string();
    std::filesystem::create_directories(sub);
    CHECK_THROWS_WITH(write(sub, 100), Contains(sub));
    CHECK(std::filesystem::is_directory(sub));
    std::filesystem::remove_all(dir);
}

TEST_CASE("when close() returns, the file under its final name is finished on disk, while the writer still exists", "[unit][results]") {
    // Another process (here h5dump and a byte copy) reads what is on disk, not what this
    // process's HDF5 library still holds: every handle of the file must be closed before
    // it takes its final name.
    const auto dir = temp_dir("results_closed");
    const std::string path = (dir / "run.h5").string();
    const auto ex = parse_experiment(net, "net.yaml", builtin_models());
    simulation sim(ex.spec, builtin_models());
    results_writer w(path, ex.spec, ex.resolved_yaml);
    sim.run(1000, &w);
    w.close(true, 100.0, 2.5);
    REQUIRE(std::filesystem::exists(path));
    CHECK_THAT(shell("h5dump -a complete " + path + " 2>&1"), Contains("(0): 1"));
    CHECK_THAT(shell("h5dump -a wall_time_s " + path + " 2>&1"), Contains("(0): 2.5"));
    const std::string copy = (dir / "copy.h5").string();  // the bytes as they are now
    std::filesystem::copy_file(path, copy);
    auto f = h5::open_file(copy);
    CHECK(h5::read_attr_double(f, "complete", copy) == 1);
    CHECK(h5::read_attr_double(f, "simulated_ms", copy) == Approx(100.0));
    CHECK(h5::shape(f, "report/exc/v/data", copy) == std::vector<hsize_t>{200, 3});
    auto g = h5::open_file(path);
    CHECK(h5::read_vector<std::uint64_t>(f, "spikes/exc/node_ids", copy) == h5::read_vector<std::uint64_t>(g, "spikes/exc/node_ids", path));
    CHECK_FALSE(h5::read_vector<std::uint64_t>(f, "spikes/exc/node_ids", copy).empty());
    f.reset();
    g.reset();
    std::filesystem::remove_all(dir);
}

TEST_CASE("h5::new_file: the file takes its name only when committed and closed; an earlier one stays until then", "[unit][results]") {
    const auto dir = temp_dir("new_file");
    const std::string path = (dir / "out.h5").string();
    auto version = [&](const std::string& p) {
        auto f = h5::open_file(p);
        return h5::read_attr_string(f, "version", p);
    };
    {  // committed: under its name, finished on disk (another process reads it), no .tmp
        h5::new_file f(path);
        h5::write_attr(f, "version", std::string("one"), path);
        CHECK_FALSE(std::filesystem::exists(path));
        CHECK(std::filesystem::exists(path + ".tmp"));
        f.commit();
        CHECK_THAT(shell("h5dump -a version " + path + " 2>&1"), Contains("\"one\""));
    }
    CHECK(version(path) == "one");
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
    {  // not committed (an exception unwound the writer): the earlier file as it was
        h5::new_file f(path);
        h5::write_attr(f, "version", std::string("two"), path);
        CHECK(version(path) == "one");
    }
    CHECK(version(path) == "one");
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
    {  // an object still open at commit: an error naming the file; nothing replaced
        h5::new_file f(path);
        auto g = h5::create_group(f, "open", path);
        CHECK_THROWS_WITH(f.commit(), Contains(path + ".tmp") && Contains("still open"));
    }
    CHECK(version(path) == "one");
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
    {  // replaced by the next committed file
        h5::new_file f(path);
        h5::write_attr(f, "version", std::string("three"), path);
        f.commit();
    }
    CHECK(version(path) == "three");
    // a directory where the file would go: an error naming it, the directory kept
    const std::string sub = (dir / "sub.h5").string();
    std::filesystem::create_directories(sub);
    {
        h5::new_file f(sub);
        CHECK_THROWS_WITH(f.commit(), Contains(sub));
    }
    CHECK(std::filesystem::is_directory(sub));
    CHECK_FALSE(std::filesystem::exists(sub + ".tmp"));
}

TEST_CASE("a process that dies mid-run leaves PATH.tmp readable, with the spikes up to its last flush", "[unit][results]") {
    const auto dir = temp_dir("results_crash");
    const std::string path = (dir / "crash.h5").string();
    const auto ex = parse_experiment(net, "net.yaml", builtin_models());
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {  // the child runs 17,000 steps (flushes at step 16,384 = 2^14) and dies
        simulation sim(ex.spec, builtin_models());
        results_writer w(path, ex.spec, ex.resolved_yaml);
        sim.run(17000, &w);
        std::_Exit(0);  // no destructor, no close: as a crash
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK_FALSE(std::filesystem::exists(path));
    REQUIRE(std::filesystem::exists(path + ".tmp"));
    // the same run here: the file holds exactly its spikes of steps 1..16,384
    simulation sim(ex.spec, builtin_models());
    capture c;
    sim.run(17000, &c);
    std::vector<std::uint64_t> id_expect;
    for (const auto& s : c.spikes)
        if (s.pop == 0 && s.step <= 16384) id_expect.push_back(s.id);
    REQUIRE(id_expect.size() > 20);
    auto f = h5::open_file(path + ".tmp");
    CHECK(h5::read_vector<std::uint64_t>(f, "spikes/exc/node_ids", path) == id_expect);
    const auto t = h5::read_vector<double>(f, "spikes/exc/timestamps", path);
    REQUIRE_FALSE(t.empty());
    CHECK(t.back() <= 1638.4 + 1e-9);
    CHECK(h5::read_attr_double(f, "complete", path) == 0);
}

TEST_CASE("a writer behind a background_observer writes the same file, spikes and state", "[unit][results]") {
    const auto dir = temp_dir("results_background");
    const auto ex = parse_experiment(net, "net.yaml", builtin_models());
    auto write = [&](const std::string& name, bool background, int threads) {
        const std::string path = (dir / name).string();
        simulation sim(ex.spec, builtin_models(), threads);
        results_writer w(path, ex.spec, ex.resolved_yaml);
        // many chunks of spikes, and every 2^14 steps all buffers (which leaves the
        // file off a chunk boundary), in 40,000 steps; behind: the writer on a thread of
        // its own, everything handed to it by the time run() returns
        capture c;
        observer_list both;
        both.add(&w);
        both.add(&c);
        std::optional<background_observer> behind;
        if (background) behind.emplace(both);
        sim.run(40000, background ? static_cast<observer*>(&*behind) : &both);
        if (!background) {
            std::vector<double> t_expect;
            std::vector<std::uint64_t> id_expect;
            for (const auto& sp : c.spikes)
                if (sp.pop == 0) {
                    t_expect.push_back(static_cast<double>(sp.step) * ex.spec.simulation.dt);
                    id_expect.push_back(sp.id);
                }
            w.close(true, 4000.0, 1.0);
            auto f = h5::open_file(path);
            CHECK(h5::read_vector<double>(f, "spikes/exc/timestamps", path) == t_expect);
            CHECK(h5::read_vector<std::uint64_t>(f, "spikes/exc/node_ids", path) == id_expect);
            return path;
        }
        w.add_table("extra", {{"x", std::vector<double>{1.0, 2.0}, "ms"}});
        w.close(true, 4000.0, 1.0);
        return path;
    };
    const auto a = write("sync.h5", false, 1), b = write("background.h5", true, 1), c = write("background2.h5", true, 2);
    auto fa = h5::open_file(a);
    const auto t = h5::read_vector<double>(fa, "spikes/exc/timestamps", a);
    REQUIRE(t.size() > 4 * 16384);  // many chunks
    const auto v = h5::read_vector<float>(fa, "report/exc/v/data", a);
    REQUIRE(v.size() == 3 * 8000);
    for (const auto& other : {b, c}) {
        INFO(other);
        auto f = h5::open_file(other);
        CHECK(h5::read_vector<double>(f, "spikes/exc/timestamps", other) == t);
        CHECK(h5::read_vector<std::uint64_t>(f, "spikes/exc/node_ids", other) == h5::read_vector<std::uint64_t>(fa, "spikes/exc/node_ids", a));
        CHECK(h5::read_vector<double>(f, "spikes/inh/timestamps", other) == h5::read_vector<double>(fa, "spikes/inh/timestamps", a));
        CHECK(h5::read_vector<std::uint64_t>(f, "spikes/inh/node_ids", other) == h5::read_vector<std::uint64_t>(fa, "spikes/inh/node_ids", a));
        CHECK(h5::read_vector<float>(f, "report/exc/v/data", other) == v);
        CHECK(h5::read_vector<float>(f, "report/exc/g_ex/data", other) == h5::read_vector<float>(fa, "report/exc/g_ex/data", a));
        CHECK(h5::read_vector<double>(f, "extra/x", other) == std::vector<double>{1.0, 2.0});
        CHECK(h5::read_attr_double(f, "complete", other) == 1);
    }
}

TEST_CASE("appends to a chunked dataset write whole chunks as they are and the rest through HDF5", "[unit][results]") {
    const auto dir = temp_dir("results_chunked");
    const std::string path = (dir / "c.h5").string();
    auto f = h5::create_file(path);
    auto d = h5::create_extendable(f, "t", H5T_IEEE_F64LE, 0, path);  // chunks of 16384
    auto u = h5::create_extendable(f, "u", H5T_STD_U32BE, 0, path);   // stored unlike memory
    const std::size_t chunk = h5::chunk_length(d, path);
    REQUIRE(chunk == 16384);
    CHECK(h5::stored_as_in_memory(d, H5T_NATIVE_DOUBLE));
    CHECK_FALSE(h5::stored_as_in_memory(u, H5T_NATIVE_UINT32));
    CHECK_FALSE(h5::stored_as_in_memory(d, H5T_NATIVE_FLOAT));
    std::vector<double> all;
    std::vector<std::uint32_t> all_u;
    // from a boundary, off it, whole chunks after a partial one, several at once, empty
    for (const std::size_t n : {chunk, 3UL, chunk - 3 + 2 * chunk + 5, 0UL, chunk - 5, 1UL, 3 * chunk}) {
        std::vector<double> v(n);
        std::vector<std::uint32_t> w(n);
        for (std::size_t i = 0; i < n; ++i) {
            v[i] = 0.1 * static_cast<double>(all.size() + i);
            w[i] = static_cast<std::uint32_t>(all.size() + i) * 2654435761u;
        }
        h5::append_chunked(d, H5T_NATIVE_DOUBLE, v.data(), n, sizeof(double), chunk, true, path);
        h5::append_chunked(u, H5T_NATIVE_UINT32, w.data(), n, sizeof(std::uint32_t), chunk, false, path);
        all.insert(all.end(), v.begin(), v.end());
        all_u.insert(all_u.end(), w.begin(), w.end());
    }
    CHECK(all.size() % chunk != 0);
    d.reset();
    u.reset();
    f.reset();
    auto r = h5::open_file(path);
    CHECK(h5::read_vector<double>(r, "t", path) == all);
    CHECK(h5::read_vector<std::uint32_t>(r, "u", path) == all_u);
    CHECK(r.valid());
}

TEST_CASE("whole chunks appended raw reach the file byte for byte, the rest converted", "[unit][results]") {
    // A big-endian dataset written as if it stored native doubles: what went through
    // H5Dwrite_chunk comes back byte-swapped, what went through H5Dwrite comes back right.
    // (The writer only asks for raw writes where stored_as_in_memory holds; this shows that
    // whole chunks take the direct path and partial ones do not.)
    const auto dir = temp_dir("results_chunked");
    const std::string path = (dir / "raw.h5").string();
    auto f = h5::create_file(path);
    auto d = h5::create_extendable(f, "t", H5T_IEEE_F64BE, 0, path);
    const std::size_t chunk = h5::chunk_length(d, path);
    std::vector<double> v(chunk + 5);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = 1.0 + static_cast<double>(i);
    h5::append_chunked(d, H5T_NATIVE_DOUBLE, v.data(), v.size(), sizeof(double), chunk, true, path);
    d.reset();
    f.reset();
    auto r = h5::open_file(path);
    const auto back = h5::read_vector<double>(r, "t", path);
    REQUIRE(back.size() == v.size());
    auto swapped = [](double x) {
        unsigned char b[sizeof(double)];
        std::memcpy(b, &x, sizeof b);
        std::reverse(b, b + sizeof b);
        std::memcpy(&x, b, sizeof b);
        return x;
    };
    std::size_t raw = 0, converted = 0;
    for (std::size_t i = 0; i < chunk; ++i) raw += back[i] == swapped(v[i]);
    for (std::size_t i = chunk; i < v.size(); ++i) converted += back[i] == v[i];
    CHECK(raw == chunk);
    CHECK(converted == 5);
}

TEST_CASE("the results file's spike datasets are stored as in memory, unfiltered, in chunks of 16,384", "[unit][results]") {
    // what the writer's direct chunk path needs (results.cpp asks stored_as_in_memory)
    const auto dir = temp_dir("results_chunked");
    const std::string path = (dir / "spikes.h5").string();
    const auto spec = parse("populations:\n  a: {size: 4, model: lif_curr_exp}\n");
    {
        results_writer w(path, spec, "");
        const std::uint32_t ids[] = {0, 3};
        w.on_spikes(1, 0, ids, 2);
        w.close(true, 0.1, 0.0);
    }
    auto r = h5::open_file(path);
    h5::handle times(H5Dopen2(r, "/spikes/a/timestamps", H5P_DEFAULT), H5Dclose);
    h5::handle ids(H5Dopen2(r, "/spikes/a/node_ids", H5P_DEFAULT), H5Dclose);
    REQUIRE(times.valid());
    REQUIRE(ids.valid());
    CHECK(h5::stored_as_in_memory(times, H5T_NATIVE_DOUBLE));
    CHECK(h5::stored_as_in_memory(ids, H5T_NATIVE_UINT64));
    CHECK(h5::chunk_length(times, path) == 16384);
}

TEST_CASE("the results file's whole spike chunks start at multiples of 128 KiB with little space between", "[unit][results]") {
    // what makes their writes cheap (h5::create_file, streamed): the page cache takes an
    // aligned write in large pages. 1.6 million spikes, partial chunks at each 2^14-step
    // flush, the chunk index growing between the chunks, two populations.
    const auto dir = temp_dir("results_chunked");
    const std::string path = (dir / "aligned.h5").string();
    const auto spec = parse("populations:\n  a: {size: 1000, model: lif_curr_exp}\n  b: {size: 100, model: lif_curr_exp}\n");
    std::uint64_t spikes = 0;
    {
        results_writer w(path, spec, "");
        std::uint32_t ids[40];
        for (std::uint64_t step = 1; step <= 40000; ++step) {
            for (std::uint32_t j = 0; j < 40; ++j) ids[j] = static_cast<std::uint32_t>((step * 7 + j * 23) % 1000);
            w.on_spikes(step, 0, ids, 40);
            if (step % 3 == 0) w.on_spikes(step, 1, ids, 1);
            w.on_step(step);
        }
        spikes = 40000 * 40;
        w.close(true, 4000.0, 0.0);
    }
    auto r = h5::open_file(path);
    std::uint64_t chunk_bytes = 0;
    for (const char* name : {"/spikes/a/timestamps", "/spikes/a/node_ids", "/spikes/b/timestamps", "/spikes/b/node_ids"}) {
        INFO(name);
        h5::handle d(H5Dopen2(r, name, H5P_DEFAULT), H5Dclose);
        REQUIRE(d.valid());
        h5::handle space(H5Dget_space(d), H5Sclose);
        hsize_t n = 0;
        REQUIRE(H5Dget_num_chunks(d, space, &n) >= 0);
        CHECK(n == (std::string(name).find("/a/") != std::string::npos ? (spikes + 16383) / 16384 : (40000 / 3 + 16383) / 16384));
        for (hsize_t i = 0; i < n; ++i) {
            hsize_t offset = 0, size = 0;
            haddr_t addr = 0;
            unsigned mask = 0;
            REQUIRE(H5Dget_chunk_info(d, space, i, &offset, &mask, &addr, &size) >= 0);
            CHECK(addr % h5::streamed_alignment == 0);
            CHECK(size == h5::streamed_alignment);
            chunk_bytes += size;
        }
    }
    // the chunks (198 of them), and the metadata in blocks of 16 KiB, each followed by
    // the rest of 128 KiB before the next chunk, two here: HDF5's default 2 KiB blocks,
    // taken as the chunk index grows, would be five
    const auto file_bytes = std::filesystem::file_size(path);
    CHECK(file_bytes >= chunk_bytes);
    CHECK(file_bytes <= chunk_bytes + 2 * h5::streamed_alignment);
}

TEST_CASE("disk space taken ahead of the spike chunks is given back when the results file closes", "[unit][results]") {
    const auto dir = temp_dir("results_chunked");
    // the helper alone: space past the end, the file's size unchanged
    {
        const std::string path = (dir / "ahead.h5").string();
        auto f = h5::create_file(path, true);
        h5::space_ahead a;
        a.ensure(f, 1 << 20, 4 << 20);
        f.reset();
        struct stat st {};
        REQUIRE(stat(path.c_str(), &st) == 0);
        if (a.taken_to() == 0) {
            WARN("this file system takes no space ahead (fallocate): nothing to give back");
        } else {
            CHECK(a.taken_to() >= static_cast<std::uint64_t>(st.st_size) + (5 << 20));
            CHECK(static_cast<std::uint64_t>(st.st_blocks) * 512 >= (5u << 20));  // taken, past the end
            CHECK(static_cast<std::uint64_t>(st.st_size) < (1u << 20));
            a.give_back(path);
            REQUIRE(stat(path.c_str(), &st) == 0);
            CHECK(static_cast<std::uint64_t>(st.st_blocks) * 512 <= static_cast<std::uint64_t>(st.st_size) + 65536);
        }
    }
    // a results file of many chunks: its blocks are its bytes, no more
    const std::string path = (dir / "given_back.h5").string();
    const auto spec = parse("populations:\n  a: {size: 1000, model: lif_curr_exp}\n");
    std::vector<std::uint64_t> ids_expect;
    {
        results_writer w(path, spec, "");
        std::uint32_t ids[20];
        for (std::uint64_t step = 1; step <= 20000; ++step) {
            for (std::uint32_t j = 0; j < 20; ++j) ids[j] = static_cast<std::uint32_t>((step * 11 + j * 47) % 1000);
            w.on_spikes(step, 0, ids, 20);
            ids_expect.insert(ids_expect.end(), ids, ids + 20);
            w.on_step(step);
        }
        w.close(true, 2000.0, 0.0);
    }
    struct stat st {};
    REQUIRE(stat(path.c_str(), &st) == 0);
    CHECK(static_cast<std::uint64_t>(st.st_blocks) * 512 <= static_cast<std::uint64_t>(st.st_size) + 65536);
    auto r = h5::open_file(path);
    CHECK(h5::read_vector<std::uint64_t>(r, "spikes/a/node_ids", path) == ids_expect);
}

TEST_CASE("a failed append leaves the dataset as it was", "[unit][results]") {
    const auto dir = temp_dir("results_chunked");
    const std::string path = (dir / "failed.h5").string();
    auto f = h5::create_file(path);
    auto d = h5::create_extendable(f, "t", H5T_IEEE_F64LE, 0, path);
    const std::size_t chunk = h5::chunk_length(d, path);
    const std::vector<double> v(chunk + 1000, 1.5);
    h5::append_chunked(d, H5T_NATIVE_DOUBLE, v.data(), 3, sizeof(double), chunk, true, path);
    REQUIRE(h5::length(d) == 3);
    // values HDF5 cannot convert to the file's doubles: the write fails after the extent grew
    h5::handle str(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(str, 8);
    h5::silence_errors();
    CHECK_THROWS_AS(h5::append(d, str, v.data(), chunk + 800, 0, path), engram::io_error);
    CHECK(h5::length(d) == 3);
    CHECK_THROWS_AS(h5::append_chunked(d, str, v.data(), chunk + 800, 8, chunk, false, path), engram::io_error);
    CHECK(h5::length(d) == 3);
    CHECK_THROWS_WITH(h5::append_chunked(d, H5T_NATIVE_FLOAT, v.data(), 10, sizeof(double), chunk, true, path),
                      Catch::Contains("value size"));
    CHECK(h5::length(d) == 3);
    // and it still takes writes after that, whole chunks included
    h5::append_chunked(d, H5T_NATIVE_DOUBLE, v.data(), chunk + 800, sizeof(double), chunk, true, path);
    CHECK(h5::length(d) == chunk + 803);
    d.reset();
    f.reset();
    auto r = h5::open_file(path);
    CHECK(h5::read_vector<double>(r, "t", path) == std::vector<double>(chunk + 803, 1.5));
}

TEST_CASE("the chunk length of a dataset that is not chunked is an error naming the file", "[unit][results]") {
    const auto dir = temp_dir("results_chunked");
    const std::string path = (dir / "contiguous.h5").string();
    auto f = h5::create_file(path);
    h5::write_vector(f, "x", std::vector<double>{1.0, 2.0}, path);
    auto d = h5::open_dataset(f, "x", path);
    CHECK_THROWS_WITH(h5::chunk_length(d, path), Catch::Contains("contiguous.h5") &&
                                                   Catch::Contains("chunked"));
}

TEST_CASE("write_png: a valid PNG whose pixels decode back, and clear errors", "[unit][results]") {
    const auto dir = temp_dir("png");
    rgb_image img(5, 3, 250, 250, 250);
    img.set(0, 0, 255, 0, 0);
    img.set(4, 2, 1, 2, 3);
    img.set(2, 1, 0, 128, 255);
    const std::string path = (dir / "x.png").string();
    write_png(img, path);
    // decode it independently: signature, chunks with their CRCs, IHDR, inflated IDAT
    std::ifstream in(path, std::ios::binary);
    std::vector<unsigned char> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(b.size() > 8);
    CHECK(std::equal(b.begin(), b.begin() + 8, std::vector<unsigned char>{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}.begin()));
    auto u32 = [&](std::size_t at) { return std::uint32_t(b[at]) << 24 | std::uint32_t(b[at + 1]) << 16 | std::uint32_t(b[at + 2]) << 8 | b[at + 3]; };
    std::vector<std::string> types;
    std::vector<unsigned char> idat;
    std::size_t at = 8;
    while (at + 12 <= b.size()) {
        const std::uint32_t n = u32(at);
        const std::string type(b.begin() + static_cast<std::ptrdiff_t>(at + 4), b.begin() + static_cast<std::ptrdiff_t>(at + 8));
        REQUIRE(at + 12 + n <= b.size());
        CHECK(u32(at + 8 + n) == crc32(0L, &b[at + 4], n + 4));
        if (type == "IHDR") {
            CHECK(u32(at + 8) == 5);
            CHECK(u32(at + 12) == 3);
            CHECK(b[at + 16] == 8);  // bit depth
            CHECK(b[at + 17] == 2);  // RGB
        }
        if (type == "IDAT") idat.insert(idat.end(), &b[at + 8], &b[at + 8] + n);
        types.push_back(type);
        at += 12 + n;
    }
    CHECK(at == b.size());
    CHECK(types == std::vector<std::string>{"IHDR", "IDAT", "IEND"});
    std::vector<unsigned char> raw(3 * (1 + 5 * 3));
    uLongf rn = raw.size();
    REQUIRE(uncompress(raw.data(), &rn, idat.data(), idat.size()) == Z_OK);
    REQUIRE(rn == raw.size());
    for (unsigned y = 0; y < 3; ++y) {
        CHECK(raw[y * 16] == 0);  // filter: none
        for (unsigned x = 0; x < 5; ++x)
            for (unsigned c = 0; c < 3; ++c) CHECK(raw[y * 16 + 1 + x * 3 + c] == img.pixels[(y * 5 + x) * 3 + c]);
    }
    CHECK(raw[1] == 255);
    CHECK(raw[2 * 16 + 1 + 4 * 3 + 2] == 3);
    CHECK_THROWS_WITH(write_png(img, (dir / "no_such_dir" / "x.png").string()), Catch::Contains("no_such_dir"));
    CHECK_THROWS_WITH(write_png(rgb_image{}, path), Catch::Contains("empty image"));
    rgb_image bad(2, 2, 0, 0, 0);
    bad.pixels.pop_back();
    CHECK_THROWS_WITH(write_png(bad, path), Catch::Contains("do not match"));
}

TEST_CASE("engram run --profile prints each worker's phases and writes them to /profile", "[unit][results]") {
    const auto dir = std::filesystem::temp_directory_path() / "engram_test_profile";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const auto yaml = dir / "net.yaml";
    std::ofstream(yaml) << small_coba();
    const std::string out = (dir / "run.h5").string();
    const std::string text = shell(std::string(ENGRAM_BINARY) + " run " + yaml.string() + " --threads 2 --profile -o " + out + " 2>&1");
    INFO(text);
    CHECK_THAT(text, Contains("where the run loop went (--profile; 2 workers"));
    for (const char* col : {"update", "deliver", "plasticity", "record", "wait"}) CHECK_THAT(text, Contains(col));
    // the two workers' work against each other: at least 1, and the ratio of the table's
    // update + deliver + plasticity, slower worker over faster
    const auto at = text.find("the slowest worker took ");
    REQUIRE(at != std::string::npos);
    const double spread = std::stod(text.substr(at + 24));
    CHECK(spread >= 1.0);
    auto f = h5::open_file(out);
    {
        std::vector<double> work(2, 0.0);
        for (const char* col : {"update", "deliver", "plasticity"}) {
            const auto x = h5::read_vector<double>(f, std::string("profile/") + col, out);
            REQUIRE(x.size() == 2);
            for (std::size_t w = 0; w < 2; ++w) work[w] += x[w];
        }
        CHECK(spread == Approx(std::max(work[0], work[1]) / std::min(work[0], work[1])).margin(0.0015));
    }
    CHECK(h5::read_vector<std::int64_t>(f, "profile/worker", out) == std::vector<std::int64_t>{0, 1});
    double sum = 0.0;
    for (const char* col : {"update", "deliver", "plasticity", "record", "wait"}) {
        const auto x = h5::read_vector<double>(f, std::string("profile/") + col, out);
        REQUIRE(x.size() == 2);
        CHECK(x[0] >= 0.0);
        sum += x[0];
        CHECK(h5::read_attr_string(h5::open_dataset(f, std::string("profile/") + col, out), "units", out) == "s");
    }
    CHECK(sum > 0.0);
    // not with the SpiNNaker2 target model, which is timed otherwise
    CHECK_THAT(shell(std::string(ENGRAM_BINARY) + " run " + yaml.string() + " --backend spinnaker2 --profile -o " + out + " 2>&1"),
               Contains("--profile times the float engine"));
    // nor with a classification experiment (refused before any data set is read)
    CHECK_THAT(shell(std::string(ENGRAM_BINARY) + " run " + ENGRAM_SOURCE_DIR + "/experiments/lsm/lsm1000_fmnist.yaml --profile -o " + out + " 2>&1"),
               Contains("--profile times a plain run, not the trials of a classification experiment"));
    std::filesystem::remove_all(dir);
}

#if defined(__linux__)
TEST_CASE("engram run confined to one CPU (taskset) steps on one worker at --threads 2, says why, and writes the same spikes", "[unit][results]") {
    if (std::system("command -v taskset > /dev/null 2>&1") != 0) {
        WARN("no taskset (util-linux): not tested here");
        return;
    }
    const int first = first_allowed_cpu();
    REQUIRE(first >= 0);
    const auto dir = temp_dir("one_cpu");
    const auto yaml = dir / "net.yaml";
    std::ofstream(yaml) << small_coba();
    const std::string run = std::string(ENGRAM_BINARY) + " run " + yaml.string() + " --set simulation.min_neurons_per_thread=100";
    const std::string one = (dir / "one.h5").string(), confined = (dir / "confined.h5").string();
    shell(run + " --threads 1 -o " + one + " 2>&1");
    const std::string text = shell("taskset -c " + std::to_string(first) + " " + run + " --threads 2 -o " + confined + " 2>&1");
    INFO(text);
    CHECK_THAT(text, Contains("2 threads asked for, 1 used") && Contains("may run on 1 CPU"));
    auto a = h5::open_file(one), b = h5::open_file(confined);
    for (const char* d : {"spikes/exc/node_ids", "spikes/inh/node_ids"})
        CHECK(h5::read_vector<std::uint64_t>(a, d, one) == h5::read_vector<std::uint64_t>(b, d, confined));
    CHECK(h5::read_vector<double>(a, "spikes/exc/timestamps", one) == h5::read_vector<double>(b, "spikes/exc/timestamps", confined));
    CHECK_FALSE(h5::read_vector<std::uint64_t>(a, "spikes/exc/node_ids", one).empty());
}
#endif

TEST_CASE("engram run stopped by SIGINT leaves the spikes of every step it ran, in the file and in its summary", "[unit][results]") {
    const auto dir = temp_dir("results_sigint");
    const auto yaml = dir / "net.yaml";
    const std::string net_yaml = small_coba() + "record: {spikes: all}\n";
    std::ofstream(yaml) << net_yaml;
    // 1 thread (on a machine with a core left over, the file is written by a thread of
    // its own) and 2 threads
    for (const char* threads : {"1", "2"}) {
        INFO("threads " << threads);
        const std::string out = (dir / (std::string("run") + threads + ".h5")).string();
        const std::string log = (dir / (std::string("run") + threads + ".txt")).string();
        const pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            if (!std::freopen(log.c_str(), "w", stdout)) std::_Exit(99);
            execl(ENGRAM_BINARY, ENGRAM_BINARY, "run", yaml.c_str(), "--threads", threads, "-o", out.c_str(), "--set",
                  "simulation.duration=100000s", static_cast<char*>(nullptr));
            std::_Exit(98);
        }
        // stop it once it has run a while (its file exists from the start of the run)
        for (int i = 0; i < 500 && !std::filesystem::exists(out + ".tmp"); ++i) usleep(10'000);
        usleep(300'000);
        kill(pid, SIGINT);
        int status = 0;
        REQUIRE(waitpid(pid, &status, 0) == pid);
        REQUIRE(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 130);
        const std::string text = [&] {
            std::ifstream in(log);
            return std::string(std::istreambuf_iterator<char>(in), {});
        }();
        INFO(text);
        CHECK_THAT(text, Contains("the results file holds everything up to then"));
        auto f = h5::open_file(out);
        CHECK(h5::read_attr_double(f, "complete", out) == 0);
        const double ms = h5::read_attr_double(f, "simulated_ms", out);
        REQUIRE(ms > 100.0);
        std::uint64_t in_file = 0;
        for (const char* pop : {"exc", "inh"}) {
            const auto t = h5::read_vector<double>(f, std::string("spikes/") + pop + "/timestamps", out);
            REQUIRE_FALSE(t.empty());
            CHECK(t.back() <= ms + 1e-9);
            in_file += t.size();
        }
        // the summary counted what the file holds
        std::uint64_t printed = 0;
        for (const char* pop : {"\nexc ", "\ninh "}) {
            const auto at = text.find(pop);
            REQUIRE(at != std::string::npos);
            std::istringstream row(text.substr(at + 1));
            std::string name, spikes;
            std::uint32_t neurons = 0;
            row >> name >> neurons >> spikes;
            spikes.erase(std::remove(spikes.begin(), spikes.end(), ','), spikes.end());
            printed += std::stoull(spikes);
        }
        CHECK(printed == in_file);
        // and the file holds the spikes of a run of exactly that length
        const auto ex = parse_experiment(net_yaml, "net.yaml", builtin_models());
        simulation sim(ex.spec, builtin_models());
        capture c;
        sim.run(static_cast<std::uint64_t>(std::llround(ms / ex.spec.simulation.dt)), &c);
        std::vector<std::uint64_t> ids;
        for (const auto& s : c.spikes)
            if (s.pop == 0) ids.push_back(s.id);
        CHECK(h5::read_vector<std::uint64_t>(f, "spikes/exc/node_ids", out) == ids);
    }
}
