#pragma once
// 64-bit FNV-1a over bytes: a fixed, platform-independent fingerprint (seeds keyed by name, and
// checks that two copies of a buffer hold the same bits). Not for hash tables of hostile keys.
#include <cstddef>
#include <cstdint>
#include <string>

namespace sfm {

constexpr uint64_t kFnv1aOffset = 1469598103934665603ull;

// Continues h over n bytes at p (start from kFnv1aOffset).
inline uint64_t fnv1a64(const void* p, size_t n, uint64_t h = kFnv1aOffset) {
  const unsigned char* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}
inline uint64_t fnv1a64(const std::string& s) { return fnv1a64(s.data(), s.size()); }

}  // namespace sfm
