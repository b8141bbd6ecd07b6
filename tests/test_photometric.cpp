// The fused photometric loss: float64 gradient checks, the unfused composition (inverse_warp
// per source, then the masked L1), PyTorch fixtures (tests/reference/fixture_ops_warp.py),
// thread-count independence and the error paths.
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


// ================================================================ photometric_loss
namespace {
struct PhotoCase {
  int64_t B, S, H, W;
  Padding pad;
  RotationMode mode;
  bool keep, use_mask;
};
// Covers both paddings, both rotations, keep_out_of_view both ways, mask on/off, S = 2 and 4,
// batch 1 and 2, sizes 5x7, 3x4 and 1x1.
const std::vector<PhotoCase> kPhotoCases = {
    {1, 2, 5, 7, Padding::Zeros, RotationMode::Euler, true, true},
    {2, 2, 5, 7, Padding::Zeros, RotationMode::Euler, false, true},
    {2, 4, 3, 4, Padding::Border, RotationMode::Quat, true, false},
    {1, 4, 5, 7, Padding::Border, RotationMode::Euler, false, true},
    {2, 2, 1, 1, Padding::Zeros, RotationMode::Quat, false, true},
    {2, 2, 1, 1, Padding::Border, RotationMode::Euler, true, true},
    {2, 4, 5, 7, Padding::Zeros, RotationMode::Quat, true, false},
    {1, 2, 3, 4, Padding::Border, RotationMode::Quat, false, false},
};
std::string describe(const PhotoCase& c) {
  std::ostringstream os;
  os << "B" << c.B << " S" << c.S << " " << c.H << "x" << c.W << " " << pad_name(c.pad) << " " << rot_name(c.mode)
     << (c.keep ? " keep" : " drop") << (c.use_mask ? " mask" : " nomask");
  return os.str();
}
}  // namespace

TEST_CASE("gradcheck: photometric_loss", "[photometric][gradcheck]") {
  Rng rng(31);
  const int64_t C = 3;
  for (const PhotoCase& cs : kPhotoCases) {
    INFO(describe(cs));
    Tensor tgt = rand_uniform(Shape{cs.B, C, cs.H, cs.W}, rng, 0, 1, DType::F64);
    Tensor srcs = rand_uniform(Shape{cs.B, cs.S, C, cs.H, cs.W}, rng, 0, 1, DType::F64);
    Tensor depth = test::grad_input(Shape{cs.B, 1, cs.H, cs.W}, rng, 1, 4);
    Tensor poses = rand_pose(Shape{cs.B, cs.S, 6}, rng);
    Tensor mask = test::grad_input(Shape{cs.B, cs.S, cs.H, cs.W}, rng, 0.1, 1.0);
    Tensor K = make_K(cs.B, cs.H, cs.W);
    PhotometricOptions opt;
    opt.keep_out_of_view = cs.keep;
    opt.padding = cs.pad;
    opt.rotation = cs.mode;
    bool use_mask = cs.use_mask;
    std::vector<Tensor> in = {depth, poses};
    if (use_mask) in.push_back(mask);
    REQUIRE_GRADCHECK(
        [&, opt, use_mask](auto& x) {
          return photometric_loss(tgt, srcs, x[0], x[1], K, use_mask ? x[2] : Tensor(), opt);
        },
        in);
  }
}

TEST_CASE("photometric_loss: equals the unfused composition, value and gradients", "[photometric]") {
  Rng rng(32);
  const int64_t C = 3;
  for (const PhotoCase& cs : kPhotoCases) {
    INFO(describe(cs));
    Tensor tgt = rand_uniform(Shape{cs.B, C, cs.H, cs.W}, rng, 0, 1, DType::F64);
    Tensor srcs = rand_uniform(Shape{cs.B, cs.S, C, cs.H, cs.W}, rng, 0, 1, DType::F64);
    Tensor depth0 = rand_uniform(Shape{cs.B, 1, cs.H, cs.W}, rng, 1, 4, DType::F64);
    Tensor poses0 = rand_pose(Shape{cs.B, cs.S, 6}, rng, 0.25, 0.15, false);
    Tensor mask0 = rand_uniform(Shape{cs.B, cs.S, cs.H, cs.W}, rng, 0.1, 1.0, DType::F64);
    Tensor K = make_K(cs.B, cs.H, cs.W);
    PhotometricOptions opt;
    opt.keep_out_of_view = cs.keep;
    opt.padding = cs.pad;
    opt.rotation = cs.mode;
    auto run = [&](bool fused) {
      Tensor d = depth0.clone().set_requires_grad(true), p = poses0.clone().set_requires_grad(true),
             m = cs.use_mask ? mask0.clone().set_requires_grad(true) : Tensor();
      Tensor loss = fused ? photometric_loss(tgt, srcs, d, p, K, m, opt) : unfused_photometric(tgt, srcs, d, p, K, m, opt);
      loss.backward();
      std::vector<Tensor> r = {loss, d.grad(), p.grad()};
      if (cs.use_mask) r.push_back(m.grad());
      return r;
    };
    std::vector<Tensor> a = run(true), b = run(false);
    // float64, the same arithmetic summed in a different order: 1e-12 relative to the largest.
    for (size_t i = 0; i < a.size(); ++i) {
      INFO("output " << i);
      REQUIRE(max_abs_diff(a[i], b[i]) <= 1e-12 * std::max(1.0, max_abs(b[i])));
    }
    // Not trivially zero (a 1x1 image is never in view under zeros padding: u == 0 exactly
    // is needed, so dropping out-of-view pixels leaves nothing).
    if (cs.H * cs.W > 1 || cs.keep || cs.pad == Padding::Border) REQUIRE(a[0].item() > 0.0);
  }
}

