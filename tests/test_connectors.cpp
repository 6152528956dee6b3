// Connectors: PyNN's rules and meanings, degree statistics within confidence bounds.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <tuple>

#include "engram/core/connectivity.hpp"
#include "engram/core/hdf5.hpp"
#include "engram/core/rng.hpp"
#include "helpers.hpp"

using namespace engram;
using namespace engram::test;

namespace {

projection_spec proj(const std::string& rule, bool same = false) {
    projection_spec p;
    p.name = "p";
    p.source = "a";
    p.target = same ? "a" : "b";
    p.connector.rule = rule;
    p.weight = distribution::constant(1.0, dimension::conductance);
    p.delay = distribution::constant(0.1, dimension::time);
    return p;
}

std::vector<std::size_t> in_degrees(const synapse_list& s, std::uint32_t n_post) {
    std::vector<std::size_t> d(n_post, 0);
    for (auto j : s.post) ++d[j];
    return d;
}

}  // namespace

TEST_CASE("all_to_all and one_to_one", "[unit][connectors]") {
    auto p = proj("all_to_all", true);
    CHECK(generate_synapses(p, 10, 10, 0.1, 1).size() == 100);
    p.connector.allow_self_connections = false;
    const auto s = generate_synapses(p, 10, 10, 0.1, 1);
    CHECK(s.size() == 90);
    for (std::size_t k = 0; k < s.size(); ++k) CHECK(s.pre[k] != s.post[k]);
    const auto o = generate_synapses(proj("one_to_one"), 7, 7, 0.1, 1);
    REQUIRE(o.size() == 7);
    for (std::size_t k = 0; k < 7; ++k) CHECK(o.pre[k] == o.post[k]);
}

TEST_CASE("fixed_probability: synapse count and in-degrees within binomial bounds", "[unit][connectors]") {
    auto p = proj("fixed_probability");
    p.connector.p = 0.02;
    const std::uint32_t n_pre = 3200, n_post = 4000;
    const auto s = generate_synapses(p, n_pre, n_post, 0.1, 5);
    const double mean = 0.02 * n_pre * n_post, sd = std::sqrt(mean * 0.98);
    CHECK(std::fabs(double(s.size()) - mean) < 5 * sd);
    // in-degree ~ Binomial(3200, 0.02): mean 64, variance 62.7
    const auto d = in_degrees(s, n_post);
    double m = 0, v = 0;
    for (auto x : d) m += x;
    m /= n_post;
    for (auto x : d) v += (x - m) * (x - m);
    v /= n_post - 1;
    CHECK(m == Approx(64.0).margin(5 * std::sqrt(62.72 / n_post)));
    CHECK(v == Approx(62.72).epsilon(0.1));
    // no duplicates within a target
    std::set<std::pair<std::uint32_t, std::uint32_t>> pairs;
    for (std::size_t k = 0; k < s.size(); ++k) pairs.insert({s.pre[k], s.post[k]});
    CHECK(pairs.size() == s.size());
    // p = 0 and p = 1
    p.connector.p = 0.0;
    CHECK(generate_synapses(p, 50, 50, 0.1, 1).size() == 0);
    p.connector.p = 1.0;
    CHECK(generate_synapses(p, 50, 50, 0.1, 1).size() == 2500);
}

TEST_CASE("fixed_probability draws the sources a plain geometric skip gives, gap by gap", "[unit][connectors]") {
    // An independent form of the rule: per target, from its own stream, the next source
    // is 1 + floor(log(u) / log(1 - p)) after the last one (libm's log, in double), until
    // it passes the last source. Very sparse rows (p = 1e-7: most gaps are far longer than
    // the population, the first ends the row; p = 1e-300: every gap is beyond any integer
    // type, and no synapse is made), dense ones and no self-connections too.
    for (const double pc : {1e-300, 1e-7, 0.003, 0.02, 0.5, 0.97}) {
        for (const bool self : {true, false}) {
            auto p = proj("fixed_probability", !self);
            p.connector.p = pc;
            p.connector.allow_self_connections = self;
            const bool sparse = pc > 1e-10 && pc < 1e-3;
            const std::uint32_t n_pre = sparse ? 20000 : 700, n_post = sparse ? 20000 : 600;
            const auto s = generate_synapses(p, n_pre, n_post, 0.1, 11);
            std::vector<std::pair<std::uint32_t, std::uint32_t>> want, got;
            const double inv = 1.0 / std::log1p(-pc);
            for (std::uint32_t j = 0; j < n_post; ++j) {
                random_stream rng(11, stream_id("conn/p"), j);
                for (double i = -1.0;;) {
                    i += 1.0 + std::floor(std::log(rng.uniform()) * inv);
                    if (i >= n_pre) break;
                    if (self || static_cast<std::uint32_t>(i) != j) want.push_back({static_cast<std::uint32_t>(i), j});
                }
            }
            for (std::size_t k = 0; k < s.size(); ++k) got.push_back({s.pre[k], s.post[k]});
            INFO("p = " << pc << ", self-connections " << self);
            CHECK(got == want);
            CHECK(want.empty() == (pc < 1e-10));
        }
    }
}

