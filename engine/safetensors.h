#pragma once
// safetensors: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"key": "value"}}, then the raw little-endian data (offsets relative to
// the end of the header). Readers validate everything before trusting it; writers go
// through a temporary file and a rename, so a crash never leaves a half-written file.
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace sfm {

struct SafeTensors {
  std::map<std::string, Tensor> tensors;  // CPU tensors (F32 or F64; F16/BF16 are rejected)
  std::map<std::string, std::string> metadata;
};

// Throws sfm::Error naming the file and the problem (truncated, header too large, bad JSON,
// unknown dtype, shape/offset mismatch, offsets outside the file, overlapping tensors).
SafeTensors load_safetensors(const std::string& path);
// The same from the file's bytes; `name` is used in the messages (the fuzz target calls it).
SafeTensors parse_safetensors(const std::string& bytes, const std::string& name);
// Tensors are written in name order (any device; copied to the host). Atomic (tmp + rename).
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Largest header accepted (the format's own limit is 100 MB).
constexpr uint64_t kMaxSafetensorsHeader = 100ull << 20;

}  // namespace sfm
