#pragma once
// Per-pixel math of min_reprojection_loss (Monodepth2's photometric objective, fused with the
// warp), shared by the CPU loops (cpu/min_reprojection.cpp) and the CUDA kernels
// (kernels/min_reprojection_kernels.h). The warp itself is boundary/math/warp_math.h's.
//
// Per target pixel p of batch entry b and source s (C channels, images in [0, 1]):
//   y_s = inverse warp of src_s (warp_math.h: projection with depth(q) at every pixel q, bilinear);
//   window(p) = the 3x3 pixels around p, reflected at the image border (ReflectionPad2d(1):
//               index -1 -> 1, n -> n-2; needs H, W >= 2);
//   SSIM_c(p) = ((2 mu_x mu_y + C1)(2 s_xy + C2)) / ((mu_x^2 + mu_y^2 + C1)(s_x + s_y + C2)),
//               mu, s: the window's means, variances and covariance of x = tgt and y = y_s in
//               channel c (E[x^2] - mu_x^2 etc., evaluated from centred values); C1 = 0.01^2,
//               C2 = 0.03^2;
//   pe_s(p)   = 1/C sum_c [ alpha clamp((1 - SSIM_c(p))/2, 0, 1) + (1 - alpha) |x_c(p) - y_c(p)| ]
//               (use_ssim off: 1/C sum_c |x_c(p) - y_c(p)|);
//   identity  : id_s(p) = pe of the unwarped src_s, plus amplitude * N(0,1) noise drawn from a
//               counter-based hash of (seed, b, s, p) (automask_noise), so every backend draws
//               the same value;
//   selection : min over s of pe_s(p) (or their mean); with automask also min with every
//               id_s(p), an identity winning ties (a pixel counts only where a warped source
//               beats every unwarped one). The loss is the mean over B*H*W of the selected values.
//   chosen(p) : s in [0, S) the warped source s won; S the mean of the warped sources won (mean
//               mode); -(j + 1) the unwarped source j won (its value counts, it has no gradient).
//
// Gradient (to depth and poses only): dL/dy_s(q) gathers, over the pixels p whose window holds
// q (p within one pixel of q; a reflected window may hold q twice), w_s(p) dpe_s(p)/dy_s(q)
// with w_s(p) = 1 where chosen(p) = s, 1/S where chosen(p) = S, else 0. Each thread recomputes
// the windows of the neighbours it needs (nothing is staged in memory), so forward and
// backward are single gather passes over the target pixels; then warp_math.h's chain gives
// dL/ddepth(q) and the 12 dL/dM, dL/dm terms of (b, s).
//
// Per window (n = 9 values, each x_k, y_k), with S = N / D, N = A1 A2, D = B1 B2,
// A1 = 2 mu_x mu_y + C1, A2 = 2 s_xy + C2, B1 = mu_x^2 + mu_y^2 + C1, B2 = s_x + s_y + C2:
//   dS/dy_k = 1/n [ dS/dmu_y + 2 dS/ds_y (y_k - mu_y) + dS/ds_xy (x_k - mu_x) ],
//   dS/dmu_y = 2 (mu_x A2 - S mu_y B2) / D,  dS/ds_y = -S B1 / D,  dS/ds_xy = 2 A1 / D;
// the clamp's gradient is 0 outside (0, 1) (as torch.clamp's), d|e|/de = 0 at e = 0.
#include <cmath>
#include <cstdint>

#include "boundary/host_device.h"
#include "boundary/math/scalar_math.h"
#include "boundary/math/warp_math.h"
#include "boundary/op_types.h"  // MinReprojectionOptions, Padding

