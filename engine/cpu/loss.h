#pragma once
// CPU loops of the regularisers (smoothness, explainability). The per-element math is
// engine/math/loss_math.h. Sums are deterministic: fixed items (rows or 4096-element chunks)
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

}  // namespace sfm::cpu
