#pragma once
// Per-pixel math of edge_aware_smoothness (Monodepth2's get_smooth_loss on the mean-normalised
// disparity), shared by the CPU loops (cpu/edge_smoothness.cpp) and the CUDA kernels
// (kernels/edge_smoothness_kernels.h).
//
// For batch entry b with disparity d [H, W] and image I [C, H, W]:
//   den_b = mean_hw(d) + 1e-7,  d' = d / den_b
//   x edge (y, x)-(y, x+1): |d'(y,x) - d'(y,x+1)| * exp(-mean_c |I(c,y,x) - I(c,y,x+1)|)
//   y edge (y, x)-(y+1, x): likewise along H
//   loss = sum_b L_b,  L_b = ax * sum of x edges of b + ay * sum of y edges of b,
// ax = 1 / (B H (W-1)), ay = 1 / (B (H-1) W): mean(gx) + mean(gy), each over its own elements
// (a term without edges, W = 1 or H = 1, contributes 0 where PyTorch's empty mean gives NaN).
//
// Gradient. With G(p) = dL_b / dd'(p) (a gather over the <= 4 edges at p), the chain rule
// through den_b (d den_b / d d(q) = 1 / hw for every q) gives
//   dL / dd(p) = G(p) / den_b - sum_q G(q) d(q) / (den_b^2 hw),
// and since L_b is positively homogeneous of degree 1 in d' (Euler: sum_q G(q) d'(q) = L_b),
// sum_q G(q) d(q) = den_b L_b, so dL / dd(p) = (G(p) - L_b / hw) / den_b: one gather per pixel
// and the per-batch forward sums L_b, no second reduction in the backward.
#include <cstdint>

#include "boundary/host_device.h"
#include "boundary/math/scalar_math.h"

namespace sfm::math {

// ax = 1 / #x edges, ay = 1 / #y edges over the batch (0 for a term without edges).
SFM_HD void edge_smooth_inv_counts(int64_t B, int64_t H, int64_t W, double& ax, double& ay) {
  const int64_t nx = B * H * (W - 1), ny = B * (H - 1) * W;
  ax = nx > 0 ? 1.0 / (double)nx : 0.0;
  ay = ny > 0 ? 1.0 / (double)ny : 0.0;
}

// The normaliser den_b of a batch entry from its mean disparity (Monodepth2's + 1e-7).
template <class T> SFM_HD T edge_smooth_den(T mean) { return mean + T(1e-7); }

// exp(-mean_c |I(c, a) - I(c, b)|) for pixels a, b (flat offsets in the plane) of one image
// img [C, hw]: the channel sum in channel order, then divided by C as torch.mean does.
template <class T> SFM_HD T edge_smooth_weight(const T* img, int64_t hw, int64_t C, int64_t a, int64_t b) {
  T s = T(0);
  for (int64_t c = 0; c < C; ++c) s += scalar::abs_(img[c * hw + a] - img[c * hw + b]);
  return scalar::exp_(-(s / T(C)));
}

// The weighted disparity difference of the edge between flat pixels a and b (before |.|):
// (d'(a) - d'(b)), d' = d / den.
template <class T> SFM_HD T edge_smooth_diff(const T* d, int64_t a, int64_t b, T den) { return d[a] / den - d[b] / den; }

// The two edges that start at pixel (y, x) of batch entry d [H, W], img [C, H, W]: tx the x
// edge to (y, x+1) (0 at the last column), ty the y edge to (y+1, x) (0 at the last row),
// unnormalised by ax, ay.
template <class T>
SFM_HD void edge_smooth_terms_at(const T* d, const T* img, int64_t C, int H, int W, int y, int x, T den, T& tx, T& ty) {
  const int64_t hw = (int64_t)H * W, p = (int64_t)y * W + x;
  tx = T(0), ty = T(0);
  if (x + 1 < W) tx = scalar::abs_(edge_smooth_diff(d, p, p + 1, den)) * edge_smooth_weight(img, hw, C, p, p + 1);
  if (y + 1 < H) ty = scalar::abs_(edge_smooth_diff(d, p, p + W, den)) * edge_smooth_weight(img, hw, C, p, p + W);
}

// G(p) = dL_b / dd'(p) at pixel (y, x): ax * (left + right edges) + ay * (up + down edges), each
// edge its weight times sign(d'(p) - d'(neighbour)), in that fixed order.
template <class T>
SFM_HD T edge_smooth_dnorm_at(const T* d, const T* img, int64_t C, int H, int W, int y, int x, T den, T ax, T ay) {
  const int64_t hw = (int64_t)H * W, p = (int64_t)y * W + x;
  T gx = T(0), gy = T(0);
  if (x > 0) gx += scalar::sign_(edge_smooth_diff(d, p, p - 1, den)) * edge_smooth_weight(img, hw, C, p - 1, p);
  if (x + 1 < W) gx += scalar::sign_(edge_smooth_diff(d, p, p + 1, den)) * edge_smooth_weight(img, hw, C, p, p + 1);
  if (y > 0) gy += scalar::sign_(edge_smooth_diff(d, p, p - W, den)) * edge_smooth_weight(img, hw, C, p - W, p);
  if (y + 1 < H) gy += scalar::sign_(edge_smooth_diff(d, p, p + W, den)) * edge_smooth_weight(img, hw, C, p, p + W);
  return ax * gx + ay * gy;
}

// dL / dd(p) for an upstream gradient g: g (G(p) - L_b / hw) / den_b (see the top of this file).
template <class T>
SFM_HD T edge_smooth_grad_at(const T* d, const T* img, int64_t C, int H, int W, int y, int x, T den, T ax, T ay,
                             T Lb, T g) {
  const T G = edge_smooth_dnorm_at(d, img, C, H, W, y, x, den, ax, ay);
  return g * ((G - Lb / T((int64_t)H * W)) / den);
}

}  // namespace sfm::math
