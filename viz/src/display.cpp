#include "engram/viz/display.hpp"

#include <cstdlib>

#include "engram/core/errors.hpp"

namespace engram::viz {

bool display_available() {
    const char* x = std::getenv("DISPLAY");
    const char* w = std::getenv("WAYLAND_DISPLAY");
    return (x && *x) || (w && *w);
}

void require_display(const std::string& what) {
    if (display_available()) return;
    throw error(what +
                " needs a display, and neither DISPLAY nor WAYLAND_DISPLAY is set; on a machine without one, "
                "run it under a virtual X server: xvfb-run -a engram ... (package xvfb; docs/visualisation.md)");
}

}  // namespace engram::viz
