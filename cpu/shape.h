#pragma once
// CPU copies for the shape ops. Planes are the N*C images of an NCHW tensor.
#include <cstdint>
#include <cstring>

#include "cpu/parallel.h"

namespace sfm::cpu {

// Copies `count` blocks of `len` elements: dst[i*dst_stride + j] = src[i*src_stride + j].
template <class T>
void copy_blocks(const T* src, int64_t src_stride, T* dst, int64_t dst_stride, int64_t len, int64_t count) {
  parallel_for(count, [&](int64_t i) { std::memcpy(dst + i * dst_stride, src + i * src_stride, len * sizeof(T)); },
               count * len < kParallelGrain ? count + 1 : 1);
}

// Top-left crop of each plane (H,W) -> (h,w), or its adjoint (scatter back, zero elsewhere).
template <class T>
void crop_planes(const T* src, T* dst, int64_t planes, int64_t H, int64_t W, int64_t h, int64_t w) {
  parallel_for(planes * h, [&](int64_t r) {
    int64_t p = r / h, i = r % h;
    std::memcpy(dst + (p * h + i) * w, src + (p * H + i) * W, w * sizeof(T));
  }, planes * h * w < kParallelGrain ? planes * h + 1 : 1);
}
template <class T>
void uncrop_planes(const T* src, T* dst, int64_t planes, int64_t H, int64_t W, int64_t h, int64_t w) {
  std::memset(dst, 0, planes * H * W * sizeof(T));
  parallel_for(planes * h, [&](int64_t r) {
    int64_t p = r / h, i = r % h;
    std::memcpy(dst + (p * H + i) * W, src + (p * h + i) * w, w * sizeof(T));
  }, planes * h * w < kParallelGrain ? planes * h + 1 : 1);
}

}  // namespace sfm::cpu
