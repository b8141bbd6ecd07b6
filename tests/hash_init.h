#pragma once
// Deterministic parameter values from an integer hash of (index, name), identical to
// tests/reference/sfmlearner_ref.py hash_init_: lets the parity fixture skip storing 35M weights.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "models/module.h"

namespace sfm::test {

inline uint32_t fnv1a(const std::string& s) {
  uint32_t h = 0x811C9DC5u;
  for (unsigned char c : s) h = (h ^ c) * 0x01000193u;
  return h;
}
inline uint32_t hash_u32(uint64_t i, uint32_t salt) {
  uint64_t x = (i * 0x9E3779B1ull + (uint64_t)salt * 0x85EBCA77ull) & 0xFFFFFFFFull;
  x ^= x >> 16;
  x = (x * 0x7FEB352Dull) & 0xFFFFFFFFull;
  x ^= x >> 15;
  x = (x * 0x846CA68Bull) & 0xFFFFFFFFull;
  x ^= x >> 16;
  return (uint32_t)x;
}
inline double hash_uniform(uint64_t i, uint32_t salt) { return ((double)hash_u32(i, salt) + 0.5) / 4294967296.0 * 2.0 - 1.0; }

inline void hash_init(Module& m) {
  std::map<std::string, Tensor> sd;
  for (size_t k = 0; k < m.param_names().size(); ++k) {
    const std::string& name = m.param_names()[k];
    const Tensor& p = m.parameters()[k];
    double bound = 0.1;
    if (name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0) {
      int64_t rf = p.dim(2) * p.dim(3);
      bound = std::sqrt(6.0 / (double)((p.dim(1) + p.dim(0)) * rf));
    }
    uint32_t salt = fnv1a(name);
    std::vector<float> v(p.numel());
    for (size_t i = 0; i < v.size(); ++i) v[i] = (float)(bound * hash_uniform(i, salt));
    sd[name] = Tensor::from_vector(v, p.shape());
  }
  m.load_state_dict(sd, "hash_init");
}

}  // namespace sfm::test
