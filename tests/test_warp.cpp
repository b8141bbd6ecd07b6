// Geometry ops: pose_vec2mat and inverse_warp (the fused photometric loss: tests/test_photometric.cpp).
// Gradient checks in float64, an independent naive warp (Eigen rotations), exact geometric
// cases, the unfused composition of the photometric loss, PyTorch fixtures
// (tests/reference/fixture_ops_warp.py), thread-count independence and the error paths.
#include <catch2/catch.hpp>

#include "tests/warp_support.h"

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

using namespace sfm;
using namespace sfm::test::warp_support;


// ================================================================ pose_vec2mat
TEST_CASE("pose_vec2mat: Euler and quaternion conventions", "[warp]") {
  // Row 0: a pure rx (R = Rx); row 1: general Euler angles; row 2: large angles.
  Tensor pose = Tensor::from_vector(std::vector<double>{1, 2, 3, 0.3, 0, 0,  //
                                                        -0.5, 0.1, 0.2, 0.2, -0.4, 0.7,  //
                                                        0, 0, 0, 1.2, -0.9, 2.5},
                                    Shape{3, 6});
  Tensor Rt = pose_vec2mat(pose, RotationMode::Euler);
  REQUIRE(Rt.shape() == Shape{3, 3, 4});
  std::vector<double> r = Rt.to_vector_f64(), p = pose.to_vector_f64();
  // Exact elementary rotation about x: [1 0 0; 0 c -s; 0 s c] (the port's sign convention).
  double c = std::cos(0.3), s = std::sin(0.3);
  std::vector<double> rx = {1, 0, 0, 1, 0, c, -s, 2, 0, s, c, 3};
  for (int i = 0; i < 12; ++i) REQUIRE(r[i] == Approx(rx[i]).margin(1e-15));
  // Tolerance 1e-14: two products of 3x3 rotations in double, entries of magnitude <= 1.
  for (int b = 0; b < 3; ++b) {
    Eigen::Matrix3d R = ref_rotation(p[6 * b + 3], p[6 * b + 4], p[6 * b + 5], RotationMode::Euler);
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) REQUIRE(r[12 * b + 4 * i + j] == Approx(R(i, j)).margin(1e-14));
      REQUIRE(r[12 * b + 4 * i + 3] == p[6 * b + i]);  // the translation column, copied
    }
  }
  // Quaternion: (1, 0, 0, 1)/sqrt(2) is +90 degrees about z.
  Tensor q = Tensor::from_vector(std::vector<double>{0, 0, 0, 0, 0, 1}, Shape{1, 6});
  std::vector<double> rq = pose_vec2mat(q, RotationMode::Quat).to_vector_f64();
  std::vector<double> expect = {0, -1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0};
  for (int i = 0; i < 12; ++i) REQUIRE(rq[i] == Approx(expect[i]).margin(1e-15));
  std::vector<double> rq3 = pose_vec2mat(pose, RotationMode::Quat).to_vector_f64();
  for (int b = 0; b < 3; ++b) {
    Eigen::Matrix3d R = ref_rotation(p[6 * b + 3], p[6 * b + 4], p[6 * b + 5], RotationMode::Quat);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) REQUIRE(rq3[12 * b + 4 * i + j] == Approx(R(i, j)).margin(1e-14));
  }
}

TEST_CASE("gradcheck: pose_vec2mat", "[warp][gradcheck]") {
  Rng rng(11);
  for (RotationMode mode : {RotationMode::Euler, RotationMode::Quat}) {
    INFO(rot_name(mode));
    Tensor pose = rand_pose(Shape{3, 6}, rng, 1.0, 1.2);
    REQUIRE_GRADCHECK([mode](auto& in) { return pose_vec2mat(in[0], mode); }, {pose});
  }
}

TEST_CASE("pose_vec2mat: vs PyTorch fixtures", "[warp][fixture]") {
  Tensor pose = fixture("p2m.pose"), gout = fixture("p2m.gout");
  for (RotationMode mode : {RotationMode::Euler, RotationMode::Quat}) {
    std::string key = std::string("p2m.") + rot_name(mode);
    INFO(key);
    Tensor p = pose.clone().set_requires_grad(true);
    Tensor m = pose_vec2mat(p, mode);
    sum(mul(m, gout)).backward();
    // float64 on both sides, |entries| <= ~2: 1e-13 covers the different operation order.
    REQUIRE(max_abs_diff(m, fixture(key)) < 1e-13);
    REQUIRE(max_abs_diff(p.grad(), fixture(key + ".grad")) < 1e-13);
    // float32: rotations of unit-size entries, ~10 roundings: 1e-6.
    Tensor pf = pose.to(DType::F32).set_requires_grad(true);
    Tensor mf = pose_vec2mat(pf, mode);
    sum(mul(mf, gout.to(DType::F32))).backward();
    REQUIRE(max_abs_diff(mf, fixture(key)) < 1e-6);
    REQUIRE(max_abs_diff(pf.grad(), fixture(key + ".grad")) < 1e-5);
  }
}

