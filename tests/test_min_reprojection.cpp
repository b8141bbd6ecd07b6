// min_reprojection_loss (Monodepth2's photometric objective fused with the warp): float64
// gradient checks of every part, the warped output against inverse_warp, the identity noise,
// thread-count independence, the PyTorch fixture (tests/reference/fixture_min_reprojection.py)
// and the error paths. The CUDA op against the CPU op: tests/test_gpu_min_reprojection.cpp.
//
// Scenes come from lab/ops/op_cases_min_reprojection.h: no pixel near a kink of the
// loss (a bilinear cell edge, |tgt - warped| = 0, a tie of the minimum), so finite differences
// see a smooth function and float32 takes float64's branches.
#include <catch2/catch.hpp>

#include "tests/tensor_compare.h"
#include "tests/test_support.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "boundary/math/min_reprojection_math.h"
#include "engine/ops.h"
#include "cpu/parallel.h"
#include "engine/safetensors.h"
#include "lab/ops/op_cases_min_reprojection.h"
#include "tests/gradcheck.h"

using namespace sfm;

namespace {
using sfm::test::max_abs;
using sfm::test::max_abs_diff;
using sfm::test::l2;
using sfm::test::l2_diff;

struct Inputs {
  Tensor tgt, srcs, depth, poses, K;
};
Inputs inputs_of(const lab::MinReprojectionScene& s, DType dt = DType::F64) {
  return {Tensor::from_vector(s.tgt, Shape{s.B, s.C, s.H, s.W}).to(dt),
          Tensor::from_vector(s.srcs, Shape{s.B, s.S, s.C, s.H, s.W}).to(dt),
          Tensor::from_vector(s.depth, Shape{s.B, 1, s.H, s.W}).to(dt),
          Tensor::from_vector(s.poses, Shape{s.B, s.S, 6}).to(dt), Tensor::from_vector(s.K, Shape{s.B, 3, 3}).to(dt)};
}

std::string describe(const MinReprojectionOptions& o) {
  return std::string(o.min_over_sources ? "min" : "mean") + (o.automask ? " automask" : " no-automask") +
         (o.use_ssim ? " ssim" : " l1") + (o.padding == Padding::Border ? " border" : " zeros") +
         (o.rotation == RotationMode::Euler ? " euler" : " quat");
}

}  // namespace

TEST_CASE("gradcheck: min_reprojection_loss, every combination of its parts", "[min_reprojection][gradcheck]") {
  const int64_t B = 2, S = 2, C = 2, H = 5, W = 6;
  int combo = 0;
  for (bool ssim : {true, false})
    for (bool use_min : {true, false})
      for (bool automask : {true, false}) {
        MinReprojectionOptions opt;
        opt.use_ssim = ssim;
        opt.min_over_sources = use_min;
        opt.automask = automask;
        opt.padding = combo % 2 ? Padding::Zeros : Padding::Border;
        opt.rotation = combo % 4 < 2 ? RotationMode::Euler : RotationMode::Quat;
        opt.noise_seed = 11 + combo;
        ++combo;
        INFO(describe(opt));
        // Motions of 1-2 px (depths 1-4), so that windows straddle several bilinear cells.
        lab::MinReprojectionScene sc =
            lab::make_min_reprojection_scene(B, S, C, H, W, opt, 900 + combo, 1e-4, 0.25, 0.15, 1, 4);
        Inputs in = inputs_of(sc);
        Tensor depth = in.depth.clone().set_requires_grad(true), poses = in.poses.clone().set_requires_grad(true);
        REQUIRE_GRADCHECK([&](auto& x) { return min_reprojection_loss(in.tgt, in.srcs, x[0], x[1], in.K, opt); },
                          {depth, poses});
        // Not trivially passing: the gradients are not zero, and every branch of the selection occurs.
        Tensor chosen;
        Tensor d2 = in.depth.clone().set_requires_grad(true), p2 = in.poses.clone().set_requires_grad(true);
        Tensor loss = min_reprojection_loss(in.tgt, in.srcs, d2, p2, in.K, opt, &chosen);
        loss.backward();
        REQUIRE(loss.item() > 0);
        REQUIRE(max_abs(d2.grad()) > 0);
        REQUIRE(max_abs(p2.grad()) > 0);
        int identity = 0, warped = 0, mean = 0;
        bool each_source[2] = {false, false};
        for (double c : chosen.to_vector_f64()) {
          if (c < 0) ++identity;
          if (c >= 0 && c < S) ++warped, each_source[(int)c] = true;
          if (c == S) ++mean;
        }
        CHECK(identity + warped + mean == B * H * W);
        if (automask) CHECK(identity > 0);
        if (!automask) CHECK(identity == 0);
        if (use_min) CHECK((warped > 0 && mean == 0 && each_source[0] && each_source[1]));
        if (!use_min) CHECK((warped == 0 && mean > 0));
      }
}

