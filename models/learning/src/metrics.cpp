#include "engram/learning/metrics.hpp"

#include <stdexcept>
#include <string>

namespace engram::learning {

namespace {
void check_pair(const std::vector<int>& truth, const std::vector<int>& predicted, const char* what) {
    if (truth.size() != predicted.size())
        throw std::invalid_argument(std::string(what) + ": " + std::to_string(truth.size()) + " true labels but " +
                                    std::to_string(predicted.size()) + " predictions");
    if (truth.empty()) throw std::invalid_argument(std::string(what) + ": no samples");
}
}  // namespace

double accuracy(const std::vector<int>& truth, const std::vector<int>& predicted) {
    check_pair(truth, predicted, "accuracy");
    std::size_t hit = 0;
    for (std::size_t i = 0; i < truth.size(); ++i) hit += truth[i] == predicted[i];
    return static_cast<double>(hit) / static_cast<double>(truth.size());
}

Eigen::MatrixXi confusion_matrix(const std::vector<int>& truth, const std::vector<int>& predicted, int n_classes) {
    check_pair(truth, predicted, "confusion_matrix");
    if (n_classes < 1)
        throw std::invalid_argument("confusion_matrix: n_classes must be positive, got " + std::to_string(n_classes));
    Eigen::MatrixXi c = Eigen::MatrixXi::Zero(n_classes, n_classes);
    for (std::size_t i = 0; i < truth.size(); ++i) {
        for (int v : {truth[i], predicted[i]})
            if (v < 0 || v >= n_classes)
                throw std::invalid_argument("confusion_matrix: label " + std::to_string(v) + " of sample " +
                                            std::to_string(i) + " outside [0, " + std::to_string(n_classes) + ")");
        ++c(truth[i], predicted[i]);
    }
    return c;
}

std::vector<int> argmax_rows(const Eigen::MatrixXd& scores) {
    std::vector<int> out(static_cast<std::size_t>(scores.rows()));
    for (Eigen::Index i = 0; i < scores.rows(); ++i) {
        Eigen::Index best = 0;
        for (Eigen::Index c = 1; c < scores.cols(); ++c)
            if (scores(i, c) > scores(i, best)) best = c;
        out[static_cast<std::size_t>(i)] = static_cast<int>(best);
    }
    return out;
}

}  // namespace engram::learning
