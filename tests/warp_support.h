// Helpers of the geometry-op tests (tests/test_warp.cpp: pose_vec2mat and inverse_warp;
// tests/test_photometric.cpp: the fused photometric loss): K and pose makers, the PyTorch
// fixtures, an independent naive warp and the unfused photometric composition.
#pragma once

#include <catch2/catch.hpp>

#include "tests/tensor_compare.h"
#include "tests/test_support.h"
#include <Eigen/Geometry>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/rng.h"
#include "engine/safetensors.h"
#include "tests/gradcheck.h"

namespace sfm::test::warp_support {

using namespace sfm;
using sfm::test::max_abs;
using sfm::test::max_abs_diff;

// Intrinsics like the fixture script's: fx ~ 0.8 W, fy ~ H, principal point near the centre,
// slightly different per batch entry (so batch indexing is exercised); optional skew.
inline Tensor make_K(int64_t B, int64_t H, int64_t W, DType dt = DType::F64, double skew = 0.0) {
  std::vector<double> k;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<double> kb = {0.8 * W + 0.3 * b, skew, W / 2.0 - 0.4 + 0.1 * b, 0, 1.0 * H - 0.2 * b,
                              H / 2.0 - 0.3, 0, 0, 1};
    k.insert(k.end(), kb.begin(), kb.end());
  }
  return Tensor::from_vector(k, Shape{B, 3, 3}).to(dt);
}

// Poses [..., 6]: translations in +-tmax, angles in +-rmax. With depths in [1, 4] and the K
// above, tmax = 0.25 moves pixels by up to ~1.5 px: the border pixels leave the view, most stay.
inline Tensor rand_pose(const Shape& s, Rng& rng, double tmax = 0.25, double rmax = 0.15, bool grad = true) {
  std::vector<double> v(s.numel());
  for (size_t i = 0; i < v.size(); ++i) v[i] = (i % 6) < 3 ? rng.uniform(-tmax, tmax) : rng.uniform(-rmax, rmax);
  Tensor t = Tensor::from_vector(v, s);
  if (grad) t.set_requires_grad(true);
  return t;
}

inline bool finite_everywhere(const Tensor& a) {
  for (double v : a.to_vector_f64())
    if (!std::isfinite(v)) return false;
  return true;
}

inline const SafeTensors& fixtures() {
  static SafeTensors st = load_safetensors(sfm::test::source_dir() + "/tests/fixtures/ops_warp.safetensors");
  return st;
}
inline Tensor fixture(const std::string& name) {
  auto it = fixtures().tensors.find(name);
  INFO("fixture tensor " << name);
  REQUIRE(it != fixtures().tensors.end());
  return it->second;
}

// ---------------------------------------------------------------- naive reference warp
// Written independently of engine/math/warp_math.h: Eigen's rotations, K^-1 by Eigen, the
// textbook chain X = d K^-1 p, X_s = R X + t, p_s = K X_s, and a bounds-checked bilinear.
inline Eigen::Matrix3d ref_rotation(double rx, double ry, double rz, RotationMode mode) {
  if (mode == RotationMode::Quat) return Eigen::Quaterniond(1.0, rx, ry, rz).normalized().toRotationMatrix();
  return (Eigen::AngleAxisd(rx, Eigen::Vector3d::UnitX()) * Eigen::AngleAxisd(ry, Eigen::Vector3d::UnitY()) *
          Eigen::AngleAxisd(rz, Eigen::Vector3d::UnitZ()))
      .toRotationMatrix();
}

