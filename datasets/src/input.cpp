// The `input` section: a data set streamed sample by sample into a dataset_stream source.
#include "engram/datasets/input.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>

#include "engram/core/errors.hpp"
#include "engram/core/rng.hpp"
#include "engram/core/units.hpp"
#include "engram/datasets/audio.hpp"
#include "engram/datasets/encoders.hpp"
#include "engram/datasets/idx.hpp"
#include "engram/datasets/nmnist.hpp"
#include "engram/datasets/saccade.hpp"

namespace engram {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> known_datasets{"mnist", "fashion-mnist", "nmnist", "shd", "ntidigits"};
const std::vector<std::string> image_encodings{"poisson", "regular", "latency", "saccade", "bernoulli"};
const std::vector<std::string> event_encodings{"events"};

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) { s += s.empty() ? "" : ", "; s += x; }
    return s;
}

using section = config_section;

}  // namespace

// One kind of data set: labels up front, a sample's trains on request.
struct dataset_input::reader {
    virtual ~reader() = default;
    virtual std::vector<int> labels() = 0;  // per sample of the split; -1: not usable
    virtual std::size_t channels() const = 0;
    // Called once with the chosen samples (ascending), before any trains().
    virtual void prepare(const std::vector<std::uint64_t>& /*chosen*/) {}
    virtual spike_trains trains(std::uint64_t index, std::uint64_t seed) = 0;
};