TEST_CASE("fixed_number_pre / fixed_number_post / fixed_total_number", "[unit][connectors]") {
    auto p = proj("fixed_number_pre", true);
    p.connector.n = 30;
    p.connector.allow_self_connections = false;
    auto s = generate_synapses(p, 100, 100, 0.1, 3);
    for (auto x : in_degrees(s, 100)) CHECK(x == 30);
    std::set<std::pair<std::uint32_t, std::uint32_t>> pairs;
    for (std::size_t k = 0; k < s.size(); ++k) {
        CHECK(s.pre[k] != s.post[k]);
        pairs.insert({s.pre[k], s.post[k]});
    }
    CHECK(pairs.size() == s.size());
    p.connector.n = 99;  // every other neuron
    CHECK(generate_synapses(p, 100, 100, 0.1, 3).size() == 9900);

    auto q = proj("fixed_number_post");
    q.connector.n = 12;
    s = generate_synapses(q, 40, 200, 0.1, 3);
    std::vector<int> out(40, 0);
    for (auto i : s.pre) ++out[i];
    for (auto x : out) CHECK(x == 12);

    auto t = proj("fixed_total_number");
    t.connector.n = 5000;
    s = generate_synapses(t, 100, 200, 0.1, 3);
    CHECK(s.size() == 5000);
    pairs.clear();
    for (std::size_t k = 0; k < s.size(); ++k) pairs.insert({s.pre[k], s.post[k]});
    CHECK(pairs.size() == 5000);
    t.connector.with_replacement = true;
    t.connector.n = 500;
    CHECK(generate_synapses(t, 10, 10, 0.1, 3).size() == 500);
}

TEST_CASE("expected_synapses is the count a connector makes: exactly for the fixed rules, the mean for fixed_probability", "[unit][connectors]") {
    // what chooses the number of workers before anything is built (simulation::size_for_workers)
    auto made = [](const projection_spec& p, std::uint32_t a, std::uint32_t b) { return generate_synapses(p, a, b, 0.1, 3).size(); };
    {
        auto p = proj("all_to_all", true);
        CHECK(expected_synapses(p, 30, 30) == made(p, 30, 30));
        p.connector.allow_self_connections = false;
        CHECK(expected_synapses(p, 30, 30) == 870);
        CHECK(made(p, 30, 30) == 870);
        auto q = proj("all_to_all");
        CHECK(expected_synapses(q, 30, 20) == 600);
        CHECK(made(q, 30, 20) == 600);
    }
    {
        const auto p = proj("one_to_one");
        CHECK(expected_synapses(p, 40, 40) == 40);
        CHECK(made(p, 40, 40) == 40);
    }
    for (const char* rule : {"fixed_number_pre", "fixed_number_post", "fixed_total_number"}) {
        INFO(rule);
        auto p = proj(rule);
        p.connector.n = 7;
        CHECK(expected_synapses(p, 50, 40) == made(p, 50, 40));
        CHECK(expected_synapses(p, 50, 40) == (std::string(rule) == "fixed_number_pre" ? 280u : std::string(rule) == "fixed_number_post" ? 350u : 7u));
    }
    {
        auto p = proj("fixed_probability", true);
        p.connector.p = 0.05;
        p.connector.allow_self_connections = false;
        const auto mean = expected_synapses(p, 2000, 2000);
        CHECK(mean == 199900);  // 0.05 of 2000 x 1999 pairs
        const double sd = std::sqrt(0.05 * 0.95 * 2000.0 * 1999.0);
        CHECK(std::abs(static_cast<double>(made(p, 2000, 2000)) - static_cast<double>(mean)) < 4 * sd);
    }
    {
        auto p = proj("from_list");
        p.connector.pre = {0, 1, 2};
        p.connector.post = {2, 2, 0};
        CHECK(expected_synapses(p, 3, 3) == 3);
    }
}

TEST_CASE("weight distributions: uniform, clipped normal, lognormal", "[unit][connectors]") {
    auto p = proj("all_to_all");
    p.weight = {distribution::kind::uniform, 1.0, 3.0, -INFINITY, INFINITY, dimension::conductance, {}};
    auto s = generate_synapses(p, 200, 200, 0.1, 1);
    double m = 0;
    for (float w : s.weight) { CHECK(w >= 1.0f); CHECK(w <= 3.0f); m += w; }
    CHECK(m / s.size() == Approx(2.0).margin(0.02));

    p.weight = {distribution::kind::normal, 1.0, 1.0, 0.0, 2.5, dimension::conductance, {}};
    s = generate_synapses(p, 200, 200, 0.1, 1);
    for (float w : s.weight) { CHECK(w >= 0.0f); CHECK(w <= 2.5f); }

    p.weight = {distribution::kind::lognormal, 2.0, 0.5, -INFINITY, INFINITY, dimension::conductance, {}};
    s = generate_synapses(p, 200, 200, 0.1, 1);
    std::vector<float> w(s.weight.begin(), s.weight.end());
    std::nth_element(w.begin(), w.begin() + w.size() / 2, w.end());
    CHECK(w[w.size() / 2] == Approx(2.0).epsilon(0.02));
}

