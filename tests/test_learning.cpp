// The learning module (models/learning): losses against finite differences, optimisers
// against hand-computed steps and known minima, readouts against closed forms and
// independent solves, normalisation and metrics on hand examples, errors, determinism.
#include <catch2/catch.hpp>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "engram/core/rng.hpp"
#include "engram/learning/learning.hpp"

using namespace engram::learning;
using Catch::Matchers::Contains;
using Eigen::MatrixXd;
using Eigen::MatrixXf;
using Eigen::VectorXd;

namespace {

MatrixXd random_matrix(Eigen::Index r, Eigen::Index c, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
    engram::random_stream rs(seed, engram::stream_id("test/learning"), 0);
    MatrixXd m(r, c);
    for (Eigen::Index j = 0; j < c; ++j)
        for (Eigen::Index i = 0; i < r; ++i) m(i, j) = rs.uniform(lo, hi);
    return m;
}

// Central differences of f at x, one element at a time.
MatrixXd numeric_gradient(const std::function<double(const MatrixXd&)>& f, MatrixXd x, double h = 1e-6) {
    MatrixXd g(x.rows(), x.cols());
    for (Eigen::Index k = 0; k < x.size(); ++k) {
        const double x0 = x(k);
        x(k) = x0 + h;
        const double fp = f(x);
        x(k) = x0 - h;
        const double fm = f(x);
        x(k) = x0;
        g(k) = (fp - fm) / (2 * h);
    }
    return g;
}

// Gaussian blobs, n per class, around the given centres (one per row).
void blobs(const MatrixXd& centres, int n, double sigma, std::uint64_t seed, MatrixXf& X, std::vector<int>& y) {
    engram::random_stream rs(seed, engram::stream_id("test/blobs"), 0);
    const auto k = static_cast<int>(centres.rows());
    X.resize(static_cast<Eigen::Index>(k) * n, centres.cols());
    y.clear();
    for (int c = 0; c < k; ++c)
        for (int i = 0; i < n; ++i) {
            const Eigen::Index r = static_cast<Eigen::Index>(y.size());
            for (Eigen::Index j = 0; j < centres.cols(); ++j)
                X(r, j) = static_cast<float>(centres(c, j) + sigma * rs.normal());
            y.push_back(c);
        }
}

// A small regression-style classification set: features uniform in [-1, 1] plus a class
// offset, so the least-squares problem is well conditioned.
void linear_set(int n, int f, int k, std::uint64_t seed, MatrixXf& X, std::vector<int>& y) {
    const MatrixXd base = random_matrix(n, f, seed);
    const MatrixXd offs = random_matrix(k, f, seed + 1, -0.5, 0.5);
    X.resize(n, f);
    y.resize(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        y[static_cast<std::size_t>(i)] = i % k;
        X.row(i) = (base.row(i) + offs.row(i % k)).cast<float>();
    }
}

double max_abs_diff(const MatrixXd& a, const MatrixXd& b) {
    return (a - b).cwiseAbs().maxCoeff();
}

}  // namespace

// ---- losses ---------------------------------------------------------------------------------

TEST_CASE("softmax_cross_entropy: value by hand, gradient against central differences", "[learning][unit]") {
    // Zero logits over C classes: loss log C for any one-hot target.
    MatrixXd z0 = MatrixXd::Zero(2, 4), t0 = MatrixXd::Zero(2, 4);
    t0(0, 1) = 1;
    t0(1, 3) = 1;
    CHECK(softmax_cross_entropy(z0, t0).value == Approx(std::log(4.0)));

    const MatrixXd z = random_matrix(5, 3, 11, -3, 3);
    // Soft targets (rows sum to 1), including NALSM's softmax(+-1 one-hot).
    MatrixXd t = random_matrix(5, 3, 12, 0, 1);
    t.array().colwise() /= t.rowwise().sum().array();
    t.row(4) = softmax_rows(encode_targets({2}, 3, target_coding::plus_minus_one));
    const loss_value lv = softmax_cross_entropy(z, t);
    const MatrixXd g = numeric_gradient([&](const MatrixXd& x) { return softmax_cross_entropy(x, t).value; }, z);
    CHECK(max_abs_diff(lv.grad, g) < 1e-8);
    // Rows of the gradient sum to zero when targets are probability vectors.
    CHECK(lv.grad.rowwise().sum().cwiseAbs().maxCoeff() < 1e-15);
    // Huge logits do not overflow.
    MatrixXd big = z * 1e4;
    const loss_value lb = softmax_cross_entropy(big, t);
    CHECK(std::isfinite(lb.value));
    CHECK(lb.grad.allFinite());
}

