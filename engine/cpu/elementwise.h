#pragma once
// CPU elementwise loops. The per-element functions live in engine/math/elementwise_math.h.
#include <cstdint>

#include "engine/parallel.h"

namespace sfm::cpu {

template <class T, class F>
void map_unary(const T* a, T* out, int64_t n, F f) {
  parallel_for(n, [&](int64_t i) { out[i] = f(a[i]); });
}
template <class T, class F>
void map_binary(const T* a, const T* b, T* out, int64_t n, F f) {
  parallel_for(n, [&](int64_t i) { out[i] = f(a[i], b[i]); });
}
template <class T, class F>
void map_ternary(const T* a, const T* b, const T* c, T* out, int64_t n, F f) {
  parallel_for(n, [&](int64_t i) { out[i] = f(a[i], b[i], c[i]); });
}

}  // namespace sfm::cpu
