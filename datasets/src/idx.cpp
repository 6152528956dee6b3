#include "engram/datasets/idx.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <system_error>

#include "engram/core/errors.hpp"

namespace engram {
namespace {

constexpr std::uint64_t unknown_pos = std::numeric_limits<std::uint64_t>::max();

std::string hex_byte(unsigned v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02X", v & 0xFFu);
    return buf;
}

std::string type_name(unsigned t) {
    switch (t) {
        case 0x08: return "unsigned byte";
        case 0x09: return "signed byte";
        case 0x0B: return "int16";
        case 0x0C: return "int32";
        case 0x0D: return "float32";
        case 0x0E: return "float64";
        default: return "unknown";
    }
}

std::uint32_t be32(const std::uint8_t* b) {
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

std::string zlib_message(gzFile f) {
    int err = Z_OK;
    const char* m = gzerror(f, &err);
    if (err == Z_ERRNO) return std::error_code(errno, std::generic_category()).message();
    return m && *m ? m : "unknown zlib error";
}

}  // namespace

idx_file::idx_file(const std::string& path) : path_(path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) throw io_error(path, "open", "no such file");
    file_ = gzopen(path.c_str(), "rb");
    if (!file_) throw io_error(path, "open", std::error_code(errno, std::generic_category()).message());
    gzbuffer(file_, 1u << 17);  // before the first read
    compressed_ = gzdirect(file_) == 0;
    const char* kind = compressed_ ? " (uncompressed)" : "";

    std::uint8_t head[4];
    const int got = gzread(file_, head, 4);
    if (got < 4) {
        const std::string why = got < 0 ? zlib_message(file_) : "file ends";
        close();
        throw io_error(path, "read", why + " inside the IDX header at byte offset " +
                                         std::to_string(std::max(got, 0)) + kind +
                                         ": 4 magic bytes expected");
    }
    if (head[0] != 0 || head[1] != 0) {
        close();
        throw io_error(path, "read", "not an IDX file: magic number must start with 00 00, got " +
                                         hex_byte(head[0]) + " " + hex_byte(head[1]) + " at byte offset 0");
    }
    if (head[2] != 0x08) {
        close();
        throw io_error(path, "read", "IDX element type " + hex_byte(head[2]) + " (" + type_name(head[2]) +
                                         ") at byte offset 2 is not supported; only 0x08 (unsigned byte) is");
    }
    const unsigned ndims = head[3];
    if (ndims == 0) {
        close();
        throw io_error(path, "read", "IDX header at byte offset 3 gives 0 dimensions");
    }
    std::vector<std::uint8_t> dims_raw(4 * ndims);
    const int got_dims = gzread(file_, dims_raw.data(), static_cast<unsigned>(dims_raw.size()));
    if (got_dims < static_cast<int>(dims_raw.size())) {
        const std::string why = got_dims < 0 ? zlib_message(file_) : "file ends";
        close();
        throw io_error(path, "read", why + " at byte offset " + std::to_string(4 + std::max(got_dims, 0)) + kind +
                                         " inside the IDX header: " + std::to_string(ndims) +
                                         " dimension sizes (4 bytes each) expected");
    }
    header_size_ = 4 + 4 * std::size_t{ndims};
    pos_ = header_size_;
    std::uint64_t total = 1;
    for (unsigned k = 0; k < ndims; ++k) {
        const std::uint32_t d = be32(&dims_raw[4 * k]);
        if (d > static_cast<std::uint32_t>(INT32_MAX)) {
            close();
            throw io_error(path, "read", "dimension " + std::to_string(k) + " at byte offset " +
                                             std::to_string(4 + 4 * k) + " is negative (" +
                                             std::to_string(static_cast<std::int32_t>(d)) + ")");
        }
        if (d != 0 && total > (std::uint64_t{1} << 62) / d) {
            close();
            throw io_error(path, "read", "IDX dimensions give more than 2^62 bytes");
        }
        total *= d;
        if (k == 0) count_ = d;
        else shape_.push_back(d);
    }
    sample_size_ = 1;
    for (std::size_t d : shape_) sample_size_ *= d;

