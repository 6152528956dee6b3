#include <catch2/catch.hpp>

#include "engram/core/units.hpp"

using namespace engram;
using Catch::Matchers::Contains;

TEST_CASE("quantities parse into engram's internal units", "[unit][units]") {
    CHECK(parse_quantity("20 ms").value == Approx(20.0));
    CHECK(parse_quantity("20 ms").dim == dimension::time);
    CHECK(parse_quantity("1 s").value == Approx(1000.0));
    CHECK(parse_quantity("250 us").value == Approx(0.25));
    CHECK(parse_quantity("-65mV").value == Approx(-65.0));
    CHECK(parse_quantity("0.065 V").value == Approx(65.0));
    CHECK(parse_quantity("1 nA").value == Approx(1000.0));
    CHECK(parse_quantity("0.25 nF").value == Approx(250.0));
    CHECK(parse_quantity("6 nS").value == Approx(6.0));
    CHECK(parse_quantity("0.01 uS").value == Approx(10.0));
    CHECK(parse_quantity("2 kHz").value == Approx(2000.0));
    CHECK(parse_quantity("100 MOhm").value == Approx(100.0));
    CHECK(parse_quantity("1e3 Hz").value == Approx(1000.0));
    CHECK(parse_quantity("0.5").dim == dimension::dimensionless);
}

TEST_CASE("a value of the wrong dimension is an error that says what was expected", "[unit][units]") {
    CHECK(parse_as("20 ms", dimension::time) == Approx(20.0));
    REQUIRE_THROWS_WITH(parse_as("20 mV", dimension::time), Contains("expected a time") && Contains("a voltage"));
    REQUIRE_THROWS_WITH(parse_as("20", dimension::voltage), Contains("needs a unit"));
    REQUIRE_THROWS_WITH(parse_quantity("20 parsecs"), Contains("unknown unit 'parsecs'"));
    REQUIRE_THROWS_WITH(parse_quantity("fast"), Contains("not a number"));
    REQUIRE_THROWS_WITH(parse_as("3 nS", dimension::dimensionless), Contains("expected a dimensionless"));
}
