// Readout training time (models/learning). Not a test: prints seconds.
//
//   cmake -S . -B build -DENGRAM_BUILD_LEARNING_BENCH=ON && ninja -C build readout_bench
//   build/models/learning/readout_bench [samples=10000] [features=1000] [classes=10] [epochs=5] [optimizer=adadelta] [batch=250] [ridge=1] [copy_rows=1]
//
// Features are random spike counts (uniform integers 0..20) normalised as in NALSM; labels
// are the argmax of a fixed random projection of the features, so the task is learnable
// and the accuracies printed mean something.
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "engram/learning/learning.hpp"

using namespace engram::learning;

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main(int argc, char** argv) {
    const int n = argc > 1 ? std::atoi(argv[1]) : 10000;
    const int f = argc > 2 ? std::atoi(argv[2]) : 1000;
    const int k = argc > 3 ? std::atoi(argv[3]) : 10;
    const int epochs = argc > 4 ? std::atoi(argv[4]) : 5;
    const std::string opt = argc > 5 ? argv[5] : "adadelta";
    const int batch = argc > 6 ? std::atoi(argv[6]) : 250;
    const bool ridge = argc > 7 ? std::atoi(argv[7]) != 0 : true;
    const bool copy_rows = argc > 8 ? std::atoi(argv[8]) != 0 : true;

    std::mt19937_64 gen(1);
    std::uniform_int_distribution<int> counts(0, 20);
    Eigen::MatrixXf X(n, f);
    for (Eigen::Index j = 0; j < X.cols(); ++j)
        for (Eigen::Index i = 0; i < X.rows(); ++i) X(i, j) = static_cast<float>(counts(gen));
    auto t0 = std::chrono::steady_clock::now();
    const float max = normalize_counts(X);
    std::printf("normalize_counts %d x %d: %.3f s (max %.3g)\n", n, f, seconds_since(t0), static_cast<double>(max));

    std::normal_distribution<double> normal;
    Eigen::MatrixXd proj(f, k);
    for (Eigen::Index i = 0; i < proj.size(); ++i) proj(i) = normal(gen);
    const Eigen::MatrixXd z = (X * proj.cast<float>()).cast<double>();
    const std::vector<int> y = argmax_rows(z.rowwise() - z.colwise().mean());

    softmax_options o;
    o.opt.kind = parse_optimizer(opt);
    if (o.opt.kind == optimizer_kind::adam) o.opt.lr = 1e-3;
    o.epochs = epochs;
    o.batch = batch;
    o.copy_rows = copy_rows;
    o.on_epoch = [](int e, double loss, double) { std::printf("  epoch %d: train loss %.5f\n", e, loss); };
    softmax_readout r;
    t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    r.fit(X, y, k, o);
    const double t_fit = seconds_since(t0);
    const double cpu_fit = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    std::printf("softmax_readout %s, %d x %d, %d classes, %d epochs, batch %d, copy_rows %d: %.3f s wall, %.3f s CPU (%.3f s/epoch), "
                "train accuracy %.4f\n",
                opt.c_str(), n, f, k, epochs, batch, copy_rows ? 1 : 0, t_fit, cpu_fit, t_fit / epochs, accuracy(y, r.predict(X)));

    if (!ridge) return 0;
    ridge_readout rr;
    t0 = std::chrono::steady_clock::now();
    rr.fit(X, y, k, 1e-3);
    std::printf("ridge_readout (%s form), lambda 1e-3: %.3f s, train accuracy %.4f\n",
                rr.form_used() == ridge_form::kernel ? "kernel" : "primal", seconds_since(t0), accuracy(y, rr.predict(X)));
    return 0;
}