    if (!compressed_) {
        const std::uint64_t expected = header_size_ + total;
        const std::uint64_t actual = std::filesystem::file_size(path, ec);
        if (ec) { close(); throw io_error(path, "read", "cannot get the file size: " + ec.message()); }
        if (actual < expected) {
            const std::uint64_t sample = sample_size_ ? (actual - header_size_) / sample_size_ : 0;
            close();
            throw io_error(path, "read", "file is truncated: " + std::to_string(actual) + " bytes, the header needs " +
                                             std::to_string(expected) + "; sample " + std::to_string(sample) +
                                             " (at byte offset " +
                                             std::to_string(header_size_ + sample * sample_size_) +
                                             ") is incomplete and the file ends at byte offset " +
                                             std::to_string(actual));
        }
        if (actual > expected) {
            close();
            throw io_error(path, "read", std::to_string(actual - expected) + " bytes of trailing data after the last of " +
                                             std::to_string(count_) + " samples, from byte offset " +
                                             std::to_string(expected));
        }
        // Plain files are read with pread: no buffer to refill on random access.
        close();
        fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) throw io_error(path, "open", std::error_code(errno, std::generic_category()).message());
    }
}

idx_file::~idx_file() { close(); }

idx_file::idx_file(idx_file&& o) noexcept
    : path_(std::move(o.path_)), file_(o.file_), fd_(o.fd_), pos_(o.pos_), count_(o.count_), sample_size_(o.sample_size_),
      header_size_(o.header_size_), shape_(std::move(o.shape_)), compressed_(o.compressed_) {
    o.file_ = nullptr;
    o.fd_ = -1;
}

idx_file& idx_file::operator=(idx_file&& o) noexcept {
    if (this != &o) {
        close();
        path_ = std::move(o.path_);
        file_ = o.file_;
        o.file_ = nullptr;
        fd_ = o.fd_;
        o.fd_ = -1;
        pos_ = o.pos_;
        count_ = o.count_;
        sample_size_ = o.sample_size_;
        header_size_ = o.header_size_;
        shape_ = std::move(o.shape_);
        compressed_ = o.compressed_;
    }
    return *this;
}

void idx_file::close() {
    if (file_) gzclose_r(file_);
    file_ = nullptr;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

void idx_file::seek(std::uint64_t offset, std::size_t sample) {
    if (!file_) throw io_error(path_, "read", "file is not open");
    if (offset == pos_) return;
    gzclearerr(file_);
    if (gzseek(file_, static_cast<z_off_t>(offset), SEEK_SET) < 0) {
        pos_ = unknown_pos;
        throw io_error(path_, "read", "cannot seek to byte offset " + std::to_string(offset) + " (sample " +
                                          std::to_string(sample) + "): " + zlib_message(file_));
    }
    pos_ = offset;
}

void idx_file::read_bytes(std::uint8_t* dst, std::size_t n, std::uint64_t offset, std::size_t sample) {
    const auto fail = [&](std::size_t done, const std::string& why) {
        const std::uint64_t at = offset + done;
        const std::size_t bad = sample_size_ ? sample + done / sample_size_ : sample;
        pos_ = unknown_pos;
        throw io_error(path_, "read",
                       why + " at " + (compressed_ ? "uncompressed " : "") + "byte offset " + std::to_string(at) +
                           ", inside sample " + std::to_string(bad) + " of " + std::to_string(count_) +
                           " (samples are " + std::to_string(sample_size_) + " bytes from byte offset " +
                           std::to_string(header_size_) + ")");
    };
    std::size_t done = 0;
    if (!compressed_) {
        if (fd_ < 0) throw io_error(path_, "read", "file is not open");
        while (done < n) {
            const ssize_t got = ::pread(fd_, dst + done, n - done, static_cast<off_t>(offset + done));
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) fail(done, got < 0 ? std::error_code(errno, std::generic_category()).message() : "file ends");
            done += static_cast<std::size_t>(got);
        }
        return;
    }
    seek(offset, sample);
    while (done < n) {
        const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, 1u << 30));
        const int got = gzread(file_, dst + done, chunk);
        if (got <= 0) fail(done, got < 0 ? zlib_message(file_) : "file ends");
        done += static_cast<std::size_t>(got);
        pos_ += static_cast<std::uint64_t>(got);
    }
}

void idx_file::read(std::size_t i, std::vector<std::uint8_t>& out) { read(i, 1, out); }

std::vector<std::uint8_t> idx_file::read(std::size_t i) {
    std::vector<std::uint8_t> out;
    read(i, 1, out);
    return out;
}

void idx_file::read(std::size_t first, std::size_t n, std::vector<std::uint8_t>& out) {
    if (first > count_ || n > count_ - first)
        throw io_error(path_, "read", "samples " + std::to_string(first) + ".." + std::to_string(first + n) +
                                          " requested, the file has " + std::to_string(count_));
    out.resize(n * sample_size_);
    if (out.empty()) return;
    read_bytes(out.data(), out.size(), header_size_ + std::uint64_t{first} * sample_size_, first);
}

