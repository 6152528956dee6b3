#pragma once
// What the engram binary and its viewer module share. The module
// (libengram_viz_sfml.so: render.cpp, live_window.cpp, sfml_module.cpp) holds all the code
// that draws with SFML; the binary loads it with dlopen only for `engram run --live` and
// `engram plot`. Every other command starts without SFML, OpenGL and X11: about 2 ms less
// per process, and a machine that only simulates needs none of those libraries. Both
// come from one build (checked by a key made at configure time); the module resolves the
// rest of engram it uses (engram::viz, engram::core) in the binary, which exports its
// symbols for that.
#include <atomic>
#include <functional>
#include <string>

#include "engram/core/spec.hpp"
#include "engram/viz/figures.hpp"
#include "engram/viz/live.hpp"

namespace engram::viz {

// The time axis of the live window's raster at simulated time now_ms.
time_axis live_time(double now_ms, double window_ms, int width);

namespace detail {

struct module_api {
    live_stats (*live_window)(const network_spec&, live_feed&, const live_options&, std::atomic<bool>&,
                              const std::function<bool()>&, const std::function<void()>&);
    // Draw a figure offscreen at width x height and save it as PNG at `out`.
    void (*raster_png)(raster_figure&, unsigned width, unsigned height, const std::string& out);
    void (*state_png)(const state_figure&, unsigned width, unsigned height, const std::string& out);
};

// The module's functions, loaded on first use. Throws engram::error naming the files
// tried and why each failed (a missing SFML library, a module of another build).
const module_api& viewer_module();

}  // namespace detail
}  // namespace engram::viz

// What the module exports: its build's key (checked before anything of it is called),
// and its entry point.
extern "C" const char engram_viz_build_key[];
extern "C" const engram::viz::detail::module_api* engram_viz_module();
