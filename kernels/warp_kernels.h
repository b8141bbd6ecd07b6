#pragma once
// Geometry kernels (device code; kernels/warp.cu wraps them, the emulated tests run them on
// the host). See kernels/warp.h for the scheme. All per-pixel arithmetic is
// boundary/math/warp_math.h's, instantiated for float exactly as the CPU loops instantiate it.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "boundary/math/warp_math.h"
#include "kernels/kernel_compiler.h"
#include "kernels/reduce_kernels.h"

namespace sfm::cuda {
SFM_KERNEL_NS_BEGIN
namespace warp_kernels {

constexpr int kThreads = reduce_kernels::kThreads;  // 256: one target pixel per thread
constexpr int kAcc = math::kWarpAcc;     // 12

// ---------------------------------------------------------------- per-pair setup and pose gradient
// Mm[12 i ..] = (M, m) of pose i (6) with intrinsics K[i / per_K] (9), for i < n.
SFM_GLOBAL void setup_kernel(const float* pose, const float* K, int n, int per_K, RotationMode mode, float* Mm) {
  const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) math::warp_setup<float>(mode, pose + 6 * i, K + 9 * (i / per_K), Mm + 12 * i, Mm + 12 * i + 9);
}

// gpose[6 i ..] from the block partials partial[(i*nblk + blk)*12 + k] of pair i, summed in
// block order (double), through the pose Jacobian in double (as the CPU does).
SFM_GLOBAL void pose_grad_kernel(const double* partial, int nblk, const float* pose, const float* K, int n, int per_K,
                                 RotationMode mode, float* gpose) {
  const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= n) return;
  double s[kAcc];
  for (int k = 0; k < kAcc; ++k) s[k] = 0;
  for (int blk = 0; blk < nblk; ++blk)
    for (int k = 0; k < kAcc; ++k) s[k] += partial[((int64_t)i * nblk + blk) * kAcc + k];
  double p[6], kk[9], g[6];
  for (int j = 0; j < 6; ++j) p[j] = pose[6 * i + j];
  for (int j = 0; j < 9; ++j) kk[j] = K[9 * (i / per_K) + j];
  math::warp_pose_backward<double>(mode, p, kk, s, g);
  for (int j = 0; j < 6; ++j) gpose[6 * i + j] = (float)g[j];
}

SFM_GLOBAL void pose_vec2mat_fwd_kernel(const float* pose, int B, RotationMode mode, float* Rt) {
  const int b = (int)(blockIdx.x * blockDim.x + threadIdx.x);
  if (b < B) math::pose_vec2mat_forward<float>(mode, pose + 6 * b, Rt + 12 * b);
}
SFM_GLOBAL void pose_vec2mat_bwd_kernel(const float* pose, const float* gRt, int B, RotationMode mode, float* gpose) {
  const int b = (int)(blockIdx.x * blockDim.x + threadIdx.x);
  if (b < B) math::pose_vec2mat_backward<float>(mode, pose + 6 * b, gRt + 12 * b, gpose + 6 * b);
}

// ---------------------------------------------------------------- inverse_warp
// grid (ceil(HW/256), B): thread = target pixel of image b.
SFM_GLOBAL void SFM_LAUNCH_BOUNDS(kThreads)
    warp_fwd_kernel(const float* src, const float* depth, const float* Mm, int C, int H, int W, FastDiv wd,
                    Padding padding, float* out, float* valid) {
  const int b = (int)blockIdx.y;
  const int64_t plane = (int64_t)H * W;
  const int pix = (int)(blockIdx.x * kThreads + threadIdx.x);
  if (pix >= plane) return;
  uint32_t y, x;
  wd.divmod((uint32_t)pix, y, x);
  const math::WarpView<float> wv{Mm + 12 * b, Mm + 12 * b + 9, src + (int64_t)b * C * plane, C, H, W, padding};
  const bool in_view =
      math::inverse_warp_pixel_forward(wv, (int)x, (int)y, depth[(int64_t)b * plane + pix], out + (int64_t)b * C * plane);
  if (valid) valid[(int64_t)b * plane + pix] = in_view ? 1.f : 0.f;
}