TEST_CASE("connectivity does not depend on how targets are split into parts", "[unit][connectors]") {
    auto p = proj("fixed_probability");
    p.connector.p = 0.1;
    p.weight = {distribution::kind::normal, 1.0, 0.3, 0.0, 5.0, dimension::conductance, {}};
    p.delay = {distribution::kind::uniform, 0.1, 3.0, -INFINITY, INFINITY, dimension::time, {}};
    const auto one = build_projection(p, 300, 301, 0.1, 9, {{0, 301}}, 1);
    const auto three = build_projection(p, 300, 301, 0.1, 9, {{0, 100}, {100, 200}, {200, 301}}, 2);
    CHECK_FALSE(one.homogeneous_weight);
    CHECK_FALSE(one.uniform_delay);
    const auto a = one.to_list(), b = three.to_list();
    REQUIRE(a.size() > 8000);
    CHECK(a.pre == b.pre);
    CHECK(a.post == b.post);
    CHECK(a.weight == b.weight);
    CHECK(a.delay == b.delay);
    CHECK(one.max_delay == three.max_delay);
    // the rows hold the same synapses as the plain list (as a set: the orders differ)
    const auto list = generate_synapses(p, 300, 301, 0.1, 9);
    std::multiset<std::tuple<std::uint32_t, std::uint32_t, float, std::uint16_t>> x, y;
    for (std::size_t k = 0; k < a.size(); ++k) x.insert({a.pre[k], a.post[k], a.weight[k], a.delay[k]});
    for (std::size_t k = 0; k < list.size(); ++k) y.insert({list.pre[k], list.post[k], list.weight[k], list.delay[k]});
    CHECK(x == y);
}

TEST_CASE("a projection with one weight and one delay stores 2 bytes per synapse on parts of up to 65,536 neurons", "[unit][connectors]") {
    auto p = proj("fixed_probability");
    p.connector.p = 0.05;
    const auto r = build_projection(p, 2000, 2000, 0.1, 1, {{0, 2000}}, 1);
    CHECK(r.homogeneous_weight);
    CHECK(r.uniform_delay);
    REQUIRE(r.parts[0].compact());
    const double per_synapse = double(r.bytes() - 2001 * sizeof(std::uint64_t)) / r.size();
    CHECK(per_synapse == Approx(2.0).margin(0.1));

    // A part of 70,000 neurons needs 4-byte targets; split in two, each half takes 2-byte
    // offsets from its first neuron. The synapses are the same either way.
    p.connector.p = 0.0005;
    const auto wide = build_projection(p, 300, 70000, 0.1, 1, {{0, 70000}}, 1);
    const auto halves = build_projection(p, 300, 70000, 0.1, 1, {{0, 35008}, {35008, 70000}}, 1);
    CHECK_FALSE(wide.parts[0].compact());
    CHECK(halves.parts[0].compact());
    CHECK(halves.parts[1].compact());
    CHECK(halves.parts[1].target_base == 35008);
    REQUIRE(wide.size() > 5000);
    CHECK(double(wide.bytes() - 301 * sizeof(std::uint64_t)) / wide.size() == Approx(4.0).margin(0.1));
    const auto a = wide.to_list(), b = halves.to_list();
    CHECK(a.pre == b.pre);
    CHECK(a.post == b.post);
    bool beyond = false;  // some targets above 65,535 survive the round trip through offsets
    for (auto j : b.post) beyond = beyond || j > 65535;
    CHECK(beyond);

    // plastic projections (columns) too: rules are handed the offsets and the base
    build_options opt;
    opt.columns = true;
    CHECK(build_projection(p, 300, 2000, 0.1, 1, {{0, 2000}}, opt).parts[0].compact());
}

TEST_CASE("from_list reads inline lists, CSV files and HDF5 files", "[unit][connectors]") {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / "engram_test_from_list";
    fs::create_directories(dir);
    {
        std::ofstream csv(dir / "c.csv");
        csv << "# synapses, columns in any order\npost,pre,delay [us],weight [nS]\n1,0,1000,0.5\n0,2,300,1.5\n";
    }
    {
        auto f = h5::create_file((dir / "c.h5").string());
        h5::write_vector(f, "pre", std::vector<std::uint32_t>{1, 2}, "c.h5");
        h5::write_vector(f, "post", std::vector<std::uint32_t>{2, 2}, "c.h5");
        h5::write_vector(f, "weight", std::vector<double>{0.002, 0.003}, "c.h5");
        auto ds = h5::open_dataset(f, "weight", "c.h5");
        h5::write_attr(ds, "units", std::string("uS"), "c.h5");
    }
    for (const std::string& conn : std::vector<std::string>{"{rule: from_list, connections: [[0, 1, 0.5 nS, 1 ms], [2, 0, 1.5 nS, 0.3 ms]]}",
                                   "{rule: from_list, file: " + (dir / "c.csv").string() + "}",
                                   "{rule: from_list, file: " + (dir / "c.h5").string() + "}"}) {
        const std::string y = "simulation: {duration: 1 ms}\npopulations:\n  a: {size: 3, model: lif_cond_exp}\n"
                              "projections:\n  p: {source: a, target: a, weight: 9 nS, delay: 2 ms, connector: " + conn + "}\n";
        const auto spec = parse(y);
        simulation sim(spec, builtin_models());
        const auto s = sim.synapses(0);
        INFO(conn);
        REQUIRE(s.size() == 2);
        if (conn.find(".h5") != std::string::npos) {
            CHECK(s.pre == std::vector<std::uint32_t>{1, 2});
            CHECK(s.weight[0] == Approx(2.0));
            CHECK(s.weight[1] == Approx(3.0));
            CHECK(s.delay[0] == 20);  // projection's delay where the file has none
        } else {
            CHECK(s.pre == std::vector<std::uint32_t>{0, 2});
            CHECK(s.post == std::vector<std::uint32_t>{1, 0});
            CHECK(s.weight[1] == Approx(1.5));
            CHECK(s.delay[0] == 10);
            CHECK(s.delay[1] == 3);
        }
    }
    fs::remove_all(dir);
}

