#pragma once
// CUDA launchers of upsample_bilinear (raw device pointers, on the compute stream): bilinear
// resize to any size, align_corners=False. Taps: boundary/math/upsample_bilinear_math.h, shared
// with the CPU loops (cpu/upsample_bilinear.h). The backward is a gather (one thread
// per input pixel, fixed order): no atomics, reproducible bits.
#include <cstdint>

namespace sfm::cuda {

// y [planes, Ho, Wo] = bilinear resize of x [planes, H, W].
void upsample_bilinear_forward(const float* x, float* y, int64_t planes, int64_t H, int64_t W, int64_t Ho, int64_t Wo);
// gx [planes, H, W] = its adjoint applied to g [planes, Ho, Wo].
void upsample_bilinear_backward(const float* g, float* gx, int64_t planes, int64_t H, int64_t W, int64_t Ho,
                                int64_t Wo);

}  // namespace sfm::cuda