// ================================================================ inverse_warp
TEST_CASE("inverse_warp: matches a naive loop", "[warp]") {
  Rng rng(21);
  struct Size {
    int64_t B, C, H, W;
  };
  for (Size sz : {Size{2, 3, 5, 7}, Size{1, 2, 3, 4}, Size{2, 1, 1, 1}, Size{1, 3, 16, 23}}) {
    for (Padding pad : {Padding::Zeros, Padding::Border})
      for (RotationMode mode : {RotationMode::Euler, RotationMode::Quat}) {
        INFO(sz.B << "x" << sz.C << "x" << sz.H << "x" << sz.W << " " << pad_name(pad) << " " << rot_name(mode));
        Tensor src = rand_uniform(Shape{sz.B, sz.C, sz.H, sz.W}, rng, 0, 1, DType::F64);
        Tensor depth = rand_uniform(Shape{sz.B, 1, sz.H, sz.W}, rng, 1, 4, DType::F64);
        Tensor pose = rand_pose(Shape{sz.B, 6}, rng, 0.25, 0.15, false);
        Tensor K = make_K(sz.B, sz.H, sz.W, DType::F64, /*skew=*/0.07);
        Tensor valid, valid_ref;
        Tensor out = inverse_warp(src, depth, pose, K, pad, &valid, mode);
        Tensor ref = naive_warp(src, depth, pose, K, pad, mode, &valid_ref);
        // Both in float64 with values in [0, 1]; only the rounding of the projection differs.
        REQUIRE(max_abs_diff(out, ref) < 1e-12);
        REQUIRE(valid.to_vector_f64() == valid_ref.to_vector_f64());
        // Zeros padding: every out-of-view sample is exactly 0, in all channels.
        if (pad == Padding::Zeros) {
          std::vector<double> o = out.to_vector_f64(), v = valid.to_vector_f64();
          int64_t hw = sz.H * sz.W;
          for (int64_t b = 0; b < sz.B; ++b)
            for (int64_t c = 0; c < sz.C; ++c)
              for (int64_t i = 0; i < hw; ++i)
                if (v[b * hw + i] == 0) REQUIRE(o[(b * sz.C + c) * hw + i] == 0.0);
        }
        if (sz.H * sz.W > 1) {  // the test sizes have pixels both in and out of view
          double frac = mean(valid).item();
          REQUIRE(frac > 0.3);
          REQUIRE(frac < 1.0);
        }
      }
  }
}

TEST_CASE("inverse_warp: identity pose with constant depth reproduces the source", "[warp]") {
  Rng rng(22);
  const int64_t B = 2, C = 3, H = 6, W = 9;
  Tensor src = rand_uniform(Shape{B, C, H, W}, rng, 0, 1, DType::F64);
  Tensor pose = Tensor::zeros(Shape{B, 6}, DType::F64);
  Tensor K = make_K(B, H, W);
  for (double d : {2.0, 0.5, 1.7}) {
    for (Padding pad : {Padding::Zeros, Padding::Border})
      for (RotationMode mode : {RotationMode::Euler, RotationMode::Quat}) {
        INFO("depth " << d << " " << pad_name(pad) << " " << rot_name(mode));
        Tensor depth = Tensor::full(Shape{B, 1, H, W}, d, DType::F64);
        Tensor valid;
        Tensor out = inverse_warp(src, depth, pose, K, pad, &valid, mode);
        if (d != 1.7) {
          // Power-of-two depths: M = I exactly and d*x/d is exact, so every pixel (also the last
          // row and column) maps onto itself: a bit-exact copy, all in view.
          REQUIRE(out.to_vector_f64() == src.to_vector_f64());
          REQUIRE(mean(valid).item() == 1.0);
        } else if (pad == Padding::Border) {
          // d*x/d may round a hair past the last column; border padding absorbs it.
          REQUIRE(max_abs_diff(out, src) < 1e-14);
        }
      }
  }
}