TEST_CASE("fixed_number_pre rows with a constant weight equal the sorted draws, dense and sparse", "[unit][connectors]") {
    // The rows of a constant-weight projection are filled from the sources in the order
    // drawn; they must hold exactly the synapses of the sorted list, row by row in
    // ascending target order, for dense (k close to n) and sparse (k << n) draws.
    for (const std::uint32_t n_pre : {300u, 20000u}) {
        auto p = proj("fixed_number_pre", false);
        p.connector.n = 40;
        const auto rows = build_projection(p, n_pre, 500, 0.1, 4, {{0, 250}, {250, 500}}, 2);
        REQUIRE(rows.homogeneous_weight);
        const auto a = rows.to_list();
        const auto list = generate_synapses(p, n_pre, 500, 0.1, 4);
        REQUIRE(a.size() == 500u * 40u);
        std::vector<std::pair<std::uint32_t, std::uint32_t>> x, y;
        for (std::size_t k = 0; k < a.size(); ++k) x.push_back({a.pre[k], a.post[k]});
        for (std::size_t k = 0; k < list.size(); ++k) y.push_back({list.pre[k], list.post[k]});
        std::sort(y.begin(), y.end());  // the list is by target; rows by source, then target
        CHECK(x == y);
    }
}

TEST_CASE("fixed_number_pre draws each target's sources as a plain set of draws does, sorted", "[unit][connectors]") {
    // An independent count of the draws: target j's stream gives below(avail) until n
    // values are distinct; sorted, and past j where self-connections are left out, they
    // are j's sources. Bitmaps of one bit in 64 (Brunel's 1,000 of 64,000), of one in two
    // (words of many bits), nearly full, and sparse ones (sorted picks).
    struct shape {
        std::uint32_t n_pre, k;
        bool same;
    };
    for (const shape sh : {shape{64000, 1000, false}, shape{6400, 100, true}, shape{2000, 1000, true}, shape{300, 290, false},
                           shape{200, 199, true}, shape{20000, 40, false}, shape{65, 3, true}}) {
        INFO(sh.n_pre << " sources, " << sh.k << " each, " << (sh.same ? "no self-connections" : "another population"));
        auto p = proj("fixed_number_pre", sh.same);
        p.connector.n = sh.k;
        p.connector.allow_self_connections = false;
        // drawn weights: the sources come sorted within a target
        p.weight = {distribution::kind::uniform, 0.5, 1.5, -INFINITY, INFINITY, dimension::conductance, {}};
        const std::uint32_t n_post = sh.same ? sh.n_pre : 40;
        const std::uint32_t checked = std::min<std::uint32_t>(n_post, 40);
        const auto list = generate_synapses(p, sh.n_pre, n_post, 0.1, 17);
        REQUIRE(list.size() == std::size_t(n_post) * sh.k);
        const std::uint32_t avail = sh.same ? sh.n_pre - 1 : sh.n_pre;
        for (std::uint32_t j = 0; j < checked; ++j) {
            random_stream rng(17, stream_id("conn/p"), j);
            std::set<std::uint32_t> got;
            while (got.size() < sh.k) got.insert(rng.below(avail));
            std::vector<std::uint32_t> expect;
            for (std::uint32_t x : got) expect.push_back(sh.same && x >= j ? x + 1 : x);
            const std::vector<std::uint32_t> sources(list.pre.begin() + std::ptrdiff_t(j) * sh.k,
                                                     list.pre.begin() + std::ptrdiff_t(j + 1) * sh.k);
            REQUIRE(std::all_of(list.post.begin() + std::ptrdiff_t(j) * sh.k, list.post.begin() + std::ptrdiff_t(j + 1) * sh.k,
                                [&](std::uint32_t t) { return t == j; }));
            CHECK(sources == expect);
        }
    }
}

