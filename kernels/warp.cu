// CUDA geometry ops (kernels in kernels/warp_kernels.h).
#include "kernels/warp.h"

#include "kernels/warp_kernels.h"

namespace sfm::cuda {

void pose_vec2mat_forward(const float* pose, int64_t B, RotationMode mode, float* Rt) {
  warp_kernels::launch_pose_vec2mat_forward(pose, B, mode, Rt);
}
void pose_vec2mat_backward(const float* pose, const float* gRt, int64_t B, RotationMode mode, float* gpose) {
  warp_kernels::launch_pose_vec2mat_backward(pose, gRt, B, mode, gpose);
}
void inverse_warp_forward(const float* src, const float* depth, const float* pose, const float* K, WarpDims d,
                          Padding padding, RotationMode mode, float* out, float* valid) {
  warp_kernels::launch_inverse_warp_forward(src, depth, pose, K, d, padding, mode, out, valid);
}
void inverse_warp_backward(const float* src, const float* depth, const float* pose, const float* K, WarpDims d,
                           Padding padding, RotationMode mode, const float* gout, float* gsrc, float* gdepth,
                           float* gpose) {
  warp_kernels::launch_inverse_warp_backward(src, depth, pose, K, d, padding, mode, gout, gsrc, gdepth,
                                      gpose);
}
void photometric_forward(const float* tgt, const float* srcs, const float* depth, const float* poses, const float* K,
                         const float* mask, PhotometricDims d, const PhotometricOptions& opt, float* loss,
                         float* warped) {
  warp_kernels::launch_photometric_forward(tgt, srcs, depth, poses, K, mask, d, opt, loss, warped);
}
void photometric_backward(const float* tgt, const float* srcs, const float* depth, const float* poses, const float* K,
                          const float* mask, PhotometricDims d, const PhotometricOptions& opt, const float* gscale,
                          float* gdepth, float* gposes, float* gmask) {
  warp_kernels::launch_photometric_backward(tgt, srcs, depth, poses, K, mask, d, opt, gscale, gdepth,
                                     gposes, gmask);
}

}  // namespace sfm::cuda