namespace {

// MNIST, Fashion-MNIST: the chosen images' pixels are read once, in file order (one
// decompression pass for gzip files), and kept (784 bytes each); trains are encoded when
// a sample is played.
// Bernoulli coding on a time grid: in each bin of `step_ms` a pixel spikes with
// probability p = min(1, v * max_probability). v = byte / 255, or with l1_max (NALSM's
// normalisation) v = (x / sum of the image's x) / (largest such value over the chosen
// samples), so that the brightest pixel of the set has v = 1.
struct bernoulli_code {
    double duration_ms = 250.0, step_ms = 1.0, max_probability = 1.0;
    bool l1_max = false;
};

struct idx_reader final : dataset_input::reader {
    idx_dataset data;
    std::string encoding;
    bernoulli_code bernoulli;
    double l1_scale = 1.0;  // 1 / largest normalised pixel over the chosen samples
    rate_code rate;
    latency_code latency;
    saccade_params saccade;
    std::map<std::uint64_t, std::vector<std::uint8_t>> pixels;
    idx_reader(const std::string& dir, const std::string& split) : data(open_idx_dataset(dir, split)) {}
    std::vector<int> labels() override { return {data.labels.begin(), data.labels.end()}; }
    std::size_t channels() const override {
        if (encoding == "saccade") return 2 * std::size_t(saccade.sensor_width) * std::size_t(saccade.sensor_height);
        return data.images.sample_size();
    }
    void prepare(const std::vector<std::uint64_t>& chosen) override {
        for (auto i : chosen) data.images.read(static_cast<std::size_t>(i), pixels[i]);
        if (encoding == "bernoulli" && bernoulli.l1_max) {
            double top = 0.0;
            for (const auto& [i, px] : pixels) {
                double sum = 0.0, mx = 0.0;
                for (auto b : px) { sum += b; mx = std::max(mx, double(b)); }
                if (sum > 0) top = std::max(top, mx / sum);
            }
            l1_scale = top > 0 ? 1.0 / top : 1.0;
        }
    }
    spike_trains bernoulli_trains(std::uint64_t index, std::uint64_t seed) const {
        const auto& px = pixels.at(index);
        double sum = 0.0;
        for (auto b : px) sum += b;
        const auto bins = static_cast<std::uint64_t>(std::llround(bernoulli.duration_ms / bernoulli.step_ms));
        spike_trains out(px.size());
        const u32 st = stream_id("input/bernoulli");
        for (std::size_t c = 0; c < px.size(); ++c) {
            const double v = bernoulli.l1_max ? (sum > 0 ? px[c] / sum * l1_scale : 0.0) : px[c] / 255.0;
            const double p = std::min(1.0, v * bernoulli.max_probability);
            if (p <= 0) continue;
            random_stream rng(seed, st, static_cast<u32>(c), index << 24);
            for (std::uint64_t k = 1; k <= bins; ++k)
                if (rng.uniform() < p) out[c].push_back(double(k) * bernoulli.step_ms);
        }
        return out;
    }
    spike_trains trains(std::uint64_t index, std::uint64_t seed) override {
        if (encoding == "bernoulli") return bernoulli_trains(index, seed);
        const auto values = normalize(pixels.at(index));
        if (encoding == "poisson") return poisson_encode(values, rate, {seed, index, stream_id("input/poisson")});
        if (encoding == "regular") return regular_encode(values, rate);
        if (encoding == "saccade") {  // events as an event camera would record the image (N-MNIST-like)
            const auto& shp = data.images.shape();
            saccade_params p = saccade;
            p.seed = seed;
            p.sample = index;
            const auto& px = pixels.at(index);
            return to_spike_trains(image_to_events(px, static_cast<int>(shp.at(1)), static_cast<int>(shp.at(0)), p),
                                   p.sensor_width, p.sensor_height);
        }
        return latency_encode(values, latency);
    }
};

struct event_reader : dataset_input::reader {
    double duration_ms = 0.0;
    // Drops spikes after the window.
    spike_trains clip(spike_trains t) const {
        for (auto& tr : t) tr.erase(std::upper_bound(tr.begin(), tr.end(), duration_ms), tr.end());
        return t;
    }
};

struct nmnist_reader final : event_reader {
    std::vector<labelled_file> files;
    explicit nmnist_reader(const std::string& dir) : files(list_nmnist(dir)) {}
    std::vector<int> labels() override {
        std::vector<int> l;
        for (const auto& f : files) l.push_back(f.label);
        return l;
    }
    std::size_t channels() const override { return 2 * nmnist_sensor_size * nmnist_sensor_size; }
    spike_trains trains(std::uint64_t index, std::uint64_t) override {
        return clip(to_spike_trains(read_nmnist(files.at(index).path), nmnist_sensor_size, nmnist_sensor_size));
    }
};

struct shd_reader final : event_reader {
    shd_file file;
    explicit shd_reader(const std::string& path) : file(path) {}
    std::vector<int> labels() override { return file.labels(); }
    std::size_t channels() const override { return shd_channels; }
    spike_trains trains(std::uint64_t index, std::uint64_t) override {
        return clip(file.read(static_cast<std::size_t>(index)).trains(shd_channels));
    }
};

// Single-digit utterances only: sequences have no class (label -1) and are never chosen.
struct ntidigits_reader final : event_reader {
    ntidigits_file file;
    ntidigits_reader(const std::string& path, const std::string& split) : file(path, split) {}
    std::vector<int> labels() override {
        std::vector<int> l;
        for (std::size_t i = 0; i < file.count(); ++i) l.push_back(ntidigits_file::label_of(ntidigits_file::digits_of(file.id(i))));
        return l;
    }
    std::size_t channels() const override { return ntidigits_channels; }
    spike_trains trains(std::uint64_t index, std::uint64_t) override {
        return clip(file.read(static_cast<std::size_t>(index)).trains());
    }
};

std::string fetch_hint(const std::string& dataset) {
    if (dataset == "mnist" || dataset == "fashion-mnist")
        return "; fetch it with: scripts/fetch-data.sh " + dataset;
    return "; scripts/fetch-data.sh " + dataset + " does not fetch this data set yet: download it as docs/datasets.md describes";
}

}  // namespace

