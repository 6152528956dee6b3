#include "engram/lsm/classification.hpp"

#include <hdf5.h>
#include <unistd.h>

#include <Eigen/Dense>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <mutex>
#include <thread>

#include "engram/core/config.hpp"
#include "engram/core/engine.hpp"
#include "engram/core/errors.hpp"
#include "engram/core/hdf5.hpp"
#include "engram/core/version.hpp"
#include "engram/datasets/input.hpp"
#include "engram/learning/features.hpp"
#include "engram/learning/metrics.hpp"
#include "engram/learning/optimizer.hpp"
#include "engram/learning/readout.hpp"
#include "engram/lsm/branching.hpp"

namespace engram::lsm {
namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

// A map of --set style overrides: {key: value, ...}.
std::vector<std::string> overrides_of(const config_section& s, const config_node* n, const std::string& key) {
    std::vector<std::string> out;
    if (!n) return out;
    if (!n->is_map()) s.fail(*n, key, "expected a mapping {dotted.key: value, ...} of overrides");
    for (std::size_t i = 0; i < n->keys.size(); ++i) out.push_back(n->keys[i] + "=" + s.scalar(n->values[i], key + "." + n->keys[i]));
    return out;
}

// A config_node (scalar or map of scalars, nested) back to flow-style YAML text.
std::string to_yaml(const config_node& n) {
    if (n.is_scalar()) return n.scalar;
    if (n.is_map()) {
        std::string s = "{";
        for (std::size_t i = 0; i < n.keys.size(); ++i) s += (i ? ", " : "") + n.keys[i] + ": " + to_yaml(n.values[i]);
        return s + "}";
    }
    if (n.type == config_node::kind::sequence) {
        std::string s = "[";
        for (std::size_t i = 0; i < n.values.size(); ++i) s += (i ? ", " : "") + to_yaml(n.values[i]);
        return s + "]";
    }
    return "null";
}

struct set_spec {
    std::string name;
    std::vector<std::string> overrides;  // input.split / input.subset
    bool range = false;                  // subset is {from, to}: can be cut into chunks
    std::uint64_t from = 0, to = 0;      // when range and known
    std::string split = "train";
};

struct section_spec {
    std::vector<std::string> features;
    std::vector<set_spec> sets;  // train, [valid], test
    bool has_valid = false;
    bool init = false;
    set_spec init_set;
    std::vector<std::string> init_overrides, trial_overrides;
    bool reset_weights = true;
    bool reset_traces = true;  // plasticity traces emptied between samples
    std::string readout = "softmax";
    learning::softmax_options softmax;
    double ridge_lambda = 1e-3;
    std::size_t bf_samples = 20;
    double bf_window_ms = 4.0, bf_buffer_ms = 25.0;
    std::size_t chunk = 500;
};

set_spec read_set(const config_section& s, const config_node& n, const std::string& key, const std::string& name) {
    set_spec st;
    st.name = name;
    s.check_keys(n, key, {"split", "subset"});
    if (const auto* sp = n.find("split")) st.split = s.scalar(*sp, key + ".split");
    st.overrides.push_back("input.split=" + st.split);
    if (const auto* sub = n.find("subset")) {
        st.overrides.push_back("input.subset=" + to_yaml(*sub));
        if (sub->is_map() && (sub->find("from") || sub->find("to")) && !sub->find("shuffle")) {
            st.range = true;
            if (const auto* f = sub->find("from")) st.from = s.integer(*f, key + ".subset.from");
            st.to = sub->find("to") ? s.integer(*sub->find("to"), key + ".subset.to") : 0;
        }
    } else {
        st.overrides.push_back("input.subset={from: 0}");  // the whole split, in file order
        st.range = true;
    }
    return st;
}

section_spec read_section(const experiment& ex) {
    const config_section s{ex.path};
    const config_node& c = *ex.classification;
    s.check_keys(c, "classification", {"features", "train", "valid", "test", "initialisation", "trials", "reset_weights", "reset_traces", "readout", "branching", "chunk"});
    section_spec r;
    if (!c.find("features")) s.fail(c, "classification", "classification needs 'features' (the populations whose spike counts are the features)");
    r.features = s.strings(*c.find("features"), "classification.features");
    for (const auto& f : r.features)
        if (!ex.spec.find_population(f)) {
            std::vector<std::string> names;
            for (const auto& p : ex.spec.populations) names.push_back(p.name);
            s.fail(*c.find("features"), "classification.features", "unknown population '" + f + "'", nearest(f, names));
        }
    for (const char* name : {"train", "test"})
        if (!c.find(name)) s.fail(c, "classification", std::string("classification needs '") + name + "' (e.g. {split: " + name + "})");
    r.sets.push_back(read_set(s, *c.find("train"), "classification.train", "train"));
    if (const auto* v = c.find("valid")) {
        r.sets.push_back(read_set(s, *v, "classification.valid", "valid"));
        r.has_valid = true;
    }
    r.sets.push_back(read_set(s, *c.find("test"), "classification.test", "test"));
    if (const auto* in = c.find("initialisation")) {
        const std::string k = "classification.initialisation";
        s.check_keys(*in, k, {"split", "subset", "window", "set"});
        config_node tmp = *in;  // split/subset as for a set
        tmp.keys.clear();
        tmp.values.clear();
        tmp.key_marks.clear();
        for (std::size_t i = 0; i < in->keys.size(); ++i)
            if (in->keys[i] == "split" || in->keys[i] == "subset") {
                tmp.keys.push_back(in->keys[i]);
                tmp.values.push_back(in->values[i]);
                tmp.key_marks.push_back(in->key_marks[i]);
            }
        r.init_set = read_set(s, tmp, k, "initialisation");
        r.init = true;
        r.init_overrides = overrides_of(s, in->find("set"), k + ".set");
        if (const auto* w = in->find("window")) {
            const double ms = s.quantity(*w, k + ".window", dimension::time);
            if (!(ms > 0)) s.fail(*w, k + ".window", "window must be > 0");
            r.init_set.overrides.push_back("__window=" + std::to_string(ms));
        }
    }
    if (const auto* t = c.find("trials")) {
        s.check_keys(*t, "classification.trials", {"set"});
        r.trial_overrides = overrides_of(s, t->find("set"), "classification.trials.set");
    }
    if (const auto* rw = c.find("reset_weights")) r.reset_weights = s.boolean(*rw, "classification.reset_weights");
    if (const auto* rt = c.find("reset_traces")) r.reset_traces = s.boolean(*rt, "classification.reset_traces");
    if (const auto* ro = c.find("readout")) {
        const std::string k = "classification.readout";
        s.check_keys(*ro, k, {"type", "optimizer", "lr", "epochs", "batch", "l2", "pm_one_targets", "lambda", "seed"});
        if (const auto* t = ro->find("type")) r.readout = s.scalar(*t, k + ".type");
        if (r.readout != "softmax" && r.readout != "ridge")
            s.fail(*ro->find("type"), k + ".type", "unknown readout '" + r.readout + "' (softmax, ridge)", nearest(r.readout, std::vector<std::string>{"softmax", "ridge"}));
        auto& so = r.softmax;
        so.opt.kind = learning::optimizer_kind::adadelta;
        so.opt.lr = 0.1;
        if (const auto* v = ro->find("optimizer")) {
            try {
                so.opt.kind = learning::parse_optimizer(s.scalar(*v, k + ".optimizer"));
            } catch (const std::invalid_argument& e) {
                s.fail(*v, k + ".optimizer", e.what());
            }
        }
        if (const auto* v = ro->find("lr")) so.opt.lr = s.quantity(*v, k + ".lr", dimension::dimensionless);
        if (const auto* v = ro->find("epochs")) so.epochs = static_cast<int>(s.integer(*v, k + ".epochs"));
        if (const auto* v = ro->find("batch")) so.batch = static_cast<int>(s.integer(*v, k + ".batch"));
        if (const auto* v = ro->find("l2")) so.l2 = s.quantity(*v, k + ".l2", dimension::dimensionless);
        if (const auto* v = ro->find("seed")) so.seed = s.integer(*v, k + ".seed");
        if (const auto* v = ro->find("pm_one_targets")) so.pm_one_targets = s.boolean(*v, k + ".pm_one_targets");
        if (const auto* v = ro->find("lambda")) r.ridge_lambda = s.quantity(*v, k + ".lambda", dimension::dimensionless);
        if (so.epochs < 1 || so.batch < 1) s.fail(*ro, k, "epochs and batch must be >= 1");
    }
    if (const auto* b = c.find("branching")) {
        const std::string k = "classification.branching";
        s.check_keys(*b, k, {"samples", "window", "buffer"});
        if (const auto* v = b->find("samples")) r.bf_samples = s.integer(*v, k + ".samples");
        if (const auto* v = b->find("window")) r.bf_window_ms = s.quantity(*v, k + ".window", dimension::time);
        if (const auto* v = b->find("buffer")) r.bf_buffer_ms = s.quantity(*v, k + ".buffer", dimension::time);
    }
    if (const auto* ch = c.find("chunk")) {
        r.chunk = s.integer(*ch, "classification.chunk");
        if (r.chunk == 0) s.fail(*ch, "classification.chunk", "chunk must be >= 1");
    }
    return r;
}

// Spike counts of the feature populations for the current sample, and a raster of them
// for the branching factor.
struct feature_counter : observer {
    std::vector<std::int64_t> offset;  // per population: first feature column, -1 if not a feature
    std::vector<float>* row = nullptr;
    std::vector<std::vector<std::uint32_t>>* raster = nullptr;  // per step of the sample, when recording
    std::uint64_t first_step = 0;
    std::uint64_t spikes = 0;
    void on_spikes(std::uint64_t step, std::size_t pop, const std::uint32_t* ids, std::size_t n) override {
        const std::int64_t off = offset[pop];
        if (off < 0) return;
        spikes += n;
        for (std::size_t i = 0; i < n; ++i) (*row)[static_cast<std::size_t>(off) + ids[i]] += 1.0f;
        if (raster) {
            auto& r = (*raster)[step - first_step];
            for (std::size_t i = 0; i < n; ++i) r.push_back(static_cast<std::uint32_t>(off) + ids[i]);
        }
    }
};

struct set_data {
    Eigen::MatrixXf X;
    std::vector<int> y;
    std::vector<std::uint64_t> index;
    double branching = std::numeric_limits<double>::quiet_NaN();
    double rate_hz = 0.0;
};

class driver {
public:
    driver(const classification_options& o, const model_registry& models, input_streams& streams)
        : o_(o), models_(models), streams_(streams) {}

