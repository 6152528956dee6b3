#include "engram/datasets/trains.hpp"

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "engram/core/errors.hpp"

namespace engram {
namespace {

template <class T>
spike_trains channel_trains(const std::vector<T>& times_s, const std::vector<std::uint16_t>& channels,
                            std::size_t n_channels) {
    if (times_s.size() != channels.size())
        throw std::invalid_argument("to_spike_trains: " + std::to_string(times_s.size()) + " times but " +
                                    std::to_string(channels.size()) + " channels");
    spike_trains out(n_channels);
    for (std::size_t k = 0; k < times_s.size(); ++k) {
        if (channels[k] >= n_channels)
            throw std::invalid_argument("to_spike_trains: spike " + std::to_string(k) + " has channel " +
                                        std::to_string(channels[k]) + ", only " + std::to_string(n_channels) +
                                        " channels");
        out[channels[k]].push_back(1000.0 * static_cast<double>(times_s[k]));
    }
    for (auto& t : out) std::sort(t.begin(), t.end());
    return out;
}

bool all_digits(const std::string& s) {
    return !s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

spike_trains to_spike_trains(const std::vector<dvs_event>& events, int width, int height, double offset_ms) {
    if (width <= 0 || height <= 0) throw std::invalid_argument("to_spike_trains: sensor size must be positive");
    spike_trains out(2 * static_cast<std::size_t>(width) * static_cast<std::size_t>(height));
    for (std::size_t k = 0; k < events.size(); ++k) {
        const dvs_event& e = events[k];
        if (e.x >= width || e.y >= height || e.p > 1)
            throw std::invalid_argument("to_spike_trains: event " + std::to_string(k) + " (x " + std::to_string(e.x) +
                                        ", y " + std::to_string(e.y) + ", p " + std::to_string(e.p) +
                                        ") is outside a " + std::to_string(width) + "x" + std::to_string(height) +
                                        " sensor");
        const std::size_t neuron = (std::size_t{e.p} * static_cast<std::size_t>(height) + e.y) *
                                       static_cast<std::size_t>(width) + e.x;
        out[neuron].push_back(offset_ms + 1e-3 * static_cast<double>(e.t_us));
    }
    for (auto& t : out) std::sort(t.begin(), t.end());
    return out;
}

spike_trains to_spike_trains(const std::vector<float>& times_s, const std::vector<std::uint16_t>& channels,
                             std::size_t n_channels) {
    return channel_trains(times_s, channels, n_channels);
}

spike_trains to_spike_trains(const std::vector<double>& times_s, const std::vector<std::uint16_t>& channels,
                             std::size_t n_channels) {
    return channel_trains(times_s, channels, n_channels);
}

std::vector<labelled_file> list_class_folders(const std::string& dir, const std::string& extension) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) throw io_error(dir, "list", "not a directory");
    struct entry {
        int label;
        std::string name, path;
    };
    std::vector<entry> found;
    bool any_class = false;
    for (const auto& cls : fs::directory_iterator(dir, ec)) {
        const std::string cname = cls.path().filename().string();
        if (!all_digits(cname) || !cls.is_directory(ec)) continue;
        any_class = true;
        const int label = std::stoi(cname);
        for (const auto& f : fs::directory_iterator(cls.path(), ec)) {
            const std::string fname = f.path().filename().string();
            if (!f.is_regular_file(ec) || fname.size() <= extension.size() ||
                fname.compare(fname.size() - extension.size(), extension.size(), extension) != 0)
                continue;
            found.push_back({label, fname, f.path().string()});
        }
        if (ec) throw io_error(cls.path().string(), "list", ec.message());
    }
    if (ec) throw io_error(dir, "list", ec.message());
    if (!any_class) throw io_error(dir, "list", "no class folders (subfolders named 0, 1, ...)");
    std::sort(found.begin(), found.end(), [](const entry& a, const entry& b) {
        return a.label != b.label ? a.label < b.label : a.name < b.name;
    });
    std::vector<labelled_file> out;
    out.reserve(found.size());
    for (auto& e : found) out.push_back({std::move(e.path), e.label});
    return out;
}

}  // namespace engram