dataset_input::dataset_input(const experiment& ex) : file_(ex.path), seed_(ex.spec.simulation.seed) {
    if (!ex.input) throw config_error(ex.path, 0, 0, "input", "the experiment has no input section");
    const config_node& in = *ex.input;
    const section s{ex.path};
    s.check_keys(in, "input", {"dataset", "path", "split", "subset", "encoding", "population", "gap"});

    const config_node* ds = in.find("dataset");
    if (!ds) s.fail(in, "input", "input needs 'dataset' (one of: " + join(known_datasets) + ")");
    dataset_ = s.scalar(*ds, "input.dataset");
    if (std::find(known_datasets.begin(), known_datasets.end(), dataset_) == known_datasets.end())
        s.fail(*ds, "input.dataset", "unknown data set '" + dataset_ + "' (known: " + join(known_datasets) + ")",
               nearest(dataset_, known_datasets));

    const config_node* pn = in.find("path");
    if (pn) path_ = s.scalar(*pn, "input.path");
    else if (const char* root = std::getenv("ENGRAM_DATA"); root && *root) path_ = (fs::path(root) / dataset_).string();
    else path_ = (fs::path("data") / dataset_).string();
    const config_node& where_path = pn ? *pn : *ds;
    const std::string path_key = pn ? "input.path" : "input.dataset";

    split_ = "train";
    if (const config_node* sp = in.find("split")) {
        split_ = s.scalar(*sp, "input.split");
        if (split_ != "train" && split_ != "test")
            s.fail(*sp, "input.split", "unknown split '" + split_ + "' (train, test)",
                   nearest(split_, std::vector<std::string>{"train", "test"}));
    }

    population_ = "input";
    const config_node* popn = in.find("population");
    if (popn) population_ = s.scalar(*popn, "input.population");
    const config_node& where_pop = popn ? *popn : in;

    if (const config_node* g = in.find("gap")) {
        gap_ms_ = s.quantity(*g, "input.gap", dimension::time);
        if (!(gap_ms_ >= 0) || !std::isfinite(gap_ms_)) s.fail(*g, "input.gap", "gap must be finite and >= 0");
    }

    // Encoding: a mapping with one key, the encoding's name.
    const bool events = dataset_ == "nmnist" || dataset_ == "shd" || dataset_ == "ntidigits";
    const auto& encodings = events ? event_encodings : image_encodings;
    const config_node* en = in.find("encoding");
    if (!en) s.fail(in, "input", "input needs 'encoding' (for " + dataset_ + ": " + join(encodings) + "), e.g. " +
                                     (events ? "{events: {duration: 300 ms}}" : "{poisson: {max_rate: 100 Hz, duration: 250 ms}}"));
    if (!en->is_map() || en->keys.size() != 1)
        s.fail(*en, "input.encoding", "expected one encoding as a mapping, e.g. " +
                                          std::string(events ? "{events: {duration: 300 ms}}" : "{poisson: {max_rate: 100 Hz, duration: 250 ms}}"));
    const std::string enc = en->keys[0];
    const std::string ek = "input.encoding." + enc;
    if (std::find(encodings.begin(), encodings.end(), enc) == encodings.end()) {
        const auto [line, col] = en->key_marks[0];
        const std::string what = "encoding '" + enc + "' does not apply to " + dataset_ + " (" +
                                 (events ? "event data" : "static images") + "; valid: " + join(encodings) + ")";
        if (line == 0) throw config_error("--set", 0, 0, ek, what, nearest(enc, encodings));
        throw config_error(file_, line, col, ek, what, nearest(enc, encodings));
    }
    const config_node& ep = en->values[0];
    auto need = [&](const char* k, dimension dim) {
        const config_node* v = ep.find(k);
        if (!v) s.fail(ep, ek, "encoding '" + enc + "' needs '" + k + "'");
        return s.quantity(*v, ek + "." + k, dim);
    };
    rate_code rate;
    latency_code latency;
    saccade_params saccade;
    bernoulli_code bern;
    double events_ms = 0.0;
    if (enc == "bernoulli") {
        s.check_keys(ep, ek, {"duration", "step", "max_probability", "normalise"});
        bern.duration_ms = need("duration", dimension::time);
        if (!(bern.duration_ms > 0) || !std::isfinite(bern.duration_ms)) s.fail(*ep.find("duration"), ek + ".duration", "duration must be finite and > 0");
        if (const config_node* v = ep.find("step")) bern.step_ms = s.quantity(*v, ek + ".step", dimension::time);
        if (!(bern.step_ms > 0) || bern.step_ms > bern.duration_ms) s.fail(ep, ek + ".step", "step must be > 0 and at most the duration");
        if (const config_node* v = ep.find("max_probability")) bern.max_probability = s.quantity(*v, ek + ".max_probability", dimension::dimensionless);
        if (!(bern.max_probability >= 0 && bern.max_probability <= 1)) s.fail(ep, ek + ".max_probability", "max_probability must be in [0, 1]");
        if (const config_node* v = ep.find("normalise")) {
            const std::string nm = s.scalar(*v, ek + ".normalise");
            if (nm == "l1_max") bern.l1_max = true;
            else if (nm != "none") s.fail(*v, ek + ".normalise", "unknown normalisation '" + nm + "' (none: byte / 255; l1_max: NALSM's image / sum / set maximum)",
                                        nearest(nm, std::vector<std::string>{"none", "l1_max"}));
        }
        window_ms_ = bern.duration_ms;
    } else if (enc == "saccade") {
        s.check_keys(ep, ek, {"saccade", "threshold", "amplitude", "noise"});
        if (const config_node* v = ep.find("saccade")) saccade.saccade_ms = s.quantity(*v, ek + ".saccade", dimension::time);
        if (const config_node* v = ep.find("threshold")) saccade.threshold = s.quantity(*v, ek + ".threshold", dimension::dimensionless);
        if (const config_node* v = ep.find("amplitude")) saccade.amplitude_px = s.quantity(*v, ek + ".amplitude", dimension::dimensionless);
        if (const config_node* v = ep.find("noise")) saccade.noise_hz = s.quantity(*v, ek + ".noise", dimension::frequency);
        if (!(saccade.saccade_ms > 0) || !std::isfinite(saccade.saccade_ms)) s.fail(ep, ek + ".saccade", "saccade must be finite and > 0");
        if (!(saccade.threshold > 0)) s.fail(ep, ek + ".threshold", "threshold must be > 0");
        window_ms_ = 3.0 * saccade.saccade_ms;
    } else if (enc == "poisson" || enc == "regular") {
        s.check_keys(ep, ek, {"max_rate", "duration"});
        rate.max_rate_hz = need("max_rate", dimension::frequency);
        rate.duration_ms = need("duration", dimension::time);
        if (!(rate.max_rate_hz >= 0) || !std::isfinite(rate.max_rate_hz)) s.fail(*ep.find("max_rate"), ek + ".max_rate", "max_rate must be finite and >= 0");
        if (!(rate.duration_ms > 0) || !std::isfinite(rate.duration_ms)) s.fail(*ep.find("duration"), ek + ".duration", "duration must be finite and > 0");
        window_ms_ = rate.duration_ms;
    } else if (enc == "latency") {
        s.check_keys(ep, ek, {"t_max", "curve", "threshold", "tau"});
        latency.t_max_ms = need("t_max", dimension::time);
        if (!(latency.t_max_ms > 0) || !std::isfinite(latency.t_max_ms)) s.fail(*ep.find("t_max"), ek + ".t_max", "t_max must be finite and > 0");
        if (const config_node* c = ep.find("curve")) {
            const std::string cv = s.scalar(*c, ek + ".curve");
            if (cv == "linear") latency.shape = latency_code::curve::linear;
            else if (cv == "log") latency.shape = latency_code::curve::log;
            else s.fail(*c, ek + ".curve", "unknown curve '" + cv + "' (linear, log)", nearest(cv, std::vector<std::string>{"linear", "log"}));
        }
        if (latency.shape == latency_code::curve::log) latency.threshold = 0.2;
        if (const config_node* t = ep.find("threshold")) latency.threshold = s.quantity(*t, ek + ".threshold", dimension::dimensionless);
        if (const config_node* t = ep.find("tau")) latency.tau_ms = s.quantity(*t, ek + ".tau", dimension::time);
        try {  // let the encoder check its parameters once
            const double probe = 1.0;
            latency_encode(std::span<const double>(&probe, 1), latency);
        } catch (const std::invalid_argument& e) {
            s.fail(ep, ek, e.what());
        }
        window_ms_ = latency.t_max_ms;
    } else {  // events
        s.check_keys(ep, ek, {"duration"});
        events_ms = need("duration", dimension::time);
        if (!(events_ms > 0) || !std::isfinite(events_ms)) s.fail(*ep.find("duration"), ek + ".duration", "duration must be finite and > 0");
        window_ms_ = events_ms;
    }

    // Open the data set.
    std::string target = path_;
    try {
        if (!fs::exists(path_)) throw io_error(path_, "open", "no such directory");
        if (dataset_ == "mnist" || dataset_ == "fashion-mnist") {
            auto r = std::make_unique<idx_reader>(path_, split_ == "test" ? "t10k" : "train");
            r->encoding = enc;
            r->bernoulli = bern;
            r->rate = rate;
            r->latency = latency;
            r->saccade = saccade;
            reader_ = std::move(r);
        } else if (dataset_ == "nmnist") {
            // <path>/Train or <path>/Test as published; lower case accepted.
            const std::string upper = split_ == "train" ? "Train" : "Test";
            target = (fs::path(path_) / upper).string();
            if (!fs::exists(target) && fs::exists(fs::path(path_) / split_)) target = (fs::path(path_) / split_).string();
            if (!fs::exists(target)) throw io_error(target, "open", "no such directory (N-MNIST splits are " + path_ + "/Train and " + path_ + "/Test)");
            auto r = std::make_unique<nmnist_reader>(target);
            r->duration_ms = events_ms;
            reader_ = std::move(r);
        } else if (dataset_ == "shd") {
            target = (fs::path(path_) / ("shd_" + split_ + ".h5")).string();
            if (!fs::exists(target)) throw io_error(target, "open", "no such file");
            auto r = std::make_unique<shd_reader>(target);
            r->duration_ms = events_ms;
            reader_ = std::move(r);
        } else {
            target = (fs::path(path_) / "n-tidigits.hdf5").string();
            if (!fs::exists(target)) throw io_error(target, "open", "no such file");
            auto r = std::make_unique<ntidigits_reader>(target, split_);
            r->duration_ms = events_ms;
            reader_ = std::move(r);
        }
    } catch (const config_error&) {
        throw;
    } catch (const error& e) {
        s.fail(where_path, path_key, std::string("cannot open data set '") + dataset_ + "' (" + split_ + ") at '" + path_ + "': " + e.what() + fetch_hint(dataset_));
    }
    channels_ = reader_->channels();

    // The population: it must exist, use dataset_stream, and have one neuron per channel.
    const population_spec* pop = ex.spec.find_population(population_);
    if (!pop) {
        std::vector<std::string> names;
        for (const auto& p : ex.spec.populations) names.push_back(p.name);
        s.fail(where_pop, popn ? "input.population" : "input", "no population '" + population_ + "' to stream the input into (add one with model: dataset_stream" +
                                                                  std::string(popn ? "" : ", or name one with input.population") + ")", nearest(population_, names));
    }
    if (pop->model != "dataset_stream")
        s.fail(where_pop, popn ? "input.population" : "input", "population '" + population_ + "' has model '" + pop->model + "'; the input population must have model: dataset_stream");
    if (pop->size != channels_)
        s.fail(where_pop, popn ? "input.population" : "input", "population '" + population_ + "' has " + std::to_string(pop->size) + " neurons, but " + dataset_ +
                                                                  " with this encoding drives " + std::to_string(channels_) + " (set its size to " + std::to_string(channels_) + ")");

    // Stratified subset: equal counts per class as far as possible (the remainder goes
    // to the lowest labels), each class's samples drawn without replacement from the
    // seed; presented in an order shuffled from the seed.
    std::vector<int> labels;
    try {
        labels = reader_->labels();
    } catch (const error& e) {
        s.fail(where_path, path_key, e.what());
    }
    std::map<int, std::vector<std::uint64_t>> by_class;
    for (std::size_t i = 0; i < labels.size(); ++i)
        if (labels[i] >= 0) by_class[labels[i]].push_back(i);
    std::size_t usable = 0;
    for (const auto& [c, v] : by_class) usable += v.size();
    if (usable == 0) s.fail(where_path, path_key, "the " + split_ + " split of '" + path_ + "' has no labelled samples");
    std::uint64_t count = usable, subset_seed = 1;
    // The chosen samples, played in file order or in an order shuffled from subset_seed;
    // their data is read once, in file order.
    auto choose = [&](std::vector<std::uint64_t> chosen, bool shuffle) {
        if (shuffle) {
            random_stream rng(subset_seed, stream_id("input/order"), 0);
            for (std::size_t i = chosen.size(); i > 1; --i) std::swap(chosen[i - 1], chosen[rng.below(static_cast<u32>(i))]);
        }
        for (auto i : chosen) samples_.push_back({i, labels[static_cast<std::size_t>(i)]});
        std::sort(chosen.begin(), chosen.end());
        try {
            reader_->prepare(chosen);
        } catch (const error& e) {
            s.fail(where_path, path_key, e.what());
        }
        played_ = samples_.size();
    };
    // A range of the split in file order (e.g. NALSM's train = 0..49999, valid = 50000..59999).
    if (const config_node* sub = in.find("subset"); sub && (sub->find("from") || sub->find("to"))) {
        s.check_keys(*sub, "input.subset", {"from", "to", "shuffle", "seed"});
        const std::uint64_t from = sub->find("from") ? s.integer(*sub->find("from"), "input.subset.from") : 0;
        const std::uint64_t to = sub->find("to") ? s.integer(*sub->find("to"), "input.subset.to") : labels.size();
        if (to > labels.size()) s.fail(*sub->find("to"), "input.subset.to", "to = " + std::to_string(to) + " exceeds the " + std::to_string(labels.size()) + " samples of the " + split_ + " split");
        if (from >= to) s.fail(*sub, "input.subset", "from must be below to");
        std::vector<std::uint64_t> chosen;
        for (std::uint64_t i = from; i < to; ++i)
            if (labels[static_cast<std::size_t>(i)] >= 0) chosen.push_back(i);
        if (const config_node* sd = sub->find("seed")) subset_seed = s.integer(*sd, "input.subset.seed");
        const config_node* sh = sub->find("shuffle");
        choose(std::move(chosen), sh && s.boolean(*sh, "input.subset.shuffle"));
        return;
    }
    if (const config_node* sub = in.find("subset")) {
        s.check_keys(*sub, "input.subset", {"count", "seed"});
        if (const config_node* c = sub->find("count")) {
            count = s.integer(*c, "input.subset.count");
            if (count == 0) s.fail(*c, "input.subset.count", "count must be >= 1");
            if (count > usable)
                s.fail(*c, "input.subset.count", "count " + std::to_string(count) + " exceeds the " + std::to_string(usable) +
                                                     " labelled samples of the " + split_ + " split");
        }
        if (const config_node* sd = sub->find("seed")) subset_seed = s.integer(*sd, "input.subset.seed");
    }
    std::vector<std::vector<std::uint64_t>*> classes;
    for (auto& [c, v] : by_class) {
        random_stream rng(subset_seed, stream_id("input/subset"), static_cast<u32>(c));
        for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(static_cast<u32>(i))]);
        classes.push_back(&v);
    }
    std::vector<std::uint64_t> chosen;
    for (std::size_t round = 0; chosen.size() < count; ++round)
        for (auto* v : classes)
            if (round < v->size() && chosen.size() < count) chosen.push_back((*v)[round]);
    choose(std::move(chosen), true);
}

