#pragma once
// Geometry math shared by the CPU loops (cpu/warp.cpp) and the CUDA kernels
// (kernels/warp.cu): pose parametrisations, the per-(batch, source) projection setup, the
// per-pixel projection and bilinear sampling, and the per-pixel photometric loss term with
// its gradient. Everything is templated on the element type T (float, or double for the
// gradient checks) and marked SFM_HD, so the CPU tests run the very arithmetic of the GPU.
//
// Conventions (those of the PyTorch port of SfMLearner, align_corners=True):
//   * 3x3 matrices are row-major T[9]; a pose is T[6] = (tx, ty, tz, rx, ry, rz).
//   * Euler: R = Rx(rx) Ry(ry) Rz(rz), with the right-handed elementary rotations
//       Rx = [1 0 0; 0 cx -sx; 0 sx cx], Ry = [cy 0 sy; 0 1 0; -sy 0 cy], Rz = [cz -sz 0; sz cz 0; 0 0 1].
//   * Quat: q = (1, rx, ry, rz) / |(1, rx, ry, rz)| = (w, x, y, z), and
//       R = [w2+x2-y2-z2, 2xy-2wz, 2wy+2xz; 2wz+2xy, w2-x2+y2-z2, 2yz-2wx; 2xz-2wy, 2wx+2yz, w2-x2-y2+z2].
//   * The pose maps target-camera points to the source camera: X_s = R X_t + t.
//   * Per (batch, source): M = K R K^-1 (evaluated as I + K (R-I) K^-1) and m = K t.
//     Per target pixel (x, y) with depth d:
//       q = d * M [x, y, 1]^T + m,  u = q0 / max(q2, 1e-3),  v = q1 / max(q2, 1e-3)
//     (u, v) in source pixels; (0, 0) is the centre of the top-left pixel, (W-1, H-1) of the
//     bottom-right one. The gradient through q2 is zero where q2 < 1e-3 (clamped).
//   * In view: 0 <= u <= W-1 and 0 <= v <= H-1 (the port's |normalised coordinate| <= 1).
//   * Padding::Zeros: an out-of-view sample is 0 as a whole (the port pushes the coordinate far
//     outside); an in-view sample is bilinear, with taps outside the image (possible only on
//     the last row/column, with weight 0) read as 0.
//     Padding::Border: (u, v) clamped to [0, W-1] x [0, H-1]; zero gradient w.r.t. a clamped
//     coordinate (also exactly on the border, as PyTorch's grid_sample).
//
// Gradient chain used by both backends:
//   per pixel:  dL/dq from dL/du, dL/dv;  dL/dd = dL/dq . (M [x,y,1]);
//               dL/dM += dL/dq (d [x,y,1])^T,  dL/dm += dL/dq   (12 accumulators per (b, s))
//   per (b, s): dL/dR = K^T dL/dM K^-T,  dL/dt = K^T dL/dm,  dL/dr_k = <dR/dr_k, dL/dR>
//               (analytic Jacobians of both rotation parametrisations, below).
#include <cmath>

#include "boundary/host_device.h"
#include "boundary/math/scalar_math.h"
#include "boundary/op_types.h"  // RotationMode, Padding

