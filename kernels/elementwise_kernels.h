#pragma once
// Elementwise kernels (device code; kernels/elementwise.cu wraps them). One kernel per op,
// the op a template argument so the shared math switch folds away; grid-stride loops.
#include <algorithm>
#include <cstdint>

#include "boundary/math/elementwise_math.h"
#include "kernels/kernel_compiler.h"
#include "kernels/reduce_kernels.h"

namespace sfm::cuda {
SFM_KERNEL_NS_BEGIN
namespace elem {

template <UnaryOp OP>
SFM_GLOBAL void unary_kernel(const float* x, float* y, int64_t n, float p0, float p1) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    y[i] = math::unary(OP, x[i], p0, p1);
}
template <UnaryOp OP>
SFM_GLOBAL void unary_grad_kernel(const float* x, const float* y, const float* g, float* gx, int64_t n, float p0,
                                  float p1) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    gx[i] = math::unary_grad(OP, x[i], y[i], g[i], p0, p1);
}
template <BinaryOp OP>
SFM_GLOBAL void binary_kernel(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = math::binary(OP, a[i], b[i]);
}

template <UnaryOp OP>
void unary_fwd_as(const float* x, float* y, int64_t n, float p0, float p1) {
  auto* k = &unary_kernel<OP>;
  SFM_LAUNCH(k, dim3(reduce_kernels::elementwise_blocks(n)), dim3(256), x, y, n, p0, p1);
}
template <UnaryOp OP>
void unary_bwd_as(const float* x, const float* y, const float* g, float* gx, int64_t n, float p0, float p1) {
  auto* k = &unary_grad_kernel<OP>;
  SFM_LAUNCH(k, dim3(reduce_kernels::elementwise_blocks(n)), dim3(256), x, y, g, gx, n, p0, p1);
}
template <BinaryOp OP>
void binary_as(const float* a, const float* b, float* out, int64_t n) {
  auto* k = &binary_kernel<OP>;
  SFM_LAUNCH(k, dim3(reduce_kernels::elementwise_blocks(n)), dim3(256), a, b, out, n);
}

inline void launch_unary(UnaryOp op, const float* x, float* y, int64_t n, float p0, float p1) {
  if (n == 0) return;
  switch (op) {
    case UnaryOp::Relu: return unary_fwd_as<UnaryOp::Relu>(x, y, n, p0, p1);
    case UnaryOp::Sigmoid: return unary_fwd_as<UnaryOp::Sigmoid>(x, y, n, p0, p1);
    case UnaryOp::Affine: return unary_fwd_as<UnaryOp::Affine>(x, y, n, p0, p1);
    case UnaryOp::Reciprocal: return unary_fwd_as<UnaryOp::Reciprocal>(x, y, n, p0, p1);
    case UnaryOp::Abs: return unary_fwd_as<UnaryOp::Abs>(x, y, n, p0, p1);
    case UnaryOp::Log: return unary_fwd_as<UnaryOp::Log>(x, y, n, p0, p1);
    case UnaryOp::Exp: return unary_fwd_as<UnaryOp::Exp>(x, y, n, p0, p1);
  }
  fail("unary_forward: unknown op ", (int)op);
}

inline void launch_unary_grad(UnaryOp op, const float* x, const float* y, const float* g, float* gx, int64_t n,
                              float p0, float p1) {
  if (n == 0) return;
  switch (op) {
    case UnaryOp::Relu: return unary_bwd_as<UnaryOp::Relu>(x, y, g, gx, n, p0, p1);
    case UnaryOp::Sigmoid: return unary_bwd_as<UnaryOp::Sigmoid>(x, y, g, gx, n, p0, p1);
    case UnaryOp::Affine: return unary_bwd_as<UnaryOp::Affine>(x, y, g, gx, n, p0, p1);
    case UnaryOp::Reciprocal: return unary_bwd_as<UnaryOp::Reciprocal>(x, y, g, gx, n, p0, p1);
    case UnaryOp::Abs: return unary_bwd_as<UnaryOp::Abs>(x, y, g, gx, n, p0, p1);
    case UnaryOp::Log: return unary_bwd_as<UnaryOp::Log>(x, y, g, gx, n, p0, p1);
    case UnaryOp::Exp: return unary_bwd_as<UnaryOp::Exp>(x, y, g, gx, n, p0, p1);
  }
  fail("unary_backward: unknown op ", (int)op);
}

inline void launch_binary(BinaryOp op, const float* a, const float* b, float* out, int64_t n) {
  if (n == 0) return;
  switch (op) {
    case BinaryOp::Add: return binary_as<BinaryOp::Add>(a, b, out, n);
    case BinaryOp::Sub: return binary_as<BinaryOp::Sub>(a, b, out, n);
    case BinaryOp::Mul: return binary_as<BinaryOp::Mul>(a, b, out, n);
    case BinaryOp::Div: return binary_as<BinaryOp::Div>(a, b, out, n);
  }
  fail("binary_forward: unknown op ", (int)op);
}

// p[0..n) = v (the device side of boundary/device_runtime.h's cuda_fill_f32, kernels/runtime.cu).
SFM_GLOBAL void fill_kernel(float* __restrict__ p, size_t n, float v) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) p[i] = v;
}

inline void launch_fill(float* p, size_t n, float v) {
  if (n == 0) return;
  const size_t blocks = std::min<size_t>((n + 255) / 256, 65536);
  auto* k = &fill_kernel;
  SFM_LAUNCH(k, dim3((unsigned)blocks), dim3(256), p, n, v);
}

}  // namespace elem
SFM_KERNEL_NS_END
}  // namespace sfm::cuda
