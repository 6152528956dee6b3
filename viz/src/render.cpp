#include "engram/viz/render.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>

#include "engram/core/errors.hpp"

namespace engram::viz {

namespace {

const sf::Color ink(40, 40, 40), grid(200, 200, 200), faint(120, 120, 120);

sf::Color colour_of(rgba c) {
    return sf::Color(c);
}

void draw_text(sf::RenderTarget& t, const std::string& s, float x, float y, unsigned size = 13, sf::Color c = ink,
               float align = 0.f /* 0 left, 0.5 centre, 1 right */) {
    sf::Text text(s, label_font(), size);
    text.setFillColor(c);
    const auto b = text.getLocalBounds();
    text.setPosition(std::round(x - align * (b.left + b.width)), std::round(y));
    t.draw(text);
}

void draw_line(sf::RenderTarget& t, float x0, float y0, float x1, float y1, sf::Color c) {
    const sf::Vertex v[] = {sf::Vertex({x0, y0}, c), sf::Vertex({x1, y1}, c)};
    t.draw(v, 2, sf::Lines);
}

// A 1-pixel frame just outside r, so nothing is drawn over the panel's pixels.
void draw_frame(sf::RenderTarget& t, const rect& r) {
    sf::RectangleShape s({static_cast<float>(r.w), static_cast<float>(r.h)});
    s.setPosition(static_cast<float>(r.x), static_cast<float>(r.y));
    s.setFillColor(sf::Color::Transparent);
    s.setOutlineColor(ink);
    s.setOutlineThickness(1.f);
    t.draw(s);
}

void draw_time_ticks(sf::RenderTarget& t, const rect& r, const time_axis& tx) {
    const auto ticks = nice_ticks(tx.t0, tx.t1, std::max(2, r.w / 110));
    const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1.0;
    const float yb = static_cast<float>(r.y + r.h);
    for (double v : ticks) {
        const float x = static_cast<float>(r.x) + static_cast<float>((v - tx.t0) / (tx.t1 - tx.t0) * r.w);
        draw_line(t, x, yb + 1, x, yb + 6, ink);
        draw_text(t, tick_label(v, step), x, yb + 8, 12, ink, 0.5f);
    }
    draw_text(t, "time (ms)", static_cast<float>(r.x + r.w), yb + 26, 12, faint, 1.f);
}

// Average of the trace's bins over [ta, tb): the rate drawn in one pixel column.
double column_rate(const rate_trace& tr, double ta, double tb) {
    if (tr.hz.empty() || !(tr.bin_ms > 0)) return std::nan("");
    const double fa = (ta - tr.t0) / tr.bin_ms, fb = (tb - tr.t0) / tr.bin_ms;
    long b0 = static_cast<long>(std::floor(fa)), b1 = std::max(b0 + 1, static_cast<long>(std::ceil(fb)));
    b0 = std::max(b0, 0L);
    b1 = std::min(b1, static_cast<long>(tr.hz.size()));
    if (b1 <= b0) return std::nan("");
    double s = 0;
    for (long b = b0; b < b1; ++b) s += tr.hz[static_cast<std::size_t>(b)];
    return s / static_cast<double>(b1 - b0);
}

}  // namespace

const sf::Font& label_font() {
    // Never destroyed: SFML needs a GL context to free glyph textures, and none is left
    // during static destruction.
    static sf::Font& font = *new sf::Font;
    static bool loaded = false;
    if (loaded) return font;
    std::vector<std::string> tried;
    if (const char* env = std::getenv("ENGRAM_FONT"); env && *env) {
        if (!font.loadFromFile(env)) throw io_error(env, "load font", "not a font SFML can read (ENGRAM_FONT)");
        loaded = true;
        return font;
    }
    for (const char* p : {"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf",
                          "/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
                          "/usr/local/share/fonts/DejaVuSans.ttf"}) {
        tried.push_back(p);
        if (std::filesystem::exists(p) && font.loadFromFile(p)) {
            loaded = true;
            return font;
        }
    }
    std::string list;
    for (const auto& p : tried) list += (list.empty() ? "" : ", ") + p;
    throw error("no font for plot labels: tried " + list +
                "; install fonts-dejavu-core (scripts/install-deps.sh) or set ENGRAM_FONT to a .ttf file");
}

std::uint64_t draw_raster_figure(sf::RenderTarget& target, raster_figure& fig) {
    const auto size = target.getSize();
    const auto l = raster_layout(size.x, size.y);
    fig.time.width = l.raster.w;
    fig.neurons.height = l.raster.h;
    target.clear(colour_of(background_colour));

    // Raster: painted into a pixel buffer, one texel per pixel.
    static thread_local std::vector<rgba> px;
    px.assign(static_cast<std::size_t>(l.raster.w) * static_cast<std::size_t>(l.raster.h), background_colour);
    const std::uint64_t painted = paint_raster(px, fig.time, fig.neurons, fig.spikes, fig.stride);
    // 0xRRGGBBAA values -> bytes R, G, B, A in memory, in place.
    static_assert(std::endian::native == std::endian::little || std::endian::native == std::endian::big);
    if constexpr (std::endian::native == std::endian::little)
        for (auto& v : px) v = __builtin_bswap32(v);
    static sf::Texture& tex = *new sf::Texture;  // reused between frames; never destroyed (see label_font)
    if (tex.getSize() != sf::Vector2u(static_cast<unsigned>(l.raster.w), static_cast<unsigned>(l.raster.h)) &&
        !tex.create(static_cast<unsigned>(l.raster.w), static_cast<unsigned>(l.raster.h)))
        throw error("cannot create a " + std::to_string(l.raster.w) + "x" + std::to_string(l.raster.h) +
                    " texture for the raster");
    tex.update(reinterpret_cast<const sf::Uint8*>(px.data()));
    sf::Sprite sprite(tex);
    sprite.setPosition(static_cast<float>(l.raster.x), static_cast<float>(l.raster.y));
    target.draw(sprite);

    // Population boundaries: a grey line across the raster at each population's first
    // row, and a bar in its colour left of the raster.
    for (std::size_t p = 0; p < fig.populations.size(); ++p) {
        const auto& pb = fig.populations[p];
        const std::uint64_t lo = std::max(pb.offset, fig.neurons.first),
                            hi = std::min(pb.offset + pb.size, fig.neurons.first + fig.neurons.count);
        if (pb.size == 0 || lo >= hi) continue;
        const int top = fig.neurons.rows(lo).top, bottom = fig.neurons.rows(hi - 1).bottom;
        sf::RectangleShape bar({4.f, static_cast<float>(bottom - top)});
        bar.setPosition(static_cast<float>(l.raster.x - 7), static_cast<float>(l.raster.y + top));
        bar.setFillColor(colour_of(population_colour(p)));
        target.draw(bar);
        if (pb.offset > fig.neurons.first && pb.offset == lo) {
            const float y = static_cast<float>(l.raster.y + top) + 0.5f;
            draw_line(target, static_cast<float>(l.raster.x), y, static_cast<float>(l.raster.x + l.raster.w), y, grid);
        }
    }
    draw_frame(target, l.raster);

    // Neuron ticks (global index, populations stacked in legend order).
    {
        const double lo = static_cast<double>(fig.neurons.first),
                     hi = static_cast<double>(fig.neurons.first + fig.neurons.count - 1);
        auto ticks = nice_ticks(lo, std::max(hi, lo + 1), std::max(2, l.raster.h / 70));
        const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1.0;
        for (double v : ticks) {
            const auto b = fig.neurons.rows(static_cast<std::uint64_t>(v));
            if (b.top < 0) continue;
            const float y = static_cast<float>(l.raster.y) + 0.5f * static_cast<float>(b.top + b.bottom);
            draw_line(target, static_cast<float>(l.raster.x - 14), y, static_cast<float>(l.raster.x - 9), y, ink);
            draw_text(target, tick_label(v, step), static_cast<float>(l.raster.x - 16), y - 8, 12, ink, 1.f);
        }
        sf::Text lab("neuron", label_font(), 12);
        lab.setFillColor(faint);
        lab.setRotation(-90.f);
        lab.setPosition(4.f, static_cast<float>(l.raster.y + l.raster.h / 2 + 20));
        target.draw(lab);
    }

    // Rate panel.
    double ymax = 0;
    std::vector<std::vector<double>> cols(fig.rates.size());
    for (std::size_t p = 0; p < fig.rates.size(); ++p) {
        cols[p].resize(static_cast<std::size_t>(l.rate.w));
        for (int c = 0; c < l.rate.w; ++c) {
            const double v = column_rate(fig.rates[p], fig.time.time_at(c), fig.time.time_at(c + 1));
            cols[p][static_cast<std::size_t>(c)] = v;
            if (std::isfinite(v)) ymax = std::max(ymax, v);
        }
    }
    // The top of the rate axis: the first round value (1, 2, 5 x 10^k) above the highest rate.
    if (ymax > 0) {
        const auto t = nice_ticks(0, ymax, 2);
        const double step = t.size() > 1 ? t[1] - t[0] : ymax;
        ymax = std::ceil(ymax * 1.02 / step) * step;
    } else {
        ymax = 1.0;
    }
    for (std::size_t p = 0; p < cols.size(); ++p) {
        sf::VertexArray strip(sf::LineStrip);
        auto flush = [&] {
            if (strip.getVertexCount() > 1) target.draw(strip);
            strip.clear();
        };
        for (int c = 0; c < l.rate.w; ++c) {
            const double v = cols[p][static_cast<std::size_t>(c)];
            if (!std::isfinite(v)) {
                flush();
                continue;
            }
            const float y = static_cast<float>(l.rate.y + l.rate.h) - static_cast<float>(v / ymax * (l.rate.h - 2)) - 1;
            strip.append(sf::Vertex({static_cast<float>(l.rate.x + c) + 0.5f, y}, colour_of(population_colour(p))));
        }
        flush();
    }
    draw_frame(target, l.rate);
    draw_text(target, tick_label(ymax, ymax), static_cast<float>(l.rate.x - 6), static_cast<float>(l.rate.y - 2), 12,
              ink, 1.f);
    draw_text(target, "0", static_cast<float>(l.rate.x - 6), static_cast<float>(l.rate.y + l.rate.h - 14), 12, ink,
              1.f);
    draw_text(target, "rate (Hz)", static_cast<float>(l.rate.x - 6), static_cast<float>(l.rate.y + l.rate.h / 2 - 8),
              11, faint, 1.f);
    draw_time_ticks(target, l.rate, fig.time);
    for (double v : nice_ticks(fig.time.t0, fig.time.t1, std::max(2, l.raster.w / 110))) {
        const float x = static_cast<float>(l.raster.x) +
                        static_cast<float>((v - fig.time.t0) / (fig.time.t1 - fig.time.t0) * l.raster.w);
        draw_line(target, x, static_cast<float>(l.raster.y + l.raster.h + 1), x,
                  static_cast<float>(l.raster.y + l.raster.h + 5), ink);
    }

    // Legend and notes.
    float y = static_cast<float>(l.legend.y);
    for (std::size_t p = 0; p < fig.populations.size(); ++p) {
        sf::RectangleShape sw({12.f, 12.f});
        sw.setPosition(static_cast<float>(l.legend.x), y + 3);
        sw.setFillColor(colour_of(population_colour(p)));
        target.draw(sw);
        draw_text(target, fig.populations[p].name, static_cast<float>(l.legend.x + 18), y, 13);
        draw_text(target, std::to_string(fig.populations[p].size) + " neurons", static_cast<float>(l.legend.x + 18),
                  y + 16, 11, faint);
        y += 38;
    }
    if (fig.neurons.neurons_per_row() > 1) {
        draw_text(target, std::to_string(fig.neurons.neurons_per_row()) + " neurons per row",
                  static_cast<float>(l.legend.x), y, 11, faint);
        y += 16;
    }
    for (const auto& n : fig.notes) {
        draw_text(target, n, static_cast<float>(l.legend.x), y, 11, faint);
        y += 16;
    }
    draw_text(target, fig.title, static_cast<float>(l.raster.x), static_cast<float>(l.title_y), 15);
    if (!fig.status.empty())
        draw_text(target, fig.status, static_cast<float>(l.raster.x), static_cast<float>(l.status_y), 13);
    return painted;
}

void draw_state_figure(sf::RenderTarget& target, const state_figure& fig) {
    const auto size = target.getSize();
    const auto l = state_layout(size.x, size.y);
    target.clear(colour_of(background_colour));
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const auto& v : fig.values)
        for (double x : v) {
            lo = std::min(lo, x);
            hi = std::max(hi, x);
        }
    if (!(hi >= lo)) lo = 0, hi = 1;
    if (hi - lo < 1e-9) lo -= 0.5, hi += 0.5;
    const double pad = 0.05 * (hi - lo);
    lo -= pad;
    hi += pad;
    const time_axis tx{fig.t0, fig.t1, l.plot.w};
    auto ymap = [&](double v) {
        return static_cast<float>(l.plot.y + l.plot.h) - static_cast<float>((v - lo) / (hi - lo) * l.plot.h);
    };
    for (std::size_t k = 0; k < fig.values.size(); ++k) {
        sf::VertexArray strip(sf::LineStrip);
        for (std::size_t i = 0; i < fig.values[k].size() && i < fig.times[k].size(); ++i) {
            const double t = fig.times[k][i];
            if (t < fig.t0 || t > fig.t1) continue;
            const float x =
                static_cast<float>(l.plot.x) + static_cast<float>((t - fig.t0) / (fig.t1 - fig.t0) * l.plot.w);
            strip.append(sf::Vertex({x, ymap(fig.values[k][i])}, colour_of(population_colour(k))));
        }
        if (strip.getVertexCount() > 1) target.draw(strip);
    }
    draw_frame(target, l.plot);
    draw_time_ticks(target, l.plot, tx);
    const auto yt = nice_ticks(lo, hi, std::max(2, l.plot.h / 70));
    const double step = yt.size() > 1 ? yt[1] - yt[0] : 1.0;
    for (double v : yt) {
        const float y = ymap(v);
        draw_line(target, static_cast<float>(l.plot.x - 6), y, static_cast<float>(l.plot.x - 1), y, ink);
        draw_text(target, tick_label(v, step), static_cast<float>(l.plot.x - 8), y - 8, 12, ink, 1.f);
    }
    sf::Text lab(fig.units.empty() ? "value" : fig.units, label_font(), 12);
    lab.setFillColor(faint);
    lab.setRotation(-90.f);
    lab.setPosition(4.f, static_cast<float>(l.plot.y + l.plot.h / 2 + 20));
    target.draw(lab);
    float y = static_cast<float>(l.legend.y);
    const std::size_t shown = std::min<std::size_t>(fig.names.size(), 12);
    for (std::size_t k = 0; k < shown; ++k) {
        sf::RectangleShape sw({12.f, 3.f});
        sw.setPosition(static_cast<float>(l.legend.x), y + 8);
        sw.setFillColor(colour_of(population_colour(k)));
        target.draw(sw);
        draw_text(target, fig.names[k], static_cast<float>(l.legend.x + 18), y, 12);
        y += 18;
    }
    if (fig.names.size() > shown)
        draw_text(target, "+ " + std::to_string(fig.names.size() - shown) + " more", static_cast<float>(l.legend.x), y,
                  11, faint);
    draw_text(target, fig.title, static_cast<float>(l.plot.x), static_cast<float>(l.title_y), 15);
}

void save_png(const sf::Image& image, const std::string& path) {
    if (!image.saveToFile(path)) throw io_error(path, "write", "cannot write the PNG image");
}

}  // namespace engram::viz
