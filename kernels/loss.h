#pragma once
// CUDA regulariser launchers (raw device pointers, on the compute stream): second-order
// smoothness, the explainability cross-entropy (sigmoid mask) and its 2-class softmax form,
// and the softmax pair mask. Per-element math: boundary/math/loss_math.h, shared with the
// CPU loops (cpu/loss.cpp). Each loss value and its gradient take one pass each (or
// one pass together, *_value_and_grad):
// values are summed per block in a fixed tree (double) and the block sums in a fixed order
// by a second, one-block pass that also applies the normalisation. Upstream gradients of
// the scalar losses are read on the device (no host round trip).
#include <cstdint>

namespace sfm::cuda {

// x: planes of H x W. loss[0] = sum_k mean|term_k| (inv_count[k] = 1 / (#origins of term k
// over all planes), 0 for an empty term; see boundary/math/loss_math.h).
void smoothness_forward(const float* x, int64_t planes, int64_t H, int64_t W, const double inv_count[4], float* loss);
// gx = g[0] * d loss / dx.
void smoothness_backward(const float* x, int64_t planes, int64_t H, int64_t W, const double inv_count[4],
                         const float* g, float* gx);

// Value and gradient in one pass: loss[0] as smoothness_forward and gx = d loss / dx for an
// upstream gradient of 1 (scale it by the real one with cuda::scale_by_scalar in the backward).
void smoothness_value_and_grad(const float* x, int64_t planes, int64_t H, int64_t W, const double inv_count[4],
                               float* loss, float* gx);

// loss[0] = mean over n of -max(log m, -100); gm = g[0] * d loss / dm.
void explainability_forward(const float* m, int64_t n, float* loss);
void explainability_backward(const float* m, int64_t n, const float* g, float* gm);
// Value and gradient (upstream gradient 1) in one pass.
void explainability_value_and_grad(const float* m, int64_t n, float* loss, float* gm);

// logits [B,2S,hw]: loss[0] = mean over B*S*hw pairs of the cross-entropy against class 1;
// gl = g[0] * d loss / dlogits.
void softmax_ce_forward(const float* logits, int64_t B, int64_t S, int64_t hw, float* loss);
void softmax_ce_backward(const float* logits, int64_t B, int64_t S, int64_t hw, const float* g, float* gl);
// mask [B,S,hw] = softmax probability of class 1; backward from the output y and its gradient gy.
void pairs_mask_forward(const float* logits, int64_t B, int64_t S, int64_t hw, float* mask);
void pairs_mask_backward(const float* y, const float* gy, int64_t B, int64_t S, int64_t hw, float* gl);

}  // namespace sfm::cuda