TEST_CASE("rows of a projection with many sources keep each row's synapses in the order drawn", "[unit][connectors]") {
    // 300,000 sources: their rows' write positions, a line each, are beyond 16 MiB, so the
    // fill pass puts each chunk of drawn synapses (32 MiB: 2^22 of 8-byte pairs, 2^21 with
    // weights and delays) in order of source block; 4.4 million synapses make one full
    // chunk of pairs or two of synapses with values, and a partial one. Each row must still
    // hold its synapses in the order of the draws: the plain list, stably sorted by source.
    const std::uint32_t n_pre = 300000, n_post = 2000;
    for (const bool values : {true, false}) {
        INFO((values ? "weights and delays per synapse" : "one weight and one delay"));
        auto p = proj("fixed_number_pre");
        p.connector.n = 2200;
        if (values) {
            p.weight = {distribution::kind::normal, 1.0, 0.3, 0.0, 5.0, dimension::conductance, {}};
            p.delay = {distribution::kind::uniform, 0.1, 3.0, -INFINITY, INFINITY, dimension::time, {}};
        }
        const auto list = generate_synapses(p, n_pre, n_post, 0.1, 21);
        REQUIRE(list.size() == std::size_t(n_post) * 2200);
        std::vector<std::size_t> order(list.size());
        for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
        std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return list.pre[x] < list.pre[y]; });
        for (const auto& parts : {std::vector<neuron_range>{{0, n_post}}, std::vector<neuron_range>{{0, 700}, {700, n_post}}}) {
            INFO(parts.size() << " parts");
            const auto rows = build_projection(p, n_pre, n_post, 0.1, 21, parts, 2);
            REQUIRE(rows.homogeneous_weight == !values);
            const auto a = rows.to_list();
            REQUIRE(a.size() == list.size());
            // to_list: by source, then part by part, each row in its stored order
            std::vector<std::size_t> expect;
            expect.reserve(order.size());
            for (std::size_t b = 0; b < order.size();) {
                std::size_t e = b;
                while (e < order.size() && list.pre[order[e]] == list.pre[order[b]]) ++e;
                for (const auto& r : parts)
                    for (std::size_t k = b; k < e; ++k)
                        if (list.post[order[k]] >= r.begin && list.post[order[k]] < r.end) expect.push_back(order[k]);
                b = e;
            }
            std::size_t bad = 0;
            for (std::size_t k = 0; k < a.size(); ++k) {
                const std::size_t x = expect[k];
                if (a.pre[k] != list.pre[x] || a.post[k] != list.post[x] || (values && (a.weight[k] != float(list.weight[x]) || a.delay[k] != list.delay[x])))
                    ++bad;
            }
            CHECK(bad == 0);
        }
    }
}

TEST_CASE("plastic projections: columns find every synapse's source from the rows; 10 or 12 bytes per synapse",
          "[unit][connectors]") {
    build_options opt;
    opt.columns = opt.per_synapse_weights = true;
    auto check = [](const projection_rows& r, std::uint32_t n_pre) {
        for (const auto& part : r.parts) {
            REQUIRE(part.col_syn.size() == part.synapses());
            // every synapse is in its target's column exactly once, and source_of gives its row
            std::vector<int> seen(part.synapses(), 0);
            for (std::size_t j = 0; j + 1 < part.col_begin.size(); ++j)
                for (std::uint64_t c = part.col_begin[j]; c < part.col_begin[j + 1]; ++c) {
                    const std::uint32_t s = part.col_syn[c];
                    ++seen[s];
                    CHECK(part.target_of(s) == j);
                    const std::uint32_t i = part.source_of(s);
                    REQUIRE(i < n_pre);
                    CHECK(part.row_begin[i] <= s);
                    CHECK(s < part.row_begin[i + 1]);
                }
            for (int x : seen) CHECK(x == 1);
        }
    };
    SECTION("random rows, one part and three") {
        auto p = proj("fixed_probability");
        p.connector.p = 0.07;
        check(build_projection(p, 500, 400, 0.1, 3, {{0, 400}}, opt), 500);
        check(build_projection(p, 500, 400, 0.1, 3, {{0, 100}, {100, 101}, {101, 400}}, opt), 500);
    }
    SECTION("skewed rows: one source with most synapses, many empty rows") {
        auto p = proj("from_list");
        for (std::uint32_t j = 0; j < 3000; ++j) { p.connector.pre.push_back(7); p.connector.post.push_back(j % 50); }
        for (std::uint32_t i = 100; i < 2000; i += 37) { p.connector.pre.push_back(i); p.connector.post.push_back(i % 50); }
        p.connector.pre.push_back(1999);
        p.connector.post.push_back(3);
        p.connector.weight.assign(p.connector.pre.size(), NAN);
        p.connector.delay.assign(p.connector.pre.size(), NAN);
        check(build_projection(p, 2000, 50, 0.1, 1, {{0, 50}}, opt), 2000);
        check(build_projection(p, 2000, 50, 0.1, 1, {{0, 20}, {20, 50}}, opt), 2000);
    }
    SECTION("storage: target, weight and column entry per synapse") {
        // a part of at most 65,536 neurons stores 2-byte targets (10 bytes), a larger one
        // 4-byte targets (12 bytes)
        auto p = proj("fixed_number_pre");
        p.connector.n = 200;
        const auto r = build_projection(p, 4000, 2000, 0.1, 2, {{0, 2000}}, opt);
        REQUIRE(r.parts[0].compact());
        const std::size_t per_neuron = (4001 + 2001) * sizeof(std::uint64_t);
        CHECK(double(r.bytes() - per_neuron) / double(r.size()) == Approx(10.0).margin(0.1));
        p.connector.n = 20;
        const auto big = build_projection(p, 4000, 70000, 0.1, 2, {{0, 70000}}, opt);
        REQUIRE_FALSE(big.parts[0].compact());
        const std::size_t big_per_neuron = (4001 + 70001) * sizeof(std::uint64_t);
        CHECK(double(big.bytes() - big_per_neuron) / double(big.size()) == Approx(12.0).margin(0.1));
        check(big, 4000);
    }
}