TEST_CASE("mean_squared_error: value by hand, gradient against central differences", "[learning][unit]") {
    MatrixXd o(2, 2), t(2, 2);
    o << 1, 2, 3, 4;
    t << 0, 2, 3, 6;
    // (1 + 0 + 0 + 4) / 2 samples
    CHECK(mean_squared_error(o, t).value == Approx(2.5));
    const MatrixXd z = random_matrix(4, 3, 21);
    const MatrixXd tt = random_matrix(4, 3, 22);
    const loss_value lv = mean_squared_error(z, tt);
    const MatrixXd g = numeric_gradient([&](const MatrixXd& x) { return mean_squared_error(x, tt).value; }, z);
    CHECK(max_abs_diff(lv.grad, g) < 1e-8);
}

TEST_CASE("losses reject mismatched or empty batches", "[learning][unit]") {
    CHECK_THROWS_WITH(softmax_cross_entropy(MatrixXd::Zero(2, 3), MatrixXd::Zero(2, 4)),
                      Contains("2 x 3") && Contains("2 x 4"));
    CHECK_THROWS_AS(mean_squared_error(MatrixXd::Zero(3, 1), MatrixXd::Zero(2, 1)), std::invalid_argument);
    CHECK_THROWS_WITH(mean_squared_error(MatrixXd(0, 2), MatrixXd(0, 2)), Contains("empty"));
}

// ---- optimisers -----------------------------------------------------------------------------

namespace {
// f(p) = 1/2 sum_i a_i (p_i - c_i)^2, minimum at c.
struct quadratic {
    MatrixXd a, c;
    MatrixXd grad(const MatrixXd& p) const { return a.cwiseProduct(p - c); }
};
}  // namespace

TEST_CASE("each optimiser converges to the minimum of a convex quadratic", "[learning][unit]") {
    quadratic q;
    q.a.resize(2, 2);
    q.a << 1.0, 3.0, 0.5, 2.0;
    q.c.resize(2, 2);
    q.c << 1.5, -2.0, 0.25, 4.0;
    struct run_case {
        optimizer_options o;
        int steps;
    };
    const std::vector<run_case> cases = {
        {{.kind = optimizer_kind::sgd, .lr = 0.3}, 500},
        {{.kind = optimizer_kind::momentum, .lr = 0.05, .momentum = 0.9}, 1000},
        {{.kind = optimizer_kind::adam, .lr = 0.01}, 5000},
        {{.kind = optimizer_kind::adadelta, .lr = 1.0}, 5000},
    };
    for (const auto& rc : cases) {
        INFO(to_string(rc.o.kind));
        optimizer opt(rc.o);
        MatrixXd p = MatrixXd::Zero(2, 2);
        for (int s = 0; s < rc.steps; ++s) opt.step(p, q.grad(p));
        CHECK(max_abs_diff(p, q.c) < 1e-6);
        CHECK(opt.steps() == rc.steps);
    }
}

