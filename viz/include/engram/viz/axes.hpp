#pragma once
// The pure geometry of engram's plots, shared by the live window and `engram plot`, and
// used by the tests to predict where a spike must appear: panel layout, time -> pixel
// column, neuron -> pixel rows (at most one row per pixel), rate binning, tick choice,
// thinning, and the raster painted into a plain pixel buffer. No SFML here.
#include <cstdint>
#include <string>
#include <vector>

namespace engram::viz {

struct rect {
    int x = 0, y = 0, w = 0, h = 0;
    bool contains(int px, int py) const { return px >= x && px < x + w && py >= y && py < y + h; }
};

// Panels of a raster figure of `width` x `height` pixels: the raster, the population-rate
// panel under it (sharing its time axis), the legend on the right; a title/status line
// at the top, time tick labels under the rate panel, neuron tick labels on the left.
struct figure_layout {
    rect raster, rate, legend;
    int title_y = 0, status_y = 0;
};
figure_layout raster_layout(unsigned width, unsigned height);

// Panels of a state-trace figure: one plot area and a legend.
struct trace_layout {
    rect plot, legend;
    int title_y = 0;
};
trace_layout state_layout(unsigned width, unsigned height);

// Time (ms) -> pixel column within a panel of `width` pixels showing [t0, t1].
struct time_axis {
    double t0 = 0, t1 = 1;
    int width = 1;
    // Column of time t (0 .. width-1), or -1 when t is outside [t0, t1].
    int column(double t) const;
    double time_at(double col) const { return t0 + (t1 - t0) * col / width; }
};

// Neurons (a global index over the populations shown, stacked top to bottom) -> pixel
// rows of a panel `height` pixels high, showing neurons [first, first + count). With
// fewer neurons than pixels each neuron gets a band of rows; with more, neurons are
// aggregated, several per pixel row, so there is never more than one row per pixel.
struct neuron_axis {
    std::uint64_t first = 0, count = 1;
    int height = 1;
    // Rows [top, bottom) of neuron n; empty (top == bottom == -1) when n is not shown.
    struct band {
        int top = -1, bottom = -1;
    };
    band rows(std::uint64_t n) const;
    // The neuron drawn at pixel row y (the first of the aggregated ones).
    std::uint64_t neuron_at(int y) const;
    std::uint64_t neurons_per_row() const;  // 1 when neurons are spread over several rows
};

// Populations stacked on the neuron axis: name, size, first global index.
struct population_band {
    std::string name;
    std::uint64_t size = 0, offset = 0;
};
std::vector<population_band> stack_populations(const std::vector<std::pair<std::string, std::uint64_t>>& sizes);

// About `target` round tick values (1, 2, 5 x 10^k) within [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target = 6);
std::string tick_label(double v, double step);

// A bin width (ms) giving about `bins` bins over `span_ms`, rounded to 1, 2, 5 x 10^k and
// at least `min_ms`.
double nice_bin(double span_ms, int bins, double min_ms);

// Thinning: draw every k-th spike so that at most `budget` of `n` are drawn (k >= 1).
std::uint64_t thinning_stride(std::uint64_t n, std::uint64_t budget);

// Population rate (Hz) per bin of `bin_ms` over [t0, t0 + n_bins * bin_ms): spike times
// (ms) of a population of `size` neurons; a spike at time t goes to bin floor((t-t0)/bin).
std::vector<double> binned_rate(const std::vector<double>& times, std::uint64_t size, double t0, double bin_ms,
                                std::size_t n_bins);

// A spike to paint: time (ms), global neuron index, population (colour index).
struct raster_spike {
    double t = 0;
    std::uint64_t neuron = 0;
    std::uint32_t pop = 0;
};

// RGBA colours packed as 0xRRGGBBAA.
using rgba = std::uint32_t;
constexpr rgba background_colour = 0xffffffffu;
rgba population_colour(std::size_t pop);

// Paints spikes into `pixels` (w x h, row-major, one rgba per pixel, already cleared).
// With one neuron per band of rows, a spike marks its column over its neuron's band in
// its population's colour (the band's last row left blank when the band is 3 rows or
// more, so neighbouring neurons stay apart). With several neurons per row, a pixel's
// colour is shaded by the number of spikes in it (mean over marked pixels: 60 %;
// twice the mean or more: full colour), so dense networks stay readable. Every
// `stride`-th spike is painted (1: all). Returns how many were painted.
std::uint64_t paint_raster(std::vector<rgba>& pixels, const time_axis& tx, const neuron_axis& ny,
                           const std::vector<raster_spike>& spikes, std::uint64_t stride = 1);

}  // namespace engram::viz
