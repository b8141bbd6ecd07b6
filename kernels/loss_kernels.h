#pragma once
// Regulariser kernels (device code; kernels/loss.cu wraps them, the emulated tests run them
// on the host). One thread per element (smoothness: per pixel origin); sums as described in
// kernels/loss.h. The per-element math is boundary/math/loss_math.h's, instantiated for float
// exactly as the CPU loops instantiate it.
#include <algorithm>
#include <cstdint>

#include "boundary/math/loss_math.h"
#include "kernels/kernel_compiler.h"
#include "kernels/reduce_kernels.h"

namespace sfm::cuda {
SFM_KERNEL_NS_BEGIN
namespace loss_kernels {

constexpr int kThreads = reduce_kernels::kThreads;
constexpr int kTerms = math::kSmoothTerms;  // 4

struct Inv4 {
  double v[kTerms];
};

// ---------------------------------------------------------------- smoothness
// partial[blk*4 + k] = block sum of |term_k| over its origins (e < planes*H*W).
SFM_GLOBAL void SFM_LAUNCH_BOUNDS(kThreads)
    smooth_fwd_kernel(const float* x, int H, int W, FastDiv hw, FastDiv wd, int64_t total, double* partial) {
  SFM_SHARED_ARRAY(double, sh, [kTerms * kThreads]);
  const int64_t e = (int64_t)blockIdx.x * kThreads + threadIdx.x;
  float s[kTerms] = {0.f, 0.f, 0.f, 0.f};
  if (e < total) {
    uint32_t p, r, y, xx;
    hw.divmod((uint32_t)e, p, r);
    wd.divmod(r, y, xx);
    math::smooth_forward_at<float, float>(x + (int64_t)p * H * W, H, W, (int)y, (int)xx, s);
  }
  double v[kTerms], tot[kTerms];
  for (int k = 0; k < kTerms; ++k) v[k] = s[k];
  reduce_kernels::block_sum_n<kTerms>(v, sh, tot);
  if (threadIdx.x == 0)
    for (int k = 0; k < kTerms; ++k) partial[(int64_t)blockIdx.x * kTerms + k] = tot[k];
}

// loss[0] = sum_k (sum over blocks, in order, of partial k) * inv[k]: one thread.
SFM_GLOBAL void smooth_finish_kernel(const double* partial, int64_t nblk, Inv4 inv, float* loss) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  double sums[kTerms] = {0, 0, 0, 0};
  for (int64_t b = 0; b < nblk; ++b)
    for (int k = 0; k < kTerms; ++k) sums[k] += partial[b * kTerms + k];
  double l = 0;
  for (int k = 0; k < kTerms; ++k) l += sums[k] * inv.v[k];
  loss[0] = (float)l;
}

SFM_GLOBAL void smooth_bwd_kernel(const float* x, int H, int W, FastDiv hw, FastDiv wd, int64_t total, Inv4 inv,
                                  const float* g, float* gx) {
  float c[kTerms];
  const double gs = (double)g[0];
  for (int k = 0; k < kTerms; ++k) c[k] = (float)(gs * inv.v[k]);
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    uint32_t p, r, y, xx;
    hw.divmod((uint32_t)e, p, r);
    wd.divmod(r, y, xx);
    gx[e] = math::smooth_backward_at<float>(x + (int64_t)p * H * W, H, W, (int)y, (int)xx, c);
  }
}

