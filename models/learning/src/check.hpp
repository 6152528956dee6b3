#pragma once
// Input checks shared by the learning sources; all throw std::invalid_argument.
#include <Eigen/Core>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace engram::learning::detail {

inline std::string shape(Eigen::Index r, Eigen::Index c) {
    return std::to_string(r) + " x " + std::to_string(c);
}

// Non-empty, all finite.
inline void check_features(const Eigen::MatrixXf& X, const char* what) {
    if (X.rows() == 0 || X.cols() == 0)
        throw std::invalid_argument(std::string(what) + ": empty feature matrix (" + shape(X.rows(), X.cols()) + ")");
    if (!X.allFinite()) {
        for (Eigen::Index j = 0; j < X.cols(); ++j)
            for (Eigen::Index i = 0; i < X.rows(); ++i)
                if (!std::isfinite(X(i, j)))
                    throw std::invalid_argument(std::string(what) + ": non-finite feature at sample " +
                                                std::to_string(i) + ", feature " + std::to_string(j));
    }
}

inline void check_labels(const std::vector<int>& y, Eigen::Index rows, int n_classes, const char* what) {
    if (static_cast<Eigen::Index>(y.size()) != rows)
        throw std::invalid_argument(std::string(what) + ": " + std::to_string(rows) + " samples but " +
                                    std::to_string(y.size()) + " labels");
    for (std::size_t i = 0; i < y.size(); ++i)
        if (y[i] < 0 || y[i] >= n_classes)
            throw std::invalid_argument(std::string(what) + ": label " + std::to_string(y[i]) + " of sample " +
                                        std::to_string(i) + " outside [0, " + std::to_string(n_classes) + ")");
}

inline void check_classes(int n_classes, const char* what) {
    if (n_classes < 2)
        throw std::invalid_argument(std::string(what) + ": n_classes must be at least 2, got " +
                                    std::to_string(n_classes));
}

inline void check_same_shape(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b, const char* what) {
    if (a.rows() != b.rows() || a.cols() != b.cols())
        throw std::invalid_argument(std::string(what) + ": outputs are " + shape(a.rows(), a.cols()) +
                                    " but targets are " + shape(b.rows(), b.cols()));
    if (a.rows() == 0 || a.cols() == 0) throw std::invalid_argument(std::string(what) + ": empty batch");
}

}  // namespace engram::learning::detail
