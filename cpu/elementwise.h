#pragma once
// CPU elementwise loops. The per-element functions live in boundary/math/elementwise_math.h.
#include <cstdint>

#include "boundary/math/elementwise_math.h"
#include "cpu/parallel.h"

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

// The op layer's form, the same signatures as the CUDA launchers (kernels/elementwise.h).
template <class T> void unary_forward(UnaryOp op, const T* x, T* y, int64_t n, T p0, T p1) {
  map_unary(x, y, n, [=](T v) { return math::unary(op, v, p0, p1); });
}
template <class T> void unary_backward(UnaryOp op, const T* x, const T* y, const T* g, T* gx, int64_t n, T p0, T p1) {
  map_ternary(x, y, g, gx, n, [=](T xv, T yv, T gv) { return math::unary_grad(op, xv, yv, gv, p0, p1); });
}
template <class T> void binary_forward(BinaryOp op, const T* a, const T* b, T* out, int64_t n) {
  map_binary(a, b, out, n, [=](T u, T v) { return math::binary(op, u, v); });
}

}  // namespace sfm::cpu