// Value and gradient in one pass: thread = pixel (plane, y, x); it adds |term_k| at origin
// (y, x) to the block sums and writes gx[e] = d loss / dx (upstream gradient 1) by the same
// gather as smooth_bwd_kernel. partial as in smooth_fwd_kernel.
SFM_GLOBAL void SFM_LAUNCH_BOUNDS(kThreads)
    smooth_fused_kernel(const float* x, int H, int W, FastDiv hw, FastDiv wd, int64_t total, Inv4 inv,
                        double* partial, float* gx) {
  SFM_SHARED_ARRAY(double, sh, [kTerms * kThreads]);
  const int64_t e = (int64_t)blockIdx.x * kThreads + threadIdx.x;
  float s[kTerms] = {0.f, 0.f, 0.f, 0.f};
  if (e < total) {
    uint32_t p, r, y, xx;
    hw.divmod((uint32_t)e, p, r);
    wd.divmod(r, y, xx);
    const float* plane = x + (int64_t)p * H * W;
    math::smooth_forward_at<float, float>(plane, H, W, (int)y, (int)xx, s);
    float c[kTerms];
    for (int k = 0; k < kTerms; ++k) c[k] = (float)inv.v[k];
    gx[e] = math::smooth_backward_at<float>(plane, H, W, (int)y, (int)xx, c);
  }
  double v[kTerms], tot[kTerms];
  for (int k = 0; k < kTerms; ++k) v[k] = s[k];
  reduce_kernels::block_sum_n<kTerms>(v, sh, tot);
  if (threadIdx.x == 0)
    for (int k = 0; k < kTerms; ++k) partial[(int64_t)blockIdx.x * kTerms + k] = tot[k];
}

// ---------------------------------------------------------------- explainability (sigmoid mask)
SFM_GLOBAL void SFM_LAUNCH_BOUNDS(kThreads) bce_fwd_kernel(const float* m, int64_t n, double* partial) {
  SFM_SHARED_ARRAY(double, sh, [kThreads]);
  const int64_t i = (int64_t)blockIdx.x * kThreads + threadIdx.x;
  const double v = i < n ? (double)math::bce_ones(m[i]) : 0.0;
  const double tot = reduce_kernels::block_sum(v, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = tot;
}
// Value and gradient in one pass (upstream gradient 1): gm[i] = (1/n) * d bce / dm.
SFM_GLOBAL void SFM_LAUNCH_BOUNDS(kThreads) bce_fused_kernel(const float* m, int64_t n, double* partial, float* gm) {
  SFM_SHARED_ARRAY(double, sh, [kThreads]);
  const int64_t i = (int64_t)blockIdx.x * kThreads + threadIdx.x;
  double v = 0;
  if (i < n) {
    const float mi = m[i];
    v = (double)math::bce_ones(mi);
    gm[i] = (float)(1.0 / (double)n) * math::bce_ones_grad(mi);
  }
  const double tot = reduce_kernels::block_sum(v, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = tot;
}
SFM_GLOBAL void bce_bwd_kernel(const float* m, int64_t n, const float* g, float* gm) {
  const float gg = (float)((double)g[0] / (double)n);
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    gm[i] = gg * math::bce_ones_grad(m[i]);
}

// ---------------------------------------------------------------- 2-class softmax pairs
// Element i < B*S*hw of the pair grid: logits l0 at (bs, 2s, p) = 2*bs*hw + p, l1 at + hw.
SFM_GLOBAL void SFM_LAUNCH_BOUNDS(kThreads) pair_ce_fwd_kernel(const float* logits, FastDiv hw, int64_t n, double* partial) {
  SFM_SHARED_ARRAY(double, sh, [kThreads]);
  const int64_t i = (int64_t)blockIdx.x * kThreads + threadIdx.x;
  double v = 0;
  if (i < n) {
    uint32_t bs, p;
    hw.divmod((uint32_t)i, bs, p);
    const float* l0 = logits + 2 * (int64_t)bs * hw.d;
    v = (double)math::pair_ce(l0[p], l0[hw.d + p]);
  }
  const double tot = reduce_kernels::block_sum(v, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = tot;
}
SFM_GLOBAL void pair_ce_bwd_kernel(const float* logits, FastDiv hw, int64_t n, const float* g, float* gl) {
  const float gg = (float)((double)g[0] / (double)n);
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    uint32_t bs, p;
    hw.divmod((uint32_t)i, bs, p);
    const int64_t o = 2 * (int64_t)bs * hw.d + p;
    math::pair_ce_grad(logits[o], logits[o + hw.d], gg, gl[o], gl[o + hw.d]);
  }
}
SFM_GLOBAL void pair_mask_fwd_kernel(const float* logits, FastDiv hw, int64_t n, float* mask) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    uint32_t bs, p;
    hw.divmod((uint32_t)i, bs, p);
    const int64_t o = 2 * (int64_t)bs * hw.d + p;
    mask[i] = math::pair_mask(logits[o], logits[o + hw.d]);
  }
}
SFM_GLOBAL void pair_mask_bwd_kernel(const float* y, const float* gy, FastDiv hw, int64_t n, float* gl) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    uint32_t bs, p;
    hw.divmod((uint32_t)i, bs, p);
    const int64_t o = 2 * (int64_t)bs * hw.d + p;
    math::pair_mask_grad(y[i], gy[i], gl[o], gl[o + hw.d]);
  }
}

