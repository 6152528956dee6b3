#include "engram/datasets/audio.hpp"

#include <algorithm>

#include "engram/core/errors.hpp"

namespace engram {
namespace {

using h5::handle;

herr_t reclaim(hid_t type, hid_t space, void* buf) {
#if H5_VERSION_GE(1, 12, 0)
    return H5Treclaim(type, space, H5P_DEFAULT, buf);
#else
    return H5Dvlen_reclaim(type, space, H5P_DEFAULT, buf);
#endif
}

hsize_t extent_1d(hid_t dset, const std::string& name, const std::string& file) {
    handle space(H5Dget_space(dset), H5Sclose);
    if (H5Sget_simple_extent_ndims(space) != 1)
        throw io_error(file, "read", "dataset '" + name + "' must be one-dimensional (one entry per sample)");
    hsize_t n = 0;
    H5Sget_simple_extent_dims(space, &n, nullptr);
    return n;
}

// Element i of a 1-D variable-length dataset, converted to T by HDF5.
template <class T>
std::vector<T> read_vlen_row(hid_t dset, hid_t mem_base, hsize_t i, const std::string& name,
                             const std::string& file) {
    handle fspace(H5Dget_space(dset), H5Sclose);
    const hsize_t one = 1;
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &i, nullptr, &one, nullptr);
    handle mspace(H5Screate_simple(1, &one, nullptr), H5Sclose);
    handle mtype(H5Tvlen_create(mem_base), H5Tclose);
    hvl_t v{0, nullptr};
    if (H5Dread(dset, mtype, mspace, fspace, H5P_DEFAULT, &v) < 0)
        throw io_error(file, "read", "dataset '" + name + "', sample " + std::to_string(i) +
                                         ": cannot read or convert the variable-length entry");
    std::vector<T> out(static_cast<const T*>(v.p), static_cast<const T*>(v.p) + v.len);
    reclaim(mtype, mspace, &v);
    return out;
}

void require_vlen(hid_t dset, const std::string& name, const std::string& file) {
    handle t(H5Dget_type(dset), H5Tclose);
    if (H5Tget_class(t) != H5T_VLEN)
        throw io_error(file, "read", "dataset '" + name + "' is not a variable-length (ragged) array");
}

std::vector<int> read_ints(hid_t loc, const std::string& name, const std::string& file) {
    const auto v = h5::read_vector<std::int64_t>(loc, name, file);
    return {v.begin(), v.end()};
}

}  // namespace

shd_file::shd_file(const std::string& path) : path_(path), file_(h5::open_file(path)) {
    times_ = h5::open_dataset(file_, "spikes/times", path);
    units_ = h5::open_dataset(file_, "spikes/units", path);
    require_vlen(times_, "spikes/times", path);
    require_vlen(units_, "spikes/units", path);
    labels_ = read_ints(file_, "labels", path);
    const hsize_t nt = extent_1d(times_, "spikes/times", path), nu = extent_1d(units_, "spikes/units", path);
    if (nt != labels_.size() || nu != labels_.size())
        throw io_error(path, "read", "spikes/times has " + std::to_string(nt) + " samples, spikes/units " +
                                         std::to_string(nu) + ", labels " + std::to_string(labels_.size()));
    if (h5::exists(file_, "extra/speaker")) {
        speakers_ = read_ints(file_, "extra/speaker", path);
        if (speakers_.size() != labels_.size())
            throw io_error(path, "read", "extra/speaker has " + std::to_string(speakers_.size()) +
                                             " entries for " + std::to_string(labels_.size()) + " samples");
    }
    if (h5::exists(file_, "extra/keys")) keys_ = h5::read_strings(file_, "extra/keys", path);
}

audio_sample shd_file::read(std::size_t i) const {
    if (i >= labels_.size())
        throw io_error(path_, "read", "sample " + std::to_string(i) + " requested, the file has " +
                                          std::to_string(labels_.size()));
    audio_sample s;
    s.times_s = read_vlen_row<float>(times_, H5T_NATIVE_FLOAT, i, "spikes/times", path_);
    s.channels = read_vlen_row<std::uint16_t>(units_, H5T_NATIVE_UINT16, i, "spikes/units", path_);
    if (s.times_s.size() != s.channels.size())
        throw io_error(path_, "read", "sample " + std::to_string(i) + " has " + std::to_string(s.times_s.size()) +
                                          " spike times but " + std::to_string(s.channels.size()) + " units");
    s.label = labels_[i];
    s.speaker = speakers_.empty() ? -1 : speakers_[i];
    return s;
}

ntidigits_file::ntidigits_file(const std::string& path, const std::string& split)
    : path_(path), split_(split), file_(h5::open_file(path)) {
    if (split != "train" && split != "test")
        throw io_error(path, "read", "split must be 'train' or 'test', not '" + split + "'");
    ids_ = h5::read_strings(file_, split + "_labels", path);
    addresses_ = h5::open_group(file_, split + "_addresses", path);
    timestamps_ = h5::open_group(file_, split + "_timestamps", path);
}

std::string ntidigits_file::digits_of(const std::string& id) {
    const std::size_t dash = id.rfind('-');
    std::string d = dash == std::string::npos ? id : id.substr(dash + 1);
    if (d.size() > 1 && (d.back() == 'a' || d.back() == 'b')) d.pop_back();  // TIDIGITS take letter
    return d;
}

int ntidigits_file::label_of(const std::string& digits) {
    if (digits.size() != 1) return -1;
    const char c = digits[0];
    if (c >= '0' && c <= '9') return c - '0';
    if (c == 'z') return 0;
    if (c == 'o') return 10;
    return -1;
}

ntidigits_sample ntidigits_file::read(std::size_t i) const {
    if (i >= ids_.size())
        throw io_error(path_, "read", "sample " + std::to_string(i) + " requested, " + split_ + " has " +
                                          std::to_string(ids_.size()));
    ntidigits_sample s;
    s.id = ids_[i];
    s.digits = digits_of(s.id);
    s.label = label_of(s.digits);
    const auto require = [&](hid_t group, const char* suffix) {
        if (H5Lexists(group, s.id.c_str(), H5P_DEFAULT) <= 0)
            throw io_error(path_, "read", "sample " + std::to_string(i) + " ('" + s.id + "'): no dataset '" + split_ +
                                              suffix + "/" + s.id + "'");
    };
    require(addresses_, "_addresses");
    require(timestamps_, "_timestamps");
    s.times_s = h5::read_vector<double>(timestamps_, s.id, path_);
    const auto addr = h5::read_vector<std::uint32_t>(addresses_, s.id, path_);
    if (addr.size() != s.times_s.size())
        throw io_error(path_, "read", "sample " + std::to_string(i) + " ('" + s.id + "') has " +
                                          std::to_string(s.times_s.size()) + " time stamps but " +
                                          std::to_string(addr.size()) + " addresses");
    s.channels.reserve(addr.size());
    for (std::size_t k = 0; k < addr.size(); ++k) {
        if (addr[k] > 0xFFFFu)
            throw io_error(path_, "read", "sample " + std::to_string(i) + " ('" + s.id + "'), spike " +
                                              std::to_string(k) + ": address " + std::to_string(addr[k]) +
                                              " out of range");
        s.channels.push_back(static_cast<std::uint16_t>(addr[k]));
    }
    return s;
}

}  // namespace engram
