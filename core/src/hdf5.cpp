#include "engram/core/hdf5.hpp"

#include <algorithm>
#include <filesystem>

#ifdef __linux__
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "engram/core/errors.hpp"

namespace engram::h5 {
namespace {
hid_t check(hid_t id, const std::string& file, const std::string& what) {
    if (id < 0) throw io_error(file, "access", what);
    return id;
}
}  // namespace

void silence_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

handle create_file(const std::string& path, bool streamed) {
    silence_errors();
    handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    if (streamed && (H5Pset_alignment(fapl, streamed_alignment, streamed_alignment) < 0 ||
                     H5Pset_meta_block_size(fapl, streamed_meta_block) < 0))
        throw io_error(path, "create", "HDF5 refused the file's alignment");
    return {check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), path,
                  "HDF5 file cannot be created"),
            H5Fclose};
}

void space_ahead::ensure(hid_t file, std::uint64_t bytes, std::uint64_t step) {
#ifdef __linux__
    if (off_) return;
    // the end of the space HDF5 has allocated (writes past HDF5, chunk_places, do not
    // move the end of file it knows)
    haddr_t eoa = 0;
    if (H5Fget_eoa(file, &eoa) < 0) return;
    const std::uint64_t size = eoa;
    if (size + bytes <= end_) return;
    if (fd_ < 0 && (fd_ = posix_descriptor(file)) < 0) {
        off_ = true;
        return;
    }
    const std::uint64_t from = std::max<std::uint64_t>(end_, size), to = size + bytes + step;
    if (fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(from), static_cast<off_t>(to - from)) != 0) {
        off_ = true;  // not supported here, or the disk is full: the writes will say so
        return;
    }
    end_ = to;
#else
    (void)file, (void)bytes, (void)step;
#endif
}

void space_ahead::give_back(const std::string& path) {
#ifdef __linux__
    if (end_ == 0) return;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st {};
    // a truncation to the same size frees the blocks past the end (ext4, XFS; ext4 punches
    // no holes past the end)
    if (fstat(fd, &st) == 0) (void)ftruncate(fd, st.st_size);
    ::close(fd);
    end_ = 0;
    fd_ = -1;
#else
    (void)path;
#endif
}

void close_file(handle& f, const std::string& file) {
    const bool alone = H5Fget_obj_count(f, H5F_OBJ_ALL | H5F_OBJ_LOCAL) == 1;
    if (H5Fclose(f.release()) < 0 || !alone)
        throw io_error(file, "close", alone ? "HDF5 could not write the file out (disk full?)"
                                            : "an object of the file is still open (a writer's bug)");
}

new_file::new_file(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp"), file_(create_file(tmp_)) {}

new_file::~new_file() {
    if (committed_) return;
    file_.reset();
    std::error_code ec;
    std::filesystem::remove(tmp_, ec);
}

void new_file::commit() {
    close_file(file_, tmp_);
    std::error_code ec;
    std::filesystem::rename(tmp_, path_, ec);  // replaces an earlier file at once
    if (ec) throw io_error(path_, "rename " + tmp_ + " to", ec.message());  // the destructor removes tmp
    committed_ = true;
}

handle open_file(const std::string& path) {
    silence_errors();
    const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (id < 0) throw io_error(path, "open", "not a readable HDF5 file");
    return {id, H5Fclose};
}

handle create_group(hid_t loc, const std::string& name, const std::string& file) {
    return {check(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), file,
                  "group '" + name + "' cannot be created"),
            H5Gclose};
}

bool exists(hid_t loc, const std::string& path) {
    // Check each component so a missing parent is not an error.
    std::size_t pos = 0;
    while (true) {
        pos = path.find('/', pos + 1);
        const std::string part = path.substr(0, pos);
        if (!part.empty() && part != "/" && H5Lexists(loc, part.c_str(), H5P_DEFAULT) <= 0) return false;
        if (pos == std::string::npos) return true;
    }
}

handle open_group(hid_t loc, const std::string& name, const std::string& file) {
    return {check(H5Gopen2(loc, name.c_str(), H5P_DEFAULT), file, "no group '" + name + "'"), H5Gclose};
}

