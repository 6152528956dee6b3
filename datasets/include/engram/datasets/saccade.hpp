#pragma once
// Static image -> event stream, imitating how N-MNIST was recorded (Orchard et al. 2015,
// Front. Neurosci. 9:437): an ATIS sensor on a pan-tilt unit looked at each MNIST digit
// on a screen and made three saccades along an isosceles triangle, ~100 ms each.
//
// Model. The image (values 0..255, 0 = black background) moves across a
// sensor_width x sensor_height sensor; its top-left corner is at the sensor's centre
// position plus a displacement d(t) that travels at constant speed along the triangle
// (0,0) -> (a/2, a) -> (-a/2, a) -> (0,0), a = amplitude_px, one side per saccade (the
// path is centred vertically). The image may first be blurred by a Gaussian (blur_px,
// the optics' point spread; it spreads beyond the image's edges). Every dt_us each pixel samples the moving image by
// bilinear interpolation (zero outside it), I in [0, 1], and takes L = ln(I + log_eps).
// A pixel fires ON when L rises `threshold` above its memorised level, OFF when it
// falls `threshold` below; the crossing time is interpolated between two frames, and the
// memorised level is reset to the value the pixel sees when it fires (as the DVS pixel
// circuit does, Lichtsteiner et al. 2008), which is the crossed level unless the
// pixel was refractory. After an event the pixel is blind for refractory_us. Each
// pixel's initial memorised level lies uniformly within one threshold of its initial
// value (drawn per seed and sample), as a real pixel's last reset is unknown.
// Optional: per-pixel threshold mismatch (fixed per seed, like a sensor's) and Poisson
// background-activity noise (random polarity; per seed and sample).
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "engram/datasets/trains.hpp"

namespace engram {

struct saccade_params {
    int sensor_width = 34, sensor_height = 34;
    double saccade_ms = 100.0;      // duration of each of the three saccades
    double amplitude_px = 3.0;      // size of the triangle (a above)
    double threshold = 0.2;         // contrast threshold, in ln-intensity units
    double threshold_sigma = 0.0;   // relative std of the per-pixel threshold
    double refractory_us = 1000.0;  // per pixel, after each event
    double log_eps = 0.1;           // L = ln(I + log_eps): the dark level
    double blur_px = 0.7;           // std of a Gaussian blur of the image (optics), pixels
    double dt_us = 100.0;           // rendering step
    double noise_hz = 0.0;          // background events per pixel per second
    std::uint64_t seed = 1;
    std::uint64_t sample = 0;       // noise and initial levels differ per sample; mismatch does not
};

// Displacement (x, y) in pixels of the image at time t_us along the saccade path.
std::pair<double, double> saccade_displacement(double t_us, const saccade_params& p);

// Events of one image (row-major, width x height bytes), sorted by time, then by the
// order the pixels were scanned. The image must fit on the sensor. Deterministic: the
// same inputs give the same events. Throws std::invalid_argument on bad parameters.
std::vector<dvs_event> image_to_events(std::span<const std::uint8_t> image, int width, int height,
                                       const saccade_params& p = {});

// Summary of an event stream, for comparing converted and recorded data.
struct event_stats {
    std::size_t events = 0, on = 0, off = 0;
    std::uint64_t t_first_us = 0, t_last_us = 0;
    std::size_t active_pixels = 0;  // pixels with at least one event
};
event_stats describe_events(const std::vector<dvs_event>& events);

}  // namespace engram