TEST_CASE("first steps of each optimiser by hand", "[learning][unit]") {
    MatrixXd g1(2, 2), g2(2, 2);
    g1 << 3.0, -0.5, 1e-3, -20.0;
    g2 << -1.0, 2.0, 0.5, 0.0;

    SECTION("sgd: p -= lr g") {
        optimizer opt({.kind = optimizer_kind::sgd, .lr = 0.1});
        MatrixXd p = MatrixXd::Ones(2, 2);
        opt.step(p, g1);
        CHECK(max_abs_diff(p, MatrixXd::Ones(2, 2) - 0.1 * g1) < 1e-15);
    }
    SECTION("momentum: v = mu v + g, p -= lr v") {
        optimizer opt({.kind = optimizer_kind::momentum, .lr = 0.1, .momentum = 0.9});
        MatrixXd p = MatrixXd::Zero(2, 2);
        opt.step(p, g1);
        CHECK(max_abs_diff(p, -0.1 * g1) < 1e-15);
        opt.step(p, g2);
        CHECK(max_abs_diff(p, -0.1 * g1 - 0.1 * (0.9 * g1 + g2)) < 1e-14);
    }
    SECTION("adam: the first step is lr * sign(grad)") {
        const double lr = 0.01;
        optimizer opt({.kind = optimizer_kind::adam, .lr = lr});
        MatrixXd p = MatrixXd::Zero(2, 2);
        opt.step(p, g1);
        // m_hat = g, v_hat = g^2, so the step is lr g / (|g| + eps).
        for (Eigen::Index k = 0; k < 4; ++k) CHECK(p(k) == Approx(-lr * (g1(k) > 0 ? 1.0 : -1.0)).epsilon(1e-4));
        CHECK(std::abs(p(0) + lr) < 1e-9);  // |g| = 3: within lr eps / |g|
    }
    SECTION("adadelta: the first two steps by hand") {
        optimizer opt({.kind = optimizer_kind::adadelta, .lr = 1.0, .rho = 0.95, .adadelta_eps = 1e-6});
        Eigen::VectorXd p = Eigen::VectorXd::Zero(1), g(1);
        g << 2.0;
        opt.step(p, g);
        // E[g^2] = 0.05 * 4 = 0.2; dx = sqrt(0 + 1e-6) / sqrt(0.2 + 1e-6) * 2 = 0.004472124774701616
        CHECK(p(0) == Approx(-0.004472124774701616).epsilon(1e-12));
        g << -1.0;
        opt.step(p, g);
        // E[dx^2] = 0.05 dx1^2; E[g^2] = 0.95 * 0.2 + 0.05; dx2 = sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) * -1
        CHECK(p(0) == Approx(-0.004472124774701616 + 0.0028867417234857396).epsilon(1e-12));
        // lr scales the step: lr 0.1 gives a tenth.
        optimizer o2({.kind = optimizer_kind::adadelta, .lr = 0.1});
        Eigen::VectorXd p2 = Eigen::VectorXd::Zero(1), g2v(1);
        g2v << 2.0;
        o2.step(p2, g2v);
        CHECK(p2(0) == Approx(-0.0004472124774701616).epsilon(1e-12));
    }
}

TEST_CASE("optimizer: names, options and shapes are checked", "[learning][unit]") {
    CHECK(parse_optimizer("sgd") == optimizer_kind::sgd);
    CHECK(parse_optimizer("momentum") == optimizer_kind::momentum);
    CHECK(parse_optimizer("adam") == optimizer_kind::adam);
    CHECK(parse_optimizer("adadelta") == optimizer_kind::adadelta);
    CHECK_THROWS_WITH(parse_optimizer("rmsprop"), Contains("'rmsprop'") && Contains("sgd, momentum, adam, adadelta"));
    CHECK_THROWS_WITH(optimizer({.kind = optimizer_kind::sgd, .lr = 0.0}), Contains("lr"));
    CHECK_THROWS_WITH(optimizer({.kind = optimizer_kind::momentum, .momentum = 1.0}), Contains("momentum"));
    CHECK_THROWS_WITH(optimizer({.kind = optimizer_kind::adam, .beta2 = -0.1}), Contains("beta2"));
    CHECK_THROWS_WITH(optimizer({.kind = optimizer_kind::adadelta, .adadelta_eps = 0.0}), Contains("adadelta_eps"));

    optimizer opt({.kind = optimizer_kind::adam});
    MatrixXd p = MatrixXd::Zero(2, 3);
    CHECK_THROWS_WITH(opt.step(p, MatrixXd::Zero(3, 2)), Contains("2 x 3") && Contains("3 x 2"));
    opt.step(p, MatrixXd::Ones(2, 3));
    MatrixXd other = MatrixXd::Zero(3, 3);
    CHECK_THROWS_WITH(opt.step(other, MatrixXd::Ones(3, 3)), Contains("one optimizer per parameter"));
    opt.reset();
    CHECK(opt.steps() == 0);
    CHECK_NOTHROW(opt.step(other, MatrixXd::Ones(3, 3)));
}

// ---- features and metrics -------------------------------------------------------------------

