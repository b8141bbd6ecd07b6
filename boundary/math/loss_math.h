#pragma once
// Per-element math of the SfMLearner regularisers, shared by the CPU loops
// (cpu/loss.cpp) and the CUDA kernels: second-order smoothness, the explainability
// cross-entropy (sigmoid mask against 1) and its 2-class softmax form.
#include <cmath>

#include "boundary/host_device.h"
#include "boundary/math/scalar_math.h"

namespace sfm::math {

namespace loss_detail {
using namespace scalar;
// the name the loss code uses for sign_
SFM_HD float sgn(float x) { return scalar::sign_(x); }
SFM_HD double sgn(double x) { return scalar::sign_(x); }
}  // namespace loss_detail

// ------------------------------------------------------------------ smoothness
// The port's gradient() applied twice to a plane I [H, W] (dx along W, dy along H):
//   term 0  dx2  = dx(dx) = (I[y,x+2]-I[y,x+1]) - (I[y,x+1]-I[y,x])      origins x <= W-3
//   term 1  dxdy = dy(dx) = (I[y+1,x+1]-I[y+1,x]) - (I[y,x+1]-I[y,x])    origins y <= H-2, x <= W-2
//   term 2  dydx = dx(dy) = (I[y+1,x+1]-I[y,x+1]) - (I[y+1,x]-I[y,x])    same origins as term 1
//   term 3  dy2  = dy(dy) = (I[y+2,x]-I[y+1,x]) - (I[y+1,x]-I[y,x])      origins y <= H-3
// (terms 1 and 2 are the same number up to rounding; both are kept, as the reference does).
// The loss is sum_k mean|term_k|, each mean over its own origins; a term with no origins
// (W < 3, H < 2 or W < 2, H < 3) contributes 0 (PyTorch would give NaN for the empty mean).
constexpr int kSmoothTerms = 4;

// Number of origins of term k in one H x W plane.
SFM_HD long long smooth_term_count(int k, long long H, long long W) {
  long long w1 = W > 1 ? W - 1 : 0, w2 = W > 2 ? W - 2 : 0, h1 = H > 1 ? H - 1 : 0, h2 = H > 2 ? H - 2 : 0;
  switch (k) {
    case 0: return H * w2;
    case 1:
    case 2: return h1 * w1;
    default: return h2 * W;
  }
}

// Value of term k at origin (y, x) of plane p (the caller ensures the origin is valid).
template <class T> SFM_HD T smooth_term(const T* p, int W, int y, int x, int k) {
  const T* r = p + (long long)y * W + x;
  switch (k) {
    case 0: return (r[2] - r[1]) - (r[1] - r[0]);
    case 1: return (r[W + 1] - r[W]) - (r[1] - r[0]);
    case 2: return (r[W + 1] - r[1]) - (r[W] - r[0]);
    default: return (r[2 * W] - r[W]) - (r[W] - r[0]);
  }
}

// Adds |term_k| at origin (y, x) to sums[k] for each term whose stencil fits.
template <class T, class A> SFM_HD void smooth_forward_at(const T* p, int H, int W, int y, int x, A* sums) {
  using loss_detail::abs_;
  if (x + 2 < W) sums[0] += A(abs_(smooth_term(p, W, y, x, 0)));
  if (y + 1 < H && x + 1 < W) {
    sums[1] += A(abs_(smooth_term(p, W, y, x, 1)));
    sums[2] += A(abs_(smooth_term(p, W, y, x, 2)));
  }
  if (y + 2 < H) sums[3] += A(abs_(smooth_term(p, W, y, x, 3)));
}

// dL/dI[y, x] for L = sum_k coef[k] * sum_origins |term_k| (coef[k] = upstream / count_k):
// a gather over the origins whose stencils contain (y, x), so each output is written once.
template <class T> SFM_HD T smooth_backward_at(const T* p, int H, int W, int y, int x, const T* coef) {
  using loss_detail::sgn;
  T g = T(0);
  // term 0: origin (y, x-j) reads I[y,x] with weight +1 (j=0), -2 (j=1), +1 (j=2).
  if (coef[0] != T(0)) {
    const T wt[3] = {T(1), T(-2), T(1)};
    T s = T(0);
    for (int j = 0; j < 3; ++j) {
      int ox = x - j;
      if (ox >= 0 && ox + 2 < W) s += wt[j] * sgn(smooth_term(p, W, y, ox, 0));
    }
    g += coef[0] * s;
  }
  // terms 1, 2: origin (y-i, x-j) reads I[y,x] with weight +1 (i=j), -1 (i!=j).
  if (coef[1] != T(0) || coef[2] != T(0)) {
    T s1 = T(0), s2 = T(0);
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) {
        int oy = y - i, ox = x - j;
        if (oy < 0 || ox < 0 || oy + 1 >= H || ox + 1 >= W) continue;
        T wt = i == j ? T(1) : T(-1);
        s1 += wt * sgn(smooth_term(p, W, oy, ox, 1));
        s2 += wt * sgn(smooth_term(p, W, oy, ox, 2));
      }
    g += coef[1] * s1 + coef[2] * s2;
  }
  // term 3: origin (y-i, x) reads I[y,x] with weight +1, -2, +1.
  if (coef[3] != T(0)) {
    const T wt[3] = {T(1), T(-2), T(1)};
    T s = T(0);
    for (int i = 0; i < 3; ++i) {
      int oy = y - i;
      if (oy >= 0 && oy + 2 < H) s += wt[i] * sgn(smooth_term(p, W, oy, x, 3));
    }
    g += coef[3] * s;
  }
  return g;
}

