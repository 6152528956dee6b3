#pragma once
// The figures engram draws, as data: a raster figure (spike raster, population-rate
// panel, legend, axes, title, status line) and a state-trace figure. The geometry comes
// from axes.hpp; render.hpp draws them with SFML. No SFML here.
#include <cstdint>
#include <string>
#include <vector>

#include "engram/viz/axes.hpp"

namespace engram::viz {

// Population rate of one population: hz[i] covers [t0 + i*bin_ms, t0 + (i+1)*bin_ms).
struct rate_trace {
    double t0 = 0, bin_ms = 1;
    std::vector<double> hz;
};

struct raster_figure {
    std::string title, status;
    std::vector<population_band> populations;
    time_axis time;       // width: set from the layout by draw_raster_figure
    neuron_axis neurons;  // height: set from the layout by draw_raster_figure
    std::vector<raster_spike> spikes;
    std::vector<rate_trace> rates;   // one per population (may be empty)
    std::uint64_t stride = 1;        // draw every stride-th spike
    std::vector<std::string> notes;  // extra lines under the legend (keys, thinning)
};
struct state_figure {
    std::string title, units;
    double t0 = 0, t1 = 1;
    std::vector<std::string> names;           // one per trace
    std::vector<std::vector<double>> times;   // ms, one vector per trace
    std::vector<std::vector<double>> values;  // one vector per trace
};

}  // namespace engram::viz
