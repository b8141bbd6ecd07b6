#pragma once
// CUDA resampling launchers (raw device pointers, on the compute stream). Per-pixel weights
// are boundary/math/resample_math.h's, shared with the CPU loops (cpu/resample.h).
// The backward passes are gathers (one thread per input pixel adds the outputs that read
// it, in a fixed order): no atomics, reproducible bits.
#include <cstdint>

namespace sfm::cuda {

// y [planes, 2H, 2W] = bilinear x2 upsampling (align_corners=False) of x [planes, H, W].
void upsample2x_forward(const float* x, float* y, int64_t planes, int64_t H, int64_t W);
// gx [planes, H, W] = its adjoint applied to g [planes, 2H, 2W].
void upsample2x_backward(const float* g, float* gx, int64_t planes, int64_t H, int64_t W);
// y [planes, h, w]: the mean of each output's adaptive-average-pool bin of x [planes, H, W]
// (for H = f h, W = f w: f x f block means).
void area_forward(const float* x, float* y, int64_t planes, int64_t H, int64_t W, int64_t h, int64_t w);
// gx [planes, H, W] = its adjoint applied to g [planes, h, w].
void area_backward(const float* g, float* gx, int64_t planes, int64_t H, int64_t W, int64_t h, int64_t w);

}  // namespace sfm::cuda