namespace sfm::math {

// Smallest depth in the source camera: z is clamped to at least this before the division.
constexpr double kWarpMinZ = 1e-3;
// Number of per-(b, s) gradient accumulators: dL/dM (9, row-major) then dL/dm (3).
constexpr int kWarpAcc = 12;

namespace warp_detail {
using namespace scalar;
}  // namespace warp_detail

// ------------------------------------------------------------------ 3x3 helpers (row-major)
// C = A B (C must not alias A or B).
template <class T> SFM_HD void mat3_mul(const T* A, const T* B, T* C) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) C[3 * i + j] = A[3 * i] * B[j] + A[3 * i + 1] * B[3 + j] + A[3 * i + 2] * B[6 + j];
}
// C = A^T B.
template <class T> SFM_HD void mat3_mul_tn(const T* A, const T* B, T* C) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) C[3 * i + j] = A[i] * B[j] + A[3 + i] * B[3 + j] + A[6 + i] * B[6 + j];
}
// C = A B^T.
template <class T> SFM_HD void mat3_mul_nt(const T* A, const T* B, T* C) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      C[3 * i + j] = A[3 * i] * B[3 * j] + A[3 * i + 1] * B[3 * j + 1] + A[3 * i + 2] * B[3 * j + 2];
}
// y = A x.
template <class T> SFM_HD void mat3_vec(const T* A, const T* x, T* y) {
  for (int i = 0; i < 3; ++i) y[i] = A[3 * i] * x[0] + A[3 * i + 1] * x[1] + A[3 * i + 2] * x[2];
}
// y = A^T x.
template <class T> SFM_HD void mat3_tvec(const T* A, const T* x, T* y) {
  for (int i = 0; i < 3; ++i) y[i] = A[i] * x[0] + A[3 + i] * x[1] + A[6 + i] * x[2];
}
// Ai = A^-1 by the adjugate; returns det(A) (Ai is inf/nan when A is singular).
template <class T> SFM_HD T mat3_inverse(const T* A, T* Ai) {
  T c00 = A[4] * A[8] - A[5] * A[7], c01 = A[5] * A[6] - A[3] * A[8], c02 = A[3] * A[7] - A[4] * A[6];
  T det = A[0] * c00 + A[1] * c01 + A[2] * c02;
  T r = T(1) / det;
  Ai[0] = c00 * r;
  Ai[1] = (A[2] * A[7] - A[1] * A[8]) * r;
  Ai[2] = (A[1] * A[5] - A[2] * A[4]) * r;
  Ai[3] = c01 * r;
  Ai[4] = (A[0] * A[8] - A[2] * A[6]) * r;
  Ai[5] = (A[2] * A[3] - A[0] * A[5]) * r;
  Ai[6] = c02 * r;
  Ai[7] = (A[1] * A[6] - A[0] * A[7]) * r;
  Ai[8] = (A[0] * A[4] - A[1] * A[3]) * r;
  return det;
}

// ------------------------------------------------------------------ rotations
// R = Rx Ry Rz from r = (rx, ry, rz); dR (nullable, 27) receives dR/drx, dR/dry, dR/drz.
template <class T> SFM_HD void euler_to_rotation(const T* r, T* R, T* dR) {
  using namespace warp_detail;
  T cx = cos_(r[0]), sx = sin_(r[0]), cy = cos_(r[1]), sy = sin_(r[1]), cz = cos_(r[2]), sz = sin_(r[2]);
  T Rx[9] = {T(1), T(0), T(0), T(0), cx, -sx, T(0), sx, cx};
  T Ry[9] = {cy, T(0), sy, T(0), T(1), T(0), -sy, T(0), cy};
  T Rz[9] = {cz, -sz, T(0), sz, cz, T(0), T(0), T(0), T(1)};
  T YZ[9];
  mat3_mul(Ry, Rz, YZ);
  mat3_mul(Rx, YZ, R);
  if (!dR) return;
  T dRx[9] = {T(0), T(0), T(0), T(0), -sx, -cx, T(0), cx, -sx};
  T dRy[9] = {-sy, T(0), cy, T(0), T(0), T(0), -cy, T(0), -sy};
  T dRz[9] = {-sz, -cz, T(0), cz, -sz, T(0), T(0), T(0), T(0)};
  mat3_mul(dRx, YZ, dR);  // dR/drx = dRx Ry Rz
  T t[9];
  mat3_mul(dRy, Rz, t);
  mat3_mul(Rx, t, dR + 9);  // dR/dry = Rx dRy Rz
  T XY[9];
  mat3_mul(Rx, Ry, XY);
  mat3_mul(XY, dRz, dR + 18);  // dR/drz = Rx Ry dRz
}

