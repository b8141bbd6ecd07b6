#pragma once
// upsample_bilinear kernels (device code; kernels/upsample_bilinear.cu wraps them, the emulated
// tests run them on the host). Forward: one thread per output element. Backward: one thread per
// input element, a gather over the outputs whose taps read it (readers and weights from
// boundary/math/upsample_bilinear_math.h), summed in the CPU's order (along x for each output
// row, then along y): no atomics, reproducible bits.
#include <algorithm>
#include <cstdint>

#include "boundary/math/upsample_bilinear_math.h"
#include "kernels/kernel_compiler.h"
#include "kernels/reduce_kernels.h"

namespace sfm::cuda {
SFM_KERNEL_NS_BEGIN
namespace upsample_bilinear_kernels {

SFM_GLOBAL void resize_bilinear_fwd_kernel(const float* x, float* y, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                           FastDiv ohw, FastDiv ow, int64_t total) {
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    uint32_t p, r, oy, ox;
    ohw.divmod((uint32_t)e, p, r);
    ow.divmod(r, oy, ox);
    int64_t y0, y1, x0, x1;
    float wy0, wy1, wx0, wx1;
    math::resize_bilinear_taps<float>(oy, H, Ho, y0, y1, wy0, wy1);
    math::resize_bilinear_taps<float>(ox, W, Wo, x0, x1, wx0, wx1);
    const float* r0 = x + ((int64_t)p * H + y0) * W;
    const float* r1 = x + ((int64_t)p * H + y1) * W;
    y[e] = wy0 * (wx0 * r0[x0] + wx1 * r0[x1]) + wy1 * (wx0 * r1[x0] + wx1 * r1[x1]);
  }
}

SFM_GLOBAL void resize_bilinear_bwd_kernel(const float* g, float* gx, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                           FastDiv hw, FastDiv wd, int64_t total) {
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    uint32_t p, r, iy, ix;
    hw.divmod((uint32_t)e, p, r);
    wd.divmod(r, iy, ix);
    int64_t ylo, yhi, xlo, xhi;
    math::resize_bilinear_readers(iy, H, Ho, ylo, yhi);
    math::resize_bilinear_readers(ix, W, Wo, xlo, xhi);
    const float* gp = g + (int64_t)p * Ho * Wo;
    float acc = 0.f;
    for (int64_t oy = ylo; oy < yhi; ++oy) {
      const float wy = math::resize_bilinear_weight<float>(oy, iy, H, Ho);
      if (wy == 0.f) continue;  // (the CPU's along-x sum of this row is then never used either)
      float t = 0.f;
      for (int64_t ox = xlo; ox < xhi; ++ox) t += math::resize_bilinear_weight<float>(ox, ix, W, Wo) * gp[oy * Wo + ox];
      acc += wy * t;
    }
    gx[e] = acc;
  }
}

inline void launch_upsample_bilinear_forward(const float* x, float* y, int64_t planes, int64_t H, int64_t W,
                                             int64_t Ho, int64_t Wo) {
  const int64_t total = planes * Ho * Wo;
  if (total == 0) return;
  check32("upsample_bilinear forward", std::max(total, planes * H * W));
  auto* k = &resize_bilinear_fwd_kernel;
  SFM_LAUNCH(k, dim3(reduce_kernels::elementwise_blocks(total)), dim3(256), x, y, H, W, Ho, Wo, FastDiv((uint32_t)(Ho * Wo)),
             FastDiv((uint32_t)Wo), total);
}
inline void launch_upsample_bilinear_backward(const float* g, float* gx, int64_t planes, int64_t H, int64_t W,
                                              int64_t Ho, int64_t Wo) {
  const int64_t total = planes * H * W;
  if (total == 0) return;
  check32("upsample_bilinear backward", std::max(total, planes * Ho * Wo));
  auto* k = &resize_bilinear_bwd_kernel;
  SFM_LAUNCH(k, dim3(reduce_kernels::elementwise_blocks(total)), dim3(256), g, gx, H, W, Ho, Wo, FastDiv((uint32_t)(H * W)),
             FastDiv((uint32_t)W), total);
}

}  // namespace upsample_bilinear_kernels
SFM_KERNEL_NS_END
}  // namespace sfm::cuda
