#include "engram/datasets/nmnist.hpp"

#include <cerrno>
#include <cstdio>
#include <memory>
#include <system_error>

#include "engram/core/errors.hpp"

namespace engram {

std::vector<dvs_event> decode_nmnist(const std::uint8_t* data, std::size_t n, const std::string& name,
                                     int sensor_size) {
    if (n % 5 != 0)
        throw io_error(name, "read", "size " + std::to_string(n) + " bytes is not a multiple of 5: event " +
                                         std::to_string(n / 5) + " at byte offset " + std::to_string(n - n % 5) +
                                         " is truncated (" + std::to_string(n % 5) + " of 5 bytes)");
    constexpr std::uint64_t overflow_step = std::uint64_t{1} << 13;  // as Tonic (see header)
    std::vector<dvs_event> out;
    out.reserve(n / 5);
    std::uint64_t base = 0;
    for (std::size_t k = 0; k < n / 5; ++k) {
        const std::uint8_t* e = data + 5 * k;
        if (e[1] == 240) {
            base += overflow_step;
            continue;
        }
        if (sensor_size > 0 && (e[0] >= sensor_size || e[1] >= sensor_size))
            throw io_error(name, "read", "event " + std::to_string(k) + " at byte offset " + std::to_string(5 * k) +
                                             " has pixel (" + std::to_string(e[0]) + ", " + std::to_string(e[1]) +
                                             ") outside the " + std::to_string(sensor_size) + "x" +
                                             std::to_string(sensor_size) + " sensor");
        dvs_event ev;
        ev.x = e[0];
        ev.y = e[1];
        ev.p = static_cast<std::uint8_t>(e[2] >> 7);
        ev.t_us = base + ((std::uint64_t{e[2]} & 0x7Fu) << 16 | std::uint64_t{e[3]} << 8 | e[4]);
        out.push_back(ev);
    }
    return out;
}

std::vector<dvs_event> read_nmnist(const std::string& path, int sensor_size) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
    if (!f) throw io_error(path, "open", std::error_code(errno, std::generic_category()).message());
    std::vector<std::uint8_t> bytes;
    std::uint8_t buf[1 << 16];
    while (const std::size_t got = std::fread(buf, 1, sizeof buf, f.get())) bytes.insert(bytes.end(), buf, buf + got);
    if (std::ferror(f.get()))
        throw io_error(path, "read", "read error at byte offset " + std::to_string(bytes.size()));
    return decode_nmnist(bytes.data(), bytes.size(), path, sensor_size);
}

std::vector<labelled_file> list_nmnist(const std::string& dir) { return list_class_folders(dir, ".bin"); }

}  // namespace engram
