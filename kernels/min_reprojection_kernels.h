#pragma once
// min_reprojection_loss kernels (device code; kernels/min_reprojection.cu wraps them, the
// emulated tests run them on the host). See kernels/min_reprojection.h for the scheme. All
// per-pixel arithmetic is boundary/math/min_reprojection_math.h's (and warp_math.h's),
// instantiated for float exactly as the CPU loops instantiate it.
#include <cstdint>

#include "boundary/math/min_reprojection_math.h"
#include "kernels/kernel_compiler.h"
#include "kernels/reduce_kernels.h"
#include "kernels/warp_kernels.h"  // setup_pairs, pose_grad_kernel, check_dims

namespace sfm::cuda {
SFM_KERNEL_NS_BEGIN
namespace min_reprojection_kernels {

constexpr int kThreads = reduce_kernels::kThreads;  // 256: one target pixel per thread
constexpr int kAcc = math::kWarpAcc;     // 12

struct MinReprojArgs {
  const float* tgt;    // [B,C,H,W]
  const float* srcs;   // [B,S,C,H,W]
  const float* depth;  // [B,1,H,W]
  const float* Mm;     // [B*S][12]
  int S, C, H, W;
  FastDiv wd;
  MinReprojectionOptions opt;
};

SFM_DEV math::ReprojectionView<float> view_of(const MinReprojArgs& a, int b) {
  const int64_t plane = (int64_t)a.H * a.W;
  return math::ReprojectionView<float>{a.Mm + (int64_t)12 * b * a.S, a.tgt + (int64_t)b * a.C * plane,
                                       a.srcs + (int64_t)b * a.S * a.C * plane, a.depth + (int64_t)b * plane,
                                       a.S, a.C, a.H, a.W, (int64_t)b, a.opt};
}

// grid (ceil(HW/256), B): thread = target pixel. chosen [B,H*W]; warped (nullable) [B,S,C,H*W];
// partial[b * gridDim.x + blk] = the block's sum of selected values.
SFM_GLOBAL void SFM_LAUNCH_BOUNDS(kThreads) fwd_kernel(MinReprojArgs a, float* chosen, float* warped, double* partial) {
  SFM_SHARED_ARRAY(double, sh, [kThreads]);
  const int b = (int)blockIdx.y;
  const int64_t plane = (int64_t)a.H * a.W;
  const int pix = (int)(blockIdx.x * kThreads + threadIdx.x);
  double v = 0;
  if (pix < plane) {
    uint32_t y, x;
    a.wd.divmod((uint32_t)pix, y, x);
    v = (double)math::min_reprojection_pixel_forward(view_of(a, b), (int)x, (int)y, chosen + (int64_t)b * plane + pix,
                                                     warped ? warped + (int64_t)b * a.S * a.C * plane : nullptr);
  }
  const double tot = reduce_kernels::block_sum(v, sh);
  if (threadIdx.x == 0) partial[(int64_t)b * gridDim.x + blockIdx.x] = tot;
}

// Backward: gdepth per pixel (nullable); partial [B*S][gridDim.x][12] (nullable) block sums of
// the pose terms, summed in block order by warp_kernels::pose_grad_kernel.
SFM_GLOBAL void SFM_LAUNCH_BOUNDS(kThreads)
    bwd_kernel(MinReprojArgs a, const float* chosen, const float* gscale, double count, float* gdepth, double* partial) {
  SFM_SHARED_ARRAY(double, sh, [kAcc * kThreads]);
  const int b = (int)blockIdx.y;
  const int64_t plane = (int64_t)a.H * a.W;
  const int pix = (int)(blockIdx.x * kThreads + threadIdx.x);
  const bool mine = pix < plane;
  const float g = (float)((double)gscale[0] / count);
  uint32_t y = 0, x = 0;
  if (mine) a.wd.divmod((uint32_t)pix, y, x);
  const math::ReprojectionView<float> v = view_of(a, b);
  const float* cb = chosen + (int64_t)b * plane;
  float gd = 0.f;
  for (int s = 0; s < a.S; ++s) {
    float acc[kAcc];
    for (int k = 0; k < kAcc; ++k) acc[k] = 0.f;
    if (mine) gd += math::min_reprojection_pixel_backward(v, s, (int)x, (int)y, cb, g, acc);
    if (partial) {  // uniform across the block
      double vv[kAcc], tot[kAcc];
      for (int k = 0; k < kAcc; ++k) vv[k] = acc[k];
      reduce_kernels::block_sum_n<kAcc>(vv, sh, tot);
      if (threadIdx.x == 0)
        for (int k = 0; k < kAcc; ++k) partial[(((int64_t)b * a.S + s) * gridDim.x + blockIdx.x) * kAcc + k] = tot[k];
    }
  }
  if (mine && gdepth) gdepth[(int64_t)b * plane + pix] = gd;
}

// ---------------------------------------------------------------- launchers
inline void check_sizes(const char* op, int64_t B, int64_t S, int64_t C, int64_t H, int64_t W,
                        const MinReprojectionOptions& opt) {
  warp_kernels::check_dims(op, B, C, H, W, S);
  SFM_CHECK(B * S * C * H * W > 0, op, ": empty input");
  SFM_CHECK(!opt.use_ssim || (H >= 2 && W >= 2), op, ": the SSIM window's reflection padding needs H, W >= 2, got ",
            H, "x", W);
}

inline MinReprojArgs args_of(const float* tgt, const float* srcs, const float* depth, const float* Mm, int64_t S,
                             int64_t C, int64_t H, int64_t W, const MinReprojectionOptions& opt) {
  return MinReprojArgs{tgt, srcs, depth, Mm, (int)S, (int)C, (int)H, (int)W, FastDiv((uint32_t)W), opt};
}

inline void launch_forward(const float* tgt, const float* srcs, const float* depth, const float* poses,
                           const float* K, MinReprojectionDims d, const MinReprojectionOptions& opt, float* loss,
                           float* chosen, float* warped) {
  const int64_t B = d.B, S = d.S, C = d.C, H = d.H, W = d.W;
  check_sizes("min_reprojection_loss forward", B, S, C, H, W, opt);
  const int64_t plane = H * W, nblk = ceil_div(plane, kThreads);
  Scratch Mm = warp_kernels::setup_pairs(poses, K, B * S, S, opt.rotation);
  Scratch part((size_t)B * nblk * sizeof(double));
  auto* k = &fwd_kernel;
  SFM_LAUNCH(k, dim3((unsigned)nblk, (unsigned)B), dim3(kThreads), args_of(tgt, srcs, depth, Mm.f(), S, C, H, W, opt),
             chosen, warped, static_cast<double*>(part.get()));
  auto* f = &reduce_kernels::finish_mean_kernel;
  SFM_LAUNCH(f, dim3(1), dim3(kThreads), (const double*)part.get(), B * nblk, (double)(B * plane), loss);
}

inline void launch_backward(const float* tgt, const float* srcs, const float* depth, const float* poses,
                            const float* K, const float* chosen, MinReprojectionDims d,
                            const MinReprojectionOptions& opt, const float* gscale, float* gdepth, float* gposes) {
  const int64_t B = d.B, S = d.S, C = d.C, H = d.H, W = d.W;
  check_sizes("min_reprojection_loss backward", B, S, C, H, W, opt);
  if (!gdepth && !gposes) return;
  const int64_t plane = H * W, nblk = ceil_div(plane, kThreads);
  Scratch Mm = warp_kernels::setup_pairs(poses, K, B * S, S, opt.rotation);
  Scratch part(gposes ? (size_t)B * S * nblk * kAcc * sizeof(double) : 0);
  double* partial = gposes ? static_cast<double*>(part.get()) : nullptr;
  auto* k = &bwd_kernel;
  SFM_LAUNCH(k, dim3((unsigned)nblk, (unsigned)B), dim3(kThreads), args_of(tgt, srcs, depth, Mm.f(), S, C, H, W, opt),
             chosen, gscale, (double)(B * plane), gdepth, partial);
  if (gposes) {
    auto* f = &warp_kernels::pose_grad_kernel;
    SFM_LAUNCH(f, dim3((unsigned)ceil_div(B * S, 64)), dim3(64), (const double*)partial, (int)nblk, poses, K,
               (int)(B * S), (int)S, opt.rotation, gposes);
  }
}

}  // namespace min_reprojection_kernels
SFM_KERNEL_NS_END
}  // namespace sfm::cuda