namespace sfm::math {

constexpr double kSsimC1 = 0.01 * 0.01;
constexpr double kSsimC2 = 0.03 * 0.03;
constexpr int kWindow = 9;  // 3x3

// ReflectionPad2d(1) index for i in [-1, n]: -1 -> 1, n -> n - 2 (n >= 2). A plane of one row or
// column (allowed without SSIM, where only the window's centre is used) has no reflection: every
// index is 0, so that the window's unused corners still read inside the plane.
SFM_HD int reflect_index(int i, int n) { return n <= 1 ? 0 : (i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i)); }

// ------------------------------------------------------------------ SSIM of one window
// The SSIM loss term clamp((1 - SSIM)/2, 0, 1) of the 9 values x[k], y[k]. When gy is given,
// gy[k] = g * d term / d y[k] (0 where the clamp is active).
template <class T> SFM_HD T ssim_term(const T* x, const T* y, T g = T(0), T* gy = nullptr) {
  const T inv_n = T(1) / T(kWindow);
  T sx = T(0), sy = T(0);
  for (int k = 0; k < kWindow; ++k) {
    sx += x[k];
    sy += y[k];
  }
  const T mu_x = sx * inv_n, mu_y = sy * inv_n;
  // The (co)variances from centred values: the same quantities as E[xy] - mu_x mu_y, without
  // its cancellation in float32 (a window's variance is often far below its mean square).
  T sxx = T(0), syy = T(0), sxy = T(0);
  for (int k = 0; k < kWindow; ++k) {
    const T dx = x[k] - mu_x, dy = y[k] - mu_y;
    sxx += dx * dx;
    syy += dy * dy;
    sxy += dx * dy;
  }
  const T var_x = sxx * inv_n, var_y = syy * inv_n, cov = sxy * inv_n;
  const T c1 = T(kSsimC1), c2 = T(kSsimC2);
  const T A1 = T(2) * mu_x * mu_y + c1, A2 = T(2) * cov + c2;
  const T B1 = mu_x * mu_x + mu_y * mu_y + c1, B2 = var_x + var_y + c2;
  const T D = B1 * B2;
  const T S = A1 * A2 / D;
  const T raw = (T(1) - S) * T(0.5);
  const bool inside = raw > T(0) && raw < T(1);
  const T term = raw > T(0) ? (raw < T(1) ? raw : T(1)) : T(0);
  if (gy) {
    // d term / d S = -1/2 inside the clamp, 0 outside.
    const T gs = inside ? -T(0.5) * g : T(0);
    const T d_mu = T(2) * (mu_x * A2 - S * mu_y * B2) / D;
    const T d_var = -S * B1 / D;
    const T d_cov = T(2) * A1 / D;
    for (int k = 0; k < kWindow; ++k)
      gy[k] = gs * inv_n * (d_mu + T(2) * d_var * (y[k] - mu_y) + d_cov * (x[k] - mu_x));
  }
  return term;
}

// ------------------------------------------------------------------ identity noise
// N(0,1) from a counter-based hash of (seed, b, s, pixel): splitmix64 finalisers of the mixed
// key give two 53-bit uniforms, Box-Muller in double. No state, so a pixel's value does not
// depend on the order (or the device) in which pixels are visited. The host emulation gives
// the CPU's bits; CUDA's double log and cos are within 2 ulp of glibc's, so a GPU's float32
// noise value differs from the CPU's in its last bit at most, and only rarely (~2^-28).
SFM_HD uint64_t noise_mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
SFM_HD double automask_noise(uint64_t seed, int64_t b, int64_t s, int64_t pixel) {
  uint64_t h = noise_mix(seed);
  h = noise_mix(h ^ (uint64_t)b);
  h = noise_mix(h ^ (uint64_t)s);
  h = noise_mix(h ^ (uint64_t)pixel);
  const uint64_t h2 = noise_mix(h ^ 0x5851f42d4c957f2dull);
  const double u1 = ((double)(h >> 11) + 1.0) * 0x1p-53;  // (0, 1]
  const double u2 = (double)(h2 >> 11) * 0x1p-53;         // [0, 1)
  const double two_pi = 6.283185307179586476925286766559;
  return ::sqrt(-2.0 * ::log(u1)) * ::cos(two_pi * u2);
}