TEST_CASE("plastic rows and columns built from one pass of draws equal those built from two", "[unit][connectors]") {
    // build_options::columns_first lists each target's sources in the columns during the
    // only pass of draws, then puts them in the rows; without it the rows come from two
    // passes and the columns from the rows. Every array must be the same, element by
    // element (the columns' order is the one STDP's updates at postsynaptic spikes take).
    build_options one_pass, two_passes;
    one_pass.columns = one_pass.per_synapse_weights = true;
    two_passes = one_pass;
    two_passes.columns_first = false;
    auto same = [](const projection_rows& a, const projection_rows& b) {
        REQUIRE(a.parts.size() == b.parts.size());
        CHECK(a.max_delay == b.max_delay);
        for (std::size_t k = 0; k < a.parts.size(); ++k) {
            const csr_rows &x = a.parts[k], &y = b.parts[k];
            CHECK((x.row_begin == y.row_begin));  // (as a bool: Catch would print every element)
            CHECK((x.target == y.target));
            CHECK((x.target16 == y.target16));
            CHECK(x.target_base == y.target_base);
            CHECK((x.weight == y.weight));
            CHECK((x.delay == y.delay));
            CHECK((x.col_begin == y.col_begin));
            CHECK((x.col_syn == y.col_syn));
            CHECK((x.src_block == y.src_block));
            CHECK(x.src_shift == y.src_shift);
        }
    };
    const std::vector<std::vector<neuron_range>> splits = {{{0, 700}}, {{0, 224}, {224, 225}, {225, 700}}, {{0, 0}, {0, 700}, {700, 700}}};
    for (const auto& parts : splits) {
        for (const std::string rule : {"fixed_number_pre", "all_to_all", "one_to_one", "fixed_probability"}) {
            for (bool self : {false, true}) {
                for (bool replace : {false, true}) {
                    for (bool drawn : {false, true}) {  // weights and delays drawn, or one each
                        CAPTURE(rule, self, replace, drawn, parts.size());
                        auto p = proj(rule, self);
                        p.connector.n = 40;
                        p.connector.p = 0.06;
                        p.connector.with_replacement = replace;
                        p.weight = distribution::constant(0.25, dimension::conductance);
                        if (drawn) {
                            p.weight = {distribution::kind::uniform, 0.1, 0.5, -INFINITY, INFINITY, dimension::conductance, {}};
                            p.delay = {distribution::kind::uniform, 0.1, 3.0, -INFINITY, INFINITY, dimension::time, {}};
                        }
                        const std::uint32_t n_pre = rule == "one_to_one" || self ? 700 : 650;
                        const auto a = build_projection(p, n_pre, 700, 0.1, 4, parts, one_pass);
                        const auto b = build_projection(p, n_pre, 700, 0.1, 4, parts, two_passes);
                        REQUIRE(a.size() > 0);
                        CHECK(a.uniform_delay != drawn);
                        same(a, b);
                        if (!drawn)
                            for (const auto& part : a.parts)
                                CHECK(std::all_of(part.weight.begin(), part.weight.end(), [](float w) { return w == 0.25f; }));
                    }
                }
            }
        }
    }
    // beyond 65,536 targets a part keeps 4-byte targets, with one weight or drawn ones; a
    // projection of more sources, or whose rule makes its synapses by source, takes the
    // two passes and gives the same arrays too
    auto wide = proj("fixed_number_pre");
    wide.connector.n = 3;
    same(build_projection(wide, 400, 70000, 0.1, 8, {{0, 70000}}, one_pass),
         build_projection(wide, 400, 70000, 0.1, 8, {{0, 70000}}, two_passes));
    wide.weight = {distribution::kind::normal, 1.0, 0.3, 0.0, 5.0, dimension::conductance, {}};
    same(build_projection(wide, 400, 70000, 0.1, 8, {{0, 70000}}, one_pass),
         build_projection(wide, 400, 70000, 0.1, 8, {{0, 70000}}, two_passes));
    auto many = proj("fixed_number_pre");  // more than 262,144 sources
    many.connector.n = 5;
    same(build_projection(many, 300000, 200, 0.1, 8, {{0, 96}, {96, 200}}, one_pass),
         build_projection(many, 300000, 200, 0.1, 8, {{0, 96}, {96, 200}}, two_passes));
    auto post = proj("fixed_number_post");
    post.connector.n = 30;
    same(build_projection(post, 300, 300, 0.1, 8, {{0, 150}, {150, 300}}, one_pass),
         build_projection(post, 300, 300, 0.1, 8, {{0, 150}, {150, 300}}, two_passes));
}

