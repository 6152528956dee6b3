#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "../core/src/poisson.hpp"
#include "engram/core/rng.hpp"

using namespace engram;

TEST_CASE("Philox4x32-10 matches the Random123 known-answer vectors", "[unit][rng]") {
    CHECK(philox4x32({0, 0, 0, 0}, {0, 0}) == std::array<u32, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
    CHECK(philox4x32({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}) ==
          std::array<u32, 4>{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
    CHECK(philox4x32({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u}) ==
          std::array<u32, 4>{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("draws are a pure function of (seed, stream, neuron, counter)", "[unit][rng]") {
    random_stream a(42, 7, 3), b(42, 7, 3), c(43, 7, 3), d(42, 8, 3), e(42, 7, 4);
    for (int i = 0; i < 10; ++i) {
        const u32 x = a.next_u32();
        CHECK(x == b.next_u32());
        CHECK(x != c.next_u32());
        CHECK(x != d.next_u32());
        CHECK(x != e.next_u32());
    }
    CHECK(uniform_at(1, 2, 3, 4) == uniform_at(1, 2, 3, 4));
    CHECK(uniform_at(1, 2, 3, 4) != uniform_at(1, 2, 3, 5));
}

TEST_CASE("a stream's draws are the Philox blocks of counters start, start+1, ... in order", "[unit][rng]") {
    // long streams refill four blocks at a time; the words must be those of single blocks,
    // across the 2^32 carry of the counter too
    for (const u64 start : {u64(0), u64(0xfffffffdu)}) {
        const u64 seed = 0x123456789abcdefULL;
        const u32 stream = 11, neuron = 0xfffffff0u;
        random_stream r(seed, stream, neuron, start);
        for (u64 blk = 0; blk < 23; ++blk) {
            const u64 ctr = start + blk;
            const auto want = philox4x32({stream, neuron, static_cast<u32>(ctr), static_cast<u32>(ctr >> 32)},
                                         {static_cast<u32>(seed), static_cast<u32>(seed >> 32) ^ stream});
            for (u32 w : want) {
                INFO("start " << start << " block " << blk);
                REQUIRE(r.next_u32() == w);
            }
        }
    }
}

TEST_CASE("next_u32s gives the words of as many next_u32 calls, in runs of any length, drawn in bulk or not", "[unit][rng]") {
    for (const bool bulk : {false, true})
        for (const int run : {1, 3, 4, 5, 8, 13, 16}) {
            INFO("bulk " << bulk << ", runs of " << run);
            random_stream one(42, 7, 9, 0xfffffffdu), many(42, 7, 9, 0xfffffffdu);  // across the counter's carry
            if (bulk) many.draw_in_bulk();
            u32 got[16];
            for (int k = 0; k < 40; ++k) {
                many.next_u32s(got, run);
                for (int w = 0; w < run; ++w) REQUIRE(got[w] == one.next_u32());
                // and single draws between runs
                if (k % 3 == 0) REQUIRE(many.next_u32() == one.next_u32());
            }
        }
}

TEST_CASE("uniform, normal and bounded integers have the right moments", "[unit][rng]") {
    random_stream r(1, 1, 1);
    const int n = 200000;
    double su = 0, sn = 0, sn2 = 0;
    std::vector<int> bins(7, 0);
    for (int i = 0; i < n; ++i) {
        su += r.uniform();
        const double z = r.normal();
        sn += z;
        sn2 += z * z;
        ++bins[r.below(7)];
    }
    CHECK(su / n == Approx(0.5).margin(5 * std::sqrt(1.0 / 12 / n)));
    CHECK(sn / n == Approx(0.0).margin(5 / std::sqrt(n)));
    CHECK(sn2 / n == Approx(1.0).margin(5 * std::sqrt(2.0 / n)));
    for (int b : bins) CHECK(b == Approx(n / 7.0).margin(5 * std::sqrt(n / 7.0)));
}

TEST_CASE("the tabulated Poisson draw gives the same counts as the recurrence", "[unit][rng]") {
    for (double lambda : {0.01, 2.0, 7.5}) {
        const auto cdf = poisson_table(lambda);
        random_stream a(9, 1, 2), b(9, 1, 2);
        for (int i = 0; i < 20000; ++i) REQUIRE(poisson_draw(a, lambda, cdf) == poisson_draw(b, lambda));
    }
}

TEST_CASE("sixteen Philox blocks of consecutive groups are those of single blocks", "[unit][rng]") {
    // the per-step draws of a Poisson stimulus: counters (stream, group, step low, step
    // high) for 16 groups at once, in neuron order; across the 2^32 wrap of the group too
    const std::array<u32, 2> key{0x9abcdef0u, 0x12345678u};
    for (const u32 group0 : {0u, 1000u, 0xfffffff8u})
        for (const u64 step : {u64(1), u64(0x1ffffffffULL)}) {
            u32 out[64];
            philox4x32_x16_groups(77, group0, static_cast<u32>(step), static_cast<u32>(step >> 32), key, out);
            for (u32 l = 0; l < 16; ++l) {
                const auto want = philox4x32({77, group0 + l, static_cast<u32>(step), static_cast<u32>(step >> 32)}, key);
                for (u32 w = 0; w < 4; ++w) {
                    INFO("group " << group0 + l << ", word " << w << ", step " << step);
                    REQUIRE(out[4 * l + w] == want[w]);
                }
            }
        }
}

TEST_CASE("Poisson counts from thresholds on the 32 random bits are the table's", "[unit][rng]") {
    // poisson_from_bits(x) must equal poisson_from_uniform(to_unit(x)) for every x: at each
    // threshold and its neighbours, at the ends, beyond the table and at random
    for (double lambda : {0.01, 0.5, 2.0, 7.5, 9.99}) {
        INFO("lambda " << lambda);
        const auto cdf = poisson_table(lambda);
        const auto thr = poisson_thresholds(cdf);
        REQUIRE(thr.size() == cdf.size());
        std::vector<u32> xs{0u, 1u, 0x7fffffffu, 0xfffffffeu, 0xffffffffu};
        for (u32 t : thr)
            for (long long d = -2; d <= 2; ++d) {
                const long long x = static_cast<long long>(t) + d;
                if (x >= 0 && x <= 0xffffffffLL) xs.push_back(static_cast<u32>(x));
            }
        random_stream r(1, 2, 3);
        for (int i = 0; i < 20000; ++i) xs.push_back(r.next_u32());
        for (u32 x : xs) {
            INFO("x " << x);
            REQUIRE(poisson_from_bits(x, lambda, cdf, thr) == poisson_from_uniform(to_unit(x), lambda, cdf));
        }
        // the thresholds increase, and the count of a threshold's own value is its index
        for (std::size_t k = 0; k + 1 < thr.size(); ++k) CHECK(thr[k] <= thr[k + 1]);
        CHECK(poisson_from_bits(thr[0], lambda, cdf, thr) == 0);
        // the full table's last threshold is 2^32 - 1: no count passes the table
        CHECK(thr.back() == 0xffffffffu);
        // cut short, the table is passed and the recurrence goes on, one value at a time and
        // 64 at a time alike
        for (std::size_t len : {std::size_t(1), std::size_t(3)}) {
            const std::vector<double> short_cdf(cdf.begin(), cdf.begin() + static_cast<std::ptrdiff_t>(len));
            const auto short_thr = poisson_thresholds(short_cdf);
            std::size_t passed = 0;
            for (std::size_t b = 0; b + 64 <= xs.size(); b += 64) {
                u32 count[64];
                poisson_from_bits_64(xs.data() + b, lambda, short_cdf, short_thr, count);
                for (std::size_t j = 0; j < 64; ++j) {
                    const u32 x = xs[b + j];
                    INFO("table of " << len << ", x " << x);
                    const u32 want = poisson_from_uniform(to_unit(x), lambda, cdf);
                    REQUIRE(poisson_from_bits(x, lambda, short_cdf, short_thr) == want);
                    REQUIRE(count[j] == want);
                    passed += want >= len;
                }
            }
            if (lambda >= 2.0) CHECK(passed > 100);  // the recurrence did run
        }
        // and 64 at a time on the full table
        for (std::size_t b = 0; b + 64 <= xs.size(); b += 64) {
            u32 count[64];
            poisson_from_bits_64(xs.data() + b, lambda, cdf, thr, count);
            for (std::size_t j = 0; j < 64; ++j) REQUIRE(count[j] == poisson_from_uniform(to_unit(xs[b + j]), lambda, cdf));
        }
    }
    // a table whose first entry is below 2^-33 (lambda > 22) has no integer thresholds
    CHECK_THROWS(poisson_thresholds(poisson_table(30.0)));
}

TEST_CASE("Poisson counts have mean and variance lambda on both algorithm branches", "[unit][rng]") {
    for (double lambda : {0.05, 2.5, 9.9, 10.0, 35.0, 400.0}) {
        random_stream r(3, 11, static_cast<u32>(lambda * 100));
        const int n = 100000;
        double s = 0, s2 = 0;
        for (int i = 0; i < n; ++i) {
            const double k = poisson_draw(r, lambda);
            s += k;
            s2 += k * k;
        }
        const double mean = s / n, var = s2 / n - mean * mean;
        INFO("lambda " << lambda);
        CHECK(mean == Approx(lambda).margin(5 * std::sqrt(lambda / n)));
        CHECK(var == Approx(lambda).epsilon(0.03).margin(0.002));
    }
}

// unit_log: within 1.5 ulp of the exact log (long double reference) over
// to_unit's whole range, at its ends, and on both sides of the sqrt(2) split.
TEST_CASE("unit_log is within 1.5 ulp of log over to_unit's values", "[unit][rng]") {
    double worst = 0.0;
    auto check = [&](double u) {
        const long double exact = std::log(static_cast<long double>(u));
        const double got = engram::unit_log(u);
        const double ulp = std::nextafter(std::fabs(static_cast<double>(exact)), 1e300) - std::fabs(static_cast<double>(exact));
        worst = std::max(worst, static_cast<double>(std::fabs(static_cast<long double>(got) - exact)) / ulp);
    };
    engram::random_stream rng(7, 3, 0);
    for (int k = 0; k < 200000; ++k) check(rng.uniform());
    for (std::uint32_t x : {0u, 1u, 2u, 1000u, 0x7FFFFFFFu, 0xB504F333u, 0xB504F334u, 0xFFFFFFFEu, 0xFFFFFFFFu}) check(engram::to_unit(x));
    const double r = 0.70710678118654752;  // 1/sqrt(2), the split
    for (double u : {r, std::nextafter(r, 0.0), std::nextafter(r, 1.0), 0.5, 0.25, 1.0}) check(u);
    CHECK(worst < 1.5);
    CHECK(engram::unit_log(1.0) == 0.0);
    CHECK(engram::unit_log(0.5) == std::log(0.5));
}
