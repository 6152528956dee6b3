#include "engram/core/units.hpp"

#include <array>
#include <cctype>
#include <charconv>
#include <stdexcept>
#include <string>

namespace engram {
namespace {

struct unit_entry {
    std::string_view symbol;
    dimension dim;
    double scale;  // multiply to get engram's internal unit
};

// Internal units: ms, mV, pA, pF, nS, Hz, MOhm.
constexpr std::array<unit_entry, 27> units{{
    {"s", dimension::time, 1e3},          {"ms", dimension::time, 1.0},
    {"us", dimension::time, 1e-3},        {"min", dimension::time, 6e4},
    {"V", dimension::voltage, 1e3},       {"mV", dimension::voltage, 1.0},
    {"uV", dimension::voltage, 1e-3},     {"A", dimension::current, 1e12},
    {"mA", dimension::current, 1e9},      {"uA", dimension::current, 1e6},
    {"nA", dimension::current, 1e3},      {"pA", dimension::current, 1.0},
    {"F", dimension::capacitance, 1e12},  {"uF", dimension::capacitance, 1e6},
    {"nF", dimension::capacitance, 1e3},  {"pF", dimension::capacitance, 1.0},
    {"S", dimension::conductance, 1e9},   {"mS", dimension::conductance, 1e6},
    {"uS", dimension::conductance, 1e3},  {"nS", dimension::conductance, 1.0},
    {"pS", dimension::conductance, 1e-3}, {"Hz", dimension::frequency, 1.0},
    {"kHz", dimension::frequency, 1e3},   {"Ohm", dimension::resistance, 1e-6},
    {"kOhm", dimension::resistance, 1e-3},{"MOhm", dimension::resistance, 1.0},
    {"GOhm", dimension::resistance, 1e3},
}};

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

}  // namespace

std::string_view dimension_name(dimension d) {
    switch (d) {
        case dimension::dimensionless: return "dimensionless number";
        case dimension::time: return "time";
        case dimension::voltage: return "voltage";
        case dimension::current: return "current";
        case dimension::capacitance: return "capacitance";
        case dimension::conductance: return "conductance";
        case dimension::frequency: return "frequency";
        case dimension::resistance: return "resistance";
    }
    return "?";
}

std::string_view internal_unit(dimension d) {
    switch (d) {
        case dimension::dimensionless: return "";
        case dimension::time: return "ms";
        case dimension::voltage: return "mV";
        case dimension::current: return "pA";
        case dimension::capacitance: return "pF";
        case dimension::conductance: return "nS";
        case dimension::frequency: return "Hz";
        case dimension::resistance: return "MOhm";
    }
    return "";
}

std::string_view example_of(dimension d) {
    switch (d) {
        case dimension::dimensionless: return "0.5";
        case dimension::time: return "20 ms";
        case dimension::voltage: return "-65 mV";
        case dimension::current: return "100 pA";
        case dimension::capacitance: return "250 pF";
        case dimension::conductance: return "0.6 nS";
        case dimension::frequency: return "10 Hz";
        case dimension::resistance: return "100 MOhm";
    }
    return "";
}

quantity parse_quantity(std::string_view text) {
    const std::string_view s = trim(text);
    if (s.empty()) throw std::invalid_argument("empty value");
    double v = 0.0;
    const char* first = s.data();
    const char* last = s.data() + s.size();
    if (*first == '+') ++first;
    auto [ptr, ec] = std::from_chars(first, last, v);
    if (ec != std::errc() || ptr == first)
        throw std::invalid_argument("'" + std::string(s) + "' is not a number with a unit");
    const std::string_view unit = trim(std::string_view(ptr, static_cast<std::size_t>(last - ptr)));
    if (unit.empty()) return {v, dimension::dimensionless};
    for (const auto& u : units)
        if (u.symbol == unit) return {v * u.scale, u.dim};
    std::string known;
    for (const auto& u : units) { known += known.empty() ? "" : ", "; known += u.symbol; }
    throw std::invalid_argument("unknown unit '" + std::string(unit) + "' in '" + std::string(s) +
                                "' (known units: " + known + ")");
}

double parse_as(std::string_view text, dimension expected) {
    const quantity q = parse_quantity(text);
    if (q.dim == expected) return q.value;
    if (q.dim == dimension::dimensionless)
        throw std::invalid_argument("'" + std::string(trim(text)) + "' needs a unit: expected a " +
                                    std::string(dimension_name(expected)) + " such as '" +
                                    std::string(example_of(expected)) + "'");
    throw std::invalid_argument("expected a " + std::string(dimension_name(expected)) +
                                " such as '" + std::string(example_of(expected)) + "', got '" +
                                std::string(trim(text)) + "' (a " +
                                std::string(dimension_name(q.dim)) + ")");
}

}  // namespace engram
