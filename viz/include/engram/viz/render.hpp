#pragma once
// Drawing with SFML: a raster figure (spike raster, population-rate panel, legend, axes,
// title, status line) and a state-trace figure, onto any sf::RenderTarget (the live
// window or an offscreen sf::RenderTexture). The geometry comes from axes.hpp.
#include <SFML/Graphics.hpp>

#include <string>
#include <vector>

#include "engram/viz/axes.hpp"

namespace engram::viz {

// True when an X or Wayland display is named in the environment.
bool display_available();
// Throws engram::error saying what needs a display and how to get one (xvfb-run -a).
void require_display(const std::string& what);

// The font for labels: $ENGRAM_FONT if set, else DejaVu Sans from the usual places.
// Throws engram::error naming the paths tried and the package to install.
const sf::Font& label_font();

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
// Draws the figure into the whole target. Returns the number of spikes painted.
std::uint64_t draw_raster_figure(sf::RenderTarget& target, raster_figure& fig);

struct state_figure {
    std::string title, units;
    double t0 = 0, t1 = 1;
    std::vector<std::string> names;           // one per trace
    std::vector<std::vector<double>> times;   // ms, one vector per trace
    std::vector<std::vector<double>> values;  // one vector per trace
};
void draw_state_figure(sf::RenderTarget& target, const state_figure& fig);

// Saves what was drawn into a render texture as PNG; throws io_error on failure.
void save_png(const sf::Image& image, const std::string& path);

}  // namespace engram::viz
