#pragma once
// Whether a window can be opened, and the viewer module that opens it. No SFML here.
#include <string>

namespace engram::viz {

// True when an X or Wayland display is named in the environment.
bool display_available();
// Throws engram::error saying what needs a display and how to get one (xvfb-run -a).
void require_display(const std::string& what);
// require_display, then loads the viewer module (the code that draws with SFML, which
// the binary loads only when it draws), so that a missing library is reported before
// anything is built or run. Throws engram::error naming the files tried.
void require_viewer(const std::string& what);

}  // namespace engram::viz