dataset_input::~dataset_input() = default;

std::uint64_t dataset_input::window_steps(double dt) const {
    return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::llround(window_ms_ / dt)));
}
std::uint64_t dataset_input::period_steps(double dt) const {
    return window_steps(dt) + static_cast<std::uint64_t>(std::llround(gap_ms_ / dt));
}
double dataset_input::start_ms(std::size_t k, double dt) const {
    return static_cast<double>(k * period_steps(dt)) * dt;
}
double dataset_input::stop_ms(std::size_t k, double dt) const {
    return static_cast<double>(k * period_steps(dt) + window_steps(dt)) * dt;
}

spike_trains dataset_input::trains(std::size_t k) {
    const auto& smp = samples_.at(k);
    try {
        return reader_->trains(smp.index, seed_);
    } catch (const std::invalid_argument& e) {
        throw io_error(path_, "encode sample " + std::to_string(smp.index) + " of", e.what());
    }
}

void input_streams::bind(const std::string& population, std::shared_ptr<dataset_input> in) {
    std::lock_guard lock(mutex_);
    map_[population] = std::move(in);
}

std::shared_ptr<dataset_input> input_streams::find(const std::string& population) const {
    std::lock_guard lock(mutex_);
    auto it = map_.find(population);
    return it == map_.end() ? nullptr : it->second;
}