// Depth and pose part of the backward. partial (nullable): [B][nblk][12] block sums.
SFM_GLOBAL void SFM_LAUNCH_BOUNDS(kThreads)
    warp_bwd_kernel(const float* src, const float* depth, const float* Mm, int C, int H, int W, FastDiv wd,
                    Padding padding, const float* gout, float* gdepth, double* partial) {
  SFM_SHARED_ARRAY(double, sh, [kAcc * kThreads]);
  const int b = (int)blockIdx.y;
  const int64_t plane = (int64_t)H * W;
  const int pix = (int)(blockIdx.x * kThreads + threadIdx.x);
  float acc[kAcc];
  for (int k = 0; k < kAcc; ++k) acc[k] = 0.f;
  if (pix < plane) {
    uint32_t y, x;
    wd.divmod((uint32_t)pix, y, x);
    const math::WarpView<float> wv{Mm + 12 * b, Mm + 12 * b + 9, src + (int64_t)b * C * plane, C, H, W, padding};
    const float gd = math::inverse_warp_pixel_backward(wv, (int)x, (int)y, depth[(int64_t)b * plane + pix],
                                                       gout + (int64_t)b * C * plane, acc);
    if (gdepth) gdepth[(int64_t)b * plane + pix] = gd;
  }
  if (partial) {  // uniform across the block
    double v[kAcc], tot[kAcc];
    for (int k = 0; k < kAcc; ++k) v[k] = acc[k];
    reduce_kernels::block_sum_n<kAcc>(v, sh, tot);
    if (threadIdx.x == 0)
      for (int k = 0; k < kAcc; ++k) partial[((int64_t)b * gridDim.x + blockIdx.x) * kAcc + k] = tot[k];
  }
}

// ---- source-image gradient: 64-bit fixed-point scatter
// bits of max |g| over n values (non-negative floats order like their bit patterns).
SFM_GLOBAL void absmax_kernel(const float* g, int64_t n, unsigned int* out) {
  unsigned int m = 0;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const unsigned int b = float_to_bits(g[i]) & 0x7fffffffu;
    if (b < 0x7f800000u && b > m) m = b;  // finite values only
  }
  atomic_max_u32(out, m);
}

// scale = 2^(61 - e) with plane * max|g| < 2^e: every sum stays below 2^61 in magnitude.
SFM_DEV double fixed_scale(const unsigned int* maxbits, int64_t plane) {
  const double bound = (double)bits_to_float(*maxbits) * (double)plane;
  if (!(bound > 0)) return 1.0;
  int e = 0;
  (void)::frexp(bound, &e);  // bound < 2^e
  return ::ldexp(1.0, 61 - e);
}

SFM_GLOBAL void SFM_LAUNCH_BOUNDS(kThreads)
    warp_src_grad_kernel(const float* depth, const float* Mm, int C, int H, int W, FastDiv wd, Padding padding,
                         const float* gout, const unsigned int* maxbits, unsigned long long* acc) {
  const int b = (int)blockIdx.y;
  const int64_t plane = (int64_t)H * W;
  const int pix = (int)(blockIdx.x * kThreads + threadIdx.x);
  if (pix >= plane) return;
  const double scale = fixed_scale(maxbits, plane);
  uint32_t y, x;
  wd.divmod((uint32_t)pix, y, x);
  const math::Projected<float> p =
      math::project_pixel(Mm + 12 * b, Mm + 12 * b + 9, (float)x, (float)y, depth[(int64_t)b * plane + pix]);
  const math::BilinearTaps<float> t = math::bilinear_setup(p.u, p.v, W, H, padding);
  for (int c = 0; c < C; ++c) {
    const int64_t pl = ((int64_t)b * C + c) * plane;
    const double g = gout[pl + pix];
    for (int k = 0; k < 4; ++k) {
      if (t.w[k] == 0.f) continue;
      const long long q = round_ll(g * (double)t.w[k] * scale);
      if (q) atomic_add_u64(acc + pl + t.idx[k], (unsigned long long)q);
    }
  }
}

SFM_GLOBAL void fixed_to_float_kernel(const unsigned long long* acc, int64_t n, const unsigned int* maxbits,
                                      int64_t plane, float* out) {
  const double inv = 1.0 / fixed_scale(maxbits, plane);
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = (float)((double)(long long)acc[i] * inv);
}

