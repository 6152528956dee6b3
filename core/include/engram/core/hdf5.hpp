#pragma once
// Thin RAII helpers over the HDF5 C API, shared by the results writer, readers and
// exporters. Every failure throws io_error naming the file and the object.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace engram::h5 {

class handle {
public:
    handle() = default;
    handle(hid_t id, herr_t (*closer)(hid_t)) : id_(id), closer_(closer) {}
    handle(handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = -1; }
    handle& operator=(handle&& o) noexcept {
        if (this != &o) { reset(); id_ = o.id_; closer_ = o.closer_; o.id_ = -1; }
        return *this;
    }
    handle(const handle&) = delete;
    handle& operator=(const handle&) = delete;
    ~handle() { reset(); }
    void reset() { if (id_ >= 0 && closer_) closer_(id_); id_ = -1; }
    // The id, no longer closed by this handle: the caller closes it (and can check how).
    hid_t release() { const hid_t id = id_; id_ = -1; return id; }
    hid_t id() const { return id_; }
    operator hid_t() const { return id_; }
    bool valid() const { return id_ >= 0; }

private:
    hid_t id_ = -1;
    herr_t (*closer_)(hid_t) = nullptr;
};

void silence_errors();
// Objects of the file of at least streamed_alignment bytes (a results file's whole spike
// chunks) start at multiples of it where `streamed`: see create_file.
constexpr std::size_t streamed_alignment = std::size_t{1} << 17;
constexpr std::size_t streamed_meta_block = std::size_t{1} << 14;
// `streamed`: a file written in large appends while it is open (the results file). Its
// objects of streamed_alignment bytes or more start at multiples of streamed_alignment,
// and HDF5 takes file space for metadata in blocks of streamed_meta_block (not 2 KiB),
// so that the alignment seldom leaves gaps (a 62 MB file 1 % larger; blocks of 128 KiB
// took 0.4 ms more to write a small file). Linux caches a write that covers whole
// aligned 128 KiB in large pages: a chunk's write took 0.63 x the time.
handle create_file(const std::string& path, bool streamed = false);

// Disk space taken ahead of a file that grows in large appends (the results file's spike
// chunks). Writing into space the file system has already allocated skips its per-page
// reservations (ext4's delayed allocation): a 128 KiB spike chunk took 0.74 x the time.
// Space is taken past the file's end only (its size does not change), and only on Linux
// with HDF5's POSIX driver; where the file system cannot (ENOTSUP) or the disk is full,
// nothing more is taken and the writes go on as before.
class space_ahead {
public:
    // Before a write of up to `bytes` at the file's end: takes `step` bytes more where
    // less than `bytes` are taken past it.
    void ensure(hid_t file, std::uint64_t bytes, std::uint64_t step = std::uint64_t{8} << 20);
    // After the file at `path` is closed: gives back the space past its end. (A process
    // killed before that leaves at most `step` bytes taken past the end.)
    void give_back(const std::string& path);
    std::uint64_t taken_to() const { return end_; }

private:
    int fd_ = -1;
    bool off_ = false;
    std::uint64_t end_ = 0;
};
// Closes file handle f for good: throws io_error naming `file` if an object of it (a
// group, dataset or attribute) is still open, or if HDF5 fails to write it out. While
// an object is open, H5Fclose only marks the file for closing: its last metadata
// reaches the disk when that object closes, and another process reading it before then
// finds no valid HDF5 file. f is closed either way.
void close_file(handle& f, const std::string& file);

// A new HDF5 file, written as PATH.tmp, that takes the name PATH only at commit(): until
// then an earlier file PATH stays as it was, and one destroyed without commit() (an
// exception unwound its writer) is removed, PATH.tmp with it. commit() closes the file
// (close_file: every object of it must be closed by then) and renames it over PATH.
class new_file {
public:
    explicit new_file(std::string path);
    ~new_file();
    new_file(const new_file&) = delete;
    new_file& operator=(const new_file&) = delete;
    hid_t id() const { return file_.id(); }
    operator hid_t() const { return file_.id(); }
    const std::string& path() const { return path_; }
    void commit();

private:
    std::string path_, tmp_;
    handle file_;
    bool committed_ = false;
};
handle open_file(const std::string& path);  // read-only
handle create_group(hid_t loc, const std::string& name, const std::string& file);
bool exists(hid_t loc, const std::string& path);
handle open_group(hid_t loc, const std::string& name, const std::string& file);
handle open_dataset(hid_t loc, const std::string& name, const std::string& file);

// Extendable datasets written in appends: 1-D of n values (chunks of 16384: 128 KiB of
// 8-byte values), or 2-D of rows of `cols` (chunks of about 16384 values).
handle create_extendable(hid_t loc, const std::string& name, hid_t type, std::size_t cols,
                         const std::string& file);