    classification_report run() {
        const auto t0 = clock_type::now();
        base_ = load_experiment(o_.experiment, models_, o_.overrides);
        if (!base_.classification) throw config_error(o_.experiment, 0, 0, "classification", "the experiment has no classification section");
        if (!base_.input) throw config_error(o_.experiment, 0, 0, "input", "a classification experiment needs an input section (the data set and its encoding)");
        sec_ = read_section(base_);
        for (const auto& f : sec_.features) {
            n_features_ += base_.spec.find_population(f)->size;
        }
        classification_report rep;
        rep.output = o_.output.empty() ? (base_.spec.simulation.output.empty() ? fs::path(o_.experiment).stem().string() + ".h5" : base_.spec.simulation.output) : o_.output;
        // Weights every trial starts from: the initialisation phase's, or the built ones.
        if (sec_.init) {
            const auto ti = clock_type::now();
            initialise(rep);
            rep.init_seconds = seconds_since(ti);
        }
        std::vector<set_data> data;
        for (const auto& st : sec_.sets) {
            const auto ts = clock_type::now();
            data.push_back(run_set(st));
            set_result r;
            r.name = st.name;
            r.samples = data.back().y.size();
            r.branching = data.back().branching;
            r.mean_rate_hz = data.back().rate_hz;
            r.seconds = seconds_since(ts);
            rep.sets.push_back(r);
        }
        // Readout on normalised counts: each set scaled by its own maximum (NALSM).
        const auto tr = clock_type::now();
        for (auto& d : data) learning::normalize_counts(d.X);
        set_data& train = data.front();
        set_data& test = data.back();
        set_data* valid = sec_.has_valid ? &data[1] : nullptr;
        std::vector<std::vector<int>> predicted(data.size());
        Eigen::MatrixXd W;
        Eigen::VectorXd b;
        if (sec_.readout == "softmax") {
            learning::softmax_readout ro;
            auto opts = sec_.softmax;
            opts.on_epoch = [&](int epoch, double loss, double vacc) {
                if (!o_.quiet) std::printf("readout epoch %d: loss %.4f%s\n", epoch, loss,
                                           std::isnan(vacc) ? "" : (", valid " + std::to_string(100 * vacc).substr(0, 5) + "%").c_str());
            };
            ro.fit(train.X, train.y, 10, opts, valid ? &valid->X : nullptr, valid ? &valid->y : nullptr);
            for (std::size_t k = 0; k < data.size(); ++k) predicted[k] = ro.predict(data[k].X);
            W = ro.weights();
            b = ro.bias();
            rep.best_epoch = ro.best_epoch();
        } else {
            learning::ridge_readout ro;
            ro.fit(train.X, train.y, 10, sec_.ridge_lambda);
            for (std::size_t k = 0; k < data.size(); ++k) predicted[k] = ro.predict(data[k].X);
            W = ro.weights();
            b = ro.bias();
        }
        rep.readout_seconds = seconds_since(tr);
        for (std::size_t k = 0; k < data.size(); ++k) rep.sets[k].accuracy = learning::accuracy(data[k].y, predicted[k]);
        const Eigen::MatrixXi cm = learning::confusion_matrix(test.y, predicted.back(), 10);
        rep.confusion.assign(10, std::vector<std::int64_t>(10, 0));
        for (int i = 0; i < 10; ++i)
            for (int j = 0; j < 10; ++j) rep.confusion[i][j] = cm(i, j);
        rep.total_seconds = seconds_since(t0);
        write(rep, data, predicted, W, b);
        return rep;
    }

private:
    // Loads the experiment for one phase: the user's overrides, then the phase's.
    experiment load(const std::vector<std::string>& phase, const set_spec& st, std::uint64_t from, std::uint64_t to, bool ranged) {
        std::vector<std::string> ov = o_.overrides;
        ov.insert(ov.end(), phase.begin(), phase.end());
        std::string window;
        for (const auto& x : st.overrides) {
            if (x.rfind("__window=", 0) == 0) { window = x.substr(9); continue; }
            if (ranged && x.rfind("input.subset=", 0) == 0) continue;
            ov.push_back(x);
        }
        if (ranged) ov.push_back("input.subset={from: " + std::to_string(from) + ", to: " + std::to_string(to) + "}");
        ov.push_back("input.gap=0 ms");
        ov.push_back("simulation.threads=1");
        experiment ex = load_experiment(o_.experiment, models_, ov);
        if (!window.empty()) {  // the encoding's duration becomes the window
            config_node& enc = const_cast<config_node&>(*ex.input->find("encoding"));
            config_node& p = enc.values.at(0);
            for (std::size_t i = 0; i < p.keys.size(); ++i)
                if (p.keys[i] == "duration") p.values[i].scalar = window + " ms";
        }
        return ex;
    }

