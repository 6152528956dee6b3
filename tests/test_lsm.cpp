// Liquid-state machines: the branching factor, the classification section, and (science)
// a reduced NALSM run on Fashion-MNIST that must classify well above chance.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>

#include "engram/core/errors.hpp"
#include "engram/core/hdf5.hpp"
#include "engram/core/results.hpp"
#include "engram/datasets/input.hpp"
#include "engram/lsm/branching.hpp"
#include "engram/lsm/classification.hpp"
#include "helpers.hpp"

using namespace engram;
using namespace engram::test;
using Catch::Matchers::Contains;

TEST_CASE("branching factor of hand-made rasters", "[unit][lsm]") {
    // a -> b -> c, and a -> c
    lsm::adjacency g(3);
    g.add(0, 1);
    g.add(1, 2);
    g.add(0, 2);
    std::vector<std::vector<std::uint32_t>> r(40);
    r[10] = {0};
    r[11] = {1};
    r[12] = {2};
    // a: no ancestors (divide by 1), descendants b@11, c@12 -> 2
    // b: ancestor a@10, descendant c@12 -> 1
    // c: ancestors a@10, b@11 -> 0 / 2 = 0
    CHECK(lsm::branching_factor(r, g, 4, 5) == Approx((2.0 + 1.0 + 0.0) / 3));
    // a window of 1 step: a sees only b@11; c sees only b@11
    CHECK(lsm::branching_factor(r, g, 1, 5) == Approx((1.0 + 1.0 + 0.0) / 3));
    // spikes inside the buffer are ignored
    CHECK(std::isnan(lsm::branching_factor(r, g, 4, 15)));
    // a chain where each spike has exactly one descendant: bf = 1 except the last
    lsm::adjacency chain(10);
    for (std::uint32_t i = 0; i + 1 < 10; ++i) chain.add(i, i + 1);
    std::vector<std::vector<std::uint32_t>> c(30);
    for (std::uint32_t i = 0; i < 10; ++i) c[5 + i] = {i};
    CHECK(lsm::branching_factor(c, chain, 4, 0) == Approx(9.0 / 10));
}

namespace {

std::string fashion_path() {
    for (const char* p : {"/usr/share/datasets/fashion-mnist", ENGRAM_SOURCE_DIR "/data/fashion-mnist"})
        if (std::filesystem::exists(std::string(p) + "/train-labels-idx1-ubyte.gz") || std::filesystem::exists(std::string(p) + "/train-labels-idx1-ubyte"))
            return p;
    FAIL("Fashion-MNIST is not installed: scripts/install-deps.sh installs Debian's dataset-fashion-mnist");
    return {};
}

// The NALSM experiment file, shrunk: 125 liquid neurons, a few hundred samples.
std::vector<std::string> small(const std::string& path) {
    return {"input.path=" + path,
            "populations.exc.size=100",
            "populations.inh.size=25",
            "layout.liquid.grid=[5, 5, 5]",
            "projections.input_exc.connector.n=11760",
            "projections.input_inh.connector.n=2940",
            "classification.initialisation.subset={from: 0, to: 400, shuffle: true}",
            "classification.train={split: train, subset: {from: 0, to: 1000}}",
            "classification.valid={split: train, subset: {from: 50000, to: 50200}}",
            "classification.test={split: test, subset: {from: 0, to: 400}}",
            "classification.readout={type: ridge, lambda: 0.01}",
            "classification.chunk=250"};
}

}  // namespace

TEST_CASE("classification sections reject bad input with the key", "[unit][lsm]") {
    const std::string exp = std::string(ENGRAM_SOURCE_DIR) + "/experiments/lsm/nalsm1000_fmnist.yaml";
    auto streams = std::make_shared<input_streams>();
    model_registry reg;
    register_builtin_models(reg);
    register_dataset_models(reg, streams);
    lsm::classification_options o;
    o.experiment = exp;
    o.quiet = true;
    o.overrides = {"classification.featurs=[exc]"};
    REQUIRE_THROWS_WITH(lsm::run_classification(o, reg, *streams), Contains("classification.featurs") && Contains("features"));
    o.overrides = {"classification.features=[exc, liquid]"};
    REQUIRE_THROWS_WITH(lsm::run_classification(o, reg, *streams), Contains("unknown population 'liquid'"));
    o.overrides = {"classification.readout={type: svm}"};
    REQUIRE_THROWS_WITH(lsm::run_classification(o, reg, *streams), Contains("unknown readout 'svm'"));
    o.overrides = {"classification.reset_traces=sometimes"};
    REQUIRE_THROWS_WITH(lsm::run_classification(o, reg, *streams), Contains("classification.reset_traces"));
}

