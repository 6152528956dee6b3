#pragma once
// Linear readouts over feature matrices (rows = samples, columns = features, float input
// converted to double one batch at a time). All compute scores = X W + 1 b^T with W
// (features x classes) and b (classes), and predict the row-wise argmax.
//
//   softmax_readout  softmax cross-entropy + (l2/2)||W||^2, minibatch gradient training
//                    (NALSM's readout, shared/reference/models.md 1.5)
//   linear_readout   squared error + lambda ||W||^2, minibatch gradient training; with a full
//                    batch it converges to ridge_readout's closed form (same lambda)
//   ridge_readout    the closed-form minimiser of ||X W + 1 b^T - T||^2 + lambda ||W||^2
//
// Errors (std::invalid_argument): empty X, X rows != labels, n_classes < 2, a label outside
// [0, n_classes), a non-finite feature, a prediction input whose column count differs from
// the trained model's, predicting before fit. Formulas: docs/learning.md.
#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <vector>

#include "engram/learning/optimizer.hpp"

namespace engram::learning {

// Called after each epoch (numbered from 1) with the mean training loss over the epoch's
// batches (data term only, weighted by batch size) and the validation accuracy (NaN when no
// validation set was given).
using epoch_callback = std::function<void(int epoch, double train_loss, double valid_acc)>;

struct softmax_options {
    optimizer_options opt;  // Adadelta, lr 0.1 (NALSM)
    double l2 = 5e-10;      // penalty (l2/2)||W||^2 = l2 * tf.nn.l2_loss(W); bias not penalised
    int epochs = 30;
    int batch = 250;  // samples per step; the last batch of an epoch may be smaller
    std::uint64_t seed = 1;
    bool pm_one_targets = false;  // NALSM quirk: target = softmax(+1 at the label, -1 elsewhere)
    // Train from a row-major copy of X (another rows x cols floats), so that a batch's rows
    // are contiguous; false gathers them from X itself, one cache line per value: no extra
    // memory, several times slower on large sets. Same weights either way.
    bool copy_rows = true;
    epoch_callback on_epoch;
};

class softmax_readout {
public:
    // Trains W and b from zero, visiting the samples in a fresh permutation each epoch drawn
    // from `seed` (the same seed gives bit-identical weights). With a validation set, keeps
    // the weights of the epoch with the best validation accuracy (the earliest on ties);
    // without one, those of the last epoch.
    void fit(const Eigen::MatrixXf& X, const std::vector<int>& y, int n_classes, const softmax_options& o,
             const Eigen::MatrixXf* X_valid = nullptr, const std::vector<int>* y_valid = nullptr);
    Eigen::MatrixXd scores(const Eigen::MatrixXf& X) const;         // logits, samples x classes
    Eigen::MatrixXd probabilities(const Eigen::MatrixXf& X) const;  // softmax of the scores
    std::vector<int> predict(const Eigen::MatrixXf& X) const;
    const Eigen::MatrixXd& weights() const { return w_; }
    const Eigen::VectorXd& bias() const { return b_; }
    int best_epoch() const { return best_epoch_; }  // 1-based; 0 before fit

private:
    Eigen::MatrixXd w_;
    Eigen::VectorXd b_;
    int best_epoch_ = 0;
};

enum class target_coding {
    one_hot,         // 1 at the label, 0 elsewhere
    plus_minus_one,  // +1 at the label, -1 elsewhere
};

struct linear_options {
    optimizer_options opt{.kind = optimizer_kind::sgd, .lr = 0.01};
    double lambda = 0.0;  // the ridge lambda: the full-batch objective is ridge's divided by N
    int epochs = 100;
    int batch = 250;  // 0 or >= samples: full batch (plain gradient descent)
    std::uint64_t seed = 1;
    target_coding coding = target_coding::one_hot;
    bool copy_rows = true;  // as in softmax_options
    epoch_callback on_epoch;
};

// Least-squares readout trained by gradient: per batch B of a set of N samples the loss is
// mean_squared_error(X_B W + 1 b^T, T_B) + (lambda/N)||W||^2.
class linear_readout {
public:
    void fit(const Eigen::MatrixXf& X, const std::vector<int>& y, int n_classes, const linear_options& o,
             const Eigen::MatrixXf* X_valid = nullptr, const std::vector<int>* y_valid = nullptr);
    Eigen::MatrixXd scores(const Eigen::MatrixXf& X) const;
    std::vector<int> predict(const Eigen::MatrixXf& X) const;
    const Eigen::MatrixXd& weights() const { return w_; }
    const Eigen::VectorXd& bias() const { return b_; }
    int best_epoch() const { return best_epoch_; }

private:
    Eigen::MatrixXd w_;
    Eigen::VectorXd b_;
    int best_epoch_ = 0;
};

enum class ridge_form {
    automatic,  // kernel when samples < features and lambda > 0, otherwise primal
    primal,     // (features x features) normal equations
    kernel,     // (samples x samples) Gram system; needs lambda > 0
};

struct ridge_options {
    target_coding coding = target_coding::one_hot;
    ridge_form form = ridge_form::automatic;
    Eigen::Index block = 4096;  // rows converted to double at a time
};

// [W; b] = argmin ||X W + 1 b^T - T||^2 + lambda ||W||^2 (bias not penalised). Solved on
// centred data: W = (Xc^T Xc + lambda I)^-1 Xc^T T (primal) or Xc^T (Xc Xc^T + lambda I)^-1 Tc
// (kernel), b = mean(T) - W^T mean(X), with Eigen's LDLT. Throws std::invalid_argument for
// lambda < 0 or non-finite, lambda = 0 with the kernel form, and if the system is singular
// (lambda = 0 with collinear features).
class ridge_readout {
public:
    void fit(const Eigen::MatrixXf& X, const std::vector<int>& y, int n_classes, double lambda,
             const ridge_options& o = {});
    std::vector<int> predict(const Eigen::MatrixXf& X) const;
    Eigen::MatrixXd scores(const Eigen::MatrixXf& X) const;
    const Eigen::MatrixXd& weights() const { return w_; }
    const Eigen::VectorXd& bias() const { return b_; }
    ridge_form form_used() const { return form_used_; }

private:
    Eigen::MatrixXd w_;
    Eigen::VectorXd b_;
    ridge_form form_used_ = ridge_form::automatic;
};

// Target matrix (samples x classes) for labels y under a coding.
Eigen::MatrixXd encode_targets(const std::vector<int>& y, int n_classes, target_coding coding);

}  // namespace engram::learning