// ---------------------------------------------------------------- photometric loss
struct PhotoArgs {
  const float* tgt;
  const float* srcs;
  const float* depth;
  const float* mask;  // nullable
  const float* Mm;    // [B*S][12]
  int S, C, H, W;
  FastDiv wd;
  Padding padding;
  bool keep_out_of_view;
};

SFM_DEV math::PhotometricView<float> photo_view(const PhotoArgs& a, int b, int s) {
  const int64_t plane = (int64_t)a.H * a.W;
  const int bs = b * a.S + s;
  return math::PhotometricView<float>{a.Mm + 12 * bs, a.Mm + 12 * bs + 9, a.tgt + (int64_t)b * a.C * plane,
                                      a.srcs + (int64_t)bs * a.C * plane, a.C, a.H, a.W, a.padding,
                                      a.keep_out_of_view};
}

// partial[b * gridDim.x + blk] = block sum over its pixels and all sources.
SFM_GLOBAL void SFM_LAUNCH_BOUNDS(kThreads) photo_fwd_kernel(PhotoArgs a, float* warped, double* partial) {
  SFM_SHARED_ARRAY(double, sh, [kThreads]);
  const int b = (int)blockIdx.y;
  const int64_t plane = (int64_t)a.H * a.W;
  const int pix = (int)(blockIdx.x * kThreads + threadIdx.x);
  double v = 0;
  if (pix < plane) {
    uint32_t y, x;
    a.wd.divmod((uint32_t)pix, y, x);
    const float d = a.depth[(int64_t)b * plane + pix];
    for (int s = 0; s < a.S; ++s) {
      const int64_t bs = (int64_t)b * a.S + s;
      const float mk = a.mask ? a.mask[bs * plane + pix] : 1.f;
      v += (double)math::photometric_pixel_forward(photo_view(a, b, s), (int)x, (int)y, d, mk,
                                                   warped ? warped + bs * a.C * plane : nullptr);
    }
  }
  const double tot = reduce_kernels::block_sum(v, sh);
  if (threadIdx.x == 0) partial[(int64_t)b * gridDim.x + blockIdx.x] = tot;
}

// Backward: gdepth, gmask per pixel; partial [B*S][gridDim.x][12] (nullable).
SFM_GLOBAL void SFM_LAUNCH_BOUNDS(kThreads)
    photo_bwd_kernel(PhotoArgs a, const float* gscale, double count, float* gdepth, float* gmask, double* partial) {
  SFM_SHARED_ARRAY(double, sh, [kAcc * kThreads]);
  const int b = (int)blockIdx.y;
  const int64_t plane = (int64_t)a.H * a.W;
  const int pix = (int)(blockIdx.x * kThreads + threadIdx.x);
  const bool mine = pix < plane;
  const float g = (float)((double)gscale[0] / count);
  uint32_t y = 0, x = 0;
  if (mine) a.wd.divmod((uint32_t)pix, y, x);
  const float d = mine ? a.depth[(int64_t)b * plane + pix] : 0.f;
  float gd = 0.f;
  for (int s = 0; s < a.S; ++s) {
    const int64_t bs = (int64_t)b * a.S + s;
    float acc[kAcc];
    for (int k = 0; k < kAcc; ++k) acc[k] = 0.f;
    if (mine) {
      const float mk = a.mask ? a.mask[bs * plane + pix] : 1.f;
      float gm = 0.f;
      gd += math::photometric_pixel_backward(photo_view(a, b, s), (int)x, (int)y, d, mk, g, &gm, acc);
      if (gmask) gmask[bs * plane + pix] = gm;
    }
    if (partial) {  // uniform across the block
      double v[kAcc], tot[kAcc];
      for (int k = 0; k < kAcc; ++k) v[k] = acc[k];
      reduce_kernels::block_sum_n<kAcc>(v, sh, tot);
      if (threadIdx.x == 0)
        for (int k = 0; k < kAcc; ++k) partial[(bs * gridDim.x + blockIdx.x) * kAcc + k] = tot[k];
    }
  }
  if (mine && gdepth) gdepth[(int64_t)b * plane + pix] = gd;
}

