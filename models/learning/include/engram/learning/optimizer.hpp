#pragma once
// First-order optimisers. One optimizer object holds the state of ONE parameter tensor
// (a weight matrix, a bias vector): a model with two tensors owns two optimizers built from
// the same options. The state is sized on the first step(); a later step with a different
// size throws std::invalid_argument. reset() forgets the state (step count, moments).
// Exact update rules: docs/learning.md.
#include <Eigen/Core>
#include <cstdint>
#include <string>

namespace engram::learning {

enum class optimizer_kind { sgd, momentum, adam, adadelta };

struct optimizer_options {
    optimizer_kind kind = optimizer_kind::adadelta;
    double lr = 0.1;
    double momentum = 0.9;                          // momentum: velocity decay
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam
    double rho = 0.95;                              // adadelta: decay of both running averages
    double adadelta_eps = 1e-6;                     // Zeiler's and PyTorch's default; TensorFlow 1's (NALSM's) is 1e-8
};

// "sgd", "momentum", "adam", "adadelta"; anything else throws std::invalid_argument naming them.
optimizer_kind parse_optimizer(const std::string& name);
const char* to_string(optimizer_kind kind);

class optimizer {
public:
    // Throws std::invalid_argument for a non-positive or non-finite lr, momentum outside
    // [0, 1), beta1/beta2/rho outside [0, 1), or a non-positive eps.
    explicit optimizer(optimizer_options o);

    // param <- param - update(grad). param and grad must have the same shape.
    void step(Eigen::MatrixXd& param, const Eigen::MatrixXd& grad);
    void step(Eigen::VectorXd& param, const Eigen::VectorXd& grad);

    void reset();
    const optimizer_options& options() const { return o_; }
    std::int64_t steps() const { return t_; }  // steps taken since construction or reset()

private:
    void step(double* p, const double* g, Eigen::Index rows, Eigen::Index cols);

    optimizer_options o_;
    std::int64_t t_ = 0;
    Eigen::Index rows_ = -1, cols_ = -1;
    Eigen::ArrayXd a_, b_;  // momentum: velocity; adam: m, v; adadelta: E[g^2], E[dx^2]
};

}  // namespace engram::learning