TEST_CASE("photometric_loss: warped output equals inverse_warp per source", "[photometric]") {
  Rng rng(33);
  const int64_t B = 2, S = 3, C = 2, H = 5, W = 7;
  Tensor tgt = rand_uniform(Shape{B, C, H, W}, rng, 0, 1, DType::F64);
  Tensor srcs = rand_uniform(Shape{B, S, C, H, W}, rng, 0, 1, DType::F64);
  Tensor depth = rand_uniform(Shape{B, 1, H, W}, rng, 1, 4, DType::F64);
  Tensor poses = rand_pose(Shape{B, S, 6}, rng, 0.25, 0.15, false);
  Tensor K = make_K(B, H, W);
  for (Padding pad : {Padding::Zeros, Padding::Border}) {
    PhotometricOptions opt;
    opt.padding = pad;
    Tensor warped;
    Tensor loss = photometric_loss(tgt, srcs, depth, poses, K, Tensor(), opt, &warped);
    Tensor loss2 = photometric_loss(tgt, srcs, depth, poses, K, Tensor(), opt);
    REQUIRE(loss.item() == loss2.item());  // asking for the images does not change the value
    REQUIRE(warped.shape() == srcs.shape());
    Tensor w4 = warped.view(Shape{B, S * C, H, W});
    for (int64_t s = 0; s < S; ++s) {
      Tensor ref = inverse_warp(slice_channels(srcs.view(Shape{B, S * C, H, W}), s * C, (s + 1) * C), depth,
                                slice_channels(poses.view(Shape{B, S * 6}), 6 * s, 6 * s + 6), K, pad);
      REQUIRE(slice_channels(w4, s * C, (s + 1) * C).to_vector_f64() == ref.to_vector_f64());  // same code path
    }
  }
}

TEST_CASE("photometric_loss: vs PyTorch fixtures", "[photometric][fixture]") {
  Tensor tgt = fixture("photo.tgt"), srcs = fixture("photo.srcs"), depth = fixture("photo.depth"),
         poses = fixture("photo.poses"), K = fixture("photo.K"), mask = fixture("photo.mask");
  struct Cfg {
    const char* name;
    Padding pad;
    RotationMode mode;
    bool keep, use_mask;
  };
  for (Cfg c : {Cfg{"zeros_euler_keep_mask", Padding::Zeros, RotationMode::Euler, true, true},
                Cfg{"zeros_euler_drop_mask", Padding::Zeros, RotationMode::Euler, false, true},
                Cfg{"border_quat_drop_nomask", Padding::Border, RotationMode::Quat, false, false},
                Cfg{"border_euler_keep_mask", Padding::Border, RotationMode::Euler, true, true}}) {
    std::string key = std::string("photo.") + c.name;
    PhotometricOptions opt;
    opt.keep_out_of_view = c.keep;
    opt.padding = c.pad;
    opt.rotation = c.mode;
    for (DType dt : {DType::F64, DType::F32}) {
      INFO(key << " " << dtype_name(dt));
      Tensor d = depth.to(dt).clone().set_requires_grad(true), p = poses.to(dt).clone().set_requires_grad(true);
      Tensor m = c.use_mask ? mask.to(dt).clone().set_requires_grad(true) : Tensor();
      Tensor loss = photometric_loss(tgt.to(dt), srcs.to(dt), d, p, K.to(dt), m, opt);
      loss.backward();
      // Tolerances as for inverse_warp's fixtures (float64: rounding only; float32: ~1e-6
      // pixel error in the coordinates, sums of a few hundred float terms).
      double vrel = dt == DType::F64 ? 1e-12 : 1e-5, grel = dt == DType::F64 ? 1e-10 : 2e-5;
      Tensor ref = fixture(key + ".loss");
      REQUIRE(std::fabs(loss.item() - ref.item()) < vrel * std::fabs(ref.item()));
      Tensor gd = fixture(key + ".grad_depth"), gp = fixture(key + ".grad_poses");
      REQUIRE(max_abs_diff(d.grad(), gd) < grel * max_abs(gd));
      REQUIRE(max_abs_diff(p.grad(), gp) < grel * max_abs(gp));
      if (c.use_mask) {
        Tensor gm = fixture(key + ".grad_mask");
        REQUIRE(max_abs_diff(m.grad(), gm) < grel * max_abs(gm));
      }
    }
  }
}