    std::vector<std::size_t> plastic_projections(const simulation& sim) const {
        std::vector<std::size_t> v;
        for (std::size_t j = 0; j < sim.spec().projections.size(); ++j)
            if (sim.plastic(j)) v.push_back(j);
        return v;
    }

    // NALSM's first phase: plasticity on over many short samples, weights carried over.
    // The branching factor is followed over the phase: each block of `bf_samples` samples
    // (one block per twentieth of the phase) is recorded and its mean branching factor
    // (no buffer: the samples are short) stored against the phase's sample index.
    void initialise(classification_report& rep) {
        experiment ex = load(sec_.init_overrides, sec_.init_set, 0, 0, false);
        std::lock_guard lock(bind_mutex_);
        auto in = prepare_input(ex, streams_);
        simulation sim(ex.spec, models_);
        const std::uint64_t W = in->window_steps(ex.spec.simulation.dt);
        const std::size_t n = in->played();
        rep.init_samples = n;
        simulated_ms_ += double(n * W) * ex.spec.simulation.dt;
        feature_counter fc = counter(sim);
        std::vector<float> row(n_features_);
        fc.row = &row;
        const adjacency graph = liquid_graph(sim);
        const auto win = static_cast<std::uint32_t>(std::llround(sec_.bf_window_ms / ex.spec.simulation.dt));
        const std::size_t every = std::max<std::size_t>(1, n / 20), block = std::max<std::size_t>(1, sec_.bf_samples);
        std::vector<std::vector<std::uint32_t>> raster;
        double bf_sum = 0;
        int bf_count = 0;
        std::map<std::size_t, std::vector<float>> initial;  // weights as built
        for (std::size_t j : plastic_projections(sim)) initial[j] = sim.weights(j);
        const auto t0 = clock_type::now();
        for (std::size_t k = 0; k < n; ++k) {
            sim.reset_state(!sec_.reset_traces);
            const bool probe = k % every < block;
            if (probe) {
                raster.assign(W + 1, {});
                fc.raster = &raster;
                fc.first_step = sim.current_step() + 1;
            }
            sim.run(W, &fc);
            fc.raster = nullptr;
            if (probe) {
                if (const double bf = branching_factor(raster, graph, win, 0); !std::isnan(bf)) { bf_sum += bf; ++bf_count; }
                if (k % every == block - 1 || k + 1 == n) {
                    rep.init_branching_at.push_back(k + 1);
                    rep.init_branching_curve.push_back(bf_count ? bf_sum / bf_count : std::numeric_limits<double>::quiet_NaN());
                    bf_sum = 0;
                    bf_count = 0;
                }
            }
            if (!o_.quiet && ((k + 1) % 1000 == 0 || k + 1 == n)) {
                std::printf("initialisation: %zu / %zu samples (%.0f samples/s)%s\n", k + 1, n, double(k + 1) / seconds_since(t0),
                            rep.init_branching_curve.empty() ? "" : (", branching factor " + std::to_string(rep.init_branching_curve.back()).substr(0, 5)).c_str());
                std::fflush(stdout);
            }
        }
        for (std::size_t j : plastic_projections(sim)) {
            start_weights_[j] = sim.weights(j);
            const auto& pj = sim.spec().projections[j];
            const auto syn = sim.synapses(j);
            learned_weights lw;
            lw.projection = pj.name;
            lw.pre = syn.pre;
            lw.post = syn.post;
            lw.weight = start_weights_[j];
            const auto& par = pj.plasticity.params;
            const double lo = par.count("w_min") ? par.at("w_min") : -std::numeric_limits<double>::infinity();
            const double hi = par.count("w_max") ? par.at("w_max") : std::numeric_limits<double>::infinity();
            const std::vector<float>& built = initial.at(j);
            double sum0 = 0, sum1 = 0;
            std::size_t n_lo = 0, n_hi = 0;
            for (std::size_t s = 0; s < lw.weight.size(); ++s) {
                sum0 += built[s];
                sum1 += lw.weight[s];
                n_lo += lw.weight[s] <= static_cast<float>(lo);
                n_hi += lw.weight[s] >= static_cast<float>(hi);
            }
            const double cnt = std::max<double>(1, static_cast<double>(lw.weight.size()));
            lw.mean_before = sum0 / cnt;
            lw.mean_after = sum1 / cnt;
            lw.at_min = double(n_lo) / cnt;
            lw.at_max = double(n_hi) / cnt;
            if (!o_.quiet)
                std::printf("  %-12s mean weight %+.3f -> %+.3f, %.0f %% at w_min, %.0f %% at w_max\n", pj.name.c_str(), lw.mean_before,
                            lw.mean_after, 100 * lw.at_min, 100 * lw.at_max);
            rep.init_weights.push_back(std::move(lw));
        }
        rep.init_branching = rep.init_branching_curve.empty() ? std::numeric_limits<double>::quiet_NaN() : rep.init_branching_curve.back();
    }