TEST_CASE("normalize_counts: L1 per sample, then the set's maximum", "[learning][unit]") {
    MatrixXf c(3, 3);
    c << 1, 3, 0,  //
        2, 2, 4,   //
        0, 0, 0;
    MatrixXf train = c;
    // rows: (1/4, 3/4, 0), (1/4, 1/4, 1/2), (0, 0, 0); maximum 3/4
    CHECK(normalize_counts(train) == Approx(0.75f));
    MatrixXf expect(3, 3);
    expect << 1.f / 3, 1, 0,  //
        1.f / 3, 1.f / 3, 2.f / 3, 0, 0, 0;
    CHECK((train - expect).cwiseAbs().maxCoeff() < 1e-7f);

    MatrixXf test = c.topRows(1);
    normalize_counts(test, 0.5f);  // scaled by a given (e.g. the training set's) maximum
    CHECK(test(0, 0) == Approx(0.5f));
    CHECK(test(0, 1) == Approx(1.5f));

    MatrixXf zeros = MatrixXf::Zero(2, 2);
    CHECK(normalize_counts(zeros) == 0.0f);
    CHECK(zeros.isZero());

    MatrixXf neg = c;
    neg(1, 1) = -1;
    CHECK_THROWS_WITH(normalize_counts(neg), Contains("negative"));
    MatrixXf nan = c;
    nan(2, 0) = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH(normalize_counts(nan), Contains("non-finite") && Contains("sample 2, feature 0"));
    MatrixXf empty(0, 3);
    CHECK_THROWS_WITH(normalize_counts(empty), Contains("empty"));
    MatrixXf ok = c;
    CHECK_THROWS_WITH(normalize_counts(ok, 0.0f), Contains("positive"));
}

TEST_CASE("accuracy and confusion_matrix on a hand example", "[learning][unit]") {
    const std::vector<int> truth = {0, 0, 1, 1, 2, 2, 2};
    const std::vector<int> pred = {0, 1, 1, 1, 2, 0, 2};
    CHECK(accuracy(truth, pred) == Approx(5.0 / 7.0));
    Eigen::MatrixXi expect(3, 3);
    expect << 1, 1, 0,  //
        0, 2, 0,        //
        1, 0, 2;
    CHECK(confusion_matrix(truth, pred, 3) == expect);
    CHECK_THROWS_WITH(accuracy(truth, {0, 1}), Contains("7 true labels but 2 predictions"));
    CHECK_THROWS_WITH(accuracy({}, {}), Contains("no samples"));
    CHECK_THROWS_WITH(confusion_matrix(truth, pred, 2), Contains("label 2") && Contains("[0, 2)"));
    CHECK(argmax_rows((MatrixXd(2, 3) << 1, 5, 5, -1, -2, -3).finished()) == std::vector<int>{1, 0});
}

// ---- readouts -------------------------------------------------------------------------------

TEST_CASE("softmax_readout separates three well-separated blobs", "[learning][unit]") {
    MatrixXd centres(3, 2);
    centres << 0, 0, 10, 0, 0, 10;
    MatrixXf X;
    std::vector<int> y;
    blobs(centres, 50, 1.0, 7, X, y);

    SECTION("adam") {
        softmax_options o;
        o.opt = {.kind = optimizer_kind::adam, .lr = 0.05};
        o.epochs = 30;
        o.batch = 25;
        softmax_readout r;
        r.fit(X, y, 3, o);
        CHECK(accuracy(y, r.predict(X)) == 1.0);
        CHECK(r.weights().rows() == 2);
        CHECK(r.weights().cols() == 3);
        CHECK(r.bias().size() == 3);
        CHECK(r.best_epoch() == 30);
        const MatrixXd p = r.probabilities(X);
        CHECK((p.rowwise().sum().array() - 1.0).abs().maxCoeff() < 1e-12);
    }
    SECTION("NALSM defaults: adadelta lr 0.1, +-1 soft targets") {
        softmax_options o;
        o.pm_one_targets = true;
        o.batch = 25;
        o.epochs = 600;  // Adadelta starts with steps of about lr sqrt(eps) / |g|: slow at first
        softmax_readout r;
        r.fit(X, y, 3, o);
        CHECK(accuracy(y, r.predict(X)) == 1.0);
    }
}