inline Tensor naive_warp(const Tensor& src, const Tensor& depth, const Tensor& pose, const Tensor& K, Padding padding,
                  RotationMode mode, Tensor* valid) {
  const int64_t B = src.dim(0), C = src.dim(1), H = src.dim(2), W = src.dim(3);
  std::vector<double> s = src.to_vector_f64(), d = depth.to_vector_f64(), p = pose.to_vector_f64(),
                      k = K.to_vector_f64();
  std::vector<double> out(B * C * H * W), val(B * H * W);
  for (int64_t b = 0; b < B; ++b) {
    Eigen::Matrix3d Km;
    for (int i = 0; i < 9; ++i) Km(i / 3, i % 3) = k[9 * b + i];
    Eigen::Matrix3d R = ref_rotation(p[6 * b + 3], p[6 * b + 4], p[6 * b + 5], mode);
    Eigen::Vector3d t(p[6 * b], p[6 * b + 1], p[6 * b + 2]);
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        Eigen::Vector3d X = d[(b * H + y) * W + x] * (Km.inverse() * Eigen::Vector3d(x, y, 1));
        Eigen::Vector3d q = Km * (R * X + t);
        double z = std::max(q.z(), 1e-3);
        double u = q.x() / z, v = q.y() / z;
        bool in = u >= 0 && u <= W - 1 && v >= 0 && v <= H - 1;
        val[(b * H + y) * W + x] = in ? 1 : 0;
        if (padding == Padding::Border) {
          u = std::min(std::max(u, 0.0), double(W - 1));
          v = std::min(std::max(v, 0.0), double(H - 1));
        }
        for (int64_t c = 0; c < C; ++c) {
          double r = 0;
          if (in || padding == Padding::Border) {
            double x0 = std::floor(u), y0 = std::floor(v);
            for (int dy = 0; dy < 2; ++dy)
              for (int dx = 0; dx < 2; ++dx) {
                int64_t xi = (int64_t)x0 + dx, yi = (int64_t)y0 + dy;
                double w = (dx ? u - x0 : 1 - (u - x0)) * (dy ? v - y0 : 1 - (v - y0));
                if (xi >= 0 && xi < W && yi >= 0 && yi < H) r += w * s[((b * C + c) * H + yi) * W + xi];
              }
          }
          out[((b * C + c) * H + y) * W + x] = r;
        }
      }
  }
  if (valid) *valid = Tensor::from_vector(val, Shape{B, 1, H, W});
  return Tensor::from_vector(out, src.shape());
}

// ---------------------------------------------------------------- unfused photometric loss
// sum_s mean(w_s * |tgt - inverse_warp(src_s)|) from the separate ops (the reference's form).
inline Tensor unfused_photometric(const Tensor& tgt, const Tensor& srcs, const Tensor& depth, const Tensor& poses,
                           const Tensor& K, const Tensor& mask, const PhotometricOptions& opt) {
  const int64_t B = srcs.dim(0), S = srcs.dim(1), C = srcs.dim(2), H = srcs.dim(3), W = srcs.dim(4);
  Tensor srcs4 = reshape(srcs, Shape{B, S * C, H, W});
  Tensor poses2 = reshape(poses, Shape{B, S * 6});
  Tensor total;
  for (int64_t s = 0; s < S; ++s) {
    Tensor valid;
    Tensor warped = inverse_warp(slice_channels(srcs4, s * C, (s + 1) * C), depth,
                                 slice_channels(poses2, 6 * s, 6 * s + 6), K, opt.padding, &valid, opt.rotation);
    Tensor diff = abs(sub(tgt, warped));
    Tensor w;
    if (!opt.keep_out_of_view) w = concat_channels(std::vector<Tensor>(C, valid));
    if (mask.defined()) {
      Tensor m = concat_channels(std::vector<Tensor>(C, slice_channels(mask, s, s + 1)));
      w = w.defined() ? mul(w, m) : m;
    }
    Tensor term = mean(w.defined() ? mul(diff, w) : diff);
    total = total.defined() ? add(total, term) : term;
  }
  return total;
}

inline const char* pad_name(Padding p) { return p == Padding::Zeros ? "zeros" : "border"; }
inline const char* rot_name(RotationMode m) { return m == RotationMode::Euler ? "euler" : "quat"; }


}  // namespace sfm::test::warp_support