    feature_counter counter(const simulation& sim) const {
        feature_counter fc;
        fc.offset.assign(sim.spec().populations.size(), -1);
        std::int64_t off = 0;
        for (const auto& f : sec_.features) {
            const std::size_t p = sim.spec().population_index(f);
            fc.offset[p] = off;
            off += sim.spec().populations[p].size;
        }
        return fc;
    }

    set_data run_set(const set_spec& st) {
        // The set's samples, in presentation order; with a range, cut into chunks.
        experiment whole = load(sec_.trial_overrides, st, 0, 0, false);
        std::shared_ptr<dataset_input> all;
        {
            std::lock_guard lock(bind_mutex_);
            all = prepare_input(whole, streams_);
        }
        const std::size_t n = all->played();
        const double dt = whole.spec.simulation.dt;
        const std::uint64_t W = all->window_steps(dt);
        simulated_ms_ += double(n * W) * dt;
        set_data d;
        d.X = Eigen::MatrixXf::Zero(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(n_features_));
        for (const auto& smp : all->samples()) {
            d.y.push_back(smp.label);
            d.index.push_back(smp.index);
        }
        std::vector<std::pair<std::size_t, std::size_t>> chunks;  // [begin, end) in presentation order
        if (st.range)
            for (std::size_t b = 0; b < n; b += sec_.chunk) chunks.emplace_back(b, std::min(n, b + sec_.chunk));
        else
            chunks.emplace_back(0, n);
        std::vector<std::vector<std::vector<std::uint32_t>>> rasters(std::min(sec_.bf_samples, n));
        std::atomic<std::size_t> next{0}, done{0};
        std::atomic<std::uint64_t> spikes{0};
        std::mutex print;
        std::exception_ptr failure;
        adjacency graph;
        const auto t0 = clock_type::now();
        auto work = [&] {
            try {
                for (std::size_t c = next++; c < chunks.size(); c = next++) {
                    const auto [cb, ce] = chunks[c];
                    std::unique_ptr<simulation> sim;
                    {
                        std::lock_guard lock(bind_mutex_);
                        if (chunks.size() == 1) {
                            streams_.bind(all->population(), all);
                            sim = std::make_unique<simulation>(whole.spec, models_);
                        } else {
                            // the chunk's samples as an index range (file order; unlabelled samples in
                            // between are skipped by the input section as they were for the whole set)
                            const auto& smp = all->samples();
                            experiment ex = load(sec_.trial_overrides, st, smp[cb].index, smp[ce - 1].index + 1, true);
                            const auto in = prepare_input(ex, streams_);
                            if (in->played() != ce - cb || in->samples().front().index != smp[cb].index)
                                throw error("classification." + st.name + ": chunk " + std::to_string(c) + " selected " +
                                            std::to_string(in->played()) + " samples instead of " + std::to_string(ce - cb));
                            sim = std::make_unique<simulation>(ex.spec, models_);
                        }
                        if (c == 0) graph = liquid_graph(*sim);
                    }
                    for (const auto& [j, w] : start_weights_) sim->set_weights(j, w);
                    std::map<std::size_t, std::vector<float>> own;  // weights each trial starts from
                    if (sec_.reset_weights)
                        for (std::size_t j : plastic_projections(*sim)) own[j] = sim->weights(j);
                    feature_counter fc = counter(*sim);
                    std::vector<float> row(n_features_);
                    fc.row = &row;
                    for (std::size_t k = cb; k < ce; ++k) {
                        if (sec_.reset_weights)
                            for (const auto& [j, w] : own) sim->set_weights(j, w);
                        sim->reset_state(!sec_.reset_traces);
                        std::fill(row.begin(), row.end(), 0.0f);
                        fc.raster = k < rasters.size() ? &rasters[k] : nullptr;
                        if (fc.raster) fc.raster->assign(W + 1, {});
                        fc.first_step = sim->current_step() + 1;
                        sim->run(W, &fc);
                        for (std::size_t f = 0; f < n_features_; ++f) d.X(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(f)) = row[f];
                    }
                    spikes += fc.spikes;
                    const std::size_t now_done = done += ce - cb;
                    if (!o_.quiet) {
                        std::lock_guard lock(print);
                        std::printf("%s: %zu / %zu samples (%.0f samples/s)\n", st.name.c_str(), now_done, n, double(now_done) / seconds_since(t0));
                        std::fflush(stdout);
                    }
                }
            } catch (...) {
                std::lock_guard lock(print);
                if (!failure) failure = std::current_exception();
                next = chunks.size();
            }
        };
        const int workers = std::max(1, std::min<int>(o_.workers, static_cast<int>(chunks.size())));
        std::vector<std::thread> pool;
        for (int w = 1; w < workers; ++w) pool.emplace_back(work);
        work();
        for (auto& t : pool) t.join();
        if (failure) std::rethrow_exception(failure);
        d.rate_hz = n ? double(spikes) / (double(n) * double(n_features_) * double(W) * dt * 1e-3) : 0.0;
        if (!rasters.empty()) {
            const auto win = static_cast<std::uint32_t>(std::llround(sec_.bf_window_ms / dt));
            const auto buf = static_cast<std::uint32_t>(std::llround(sec_.bf_buffer_ms / dt));
            double sum = 0;
            int count = 0;
            for (const auto& r : rasters) {
                const double bf = branching_factor(r, graph, win, buf);
                if (!std::isnan(bf)) { sum += bf; ++count; }
            }
            if (count) d.branching = sum / count;
        }
        return d;
    }