TEST_CASE("softmax_readout keeps the epoch with the best validation accuracy", "[learning][unit]") {
    MatrixXd centres(3, 2);
    centres << 0, 0, 2, 0, 0, 2;  // overlapping: accuracy varies from epoch to epoch
    MatrixXf X, Xv;
    std::vector<int> y, yv;
    blobs(centres, 60, 1.2, 1, X, y);
    blobs(centres, 60, 1.2, 2, Xv, yv);
    softmax_options o;
    o.opt = {.kind = optimizer_kind::sgd, .lr = 0.5};
    o.epochs = 12;
    o.batch = 10;
    std::vector<double> accs, losses;
    o.on_epoch = [&](int epoch, double loss, double acc) {
        CHECK(epoch == static_cast<int>(accs.size()) + 1);
        losses.push_back(loss);
        accs.push_back(acc);
    };
    softmax_readout r;
    r.fit(X, y, 3, o, &Xv, &yv);
    REQUIRE(accs.size() == 12);
    const auto best = std::max_element(accs.begin(), accs.end());  // the first maximum
    CHECK(r.best_epoch() == static_cast<int>(best - accs.begin()) + 1);
    CHECK(accuracy(yv, r.predict(Xv)) == *best);
    CHECK(losses.back() < losses.front());

    // Without a validation set the accuracy passed to the callback is NaN.
    o.on_epoch = [](int, double, double acc) { CHECK(std::isnan(acc)); };
    o.epochs = 2;
    r.fit(X, y, 3, o);
    CHECK(r.best_epoch() == 2);
}

TEST_CASE("softmax_readout: the same seed gives identical weights", "[learning][unit]") {
    MatrixXd centres(3, 4);
    centres << 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 0;
    MatrixXf X;
    std::vector<int> y;
    blobs(centres, 40, 0.7, 3, X, y);
    softmax_options o;
    o.opt = {.kind = optimizer_kind::adam, .lr = 0.01};
    o.epochs = 4;
    o.batch = 16;
    o.seed = 42;
    softmax_readout a, b, c;
    a.fit(X, y, 3, o);
    b.fit(X, y, 3, o);
    o.seed = 43;
    c.fit(X, y, 3, o);
    CHECK(a.weights() == b.weights());
    CHECK(a.bias() == b.bias());
    CHECK(a.weights() != c.weights());
    // Gathering from X itself instead of a row-major copy changes nothing.
    o.seed = 42;
    o.copy_rows = false;
    softmax_readout d;
    d.fit(X, y, 3, o);
    CHECK(d.weights() == a.weights());
    CHECK(d.bias() == a.bias());
}

TEST_CASE("ridge_readout equals an independent QR solve, and its primal and kernel forms agree", "[learning][unit]") {
    for (const auto coding : {target_coding::one_hot, target_coding::plus_minus_one}) {
        for (const auto& [n, f, lambda] : {std::tuple{80, 6, 0.5}, std::tuple{30, 50, 2.0}, std::tuple{60, 8, 0.0}}) {
            INFO("n " << n << " f " << f << " lambda " << lambda);
            MatrixXf X;
            std::vector<int> y;
            linear_set(n, f, 4, 5, X, y);
            // Augmented least squares [X 1; sqrt(lambda) I 0] [W; b] = [T; 0], by column-pivoting QR.
            MatrixXd A = MatrixXd::Zero(n + f, f + 1);
            A.topLeftCorner(n, f) = X.cast<double>();
            A.topRightCorner(n, 1).setOnes();
            A.bottomLeftCorner(f, f) = std::sqrt(lambda) * MatrixXd::Identity(f, f);
            MatrixXd B = MatrixXd::Zero(n + f, 4);
            B.topRows(n) = encode_targets(y, 4, coding);
            const MatrixXd wb = A.colPivHouseholderQr().solve(B);
            if (lambda == 0.0 && n < f) continue;  // not unique

            ridge_readout r;
            r.fit(X, y, 4, lambda, {.coding = coding});
            CHECK(max_abs_diff(r.weights(), wb.topRows(f)) < 1e-9);
            CHECK(max_abs_diff(r.bias(), wb.bottomRows(1).transpose()) < 1e-9);
            CHECK(r.form_used() == ((n < f && lambda > 0) ? ridge_form::kernel : ridge_form::primal));
            if (lambda > 0) {
                ridge_readout p, k;
                p.fit(X, y, 4, lambda, {.coding = coding, .form = ridge_form::primal, .block = 7});
                k.fit(X, y, 4, lambda, {.coding = coding, .form = ridge_form::kernel});
                CHECK(max_abs_diff(p.weights(), k.weights()) < 1e-9);
                CHECK(max_abs_diff(p.bias(), k.bias()) < 1e-9);
                CHECK(max_abs_diff(p.scores(X), k.scores(X)) < 1e-9);
            }
        }
    }
}

