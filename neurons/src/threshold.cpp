// A memoryless threshold unit (NIR's Threshold node): in each step it spikes when the
// input it receives in that step exceeds `threshold`. Nothing carries over from one step
// to the next, so it is a comparator, not a neuron with a membrane.
#include <limits>

#include "engram/neurons/models.hpp"

namespace engram {
namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

// Step n: x = I_e + injected current + the weights delivered into slot n; spike if
// x > threshold (strictly, as NIR's Heaviside step H(x - threshold) with H(0) = 0).
struct threshold_unit final : population_model {
    std::vector<float> x;
    float theta, bias;
    threshold_unit(const population_spec& s, double)
        : x(s.size, 0.0f),
          theta(static_cast<float>(s.params.at("threshold").values.at(0))),
          bias(static_cast<float>(s.params.at("I_e").values.at(0))) {}
    float* state(std::size_t) override { return x.data(); }
    void update(const step_context& ctx, std::uint32_t b, std::uint32_t e, std::vector<std::uint32_t>& spikes) override {
        float* in_e = ctx.input[0];
        float* in_i = ctx.input[1];
        for (std::uint32_t i = b; i < e; ++i) {
            x[i] = bias + (ctx.i_stim ? ctx.i_stim[i] : 0.0f) + (in_e[i] + in_i[i]);
            in_e[i] = 0.0f;
            in_i[i] = 0.0f;
            if (x[i] > theta) spikes.push_back(i);
        }
    }
};

}  // namespace

void register_threshold_model(model_registry& r) {
    model_info m;
    m.name = "threshold";
    m.doc = "Memoryless threshold unit (NIR Threshold): spikes in every step whose input (weights delivered that step + I_e + injected current) exceeds 'threshold'";
    m.params = {{"threshold", dimension::current, param_kind::scalar, 0.0, -inf, inf, false, "the unit spikes when the step's input is above this"},
                {"I_e", dimension::current, param_kind::scalar, 0.0, -inf, inf, false, "constant input added in every step"}};
    m.state = {{"x", dimension::current, "", 0.0, "input received in the last step"}};
    m.receptors = {{"ex", dimension::current, false, "adds the weight to this step's input"},
                   {"in", dimension::current, false, "adds the weight to this step's input (give inhibitory weights negative)"}};
    m.accepts_current = true;
    m.make = [](const population_spec& s, double dt) { return std::make_unique<threshold_unit>(s, dt); };
    r.add(std::move(m));
}

}  // namespace engram
