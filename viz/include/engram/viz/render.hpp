#pragma once
// Drawing with SFML: the figures of figures.hpp onto any sf::RenderTarget (the live window
// or an offscreen sf::RenderTexture). Only the viewer module (libengram_viz_sfml.so) is
// built from this; the engram binary loads it for --live and plot (architecture.md).
#include <SFML/Graphics.hpp>

#include <string>
#include <vector>

#include "engram/viz/display.hpp"
#include "engram/viz/figures.hpp"

namespace engram::viz {

// The font for labels: $ENGRAM_FONT if set, else DejaVu Sans from the usual places.
// Throws engram::error naming the paths tried and the package to install.
const sf::Font& label_font();

// Draws the figure into the whole target. Returns the number of spikes painted.
std::uint64_t draw_raster_figure(sf::RenderTarget& target, raster_figure& fig);

void draw_state_figure(sf::RenderTarget& target, const state_figure& fig);

// Saves what was drawn into a render texture as PNG; throws io_error on failure.
void save_png(const sf::Image& image, const std::string& path);

}  // namespace engram::viz