    // Connections among the feature neurons (the liquid), for the branching factor.
    adjacency liquid_graph(const simulation& sim) const {
        adjacency g(n_features_);
        const auto fc = counter(sim);
        for (std::size_t j = 0; j < sim.spec().projections.size(); ++j) {
            const auto& pj = sim.spec().projections[j];
            const auto s_off = fc.offset[sim.spec().population_index(pj.source)], t_off = fc.offset[sim.spec().population_index(pj.target)];
            if (s_off < 0 || t_off < 0) continue;
            const auto syn = sim.synapses(j);
            for (std::size_t s = 0; s < syn.size(); ++s)
                g.add(static_cast<std::uint32_t>(s_off) + syn.pre[s], static_cast<std::uint32_t>(t_off) + syn.post[s]);
        }
        return g;
    }

    void write(const classification_report& rep, const std::vector<set_data>& data, const std::vector<std::vector<int>>& predicted,
               const Eigen::MatrixXd& W, const Eigen::VectorXd& b) const {
        const std::string tmp = rep.output + ".tmp";  // what errors name until commit()
        h5::new_file f(rep.output);
        {
            h5::write_attr(f.id(), "engram_version", std::string(version_string), tmp);
            h5::write_attr(f.id(), "experiment", base_.resolved_yaml, tmp);
            h5::write_attr(f.id(), "seed", static_cast<std::uint64_t>(base_.spec.simulation.seed), tmp);
            h5::write_attr(f.id(), "dt_ms", base_.spec.simulation.dt, tmp);
            h5::write_attr(f.id(), "duration_ms", simulated_ms_, tmp);  // all trials together
            h5::write_attr(f.id(), "wall_time_s", rep.total_seconds, tmp);
            h5::write_attr(f.id(), "complete", std::int64_t(1), tmp);
            auto g = h5::create_group(f.id(), "classification", tmp);
            h5::write_attr(g.id(), "readout", sec_.readout, tmp);
            h5::write_attr(g.id(), "wall_time_s", rep.total_seconds, tmp);
            h5::write_attr(g.id(), "initialisation_samples", static_cast<std::uint64_t>(rep.init_samples), tmp);
            if (!rep.init_branching_at.empty()) {
                auto ig = h5::create_group(g.id(), "initialisation", tmp);
                std::vector<std::uint64_t> at(rep.init_branching_at.begin(), rep.init_branching_at.end());
                h5::write_vector(ig.id(), "sample", at, tmp);
                h5::write_vector(ig.id(), "branching_factor", rep.init_branching_curve, tmp);
                if (!rep.init_weights.empty()) {
                    auto wg = h5::create_group(ig.id(), "weights", tmp);
                    for (const auto& lw : rep.init_weights) {
                        auto pg = h5::create_group(wg.id(), lw.projection, tmp);
                        h5::write_vector(pg.id(), "pre", lw.pre, tmp);
                        h5::write_vector(pg.id(), "post", lw.post, tmp);
                        h5::write_vector(pg.id(), "weight", lw.weight, tmp);
                        h5::write_attr(pg.id(), "mean_before", lw.mean_before, tmp);
                        h5::write_attr(pg.id(), "mean_after", lw.mean_after, tmp);
                        h5::write_attr(pg.id(), "fraction_at_w_min", lw.at_min, tmp);
                        h5::write_attr(pg.id(), "fraction_at_w_max", lw.at_max, tmp);
                    }
                }
            }
            for (std::size_t k = 0; k < data.size(); ++k) {
                const auto& r = rep.sets[k];
                auto sg = h5::create_group(g.id(), r.name, tmp);
                h5::write_attr(sg.id(), "accuracy", r.accuracy, tmp);
                h5::write_attr(sg.id(), "branching_factor", r.branching, tmp);
                h5::write_attr(sg.id(), "mean_rate_hz", r.mean_rate_hz, tmp);
                h5::write_attr(sg.id(), "wall_time_s", r.seconds, tmp);
                h5::write_vector(sg.id(), "index", data[k].index, tmp);
                h5::write_vector(sg.id(), "label", std::vector<std::int64_t>(data[k].y.begin(), data[k].y.end()), tmp);
                h5::write_vector(sg.id(), "predicted", std::vector<std::int64_t>(predicted[k].begin(), predicted[k].end()), tmp);
            }
            write_matrix(g.id(), "confusion", rep.confusion, tmp);
            std::vector<std::vector<double>> wm(static_cast<std::size_t>(W.rows()), std::vector<double>(static_cast<std::size_t>(W.cols())));
            for (Eigen::Index i = 0; i < W.rows(); ++i)
                for (Eigen::Index j = 0; j < W.cols(); ++j) wm[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)] = W(i, j);
            write_matrix(g.id(), "readout_weights", wm, tmp);
            h5::write_vector(g.id(), "readout_bias", std::vector<double>(b.data(), b.data() + b.size()), tmp);
            std::string feats;
            for (const auto& name : sec_.features) feats += (feats.empty() ? "" : ",") + name;
            h5::write_attr(g.id(), "features", feats, tmp);
        }
        f.commit();
    }

