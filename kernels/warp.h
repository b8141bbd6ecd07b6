#pragma once
// CUDA geometry launchers (raw device pointers, on the compute stream): pose_vec2mat,
// inverse_warp and the fused photometric loss. Per-pixel math: boundary/math/warp_math.h,
// shared with the CPU loops (cpu/warp.cpp); shapes as in engine/ops.h, types in boundary/op_types.h.
//
// One thread per target pixel: the projection and the bilinear taps are computed once and
// reused across channels (and, in the photometric loss, the depth is read once for all
// sources). Pose gradients: each pixel's 12 dL/dM, dL/dm terms are summed per block in a
// fixed tree (double), the block partials per (batch, source) in a fixed order by a second
// pass, which also applies the pose Jacobian (in double). The source-image gradient of
// inverse_warp (computed only when asked) is a scatter: it accumulates in 64-bit fixed
// point with integer atomics (exact and order-independent, so reproducible), scaled from
// max|gout| so that no sum can overflow. Scalar upstream gradients are read on the device.
#include <cstdint>

#include "boundary/op_types.h"

namespace sfm::cuda {

// pose [B,6] -> Rt [B,3,4]; backward: gRt [B,3,4] -> gpose [B,6].
void pose_vec2mat_forward(const float* pose, int64_t B, RotationMode mode, float* Rt);
void pose_vec2mat_backward(const float* pose, const float* gRt, int64_t B, RotationMode mode, float* gpose);

// out [B,C,H,W] = inverse_warp(src, depth [B,1,H,W], pose [B,6], K [B,3,3]); valid [B,1,H,W] nullable.
// The same signatures as the CPU functions of cpu/warp.h (dims structs: boundary/op_types.h).
void inverse_warp_forward(const float* src, const float* depth, const float* pose, const float* K, WarpDims d,
                          Padding padding, RotationMode mode, float* out, float* valid);
// From gout [B,C,H,W]: gsrc [B,C,H,W], gdepth [B,1,H,W], gpose [B,6]; each nullable (not computed).
void inverse_warp_backward(const float* src, const float* depth, const float* pose, const float* K, WarpDims d,
                           Padding padding, RotationMode mode, const float* gout, float* gsrc, float* gdepth,
                           float* gpose);

// loss[0] (device) = sum over s of mean over (B,C,H,W) of w * |tgt - warp(src_s)| (engine/ops.h);
// tgt [B,C,H,W], srcs [B,S,C,H,W], depth [B,1,H,W], poses [B,S,6], K [B,3,3], mask [B,S,H,W]
// or null (all ones); warped [B,S,C,H,W] written when non-null.
void photometric_forward(const float* tgt, const float* srcs, const float* depth, const float* poses, const float* K,
                         const float* mask, PhotometricDims d, const PhotometricOptions& opt, float* loss,
                         float* warped);
// Gradients of gscale[0] * loss (gscale: the upstream gradient, on the device): gdepth
// [B,1,H,W], gposes [B,S,6], gmask [B,S,H,W] (each nullable; gmask requires mask).
void photometric_backward(const float* tgt, const float* srcs, const float* depth, const float* poses, const float* K,
                          const float* mask, PhotometricDims d, const PhotometricOptions& opt, const float* gscale,
                          float* gdepth, float* gposes, float* gmask);

}  // namespace sfm::cuda