// ---------------------------------------------------------------- launchers
inline void check_dims(const char* op, int64_t B, int64_t C, int64_t H, int64_t W, int64_t S = 1) {
  SFM_CHECK(B >= 0 && C >= 0 && H >= 0 && W >= 0 && S >= 0 && H * W < (int64_t(1) << 31) && B <= 65535 &&
                B * S * C * H * W < (int64_t(1) << 40),
            op, ": unsupported sizes B=", B, " S=", S, " C=", C, " H=", H, " W=", W);
}

inline Scratch setup_pairs(const float* pose, const float* K, int64_t n, int64_t per_K, RotationMode mode) {
  Scratch Mm((size_t)n * 12 * sizeof(float));
  auto* k = &setup_kernel;
  SFM_LAUNCH(k, dim3((unsigned)ceil_div(n, 64)), dim3(64), pose, K, (int)n, (int)per_K, mode, Mm.f());
  return Mm;
}

inline void launch_pose_vec2mat_forward(const float* pose, int64_t B, RotationMode mode, float* Rt) {
  if (B == 0) return;
  auto* k = &pose_vec2mat_fwd_kernel;
  SFM_LAUNCH(k, dim3((unsigned)ceil_div(B, 64)), dim3(64), pose, (int)B, mode, Rt);
}
inline void launch_pose_vec2mat_backward(const float* pose, const float* gRt, int64_t B, RotationMode mode,
                                         float* gpose) {
  if (B == 0) return;
  auto* k = &pose_vec2mat_bwd_kernel;
  SFM_LAUNCH(k, dim3((unsigned)ceil_div(B, 64)), dim3(64), pose, gRt, (int)B, mode, gpose);
}

inline void launch_inverse_warp_forward(const float* src, const float* depth, const float* pose, const float* K,
                                        WarpDims d, Padding padding, RotationMode mode, float* out,
                                        float* valid) {
  const int64_t B = d.B, C = d.C, H = d.H, W = d.W;
  check_dims("inverse_warp forward", B, C, H, W);
  if (B * H * W == 0) return;
  Scratch Mm = setup_pairs(pose, K, B, 1, mode);
  auto* k = &warp_fwd_kernel;
  SFM_LAUNCH(k, dim3((unsigned)ceil_div(H * W, kThreads), (unsigned)B), dim3(kThreads), src, depth,
             (const float*)Mm.f(), (int)C, (int)H, (int)W, FastDiv((uint32_t)W), padding, out, valid);
}

inline void launch_inverse_warp_backward(const float* src, const float* depth, const float* pose, const float* K,
                                         WarpDims d, Padding padding, RotationMode mode, const float* gout,
                                         float* gsrc, float* gdepth, float* gpose) {
  const int64_t B = d.B, C = d.C, H = d.H, W = d.W;
  check_dims("inverse_warp backward", B, C, H, W);
  if (B * H * W == 0) {
    if (gpose) zero_async(gpose, (size_t)B * 6);
    return;
  }
  const int64_t plane = H * W, nblk = ceil_div(plane, kThreads);
  Scratch Mm = setup_pairs(pose, K, B, 1, mode);
  const dim3 grid((unsigned)nblk, (unsigned)B);
  if (gdepth || gpose) {
    Scratch part(gpose ? (size_t)B * nblk * kAcc * sizeof(double) : 0);
    double* partial = gpose ? static_cast<double*>(part.get()) : nullptr;
    auto* k = &warp_bwd_kernel;
    SFM_LAUNCH(k, grid, dim3(kThreads), src, depth, (const float*)Mm.f(), (int)C, (int)H, (int)W,
               FastDiv((uint32_t)W), padding, gout, gdepth, partial);
    if (gpose) {
      auto* f = &pose_grad_kernel;
      SFM_LAUNCH(f, dim3((unsigned)ceil_div(B, 64)), dim3(64), (const double*)partial, (int)nblk, pose, K, (int)B, 1,
                 mode, gpose);
    }
  }
  if (gsrc) {
    const int64_t n = B * C * plane;
    Scratch acc((size_t)n * sizeof(unsigned long long));
    Scratch mx(sizeof(unsigned int));
    zero_async(static_cast<float*>(mx.get()), 1);
    zero_async(static_cast<float*>(acc.get()), (size_t)n * 2);
    auto* km = &absmax_kernel;
    SFM_LAUNCH(km, dim3(reduce_kernels::elementwise_blocks(n)), dim3(256), gout, n, static_cast<unsigned int*>(mx.get()));
    auto* ks = &warp_src_grad_kernel;
    SFM_LAUNCH(ks, grid, dim3(kThreads), depth, (const float*)Mm.f(), (int)C, (int)H, (int)W, FastDiv((uint32_t)W),
               padding, gout, (const unsigned int*)mx.get(), static_cast<unsigned long long*>(acc.get()));
    auto* kf = &fixed_to_float_kernel;
    SFM_LAUNCH(kf, dim3(reduce_kernels::elementwise_blocks(n)), dim3(256), (const unsigned long long*)acc.get(), n,
               (const unsigned int*)mx.get(), plane, gsrc);
  }
}