// ---------------------------------------------------------------- launchers
inline Inv4 inv4(const double inv_count[kTerms]) {
  Inv4 r;
  for (int k = 0; k < kTerms; ++k) r.v[k] = inv_count[k];
  return r;
}

inline void launch_smoothness_forward(const float* x, int64_t planes, int64_t H, int64_t W,
                                      const double inv_count[kTerms], float* loss) {
  const int64_t total = planes * H * W;
  check32("smoothness_loss forward", total);
  SFM_CHECK(total > 0, "smoothness_loss forward: empty input");
  const int64_t nblk = ceil_div(total, kThreads);
  Scratch part((size_t)nblk * kTerms * sizeof(double));
  auto* k = &smooth_fwd_kernel;
  SFM_LAUNCH(k, dim3((unsigned)nblk), dim3(kThreads), x, (int)H, (int)W, FastDiv((uint32_t)(H * W)),
             FastDiv((uint32_t)W), total, static_cast<double*>(part.get()));
  auto* f = &smooth_finish_kernel;
  SFM_LAUNCH(f, dim3(1), dim3(32), (const double*)part.get(), nblk, inv4(inv_count), loss);
}

inline void launch_smoothness_backward(const float* x, int64_t planes, int64_t H, int64_t W,
                                       const double inv_count[kTerms], const float* g, float* gx) {
  const int64_t total = planes * H * W;
  check32("smoothness_loss backward", total);
  if (total == 0) return;
  auto* k = &smooth_bwd_kernel;
  SFM_LAUNCH(k, dim3(reduce_kernels::elementwise_blocks(total)), dim3(256), x, (int)H, (int)W, FastDiv((uint32_t)(H * W)),
             FastDiv((uint32_t)W), total, inv4(inv_count), g, gx);
}

inline void launch_smoothness_fused(const float* x, int64_t planes, int64_t H, int64_t W,
                                    const double inv_count[kTerms], float* loss, float* gx) {
  const int64_t total = planes * H * W;
  check32("smoothness_loss", total);
  SFM_CHECK(total > 0, "smoothness_loss: empty input");
  const int64_t nblk = ceil_div(total, kThreads);
  Scratch part((size_t)nblk * kTerms * sizeof(double));
  auto* k = &smooth_fused_kernel;
  SFM_LAUNCH(k, dim3((unsigned)nblk), dim3(kThreads), x, (int)H, (int)W, FastDiv((uint32_t)(H * W)),
             FastDiv((uint32_t)W), total, inv4(inv_count), static_cast<double*>(part.get()), gx);
  auto* f = &smooth_finish_kernel;
  SFM_LAUNCH(f, dim3(1), dim3(32), (const double*)part.get(), nblk, inv4(inv_count), loss);
}

