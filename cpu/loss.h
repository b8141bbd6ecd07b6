#pragma once
// CPU loops of the regularisers (smoothness, explainability). The per-element math is
// boundary/math/loss_math.h. Sums are deterministic: fixed items (rows or 4096-element chunks)
// summed serially in double, partials added in order, independent of the thread count.
#include <cstdint>

namespace sfm::cpu {

// x: planes of H x W. sums[k] = sum over origins of |term_k| (see loss_math.h).
template <class T> void smoothness_forward(const T* x, int64_t planes, int64_t H, int64_t W, double sums[4]);
// gx = sum_k coef[k] * d(sum |term_k|)/dx.
template <class T>
void smoothness_backward(const T* x, int64_t planes, int64_t H, int64_t W, const double coef[4], T* gx);

// Sum over n mask values of -max(log m, -100); backward: gm = g * d/dm.
template <class T> double explainability_forward(const T* m, int64_t n);
template <class T> void explainability_backward(const T* m, int64_t n, T g, T* gm);

// logits [B, 2S, hw]: sum over pairs and pixels of the cross-entropy against class 1;
// backward: gl = g * d/dlogits.
template <class T> double softmax_ce_forward(const T* logits, int64_t B, int64_t S, int64_t hw);
template <class T> void softmax_ce_backward(const T* logits, int64_t B, int64_t S, int64_t hw, T g, T* gl);
// mask [B, S, hw] = softmax probability of class 1; backward from the output y and its gradient gy.
template <class T> void pairs_mask_forward(const T* logits, int64_t B, int64_t S, int64_t hw, T* mask);
template <class T> void pairs_mask_backward(const T* y, const T* gy, int64_t B, int64_t S, int64_t hw, T* gl);

// The op layer's form, the same signatures as the CUDA launchers (kernels/loss.h): the mean
// loss written to loss[0], the upstream gradient read from g[0] (host memory here, device
// memory on CUDA), inv_count[k] = 1 / (#origins of smoothness term k over all planes).
template <class T>
void smoothness_forward(const T* x, int64_t planes, int64_t H, int64_t W, const double inv_count[4], T* loss) {
  double sums[4];
  smoothness_forward<T>(x, planes, H, W, sums);
  double v = 0;
  for (int k = 0; k < 4; ++k) v += sums[k] * inv_count[k];
  loss[0] = T(v);
}
template <class T>
void smoothness_backward(const T* x, int64_t planes, int64_t H, int64_t W, const double inv_count[4], const T* g,
                         T* gx) {
  double coef[4];
  for (int k = 0; k < 4; ++k) coef[k] = (double)g[0] * inv_count[k];
  smoothness_backward<T>(x, planes, H, W, coef, gx);
}
template <class T> void explainability_forward(const T* m, int64_t n, T* loss) {
  loss[0] = T(explainability_forward<T>(m, n) / (double)n);
}
template <class T> void explainability_backward(const T* m, int64_t n, const T* g, T* gm) {
  explainability_backward<T>(m, n, T((double)g[0] / (double)n), gm);
}
template <class T> void softmax_ce_forward(const T* logits, int64_t B, int64_t S, int64_t hw, T* loss) {
  loss[0] = T(softmax_ce_forward<T>(logits, B, S, hw) / (double)(B * S * hw));
}
template <class T> void softmax_ce_backward(const T* logits, int64_t B, int64_t S, int64_t hw, const T* g, T* gl) {
  softmax_ce_backward<T>(logits, B, S, hw, T((double)g[0] / (double)(B * S * hw)), gl);
}

}  // namespace sfm::cpu