// R of the unit quaternion (1, rx, ry, rz)/norm; dR (nullable, 27) receives dR/drx, dR/dry, dR/drz.
template <class T> SFM_HD void quat_to_rotation(const T* r, T* R, T* dR) {
  using namespace warp_detail;
  T n = sqrt_(T(1) + r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
  T inv = T(1) / n;
  T w = inv, x = r[0] * inv, y = r[1] * inv, z = r[2] * inv;
  T w2 = w * w, x2 = x * x, y2 = y * y, z2 = z * z;
  R[0] = w2 + x2 - y2 - z2;
  R[1] = T(2) * x * y - T(2) * w * z;
  R[2] = T(2) * w * y + T(2) * x * z;
  R[3] = T(2) * w * z + T(2) * x * y;
  R[4] = w2 - x2 + y2 - z2;
  R[5] = T(2) * y * z - T(2) * w * x;
  R[6] = T(2) * x * z - T(2) * w * y;
  R[7] = T(2) * w * x + T(2) * y * z;
  R[8] = w2 - x2 - y2 + z2;
  if (!dR) return;
  // dR/dq for q = (w, x, y, z): each entry is a quadratic form, its gradient is linear in q.
  T g[9][4] = {
      {2 * w, 2 * x, -2 * y, -2 * z}, {-2 * z, 2 * y, 2 * x, -2 * w}, {2 * y, 2 * z, 2 * w, 2 * x},
      {2 * z, 2 * y, 2 * x, 2 * w},   {2 * w, -2 * x, 2 * y, -2 * z}, {-2 * x, -2 * w, 2 * z, 2 * y},
      {-2 * y, 2 * z, -2 * w, 2 * x}, {2 * x, 2 * w, 2 * z, 2 * y},   {2 * w, -2 * x, -2 * y, 2 * z}};
  // q = p / |p| with p = (1, rx, ry, rz): dq_i/dp_j = (delta_ij - q_i q_j) / |p|.
  T q[4] = {w, x, y, z};
  for (int k = 0; k < 3; ++k) {
    int j = k + 1;
    T dq[4];
    for (int i = 0; i < 4; ++i) dq[i] = ((i == j ? T(1) : T(0)) - q[i] * q[j]) * inv;
    for (int e = 0; e < 9; ++e) dR[9 * k + e] = g[e][0] * dq[0] + g[e][1] * dq[1] + g[e][2] * dq[2] + g[e][3] * dq[3];
  }
}

template <class T> SFM_HD void rotation_from_params(RotationMode mode, const T* r, T* R, T* dR) {
  if (mode == RotationMode::Quat)
    quat_to_rotation(r, R, dR);
  else
    euler_to_rotation(r, R, dR);
}

// ------------------------------------------------------------------ pose_vec2mat
// Rt (12, row-major 3x4) = [R | t] of pose (6).
template <class T> SFM_HD void pose_vec2mat_forward(RotationMode mode, const T* pose, T* Rt) {
  T R[9];
  rotation_from_params(mode, pose + 3, R, (T*)nullptr);
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) Rt[4 * i + j] = R[3 * i + j];
    Rt[4 * i + 3] = pose[i];
  }
}
// gpose (6) = dL/dpose from gRt = dL/d[R|t] (12).
template <class T> SFM_HD void pose_vec2mat_backward(RotationMode mode, const T* pose, const T* gRt, T* gpose) {
  T R[9], dR[27];
  rotation_from_params(mode, pose + 3, R, dR);
  for (int i = 0; i < 3; ++i) gpose[i] = gRt[4 * i + 3];
  for (int k = 0; k < 3; ++k) {
    T s = T(0);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) s += dR[9 * k + 3 * i + j] * gRt[4 * i + j];
    gpose[3 + k] = s;
  }
}

// ------------------------------------------------------------------ per-(batch, source) setup
// M (9) = K R K^-1 and m (3) = K t for pose (6) and intrinsics K (9).
// M is evaluated as I + K (R - I) K^-1: the same matrix, but exactly I when R is exactly I
// (a zero rotation), so a pure translation moves pixels by exactly K t / depth, and the
// rounding of K K^-1 never pushes the last row/column out of view. It is also the better
// conditioned form for the small rotations of video.
template <class T> SFM_HD void warp_setup(RotationMode mode, const T* pose, const T* K, T* M, T* m) {
  T R[9], Ki[9], KD[9];
  rotation_from_params(mode, pose + 3, R, (T*)nullptr);
  R[0] -= T(1);
  R[4] -= T(1);
  R[8] -= T(1);
  mat3_inverse(K, Ki);
  mat3_mul(K, R, KD);
  mat3_mul(KD, Ki, M);
  M[0] += T(1);
  M[4] += T(1);
  M[8] += T(1);
  mat3_vec(K, pose, m);
}
// gpose (6) = dL/dpose from the accumulated acc = (dL/dM (9), dL/dm (3)); K takes no gradient.
template <class T> SFM_HD void warp_pose_backward(RotationMode mode, const T* pose, const T* K, const T* acc, T* gpose) {
  T R[9], dR[27], Ki[9], t[9], gR[9];
  rotation_from_params(mode, pose + 3, R, dR);
  mat3_inverse(K, Ki);
  mat3_mul_tn(K, acc, t);  // K^T dL/dM
  mat3_mul_nt(t, Ki, gR);  // ... K^-T
  mat3_tvec(K, acc + 9, gpose);  // dL/dt = K^T dL/dm
  for (int k = 0; k < 3; ++k) {
    T s = T(0);
    for (int e = 0; e < 9; ++e) s += dR[9 * k + e] * gR[e];
    gpose[3 + k] = s;
  }
}