TEST_CASE("inverse_warp: an x-translation shifts by fx*tx/depth pixels", "[warp]") {
  Rng rng(23);
  const int64_t H = 4, W = 6;
  Tensor src = rand_uniform(Shape{1, 1, H, W}, rng, 0, 1, DType::F64);
  std::vector<double> s = src.to_vector_f64();
  // fx = 4, depth 2, tx = 0.5 and 0.375: shifts fx*tx/d of 1 and 0.75 pixels, all exact in binary.
  Tensor K = Tensor::from_vector(std::vector<double>{4, 0, 2.5, 0, 4, 1.5, 0, 0, 1}, Shape{1, 3, 3});
  Tensor depth = Tensor::full(Shape{1, 1, H, W}, 2.0, DType::F64);
  for (double tx : {0.5, 0.375}) {
    double shift = 4 * tx / 2;
    Tensor pose = Tensor::from_vector(std::vector<double>{tx, 0, 0, 0, 0, 0}, Shape{1, 6});
    for (Padding pad : {Padding::Zeros, Padding::Border}) {
      INFO("shift " << shift << " " << pad_name(pad));
      Tensor valid;
      std::vector<double> o = inverse_warp(src, depth, pose, K, pad, &valid, RotationMode::Euler).to_vector_f64();
      std::vector<double> v = valid.to_vector_f64();
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          double u = x + shift;
          int64_t x0 = (int64_t)std::floor(u);
          double f = u - x0;
          bool in = u <= W - 1;
          REQUIRE(v[y * W + x] == (in ? 1.0 : 0.0));
          double expect;
          if (in)
            expect = (1 - f) * s[y * W + x0] + (x0 + 1 < W ? f * s[y * W + x0 + 1] : 0.0);
          else
            expect = pad == Padding::Zeros ? 0.0 : s[y * W + W - 1];
          // u = (2x + 4 tx) / 2 is exact, so is the bilinear weight: only the weighted sum rounds.
          REQUIRE(o[y * W + x] == Approx(expect).margin(1e-15));
        }
    }
  }
}

TEST_CASE("gradcheck: inverse_warp", "[warp][gradcheck]") {
  Rng rng(24);
  struct Case {
    int64_t B, C, H, W;
    Padding pad;
    RotationMode mode;
  };
  for (Case cs : {Case{2, 2, 5, 7, Padding::Zeros, RotationMode::Euler}, Case{1, 3, 5, 7, Padding::Border, RotationMode::Euler},
                  Case{2, 1, 3, 4, Padding::Zeros, RotationMode::Quat}, Case{1, 2, 3, 4, Padding::Border, RotationMode::Quat},
                  Case{2, 2, 1, 1, Padding::Zeros, RotationMode::Euler}, Case{2, 1, 1, 1, Padding::Border, RotationMode::Quat},
                  Case{1, 1, 2, 5, Padding::Border, RotationMode::Euler}}) {
    INFO(cs.B << "x" << cs.C << "x" << cs.H << "x" << cs.W << " " << pad_name(cs.pad) << " " << rot_name(cs.mode));
    Tensor src = test::grad_input(Shape{cs.B, cs.C, cs.H, cs.W}, rng, 0, 1);
    Tensor depth = test::grad_input(Shape{cs.B, 1, cs.H, cs.W}, rng, 1, 4);
    Tensor pose = rand_pose(Shape{cs.B, 6}, rng);
    Tensor K = make_K(cs.B, cs.H, cs.W);
    Padding pad = cs.pad;
    RotationMode mode = cs.mode;
    REQUIRE_GRADCHECK([&K, pad, mode](auto& in) { return inverse_warp(in[0], in[1], in[2], K, pad, nullptr, mode); },
                      {src, depth, pose});
  }
}

