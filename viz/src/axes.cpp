#include "engram/viz/axes.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace engram::viz {

figure_layout raster_layout(unsigned width, unsigned height) {
    const int w = static_cast<int>(width), h = static_cast<int>(height);
    const int left = 80, right = 170, top = 34, bottom = 56, rate_h = std::max(40, h / 6), gap = 12;
    figure_layout l;
    l.title_y = 8;
    l.raster = {left, top, std::max(1, w - left - right), std::max(1, h - top - bottom - rate_h - gap)};
    l.rate = {left, l.raster.y + l.raster.h + gap, l.raster.w, rate_h};
    l.legend = {l.raster.x + l.raster.w + 16, top, right - 24, l.raster.h};
    l.status_y = h - 22;
    return l;
}

trace_layout state_layout(unsigned width, unsigned height) {
    const int w = static_cast<int>(width), h = static_cast<int>(height);
    const int left = 80, right = 170, top = 34, bottom = 56;
    trace_layout l;
    l.title_y = 8;
    l.plot = {left, top, std::max(1, w - left - right), std::max(1, h - top - bottom)};
    l.legend = {l.plot.x + l.plot.w + 16, top, right - 24, l.plot.h};
    return l;
}

int time_axis::column(double t) const {
    if (!(t >= t0 && t <= t1) || t1 <= t0) return -1;
    const int c = static_cast<int>(std::floor((t - t0) / (t1 - t0) * width));
    return std::clamp(c, 0, width - 1);
}

neuron_axis::band neuron_axis::rows(std::uint64_t n) const {
    if (n < first || n >= first + count || height <= 0) return {};
    const std::uint64_t i = n - first, h = static_cast<std::uint64_t>(height);
    if (count <= h) {
        return {static_cast<int>(i * h / count), static_cast<int>((i + 1) * h / count)};
    }
    const int r = static_cast<int>(i * h / count);
    return {r, r + 1};
}

std::uint64_t neuron_axis::neuron_at(int y) const {
    const std::uint64_t h = static_cast<std::uint64_t>(std::max(1, height));
    const std::uint64_t yy = static_cast<std::uint64_t>(std::clamp(y, 0, height - 1));
    // smallest i with floor(i*h/count) >= yy
    return first + (yy * count + h - 1) / h;
}

std::uint64_t neuron_axis::neurons_per_row() const {
    const std::uint64_t h = static_cast<std::uint64_t>(std::max(1, height));
    return count <= h ? 1 : (count + h - 1) / h;
}

std::vector<population_band> stack_populations(const std::vector<std::pair<std::string, std::uint64_t>>& sizes) {
    std::vector<population_band> out;
    std::uint64_t off = 0;
    for (const auto& [name, n] : sizes) {
        out.push_back({name, n, off});
        off += n;
    }
    return out;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
    std::vector<double> out;
    if (!(hi > lo) || target < 1) return out;
    const double raw = (hi - lo) / target, mag = std::pow(10.0, std::floor(std::log10(raw)));
    double step = mag;
    for (double m : {1.0, 2.0, 5.0, 10.0}) {
        step = m * mag;
        if (step >= raw) break;
    }
    for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
        out.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
    return out;
}

std::string tick_label(double v, double step) {
    char buf[64];
    const int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
    std::snprintf(buf, sizeof buf, "%.*f", std::clamp(decimals, 0, 6), v);
    return buf;
}

double nice_bin(double span_ms, int bins, double min_ms) {
    if (!(span_ms > 0) || bins < 1) return std::max(min_ms, 1.0);
    const double raw = span_ms / bins, mag = std::pow(10.0, std::floor(std::log10(raw)));
    double b = mag;
    for (double m : {1.0, 2.0, 5.0, 10.0}) {
        b = m * mag;
        if (b >= raw) break;
    }
    return std::max(b, min_ms);
}

std::uint64_t thinning_stride(std::uint64_t n, std::uint64_t budget) {
    if (budget == 0 || n <= budget) return 1;
    return (n + budget - 1) / budget;
}

