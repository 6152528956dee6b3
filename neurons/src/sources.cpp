// Spike sources: populations that emit spikes and take no input.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "engram/core/rng.hpp"
#include "engram/neurons/models.hpp"
#include "engram/plasticity/plasticity.hpp"

namespace engram {
namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

// Poisson process per neuron: a spike in step n with probability rate*dt (the draw is
// uniform_at(seed, stream of the population, neuron, step)).
struct poisson_source final : population_model {
    std::vector<float> p;  // spike probability per step
    std::uint64_t first, last;
    u32 stream;
    poisson_source(const population_spec& s, double dt) : p(s.size), stream(stream_id("poisson/" + s.name)) {
        const auto& rate = s.params.at("rate");
        for (std::uint32_t i = 0; i < s.size; ++i) p[i] = static_cast<float>(rate.at(i) * dt * 1e-3);
        first = static_cast<std::uint64_t>(std::llround(s.params.at("start").values[0] / dt)) + 1;
        const double stop = s.params.at("stop").values[0];
        last = std::isinf(stop) ? ~std::uint64_t(0) : static_cast<std::uint64_t>(std::llround(stop / dt));
    }
    float* state(std::size_t) override { return nullptr; }
    // The draw of neuron i is uniform_at(seed, stream, i, step): word i mod 4 of the
    // Philox block (stream, i / 4, step). From a multiple of 4, 64 neurons' blocks come
    // from one call of philox4x32_x16_groups (the same words); the ends one at a time.
    void update(const step_context& ctx, std::uint32_t b, std::uint32_t e, std::vector<std::uint32_t>& spikes) override {
        if (ctx.step < first || ctx.step > last) return;
        const std::array<u32, 2> key{static_cast<u32>(ctx.seed), static_cast<u32>(ctx.seed >> 32) ^ stream};
        const auto c2 = static_cast<u32>(ctx.step), c3 = static_cast<u32>(ctx.step >> 32);
        auto one = [&](std::uint32_t i) {
            if (uniform_at(ctx.seed, stream, i, ctx.step) < p[i]) spikes.push_back(i);
        };
        std::uint32_t i = b;
        for (; i < e && (i & 3); ++i) one(i);
        alignas(32) u32 x[64];
        for (; e - i >= 64; i += 64) {
            philox4x32_x16_groups(stream, i >> 2, c2, c3, key, x);
            for (std::uint32_t j = 0; j < 64; ++j)
                if (to_unit(x[j]) < p[i + j]) spikes.push_back(i + j);
        }
        for (; i < e; ++i) one(i);
    }
};

// Given spike times: a spike at time t is emitted in step round(t/dt) (time step*dt).
struct spike_array_source final : population_model {
    std::vector<std::vector<std::uint64_t>> trains;
    std::vector<std::uint32_t> cursor;
    spike_array_source(const population_spec& s, double dt) : cursor(s.size, 0) {
        for (const auto& tr : s.params.at("spike_times").trains) {
            std::vector<std::uint64_t> steps;
            for (double t : tr) steps.push_back(std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::llround(t / dt))));
            std::sort(steps.begin(), steps.end());
            trains.push_back(std::move(steps));
        }
    }
    float* state(std::size_t) override { return nullptr; }
    void update(const step_context& ctx, std::uint32_t b, std::uint32_t e, std::vector<std::uint32_t>& spikes) override {
        if (trains.empty()) return;
        for (std::uint32_t i = b; i < e; ++i) {
            const auto& tr = trains.size() == 1 ? trains[0] : trains[i];
            auto& c = cursor[i];
            while (c < tr.size() && tr[c] < ctx.step) ++c;
            if (c < tr.size() && tr[c] == ctx.step) { spikes.push_back(i); ++c; }
        }
    }
};

}  // namespace

void register_source_models(model_registry& r) {
    {
        model_info m;
        m.name = "poisson";
        m.doc = "Poisson spike source: each neuron spikes independently at 'rate' (one value, or one per neuron)";
        m.params = {{"rate", dimension::frequency, param_kind::per_neuron, std::nullopt, 0.0, inf, false, "firing rate"},
                    {"start", dimension::time, param_kind::scalar, 0.0, 0.0, inf, false, "time the source starts"},
                    {"stop", dimension::time, param_kind::scalar, inf, 0.0, inf, false, "time the source stops"}};
        m.is_source = true;
        m.make = [](const population_spec& s, double dt) { return std::make_unique<poisson_source>(s, dt); };
        m.check = [](const population_spec& s, double) -> std::string {
            return s.params.at("stop").values[0] < s.params.at("start").values[0] ? "stop is before start" : "";
        };
        r.add(std::move(m));
    }
    {
        model_info m;
        m.name = "spike_array";
        m.doc = "Spikes at given times: one list for every neuron, or a list of lists (one per neuron)";
        m.params = {{"spike_times", dimension::time, param_kind::spike_trains, std::nullopt, 0.0, inf, false, "spike times (none given: the source stays silent)"}};
        m.is_source = true;
        m.make = [](const population_spec& s, double dt) { return std::make_unique<spike_array_source>(s, dt); };
        r.add(std::move(m));
    }
}

void register_builtin_models(model_registry& r) {
    register_lif_models(r);
    register_lif_discrete(r);
    register_source_models(r);
    register_threshold_model(r);
    register_plasticity(r);
}

const model_registry& builtin_models() {
    static const model_registry reg = [] {
        model_registry r;
        register_builtin_models(r);
        return r;
    }();
    return reg;
}

}  // namespace engram
