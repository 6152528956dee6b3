#pragma once
// Writing 8-bit RGB images as PNG (zlib-compressed, one filter byte per row), for the
// figures that code outside the viewer writes (the SpiNNaker2 map's chip_load.png).
#include <cstdint>
#include <string>
#include <vector>

namespace engram {

struct rgb_image {
    unsigned width = 0, height = 0;
    std::vector<std::uint8_t> pixels;  // row by row, 3 bytes (r, g, b) a pixel

    rgb_image() = default;
    rgb_image(unsigned w, unsigned h, std::uint8_t r, std::uint8_t g, std::uint8_t b);
    void set(unsigned x, unsigned y, std::uint8_t r, std::uint8_t g, std::uint8_t b);
};

// Throws io_error naming the file if it cannot be written, error if the image is empty
// or its pixel count does not match its size.
void write_png(const rgb_image& image, const std::string& path);

}  // namespace engram
