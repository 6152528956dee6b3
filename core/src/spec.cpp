#include "engram/core/spec.hpp"

#include <algorithm>
#include <cmath>

#include "engram/core/errors.hpp"
#include "engram/core/rng.hpp"

namespace engram {

double distribution::sample(random_stream& rng) const {
    switch (type) {
        case kind::constant: return a;
        case kind::uniform: return rng.uniform(a, b);
        case kind::normal: {
            // Clipped normal: redraw outside [min, max] (PyNN's normal_clipped); fall back
            // to clamping after many tries so an absurd window cannot hang the build.
            for (int tries = 0; tries < 1000; ++tries) {
                const double x = a + b * rng.normal();
                if (x >= min && x <= max) return x;
            }
            return std::clamp(a, min, max);
        }
        case kind::lognormal: return a * std::exp(b * rng.normal());
        case kind::choice: return values[rng.below(static_cast<u32>(values.size()))];
    }
    return a;
}

double distribution::lowest() const {
    switch (type) {
        case kind::constant: return a;
        case kind::uniform: return std::min(a, b);
        case kind::normal: return min;
        case kind::lognormal: return a >= 0 ? 0.0 : -std::numeric_limits<double>::infinity();
        case kind::choice: return *std::min_element(values.begin(), values.end());
    }
    return a;
}

double distribution::highest() const {
    switch (type) {
        case kind::constant: return a;
        case kind::uniform: return std::max(a, b);
        case kind::normal: return max;
        case kind::lognormal: return a >= 0 ? std::numeric_limits<double>::infinity() : 0.0;
        case kind::choice: return *std::max_element(values.begin(), values.end());
    }
    return a;
}

const population_spec* network_spec::find_population(const std::string& name) const {
    for (const auto& p : populations)
        if (p.name == name) return &p;
    return nullptr;
}

std::size_t network_spec::population_index(const std::string& name) const {
    for (std::size_t i = 0; i < populations.size(); ++i)
        if (populations[i].name == name) return i;
    std::vector<std::string> names;
    for (const auto& p : populations) names.push_back(p.name);
    const std::string s = nearest(name, names);
    throw spec_error("", "unknown population '" + name + "'" +
                             (s.empty() ? std::string() : " (did you mean '" + s + "'?)"));
}

const layout_spec* network_spec::layout_of(const std::string& population) const {
    for (const auto& l : layouts)
        for (const auto& p : l.populations)
            if (p == population) return &l;
    return nullptr;
}

}  // namespace engram
