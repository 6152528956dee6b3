#include <limits>

#include "engram/core/plasticity.hpp"
#include "engram/plasticity/plasticity.hpp"
#include "registry.hpp"

namespace engram {
namespace {

// NALSM's astrocyte: one scalar A per network, a leaky integrator of the activity
//   A <- A + (dt / tau) * (weight * drive + bias - A)
// where drive is the weighted spike count of the step (liquid spikes minus input spikes
// in NALSM). Then weight, bias and A are each multiplied by `decay` (1: none), which
// anneals plasticity within a trial. reset() restores A = initial and the undecayed
// weight and bias.
class astrocyte final : public modulator {
public:
    astrocyte(const modulator_spec& s, double dt)
        : k_(dt / s.params.at("tau")), w0_(s.params.at("weight")), b0_(s.params.at("bias")), a0_(s.params.at("initial")),
          decay_(s.params.at("decay")) {
        reset();
    }
    double value() const override { return a_; }
    void advance(double drive) override {
        a_ += k_ * (w_ * drive + b_ - a_);
        if (decay_ != 1.0) {
            w_ *= decay_;
            b_ *= decay_;
            a_ *= decay_;
        }
    }
    void reset() override {
        a_ = a0_;
        w_ = w0_;
        b_ = b0_;
    }

private:
    double k_, w0_, b0_, a0_, decay_;
    double a_ = 0, w_ = 0, b_ = 0;
};

}  // namespace

void register_astrocyte(model_registry& r) {
    constexpr double inf = std::numeric_limits<double>::infinity();
    modulator_info m;
    m.name = "astrocyte";
    m.doc = "leaky integrator of weighted spike counts: A += dt/tau (weight * drive + bias - A); NALSM's astrocyte";
    m.params = {
        {"tau", dimension::time, param_kind::scalar, 100.0, 0.0, inf, true, "time constant"},
        {"weight", dimension::dimensionless, param_kind::scalar, 0.015, -inf, inf, false, "gain on the weighted spike count"},
        {"bias", dimension::dimensionless, param_kind::scalar, 0.15, -inf, inf, false, "constant drive (the resting value)"},
        {"initial", dimension::dimensionless, param_kind::scalar, 0.15, -inf, inf, false, "value at the start and after a reset"},
        {"decay", dimension::dimensionless, param_kind::scalar, 1.0, 0.0, 1.0, false, "factor on weight, bias and value every step"},
    };
    m.make = [](const modulator_spec& s, double dt) -> std::unique_ptr<modulator> { return std::make_unique<astrocyte>(s, dt); };
    r.add_modulator(std::move(m));
}

}  // namespace engram