TEST_CASE("a plastic part whose one pass makes more synapses than it has room for grows its columns", "[unit][connectors]") {
    // columns_first sizes the columns' array for the count it expects (for
    // fixed_probability the mean and 6 standard deviations more, which a draw does not
    // pass), and grows it where more synapses come. Started with room for 10, 100 and
    // 5,000 of about 6,000, the one pass grows it once, a few times or not at all, and
    // gives the rows and columns of the two passes, with the columns' array as long as
    // the synapses.
    build_options two_passes;
    two_passes.columns = two_passes.per_synapse_weights = true;
    two_passes.columns_first = false;
    for (const std::string rule : {"fixed_probability", "fixed_number_pre"}) {
        auto p = proj(rule);
        p.connector.p = 0.1;
        p.connector.n = 60;
        const std::vector<neuron_range> parts = {{0, 40}, {40, 100}};
        const auto b = build_projection(p, 600, 100, 0.1, 12, parts, two_passes);
        for (std::size_t room : {10u, 100u, 5000u}) {
            CAPTURE(rule, room);
            build_options one_pass = two_passes;
            one_pass.columns_first = true;
            one_pass.columns_room = room;
            const auto a = build_projection(p, 600, 100, 0.1, 12, parts, one_pass);
            REQUIRE(a.size() == b.size());
            REQUIRE(a.size() > 5000);
            for (std::size_t k = 0; k < parts.size(); ++k) {
                const csr_rows &x = a.parts[k], &y = b.parts[k];
                CHECK(x.col_syn.size() == x.synapses());
                CHECK((x.row_begin == y.row_begin));
                CHECK((x.target16 == y.target16));
                CHECK((x.col_begin == y.col_begin));
                CHECK((x.col_syn == y.col_syn));
            }
        }
    }
}

TEST_CASE("parts above and below the cap on kept draws hold the same rows", "[unit][connectors]") {
    // A part of at most 2^20 synapses fills its rows from the pairs its counting pass
    // kept (grown from room for 4,096 as they come); a larger one drops them at the cap
    // and draws again, as does a part whose source and target place do not fit in 32
    // bits together. 300 sources x 4,000 targets x 300 per target = 1,200,000 synapses in
    // one part (above the cap) and 300,000 in each of four (below it): the same synapses,
    // and those of the sorted list.
    auto p = proj("fixed_number_pre", false);
    p.connector.n = 300;
    const auto one = build_projection(p, 300, 4000, 0.1, 5, {{0, 4000}}, 1);
    const auto four = build_projection(p, 300, 4000, 0.1, 5, {{0, 1024}, {1024, 2048}, {2048, 3072}, {3072, 4000}}, 2);
    REQUIRE(one.homogeneous_weight);
    REQUIRE(one.size() == 1200000u);
    const auto a = one.to_list(), b = four.to_list();
    CHECK(a.pre == b.pre);
    CHECK(a.post == b.post);
    auto sorted_list = [](const projection_spec& q, std::uint32_t n_pre, std::uint32_t n_post) {
        const auto list = generate_synapses(q, n_pre, n_post, 0.1, 5);
        std::vector<std::pair<std::uint32_t, std::uint32_t>> y;
        for (std::size_t k = 0; k < list.size(); ++k) y.push_back({list.pre[k], list.post[k]});
        std::sort(y.begin(), y.end());
        return y;
    };
    auto pairs = [](const synapse_list& l) {
        std::vector<std::pair<std::uint32_t, std::uint32_t>> x;
        for (std::size_t k = 0; k < l.size(); ++k) x.push_back({l.pre[k], l.post[k]});
        return x;
    };
    CHECK(pairs(a) == sorted_list(p, 300, 4000));
    // 2^17 sources and a part of 2^16 + 1 targets: 17 + 17 bits, drawn again; one of 2^15
    // targets: 17 + 15 bits, kept
    p.connector.n = 2;
    for (const std::uint32_t n_post : {65537u, 32768u}) {
        INFO("targets " << n_post);
        const auto big = build_projection(p, 131072, n_post, 0.1, 5, {{0, n_post}}, 1);
        REQUIRE(big.size() == 2u * n_post);
        CHECK(pairs(big.to_list()) == sorted_list(p, 131072, n_post));
    }
}