std::vector<double> binned_rate(const std::vector<double>& times, std::uint64_t size, double t0, double bin_ms,
                                std::size_t n_bins) {
    std::vector<double> r(n_bins, 0.0);
    if (size == 0 || !(bin_ms > 0)) return r;
    for (double t : times) {
        const double b = std::floor((t - t0) / bin_ms);
        if (b >= 0 && b < static_cast<double>(n_bins)) r[static_cast<std::size_t>(b)] += 1.0;
    }
    const double scale = 1000.0 / (bin_ms * static_cast<double>(size));
    for (auto& v : r) v *= scale;
    return r;
}

rgba population_colour(std::size_t pop) {
    // Tableau 10: distinct on white, for colour-blind readers too in its first entries.
    static constexpr rgba palette[] = {0x1f77b4ff, 0xd62728ff, 0x2ca02cff, 0xff7f0eff, 0x9467bdff,
                                       0x8c564bff, 0xe377c2ff, 0x7f7f7fff, 0xbcbd22ff, 0x17becfff};
    return palette[pop % (sizeof palette / sizeof palette[0])];
}

namespace {

rgba blend(rgba c, double a) {  // c over the background, opacity a
    auto ch = [&](int shift) {
        const double f = static_cast<double>((c >> shift) & 0xffu),
                     b = static_cast<double>((background_colour >> shift) & 0xffu);
        return static_cast<rgba>(std::lround(b + (f - b) * a)) << shift;
    };
    return ch(24) | ch(16) | ch(8) | 0xffu;
}

}  // namespace

std::uint64_t paint_raster(std::vector<rgba>& pixels, const time_axis& tx, const neuron_axis& ny,
                           const std::vector<raster_spike>& spikes, std::uint64_t stride) {
    const int w = tx.width, h = ny.height;
    const std::size_t n_px = static_cast<std::size_t>(w) * static_cast<std::size_t>(h);
    if (pixels.size() < n_px) return 0;
    if (stride == 0) stride = 1;
    std::uint64_t painted = 0;
    if (ny.neurons_per_row() == 1) {
        // One neuron per band of rows: each spike is a solid tick.
        for (std::size_t i = 0; i < spikes.size(); i += stride) {
            const auto& s = spikes[i];
            const int c = tx.column(s.t);
            if (c < 0) continue;
            auto b = ny.rows(s.neuron);
            if (b.top < 0) continue;
            if (b.bottom - b.top >= 3) --b.bottom;
            const rgba colour = population_colour(s.pop);
            for (int y = b.top; y < b.bottom; ++y) pixels[static_cast<std::size_t>(y) * w + c] = colour;
            ++painted;
        }
        return painted;
    }
    // Several neurons per row: a pixel's shade says how many spikes fell in it, relative to
    // the mean over marked pixels (the mean: 60 % colour; twice the mean or more: full), so
    // dense activity stays readable instead of saturating.
    static thread_local std::vector<std::uint32_t> count;  // reused: this runs every frame
    static thread_local std::vector<std::uint8_t> pop;
    count.assign(n_px, 0);
    pop.assign(n_px, 0);
    for (std::size_t i = 0; i < spikes.size(); i += stride) {
        const auto& s = spikes[i];
        const int c = tx.column(s.t);
        if (c < 0) continue;
        const auto b = ny.rows(s.neuron);
        if (b.top < 0) continue;
        const std::size_t k = static_cast<std::size_t>(b.top) * w + c;
        ++count[k];
        pop[k] = static_cast<std::uint8_t>(std::min<std::uint32_t>(s.pop, 255));
        ++painted;
    }
    std::uint64_t marked = 0;
    for (auto v : count) marked += v > 0;
    if (marked == 0) return painted;
    const double mean = static_cast<double>(painted) / static_cast<double>(marked);
    for (std::size_t k = 0; k < n_px; ++k)
        if (count[k] > 0) pixels[k] = blend(population_colour(pop[k]), std::min(1.0, 0.2 + 0.4 * count[k] / mean));
    return painted;
}

}  // namespace engram::viz
