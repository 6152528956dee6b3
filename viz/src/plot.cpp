#include "engram/viz/plot.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "engram/core/errors.hpp"
#include "engram/core/hdf5.hpp"
#include "engram/viz/display.hpp"
#include "engram/viz/figures.hpp"
#include "module_api.hpp"

namespace engram::viz {

namespace {

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s.empty() ? "none" : s;
}

double attr_or(hid_t f, const char* name, double fallback, const std::string& file) {
    return h5::has_attr(f, name) ? h5::read_attr_double(f, name, file) : fallback;
}

// Whole-run range of the file: simulated_ms if written, else duration_ms.
double run_end(hid_t f, const std::string& file) {
    return attr_or(f, "simulated_ms", attr_or(f, "duration_ms", 0.0, file), file);
}

void check_range(const std::string& file, double t0, double t1) {
    if (!(t1 > t0))
        throw error(file + ": empty time range [" + std::to_string(t0) + ", " + std::to_string(t1) +
                    "] ms (check --from and --to)");
}

}  // namespace

spike_data read_spikes(const std::string& file, const plot_options& opt) {
    h5::silence_errors();
    auto f = h5::open_file(file);
    spike_data d;
    d.dt = attr_or(f, "dt_ms", 0.1, file);
    d.t0 = opt.from.value_or(0.0);
    d.t1 = opt.to.value_or(run_end(f, file));
    if (!h5::exists(f, "spikes")) throw error(file + ": no /spikes group: not an engram results file?");
    auto g = h5::open_group(f, "spikes", file);
    const auto present = h5::children(g);
    std::vector<std::string> shown = opt.populations.empty() ? present : opt.populations;
    if (shown.empty()) throw error(file + ": /spikes holds no population");
    if (!opt.to && d.t1 <= d.t0) d.t1 = d.t0 + 1;
    check_range(file, d.t0, d.t1);
    std::vector<std::pair<std::string, std::uint64_t>> sizes;
    for (const auto& name : shown) {
        if (std::find(present.begin(), present.end(), name) == present.end()) {
            const auto near = nearest(name, present);
            throw error(file + ": no population '" + name + "' in /spikes (present: " + join(present) + ")" +
                        (near.empty() ? "" : " (did you mean '" + near + "'?)"));
        }
        auto pg = h5::open_group(g, name, file);
        std::uint64_t size = 0;
        if (h5::has_attr(pg, "size")) size = static_cast<std::uint64_t>(h5::read_attr_double(pg, "size", file));
        const auto ids = h5::read_vector<std::uint64_t>(pg, "node_ids", file);
        for (auto id : ids) size = std::max(size, id + 1);  // files without @size
        sizes.emplace_back(name, size);
    }
    d.populations = stack_populations(sizes);
    d.times.resize(shown.size());
    for (std::size_t p = 0; p < shown.size(); ++p) {
        auto pg = h5::open_group(g, shown[p], file);
        const auto ids = h5::read_vector<std::uint64_t>(pg, "node_ids", file);
        const auto ts = h5::read_vector<double>(pg, "timestamps", file);
        if (ids.size() != ts.size())
            throw error(file + ": /spikes/" + shown[p] + ": node_ids and timestamps differ in length (" +
                        std::to_string(ids.size()) + " and " + std::to_string(ts.size()) + ")");
        for (std::size_t i = 0; i < ids.size(); ++i) {
            if (ts[i] < d.t0 || ts[i] > d.t1) continue;
            d.spikes.push_back({ts[i], d.populations[p].offset + ids[i], static_cast<std::uint32_t>(p)});
            d.times[p].push_back(ts[i]);
        }
    }
    return d;
}

raster_mapping plot_mapping(const spike_data& data, const plot_options& opt) {
    const auto l = raster_layout(opt.width, opt.height);
    std::uint64_t total = 0;
    for (const auto& p : data.populations) total += p.size;
    return {l.raster, time_axis{data.t0, data.t1, l.raster.w},
            neuron_axis{0, std::max<std::uint64_t>(total, 1), l.raster.h}};
}

