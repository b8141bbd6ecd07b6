#pragma once
// Shape-copy kernels (device code; kernels/shape.cu wraps them). One thread per destination
// element, so every destination element is written exactly once (the uncrop writes its
// zeros itself: no separate memset).
#include <algorithm>
#include <cstdint>

#include "kernels/kernel_compiler.h"
#include "kernels/reduce_kernels.h"

namespace sfm::cuda {
SFM_KERNEL_NS_BEGIN
namespace shape_kernels {

SFM_GLOBAL void copy_blocks_kernel(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, FastDiv len,
                                   int64_t total) {
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    uint32_t i, j;
    len.divmod((uint32_t)e, i, j);
    dst[(int64_t)i * dst_stride + j] = src[(int64_t)i * src_stride + j];
  }
}

// dst (planes,h,w) from src (planes,H,W).
SFM_GLOBAL void crop_kernel(const float* src, float* dst, FastDiv hw_small, FastDiv w_small, int64_t H, int64_t W,
                            int64_t total) {
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    uint32_t p, r, i, j;
    hw_small.divmod((uint32_t)e, p, r);
    w_small.divmod(r, i, j);
    dst[e] = src[((int64_t)p * H + i) * W + j];
  }
}

// dst (planes,H,W) from src (planes,h,w), zero outside the top-left h x w.
SFM_GLOBAL void uncrop_kernel(const float* src, float* dst, FastDiv HW, FastDiv Wd, int64_t h, int64_t w,
                              int64_t total) {
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    uint32_t p, r, i, j;
    HW.divmod((uint32_t)e, p, r);
    Wd.divmod(r, i, j);
    dst[e] = ((int64_t)i < h && (int64_t)j < w) ? src[((int64_t)p * h + i) * w + j] : 0.f;
  }
}

inline void launch_copy_blocks(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t len,
                               int64_t count) {
  const int64_t total = len * count;
  if (total == 0) return;
  check32("copy_blocks", total);
  auto* k = &copy_blocks_kernel;
  SFM_LAUNCH(k, dim3(reduce_kernels::elementwise_blocks(total)), dim3(256), src, src_stride, dst, dst_stride,
             FastDiv((uint32_t)len), total);
}

inline void launch_crop(const float* src, float* dst, int64_t planes, int64_t H, int64_t W, int64_t h, int64_t w) {
  const int64_t total = planes * h * w;
  if (total == 0) return;
  check32("crop", planes * H * W);
  auto* k = &crop_kernel;
  SFM_LAUNCH(k, dim3(reduce_kernels::elementwise_blocks(total)), dim3(256), src, dst, FastDiv((uint32_t)(h * w)),
             FastDiv((uint32_t)w), H, W, total);
}

inline void launch_uncrop(const float* src, float* dst, int64_t planes, int64_t H, int64_t W, int64_t h, int64_t w) {
  const int64_t total = planes * H * W;
  if (total == 0) return;
  check32("uncrop", total);
  auto* k = &uncrop_kernel;
  SFM_LAUNCH(k, dim3(reduce_kernels::elementwise_blocks(total)), dim3(256), src, dst, FastDiv((uint32_t)(H * W)),
             FastDiv((uint32_t)W), h, w, total);
}

}  // namespace shape_kernels
SFM_KERNEL_NS_END
}  // namespace sfm::cuda
