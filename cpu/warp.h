#pragma once
// CPU implementations of the geometry ops (pose_vec2mat, inverse_warp, the fused photometric
// loss). The per-pixel arithmetic is boundary/math/warp_math.h; these loops only schedule it.
// Parallel over (batch, row) items (batch entries or (batch, channel) planes for the scatter
// into the source gradient), each item computed serially; per-item partial sums (in double)
// are added in a fixed order afterwards, so every result is independent of the thread count
// (bit for bit; tested). No atomics.
// All pointers are contiguous NCHW arrays (see engine/ops.h for the shapes).
#include <cstdint>

#include "boundary/op_types.h"

namespace sfm::cpu {

// pose [B,6] -> Rt [B,3,4]; backward: gRt [B,3,4] -> gpose [B,6].
template <class T> void pose_vec2mat_forward(const T* pose, int64_t B, RotationMode mode, T* Rt);
template <class T> void pose_vec2mat_backward(const T* pose, const T* gRt, int64_t B, RotationMode mode, T* gpose);

// out [B,C,H,W] = inverse_warp(src, depth, pose, K); valid [B,1,H,W] (nullable).
template <class T>
void inverse_warp_forward(const T* src, const T* depth, const T* pose, const T* K, WarpDims d, Padding padding,
                          RotationMode mode, T* out, T* valid);
// From gout [B,C,H,W]: gsrc [B,C,H,W], gdepth [B,1,H,W], gpose [B,6]; each nullable (not computed).
template <class T>
void inverse_warp_backward(const T* src, const T* depth, const T* pose, const T* K, WarpDims d, Padding padding,
                           RotationMode mode, const T* gout, T* gsrc, T* gdepth, T* gpose);

// Sum over s of mean over (B,C,H,W) of w * |tgt - warp(src_s)| (see engine/ops.h). mask may be
// null (all ones); warped [B,S,C,H,W] is written when non-null.
template <class T>
double photometric_forward(const T* tgt, const T* srcs, const T* depth, const T* poses, const T* K, const T* mask,
                           PhotometricDims d, const PhotometricOptions& opt, T* warped);
// Gradients of gscale * loss: gdepth [B,1,H,W], gposes [B,S,6], gmask [B,S,H,W] (each nullable;
// gmask requires mask). gscale is the upstream gradient of the scalar loss.
template <class T>
void photometric_backward(const T* tgt, const T* srcs, const T* depth, const T* poses, const T* K, const T* mask,
                          PhotometricDims d, const PhotometricOptions& opt, T gscale, T* gdepth, T* gposes,
                          T* gmask);

// The same two in the CUDA launchers' form (kernels/warp.h): the loss written to loss[0], the
// upstream gradient read from gscale[0]. On the CPU both are host memory; on CUDA both stay on
// the device, so a CUDA step needs no host round trip. The op layer calls this form.
template <class T>
void photometric_forward(const T* tgt, const T* srcs, const T* depth, const T* poses, const T* K, const T* mask,
                         PhotometricDims d, const PhotometricOptions& opt, T* loss, T* warped) {
  loss[0] = T(photometric_forward<T>(tgt, srcs, depth, poses, K, mask, d, opt, warped));
}
template <class T>
void photometric_backward(const T* tgt, const T* srcs, const T* depth, const T* poses, const T* K, const T* mask,
                          PhotometricDims d, const PhotometricOptions& opt, const T* gscale, T* gdepth, T* gposes,
                          T* gmask) {
  photometric_backward<T>(tgt, srcs, depth, poses, K, mask, d, opt, gscale[0], gdepth, gposes, gmask);
}

}  // namespace sfm::cpu
