#pragma once
// CUDA launchers of min_reprojection_loss (raw device pointers, on the compute stream);
// shapes as in engine/ops.h, types in boundary/op_types.h, per-pixel math in
// boundary/math/min_reprojection_math.h (shared with cpu/min_reprojection.cpp).
//
// Forward: one thread per target pixel computes, for every source, the 9 projections and
// bilinear samples of its 3x3 window (recomputed, never stored), the SSIM + L1 error, the
// unwarped sources' errors with their hashed noise, and the selection; it writes the
// selection code (and the warped samples only when asked) and the block sums its values in a
// fixed tree (double); a one-block pass adds the block sums in order.
// Backward: one thread per target pixel q gathers dL/dwarped(q) from the neighbours whose
// window holds q (recomputing their windows for the selected source only), then the warp's
// chain gives dL/ddepth(q) and the 12 pose terms, reduced per (batch, source) in a fixed tree
// per block and in block order by a second pass (as the photometric kernel). No atomics:
// bitwise reproducible. The upstream gradient is read on the device.
#include <cstdint>

#include "boundary/op_types.h"

namespace sfm::cuda {

// The same signatures as cpu/min_reprojection.h: loss[0] on the device, chosen
// [B,1,H,W] (required), warped [B,S,C,H,W] (nullable).
void min_reprojection_forward(const float* tgt, const float* srcs, const float* depth, const float* poses,
                              const float* K, MinReprojectionDims d, const MinReprojectionOptions& opt, float* loss,
                              float* chosen, float* warped);
// Gradients of gscale[0] * loss (gscale on the device): gdepth [B,1,H,W], gposes [B,S,6], each nullable.
void min_reprojection_backward(const float* tgt, const float* srcs, const float* depth, const float* poses,
                               const float* K, const float* chosen, MinReprojectionDims d,
                               const MinReprojectionOptions& opt, const float* gscale, float* gdepth, float* gposes);

}  // namespace sfm::cuda
