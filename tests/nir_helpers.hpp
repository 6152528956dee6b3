#pragma once
// Writing NIR graphs by hand, as Python's nir.write lays them out: string datasets,
// float64 arrays (numpy's default), int64 shapes and an (n, 2) edge list.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engram/core/hdf5.hpp"

namespace engram::test {

inline void put_string(hid_t loc, const std::string& name, const std::string& v) {
    h5::handle t(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    h5::handle sp(H5Screate(H5S_SCALAR), H5Sclose);
    h5::handle ds(H5Dcreate2(loc, name.c_str(), t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    const char* s = v.c_str();
    H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s);
}

inline void put_edges(hid_t loc, const std::vector<std::pair<std::string, std::string>>& e) {
    h5::handle t(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hsize_t dims[2] = {e.size(), 2};
    h5::handle sp(H5Screate_simple(2, dims, nullptr), H5Sclose);
    h5::handle ds(H5Dcreate2(loc, "edges", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    std::vector<const char*> p;
    for (const auto& [a, b] : e) { p.push_back(a.c_str()); p.push_back(b.c_str()); }
    H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data());
}

// numpy's default float64, as Python writers produce it; an empty shape is a scalar
inline void put_array(hid_t loc, const std::string& name, const std::vector<double>& v, std::vector<hsize_t> shape) {
    h5::handle sp(shape.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr), H5Sclose);
    h5::handle ds(H5Dcreate2(loc, name.c_str(), H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
}

// int64, as shapes, strides and kernel sizes come from Python; an empty shape is a scalar
inline void put_ints(hid_t loc, const std::string& name, const std::vector<std::int64_t>& v, bool scalar = false) {
    hsize_t n = v.size();
    h5::handle sp(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), H5Sclose);
    h5::handle ds(H5Dcreate2(loc, name.c_str(), H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
}

// A NIR file under construction: /version, /node (a NIRGraph), /node/nodes/<name>.
// The file is complete when the object (and every group it handed out) is destroyed.
class nir_file {
public:
    explicit nir_file(const std::string& path) {
        h5::silence_errors();
        f_ = h5::handle(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
        put_string(f_, "version", "1.0.0");
        top_ = h5::handle(H5Gcreate2(f_, "node", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
        put_string(top_, "type", "NIRGraph");
        nodes_ = h5::handle(H5Gcreate2(top_, "nodes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    }
    h5::handle node(const std::string& name, const std::string& type) {
        h5::handle g(H5Gcreate2(nodes_, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
        put_string(g, "type", type);
        return g;
    }
    void edges(const std::vector<std::pair<std::string, std::string>>& e) { put_edges(top_, e); }
    hid_t top() const { return top_; }

private:
    h5::handle f_, top_, nodes_;
};

}  // namespace engram::test