void idx_file::verify() {
    std::vector<std::uint8_t> buf(1u << 20);
    const std::uint64_t total = std::uint64_t{count_} * sample_size_;
    std::uint64_t done = 0;
    while (done < total) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), total - done));
        read_bytes(buf.data(), n, header_size_ + done, sample_size_ ? done / sample_size_ : 0);
        done += n;
    }
    if (!compressed_) return;  // a plain file's size was checked when it was opened
    seek(header_size_ + total, count_);
    std::uint8_t extra[4096];
    std::uint64_t trailing = 0;
    for (int got; (got = gzread(file_, extra, sizeof extra)) > 0;) trailing += static_cast<std::uint64_t>(got);
    pos_ = unknown_pos;
    if (trailing)
        throw io_error(path_, "read", std::to_string(trailing) + " bytes of trailing data after the last of " +
                                          std::to_string(count_) + " samples, from " +
                                          (compressed_ ? "uncompressed " : "") + "byte offset " +
                                          std::to_string(header_size_ + total));
}

std::vector<std::uint8_t> read_idx_labels(const std::string& path) {
    idx_file f(path);
    if (!f.shape().empty())
        throw io_error(path, "read", "not a label file: " + std::to_string(f.shape().size() + 1) +
                                         " dimensions, labels have 1");
    std::vector<std::uint8_t> out;
    f.read(0, f.count(), out);
    return out;
}

std::string find_idx(const std::string& dir, const std::string& name) {
    const std::filesystem::path p = std::filesystem::path(dir) / name;
    std::error_code ec;
    if (std::filesystem::is_regular_file(p, ec)) return p.string();
    const std::string gz = p.string() + ".gz";
    if (std::filesystem::is_regular_file(gz, ec)) return gz;
    throw io_error(p.string(), "open", "neither it nor '" + gz + "' exists (scripts/fetch-data.sh installs MNIST and Fashion-MNIST)");
}

idx_dataset open_idx_dataset(const std::string& dir, const std::string& split) {
    idx_dataset d{idx_file(find_idx(dir, split + "-images-idx3-ubyte")), {}};
    const std::string labels_path = find_idx(dir, split + "-labels-idx1-ubyte");
    d.labels = read_idx_labels(labels_path);
    if (d.labels.size() != d.images.count())
        throw io_error(labels_path, "read", std::to_string(d.labels.size()) + " labels for " +
                                                std::to_string(d.images.count()) + " images in '" +
                                                d.images.path() + "'");
    for (std::size_t i = 0; i < d.labels.size(); ++i)
        if (d.labels[i] > 9)
            throw io_error(labels_path, "read", "label " + std::to_string(d.labels[i]) + " of sample " +
                                                    std::to_string(i) + " (byte offset " + std::to_string(8 + i) +
                                                    ") is not a class 0..9");
    return d;
}

void write_idx(const std::string& path, const std::vector<std::size_t>& dims, const std::vector<std::uint8_t>& data,
               bool gzip) {
    if (dims.empty() || dims.size() > 255) throw io_error(path, "write", "an IDX file has 1 to 255 dimensions");
    std::size_t total = 1;
    std::vector<std::uint8_t> head{0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
    for (std::size_t d : dims) {
        if (d > static_cast<std::size_t>(INT32_MAX)) throw io_error(path, "write", "a dimension exceeds 2^31 - 1");
        total *= d;
        for (int s = 24; s >= 0; s -= 8) head.push_back(static_cast<std::uint8_t>(d >> s));
    }
    if (total != data.size())
        throw io_error(path, "write", std::to_string(data.size()) + " bytes given, the dimensions need " +
                                          std::to_string(total));
    gzFile f = gzopen(path.c_str(), gzip ? "wb6" : "wbT");
    if (!f) throw io_error(path, "write", std::error_code(errno, std::generic_category()).message());
    bool ok = gzwrite(f, head.data(), static_cast<unsigned>(head.size())) == static_cast<int>(head.size());
    for (std::size_t done = 0; ok && done < data.size();) {
        const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(data.size() - done, 1u << 30));
        ok = gzwrite(f, data.data() + done, chunk) == static_cast<int>(chunk);
        done += chunk;
    }
    const std::string why = ok ? std::string() : zlib_message(f);
    if (gzclose_w(f) != Z_OK && ok) throw io_error(path, "write", "closing failed (disk full?)");
    if (!ok) throw io_error(path, "write", why);
}

}  // namespace engram
