#include "engram/core/png.hpp"

#include <zlib.h>

#include <cstdio>
#include <memory>

#include "engram/core/errors.hpp"

namespace engram {

rgb_image::rgb_image(unsigned w, unsigned h, std::uint8_t r, std::uint8_t g, std::uint8_t b)
    : width(w), height(h), pixels(std::size_t(w) * h * 3) {
    for (std::size_t i = 0; i < pixels.size(); i += 3) {
        pixels[i] = r;
        pixels[i + 1] = g;
        pixels[i + 2] = b;
    }
}

void rgb_image::set(unsigned x, unsigned y, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
    std::uint8_t* p = &pixels[(std::size_t(y) * width + x) * 3];
    p[0] = r;
    p[1] = g;
    p[2] = b;
}

namespace {

void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

// A chunk: length, type, data, CRC-32 of type and data.
void put_chunk(std::vector<std::uint8_t>& out, const char type[4], const std::uint8_t* data, std::size_t n) {
    put_u32(out, static_cast<std::uint32_t>(n));
    const std::size_t at = out.size();
    out.insert(out.end(), type, type + 4);
    if (n) out.insert(out.end(), data, data + n);
    put_u32(out, static_cast<std::uint32_t>(crc32(0L, out.data() + at, static_cast<uInt>(n + 4))));
}

}  // namespace

void write_png(const rgb_image& img, const std::string& path) {
    if (img.width == 0 || img.height == 0) throw error(path + ": cannot write an empty image");
    if (img.pixels.size() != std::size_t(img.width) * img.height * 3)
        throw error(path + ": the image's pixels do not match its size");
    // scanlines, each after filter type 0 (none)
    const std::size_t row = std::size_t(img.width) * 3;
    std::vector<std::uint8_t> raw;
    raw.reserve((row + 1) * img.height);
    for (unsigned y = 0; y < img.height; ++y) {
        raw.push_back(0);
        raw.insert(raw.end(), img.pixels.begin() + static_cast<std::ptrdiff_t>(y * row),
                   img.pixels.begin() + static_cast<std::ptrdiff_t>((y + 1) * row));
    }
    uLongf zn = compressBound(static_cast<uLong>(raw.size()));
    std::vector<std::uint8_t> z(zn);
    if (compress2(z.data(), &zn, raw.data(), static_cast<uLong>(raw.size()), 6) != Z_OK)
        throw io_error(path, "write", "cannot compress the image");
    std::vector<std::uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    std::vector<std::uint8_t> ihdr;
    put_u32(ihdr, img.width);
    put_u32(ihdr, img.height);
    ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8 bits, RGB, deflate, adaptive filters, no interlace
    put_chunk(out, "IHDR", ihdr.data(), ihdr.size());
    put_chunk(out, "IDAT", z.data(), zn);
    put_chunk(out, "IEND", nullptr, 0);
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
    if (!f) throw io_error(path, "write", "cannot open the file");
    if (std::fwrite(out.data(), 1, out.size(), f.get()) != out.size() || std::fflush(f.get()) != 0)
        throw io_error(path, "write", "cannot write the image (disk full?)");
}

}  // namespace engram