TEST_CASE("a reduced NALSM classifies Fashion-MNIST well above chance", "[science][lsm]") {
    const std::string path = fashion_path();
    const auto dir = temp_dir("lsm");
    auto streams = std::make_shared<input_streams>();
    model_registry reg;
    register_builtin_models(reg);
    register_dataset_models(reg, streams);
    lsm::classification_options o;
    o.experiment = std::string(ENGRAM_SOURCE_DIR) + "/experiments/lsm/nalsm1000_fmnist.yaml";
    o.overrides = small(path);
    o.output = (dir / "nalsm.h5").string();
    o.workers = 2;
    o.quiet = true;
    const auto rep = lsm::run_classification(o, reg, *streams);
    REQUIRE(rep.sets.size() == 3);
    CHECK(rep.sets[0].samples == 1000);
    CHECK(rep.sets[2].samples == 400);
    INFO("test accuracy " << rep.sets[2].accuracy << ", branching " << rep.sets[2].branching << ", rate " << rep.sets[2].mean_rate_hz);
    CHECK(rep.sets[2].accuracy > 0.55);  // chance: 0.10
    CHECK(rep.sets[2].mean_rate_hz > 1.0);
    CHECK(std::isfinite(rep.sets[2].branching));
    // the branching factor followed over the initialisation phase (400 samples, 20 blocks)
    CHECK(rep.init_samples == 400);
    REQUIRE(rep.init_branching_curve.size() == 20);
    CHECK(rep.init_branching_at.back() <= 400);
    for (double bf : rep.init_branching_curve) CHECK(std::isfinite(bf));
    // the results file: accuracy, confusion matrix, readout
    auto f = h5::open_file(o.output);
    auto g = h5::open_group(f, "classification/test", o.output);
    CHECK(h5::read_attr_double(g, "accuracy", o.output) == Approx(rep.sets[2].accuracy));
    CHECK(h5::read_vector<std::int64_t>(g, "predicted", o.output).size() == 400);
    CHECK(h5::shape(f, "classification/confusion", o.output) == std::vector<hsize_t>{10, 10});
    CHECK(h5::shape(f, "classification/readout_weights", o.output) == std::vector<hsize_t>{125, 10});
    CHECK(h5::read_vector<double>(f, "classification/initialisation/branching_factor", o.output).size() == 20);
    // the weights every trial starts from, per plastic projection, with their summary
    REQUIRE(rep.init_weights.size() == 6);
    for (const auto& lw : rep.init_weights) {
        INFO("projection " << lw.projection);
        const std::string wp = "classification/initialisation/weights/" + lw.projection;
        const auto w = h5::read_vector<float>(f, wp + "/weight", o.output);
        REQUIRE(w == lw.weight);
        CHECK(h5::read_vector<std::uint32_t>(f, wp + "/pre", o.output).size() == w.size());
        CHECK(h5::read_vector<std::uint32_t>(f, wp + "/post", o.output).size() == w.size());
        const bool from_inh = lw.projection.rfind("inh_", 0) == 0, from_input = lw.projection.rfind("input_", 0) == 0;
        double sum = 0;
        for (float x : w) {
            CHECK(x >= (from_inh || from_input ? -3.0f : 0.0f));
            CHECK(x <= (from_inh ? 0.0f : 3.0f));
            sum += x;
        }
        auto pg = h5::open_group(f, wp, o.output);
        CHECK(h5::read_attr_double(pg, "mean_after", o.output) == Approx(sum / double(w.size())));
        if (!from_input) CHECK(h5::read_attr_double(pg, "mean_before", o.output) == Approx(from_inh ? -3.0 : 3.0));
        CHECK(lw.mean_after != Approx(lw.mean_before));  // the phase changed them
    }
    const std::string info = describe_results(o.output);  // what `engram info` prints
    CHECK_THAT(info, Contains("complete") && Contains("classification (ridge readout") && Contains("test        400 samples"));
    // the same seed gives the same answers with one worker
    o.workers = 1;
    o.output = (dir / "nalsm1.h5").string();
    const auto rep1 = lsm::run_classification(o, reg, *streams);
    CHECK(rep1.sets[2].accuracy == rep.sets[2].accuracy);
}

TEST_CASE("the 24 generated LSM experiments parse and are in step with their generator", "[unit][lsm]") {
    auto streams = std::make_shared<input_streams>();
    model_registry reg;
    register_builtin_models(reg);
    register_dataset_models(reg, streams);
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(std::string(ENGRAM_SOURCE_DIR) + "/experiments/lsm")) {
        if (e.path().extension() != ".yaml") continue;
        INFO(e.path().filename().string());
        const auto ex = load_experiment(e.path().string(), reg);
        CHECK(ex.classification.has_value());
        const bool big = e.path().filename().string().find("8000") != std::string::npos;
        CHECK(ex.spec.find_population("exc")->size == (big ? 6400u : 800u));
        ++n;
    }
    CHECK(n == 24);
}