handle open_dataset(hid_t loc, const std::string& name, const std::string& file) {
    return {check(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), file, "no dataset '" + name + "'"), H5Dclose};
}

handle create_extendable(hid_t loc, const std::string& name, hid_t type, std::size_t cols,
                         const std::string& file) {
    return create_extendable(loc, name, type, cols, file, false);
}

handle create_extendable(hid_t loc, const std::string& name, hid_t type, std::size_t cols,
                         const std::string& file, bool allocate_early) {
    const int rank = cols == 0 ? 1 : 2;
    hsize_t dims[2] = {0, cols}, maxdims[2] = {H5S_UNLIMITED, cols};
    hsize_t chunk[2] = {cols == 0 ? 16384 : std::max<hsize_t>(1, 16384 / std::max<std::size_t>(cols, 1)), cols};
    handle space(H5Screate_simple(rank, dims, maxdims), H5Sclose);
    handle plist(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_chunk(plist, rank, chunk);
    if (allocate_early && (H5Pset_alloc_time(plist, H5D_ALLOC_TIME_EARLY) < 0 ||
                           H5Pset_fill_time(plist, H5D_FILL_TIME_NEVER) < 0))
        throw io_error(file, "create", "dataset '" + name + "': HDF5 refused early allocation");
    return {check(H5Dcreate2(loc, name.c_str(), type, space, H5P_DEFAULT, plist, H5P_DEFAULT), file,
                  "dataset '" + name + "' cannot be created"),
            H5Dclose};
}

int posix_descriptor(hid_t file) {
    handle fapl(H5Fget_access_plist(file), H5Pclose);
    void* h = nullptr;
    if (!fapl.valid() || H5Pget_driver(fapl) != H5FD_SEC2 || H5Fget_vfd_handle(file, H5P_DEFAULT, &h) < 0 || !h) return -1;
    return *static_cast<int*>(h);
}

chunk_places::chunk_places(hid_t dset, std::size_t chunk, std::size_t elem_bytes, std::string file)
    : dset_(dset), chunk_(chunk), elem_bytes_(elem_bytes), file_(std::move(file)), extent_(length(dset)) {}

std::uint64_t chunk_places::place(std::uint64_t index) {
    const std::uint64_t c = index / chunk_;
    if (c != chunk_index_) {
        const hsize_t first = c * chunk_;
        if (extent_ <= first) {  // HDF5 allocates the chunk as the extent reaches into it
            const hsize_t reach = first + 1;
            if (H5Dset_extent(dset_, &reach) < 0) throw io_error(file_, "write", "cannot extend a dataset");
            extent_ = reach;
        }
        unsigned filters = 0;
        haddr_t addr = HADDR_UNDEF;
        hsize_t bytes = 0;
        if (H5Dget_chunk_info_by_coord(dset_, &first, &filters, &addr, &bytes) < 0 || addr == HADDR_UNDEF ||
            bytes != chunk_ * elem_bytes_)
            throw io_error(file_, "write", "HDF5 gave no place for a dataset's chunk");
        chunk_index_ = c;
        chunk_addr_ = addr;
    }
    return chunk_addr_ + (index - c * chunk_) * elem_bytes_;
}

void chunk_places::set_length(std::uint64_t n) {
    if (n == extent_) return;
    const hsize_t e = n;
    if (H5Dset_extent(dset_, &e) < 0) throw io_error(file_, "write", "cannot set a dataset's length");
    extent_ = n;
    // a chunk past the new extent is freed
    if (chunk_index_ != ~std::uint64_t{0} && chunk_index_ * chunk_ >= n) chunk_index_ = ~std::uint64_t{0};
}

std::size_t length(hid_t dset) {
    handle space(H5Dget_space(dset), H5Sclose);
    hsize_t cur[2] = {0, 0};
    H5Sget_simple_extent_dims(space, cur, nullptr);
    return static_cast<std::size_t>(cur[0]);
}

void truncate(hid_t dset, std::size_t rows, const std::string& file) {
    handle space(H5Dget_space(dset), H5Sclose);
    hsize_t cur[2] = {0, 0};
    const int rank = H5Sget_simple_extent_dims(space, cur, nullptr);
    cur[0] = rows;
    if (rank < 1 || H5Dset_extent(dset, cur) < 0) throw io_error(file, "write", "cannot shrink a dataset back");
}

namespace {

// Runs `write`, which extends the dataset and fills what it added; if it throws, the
// dataset's extent is put back (what was added would read as zeros) and it rethrows.
template <class F>
void restoring_extent(hid_t dset, const std::string& file, F&& write) {
    const std::size_t before = length(dset);
    try {
        write();
    } catch (...) {
        try { truncate(dset, before, file); } catch (...) {}
        throw;
    }
}

}  // namespace

void append(hid_t dset, hid_t mem_type, const void* data, std::size_t rows, std::size_t cols,
            const std::string& file) {
    if (rows == 0) return;
    restoring_extent(dset, file, [&] {
        const int rank = cols == 0 ? 1 : 2;
        handle fspace(H5Dget_space(dset), H5Sclose);
        hsize_t cur[2] = {0, 0};
        H5Sget_simple_extent_dims(fspace, cur, nullptr);
        hsize_t next[2] = {cur[0] + rows, cols};
        if (H5Dset_extent(dset, next) < 0) throw io_error(file, "write", "cannot extend a dataset");
        handle fs(H5Dget_space(dset), H5Sclose);
        hsize_t start[2] = {cur[0], 0}, count[2] = {rows, cols};
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, nullptr, count, nullptr);
        handle ms(H5Screate_simple(rank, count, nullptr), H5Sclose);
        if (H5Dwrite(dset, mem_type, ms, fs, H5P_DEFAULT, data) < 0)
            throw io_error(file, "write", "dataset write failed (disk full?)");
    });
}