std::string plot_results(const std::string& file, const plot_options& opt) {
    if (opt.width < 300 || opt.height < 200 || opt.width > 8192 || opt.height > 8192)
        throw error("plot size " + std::to_string(opt.width) + "x" + std::to_string(opt.height) +
                    " out of range (300x200 to 8192x8192)");
    const std::string stem = std::filesystem::path(file).stem().string();
    // Default output: beside the results file.
    auto beside = [&](const std::string& name) { return (std::filesystem::path(file).parent_path() / name).string(); };
    if (opt.bin_ms < 0) throw error("--bin must be a positive time in ms (0: automatic)");
    if (!std::filesystem::exists(file)) throw io_error(file, "open", "no such file");

    if (!opt.state.empty()) {
        const auto slash = opt.state.find('/');
        if (slash == std::string::npos || slash == 0 || slash + 1 == opt.state.size())
            throw error("--state '" + opt.state + "': expected POPULATION/VARIABLE, e.g. neuron/v");
        const std::string pop = opt.state.substr(0, slash), var = opt.state.substr(slash + 1);
        h5::silence_errors();
        auto f = h5::open_file(file);
        if (!h5::exists(f, "report/" + pop + "/" + var)) {
            std::vector<std::string> have;
            if (h5::exists(f, "report")) {
                auto g = h5::open_group(f, "report", file);
                for (const auto& p : h5::children(g)) {
                    auto pg = h5::open_group(g, p, file);
                    for (const auto& v : h5::children(pg)) have.push_back(p + "/" + v);
                }
            }
            throw error(file + ": no state report '" + opt.state + "' (recorded: " + join(have) + ")");
        }
        auto g = h5::open_group(f, "report/" + pop + "/" + var, file);
        const auto shp = h5::shape(g, "data", file);
        const auto data = h5::read_vector<float>(g, "data", file);
        const auto ids = h5::read_vector<std::uint64_t>(g, "mapping/node_ids", file);
        const auto tm = h5::read_vector<double>(g, "mapping/time", file);
        if (shp.size() != 2 || tm.size() != 3 || shp[1] != ids.size())
            throw error(file + ": /report/" + opt.state + ": unexpected layout (docs/results-format.md)");
        state_figure fig;
        auto dset = h5::open_dataset(g, "data", file);
        if (h5::has_attr(dset, "units")) fig.units = h5::read_attr_string(dset, "units", file);
        const std::size_t n_t = shp[0], n_n = shp[1];
        fig.t0 = opt.from.value_or(tm[0]);
        fig.t1 = opt.to.value_or(n_t > 0 ? tm[0] + tm[2] * static_cast<double>(n_t - 1) : tm[1]);
        if (!opt.to && fig.t1 <= fig.t0) fig.t1 = fig.t0 + 1;
        check_range(file, fig.t0, fig.t1);
        for (std::size_t j = 0; j < n_n; ++j) {
            fig.names.push_back("neuron " + std::to_string(ids[j]));
            std::vector<double> t(n_t), v(n_t);
            for (std::size_t i = 0; i < n_t; ++i) {
                t[i] = tm[0] + tm[2] * static_cast<double>(i);
                v[i] = data[i * n_n + j];
            }
            fig.times.push_back(std::move(t));
            fig.values.push_back(std::move(v));
        }
        fig.title = stem + ": " + pop + "/" + var + (fig.units.empty() ? "" : " (" + fig.units + ")");
        const std::string out = opt.out.empty() ? beside(stem + "_" + pop + "_" + var + ".png") : opt.out;
        require_display("engram plot (offscreen OpenGL rendering)");
        detail::viewer_module().state_png(fig, opt.width, opt.height, out);
        return out;
    }

    const auto data = read_spikes(file, opt);
    raster_figure fig;
    fig.populations = data.populations;
    const auto m = plot_mapping(data, opt);
    fig.time = m.time;
    fig.neurons = m.neurons;
    fig.spikes = data.spikes;
    const double bin = opt.bin_ms > 0 ? opt.bin_ms : nice_bin(data.t1 - data.t0, 200, data.dt);
    const auto n_bins = static_cast<std::size_t>(std::ceil((data.t1 - data.t0) / bin - 1e-9));
    // The last bin may end after --to: its rate is over the part inside the range.
    const double last_width = n_bins > 0 ? data.t1 - (data.t0 + static_cast<double>(n_bins - 1) * bin) : bin;
    for (std::size_t p = 0; p < data.populations.size(); ++p) {
        auto hz = binned_rate(data.times[p], data.populations[p].size, data.t0, bin, n_bins);
        if (!hz.empty() && last_width > 0 && last_width < bin) hz.back() *= bin / last_width;
        fig.rates.push_back({data.t0, bin, std::move(hz)});
    }
    std::uint64_t n_spikes = data.spikes.size();
    fig.title = stem + ": " + std::to_string(n_spikes) + " spikes, " + tick_label(data.t0, 0.1) + " - " +
                tick_label(data.t1, 0.1) + " ms";
    fig.status = "rate bin " + tick_label(bin, bin) + " ms";
    const std::string out = opt.out.empty() ? beside(stem + ".png") : opt.out;
    require_display("engram plot (offscreen OpenGL rendering)");
    detail::viewer_module().raster_png(fig, opt.width, opt.height, out);
    return out;
}

}  // namespace engram::viz