inline void launch_explainability_fused(const float* m, int64_t n, float* loss, float* gm) {
  check32("explainability_loss", n);
  SFM_CHECK(n > 0, "explainability_loss: empty input");
  const int64_t nblk = ceil_div(n, kThreads);
  Scratch part((size_t)nblk * sizeof(double));
  auto* k = &bce_fused_kernel;
  SFM_LAUNCH(k, dim3((unsigned)nblk), dim3(kThreads), m, n, static_cast<double*>(part.get()), gm);
  auto* f = &reduce_kernels::finish_mean_kernel;
  SFM_LAUNCH(f, dim3(1), dim3(kThreads), (const double*)part.get(), nblk, (double)n, loss);
}

inline void launch_explainability_forward(const float* m, int64_t n, float* loss) {
  check32("explainability_loss forward", n);
  SFM_CHECK(n > 0, "explainability_loss forward: empty input");
  const int64_t nblk = ceil_div(n, kThreads);
  Scratch part((size_t)nblk * sizeof(double));
  auto* k = &bce_fwd_kernel;
  SFM_LAUNCH(k, dim3((unsigned)nblk), dim3(kThreads), m, n, static_cast<double*>(part.get()));
  auto* f = &reduce_kernels::finish_mean_kernel;
  SFM_LAUNCH(f, dim3(1), dim3(kThreads), (const double*)part.get(), nblk, (double)n, loss);
}
inline void launch_explainability_backward(const float* m, int64_t n, const float* g, float* gm) {
  check32("explainability_loss backward", n);
  if (n == 0) return;
  auto* k = &bce_bwd_kernel;
  SFM_LAUNCH(k, dim3(reduce_kernels::elementwise_blocks(n)), dim3(256), m, n, g, gm);
}

inline void launch_softmax_ce_forward(const float* logits, int64_t B, int64_t S, int64_t hw, float* loss) {
  const int64_t n = B * S * hw;
  check32("explainability_loss_softmax forward", 2 * n);
  SFM_CHECK(n > 0, "explainability_loss_softmax forward: empty input");
  const int64_t nblk = ceil_div(n, kThreads);
  Scratch part((size_t)nblk * sizeof(double));
  auto* k = &pair_ce_fwd_kernel;
  SFM_LAUNCH(k, dim3((unsigned)nblk), dim3(kThreads), logits, FastDiv((uint32_t)hw), n,
             static_cast<double*>(part.get()));
  auto* f = &reduce_kernels::finish_mean_kernel;
  SFM_LAUNCH(f, dim3(1), dim3(kThreads), (const double*)part.get(), nblk, (double)n, loss);
}
inline void launch_softmax_ce_backward(const float* logits, int64_t B, int64_t S, int64_t hw, const float* g,
                                       float* gl) {
  const int64_t n = B * S * hw;
  check32("explainability_loss_softmax backward", 2 * n);
  if (n == 0) return;
  auto* k = &pair_ce_bwd_kernel;
  SFM_LAUNCH(k, dim3(reduce_kernels::elementwise_blocks(n)), dim3(256), logits, FastDiv((uint32_t)hw), n, g, gl);
}
inline void launch_pairs_mask_forward(const float* logits, int64_t B, int64_t S, int64_t hw, float* mask) {
  const int64_t n = B * S * hw;
  check32("softmax_pairs_mask forward", 2 * n);
  if (n == 0) return;
  auto* k = &pair_mask_fwd_kernel;
  SFM_LAUNCH(k, dim3(reduce_kernels::elementwise_blocks(n)), dim3(256), logits, FastDiv((uint32_t)hw), n, mask);
}
inline void launch_pairs_mask_backward(const float* y, const float* gy, int64_t B, int64_t S, int64_t hw, float* gl) {
  const int64_t n = B * S * hw;
  check32("softmax_pairs_mask backward", 2 * n);
  if (n == 0) return;
  auto* k = &pair_mask_bwd_kernel;
  SFM_LAUNCH(k, dim3(reduce_kernels::elementwise_blocks(n)), dim3(256), y, gy, FastDiv((uint32_t)hw), n, gl);
}

}  // namespace loss_kernels
SFM_KERNEL_NS_END
}  // namespace sfm::cuda
