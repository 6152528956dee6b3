#include "engram/datasets/saccade.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <unordered_set>

#include "engram/core/rng.hpp"

namespace engram {
namespace {

void require(bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(std::string("image_to_events: ") + what);
}

void check(const saccade_params& p) {
    require(p.sensor_width > 0 && p.sensor_height > 0 && p.sensor_width <= 65535 && p.sensor_height <= 65535,
            "sensor size must be 1..65535 pixels");
    require(p.saccade_ms > 0.0 && std::isfinite(p.saccade_ms), "saccade_ms must be finite and > 0");
    require(p.amplitude_px >= 0.0 && std::isfinite(p.amplitude_px), "amplitude_px must be finite and >= 0");
    require(p.threshold > 0.0 && std::isfinite(p.threshold), "threshold must be finite and > 0");
    require(p.threshold_sigma >= 0.0 && std::isfinite(p.threshold_sigma), "threshold_sigma must be >= 0");
    require(p.refractory_us >= 0.0 && std::isfinite(p.refractory_us), "refractory_us must be finite and >= 0");
    require(p.log_eps > 0.0 && std::isfinite(p.log_eps), "log_eps must be finite and > 0");
    require(p.dt_us > 0.0 && std::isfinite(p.dt_us), "dt_us must be finite and > 0");
    require(p.blur_px >= 0.0 && p.blur_px <= 10.0, "blur_px must be in [0, 10]");
    require(p.noise_hz >= 0.0 && std::isfinite(p.noise_hz), "noise_hz must be finite and >= 0");
}

}  // namespace

std::pair<double, double> saccade_displacement(double t_us, const saccade_params& p) {
    const double a = p.amplitude_px;
    const double vx[4] = {0.0, a / 2, -a / 2, 0.0};
    const double vy[4] = {0.0, a, a, 0.0};
    const double s = std::clamp(t_us / (p.saccade_ms * 1000.0), 0.0, 3.0);  // in saccades
    const int k = std::min(static_cast<int>(s), 2);
    const double f = s - k;
    return {vx[k] + f * (vx[k + 1] - vx[k]), vy[k] + f * (vy[k + 1] - vy[k])};
}

std::vector<dvs_event> image_to_events(std::span<const std::uint8_t> image, int width, int height,
                                       const saccade_params& p) {
    check(p);
    require(width > 0 && height > 0, "image size must be positive");
    require(image.size() == static_cast<std::size_t>(width) * static_cast<std::size_t>(height),
            "image has the wrong number of pixels for its size");
    require(width <= p.sensor_width && height <= p.sensor_height, "image is larger than the sensor");

    const int W = p.sensor_width, H = p.sensor_height;
    const std::size_t n_pix = static_cast<std::size_t>(W) * static_cast<std::size_t>(H);
    const double x_rest = (W - width) / 2.0, y_rest = (H - height) / 2.0 - p.amplitude_px / 2.0;
    const double t_end = 3.0 * p.saccade_ms * 1000.0;

    // The image as intensities in [0, 1], padded by `pad` pixels on each side so that a
    // blur can spread beyond its edges, then blurred (separable Gaussian).
    const int pad = p.blur_px > 0.0 ? static_cast<int>(std::ceil(3.0 * p.blur_px)) : 0;
    const int pw = width + 2 * pad, ph = height + 2 * pad;
    std::vector<double> img(static_cast<std::size_t>(pw) * static_cast<std::size_t>(ph), 0.0);
    const auto at = [pw](int x, int y) { return static_cast<std::size_t>(y) * static_cast<std::size_t>(pw) + static_cast<std::size_t>(x); };
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
            img[at(x + pad, y + pad)] =
                image[static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)] / 255.0;
    if (pad > 0) {
        std::vector<double> kernel(static_cast<std::size_t>(2 * pad + 1));
        double sum = 0.0;
        for (int k = -pad; k <= pad; ++k)
            sum += kernel[static_cast<std::size_t>(k + pad)] = std::exp(-0.5 * k * k / (p.blur_px * p.blur_px));
        for (auto& w : kernel) w /= sum;
        std::vector<double> tmp(img.size(), 0.0);
        for (int y = 0; y < ph; ++y)
            for (int x = 0; x < pw; ++x)
                for (int k = -pad; k <= pad; ++k)
                    if (x + k >= 0 && x + k < pw) tmp[at(x, y)] += kernel[static_cast<std::size_t>(k + pad)] * img[at(x + k, y)];
        std::fill(img.begin(), img.end(), 0.0);
        for (int y = 0; y < ph; ++y)
            for (int x = 0; x < pw; ++x)
                for (int k = -pad; k <= pad; ++k)
                    if (y + k >= 0 && y + k < ph) img[at(x, y)] += kernel[static_cast<std::size_t>(k + pad)] * tmp[at(x, y + k)];
    }
    // Pixel value of the (padded) image at integer coordinates, 0 outside.
    const auto pixel = [&](long x, long y) -> double {
        if (x < 0 || y < 0 || x >= pw || y >= ph) return 0.0;
        return img[at(static_cast<int>(x), static_cast<int>(y))];
    };
    // ln-intensity seen by every sensor pixel at time t. The displacement is the same for
    // all pixels, so the bilinear weights are computed once per frame.
    const auto render = [&](double t, std::vector<double>& out) {
        const auto [dx, dy] = saccade_displacement(t, p);
        const double ox = x_rest + dx - pad, oy = y_rest + dy - pad;
        const double fx0 = std::floor(-ox), fy0 = std::floor(-oy);
        const double fx = -ox - fx0, fy = -oy - fy0;
        const long bx = static_cast<long>(fx0), by = static_cast<long>(fy0);
        for (int v = 0; v < H; ++v)
            for (int u = 0; u < W; ++u) {
                const long x = u + bx, y = v + by;
                const double i = (1 - fy) * ((1 - fx) * pixel(x, y) + fx * pixel(x + 1, y)) +
                                 fy * ((1 - fx) * pixel(x, y + 1) + fx * pixel(x + 1, y + 1));
                out[static_cast<std::size_t>(v) * static_cast<std::size_t>(W) + static_cast<std::size_t>(u)] =
                    std::log(i + p.log_eps);
            }
    };