// ------------------------------------------------------------------ per-pixel projection
template <class T> struct Projected {
  T u, v;          // source pixel coordinates, unclamped
  T inv_z;         // 1 / max(q2, 1e-3)
  T a[3];          // M [x, y, 1]^T (q = d a + m)
  bool z_active;   // q2 >= 1e-3: the gradient flows through q2 (torch's clamp(min) backward)
};

template <class T> SFM_HD Projected<T> project_pixel(const T* M, const T* m, T x, T y, T d) {
  Projected<T> p;
  p.a[0] = M[0] * x + M[1] * y + M[2];
  p.a[1] = M[3] * x + M[4] * y + M[5];
  p.a[2] = M[6] * x + M[7] * y + M[8];
  T q0 = d * p.a[0] + m[0], q1 = d * p.a[1] + m[1], q2 = d * p.a[2] + m[2];
  p.z_active = q2 >= T(kWarpMinZ);
  p.inv_z = T(1) / (p.z_active ? q2 : T(kWarpMinZ));
  p.u = q0 * p.inv_z;
  p.v = q1 * p.inv_z;
  return p;
}

// From dL/du and dL/dv: returns dL/dd and adds dL/dM (acc[0..8]) and dL/dm (acc[9..11]).
// A is the accumulator type (double on the CPU, float in registers on the GPU).
template <class T, class A>
SFM_HD T project_pixel_backward(const Projected<T>& p, T x, T y, T d, T gu, T gv, A* acc) {
  T gq0 = gu * p.inv_z, gq1 = gv * p.inv_z;
  T gq2 = p.z_active ? -(gu * p.u + gv * p.v) * p.inv_z : T(0);
  T gq[3] = {gq0, gq1, gq2};
  T pix[3] = {d * x, d * y, d};
  for (int i = 0; i < 3; ++i) {
    acc[3 * i + 0] += A(gq[i] * pix[0]);
    acc[3 * i + 1] += A(gq[i] * pix[1]);
    acc[3 * i + 2] += A(gq[i] * pix[2]);
    acc[9 + i] += A(gq[i]);
  }
  return gq0 * p.a[0] + gq1 * p.a[1] + gq2 * p.a[2];
}

// ------------------------------------------------------------------ bilinear sampling
// Taps of one sample. Branch-free use: sample = sum_k w[k] * I[idx[k]];
// dsample/du = sum_k wu[k] * I[idx[k]], dsample/dv = sum_k wv[k] * I[idx[k]];
// dL/dI[idx[k]] += g * w[k]. idx[k] is always inside the plane (safe to read); taps that
// are outside the image, and whole out-of-view samples in zeros padding, have all weights 0.
template <class T> struct BilinearTaps {
  int idx[4];       // plane offsets: (x0,y0), (x0+1,y0), (x0,y0+1), (x0+1,y0+1)
  T w[4];           // sampling weights
  T wu[4], wv[4];   // their derivatives w.r.t. u and v (0 where that coordinate's gradient is cut)
  bool in_view;     // 0 <= u <= W-1 and 0 <= v <= H-1, before any clamping
};