// ------------------------------------------------------------------ one batch entry
template <class T> struct ReprojectionView {
  const T* Mm;     // [S][12]: (M, m) of each source of this batch entry (warp_setup)
  const T* tgt;    // [C, H*W]
  const T* srcs;   // [S, C, H*W]
  const T* depth;  // [H*W]
  int S, C, H, W;
  int64_t b;       // the batch index (keys the noise)
  MinReprojectionOptions opt;
};

// The taps of the 9 window pixels of p = (px, py) warped from source s; pos[k] their plane offsets.
template <class T>
SFM_HD void window_taps(const ReprojectionView<T>& v, int s, int px, int py, BilinearTaps<T>* taps, int* pos) {
  const T* M = v.Mm + 12 * s;
  for (int k = 0; k < kWindow; ++k) {
    const int qx = reflect_index(px + k % 3 - 1, v.W), qy = reflect_index(py + k / 3 - 1, v.H);
    pos[k] = qy * v.W + qx;
    const Projected<T> pr = project_pixel(M, M + 9, T(qx), T(qy), v.depth[pos[k]]);
    taps[k] = bilinear_setup(pr.u, pr.v, v.W, v.H, v.opt.padding);
  }
}
template <class T> SFM_HD void window_positions(const ReprojectionView<T>& v, int px, int py, int* pos) {
  for (int k = 0; k < kWindow; ++k)
    pos[k] = reflect_index(py + k / 3 - 1, v.H) * v.W + reflect_index(px + k % 3 - 1, v.W);
}

// pe of source s at p: warped through taps (window_taps) or, taps == nullptr, unwarped (identity).
// warped_centre (nullable, [C, H*W]) receives the warped centre samples.
template <class T>
SFM_HD T pe_at(const ReprojectionView<T>& v, int s, const BilinearTaps<T>* taps, const int* pos, T* warped_centre) {
  const int64_t plane = (int64_t)v.H * v.W;
  const T alpha = v.opt.use_ssim ? T(v.opt.ssim_weight) : T(0);
  T total = T(0);
  for (int c = 0; c < v.C; ++c) {
    const T* tp = v.tgt + c * plane;
    const T* sp = v.srcs + ((int64_t)s * v.C + c) * plane;
    T x[kWindow], y[kWindow];
    for (int k = 0; k < kWindow; ++k) {
      x[k] = tp[pos[k]];
      y[k] = taps ? bilinear_sample(taps[k], sp) : sp[pos[k]];
    }
    if (warped_centre) warped_centre[c * plane + pos[4]] = y[4];
    const T l1 = (T(1) - alpha) * warp_detail::abs_(x[4] - y[4]);
    total += v.opt.use_ssim ? alpha * ssim_term(x, y) + l1 : l1;
  }
  return total / T(v.C);
}

// The selected value at p = (px, py) (see the top); writes *chosen (the code) and, when
// warped is non-null ([S, C, H*W] of this batch entry), the warped samples of p.
template <class T>
SFM_HD T min_reprojection_pixel_forward(const ReprojectionView<T>& v, int px, int py, T* chosen, T* warped) {
  const int64_t plane = (int64_t)v.H * v.W;
  BilinearTaps<T> taps[kWindow];
  int pos[kWindow];
  T best = T(0), sum = T(0);
  int code = 0;
  for (int s = 0; s < v.S; ++s) {
    window_taps(v, s, px, py, taps, pos);
    const T pe = pe_at(v, s, taps, pos, warped ? warped + (int64_t)s * v.C * plane : (T*)nullptr);
    sum += pe;
    if (s == 0 || pe < best) {  // lowest s wins ties
      best = pe;
      code = s;
    }
  }
  if (!v.opt.min_over_sources) {
    best = sum / T(v.S);
    code = v.S;
  }
  if (v.opt.automask) {
    window_positions(v, px, py, pos);
    const int64_t pix = (int64_t)py * v.W + px;
    for (int j = 0; j < v.S; ++j) {
      const T id = pe_at(v, j, (const BilinearTaps<T>*)nullptr, pos, (T*)nullptr) +
                   T(v.opt.noise_amplitude * automask_noise(v.opt.noise_seed, v.b, j, pix));
      if (id <= best) {  // an identity wins ties
        best = id;
        code = -(j + 1);
      }
    }
  }
  *chosen = T(code);
  return best;
}