// `allocate_early`: a chunk gets its place in the file when the dataset's extent first
// reaches it, and no fill values are written (for chunk_places).
handle create_extendable(hid_t loc, const std::string& name, hid_t type, std::size_t cols,
                         const std::string& file, bool allocate_early);
// The file descriptor of a file open with HDF5's POSIX driver (sec2), or -1.
int posix_descriptor(hid_t file);

// Where the values of a 1-D chunked dataset go in the file, for writes past HDF5 (pwrite
// on posix_descriptor): the dataset is created with allocate_early, stored as memory
// holds its values (stored_as_in_memory). place() extends the dataset into the value's
// chunk, where its extent does not reach that chunk yet, so that HDF5 allocates it, and
// asks HDF5 for the chunk's address; set_length() then sets the extent to what is
// written. The values go in as H5Dwrite_chunk would write them; no HDF5 call reads or
// caches them meanwhile. (Shrinking the extent into a chunk makes HDF5 read and rewrite
// that chunk: a writer that only appends extends it, one value into each new chunk.)
class chunk_places {
public:
    chunk_places(hid_t dset, std::size_t chunk, std::size_t elem_bytes, std::string file);
    // The file offset of value `index` (its chunk allocated first where it is not).
    std::uint64_t place(std::uint64_t index);
    // The dataset's extent set to n values (every value below n written).
    void set_length(std::uint64_t n);

private:
    hid_t dset_;
    std::size_t chunk_, elem_bytes_;
    std::string file_;
    std::uint64_t extent_ = 0;
    std::uint64_t chunk_index_ = ~std::uint64_t{0}, chunk_addr_ = 0;  // the last chunk asked for
};

// A write that fails leaves the dataset as it was (its extent restored) and throws.
void append(hid_t dset, hid_t mem_type, const void* data, std::size_t rows, std::size_t cols,
            const std::string& file);
// Rows (values of a 1-D dataset) a dataset holds, and shrinking it back to `rows`.
std::size_t length(hid_t dset);
void truncate(hid_t dset, std::size_t rows, const std::string& file);
// Length of a 1-D chunked dataset's chunks.
std::size_t chunk_length(hid_t dset, const std::string& file);
// Whether chunks of `dset` may be written as `mem_type` values are in memory: the file
// type is the memory type, and no filter (compression, shuffle) applies to its chunks.
bool stored_as_in_memory(hid_t dset, hid_t mem_type);
// Appends n values of `elem_bytes` each to a 1-D extendable dataset whose chunks hold
// `chunk` values. Values that fill whole chunks, from a chunk boundary on, go to the file
// as they are (H5Dwrite_chunk: no copy into HDF5's chunk cache, no conversion) when `raw`
// (see stored_as_in_memory); a partial chunk at either end goes through H5Dwrite. A write
// that fails leaves the dataset as it was and throws.
void append_chunked(hid_t dset, hid_t mem_type, const void* data, std::size_t n, std::size_t elem_bytes,
                    std::size_t chunk, bool raw, const std::string& file);

template <class T> hid_t type_of();
template <> inline hid_t type_of<double>() { return H5T_NATIVE_DOUBLE; }
template <> inline hid_t type_of<float>() { return H5T_NATIVE_FLOAT; }
template <> inline hid_t type_of<std::uint64_t>() { return H5T_NATIVE_UINT64; }
template <> inline hid_t type_of<std::uint32_t>() { return H5T_NATIVE_UINT32; }
template <> inline hid_t type_of<std::int64_t>() { return H5T_NATIVE_INT64; }

template <class T>
void write_vector(hid_t loc, const std::string& name, const std::vector<T>& v, const std::string& file);
template <class T>
std::vector<T> read_vector(hid_t loc, const std::string& name, const std::string& file);
std::vector<hsize_t> shape(hid_t loc, const std::string& name, const std::string& file);
// A 1-D dataset of strings (fixed or variable length, ASCII or UTF-8), trailing NULs and
// spaces removed; throws io_error if it is not a string dataset.
std::vector<std::string> read_strings(hid_t loc, const std::string& name, const std::string& file);

void write_attr(hid_t obj, const std::string& name, const std::string& value, const std::string& file);
void write_attr(hid_t obj, const std::string& name, double value, const std::string& file);
void write_attr(hid_t obj, const std::string& name, std::int64_t value, const std::string& file);
void write_attr(hid_t obj, const std::string& name, std::uint64_t value, const std::string& file);
bool has_attr(hid_t obj, const std::string& name);
std::string read_attr_string(hid_t obj, const std::string& name, const std::string& file);
double read_attr_double(hid_t obj, const std::string& name, const std::string& file);
std::uint64_t read_attr_uint64(hid_t obj, const std::string& name, const std::string& file);

std::vector<std::string> children(hid_t group);

}  // namespace engram::h5