TEST_CASE("photometric_loss: results independent of the thread count", "[photometric]") {
  Rng rng(34);
  const int64_t B = 2, S = 2, C = 3, H = 48, W = 64;  // > kParallelGrain pixel-channels
  Tensor tgt = rand_uniform(Shape{B, C, H, W}, rng, 0, 1);
  Tensor srcs = rand_uniform(Shape{B, S, C, H, W}, rng, 0, 1);
  Tensor depth = rand_uniform(Shape{B, 1, H, W}, rng, 1, 4);
  Tensor poses = rand_pose(Shape{B, S, 6}, rng, 0.25, 0.15, false).to(DType::F32);
  Tensor mask = rand_uniform(Shape{B, S, H, W}, rng, 0.1, 1);
  Tensor K = make_K(B, H, W, DType::F32);
  auto run = [&](int threads) {
    set_cpu_threads(threads);
    Tensor d = depth.clone().set_requires_grad(true), p = poses.clone().set_requires_grad(true),
           m = mask.clone().set_requires_grad(true);
    Tensor loss = photometric_loss(tgt, srcs, d, p, K, m, PhotometricOptions{});
    loss.backward();
    return std::vector<std::vector<float>>{loss.to_vector(), d.grad().to_vector(), p.grad().to_vector(),
                                           m.grad().to_vector()};
  };
  auto one = run(1), two = run(2), three = run(3);
  set_cpu_threads(0);
  REQUIRE(one == two);  // bit for bit
  REQUIRE(one == three);
}

TEST_CASE("photometric_loss: bad arguments", "[photometric]") {
  const int64_t B = 2, S = 2, C = 3, H = 5, W = 7;
  Tensor tgt = Tensor::zeros(Shape{B, C, H, W}), srcs = Tensor::zeros(Shape{B, S, C, H, W});
  Tensor depth = Tensor::ones(Shape{B, 1, H, W}), poses = Tensor::zeros(Shape{B, S, 6});
  Tensor K = make_K(B, H, W, DType::F32), mask = Tensor::ones(Shape{B, S, H, W});
  REQUIRE_NOTHROW(photometric_loss(tgt, srcs, depth, poses, K, mask));
  // (Catch matchers hold references to their operands: each is spelled out in place.)
#define HAS(arg, got) Catch::Contains("photometric_loss") && Catch::Contains(arg) && Catch::Contains(got)
  REQUIRE_THROWS_WITH(photometric_loss(Tensor::zeros(Shape{B, C, H}), srcs, depth, poses, K, mask),
                      HAS("'tgt'", "[2, 3, 5]"));
  REQUIRE_THROWS_WITH(photometric_loss(tgt, Tensor::zeros(Shape{B * S, C, H, W}), depth, poses, K, mask),
                      HAS("'srcs'", "[4, 3, 5, 7]"));
  REQUIRE_THROWS_WITH(photometric_loss(tgt, Tensor::zeros(Shape{B, S, C, H, W + 1}), depth, poses, K, mask),
                      HAS("'srcs'", "[2, 2, 3, 5, 8]") && Catch::Contains("[2, 2, 3, 5, 7]"));
  // S mismatch between srcs, poses and mask.
  REQUIRE_THROWS_WITH(photometric_loss(tgt, srcs, depth, Tensor::zeros(Shape{B, 3, 6}), K, mask),
                      HAS("'poses'", "[2, 3, 6]") && Catch::Contains("[2, 2, 6]"));
  REQUIRE_THROWS_WITH(photometric_loss(tgt, srcs, depth, poses, K, Tensor::ones(Shape{B, 3, H, W})),
                      HAS("'mask'", "[2, 3, 5, 7]") && Catch::Contains("[2, 2, 5, 7]"));
  REQUIRE_THROWS_WITH(photometric_loss(tgt, srcs, Tensor::ones(Shape{B, 2, H, W}), poses, K, mask),
                      HAS("'depth'", "[2, 2, 5, 7]") && Catch::Contains("[2, 1, 5, 7]"));
  REQUIRE_THROWS_WITH(photometric_loss(tgt, srcs, depth, poses, Tensor::zeros(Shape{B, 3, 4}), mask),
                      HAS("'K'", "[2, 3, 4]") && Catch::Contains("[2, 3, 3]"));
  REQUIRE_THROWS_WITH(photometric_loss(tgt, srcs, depth, poses, K, mask.to(DType::F64)),
                      HAS("'mask'", "float64") && Catch::Contains("float32"));
  REQUIRE_THROWS_WITH(photometric_loss(tgt, srcs.to(DType::F64), depth, poses, K, mask), HAS("'srcs'", "float64"));
  REQUIRE_THROWS_WITH(photometric_loss(tgt, Tensor::zeros(Shape{B, 0, C, H, W}), depth, poses, K, mask),
                      HAS("'srcs'", "[2, 0, 3, 5, 7]"));
#undef HAS
}