// Weight of source s in the value selected at a pixel with the given code.
template <class T> SFM_HD T selection_weight(const ReprojectionView<T>& v, int s, T code) {
  if (v.opt.min_over_sources) return code == T(s) ? T(1) : T(0);
  return code == T(v.S) ? T(1) / T(v.S) : T(0);
}

// Backward at q = (qx, qy) for source s: g is the upstream gradient over B*H*W, chosen the
// codes of this batch entry ([H*W]). Returns dL/ddepth(q) through source s and adds the 12
// dL/dM, dL/dm terms of (b, s) to acc. Each neighbour p whose window holds q (and whose
// selection gives s a weight) has its window recomputed once, for all channels.
template <class T, class A>
SFM_HD T min_reprojection_pixel_backward(const ReprojectionView<T>& v, int s, int qx, int qy, const T* chosen, T g,
                                         A* acc) {
  const int64_t plane = (int64_t)v.H * v.W;
  const int qpos = qy * v.W + qx;
  const T alpha = v.opt.use_ssim ? T(v.opt.ssim_weight) : T(0);
  const T inv_c = T(1) / T(v.C);
  const T* M = v.Mm + 12 * s;
  const Projected<T> pq = project_pixel(M, M + 9, T(qx), T(qy), v.depth[qpos]);
  const BilinearTaps<T> tq = bilinear_setup(pq.u, pq.v, v.W, v.H, v.opt.padding);
  BilinearTaps<T> taps[kWindow];
  int pos[kWindow];
  T gu = T(0), gv = T(0);
  const int r = v.opt.use_ssim ? 1 : 0;  // without SSIM only p = q reads y_s(q)
  for (int oy = -r; oy <= r; ++oy)
    for (int ox = -r; ox <= r; ++ox) {
      const int px = qx + ox, py = qy + oy;
      if (px < 0 || px >= v.W || py < 0 || py >= v.H) continue;
      const T w = selection_weight(v, s, chosen[py * v.W + px]);
      if (w == T(0)) continue;
      const T gp = g * w * inv_c;  // dL/dpe_s(p) / C
      if (v.opt.use_ssim) window_taps(v, s, px, py, taps, pos);
      for (int c = 0; c < v.C; ++c) {
        const T* tp = v.tgt + c * plane;
        const T* sp = v.srcs + ((int64_t)s * v.C + c) * plane;
        T G = T(0);  // dL/dy_s(q, c) from p
        if (v.opt.use_ssim) {
          T x[kWindow], y[kWindow], gy[kWindow];
          for (int k = 0; k < kWindow; ++k) {
            x[k] = tp[pos[k]];
            y[k] = bilinear_sample(taps[k], sp);
          }
          ssim_term(x, y, gp * alpha, gy);
          for (int k = 0; k < kWindow; ++k)
            if (pos[k] == qpos) G += gy[k];
        }
        if (ox == 0 && oy == 0) G -= gp * (T(1) - alpha) * warp_detail::sign_(tp[qpos] - bilinear_sample(tq, sp));
        if (G != T(0)) bilinear_grad_uv(tq, sp, G, gu, gv);
      }
    }
  return project_pixel_backward(pq, T(qx), T(qy), v.depth[qpos], gu, gv, acc);
}

}  // namespace sfm::math
