#include "nir_h5.hpp"

#include <algorithm>
#include <cstring>

#include "engram/core/errors.hpp"

namespace engram::nir::detail {
namespace {
h5::handle utf8_vlen() {
    h5::handle t(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

h5::handle create(hid_t loc, const std::string& name, hid_t type, hid_t space, const std::string& file) {
    const hid_t id = H5Dcreate2(loc, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (id < 0) throw io_error(file, "write", "dataset '" + name + "' cannot be created");
    return {id, H5Dclose};
}
}  // namespace

void write_string(hid_t loc, const std::string& name, const std::string& value, const std::string& file) {
    const auto type = utf8_vlen();
    h5::handle space(H5Screate(H5S_SCALAR), H5Sclose);
    const auto ds = create(loc, name, type, space, file);
    const char* s = value.c_str();
    if (H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) < 0) throw io_error(file, "write", "dataset '" + name + "'");
}

void write_string_pairs(hid_t loc, const std::string& name,
                        const std::vector<std::pair<std::string, std::string>>& pairs, const std::string& file) {
    const auto type = utf8_vlen();
    hsize_t dims[2] = {pairs.size(), 2};
    h5::handle space(H5Screate_simple(2, dims, nullptr), H5Sclose);
    const auto ds = create(loc, name, type, space, file);
    std::vector<const char*> p;
    for (const auto& [a, b] : pairs) { p.push_back(a.c_str()); p.push_back(b.c_str()); }
    if (!p.empty() && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data()) < 0)
        throw io_error(file, "write", "dataset '" + name + "'");
}

void write_floats(hid_t loc, const std::string& name, const std::vector<float>& v, const std::vector<hsize_t>& shape,
                  const std::string& file) {
    h5::handle space(shape.empty() ? H5Screate(H5S_SCALAR)
                                   : H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr),
                     H5Sclose);
    // Large arrays (weight matrices) are gzip-compressed in chunks, as nir.write does.
    h5::handle plist(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    if (v.size() >= 4096 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
        std::vector<hsize_t> chunk(shape);
        for (std::size_t k = 0; k + 1 < chunk.size(); ++k) chunk[k] = std::min<hsize_t>(chunk[k], 64);
        chunk.back() = std::min<hsize_t>(chunk.back(), 4096);
        H5Pset_chunk(plist, static_cast<int>(chunk.size()), chunk.data());
        H5Pset_deflate(plist, 4);
    }
    const hid_t id = H5Dcreate2(loc, name.c_str(), H5T_IEEE_F32LE, space, H5P_DEFAULT, plist, H5P_DEFAULT);
    if (id < 0) throw io_error(file, "write", "dataset '" + name + "' cannot be created");
    const h5::handle ds(id, H5Dclose);
    if (!v.empty() && H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
        throw io_error(file, "write", "dataset '" + name + "'");
}

void write_double(hid_t loc, const std::string& name, double v, const std::string& file) {
    h5::handle space(H5Screate(H5S_SCALAR), H5Sclose);
    const auto ds = create(loc, name, H5T_IEEE_F64LE, space, file);
    if (H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) < 0)
        throw io_error(file, "write", "dataset '" + name + "'");
}

void write_ints(hid_t loc, const std::string& name, const std::vector<std::int64_t>& v, const std::string& file) {
    hsize_t n = v.size();
    h5::handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
    const auto ds = create(loc, name, H5T_STD_I64LE, space, file);
    if (n && H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
        throw io_error(file, "write", "dataset '" + name + "'");
}

array read_array(hid_t loc, const std::string& name, const std::string& file) {
    const auto ds = h5::open_dataset(loc, name, file);
    h5::handle ftype(H5Dget_type(ds), H5Tclose);
    const auto cls = H5Tget_class(ftype);
    if (cls != H5T_FLOAT && cls != H5T_INTEGER) throw io_error(file, "read", "dataset '" + name + "' is not numeric");
    array a;
    a.single = cls == H5T_FLOAT && H5Tget_size(ftype) == 4;
    a.shape = h5::shape(loc, name, file);
    h5::handle space(H5Dget_space(ds), H5Sclose);
    a.values.resize(static_cast<std::size_t>(std::max<hssize_t>(H5Sget_simple_extent_npoints(space), 0)));
    if (!a.values.empty() && H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.values.data()) < 0)
        throw io_error(file, "read", "dataset '" + name + "'");
    return a;
}

}  // namespace engram::nir::detail