TEST_CASE("min_reprojection_loss: warped output equals inverse_warp per source", "[min_reprojection]") {
  const int64_t B = 2, S = 3, C = 2, H = 5, W = 7;
  for (Padding pad : {Padding::Zeros, Padding::Border}) {
    MinReprojectionOptions opt;
    opt.padding = pad;
    lab::MinReprojectionScene sc = lab::make_min_reprojection_scene(B, S, C, H, W, opt, 41);
    Inputs in = inputs_of(sc);
    Tensor warped, chosen, chosen2;
    Tensor loss = min_reprojection_loss(in.tgt, in.srcs, in.depth, in.poses, in.K, opt, &chosen, &warped);
    Tensor loss2 = min_reprojection_loss(in.tgt, in.srcs, in.depth, in.poses, in.K, opt, &chosen2);
    REQUIRE(loss.item() == loss2.item());  // asking for the images changes nothing
    REQUIRE(chosen.to_vector_f64() == chosen2.to_vector_f64());
    REQUIRE(warped.shape() == in.srcs.shape());
    Tensor w4 = warped.view(Shape{B, S * C, H, W});
    for (int64_t s = 0; s < S; ++s) {
      Tensor ref = inverse_warp(slice_channels(in.srcs.view(Shape{B, S * C, H, W}), s * C, (s + 1) * C), in.depth,
                                slice_channels(in.poses.view(Shape{B, S * 6}), 6 * s, 6 * s + 6), in.K, pad);
      REQUIRE(slice_channels(w4, s * C, (s + 1) * C).to_vector_f64() == ref.to_vector_f64());  // same math
    }
  }
}

TEST_CASE("min_reprojection_loss: the identity noise is a keyed standard normal", "[min_reprojection]") {
  // Its statistics: 2e5 draws, mean and standard deviation within ~9 and ~6 standard errors.
  double s1 = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double z = math::automask_noise(3, i % 4, (i / 4) % 3, i / 12);
    s1 += z;
    s2 += z * z;
  }
  const double mean = s1 / n, sd = std::sqrt(s2 / n - mean * mean);
  CHECK(std::fabs(mean) < 0.02);
  CHECK(std::fabs(sd - 1) < 0.01);
  // Every part of the key changes the value; the same key gives the same value.
  const double z = math::automask_noise(5, 1, 2, 77);
  CHECK(z == math::automask_noise(5, 1, 2, 77));
  CHECK(z != math::automask_noise(6, 1, 2, 77));
  CHECK(z != math::automask_noise(5, 0, 2, 77));
  CHECK(z != math::automask_noise(5, 1, 1, 77));
  CHECK(z != math::automask_noise(5, 1, 2, 78));

  // In the loss: sources equal to the target make every unwarped error exactly 0 (SSIM of a
  // window with itself is 1 in floating point too: its numerator and denominator are the same
  // products), so with automask each pixel selects the unwarped source with the smallest noise
  // (warped errors are > 1e-3 here), and the loss is the mean of those noise values. A wrong key
  // (batch, source or pixel) or seed changes both the codes and the value.
  const int64_t B = 2, S = 3, C = 3, H = 6, W = 7, plane = H * W;
  MinReprojectionOptions opt;
  opt.noise_seed = 1234;
  opt.noise_amplitude = 1e-4;
  lab::MinReprojectionScene sc = lab::make_min_reprojection_scene(B, S, C, H, W, opt, 43, 0, 0.5, 0.1, 1, 4);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s)
      for (int64_t i = 0; i < C * plane; ++i) sc.srcs[(b * S + s) * C * plane + i] = sc.tgt[b * C * plane + i];
  Inputs in = inputs_of(sc);
  Tensor depth = in.depth.clone().set_requires_grad(true), poses = in.poses.clone().set_requires_grad(true);
  Tensor chosen, warped;
  Tensor loss = min_reprojection_loss(in.tgt, in.srcs, depth, poses, in.K, opt, &chosen, &warped);
  // The warped errors all exceed the largest noise value (~5e-4) by far.
  double expect = 0;
  std::vector<double> codes = chosen.to_vector_f64();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t p = 0; p < plane; ++p) {
      int best = 0;
      double v = 1e9;
      for (int j = 0; j < S; ++j) {
        const double z = opt.noise_amplitude * math::automask_noise(opt.noise_seed, b, j, p);
        if (z <= v) v = z, best = j;
      }
      expect += v;
      INFO("b " << b << " pixel " << p);
      REQUIRE(codes[b * plane + p] == -(best + 1));
    }
  expect /= (double)(B * plane);
  CHECK(std::fabs(loss.item() - expect) < 1e-15);
  // Every pixel masked: no gradient at all.
  loss.backward();
  CHECK(max_abs(depth.grad()) == 0);
  CHECK(max_abs(poses.grad()) == 0);
}