inline PhotoArgs photo_args(const float* tgt, const float* srcs, const float* depth, const float* mask,
                            const float* Mm, int64_t S, int64_t C, int64_t H, int64_t W,
                            const PhotometricOptions& opt) {
  return PhotoArgs{tgt, srcs, depth, mask, Mm, (int)S, (int)C, (int)H, (int)W, FastDiv((uint32_t)W), opt.padding,
                   opt.keep_out_of_view};
}

inline void launch_photometric_forward(const float* tgt, const float* srcs, const float* depth, const float* poses,
                                       const float* K, const float* mask, PhotometricDims d,
                                       const PhotometricOptions& opt, float* loss, float* warped) {
  const int64_t B = d.B, S = d.S, C = d.C, H = d.H, W = d.W;
  check_dims("photometric_loss forward", B, C, H, W, S);
  SFM_CHECK(B * C * H * W > 0 && S > 0, "photometric_loss forward: empty input");
  const int64_t plane = H * W, nblk = ceil_div(plane, kThreads);
  Scratch Mm = setup_pairs(poses, K, B * S, S, opt.rotation);
  Scratch part((size_t)B * nblk * sizeof(double));
  auto* k = &photo_fwd_kernel;
  SFM_LAUNCH(k, dim3((unsigned)nblk, (unsigned)B), dim3(kThreads),
             photo_args(tgt, srcs, depth, mask, Mm.f(), S, C, H, W, opt), warped, static_cast<double*>(part.get()));
  auto* f = &reduce_kernels::finish_mean_kernel;
  SFM_LAUNCH(f, dim3(1), dim3(kThreads), (const double*)part.get(), B * nblk, (double)(B * C * plane), loss);
}

inline void launch_photometric_backward(const float* tgt, const float* srcs, const float* depth, const float* poses,
                                        const float* K, const float* mask, PhotometricDims d,
                                        const PhotometricOptions& opt, const float* gscale, float* gdepth,
                                        float* gposes, float* gmask) {
  const int64_t B = d.B, S = d.S, C = d.C, H = d.H, W = d.W;
  check_dims("photometric_loss backward", B, C, H, W, S);
  SFM_CHECK(B * C * H * W > 0 && S > 0, "photometric_loss backward: empty input");
  SFM_CHECK(!gmask || mask, "photometric_loss backward: a mask gradient needs the mask");
  const int64_t plane = H * W, nblk = ceil_div(plane, kThreads);
  Scratch Mm = setup_pairs(poses, K, B * S, S, opt.rotation);
  Scratch part(gposes ? (size_t)B * S * nblk * kAcc * sizeof(double) : 0);
  double* partial = gposes ? static_cast<double*>(part.get()) : nullptr;
  auto* k = &photo_bwd_kernel;
  SFM_LAUNCH(k, dim3((unsigned)nblk, (unsigned)B), dim3(kThreads),
             photo_args(tgt, srcs, depth, mask, Mm.f(), S, C, H, W, opt), gscale, (double)(B * C * plane), gdepth,
             gmask, partial);
  if (gposes) {
    auto* f = &pose_grad_kernel;
    SFM_LAUNCH(f, dim3((unsigned)ceil_div(B * S, 64)), dim3(64), (const double*)partial, (int)nblk, poses, K,
               (int)(B * S), (int)S, opt.rotation, gposes);
  }
}

}  // namespace warp_kernels
SFM_KERNEL_NS_END
}  // namespace sfm::cuda