TEST_CASE("rows cut anew for another partition hold each part's synapses as a build for it does", "[unit][connectors]") {
    // resplit_rows makes a part of a new partition from the parts of an old one (the
    // engine's moving cuts). Rules that make synapses target by target store each row in
    // the order of its targets, as the new part's own build does: the arrays must be the
    // same element by element. fixed_number_post makes them by source, in the order drawn:
    // each row must hold the same synapses, and each target's synapses from one source in
    // the same order (the order in which their weights are added).
    const std::uint32_t n = 700;
    const std::vector<std::vector<neuron_range>> splits = {
        {{0, 700}}, {{0, 224}, {224, 700}}, {{0, 448}, {448, 700}}, {{0, 0}, {0, 32}, {32, 700}, {700, 700}}, {{0, 96}, {96, 160}, {160, 700}}};
    for (const std::string rule : {"fixed_probability", "fixed_number_pre", "fixed_number_post", "all_to_all"}) {
        for (bool drawn : {false, true}) {
            for (std::uint32_t targets : {n, 70000u}) {  // 2-byte and 4-byte stored targets
                auto p = proj(rule, true);
                p.connector.n = 30;
                p.connector.p = 0.05;
                p.connector.with_replacement = true;  // multapses: several synapses to one target
                p.weight = distribution::constant(0.25, dimension::conductance);
                if (drawn) {
                    p.weight = {distribution::kind::uniform, 0.1, 0.5, -INFINITY, INFINITY, dimension::conductance, {}};
                    p.delay = {distribution::kind::uniform, 0.1, 3.0, -INFINITY, INFINITY, dimension::time, {}};
                }
                if (targets > n && rule == "all_to_all") continue;
                auto scaled = [&](const std::vector<neuron_range>& s) {  // the splits, stretched to `targets`
                    std::vector<neuron_range> out;
                    for (const auto& r : s) out.push_back({r.begin * (targets / n), r.end == n ? targets : r.end * (targets / n)});
                    return out;
                };
                const std::uint32_t n_pre = targets > n ? 300 : n;
                for (const auto& from : splits) {
                    const auto old = build_projection(p, n_pre, targets, 0.1, 9, scaled(from));
                    for (const auto& to : splits) {
                        CAPTURE(rule, drawn, targets, from.size(), to.size());
                        const auto fresh = build_projection(p, n_pre, targets, 0.1, 9, scaled(to));
                        const auto want = scaled(to);
                        const bool in_order = rows_sorted(old);
                        if (rule != "fixed_number_post") CHECK(in_order);
                        for (std::size_t k = 0; k < want.size(); ++k) {
                            for (bool sorted : {false, true}) {
                                if (sorted && !in_order) continue;
                                CAPTURE(k, sorted);
                                const csr_rows got = resplit_rows(old, scaled(from), want[k], sorted);
                                const csr_rows& ref = fresh.parts[k];
                                CHECK((got.row_begin == ref.row_begin));
                                CHECK(got.compact() == ref.compact());
                                CHECK(got.target_base == ref.target_base);
                                CHECK(got.weight.empty() == ref.weight.empty());
                                CHECK(got.delay.empty() == ref.delay.empty());
                                if (in_order) {
                                    CHECK((got.target == ref.target));
                                    CHECK((got.target16 == ref.target16));
                                    CHECK((got.weight == ref.weight));
                                    CHECK((got.delay == ref.delay));
                                    continue;
                                }
                                // by source: each row's synapses, sorted stably by target
                                bool same = got.row_begin == ref.row_begin;
                                for (std::uint32_t i = 0; same && i < n_pre; ++i) {
                                    auto row = [&](const csr_rows& c) {
                                        std::vector<std::tuple<std::uint32_t, float, std::uint16_t>> r;
                                        for (std::uint64_t s = c.row_begin[i]; s < c.row_begin[i + 1]; ++s)
                                            r.emplace_back(c.target_of(s), c.weight.empty() ? 0.0f : c.weight[s], c.delay.empty() ? 0 : c.delay[s]);
                                        std::stable_sort(r.begin(), r.end(), [](const auto& x, const auto& y) { return std::get<0>(x) < std::get<0>(y); });
                                        return r;
                                    };
                                    same = row(got) == row(ref);
                                }
                                CHECK(same);
                            }
                        }
                    }
                }
            }
        }
    }
    // rows out of order (each reversed) are cut anew entry by entry: each row holds the
    // same synapses as the new part's own build
    auto p = proj("fixed_probability", true);
    p.connector.p = 0.05;
    p.weight = {distribution::kind::uniform, 0.1, 0.5, -INFINITY, INFINITY, dimension::conductance, {}};
    const std::vector<neuron_range> from = {{0, 224}, {224, 700}}, to = {{0, 96}, {96, 448}, {448, 700}};
    auto reversed = build_projection(p, n, n, 0.1, 9, from);
    for (auto& c : reversed.parts)
        for (std::uint32_t i = 0; i < n; ++i) {
            std::reverse(c.target16.begin() + static_cast<std::ptrdiff_t>(c.row_begin[i]), c.target16.begin() + static_cast<std::ptrdiff_t>(c.row_begin[i + 1]));
            std::reverse(c.weight.begin() + static_cast<std::ptrdiff_t>(c.row_begin[i]), c.weight.begin() + static_cast<std::ptrdiff_t>(c.row_begin[i + 1]));
        }
    REQUIRE_FALSE(rows_sorted(reversed));
    const auto fresh = build_projection(p, n, n, 0.1, 9, to);
    for (std::size_t k = 0; k < to.size(); ++k) {
        const csr_rows got = resplit_rows(reversed, from, to[k]);
        CHECK((got.row_begin == fresh.parts[k].row_begin));
        bool same = true;
        for (std::uint32_t i = 0; i < n; ++i) {
            auto row = [&](const csr_rows& c) {
                std::vector<std::pair<std::uint32_t, float>> r;
                for (std::uint64_t s = c.row_begin[i]; s < c.row_begin[i + 1]; ++s) r.emplace_back(c.target_of(s), c.weight[s]);
                std::sort(r.begin(), r.end());
                return r;
            };
            same = same && row(got) == row(fresh.parts[k]);
        }
        CHECK(same);
    }
    // columns (plastic synapses) are not cut anew
    build_options plastic;
    plastic.columns = plastic.per_synapse_weights = true;
    const auto with_columns = build_projection(proj("fixed_probability"), n, n, 0.1, 9, {{0, 224}, {224, 700}}, plastic);
    CHECK_THROWS_AS(resplit_rows(with_columns, {{0, 224}, {224, 700}}, {0, 700}), std::logic_error);
    CHECK_THROWS_AS(resplit_rows(with_columns, {{0, 700}}, {0, 700}), std::logic_error);
}
