#pragma once
// IDX files (MNIST, Fashion-MNIST), plain or gzip-compressed, read one sample at a time.
//
// Layout (big-endian): bytes 0-1 zero, byte 2 the element type (0x08 = unsigned byte, the
// only type read here), byte 3 the number of dimensions n; then n int32 sizes, the first
// being the number of samples; then the samples, row-major, one after the other.
//
// Access cost. A plain file is read with one pread() per request, whatever the order. A gzip
// file can only be decompressed forwards: reading samples in increasing order costs one
// decompression pass in total (the reader remembers where it is, so sample i+1 follows
// sample i without a seek), a forward jump decompresses and drops the bytes in between,
// and a backward jump restarts from the beginning of the file. For random access to a
// gzip file, decompress it once (gunzip) or read it whole into memory.
#include <cstdint>
#include <string>
#include <vector>

struct gzFile_s;

namespace engram {

class idx_file {
public:
    // Opens and checks the header. A plain file's size must be exactly what the header
    // says; a gzip file's length is checked as samples are read (and by verify()).
    explicit idx_file(const std::string& path);
    ~idx_file();
    idx_file(idx_file&& o) noexcept;
    idx_file& operator=(idx_file&& o) noexcept;
    idx_file(const idx_file&) = delete;
    idx_file& operator=(const idx_file&) = delete;

    const std::string& path() const { return path_; }
    std::size_t count() const { return count_; }                   // samples (first dimension)
    const std::vector<std::size_t>& shape() const { return shape_; }  // one sample's dimensions ({28, 28}); empty for labels
    std::size_t sample_size() const { return sample_size_; }       // bytes per sample
    std::size_t header_size() const { return header_size_; }       // offset of sample 0
    bool compressed() const { return compressed_; }

    // Sample i (row-major bytes) into `out`, resized to sample_size().
    void read(std::size_t i, std::vector<std::uint8_t>& out);
    std::vector<std::uint8_t> read(std::size_t i);
    // Samples [first, first + n) into `out`, one after the other.
    void read(std::size_t first, std::size_t n, std::vector<std::uint8_t>& out);

    // Reads the whole data stream and checks that it ends exactly after the last sample.
    void verify();

private:
    void seek(std::uint64_t offset, std::size_t sample);
    void read_bytes(std::uint8_t* dst, std::size_t n, std::uint64_t offset, std::size_t sample);
    void close();

    std::string path_;
    gzFile_s* file_ = nullptr;  // gzip files
    int fd_ = -1;               // plain files
    std::uint64_t pos_ = 0;  // uncompressed offset of the next byte gzread returns
    std::size_t count_ = 0, sample_size_ = 0, header_size_ = 0;
    std::vector<std::size_t> shape_;
    bool compressed_ = false;
};

// A 1-D IDX file of unsigned bytes (labels), read whole.
std::vector<std::uint8_t> read_idx_labels(const std::string& path);

// `dir/name` if it exists, else `dir/name.gz`; throws io_error naming both if neither does.
std::string find_idx(const std::string& dir, const std::string& name);

// Images and labels of one split of MNIST or Fashion-MNIST in `dir`: split is "train" or
// "t10k" (files <split>-images-idx3-ubyte and <split>-labels-idx1-ubyte, each plain or
// .gz). Throws io_error if the two counts differ or a label is above 9.
struct idx_dataset {
    idx_file images;
    std::vector<std::uint8_t> labels;
    std::size_t count() const { return labels.size(); }
};
idx_dataset open_idx_dataset(const std::string& dir, const std::string& split);

// Writes an unsigned-byte IDX file (gzip-compressed when `gzip`): dims[0] samples of
// dims[1] x ... bytes. Used by tests and for converted data.
void write_idx(const std::string& path, const std::vector<std::size_t>& dims,
               const std::vector<std::uint8_t>& data, bool gzip = false);

}  // namespace engram
