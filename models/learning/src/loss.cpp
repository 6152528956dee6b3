#include "engram/learning/loss.hpp"

#include <cmath>

#include "check.hpp"

namespace engram::learning {

Eigen::MatrixXd softmax_rows(const Eigen::MatrixXd& logits) {
    Eigen::MatrixXd s = logits.colwise() - logits.rowwise().maxCoeff();
    s = s.array().exp();
    s.array().colwise() /= s.rowwise().sum().array();
    return s;
}

loss_value softmax_cross_entropy(const Eigen::MatrixXd& logits, const Eigen::MatrixXd& targets) {
    detail::check_same_shape(logits, targets, "softmax_cross_entropy");
    const double n = static_cast<double>(logits.rows());
    const Eigen::VectorXd m = logits.rowwise().maxCoeff();
    const Eigen::MatrixXd shifted = logits.colwise() - m;
    const Eigen::VectorXd lse = shifted.array().exp().rowwise().sum().log().matrix();  // log-sum-exp - m
    // log softmax = shifted - lse
    const Eigen::MatrixXd log_s = shifted.colwise() - lse;
    loss_value r;
    r.value = -(targets.array() * log_s.array()).sum() / n;
    const Eigen::VectorXd mass = targets.rowwise().sum();
    r.grad = (log_s.array().exp().colwise() * mass.array() - targets.array()).matrix() / n;
    return r;
}

loss_value mean_squared_error(const Eigen::MatrixXd& outputs, const Eigen::MatrixXd& targets) {
    detail::check_same_shape(outputs, targets, "mean_squared_error");
    const double n = static_cast<double>(outputs.rows());
    loss_value r;
    r.grad = outputs - targets;
    r.value = r.grad.squaredNorm() / n;
    r.grad *= 2.0 / n;
    return r;
}

}  // namespace engram::learning