TEST_CASE("min_reprojection_loss: results independent of the thread count", "[min_reprojection]") {
  const int64_t B = 2, S = 2, C = 3, H = 40, W = 64;  // above kParallelGrain
  MinReprojectionOptions opt;
  lab::MinReprojectionScene sc = lab::make_min_reprojection_scene(B, S, C, H, W, opt, 44);
  Inputs in = inputs_of(sc, DType::F32);
  auto run = [&](int threads) {
    set_cpu_threads(threads);
    Tensor d = in.depth.clone().set_requires_grad(true), p = in.poses.clone().set_requires_grad(true);
    Tensor chosen;
    Tensor loss = min_reprojection_loss(in.tgt, in.srcs, d, p, in.K, opt, &chosen);
    loss.backward();
    return std::vector<std::vector<float>>{loss.to_vector(), chosen.to_vector(), d.grad().to_vector(),
                                           p.grad().to_vector()};
  };
  auto one = run(1), two = run(2), three = run(3);
  set_cpu_threads(0);
  REQUIRE(one == two);  // bit for bit
  REQUIRE(one == three);
}

TEST_CASE("min_reprojection_loss: vs PyTorch fixtures", "[min_reprojection][fixture]") {
  const std::string path = sfm::test::source_dir() + "/tests/fixtures/min_reprojection.safetensors";
  if (!std::ifstream(path).good()) {
    SFM_SKIP("fixture " << path << " not generated (tests/reference/fixture_min_reprojection.py)");
    return;
  }
  SafeTensors st = load_safetensors(path);
  auto fx = [&](const std::string& name) {
    auto it = st.tensors.find(name);
    INFO("fixture tensor " << name);
    REQUIRE(it != st.tensors.end());
    return it->second;
  };
  Tensor tgt = fx("tgt"), srcs = fx("srcs"), depth = fx("depth"), poses = fx("poses"), K = fx("K");
  struct Cfg {
    const char* name;
    bool ssim, use_min, automask;
    Padding pad;
    RotationMode rot;
    double noise;
  };
  // The cases of fixture_min_reprojection.py (noise: amplitude; the script draws it from the
  // same hash, written there from its description, seed 99).
  const Cfg cfgs[] = {{"monodepth2", true, true, true, Padding::Border, RotationMode::Euler, 0.0},
                      {"monodepth2_noise", true, true, true, Padding::Border, RotationMode::Euler, 0.02},
                      {"min_no_automask", true, true, false, Padding::Border, RotationMode::Quat, 0.0},
                      {"mean_automask_zeros", true, false, true, Padding::Zeros, RotationMode::Euler, 0.0},
                      {"mean_l1_zeros", false, false, false, Padding::Zeros, RotationMode::Quat, 0.0},
                      {"min_l1_automask", false, true, true, Padding::Border, RotationMode::Euler, 0.0}};
  for (const Cfg& c : cfgs)
    for (DType dt : {DType::F64, DType::F32}) {
      const std::string key = c.name;
      INFO(key << " " << dtype_name(dt));
      MinReprojectionOptions opt;
      opt.use_ssim = c.ssim;
      opt.min_over_sources = c.use_min;
      opt.automask = c.automask;
      opt.padding = c.pad;
      opt.rotation = c.rot;
      opt.noise_seed = 99;
      opt.noise_amplitude = c.noise;
      Tensor d = depth.to(dt).clone().set_requires_grad(true), p = poses.to(dt).clone().set_requires_grad(true);
      Tensor chosen;
      Tensor loss = min_reprojection_loss(tgt.to(dt), srcs.to(dt), d, p, K.to(dt), opt, &chosen);
      loss.backward();
      // The brief's parity bounds: values 1e-4 relative, gradients 1e-3 of their norm (float32
      // sits ~1e-6 from float64; the scene keeps every pixel away from kinks, so the selections
      // agree exactly in both precisions).
      Tensor ref = fx(key + ".loss");
      CHECK(std::fabs(loss.item() - ref.item()) < 1e-4 * std::fabs(ref.item()));
      CHECK(chosen.to_vector_f64() == fx(key + ".chosen").to_vector_f64());
      Tensor gd = fx(key + ".grad_depth"), gp = fx(key + ".grad_poses");
      CHECK(l2_diff(d.grad(), gd) < 1e-3 * l2(gd.to_vector_f64()));
      CHECK(l2_diff(p.grad(), gp) < 1e-3 * l2(gp.to_vector_f64()));
      if (dt == DType::F64) {  // float64 on both sides: rounding only
        CHECK(std::fabs(loss.item() - ref.item()) < 1e-12 * std::fabs(ref.item()));
        CHECK(max_abs_diff(d.grad(), gd) < 1e-10 * max_abs(gd));
        CHECK(max_abs_diff(p.grad(), gp) < 1e-10 * max_abs(gp));
      }
    }
}