TEST_CASE("inverse_warp / photometric_loss: any subset of inputs may take gradients", "[warp][photometric]") {
  Rng rng(28);
  const int64_t B = 2, S = 2, C = 2, H = 4, W = 5;
  Tensor src = rand_uniform(Shape{B, C, H, W}, rng, 0, 1, DType::F64);
  Tensor depth = rand_uniform(Shape{B, 1, H, W}, rng, 1, 4, DType::F64);
  Tensor pose = rand_pose(Shape{B, 6}, rng, 0.25, 0.15, false);
  Tensor K = make_K(B, H, W);
  Tensor gout = rand_uniform(Shape{B, C, H, W}, rng, -1, 1, DType::F64);
  // All three at once, then each alone: the same numbers (the backward skips what is not wanted).
  auto warp_grads = [&](bool ws, bool wd, bool wp) {
    Tensor s = src.clone().set_requires_grad(ws), d = depth.clone().set_requires_grad(wd),
           p = pose.clone().set_requires_grad(wp);
    sum(mul(inverse_warp(s, d, p, K, Padding::Border), gout)).backward();
    return std::vector<Tensor>{s.grad(), d.grad(), p.grad()};
  };
  std::vector<Tensor> all = warp_grads(true, true, true);
  for (int k = 0; k < 3; ++k) {
    std::vector<Tensor> one = warp_grads(k == 0, k == 1, k == 2);
    for (int j = 0; j < 3; ++j) REQUIRE(one[j].defined() == (j == k));
    REQUIRE(one[k].to_vector_f64() == all[k].to_vector_f64());
  }
  Tensor tgt = rand_uniform(Shape{B, C, H, W}, rng, 0, 1, DType::F64);
  Tensor srcs = rand_uniform(Shape{B, S, C, H, W}, rng, 0, 1, DType::F64);
  Tensor poses = rand_pose(Shape{B, S, 6}, rng, 0.25, 0.15, false);
  Tensor mask = rand_uniform(Shape{B, S, H, W}, rng, 0.1, 1, DType::F64);
  auto photo_grads = [&](bool wd, bool wp, bool wm) {
    Tensor d = depth.clone().set_requires_grad(wd), p = poses.clone().set_requires_grad(wp),
           m = mask.clone().set_requires_grad(wm);
    photometric_loss(tgt, srcs, d, p, K, m).backward();
    return std::vector<Tensor>{d.grad(), p.grad(), m.grad()};
  };
  std::vector<Tensor> pall = photo_grads(true, true, true);
  for (int k = 0; k < 3; ++k) {
    std::vector<Tensor> one = photo_grads(k == 0, k == 1, k == 2);
    for (int j = 0; j < 3; ++j) REQUIRE(one[j].defined() == (j == k));
    REQUIRE(one[k].to_vector_f64() == pall[k].to_vector_f64());
  }
  // Nothing wants a gradient: no node is recorded.
  REQUIRE(photometric_loss(tgt, srcs, depth, poses, K, mask).grad_fn() == nullptr);
  REQUIRE(inverse_warp(src, depth, pose, K).grad_fn() == nullptr);
}

TEST_CASE("inverse_warp: points behind the source camera (z clamped)", "[warp][gradcheck]") {
  Rng rng(25);
  // tz = -2.5 with depths in [1, 4]: pixels with depth < 2.5 land behind the camera (z < 1e-3,
  // clamped): projected far away, out of view, finite, with zero gradient through z.
  const int64_t B = 1, C = 2, H = 4, W = 5;
  Tensor src = test::grad_input(Shape{B, C, H, W}, rng, 0, 1);
  Tensor depth = test::grad_input(Shape{B, 1, H, W}, rng, 1, 4);
  Tensor pose = Tensor::from_vector(std::vector<double>{0.1, -0.1, -2.5, 0.05, -0.02, 0.03}, Shape{B, 6});
  pose.set_requires_grad(true);
  Tensor K = make_K(B, H, W);
  for (Padding pad : {Padding::Zeros, Padding::Border}) {
    INFO(pad_name(pad));
    Tensor valid;
    Tensor out = inverse_warp(src, depth, pose, K, pad, &valid, RotationMode::Euler);
    REQUIRE(finite_everywhere(out));
    std::vector<double> d = depth.to_vector_f64(), v = valid.to_vector_f64();
    int behind = 0;
    for (size_t i = 0; i < d.size(); ++i)
      if (d[i] < 2.4) {
        ++behind;
        REQUIRE(v[i] == 0.0);
      }
    REQUIRE(behind > 3);
    REQUIRE_GRADCHECK([&K, pad](auto& in) { return inverse_warp(in[0], in[1], in[2], K, pad, nullptr, RotationMode::Euler); },
                      {src, depth, pose});
  }
}

