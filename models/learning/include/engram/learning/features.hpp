#pragma once
// Readout feature normalisation as in NALSM (docs/learning.md, shared/reference/models.md 1.5).
#include <Eigen/Core>

namespace engram::learning {

// Rows are samples, columns neurons, values spike counts (non-negative, finite). Each row is
// divided by its L1 norm (a row of zeros stays zero), then the whole matrix by its largest
// value after that step, which is returned (0 when everything is zero, and nothing is
// divided). Throws std::invalid_argument for an empty matrix, a negative or non-finite value.
float normalize_counts(Eigen::MatrixXf& features);

// The same row normalisation, then division by a given maximum (e.g. the training set's,
// as returned by the overload above). Throws std::invalid_argument unless max > 0 and finite.
void normalize_counts(Eigen::MatrixXf& features, float max);

}  // namespace engram::learning