TEST_CASE("gradient training of the least-squares readout reaches the ridge closed form", "[learning][unit]") {
    MatrixXf X;
    std::vector<int> y;
    linear_set(200, 5, 3, 9, X, y);
    const double lambda = 3.0;
    ridge_readout ridge;
    ridge.fit(X, y, 3, lambda);

    struct run_case {
        optimizer_options opt;
        int epochs;
    };
    for (const auto& rc : {run_case{{.kind = optimizer_kind::sgd, .lr = 0.2}, 3000},
                           run_case{{.kind = optimizer_kind::momentum, .lr = 0.05, .momentum = 0.9}, 1500},
                           run_case{{.kind = optimizer_kind::adam, .lr = 0.002}, 8000}}) {
        INFO(to_string(rc.opt.kind));
        linear_options o;
        o.opt = rc.opt;
        o.lambda = lambda;
        o.batch = 0;  // full batch: gradient descent on ridge's objective / N
        o.epochs = rc.epochs;
        linear_readout lin;
        lin.fit(X, y, 3, o);
        CHECK(max_abs_diff(lin.weights(), ridge.weights()) < 1e-3);
        CHECK(max_abs_diff(lin.bias(), ridge.bias()) < 1e-3);
    }
}

TEST_CASE("readouts reject bad input with clear messages", "[learning][unit]") {
    MatrixXf X = MatrixXf::Ones(4, 3);
    X(0, 0) = 2;
    X(1, 1) = 3;
    X(2, 2) = 5;
    const std::vector<int> y = {0, 1, 2, 0};
    softmax_options o;
    o.epochs = 1;
    softmax_readout s;
    CHECK_THROWS_WITH(s.predict(X), Contains("not been trained"));
    CHECK_THROWS_WITH(s.fit(X, {0, 1}, 3, o), Contains("4 samples but 2 labels"));
    CHECK_THROWS_WITH(s.fit(X, {0, 1, 3, 0}, 3, o), Contains("label 3 of sample 2 outside [0, 3)"));
    CHECK_THROWS_WITH(s.fit(X, {0, 1, -1, 0}, 3, o), Contains("label -1"));
    CHECK_THROWS_WITH(s.fit(MatrixXf(0, 3), {}, 3, o), Contains("empty feature matrix"));
    CHECK_THROWS_WITH(s.fit(X, y, 1, o), Contains("n_classes must be at least 2"));
    MatrixXf bad = X;
    bad(3, 1) = std::numeric_limits<float>::infinity();
    CHECK_THROWS_WITH(s.fit(bad, y, 3, o), Contains("non-finite feature at sample 3, feature 1"));
    softmax_options neg = o;
    neg.epochs = 0;
    CHECK_THROWS_WITH(s.fit(X, y, 3, neg), Contains("epochs"));
    const MatrixXf Xv = MatrixXf::Ones(2, 2);
    const std::vector<int> yv = {0, 1};
    CHECK_THROWS_WITH(s.fit(X, y, 3, o, &Xv, &yv), Contains("validation") && Contains("2 features"));
    CHECK_THROWS_WITH(s.fit(X, y, 3, o, &Xv, nullptr), Contains("both"));
    s.fit(X, y, 3, o);
    CHECK_THROWS_WITH(s.predict(MatrixXf::Ones(2, 4)), Contains("trained on 3 features, got 4"));

    ridge_readout r;
    CHECK_THROWS_WITH(r.fit(X, y, 3, -1.0), Contains("lambda"));
    CHECK_THROWS_WITH(r.fit(X, y, 3, 0.0, {.form = ridge_form::kernel}), Contains("kernel form needs lambda > 0"));
    MatrixXf constant = X;
    constant.col(1).setConstant(2.0f);  // centred, it is a zero column
    CHECK_THROWS_WITH(r.fit(constant, y, 3, 0.0), Contains("singular"));
    CHECK_NOTHROW(r.fit(constant, y, 3, 1e-3));
    CHECK_THROWS_WITH(r.fit(X, {0, 1, 2}, 3, 1.0), Contains("4 samples but 3 labels"));

    linear_readout l;
    linear_options lo;
    lo.lambda = -2;
    CHECK_THROWS_WITH(l.fit(X, y, 3, lo), Contains("lambda"));
}
