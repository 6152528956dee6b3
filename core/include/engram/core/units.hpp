#pragma once
// Physical units. Inside engram every quantity is a plain double in the NEST convention:
// ms, mV, pA, pF, nS, Hz (and MOhm = mV/nA, so R*I in MOhm*pA is 1e-3 mV).
// Only the configuration layer sees unit strings; the engine never does.
#include <string>
#include <string_view>

namespace engram {

enum class dimension {
    dimensionless,
    time,         // ms
    voltage,      // mV
    current,      // pA
    capacitance,  // pF
    conductance,  // nS
    frequency,    // Hz
    resistance,   // MOhm
};

struct quantity {
    double value = 0.0;  // in engram's internal unit for `dim`
    dimension dim = dimension::dimensionless;
};

// Name of a dimension ("time") and its internal unit ("ms").
std::string_view dimension_name(dimension d);
std::string_view internal_unit(dimension d);

// Parses "20 ms", "-65mV", "0.6 nS", "1e3 Hz", "5" (dimensionless).
// Throws std::invalid_argument with a message naming the problem.
quantity parse_quantity(std::string_view text);

// Parses and checks the dimension; a bare number is accepted only for dimensionless
// quantities. Throws std::invalid_argument ("expected a time such as '20 ms', got '3 mV'").
double parse_as(std::string_view text, dimension expected);

// An example value for error messages ("20 ms").
std::string_view example_of(dimension d);

}  // namespace engram
