// The viewer module's entry point (module_api.hpp): offscreen figures and the live window.
#include <SFML/Graphics.hpp>

#include <sstream>

#include "engram/core/errors.hpp"
#include "engram/viz/render.hpp"
#include "module_api.hpp"

namespace engram::viz {

live_stats live_window(const network_spec& spec, live_feed& feed, const live_options& opt, std::atomic<bool>& stop,
                       const std::function<bool()>& finished, const std::function<void()>& start);

namespace {

sf::RenderTexture& offscreen(unsigned w, unsigned h) {
    require_display("engram plot (offscreen OpenGL rendering)");
    label_font();
    static sf::RenderTexture& rt = *new sf::RenderTexture;  // never destroyed (see label_font)
    // SFML reports unsupported context settings (vertical sync) on sf::err(); keep that
    // for the error message only.
    std::ostringstream sfml_log;
    auto* old = sf::err().rdbuf(sfml_log.rdbuf());
    const bool ok = rt.getSize() == sf::Vector2u(w, h) || rt.create(w, h);
    sf::err().rdbuf(old);
    if (!ok)
        throw error(sfml_log.str() + "cannot create a " + std::to_string(w) + "x" + std::to_string(h) +
                    " offscreen render texture (OpenGL unavailable? under Xvfb, install libgl1-mesa-dri)");
    return rt;
}

void raster_png(raster_figure& fig, unsigned width, unsigned height, const std::string& out) {
    auto& rt = offscreen(width, height);
    draw_raster_figure(rt, fig);
    rt.display();
    save_png(rt.getTexture().copyToImage(), out);
}

void state_png(const state_figure& fig, unsigned width, unsigned height, const std::string& out) {
    auto& rt = offscreen(width, height);
    draw_state_figure(rt, fig);
    rt.display();
    save_png(rt.getTexture().copyToImage(), out);
}

const detail::module_api api{&live_window, &raster_png, &state_png};

}  // namespace
}  // namespace engram::viz

extern "C" __attribute__((visibility("default"))) const char engram_viz_build_key[] = ENGRAM_BUILD_KEY;

extern "C" __attribute__((visibility("default"))) const engram::viz::detail::module_api* engram_viz_module() {
    return &engram::viz::api;
}
