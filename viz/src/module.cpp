// Loading the viewer module (module_api.hpp) and the entry points that use it.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <vector>

#include "engram/core/errors.hpp"
#include "engram/viz/display.hpp"
#include "engram/viz/live.hpp"
#include "module_api.hpp"

namespace engram::viz {

namespace detail {

namespace {

// Where the module may be: $ENGRAM_VIZ_MODULE if set (only there); else beside the
// running program, then in the build's own output folder.
std::vector<std::string> module_candidates() {
    if (const char* env = std::getenv("ENGRAM_VIZ_MODULE"); env && *env) {
        std::error_code ec;  // a name without a slash would send dlopen to the library path
        const auto abs = std::filesystem::absolute(env, ec);
        return {ec ? std::string(env) : abs.string()};
    }
    std::vector<std::string> out;
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) out.push_back((self.parent_path() / ENGRAM_VIZ_MODULE_NAME).string());
    const std::string built = std::string(ENGRAM_VIZ_MODULE_DIR) + "/" + ENGRAM_VIZ_MODULE_NAME;
    if (out.empty() || out.front() != built) out.push_back(built);
    return out;
}

const module_api& load() {
    std::string why;
    for (const auto& path : module_candidates()) {
        std::error_code ec;
        if (!std::filesystem::exists(path, ec)) {
            why += "\n  " + path + ": " + (ec ? ec.message() : std::string("no such file"));
            continue;
        }
        void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            const char* e = dlerror();
            why += "\n  " + path + ": " + (e ? e : "cannot be loaded");
            continue;
        }
        // the key first, then the entry point: nothing of another build is called
        const auto* key = static_cast<const char*>(dlsym(lib, "engram_viz_build_key"));
        using entry_fn = const module_api* (*)();
        auto entry = reinterpret_cast<entry_fn>(dlsym(lib, "engram_viz_module"));
        if (!key || !entry) {
            why += "\n  " + path + ": not an engram viewer module";
            dlclose(lib);
            continue;
        }
        if (std::strcmp(key, ENGRAM_BUILD_KEY) != 0) {
            why += "\n  " + path + ": from another build of engram (rebuild, or set ENGRAM_VIZ_MODULE)";
            dlclose(lib);
            continue;
        }
        return *entry();  // kept loaded for the life of the process
    }
    throw error("the viewer module (" + std::string(ENGRAM_VIZ_MODULE_NAME) +
                ", which draws with SFML) cannot be loaded; tried:" + why +
                "\n(SFML missing? scripts/install-deps.sh installs it; docs/visualisation.md)");
}

}  // namespace

const module_api& viewer_module() {
    static std::once_flag once;
    static const module_api* api = nullptr;
    std::call_once(once, [] { api = &load(); });
    return *api;
}

}  // namespace detail

void require_viewer(const std::string& what) {
    require_display(what);
    detail::viewer_module();
}

live_stats run_live_window(const network_spec& spec, live_feed& feed, const live_options& opt, std::atomic<bool>& stop,
                           const std::function<bool()>& finished, const std::function<void()>& start) {
    return detail::viewer_module().live_window(spec, feed, opt, stop, finished, start);
}

}  // namespace engram::viz