namespace {

// Plays the samples one after the other. Every part calls update() in the same step with
// its own neuron range; the first to reach a new sample's window loads it (under the
// lock), the others find it loaded. Within a step all parts need the same sample, so the
// trains are never replaced while another part reads them.
struct dataset_stream_source final : population_model {
    std::shared_ptr<dataset_input> in;
    std::uint64_t window = 1, period = 1;
    std::size_t played = 0;
    std::mutex mutex;
    std::atomic<std::int64_t> loaded{-1};
    std::vector<std::vector<std::uint64_t>> steps;  // the current sample, absolute steps
    std::vector<std::uint32_t> cursor;

    dataset_stream_source(const population_spec& s, double dt, std::shared_ptr<dataset_input> input)
        : in(std::move(input)), window(in->window_steps(dt)), period(in->period_steps(dt)), played(in->played()),
          steps(s.size), cursor(s.size, 0) {
        dt_ = dt;
    }
    float* state(std::size_t) override { return nullptr; }

    void load(std::uint64_t k) {
        std::lock_guard lock(mutex);
        if (loaded.load(std::memory_order_relaxed) == static_cast<std::int64_t>(k)) return;
        const spike_trains tr = in->trains(static_cast<std::size_t>(k));
        const std::uint64_t base = k * period;
        for (std::size_t i = 0; i < steps.size(); ++i) {
            auto& st = steps[i];
            st.clear();
            if (i < tr.size())
                for (double t : tr[i]) {
                    const auto r = std::llround(t / dt_);
                    st.push_back(base + std::clamp<std::uint64_t>(r < 1 ? 1 : static_cast<std::uint64_t>(r), 1, window));
                }
            std::sort(st.begin(), st.end());
            st.erase(std::unique(st.begin(), st.end()), st.end());
            cursor[i] = 0;
        }
        loaded.store(static_cast<std::int64_t>(k), std::memory_order_release);
    }

