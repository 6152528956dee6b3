#include "engram/lsm/branching.hpp"

#include <cmath>
#include <limits>

namespace engram::lsm {

double branching_factor(const std::vector<std::vector<std::uint32_t>>& raster, const adjacency& g, std::uint32_t window,
                        std::uint32_t buffer) {
    const std::size_t T = raster.size(), N = g.pre.size();
    // spike counts per step per neuron as prefix sums would cost N*T; instead mark spikes
    // in a bitmap row per step and count neighbours directly.
    std::vector<std::vector<char>> on(T, std::vector<char>(N, 0));
    for (std::size_t t = 0; t < T; ++t)
        for (auto n : raster[t]) on[t][n] = 1;
    std::vector<double> sum(N, 0.0);
    std::vector<std::uint32_t> cnt(N, 0);
    for (std::size_t t = buffer; t + buffer < T; ++t) {
        for (auto n : raster[t]) {
            double anc = 0, desc = 0;
            const std::size_t a0 = t >= window ? t - window : 0;
            for (auto p : g.pre[n])
                for (std::size_t u = a0; u < t; ++u) anc += on[u][p];
            const std::size_t d1 = std::min(T, t + 1 + window);
            for (auto q : g.post[n])
                for (std::size_t u = t + 1; u < d1; ++u) desc += on[u][q];
            sum[n] += desc / std::max(anc, 1.0);
            ++cnt[n];
        }
    }
    double total = 0;
    std::size_t neurons = 0;
    for (std::size_t n = 0; n < N; ++n)
        if (cnt[n]) {
            total += sum[n] / cnt[n];
            ++neurons;
        }
    return neurons ? total / double(neurons) : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace engram::lsm