template <class T> SFM_HD BilinearTaps<T> bilinear_setup(T u, T v, int W, int H, Padding padding) {
  BilinearTaps<T> b;
  const T umax = T(W - 1), vmax = T(H - 1);
  b.in_view = u >= T(0) && u <= umax && v >= T(0) && v <= vmax;  // false for NaN
  for (int k = 0; k < 4; ++k) {
    b.idx[k] = 0;
    b.w[k] = b.wu[k] = b.wv[k] = T(0);
  }
  T gu_on = T(1), gv_on = T(1);
  if (padding == Padding::Border) {
    // Clamp (NaN goes to 0); the clamp's gradient is 0 outside and on the border.
    gu_on = (u > T(0) && u < umax) ? T(1) : T(0);
    gv_on = (v > T(0) && v < vmax) ? T(1) : T(0);
    u = u >= T(0) ? u : T(0);
    u = u <= umax ? u : umax;
    v = v >= T(0) ? v : T(0);
    v = v <= vmax ? v : vmax;
  } else if (!b.in_view) {
    return b;  // zeros padding: the whole sample is 0
  }
  // Here 0 <= u <= W-1 and 0 <= v <= H-1, so the casts are safe.
  int x0 = (int)warp_detail::floor_(u), y0 = (int)warp_detail::floor_(v);
  if (x0 > W - 1) x0 = W - 1;  // defensive: floor of an in-range value
  if (y0 > H - 1) y0 = H - 1;
  T fx = u - T(x0), fy = v - T(y0);
  T ox = x0 + 1 < W ? T(1) : T(0);  // is the right column inside the image?
  T oy = y0 + 1 < H ? T(1) : T(0);  // is the lower row inside?
  int x1 = x0 + 1 < W ? x0 + 1 : x0, y1 = y0 + 1 < H ? y0 + 1 : y0;
  b.idx[0] = y0 * W + x0;
  b.idx[1] = y0 * W + x1;
  b.idx[2] = y1 * W + x0;
  b.idx[3] = y1 * W + x1;
  T on[4] = {T(1), ox, oy, ox * oy};
  T ax[2] = {T(1) - fx, fx}, ay[2] = {T(1) - fy, fy};
  T dx[2] = {T(-1), T(1)}, dy[2] = {T(-1), T(1)};
  for (int k = 0; k < 4; ++k) {
    int i = k & 1, j = k >> 1;
    b.w[k] = on[k] * ax[i] * ay[j];
    b.wu[k] = on[k] * gu_on * dx[i] * ay[j];
    b.wv[k] = on[k] * gv_on * ax[i] * dy[j];
  }
  return b;
}

template <class T> SFM_HD T bilinear_sample(const BilinearTaps<T>& b, const T* plane) {
  return b.w[0] * plane[b.idx[0]] + b.w[1] * plane[b.idx[1]] + b.w[2] * plane[b.idx[2]] + b.w[3] * plane[b.idx[3]];
}
// gu += g * dsample/du, gv += g * dsample/dv for one channel plane.
template <class T> SFM_HD void bilinear_grad_uv(const BilinearTaps<T>& b, const T* plane, T g, T& gu, T& gv) {
  T i0 = plane[b.idx[0]], i1 = plane[b.idx[1]], i2 = plane[b.idx[2]], i3 = plane[b.idx[3]];
  gu += g * (b.wu[0] * i0 + b.wu[1] * i1 + b.wu[2] * i2 + b.wu[3] * i3);
  gv += g * (b.wv[0] * i0 + b.wv[1] * i1 + b.wv[2] * i2 + b.wv[3] * i3);
}

// ------------------------------------------------------------------ inverse_warp per pixel
// One (batch b) image pair for inverse_warp: src and out/gout point at channel 0 of b.
template <class T> struct WarpView {
  const T* M;  // 9
  const T* m;  // 3
  const T* src;  // [C, H*W]
  int C, H, W;
  Padding padding;
};

