#include "engram/learning/readout.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "check.hpp"
#include "engram/core/rng.hpp"
#include "engram/learning/loss.hpp"
#include "engram/learning/metrics.hpp"
#include "readout_common.hpp"

namespace engram::learning {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::MatrixXf;
using Eigen::VectorXd;

Eigen::MatrixXd encode_targets(const std::vector<int>& y, int n_classes, target_coding coding) {
    detail::check_classes(n_classes, "encode_targets");
    detail::check_labels(y, static_cast<Index>(y.size()), n_classes, "encode_targets");
    const double off = coding == target_coding::plus_minus_one ? -1.0 : 0.0;
    MatrixXd t = MatrixXd::Constant(static_cast<Index>(y.size()), n_classes, off);
    for (std::size_t i = 0; i < y.size(); ++i) t(static_cast<Index>(i), y[i]) = 1.0;
    return t;
}

namespace detail {

MatrixXd linear_scores(const MatrixXf& X, const MatrixXd& W, const VectorXd& b, const char* what, Index block) {
    if (W.size() == 0) throw std::invalid_argument(std::string(what) + ": the readout has not been trained (call fit)");
    check_features(X, what);
    if (X.cols() != W.rows())
        throw std::invalid_argument(std::string(what) + ": the readout was trained on " + std::to_string(W.rows()) +
                                    " features, got " + std::to_string(X.cols()));
    MatrixXd out(X.rows(), W.cols());
    for (Index i = 0; i < X.rows(); i += block) {
        const Index n = std::min(block, X.rows() - i);
        out.middleRows(i, n).noalias() = X.middleRows(i, n).cast<double>() * W;
        out.middleRows(i, n).rowwise() += b.transpose();
    }
    return out;
}

}  // namespace detail

namespace {

enum class loss_kind { softmax_ce, squared };

struct gradient_setup {
    loss_kind loss;
    double penalty;  // gradient of the weight penalty = penalty * W (bias not penalised)
    optimizer_options opt;
    int epochs;
    int batch;
    std::uint64_t seed;
    const epoch_callback* on_epoch;
};

struct trained {
    MatrixXd w;
    VectorXd b;
    int best_epoch = 0;
};

// The epoch's visiting order: a Fisher-Yates shuffle drawn from the project's counter-based
// RNG keyed by (seed, "learning/shuffle", epoch), so it depends on nothing else.
void shuffle(std::vector<Index>& order, std::uint64_t seed, int epoch) {
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<Index>(i);
    random_stream rs(seed, stream_id("learning/shuffle"), static_cast<u32>(epoch));
    for (std::size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rs.below(static_cast<u32>(i + 1))]);
}

// Rows order[first, first + n) of X, in double, into out (reusing its storage).
template <class M>
void gather(const M& X, const std::vector<Index>& order, Index first, Index n, MatrixXd& out) {
    out.resize(n, X.cols());
    for (Index j = 0; j < X.cols(); ++j)
        for (Index r = 0; r < n; ++r) out(r, j) = static_cast<double>(X(order[static_cast<std::size_t>(first + r)], j));
}

void check_training_set(const MatrixXf& X, const std::vector<int>& y, int n_classes, const MatrixXf* Xv,
                        const std::vector<int>* yv, const char* what) {
    detail::check_classes(n_classes, what);
    detail::check_features(X, what);
    detail::check_labels(y, X.rows(), n_classes, what);
    if ((Xv == nullptr) != (yv == nullptr))
        throw std::invalid_argument(std::string(what) + ": give both validation features and labels, or neither");
    if (Xv != nullptr) {
        const std::string v = std::string(what) + " (validation set)";
        detail::check_features(*Xv, v.c_str());
        if (Xv->cols() != X.cols())
            throw std::invalid_argument(v + ": " + std::to_string(Xv->cols()) + " features, training set has " +
                                        std::to_string(X.cols()));
        detail::check_labels(*yv, Xv->rows(), n_classes, v.c_str());
    }
}

void check_schedule(int epochs, int batch, const char* what) {
    if (epochs < 1)
        throw std::invalid_argument(std::string(what) + ": epochs must be at least 1, got " + std::to_string(epochs));
    if (batch < 0)
        throw std::invalid_argument(std::string(what) + ": batch must be >= 0 (0 = full batch), got " +
                                    std::to_string(batch));
}

using row_major_features = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// M: MatrixXf (gather straight from the caller's column-major matrix: one cache line per
// element) or row_major_features (a batch's rows are contiguous). Both give the same numbers.
template <class M>
trained gradient_fit(const M& X, const MatrixXd& T, const gradient_setup& s, const MatrixXf* Xv,
                     const std::vector<int>* yv) {
    const Index n_samples = X.rows(), n_features = X.cols(), n_classes = T.cols();
    const Index batch = (s.batch <= 0 || s.batch >= n_samples) ? n_samples : s.batch;
    trained best;
    MatrixXd w = MatrixXd::Zero(n_features, n_classes);
    VectorXd b = VectorXd::Zero(n_classes);
    optimizer opt_w(s.opt), opt_b(s.opt);
    std::vector<Index> order(static_cast<std::size_t>(n_samples));
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<Index>(i);
    double best_acc = -1.0;
    const bool full = batch == n_samples;  // one batch, in the original order: converted once
    MatrixXd xb, tb;
    if (full) {
        gather(X, order, 0, n_samples, xb);
        tb = T;
    }
    for (int epoch = 1; epoch <= s.epochs; ++epoch) {
        if (!full) shuffle(order, s.seed, epoch);
        double loss_sum = 0.0;
        for (Index first = 0; first < n_samples; first += batch) {
            const Index n = std::min(batch, n_samples - first);
            if (!full) {
                gather(X, order, first, n, xb);
                gather(T, order, first, n, tb);
            }
            MatrixXd z = xb * w;
            z.rowwise() += b.transpose();
            const loss_value lv =
                s.loss == loss_kind::softmax_ce ? softmax_cross_entropy(z, tb) : mean_squared_error(z, tb);
            loss_sum += lv.value * static_cast<double>(n);
            MatrixXd gw = xb.transpose() * lv.grad;
            if (s.penalty != 0.0) gw += s.penalty * w;
            const VectorXd gb = lv.grad.colwise().sum().transpose();
            opt_w.step(w, gw);
            opt_b.step(b, gb);
        }
        const double train_loss = loss_sum / static_cast<double>(n_samples);
        if (!std::isfinite(train_loss))
            throw std::runtime_error("readout training diverged (non-finite loss at epoch " + std::to_string(epoch) +
                                     "); lower the learning rate");
        double acc = std::numeric_limits<double>::quiet_NaN();
        if (Xv != nullptr) {
            acc = accuracy(*yv, argmax_rows(detail::linear_scores(*Xv, w, b, "readout validation")));
            if (acc > best_acc) {
                best_acc = acc;
                best.w = w;
                best.b = b;
                best.best_epoch = epoch;
            }
        }
        if (s.on_epoch != nullptr && *s.on_epoch) (*s.on_epoch)(epoch, train_loss, acc);
    }
    if (Xv == nullptr) {
        best.w = std::move(w);
        best.b = std::move(b);
        best.best_epoch = s.epochs;
    }
    return best;
}

trained gradient_fit(const MatrixXf& X, const MatrixXd& T, const gradient_setup& s, bool copy_rows, const MatrixXf* Xv,
                     const std::vector<int>* yv) {
    const bool full_batch = s.batch <= 0 || s.batch >= X.rows();  // converted once anyway
    if (!copy_rows || full_batch) return gradient_fit(X, T, s, Xv, yv);
    // A transposing copy, tile by tile so that both sides stay in cache (a plain assignment
    // reads X with a stride of one column per value and costs as much as an epoch).
    constexpr Index tile = 128;
    row_major_features rows(X.rows(), X.cols());
    for (Index i = 0; i < X.rows(); i += tile)
        for (Index j = 0; j < X.cols(); j += tile) {
            const Index bi = std::min(tile, X.rows() - i), bj = std::min(tile, X.cols() - j);
            rows.block(i, j, bi, bj) = X.block(i, j, bi, bj);
        }
    return gradient_fit(rows, T, s, Xv, yv);
}

}  // namespace

