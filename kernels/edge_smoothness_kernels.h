#pragma once
// edge_aware_smoothness kernels (device code; kernels/edge_smoothness.cu wraps them, the
// emulated tests run them on the host). Per-pixel math: boundary/math/edge_smoothness_math.h,
// instantiated for float exactly as the CPU loops instantiate it.
//   forward  1. per-entry mean disparity: the deterministic segmented sum (reduce_kernels.h);
//            2. one thread per pixel: its x and y edge terms, block sums in a fixed tree (double),
//               blocks never straddle batch entries: partial[b, block, 2];
//            3. one block: per entry, the block partials in a fixed order -> L_b, and the loss.
//   backward one thread per pixel: the gather over its <= 4 edges (no atomics).
#include <cstdint>

#include "boundary/math/edge_smoothness_math.h"
#include "kernels/kernel_compiler.h"
#include "kernels/reduce_kernels.h"

namespace sfm::cuda {
SFM_KERNEL_NS_BEGIN
namespace edge_smoothness_kernels {

constexpr int kThreads = reduce_kernels::kThreads;

// Block (blockIdx.x, blockIdx.y = b): pixels [blockIdx.x * kThreads, +kThreads) of entry b.
SFM_GLOBAL void SFM_LAUNCH_BOUNDS(kThreads)
    edge_terms_kernel(const float* disp, const float* img, const float* stats, int64_t C, int H, int W, FastDiv wd,
                      double* partial) {
  SFM_SHARED_ARRAY(double, sh, [2 * kThreads]);
  const int64_t hw = (int64_t)H * W, b = blockIdx.y;
  const int64_t e = (int64_t)blockIdx.x * kThreads + threadIdx.x;
  double v[2] = {0.0, 0.0}, tot[2];
  if (e < hw) {
    uint32_t y, x;
    wd.divmod((uint32_t)e, y, x);
    float tx, ty;
    math::edge_smooth_terms_at<float>(disp + b * hw, img + b * C * hw, C, H, W, (int)y, (int)x,
                                      math::edge_smooth_den(stats[b]), tx, ty);
    v[0] = tx, v[1] = ty;
  }
  reduce_kernels::block_sum_n<2>(v, sh, tot);
  if (threadIdx.x == 0) {
    double* out = partial + (b * (int64_t)gridDim.x + blockIdx.x) * 2;
    out[0] = tot[0], out[1] = tot[1];
  }
}

// One block of kThreads: stats[B + b] = L_b = ax Sx_b + ay Sy_b (thread t adds block partials
// t, t + kThreads, ... in order, then the fixed tree), loss[0] = sum_b L_b in entry order.
SFM_GLOBAL void SFM_LAUNCH_BOUNDS(kThreads)
    edge_finish_kernel(const double* partial, int64_t B, int64_t nblk, double ax, double ay, float* stats,
                       float* loss) {
  SFM_SHARED_ARRAY(double, sh, [2 * kThreads]);
  double total = 0;
  for (int64_t b = 0; b < B; ++b) {
    double v[2] = {0.0, 0.0}, tot[2];
    for (int64_t i = threadIdx.x; i < nblk; i += kThreads) {
      v[0] += partial[(b * nblk + i) * 2];
      v[1] += partial[(b * nblk + i) * 2 + 1];
    }
    reduce_kernels::block_sum_n<2>(v, sh, tot);
    const double Lb = ax * tot[0] + ay * tot[1];
    if (threadIdx.x == 0) stats[B + b] = (float)Lb;
    total += Lb;
  }
  if (threadIdx.x == 0) loss[0] = (float)total;
}

SFM_GLOBAL void edge_grad_kernel(const float* disp, const float* img, const float* stats, int64_t B, int64_t C, int H,
                                 int W, FastDiv hwd, FastDiv wd, float ax, float ay, const float* g, float* gd,
                                 int64_t total) {
  const float gs = g[0];
  const int64_t hw = (int64_t)H * W;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    uint32_t b, r, y, x;
    hwd.divmod((uint32_t)e, b, r);
    wd.divmod(r, y, x);
    gd[e] = math::edge_smooth_grad_at<float>(disp + b * hw, img + b * C * hw, C, H, W, (int)y, (int)x,
                                             math::edge_smooth_den(stats[b]), ax, ay, stats[B + b], gs);
  }
}

inline void launch_edge_smoothness_forward(const float* disp, const float* img, int64_t B, int64_t C, int64_t H,
                                           int64_t W, float* stats, float* loss) {
  const int64_t hw = H * W;
  check32("edge_aware_smoothness forward", B * C * hw);
  SFM_CHECK(B > 0 && C > 0 && hw > 0, "edge_aware_smoothness forward: empty input");
  SFM_CHECK(B < 65536, "edge_aware_smoothness forward: batch ", B, " is too large (max 65535)");
  reduce_kernels::launch_segmented_sum(disp, 1, B, hw, 1.0 / (double)hw, stats);  // stats[b] = mean_hw(disp_b)
  const int64_t nblk = ceil_div(hw, kThreads);
  Scratch part((size_t)(B * nblk * 2) * sizeof(double));
  auto* k = &edge_terms_kernel;
  SFM_LAUNCH(k, dim3((unsigned)nblk, (unsigned)B), dim3(kThreads), disp, img, (const float*)stats, C, (int)H, (int)W,
             FastDiv((uint32_t)W), static_cast<double*>(part.get()));
  double ax, ay;
  math::edge_smooth_inv_counts(B, H, W, ax, ay);
  auto* f = &edge_finish_kernel;
  SFM_LAUNCH(f, dim3(1), dim3(kThreads), (const double*)part.get(), B, nblk, ax, ay, stats, loss);
}

inline void launch_edge_smoothness_backward(const float* disp, const float* img, const float* stats, int64_t B,
                                            int64_t C, int64_t H, int64_t W, const float* g, float* gd) {
  const int64_t total = B * H * W;
  check32("edge_aware_smoothness backward", B * C * H * W);
  if (total == 0) return;
  double ax, ay;
  math::edge_smooth_inv_counts(B, H, W, ax, ay);
  auto* k = &edge_grad_kernel;
  SFM_LAUNCH(k, dim3(reduce_kernels::elementwise_blocks(total)), dim3(256), disp, img, stats, B, C, (int)H, (int)W,
             FastDiv((uint32_t)(H * W)), FastDiv((uint32_t)W), (float)ax, (float)ay, g, gd, total);
}

}  // namespace edge_smoothness_kernels
SFM_KERNEL_NS_END
}  // namespace sfm::cuda