TEST_CASE("inverse_warp / photometric_loss: non-finite and extreme depths stay in bounds", "[warp][photometric]") {
  Rng rng(27);
  const int64_t B = 1, C = 2, H = 3, W = 4;
  Tensor src = rand_uniform(Shape{B, C, H, W}, rng, 0, 1, DType::F64);
  std::vector<double> d = {NAN, INFINITY, -INFINITY, 1e30, -1e30, -5, 0, 1e-30, 2, 2, 2, 2};
  Tensor depth = Tensor::from_vector(d, Shape{B, 1, H, W});
  Tensor pose = Tensor::from_vector(std::vector<double>{0.1, -0.05, 0.2, 0.01, 0.02, -0.03}, Shape{B, 6});
  Tensor K = make_K(B, H, W);
  for (Padding pad : {Padding::Zeros, Padding::Border}) {
    INFO(pad_name(pad));
    Tensor valid;
    std::vector<double> o = inverse_warp(src, depth, pose, K, pad, &valid).to_vector_f64();
    std::vector<double> v = valid.to_vector_f64();
    for (int i = 0; i < 3; ++i) REQUIRE(v[i] == 0.0);  // NaN and +-inf depths are never in view
    // Zeros: out-of-view samples are 0; border: every sample is a convex combination of pixels.
    for (int64_t c = 0; c < C; ++c)
      for (int i = 0; i < 3; ++i) {
        double x = o[c * H * W + i];
        if (pad == Padding::Zeros) REQUIRE(x == 0.0);
        else REQUIRE((x >= 0.0 && x <= 1.0));
      }
  }
  Tensor srcs = src.view(Shape{B, 1, C, H, W});
  Tensor poses = pose.view(Shape{B, 1, 6});
  // Non-finite depths with zeros padding: those pixels are out of view and drop out.
  PhotometricOptions opt;
  opt.keep_out_of_view = false;
  Tensor dg = depth.clone().set_requires_grad(true);
  Tensor loss = photometric_loss(src, srcs, dg, poses, K, Tensor(), opt);
  REQUIRE(std::isfinite(loss.item()));
  loss.backward();
  std::vector<double> g = dg.grad().to_vector_f64();
  for (int i = 0; i < 3; ++i) REQUIRE(g[i] == 0.0);
}

TEST_CASE("inverse_warp: vs PyTorch grid_sample and a re-implementation (fixtures)", "[warp][fixture]") {
  Tensor src = fixture("warp.src"), depth = fixture("warp.depth"), pose = fixture("warp.pose"), K = fixture("warp.K"),
         gout = fixture("warp.gout");
  for (Padding pad : {Padding::Zeros, Padding::Border})
    for (RotationMode mode : {RotationMode::Euler, RotationMode::Quat}) {
      std::string key = std::string("warp.") + pad_name(pad) + "." + rot_name(mode);
      INFO(key);
      Tensor ref = fixture(key + ".out"), ref_valid = fixture(key + ".valid");
      Tensor g_src = fixture(key + ".grad_src"), g_depth = fixture(key + ".grad_depth"),
             g_pose = fixture(key + ".grad_pose");
      for (DType dt : {DType::F64, DType::F32}) {
        INFO(dtype_name(dt));
        Tensor s = src.to(dt).clone().set_requires_grad(true), d = depth.to(dt).clone().set_requires_grad(true),
               p = pose.to(dt).clone().set_requires_grad(true);
        Tensor valid;
        Tensor out = inverse_warp(s, d, p, K.to(dt), pad, &valid, mode);
        sum(mul(out, gout.to(dt))).backward();
        REQUIRE(valid.to_vector_f64() == ref_valid.to_vector_f64());
        // float64: both sides exact up to rounding (values in [0,1], gradients up to ~10 in
        // magnitude summed over <= 54 pixels): 1e-12 absolute, 1e-11 relative to the largest.
        // float32: coordinates ~10 px carry ~1e-6 px error, so values ~1e-6; the pose gradient
        // sums ~100 terms of float rounding: 1e-5 absolute on values, 2e-5 relative on gradients.
        double vtol = dt == DType::F64 ? 1e-12 : 1e-5, grel = dt == DType::F64 ? 1e-11 : 2e-5;
        REQUIRE(max_abs_diff(out, ref) < vtol);
        REQUIRE(max_abs_diff(s.grad(), g_src) < grel * max_abs(g_src));
        REQUIRE(max_abs_diff(d.grad(), g_depth) < grel * max_abs(g_depth));
        REQUIRE(max_abs_diff(p.grad(), g_pose) < grel * max_abs(g_pose));
      }
    }
}