// ------------------------------------------------------------------ explainability (sigmoid mask)
// Binary cross-entropy of mask value m against 1, as PyTorch: -max(log m, -100).
template <class T> SFM_HD T bce_ones(T m) {
  T l = loss_detail::log_(m);
  return l > T(-100) ? -l : T(100);
}
// d bce_ones / dm: -1/m where the log is not clamped, 0 where it is (m <= e^-100, e.g. m = 0).
// (PyTorch's own backward, (m-1)/max(m(1-m), 1e-12), equals -1/m for 1e-12 < m < 1.)
template <class T> SFM_HD T bce_ones_grad(T m) { return loss_detail::log_(m) > T(-100) ? T(-1) / m : T(0); }

// ------------------------------------------------------------------ explainability (2-class softmax)
// Logit pair (l0, l1) = (not explainable, explainable). Cross-entropy against class 1:
// -log softmax_1 = log(1 + exp(l0 - l1)) (a softplus, stable for both signs).
// Written as max(z, 0) + log1p(exp(-|z|)): no overflow, and no branch on the sign of z (a
// coin flip on real logits, which a branch would mispredict).
template <class T> SFM_HD T pair_ce(T l0, T l1) {
  using namespace loss_detail;
  T z = l0 - l1;
  return (z > T(0) ? z : T(0)) + log1p_(exp_(-abs_(z)));
}
// Stable logistic 1 / (1 + exp(-z)), branch-free: with e = exp(-|z|) <= 1, it is 1/(1+e) for
// z >= 0 and e/(1+e) otherwise.
template <class T> SFM_HD T logistic(T z) {
  using namespace loss_detail;
  T e = exp_(-abs_(z));
  T r = T(1) / (T(1) + e);
  return z >= T(0) ? r : e * r;
}
// Gradients of g * pair_ce(l0, l1): g0 = g * sigmoid(l0 - l1) = g * softmax_0, g1 = -g0.
template <class T> SFM_HD void pair_ce_grad(T l0, T l1, T g, T& g0, T& g1) {
  g0 = g * logistic(l0 - l1);
  g1 = -g0;
}
// Probability of class 1: softmax_1 = sigmoid(l1 - l0).
template <class T> SFM_HD T pair_mask(T l0, T l1) { return logistic(l1 - l0); }
// From the output y = pair_mask(l0, l1) and its gradient g: g1 = g y (1 - y), g0 = -g1.
template <class T> SFM_HD void pair_mask_grad(T y, T g, T& g0, T& g1) {
  g1 = g * y * (T(1) - y);
  g0 = -g1;
}

}  // namespace sfm::math
