#include "engram/learning/optimizer.hpp"

#include <cmath>
#include <stdexcept>

#include "check.hpp"

namespace engram::learning {

namespace {
struct named_kind {
    const char* name;
    optimizer_kind kind;
};
constexpr named_kind kinds[] = {{"sgd", optimizer_kind::sgd},
                                {"momentum", optimizer_kind::momentum},
                                {"adam", optimizer_kind::adam},
                                {"adadelta", optimizer_kind::adadelta}};

void require(bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("optimizer: " + what);
}
bool unit_interval(double x) {
    return x >= 0.0 && x < 1.0;
}
}  // namespace

optimizer_kind parse_optimizer(const std::string& name) {
    for (const auto& k : kinds)
        if (name == k.name) return k.kind;
    throw std::invalid_argument("unknown optimizer '" + name + "' (valid: sgd, momentum, adam, adadelta)");
}

const char* to_string(optimizer_kind kind) {
    for (const auto& k : kinds)
        if (k.kind == kind) return k.name;
    return "?";
}

optimizer::optimizer(optimizer_options o) : o_(o) {
    require(std::isfinite(o_.lr) && o_.lr > 0.0, "lr must be positive and finite, got " + std::to_string(o_.lr));
    switch (o_.kind) {
        case optimizer_kind::sgd:
            break;
        case optimizer_kind::momentum:
            require(unit_interval(o_.momentum), "momentum must be in [0, 1), got " + std::to_string(o_.momentum));
            break;
        case optimizer_kind::adam:
            require(unit_interval(o_.beta1), "beta1 must be in [0, 1), got " + std::to_string(o_.beta1));
            require(unit_interval(o_.beta2), "beta2 must be in [0, 1), got " + std::to_string(o_.beta2));
            require(std::isfinite(o_.eps) && o_.eps > 0.0, "eps must be positive, got " + std::to_string(o_.eps));
            break;
        case optimizer_kind::adadelta:
            require(unit_interval(o_.rho), "rho must be in [0, 1), got " + std::to_string(o_.rho));
            require(std::isfinite(o_.adadelta_eps) && o_.adadelta_eps > 0.0,
                    "adadelta_eps must be positive, got " + std::to_string(o_.adadelta_eps));
            break;
        default:
            throw std::invalid_argument("optimizer: unknown kind");
    }
}

void optimizer::reset() {
    t_ = 0;
    rows_ = cols_ = -1;
    a_.resize(0);
    b_.resize(0);
}

void optimizer::step(Eigen::MatrixXd& param, const Eigen::MatrixXd& grad) {
    if (param.rows() != grad.rows() || param.cols() != grad.cols())
        throw std::invalid_argument("optimizer::step: parameter is " + detail::shape(param.rows(), param.cols()) +
                                    " but gradient is " + detail::shape(grad.rows(), grad.cols()));
    step(param.data(), grad.data(), param.rows(), param.cols());
}

void optimizer::step(Eigen::VectorXd& param, const Eigen::VectorXd& grad) {
    if (param.size() != grad.size())
        throw std::invalid_argument("optimizer::step: parameter has " + std::to_string(param.size()) +
                                    " elements but gradient has " + std::to_string(grad.size()));
    step(param.data(), grad.data(), param.size(), 1);
}

void optimizer::step(double* pp, const double* gp, Eigen::Index rows, Eigen::Index cols) {
    if (rows_ < 0) {
        rows_ = rows;
        cols_ = cols;
        const Eigen::Index n = rows * cols;
        if (o_.kind != optimizer_kind::sgd) a_ = Eigen::ArrayXd::Zero(n);
        if (o_.kind == optimizer_kind::adam || o_.kind == optimizer_kind::adadelta) b_ = Eigen::ArrayXd::Zero(n);
    } else if (rows != rows_ || cols != cols_) {
        throw std::invalid_argument("optimizer::step: this optimizer holds the state of a " +
                                    detail::shape(rows_, cols_) + " parameter, called with " +
                                    detail::shape(rows, cols) + " (use one optimizer per parameter tensor)");
    }
    Eigen::Map<Eigen::ArrayXd> p(pp, rows * cols);
    const Eigen::Map<const Eigen::ArrayXd> g(gp, rows * cols);
    ++t_;
    switch (o_.kind) {
        case optimizer_kind::sgd:
            p -= o_.lr * g;
            break;
        case optimizer_kind::momentum:
            a_ = o_.momentum * a_ + g;  // v <- mu v + g
            p -= o_.lr * a_;
            break;
        case optimizer_kind::adam: {
            a_ = o_.beta1 * a_ + (1.0 - o_.beta1) * g;           // m
            b_ = o_.beta2 * b_ + (1.0 - o_.beta2) * g.square();  // v
            const double c1 = 1.0 - std::pow(o_.beta1, static_cast<double>(t_));
            const double c2 = 1.0 - std::pow(o_.beta2, static_cast<double>(t_));
            p -= o_.lr * (a_ / c1) / ((b_ / c2).sqrt() + o_.eps);
            break;
        }
        case optimizer_kind::adadelta: {
            const double e = o_.adadelta_eps;
            a_ = o_.rho * a_ + (1.0 - o_.rho) * g.square();                     // E[g^2]
            const Eigen::ArrayXd dx = ((b_ + e).sqrt() / (a_ + e).sqrt()) * g;  // uses E[dx^2] of the last step
            b_ = o_.rho * b_ + (1.0 - o_.rho) * dx.square();                    // E[dx^2]
            p -= o_.lr * dx;
            break;
        }
    }
}

}  // namespace engram::learning