TEST_CASE("inverse_warp: results independent of the thread count", "[warp]") {
  Rng rng(26);
  // Big enough (2*3*64*96 > kParallelGrain) to take the parallel path.
  const int64_t B = 2, C = 3, H = 64, W = 96;
  Tensor src = rand_uniform(Shape{B, C, H, W}, rng, 0, 1);
  Tensor depth = rand_uniform(Shape{B, 1, H, W}, rng, 1, 4);
  Tensor pose = rand_pose(Shape{B, 6}, rng, 0.25, 0.15, false).to(DType::F32);
  Tensor K = make_K(B, H, W, DType::F32);
  Tensor gout = rand_uniform(Shape{B, C, H, W}, rng, -1, 1);
  auto run = [&](int threads) {
    set_cpu_threads(threads);
    Tensor s = src.clone().set_requires_grad(true), d = depth.clone().set_requires_grad(true),
           p = pose.clone().set_requires_grad(true);
    Tensor out = inverse_warp(s, d, p, K, Padding::Zeros, nullptr, RotationMode::Euler);
    sum(mul(out, gout)).backward();
    return std::vector<std::vector<float>>{out.to_vector(), s.grad().to_vector(), d.grad().to_vector(),
                                           p.grad().to_vector()};
  };
  auto one = run(1), two = run(2), four = run(4);
  set_cpu_threads(0);  // back to the default
  REQUIRE(one == two);  // bit for bit
  REQUIRE(one == four);
}

TEST_CASE("inverse_warp / pose_vec2mat: bad arguments", "[warp]") {
  Tensor src = Tensor::zeros(Shape{2, 3, 5, 7}), depth = Tensor::ones(Shape{2, 1, 5, 7});
  Tensor pose = Tensor::zeros(Shape{2, 6}), K = make_K(2, 5, 7, DType::F32);
  REQUIRE_NOTHROW(inverse_warp(src, depth, pose, K));
  REQUIRE_THROWS_WITH(inverse_warp(Tensor::zeros(Shape{2, 5, 7}), depth, pose, K),
                      Catch::Contains("inverse_warp") && Catch::Contains("'src'") && Catch::Contains("[2, 5, 7]"));
  REQUIRE_THROWS_WITH(inverse_warp(src, Tensor::ones(Shape{2, 3, 5, 7}), pose, K),
                      Catch::Contains("inverse_warp") && Catch::Contains("'depth'") &&
                          Catch::Contains("[2, 3, 5, 7]") && Catch::Contains("[2, 1, 5, 7]"));
  REQUIRE_THROWS_WITH(inverse_warp(src, Tensor::ones(Shape{2, 1, 5, 6}), pose, K),
                      Catch::Contains("'depth'") && Catch::Contains("[2, 1, 5, 6]"));
  REQUIRE_THROWS_WITH(inverse_warp(src, depth, Tensor::zeros(Shape{2, 7}), K),
                      Catch::Contains("'pose'") && Catch::Contains("[2, 7]") && Catch::Contains("[2, 6]"));
  REQUIRE_THROWS_WITH(inverse_warp(src, depth, Tensor::zeros(Shape{3, 6}), K),
                      Catch::Contains("'pose'") && Catch::Contains("[3, 6]") && Catch::Contains("[2, 6]"));
  REQUIRE_THROWS_WITH(inverse_warp(src, depth, pose, Tensor::zeros(Shape{2, 3, 4})),
                      Catch::Contains("'K'") && Catch::Contains("[2, 3, 4]") && Catch::Contains("[2, 3, 3]"));
  REQUIRE_THROWS_WITH(inverse_warp(src, depth.to(DType::F64), pose, K),
                      Catch::Contains("'depth'") && Catch::Contains("float64") && Catch::Contains("float32"));
  REQUIRE_THROWS_WITH(inverse_warp(src, depth, pose, Tensor()), Catch::Contains("'K'") && Catch::Contains("undefined"));
  REQUIRE_THROWS_WITH(pose_vec2mat(Tensor::zeros(Shape{2, 5})),
                      Catch::Contains("pose_vec2mat") && Catch::Contains("'pose'") && Catch::Contains("[2, 5]"));
  REQUIRE_THROWS_WITH(pose_vec2mat(Tensor::zeros(Shape{2, 2, 6})),
                      Catch::Contains("pose_vec2mat") && Catch::Contains("[2, 2, 6]"));
}
