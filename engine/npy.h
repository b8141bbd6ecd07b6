#pragma once
// NumPy .npy files (version 1.0/2.0, little-endian float32 or float64, C order): depth
// ground truth, saved predictions. Writes are atomic (tmp + rename).
#include <cstdint>
#include <string>
#include <vector>

namespace sfm {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  // converted to float32 when the file holds float64
};

// Throws sfm::Error naming the file on a bad magic, header, dtype ('<f4' or '<f8' only),
// Fortran order, or a size mismatch.
NpyArray load_npy(const std::string& path);
// The same from the file's bytes; `name` is used in the messages (the fuzz target calls it).
NpyArray parse_npy(const std::string& bytes, const std::string& name);
void save_npy(const std::string& path, const float* data, const std::vector<int64_t>& shape);

}  // namespace sfm
