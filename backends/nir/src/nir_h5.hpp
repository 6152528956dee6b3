#pragma once
// HDF5 pieces NIR needs beyond core/hdf5.hpp: string datasets (scalar and (n, 2)) and
// numeric datasets of any shape read as doubles.
#include <string>
#include <vector>

#include "engram/core/hdf5.hpp"

namespace engram::nir::detail {

// A numeric dataset read as doubles, with its shape (empty for a scalar).
struct array {
    std::vector<double> values;
    std::vector<hsize_t> shape;
    bool single = false;  // stored as float32
};

void write_string(hid_t loc, const std::string& name, const std::string& value, const std::string& file);
// An (n, 2) dataset of variable-length UTF-8 strings: NIR's edge list.
void write_string_pairs(hid_t loc, const std::string& name,
                        const std::vector<std::pair<std::string, std::string>>& pairs, const std::string& file);
void write_floats(hid_t loc, const std::string& name, const std::vector<float>& v,
                  const std::vector<hsize_t>& shape, const std::string& file);
void write_double(hid_t loc, const std::string& name, double v, const std::string& file);
void write_ints(hid_t loc, const std::string& name, const std::vector<std::int64_t>& v, const std::string& file);

array read_array(hid_t loc, const std::string& name, const std::string& file);

}  // namespace engram::nir::detail
