#pragma once
// `engram plot`: figures of a results file (docs/results-format.md) rendered offscreen
// (sf::RenderTexture) to PNG: a spike raster with population-rate traces, or the
// recorded state traces of one population's variable.
#include <optional>
#include <string>
#include <vector>

#include "engram/viz/axes.hpp"

namespace engram::viz {

struct plot_options {
    std::string out;                       // PNG path (default: beside the file, <stem>.png or <stem>_<pop>_<var>.png)
    std::optional<double> from, to;        // ms; default: the whole run
    std::vector<std::string> populations;  // shown, in this order; default: all, in file order
    std::string state;                     // "POP/VAR": plot /report/POP/VAR instead of spikes
    unsigned width = 1200, height = 800;
    double bin_ms = 0;  // rate bin; 0: about 200 bins over the range
};

// The spikes of a results file, as the raster plot uses them.
struct spike_data {
    std::vector<population_band> populations;  // stacked in the order shown
    std::vector<raster_spike> spikes;          // global neuron index, time-ordered per population
    std::vector<std::vector<double>> times;    // per population: spike times (ms)
    double t0 = 0, t1 = 1;                     // time range shown (ms)
    double dt = 0.1;
};
// Reads /spikes of `file` for the options' populations and time range. Throws io_error /
// error naming the file and what is missing.
spike_data read_spikes(const std::string& file, const plot_options& opt);

// The axes the raster plot of `data` uses at opt.width x opt.height (tests predict pixel
// positions with it): the raster panel in the figure, time -> column, neuron -> rows.
struct raster_mapping {
    rect raster;
    time_axis time;
    neuron_axis neurons;
};
raster_mapping plot_mapping(const spike_data& data, const plot_options& opt);

// Renders and writes the PNG; returns its path.
std::string plot_results(const std::string& file, const plot_options& opt);

}  // namespace engram::viz