    template <class T>
    static void write_matrix(hid_t loc, const std::string& name, const std::vector<std::vector<T>>& m, const std::string& file) {
        const hsize_t dims[2] = {m.size(), m.empty() ? 0 : m[0].size()};
        std::vector<T> flat;
        for (const auto& r : m) flat.insert(flat.end(), r.begin(), r.end());
        const hid_t space = H5Screate_simple(2, dims, nullptr);
        const hid_t ds = H5Dcreate2(loc, name.c_str(), h5::type_of<T>(), space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        const herr_t st = ds < 0 ? -1 : H5Dwrite(ds, h5::type_of<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, flat.data());
        if (ds >= 0) H5Dclose(ds);
        H5Sclose(space);
        if (st < 0) throw io_error(file, "write", "dataset '" + name + "'");
    }

    const classification_options& o_;
    const model_registry& models_;
    input_streams& streams_;
    experiment base_;
    section_spec sec_;
    std::size_t n_features_ = 0;
    std::map<std::size_t, std::vector<float>> start_weights_;
    std::mutex bind_mutex_;
    double simulated_ms_ = 0.0;
};

}  // namespace

classification_report run_classification(const classification_options& o, const model_registry& models, input_streams& streams) {
    driver d(o, models, streams);
    return d.run();
}

}  // namespace engram::lsm
