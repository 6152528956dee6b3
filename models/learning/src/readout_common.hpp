#pragma once
// Pieces shared by the readouts (private).
#include <Eigen/Core>
#include <vector>

namespace engram::learning::detail {

// X W + 1 b^T, converting X to double `block` rows at a time. Throws std::invalid_argument
// when the model is untrained or X has the wrong number of columns or non-finite values.
Eigen::MatrixXd linear_scores(const Eigen::MatrixXf& X, const Eigen::MatrixXd& W, const Eigen::VectorXd& b,
                              const char* what, Eigen::Index block = 1024);

}  // namespace engram::learning::detail
