#include <Eigen/Cholesky>
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "check.hpp"
#include "engram/learning/metrics.hpp"
#include "engram/learning/readout.hpp"
#include "readout_common.hpp"

namespace engram::learning {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::MatrixXf;
using Eigen::VectorXd;

namespace {

// Solves the symmetric positive (semi)definite system A x = B, A given by its lower triangle.
MatrixXd solve_spd(const MatrixXd& A, const MatrixXd& B, const char* what) {
    const Eigen::LDLT<MatrixXd, Eigen::Lower> ldlt(A);
    const VectorXd d = ldlt.vectorD();
    const double dmax = d.cwiseAbs().maxCoeff();
    if (ldlt.info() != Eigen::Success || !(d.minCoeff() > 1e-13 * dmax))
        throw std::invalid_argument(
            std::string(what) + ": singular system (lambda = 0 with constant or collinear features?); use lambda > 0");
    return ldlt.solve(B);
}

}  // namespace

void ridge_readout::fit(const MatrixXf& X, const std::vector<int>& y, int n_classes, double lambda,
                        const ridge_options& o) {
    constexpr const char* what = "ridge_readout::fit";
    detail::check_classes(n_classes, what);
    detail::check_features(X, what);
    detail::check_labels(y, X.rows(), n_classes, what);
    if (!(lambda >= 0.0) || !std::isfinite(lambda))
        throw std::invalid_argument(std::string(what) + ": lambda must be >= 0 and finite, got " +
                                    std::to_string(lambda));
    if (o.block < 1) throw std::invalid_argument(std::string(what) + ": block must be positive");
    const Index n = X.rows(), f = X.cols();
    ridge_form form = o.form;
    if (form == ridge_form::automatic) form = (n < f && lambda > 0.0) ? ridge_form::kernel : ridge_form::primal;
    if (form == ridge_form::kernel && !(lambda > 0.0))
        throw std::invalid_argument(std::string(what) + ": the kernel form needs lambda > 0");

    const MatrixXd t = encode_targets(y, n_classes, o.coding);
    const VectorXd t_mean = t.colwise().mean().transpose();
    VectorXd x_mean = VectorXd::Zero(f);
    for (Index i = 0; i < n; i += o.block) {
        const Index m = std::min(o.block, n - i);
        x_mean += X.middleRows(i, m).cast<double>().colwise().sum().transpose();
    }
    x_mean /= static_cast<double>(n);

    // Centring removes the unpenalised bias from the system: with Xc = X - 1 mean(X)^T,
    // W = argmin ||Xc W - Tc||^2 + lambda ||W||^2 and b = mean(T) - W^T mean(X).
    // Xc^T Tc = Xc^T T because the columns of Xc sum to zero.
    if (form == ridge_form::primal) {
        MatrixXd g = MatrixXd::Zero(f, f);
        MatrixXd xt = MatrixXd::Zero(f, n_classes);
        for (Index i = 0; i < n; i += o.block) {
            const Index m = std::min(o.block, n - i);
            const MatrixXd xb = X.middleRows(i, m).cast<double>().rowwise() - x_mean.transpose();
            g.selfadjointView<Eigen::Lower>().rankUpdate(xb.transpose());
            xt.noalias() += xb.transpose() * t.middleRows(i, m);
        }
        g.diagonal().array() += lambda;
        w_ = solve_spd(g, xt, what);
    } else {
        const MatrixXd xc = X.cast<double>().rowwise() - x_mean.transpose();
        MatrixXd k = MatrixXd::Zero(n, n);
        k.selfadjointView<Eigen::Lower>().rankUpdate(xc);
        k.diagonal().array() += lambda;
        const MatrixXd alpha = solve_spd(k, t.rowwise() - t_mean.transpose(), what);
        w_ = xc.transpose() * alpha;
    }
    b_ = t_mean - w_.transpose() * x_mean;
    form_used_ = form;
}

MatrixXd ridge_readout::scores(const MatrixXf& X) const {
    return detail::linear_scores(X, w_, b_, "ridge_readout");
}
std::vector<int> ridge_readout::predict(const MatrixXf& X) const {
    return argmax_rows(scores(X));
}

}  // namespace engram::learning