std::size_t chunk_length(hid_t dset, const std::string& file) {
    handle plist(H5Dget_create_plist(dset), H5Pclose);
    hsize_t chunk = 0;
    if (!plist.valid() || H5Pget_layout(plist) != H5D_CHUNKED || H5Pget_chunk(plist, 1, &chunk) != 1 || chunk == 0)
        throw io_error(file, "write", "a 1-D chunked dataset was expected");
    return static_cast<std::size_t>(chunk);
}

bool stored_as_in_memory(hid_t dset, hid_t mem_type) {
    handle ftype(H5Dget_type(dset), H5Tclose);
    handle plist(H5Dget_create_plist(dset), H5Pclose);
    return ftype.valid() && plist.valid() && H5Tequal(ftype, mem_type) > 0 && H5Pget_nfilters(plist) == 0;
}

void append_chunked(hid_t dset, hid_t mem_type, const void* data, std::size_t n, std::size_t elem_bytes,
                    std::size_t chunk, bool raw, const std::string& file) {
    if (n == 0) return;
    if (elem_bytes != H5Tget_size(mem_type)) throw io_error(file, "write", "value size does not match its type");
    restoring_extent(dset, file, [&] {
        const std::size_t at = length(dset);
        // up to the next chunk boundary, then whole chunks, then the rest
        const std::size_t head = std::min<std::size_t>(n, (chunk - at % chunk) % chunk);
        const std::size_t whole = raw ? (n - head) / chunk * chunk : 0;
        const auto* bytes = static_cast<const unsigned char*>(data);
        if (head) append(dset, mem_type, bytes, head, 0, file);
        if (whole) {
            const hsize_t start = at + head, end = start + whole;
            if (H5Dset_extent(dset, &end) < 0) throw io_error(file, "write", "cannot extend a dataset");
            for (std::size_t c = 0; c < whole; c += chunk) {
                const hsize_t offset = start + c;
                if (H5Dwrite_chunk(dset, H5P_DEFAULT, 0, &offset, chunk * elem_bytes, bytes + (head + c) * elem_bytes) < 0)
                    throw io_error(file, "write", "dataset write failed (disk full?)");
            }
        }
        if (const std::size_t rest = n - head - whole) append(dset, mem_type, bytes + (head + whole) * elem_bytes, rest, 0, file);
    });
}

