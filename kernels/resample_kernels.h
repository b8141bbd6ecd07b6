#pragma once
// Resampling kernels (device code; kernels/resample.cu wraps them). One thread per output
// element in the forward passes, one per input element in the backward passes; the weights
// and reader ranges come from boundary/math/resample_math.h. The backward sums run in the
// CPU's order (along x for each output row, then along y), so both backends round alike.
#include <algorithm>
#include <cstdint>

#include "boundary/math/resample_math.h"
#include "kernels/kernel_compiler.h"
#include "kernels/reduce_kernels.h"

namespace sfm::cuda {
SFM_KERNEL_NS_BEGIN
namespace resample_kernels {

SFM_GLOBAL void upsample2x_fwd_kernel(const float* x, float* y, int64_t H, int64_t W, FastDiv ohw, FastDiv ow,
                                      int64_t total) {
  const int64_t Wo = 2 * W;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    uint32_t p, r, oy, ox;
    ohw.divmod((uint32_t)e, p, r);
    ow.divmod(r, oy, ox);
    int64_t y0, y1, x0, x1;
    float wy0, wy1, wx0, wx1;
    math::upsample2x_taps<float>(oy, H, y0, y1, wy0, wy1);
    math::upsample2x_taps<float>(ox, W, x0, x1, wx0, wx1);
    const float* r0 = x + ((int64_t)p * H + y0) * W;
    const float* r1 = x + ((int64_t)p * H + y1) * W;
    y[(int64_t)p * 2 * H * Wo + (int64_t)oy * Wo + ox] =
        wy0 * (wx0 * r0[x0] + wx1 * r0[x1]) + wy1 * (wx0 * r1[x0] + wx1 * r1[x1]);
  }
}

SFM_GLOBAL void upsample2x_bwd_kernel(const float* g, float* gx, int64_t H, int64_t W, FastDiv hw, FastDiv wd,
                                      int64_t total) {
  const int64_t Ho = 2 * H, Wo = 2 * W;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    uint32_t p, r, iy, ix;
    hw.divmod((uint32_t)e, p, r);
    wd.divmod(r, iy, ix);
    int64_t ylo, yhi, xlo, xhi;
    math::upsample2x_readers(iy, H, ylo, yhi);
    math::upsample2x_readers(ix, W, xlo, xhi);
    const float* gp = g + (int64_t)p * Ho * Wo;
    float acc = 0.f;
    for (int64_t oy = ylo; oy < yhi; ++oy) {
      const float wy = math::upsample2x_weight<float>(oy, iy, H);
      float t = 0.f;
      for (int64_t ox = xlo; ox < xhi; ++ox) t += math::upsample2x_weight<float>(ox, ix, W) * gp[oy * Wo + ox];
      if (wy != 0.f) acc += wy * t;
    }
    gx[e] = acc;
  }
}

SFM_GLOBAL void area_fwd_kernel(const float* x, float* y, int64_t H, int64_t W, int64_t h, int64_t w, FastDiv ohw,
                                FastDiv ow, int64_t total) {
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    uint32_t p, r, oy, ox;
    ohw.divmod((uint32_t)e, p, r);
    ow.divmod(r, oy, ox);
    const int64_t y0 = math::area_start(oy, H, h), y1 = math::area_end(oy, H, h);
    const int64_t x0 = math::area_start(ox, W, w), x1 = math::area_end(ox, W, w);
    const float* xp = x + (int64_t)p * H * W;
    float acc = 0.f;
    for (int64_t iy = y0; iy < y1; ++iy)
      for (int64_t ix = x0; ix < x1; ++ix) acc += xp[iy * W + ix];
    y[e] = acc / (float)((y1 - y0) * (x1 - x0));
  }
}

SFM_GLOBAL void area_bwd_kernel(const float* g, float* gx, int64_t H, int64_t W, int64_t h, int64_t w, FastDiv hw,
                                FastDiv wd, int64_t total) {
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    uint32_t p, r, iy, ix;
    hw.divmod((uint32_t)e, p, r);
    wd.divmod(r, iy, ix);
    int64_t ylo, yhi, xlo, xhi;
    math::area_readers(iy, H, h, ylo, yhi);
    math::area_readers(ix, W, w, xlo, xhi);
    const float* gp = g + (int64_t)p * h * w;
    float acc = 0.f;
    for (int64_t oy = ylo; oy < yhi; ++oy) {
      const float wy = math::area_weight<float>(oy, iy, H, h);
      float t = 0.f;
      for (int64_t ox = xlo; ox < xhi; ++ox) t += math::area_weight<float>(ox, ix, W, w) * gp[oy * w + ox];
      if (wy != 0.f) acc += wy * t;
    }
    gx[e] = acc;
  }
}

inline void launch_upsample2x_forward(const float* x, float* y, int64_t planes, int64_t H, int64_t W) {
  const int64_t total = planes * 4 * H * W;
  if (total == 0) return;
  check32("upsample2x forward", total);
  auto* k = &upsample2x_fwd_kernel;
  SFM_LAUNCH(k, dim3(reduce_kernels::elementwise_blocks(total)), dim3(256), x, y, H, W, FastDiv((uint32_t)(4 * H * W)),
             FastDiv((uint32_t)(2 * W)), total);
}
inline void launch_upsample2x_backward(const float* g, float* gx, int64_t planes, int64_t H, int64_t W) {
  const int64_t total = planes * H * W;
  if (total == 0) return;
  check32("upsample2x backward", 4 * total);
  auto* k = &upsample2x_bwd_kernel;
  SFM_LAUNCH(k, dim3(reduce_kernels::elementwise_blocks(total)), dim3(256), g, gx, H, W, FastDiv((uint32_t)(H * W)),
             FastDiv((uint32_t)W), total);
}
inline void launch_area_forward(const float* x, float* y, int64_t planes, int64_t H, int64_t W, int64_t h, int64_t w) {
  const int64_t total = planes * h * w;
  if (total == 0) return;
  check32("area forward", std::max(total, planes * H * W));
  auto* k = &area_fwd_kernel;
  SFM_LAUNCH(k, dim3(reduce_kernels::elementwise_blocks(total)), dim3(256), x, y, H, W, h, w, FastDiv((uint32_t)(h * w)),
             FastDiv((uint32_t)w), total);
}
inline void launch_area_backward(const float* g, float* gx, int64_t planes, int64_t H, int64_t W, int64_t h,
                                 int64_t w) {
  const int64_t total = planes * H * W;
  if (total == 0) return;
  check32("area backward", std::max(total, planes * h * w));
  auto* k = &area_bwd_kernel;
  SFM_LAUNCH(k, dim3(reduce_kernels::elementwise_blocks(total)), dim3(256), g, gx, H, W, h, w, FastDiv((uint32_t)(H * W)),
             FastDiv((uint32_t)W), total);
}

}  // namespace resample_kernels
SFM_KERNEL_NS_END
}  // namespace sfm::cuda