// ---- softmax_readout -------------------------------------------------------------------

void softmax_readout::fit(const MatrixXf& X, const std::vector<int>& y, int n_classes, const softmax_options& o,
                          const MatrixXf* X_valid, const std::vector<int>* y_valid) {
    constexpr const char* what = "softmax_readout::fit";
    check_training_set(X, y, n_classes, X_valid, y_valid, what);
    check_schedule(o.epochs, o.batch, what);
    if (!(o.l2 >= 0.0) || !std::isfinite(o.l2))
        throw std::invalid_argument(std::string(what) + ": l2 must be >= 0 and finite, got " + std::to_string(o.l2));
    MatrixXd t =
        encode_targets(y, n_classes, o.pm_one_targets ? target_coding::plus_minus_one : target_coding::one_hot);
    if (o.pm_one_targets) t = softmax_rows(t);
    const gradient_setup s{loss_kind::softmax_ce, o.l2, o.opt, o.epochs, o.batch, o.seed, &o.on_epoch};
    trained r = gradient_fit(X, t, s, o.copy_rows, X_valid, y_valid);
    w_ = std::move(r.w);
    b_ = std::move(r.b);
    best_epoch_ = r.best_epoch;
}

MatrixXd softmax_readout::scores(const MatrixXf& X) const {
    return detail::linear_scores(X, w_, b_, "softmax_readout");
}
MatrixXd softmax_readout::probabilities(const MatrixXf& X) const {
    return softmax_rows(scores(X));
}
std::vector<int> softmax_readout::predict(const MatrixXf& X) const {
    return argmax_rows(scores(X));
}

// ---- linear_readout --------------------------------------------------------------------

void linear_readout::fit(const MatrixXf& X, const std::vector<int>& y, int n_classes, const linear_options& o,
                         const MatrixXf* X_valid, const std::vector<int>* y_valid) {
    constexpr const char* what = "linear_readout::fit";
    check_training_set(X, y, n_classes, X_valid, y_valid, what);
    check_schedule(o.epochs, o.batch, what);
    if (!(o.lambda >= 0.0) || !std::isfinite(o.lambda))
        throw std::invalid_argument(std::string(what) + ": lambda must be >= 0 and finite, got " +
                                    std::to_string(o.lambda));
    const MatrixXd t = encode_targets(y, n_classes, o.coding);
    // d/dW of (lambda/N)||W||^2
    const double penalty = 2.0 * o.lambda / static_cast<double>(X.rows());
    const gradient_setup s{loss_kind::squared, penalty, o.opt, o.epochs, o.batch, o.seed, &o.on_epoch};
    trained r = gradient_fit(X, t, s, o.copy_rows, X_valid, y_valid);
    w_ = std::move(r.w);
    b_ = std::move(r.b);
    best_epoch_ = r.best_epoch;
}

MatrixXd linear_readout::scores(const MatrixXf& X) const {
    return detail::linear_scores(X, w_, b_, "linear_readout");
}
std::vector<int> linear_readout::predict(const MatrixXf& X) const {
    return argmax_rows(scores(X));
}

}  // namespace engram::learning