template <class T>
void write_vector(hid_t loc, const std::string& name, const std::vector<T>& v, const std::string& file) {
    hsize_t n = v.size();
    handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
    handle ds(check(H5Dcreate2(loc, name.c_str(), type_of<T>(), space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                    file, "dataset '" + name + "' cannot be created"),
              H5Dclose);
    if (n && H5Dwrite(ds, type_of<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
        throw io_error(file, "write", "dataset '" + name + "'");
}

template <class T>
std::vector<T> read_vector(hid_t loc, const std::string& name, const std::string& file) {
    handle ds = open_dataset(loc, name, file);
    handle space(H5Dget_space(ds), H5Sclose);
    const hssize_t n = H5Sget_simple_extent_npoints(space);
    std::vector<T> v(static_cast<std::size_t>(std::max<hssize_t>(n, 0)));
    if (!v.empty() && H5Dread(ds, type_of<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
        throw io_error(file, "read", "dataset '" + name + "'");
    return v;
}

template void write_vector<double>(hid_t, const std::string&, const std::vector<double>&, const std::string&);
template void write_vector<float>(hid_t, const std::string&, const std::vector<float>&, const std::string&);
template void write_vector<std::uint64_t>(hid_t, const std::string&, const std::vector<std::uint64_t>&, const std::string&);
template void write_vector<std::int64_t>(hid_t, const std::string&, const std::vector<std::int64_t>&, const std::string&);
template void write_vector<std::uint32_t>(hid_t, const std::string&, const std::vector<std::uint32_t>&, const std::string&);
template std::vector<double> read_vector<double>(hid_t, const std::string&, const std::string&);
template std::vector<float> read_vector<float>(hid_t, const std::string&, const std::string&);
template std::vector<std::uint64_t> read_vector<std::uint64_t>(hid_t, const std::string&, const std::string&);
template std::vector<std::uint32_t> read_vector<std::uint32_t>(hid_t, const std::string&, const std::string&);
template std::vector<std::int64_t> read_vector<std::int64_t>(hid_t, const std::string&, const std::string&);

std::vector<std::string> read_strings(hid_t loc, const std::string& name, const std::string& file) {
    handle ds = open_dataset(loc, name, file);
    handle ftype(H5Dget_type(ds), H5Tclose);
    if (H5Tget_class(ftype) != H5T_STRING) throw io_error(file, "read", "dataset '" + name + "' does not hold strings");
    handle space(H5Dget_space(ds), H5Sclose);
    const hssize_t np = H5Sget_simple_extent_npoints(space);
    const std::size_t n = static_cast<std::size_t>(std::max<hssize_t>(np, 0));
    std::vector<std::string> out;
    out.reserve(n);
    if (n == 0) return out;
    handle mtype(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_cset(mtype, H5Tget_cset(ftype));
    if (H5Tis_variable_str(ftype) > 0) {
        H5Tset_size(mtype, H5T_VARIABLE);
        std::vector<char*> buf(n, nullptr);
        if (H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0)
            throw io_error(file, "read", "dataset '" + name + "'");
        for (char* s : buf) out.emplace_back(s ? s : "");
        #if H5_VERSION_GE(1, 12, 0)
        H5Treclaim(mtype, space, H5P_DEFAULT, buf.data());
#else
        H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, buf.data());
#endif
    } else {
        const std::size_t width = H5Tget_size(ftype);
        H5Tset_size(mtype, width);
        H5Tset_strpad(mtype, H5T_STR_NULLPAD);
        std::string buf(n * width, '\0');
        if (H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0)
            throw io_error(file, "read", "dataset '" + name + "'");
        for (std::size_t k = 0; k < n; ++k) {
            std::string s = buf.substr(k * width, width);
            s.resize(std::min(s.find('\0'), s.size()));
            while (!s.empty() && s.back() == ' ') s.pop_back();  // space-padded strings
            out.push_back(std::move(s));
        }
    }
    return out;
}

std::vector<hsize_t> shape(hid_t loc, const std::string& name, const std::string& file) {
    handle ds = open_dataset(loc, name, file);
    handle space(H5Dget_space(ds), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space);
    std::vector<hsize_t> d(static_cast<std::size_t>(std::max(rank, 0)));
    if (rank > 0) H5Sget_simple_extent_dims(space, d.data(), nullptr);
    return d;
}

void write_attr(hid_t obj, const std::string& name, const std::string& value, const std::string& file) {
    handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    handle space(H5Screate(H5S_SCALAR), H5Sclose);
    if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
    handle a(check(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), file,
                   "attribute '" + name + "'"),
             H5Aclose);
    const char* s = value.c_str();
    H5Awrite(a, type, &s);
}

namespace {
template <class T>
void write_scalar_attr(hid_t obj, const std::string& name, T value, hid_t type, const std::string& file) {
    handle space(H5Screate(H5S_SCALAR), H5Sclose);
    if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
    handle a(check(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), file,
                   "attribute '" + name + "'"),
             H5Aclose);
    H5Awrite(a, type, &value);
}
}  // namespace

void write_attr(hid_t obj, const std::string& name, double value, const std::string& file) {
    write_scalar_attr(obj, name, value, H5T_NATIVE_DOUBLE, file);
}
void write_attr(hid_t obj, const std::string& name, std::int64_t value, const std::string& file) {
    write_scalar_attr(obj, name, value, H5T_NATIVE_INT64, file);
}

void write_attr(hid_t obj, const std::string& name, std::uint64_t value, const std::string& file) {
    write_scalar_attr(obj, name, value, H5T_NATIVE_UINT64, file);
}

bool has_attr(hid_t obj, const std::string& name) { return H5Aexists(obj, name.c_str()) > 0; }

std::string read_attr_string(hid_t obj, const std::string& name, const std::string& file) {
    handle a(check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), file, "no attribute '" + name + "'"), H5Aclose);
    handle ftype(H5Aget_type(a), H5Tclose);
    if (H5Tget_class(ftype) != H5T_STRING) throw io_error(file, "read", "attribute '" + name + "' is not a string");
    if (H5Tis_variable_str(ftype) > 0) {
        handle mtype(H5Tcopy(H5T_C_S1), H5Tclose);
        H5Tset_size(mtype, H5T_VARIABLE);
        H5Tset_cset(mtype, H5Tget_cset(ftype));
        char* s = nullptr;
        H5Aread(a, mtype, &s);
        std::string out = s ? s : "";
        H5free_memory(s);
        return out;
    }
    const std::size_t n = H5Tget_size(ftype);
    std::string out(n, '\0');
    handle mtype(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mtype, n);
    H5Tset_cset(mtype, H5Tget_cset(ftype));
    H5Aread(a, mtype, out.data());
    out.resize(out.find('\0') == std::string::npos ? n : out.find('\0'));
    return out;
}

std::uint64_t read_attr_uint64(hid_t obj, const std::string& name, const std::string& file) {
    handle a(check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), file, "no attribute '" + name + "'"), H5Aclose);
    std::uint64_t v = 0;
    if (H5Aread(a, H5T_NATIVE_UINT64, &v) < 0) throw io_error(file, "read", "attribute '" + name + "' is not an integer");
    return v;
}

double read_attr_double(hid_t obj, const std::string& name, const std::string& file) {
    handle a(check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), file, "no attribute '" + name + "'"), H5Aclose);
    double v = 0.0;
    H5Aread(a, H5T_NATIVE_DOUBLE, &v);
    return v;
}

std::vector<std::string> children(hid_t group) {
    std::vector<std::string> names;
    H5G_info_t info;
    if (H5Gget_info(group, &info) < 0) return names;
    for (hsize_t i = 0; i < info.nlinks; ++i) {
        const ssize_t n = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
        std::string s(static_cast<std::size_t>(n), '\0');
        H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, s.data(), static_cast<std::size_t>(n) + 1, H5P_DEFAULT);
        names.push_back(s);
    }
    return names;
}

}  // namespace engram::h5