    std::vector<double> theta(n_pix, p.threshold);
    if (p.threshold_sigma > 0.0)
        for (std::size_t k = 0; k < n_pix; ++k) {
            random_stream rng(p.seed, stream_id("saccade/threshold"), static_cast<std::uint32_t>(k));
            theta[k] = p.threshold * std::max(0.1, 1.0 + p.threshold_sigma * rng.normal());
        }

    struct timed {
        double t;
        dvs_event e;
    };
    std::vector<timed> found;
    std::vector<double> prev(n_pix), cur(n_pix), ref(n_pix);
    std::vector<double> ready(n_pix, -std::numeric_limits<double>::infinity());
    render(0.0, prev);
    // A pixel's memorised level is where its last reset left it: anywhere within one
    // threshold of the current value. (Starting exactly at L(0) would make every pixel
    // whose intensity returns to L(0) at the end of the path fire at that very instant.)
    for (std::size_t k = 0; k < n_pix; ++k) {
        random_stream rng(p.seed, stream_id("saccade/reset"), static_cast<std::uint32_t>(k), p.sample << 32);
        ref[k] = prev[k] + theta[k] * (2.0 * rng.uniform() - 1.0);
    }
    const auto frames = static_cast<std::uint64_t>(std::ceil(t_end / p.dt_us - 1e-9));
    double t_prev = 0.0;
    for (std::uint64_t n = 1; n <= frames; ++n) {
        const double t_now = std::min(static_cast<double>(n) * p.dt_us, t_end);
        render(t_now, cur);
        for (std::size_t k = 0; k < n_pix; ++k) {
            // Walk the segment (t_a, a) -> (t_now, cur[k]), emitting as long as allowed.
            double t_a = t_prev, a = prev[k];
            const double b = cur[k];
            while (true) {
                double level;
                std::uint8_t pol;
                if (b - ref[k] >= theta[k]) { level = ref[k] + theta[k]; pol = 1; }
                else if (ref[k] - b >= theta[k]) { level = ref[k] - theta[k]; pol = 0; }
                else break;
                const double frac = b != a ? std::clamp((level - a) / (b - a), 0.0, 1.0) : 1.0;
                const double t_cross = t_a + (t_now - t_a) * frac;
                const double t_fire = std::max(t_cross, ready[k]);
                if (t_fire > t_now) break;  // refractory for the rest of this frame
                const double seen = t_now > t_a ? a + (b - a) * (t_fire - t_a) / (t_now - t_a) : b;
                ref[k] = t_fire == t_cross ? level : seen;
                ready[k] = t_fire + p.refractory_us;
                found.push_back({t_fire, dvs_event{static_cast<std::uint16_t>(k % static_cast<std::size_t>(W)),
                                                   static_cast<std::uint16_t>(k / static_cast<std::size_t>(W)), pol,
                                                   0}});
                t_a = t_fire;
                a = seen;
            }
        }
        std::swap(prev, cur);
        t_prev = t_now;
    }

    if (p.noise_hz > 0.0) {
        const double rate_per_us = p.noise_hz * 1e-6;
        for (std::size_t k = 0; k < n_pix; ++k) {
            random_stream rng(p.seed, stream_id("saccade/noise"), static_cast<std::uint32_t>(k), p.sample << 32);
            for (double t = -std::log(rng.uniform()) / rate_per_us; t <= t_end; t += -std::log(rng.uniform()) / rate_per_us)
                found.push_back({t, dvs_event{static_cast<std::uint16_t>(k % static_cast<std::size_t>(W)),
                                              static_cast<std::uint16_t>(k / static_cast<std::size_t>(W)),
                                              static_cast<std::uint8_t>(rng.next_u32() & 1u), 0}});
        }
    }

    std::stable_sort(found.begin(), found.end(), [](const timed& x, const timed& y) { return x.t < y.t; });
    std::vector<dvs_event> out;
    out.reserve(found.size());
    for (auto& f : found) {
        f.e.t_us = static_cast<std::uint64_t>(std::llround(f.t));
        out.push_back(f.e);
    }
    return out;
}

event_stats describe_events(const std::vector<dvs_event>& events) {
    event_stats s;
    s.events = events.size();
    std::unordered_set<std::uint32_t> pixels;
    s.t_first_us = events.empty() ? 0 : std::numeric_limits<std::uint64_t>::max();
    for (const auto& e : events) {
        (e.p ? s.on : s.off) += 1;
        s.t_first_us = std::min(s.t_first_us, e.t_us);
        s.t_last_us = std::max(s.t_last_us, e.t_us);
        pixels.insert(std::uint32_t{e.x} << 16 | e.y);
    }
    s.active_pixels = pixels.size();
    return s;
}

}  // namespace engram