// Writes the warped channels out[c*H*W + p] of target pixel (x, y) and returns its in-view flag.
template <class T> SFM_HD bool inverse_warp_pixel_forward(const WarpView<T>& wv, int x, int y, T depth, T* out) {
  Projected<T> p = project_pixel(wv.M, wv.m, T(x), T(y), depth);
  BilinearTaps<T> b = bilinear_setup(p.u, p.v, wv.W, wv.H, wv.padding);
  const long long plane = (long long)wv.H * wv.W, pix = (long long)y * wv.W + x;
  for (int c = 0; c < wv.C; ++c) out[c * plane + pix] = bilinear_sample(b, wv.src + c * plane);
  return b.in_view;
}
// Depth/pose part of the backward at target pixel (x, y): gout points at channel 0 of the
// output gradient of batch b; returns dL/ddepth and adds the 12 dL/dM, dL/dm terms to acc.
template <class T, class A>
SFM_HD T inverse_warp_pixel_backward(const WarpView<T>& wv, int x, int y, T depth, const T* gout, A* acc) {
  Projected<T> p = project_pixel(wv.M, wv.m, T(x), T(y), depth);
  BilinearTaps<T> b = bilinear_setup(p.u, p.v, wv.W, wv.H, wv.padding);
  const long long plane = (long long)wv.H * wv.W, pix = (long long)y * wv.W + x;
  T gu = T(0), gv = T(0);
  for (int c = 0; c < wv.C; ++c) bilinear_grad_uv(b, wv.src + c * plane, gout[c * plane + pix], gu, gv);
  return project_pixel_backward(p, T(x), T(y), depth, gu, gv, acc);
}

// ------------------------------------------------------------------ photometric term per pixel
// One (batch b, source s) pair of the fused photometric loss.
template <class T> struct PhotometricView {
  const T* M;    // 9
  const T* m;    // 3
  const T* tgt;  // [C, H*W], target image of batch b
  const T* src;  // [C, H*W], source s of batch b
  int C, H, W;
  Padding padding;
  bool keep_out_of_view;  // true: out-of-view pixels count |tgt - sample| (original TF code)
};

// Returns sum over channels of w * |tgt - warp(src)| at target pixel (x, y), where
// w = mask * (in_view or 1 when keep_out_of_view). Writes warped[c*H*W + p] when non-null.
template <class T>
SFM_HD T photometric_pixel_forward(const PhotometricView<T>& pv, int x, int y, T depth, T mask, T* warped) {
  Projected<T> p = project_pixel(pv.M, pv.m, T(x), T(y), depth);
  BilinearTaps<T> b = bilinear_setup(p.u, p.v, pv.W, pv.H, pv.padding);
  const long long plane = (long long)pv.H * pv.W, pix = (long long)y * pv.W + x;
  T w = (pv.keep_out_of_view || b.in_view) ? mask : T(0);
  T s = T(0);
  for (int c = 0; c < pv.C; ++c) {
    T sample = bilinear_sample(b, pv.src + c * plane);
    if (warped) warped[c * plane + pix] = sample;
    s += warp_detail::abs_(pv.tgt[c * plane + pix] - sample);
  }
  return w * s;
}

// Backward of g * photometric_pixel_forward(...) (g: the upstream gradient times the mean's
// 1/(B*C*H*W)). Returns dL/ddepth, writes dL/dmask to *gmask and adds dL/dM, dL/dm to acc.
// d|e|/de at e == 0 is taken as 0.
template <class T, class A>
SFM_HD T photometric_pixel_backward(const PhotometricView<T>& pv, int x, int y, T depth, T mask, T g, T* gmask,
                                    A* acc) {
  Projected<T> p = project_pixel(pv.M, pv.m, T(x), T(y), depth);
  BilinearTaps<T> b = bilinear_setup(p.u, p.v, pv.W, pv.H, pv.padding);
  const long long plane = (long long)pv.H * pv.W, pix = (long long)y * pv.W + x;
  bool counted = pv.keep_out_of_view || b.in_view;
  if (!counted) {
    *gmask = T(0);
    return T(0);
  }
  T gw = -g * mask;  // dL/dsample = -g * w * sign(diff)
  T sabs = T(0), gu = T(0), gv = T(0);
  for (int c = 0; c < pv.C; ++c) {
    const T* sp = pv.src + c * plane;
    T diff = pv.tgt[c * plane + pix] - bilinear_sample(b, sp);
    T sg = warp_detail::sign_(diff);
    sabs += sg * diff;
    bilinear_grad_uv(b, sp, gw * sg, gu, gv);
  }
  *gmask = g * sabs;
  return project_pixel_backward(p, T(x), T(y), depth, gu, gv, acc);
}

}  // namespace sfm::math
