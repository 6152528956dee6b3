#pragma once
// Losses for readout training: value and gradient with respect to the model outputs, both
// averaged over the batch (rows are samples). Formulas: docs/learning.md.
#include <Eigen/Core>

namespace engram::learning {

struct loss_value {
    double value;          // mean over the rows of the batch
    Eigen::MatrixXd grad;  // d value / d outputs, same shape as the outputs
};

// -(1/N) sum_n sum_c t_nc log softmax(z_n)_c. Targets rows are probability vectors (one-hot
// or soft); the gradient (s_n * sum_c t_nc - t_n)/N is exact for any targets.
// Computed with the row maximum subtracted, so large logits do not overflow.
loss_value softmax_cross_entropy(const Eigen::MatrixXd& logits, const Eigen::MatrixXd& targets);

// (1/N) sum_n ||o_n - t_n||^2 (squared error summed over outputs, averaged over samples);
// gradient 2 (o - t) / N.
loss_value mean_squared_error(const Eigen::MatrixXd& outputs, const Eigen::MatrixXd& targets);

// Row-wise softmax, computed stably.
Eigen::MatrixXd softmax_rows(const Eigen::MatrixXd& logits);

}  // namespace engram::learning
