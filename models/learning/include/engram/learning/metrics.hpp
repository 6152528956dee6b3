#pragma once
// Classification metrics.
#include <Eigen/Core>
#include <vector>

namespace engram::learning {

// Fraction of positions where predicted equals truth. Throws std::invalid_argument for
// different lengths or empty vectors.
double accuracy(const std::vector<int>& truth, const std::vector<int>& predicted);

// counts[t][p] = number of samples of true class t predicted as p. Throws
// std::invalid_argument for different lengths, n_classes < 1, or a label outside [0, n_classes).
Eigen::MatrixXi confusion_matrix(const std::vector<int>& truth, const std::vector<int>& predicted, int n_classes);

// Row-wise argmax of scores (ties go to the lowest class).
std::vector<int> argmax_rows(const Eigen::MatrixXd& scores);

}  // namespace engram::learning
