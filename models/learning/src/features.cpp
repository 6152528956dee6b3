#include "engram/learning/features.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "check.hpp"

namespace engram::learning {

namespace {
void row_normalize(Eigen::MatrixXf& f) {
    detail::check_features(f, "normalize_counts");
    if ((f.array() < 0.0f).any()) throw std::invalid_argument("normalize_counts: negative spike count");
    // Sums in double, column by column (the matrix is column-major).
    Eigen::ArrayXd l1 = Eigen::ArrayXd::Zero(f.rows());
    for (Eigen::Index j = 0; j < f.cols(); ++j) l1 += f.col(j).cast<double>().array();
    l1 = (l1 > 0.0).select(l1, 1.0);  // a silent sample stays zero
    for (Eigen::Index j = 0; j < f.cols(); ++j)
        f.col(j) = (f.col(j).cast<double>().array() / l1).cast<float>().matrix();
}
}  // namespace

float normalize_counts(Eigen::MatrixXf& features) {
    row_normalize(features);
    const float m = features.maxCoeff();
    if (m > 0.0f) features /= m;
    return m;
}

void normalize_counts(Eigen::MatrixXf& features, float max) {
    if (!(max > 0.0f) || !std::isfinite(max))
        throw std::invalid_argument("normalize_counts: the maximum must be positive and finite, got " +
                                    std::to_string(max));
    row_normalize(features);
    features /= max;
}

}  // namespace engram::learning