TEST_CASE("min_reprojection_loss: bad arguments", "[min_reprojection]") {
  const int64_t B = 2, S = 2, C = 3, H = 5, W = 7;
  Tensor tgt = Tensor::zeros(Shape{B, C, H, W}), srcs = Tensor::zeros(Shape{B, S, C, H, W});
  Tensor depth = Tensor::ones(Shape{B, 1, H, W}), poses = Tensor::zeros(Shape{B, S, 6});
  Tensor K = Tensor::from_vector(std::vector<float>{5, 0, 3, 0, 5, 2, 0, 0, 1, 5, 0, 3, 0, 5, 2, 0, 0, 1}, Shape{B, 3, 3});
  REQUIRE_NOTHROW(min_reprojection_loss(tgt, srcs, depth, poses, K));
#define HAS(arg, got) Catch::Contains("min_reprojection_loss") && Catch::Contains(arg) && Catch::Contains(got)
  REQUIRE_THROWS_WITH(min_reprojection_loss(Tensor::zeros(Shape{B, C, H}), srcs, depth, poses, K),
                      HAS("'tgt'", "[2, 3, 5]"));
  REQUIRE_THROWS_WITH(min_reprojection_loss(tgt, Tensor::zeros(Shape{B, S, C, H, W + 1}), depth, poses, K),
                      HAS("'srcs'", "[2, 2, 3, 5, 8]") && Catch::Contains("[2, 2, 3, 5, 7]"));
  REQUIRE_THROWS_WITH(min_reprojection_loss(tgt, srcs, depth, Tensor::zeros(Shape{B, 3, 6}), K),
                      HAS("'poses'", "[2, 3, 6]") && Catch::Contains("[2, 2, 6]"));
  REQUIRE_THROWS_WITH(min_reprojection_loss(tgt, srcs, Tensor::ones(Shape{B, 2, H, W}), poses, K),
                      HAS("'depth'", "[2, 2, 5, 7]") && Catch::Contains("[2, 1, 5, 7]"));
  REQUIRE_THROWS_WITH(min_reprojection_loss(tgt, srcs, depth, poses, Tensor::zeros(Shape{B, 3, 4})),
                      HAS("'K'", "[2, 3, 4]") && Catch::Contains("[2, 3, 3]"));
  REQUIRE_THROWS_WITH(min_reprojection_loss(tgt, srcs.to(DType::F64), depth, poses, K), HAS("'srcs'", "float64"));
  REQUIRE_THROWS_WITH(min_reprojection_loss(tgt, Tensor::zeros(Shape{B, 0, C, H, W}), depth, poses, K),
                      HAS("'srcs'", "[2, 0, 3, 5, 7]"));
  // The reflected 3x3 window needs two rows and two columns; without SSIM one pixel is fine.
  Tensor t1 = Tensor::zeros(Shape{B, C, 1, W}), s1 = Tensor::zeros(Shape{B, S, C, 1, W}),
         d1 = Tensor::ones(Shape{B, 1, 1, W});
  REQUIRE_THROWS_WITH(min_reprojection_loss(t1, s1, d1, poses, K), HAS("'tgt'", "H >= 2"));
  MinReprojectionOptions l1;
  l1.use_ssim = false;
  REQUIRE_NOTHROW(min_reprojection_loss(t1, s1, d1, poses, K, l1));
  MinReprojectionOptions bad;
  bad.ssim_weight = 1.5;
  REQUIRE_THROWS_WITH(min_reprojection_loss(tgt, srcs, depth, poses, K, bad), HAS("ssim_weight", "1.5"));
  bad = {};
  bad.noise_amplitude = -1;
  REQUIRE_THROWS_WITH(min_reprojection_loss(tgt, srcs, depth, poses, K, bad), HAS("noise_amplitude", "-1"));
#undef HAS
}