    void update(const step_context& ctx, std::uint32_t b, std::uint32_t e, std::vector<std::uint32_t>& spikes) override {
        if (ctx.step == 0) return;
        const std::uint64_t k = (ctx.step - 1) / period;
        if (k >= played || ctx.step - k * period > window) return;
        if (loaded.load(std::memory_order_acquire) != static_cast<std::int64_t>(k)) load(k);
        for (std::uint32_t i = b; i < e; ++i) {
            const auto& tr = steps[i];
            auto& c = cursor[i];
            while (c < tr.size() && tr[c] < ctx.step) ++c;
            if (c < tr.size() && tr[c] == ctx.step) { spikes.push_back(i); ++c; }
        }
    }

private:
    double dt_ = 0.1;
};

}  // namespace

void register_dataset_models(model_registry& r, std::shared_ptr<input_streams> streams) {
    model_info m;
    m.name = "dataset_stream";
    m.doc = "Spike source fed by the experiment's `input` section (a data set, sample after sample); size = the encoding's channels";
    m.is_source = true;
    m.shared_step_data = true;  // the sample that every part reads is replaced at the next window
    m.make = [streams](const population_spec& s, double dt) -> std::unique_ptr<population_model> {
        auto in = streams ? streams->find(s.name) : nullptr;
        if (!in) throw spec_error("populations." + s.name + ".model", "population '" + s.name + "' (dataset_stream) is not fed by an `input` section (input.population)");
        return std::make_unique<dataset_stream_source>(s, dt, std::move(in));
    };
    r.add(std::move(m));
}

