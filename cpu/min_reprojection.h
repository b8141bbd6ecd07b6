#pragma once
// CPU implementation of min_reprojection_loss (Monodepth2's photometric objective fused with
// the warp; see engine/ops.h). The per-pixel arithmetic is boundary/math/min_reprojection_math.h
// (and warp_math.h); these loops only schedule it, parallel over (batch, row) items with
// per-item partial sums in double added in a fixed order, so every result is independent of
// the thread count. The same signatures as the CUDA launchers (kernels/min_reprojection.h):
// the loss is written to loss[0], the upstream gradient read from gscale[0].
#include <cstdint>

#include "boundary/op_types.h"

namespace sfm::cpu {

// loss[0] = the mean over B*H*W of the selected per-pixel error; chosen [B,1,H,W] receives the
// selection codes (required: the backward reads them); warped [B,S,C,H,W] when non-null.
template <class T>
void min_reprojection_forward(const T* tgt, const T* srcs, const T* depth, const T* poses, const T* K,
                              MinReprojectionDims d, const MinReprojectionOptions& opt, T* loss, T* chosen,
                              T* warped);
// Gradients of gscale[0] * loss given the forward's codes: gdepth [B,1,H,W], gposes [B,S,6]
// (each nullable).
template <class T>
void min_reprojection_backward(const T* tgt, const T* srcs, const T* depth, const T* poses, const T* K,
                               const T* chosen, MinReprojectionDims d, const MinReprojectionOptions& opt,
                               const T* gscale, T* gdepth, T* gposes);

}  // namespace sfm::cpu