std::shared_ptr<dataset_input> prepare_input(experiment& ex, input_streams& streams, std::string* note) {
    if (!ex.input) {
        for (const auto& p : ex.spec.populations)
            if (p.model == "dataset_stream")
                throw config_error(ex.path, 0, 0, "populations." + p.name + ".model",
                                   "population '" + p.name + "' has model dataset_stream but the experiment has no `input` section to feed it");
        return nullptr;
    }
    auto in = std::make_shared<dataset_input>(ex);
    for (const auto& p : ex.spec.populations)
        if (p.model == "dataset_stream" && p.name != in->population())
            throw config_error(ex.path, 0, 0, "populations." + p.name + ".model",
                               "population '" + p.name + "' has model dataset_stream but input.population is '" + in->population() +
                                   "' (one input section feeds one population)");
    const double dt = ex.spec.simulation.dt;
    const std::uint64_t n = in->samples().size(), period = in->period_steps(dt), window = in->window_steps(dt);
    if (!ex.duration_given) {
        set_duration(ex, static_cast<double>(n * period) * dt);
    } else {
        const std::uint64_t steps = steps_for(ex.spec.simulation.duration, dt);
        const std::uint64_t fit = steps < window ? 0 : std::min<std::uint64_t>(n, (steps - window) / period + 1);
        in->set_played(static_cast<std::size_t>(fit));
        if (fit < n && note) {
            std::ostringstream os;
            os << "simulation.duration " << ex.spec.simulation.duration << " ms holds " << fit << " of the " << n << " samples ("
               << static_cast<double>(period) * dt << " ms each, gap included); only those are played. "
               << "Leave simulation.duration out to play all (" << static_cast<double>(n * period) * dt << " ms).";
            *note = os.str();
        }
    }
    streams.bind(in->population(), in);
    return in;
}

void write_samples(results_writer& w, const dataset_input& in, double dt, double simulated_ms) {
    std::vector<std::uint64_t> index;
    std::vector<std::int64_t> label;
    std::vector<double> start, stop;
    for (std::size_t k = 0; k < in.played(); ++k) {
        if (in.stop_ms(k, dt) > simulated_ms + 1e-9 * dt) break;
        index.push_back(in.samples()[k].index);
        label.push_back(in.samples()[k].label);
        start.push_back(in.start_ms(k, dt));
        stop.push_back(in.stop_ms(k, dt));
    }
    w.add_table("samples", {{"index", std::move(index), ""},
                            {"label", std::move(label), ""},
                            {"start_ms", std::move(start), "ms"},
                            {"stop_ms", std::move(stop), "ms"}});
}

}  // namespace engram
