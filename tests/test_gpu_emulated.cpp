// The CUDA kernels' own code, run on the CPU under the host emulation of kernels/emu.h
// (every block as fibers with real barriers, mma.sync rebuilt from the 32 lanes' fragment
// registers). This checks, on any machine, what can be checked without a GPU: indexing,
// tiling, boundary handling, the stride-residue decomposition, split-K planning and
// reduction, epilogues, the TF32 fragment layouts, and the reductions' determinism. It
// cannot check timing, the memory model, or the real mma/cvt instructions (the [gpu] tests
// do, where a GPU is present). Part 2 (glue kernels, the emulation's own instruments):
// tests/test_emu_glue.cpp.
//
// The emulation as an instrument: shared memory and scratch start as NaN (0xFF bytes),
// outputs are poisoned with NaN here, launch limits are checked (kernels/emu.h), and every
// case reruns under reversed and seeded-shuffled thread orders within each barrier interval
// and must give bitwise identical outputs (run_orders for the convolutions, EMU_ORDERS() +
// emu_record() for whole test cases).
//
// References are plain loops in double. Tolerances, relative to the largest |reference|
// element of the tensor: FP32 1e-5, TF32 3e-3 (see tol_of: measured on the deepest layer,
// iconv7's K = 9216, FP32 gives ~1.6e-6 unsplit). Outputs are poisoned with NaN first, so an
// element the kernel never writes fails the comparison.
//
// Cost (2 cores): about 25 s in a Release build, 90 s under ASan + UBSan; the random
// geometries: SFM_EMU_CONV_CASES (default 6) from SFM_EMU_SEED (printed); SFM_EMU_VERBOSE=1
// prints the convolutions' relative errors.
#include <catch2/catch.hpp>

#include "tests/emulated_support.h"

#include "tests/test_support.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <ostream>
#include <random>
#include <vector>

#include "kernels/adam_kernels.h"
#include "kernels/conv_kernels.h"
#include "kernels/elementwise_kernels.h"
#include "kernels/loss_kernels.h"
#include "kernels/reduce_kernels.h"
#include "kernels/resample_kernels.h"
#include "kernels/shape_kernels.h"
#include "kernels/warp_kernels.h"
// The CPU loops the kernels must agree with (after the kernels' headers: see conv_math.h).
#include "engine/cpu/loss.h"
#include "engine/cpu/resample.h"
#include "engine/cpu/warp.h"
#include "engine/rng.h"
#include "engine/testing/compare.h"

using namespace sfm;
namespace kc = sfm::cuda;
using namespace sfm::test::emulated;


TEST_CASE("emulated kernels: FastDiv divides exactly", "[emu]") {
  Rng rng(11);
  std::vector<uint32_t> ds{1, 2, 3, 5, 7, 9, 25, 49, 64, 100, 416, 1000, 13312, 53248, 65535, 65536, 1u << 20,
                           (1u << 31) - 1};
  for (int i = 0; i < 40; ++i) ds.push_back(1 + (uint32_t)rng.randint((1ll << 31) - 2));
  for (uint32_t d : ds) {
    kc::FastDiv f(d);
    std::vector<uint32_t> ns{0, 1, d - 1, d, d + 1, 2 * d - 1, (1u << 31) - 1, (1u << 31) - 2};
    for (int i = 0; i < 2000; ++i) ns.push_back((uint32_t)rng.randint(1ll << 31));
    for (uint32_t n : ns) {
      if (n >= (1u << 31)) continue;
      uint32_t q, r;
      f.divmod(n, q, r);
      if (q != n / d || r != n % d) FAIL("FastDiv(" << d << ") of " << n << " gave " << q << " r " << r);
    }
  }
  REQUIRE_THROWS_WITH(kc::FastDiv(0), Catch::Contains("divisor 0"));
}

TEST_CASE("emulated kernels: TF32 rounding is round-to-nearest, ties away, 10 mantissa bits", "[emu]") {
  auto tf = [](float x) { return kc::bits_to_float(kc::to_tf32(x)); };
  REQUIRE(tf(1.0f) == 1.0f);
  REQUIRE(tf(1.0f + 1.0f / 1024) == 1.0f + 1.0f / 1024);              // representable
  REQUIRE(tf(1.0f + 1.0f / 2048) == 1.0f + 1.0f / 1024);              // a tie: away from zero
  REQUIRE(tf(-(1.0f + 1.0f / 2048)) == -(1.0f + 1.0f / 1024));
  REQUIRE(tf(1.0f + 1.0f / 4096) == 1.0f);                            // below half: down
  REQUIRE(std::isinf(tf(std::numeric_limits<float>::infinity())));
  Rng rng(3);
  for (int i = 0; i < 1000; ++i) {
    float x = (float)rng.uniform(-10, 10);
    REQUIRE(std::fabs(tf(x) - x) <= std::fabs(x) * std::ldexp(1.0, -11));
  }
}


TEST_CASE("emulated kernels: reductions are exact to float rounding and reproducible", "[emu]") {
  EMU_ORDERS();
  Rng rng(21);
  // sizes around the 4096-element chunk and the 256-thread block
  for (int64_t n : {1, 7, 255, 256, 4095, 4096, 4097, 20000}) {
    auto x = random_vec(n, rng);
    double ref = 0;
    for (float v : x) ref += v;
    std::vector<float> out(1, std::nanf("")), out2(1, std::nanf(""));
    kc::red::launch_segmented_sum(x.data(), 1, 1, n, 0.5, out.data());
    kc::red::launch_segmented_sum(x.data(), 1, 1, n, 0.5, out2.data());
    INFO("n = " << n);
    CHECK(std::fabs(out[0] - 0.5 * ref) <= 1e-6 * std::max(1.0, std::fabs(0.5 * ref)));
    CHECK(std::memcmp(out.data(), out2.data(), 4) == 0);
    emu_record(out);
  }
  // per-channel sums of [N, C, HW] (bias gradients, plane means)
  const int N = 3, C = 5, HW = 3000;
  auto x = random_vec((size_t)N * C * HW, rng);
  auto out = poisoned(C);
  kc::red::launch_segmented_sum(x.data(), N, C, HW, 1.0 / 7, out.data());
  auto ref = ref_bias_grad(N, C, HW, x);
  for (double& r : ref) r /= 7;
  CHECK(within(rel_err(out, ref), 1e-6));
  emu_record(out);
  // empty input: zeros
  std::vector<float> z(4, 1.0f);
  kc::red::launch_segmented_sum(nullptr, 0, 4, 10, 1.0, z.data());
  CHECK(z == std::vector<float>(4, 0.0f));
  // broadcasts
  std::vector<float> g{2.0f, -3.0f}, pb = poisoned(6), sb = poisoned(5);
  kc::red::launch_plane_broadcast(g.data(), 2, 3, 0.5f, pb.data());
  CHECK(pb == std::vector<float>{1, 1, 1, -1.5f, -1.5f, -1.5f});
  kc::red::launch_scalar_broadcast(g.data(), 0.25f, sb.data(), 5);
  CHECK(sb == std::vector<float>(5, 0.5f));
}

TEST_CASE("emulated kernels: elementwise, shape copies, multi-tensor Adam", "[emu]") {
  EMU_ORDERS();
  Rng rng(5);
  const int64_t n = 1000;
  auto a = random_vec(n, rng, 0.1, 2.0), b = random_vec(n, rng, 0.1, 2.0), g = random_vec(n, rng);
  for (UnaryOp op : {UnaryOp::Relu, UnaryOp::Sigmoid, UnaryOp::Affine, UnaryOp::Reciprocal, UnaryOp::Abs, UnaryOp::Log,
                     UnaryOp::Exp}) {
    auto y = poisoned(n), gx = poisoned(n);
    kc::elem::launch_unary(op, a.data(), y.data(), n, 1.5f, -0.25f);
    kc::elem::launch_unary_grad(op, a.data(), y.data(), g.data(), gx.data(), n, 1.5f, -0.25f);
    std::vector<double> ry(n), rg(n);
    for (int64_t i = 0; i < n; ++i) {
      ry[i] = math::unary(op, a[i], 1.5f, -0.25f);
      rg[i] = math::unary_grad(op, a[i], y[i], g[i], 1.5f, -0.25f);
    }
    INFO("unary op " << (int)op);
    CHECK(within(rel_err(y, ry), 1e-6));
    emu_record(y);
    CHECK(within(rel_err(gx, rg), 1e-6));
    emu_record(gx);
  }
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
    auto y = poisoned(n);
    kc::elem::launch_binary(op, a.data(), b.data(), y.data(), n);
    std::vector<double> r(n);
    for (int64_t i = 0; i < n; ++i) r[i] = math::binary(op, a[i], b[i]);
    CHECK(within(rel_err(y, r), 1e-6));
    emu_record(y);
  }

  // channel slice [2,5,3] -> channels 1..3 and back; crop 4x5 -> 3x2 and uncrop
  std::vector<float> src(2 * 5 * 3);
  for (size_t i = 0; i < src.size(); ++i) src[i] = (float)i;
  auto sl = poisoned(2 * 3 * 3);
  kc::shapek::launch_copy_blocks(src.data() + 1 * 3, 15, sl.data(), 9, 9, 2);
  for (int nn = 0; nn < 2; ++nn)
    for (int j = 0; j < 9; ++j) CHECK(sl[nn * 9 + j] == src[nn * 15 + 3 + j]);
  std::vector<float> img(2 * 4 * 5);
  for (size_t i = 0; i < img.size(); ++i) img[i] = (float)i + 1;
  auto cr = poisoned(2 * 3 * 2), un = poisoned(img.size());
  kc::shapek::launch_crop(img.data(), cr.data(), 2, 4, 5, 3, 2);
  kc::shapek::launch_uncrop(cr.data(), un.data(), 2, 4, 5, 3, 2);
  for (int p = 0; p < 2; ++p)
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 5; ++j) {
        float v = img[(p * 4 + i) * 5 + j];
        if (i < 3 && j < 2) CHECK(cr[(p * 3 + i) * 2 + j] == v);
        CHECK(un[(p * 4 + i) * 5 + j] == (i < 3 && j < 2 ? v : 0.0f));
      }

  // Adam over tensors of 0, 1, 4096 (one chunk exactly), 4097 and 10000 elements, one launch.
  std::vector<int64_t> sizes{0, 1, 4096, 4097, 10000};
  std::vector<std::vector<float>> P, Gd, M, V;
  for (int64_t s : sizes) {
    P.push_back(random_vec(s, rng));
    Gd.push_back(random_vec(s, rng));
    M.push_back(random_vec(s, rng, 0, 0.1));
    V.push_back(random_vec(s, rng, 0, 0.1));
  }
  auto P0 = P, M0 = M, V0 = V;
  std::vector<kc::AdamTensor> ts;
  for (size_t i = 0; i < sizes.size(); ++i) ts.push_back({P[i].data(), Gd[i].data(), M[i].data(), V[i].data(), sizes[i]});
  const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 1e-4f, c1 = 1 - 0.9f * 0.9f, c2 = 1 - 0.999f * 0.999f;
  kc::adamk::launch_adam(ts, {lr, b1, b2, eps, wd, c1, c2});
  for (size_t i = 0; i < sizes.size(); ++i)
    for (int64_t j = 0; j < sizes[i]; ++j) {
      float p = P0[i][j], m = M0[i][j], v = V0[i][j];
      math::adam_update(p, Gd[i][j], m, v, lr, b1, b2, eps, wd, c1, c2);
      // Same formula in float on the same host; only FMA contraction may differ.
      REQUIRE(std::fabs(P[i][j] - p) <= 1e-6f * std::max(1.0f, std::fabs(p)));
      REQUIRE(std::fabs(M[i][j] - m) <= 1e-6f * std::max(1e-3f, std::fabs(m)));
      REQUIRE(std::fabs(V[i][j] - v) <= 1e-6f * std::max(1e-3f, std::fabs(v)));
    }
}

TEST_CASE("emulated kernels: resampling matches the CPU loops", "[emu]") {
  EMU_ORDERS();
  Rng rng(8);
  for (auto [planes, H, W] : std::vector<std::array<int64_t, 3>>{{3, 4, 13}, {2, 1, 1}, {1, 5, 2}}) {
    auto x = random_vec(planes * H * W, rng);
    auto g = random_vec(planes * 4 * H * W, rng);
    std::vector<float> y_cpu(g.size()), gx_cpu(x.size());
    cpu::upsample2x_forward<float>(x.data(), y_cpu.data(), planes, H, W);
    cpu::upsample2x_backward<float>(g.data(), gx_cpu.data(), planes, H, W);
    auto y = poisoned(g.size()), gx = poisoned(x.size());
    kc::resk::launch_upsample2x_forward(x.data(), y.data(), planes, H, W);
    kc::resk::launch_upsample2x_backward(g.data(), gx.data(), planes, H, W);
    INFO("upsample planes=" << planes << " " << H << "x" << W);
    CHECK(within(rel_err(y, std::vector<double>(y_cpu.begin(), y_cpu.end())), 1e-6));
    emu_record(y);
    CHECK(within(rel_err(gx, std::vector<double>(gx_cpu.begin(), gx_cpu.end())), 1e-6));
    emu_record(gx);
  }
  // integer factors (the loss pyramid) and an uneven resize (adaptive bins)
  for (auto [planes, H, W, h, w] : std::vector<std::array<int64_t, 5>>{{2, 8, 12, 4, 6}, {1, 8, 8, 1, 1}, {2, 7, 10, 3, 4}}) {
    auto x = random_vec(planes * H * W, rng);
    auto g = random_vec(planes * h * w, rng);
    std::vector<float> y_cpu(g.size()), gx_cpu(x.size());
    cpu::area_forward<float>(x.data(), y_cpu.data(), planes, H, W, h, w);
    cpu::area_backward<float>(g.data(), gx_cpu.data(), planes, H, W, h, w);
    auto y = poisoned(g.size()), gx = poisoned(x.size());
    kc::resk::launch_area_forward(x.data(), y.data(), planes, H, W, h, w);
    kc::resk::launch_area_backward(g.data(), gx.data(), planes, H, W, h, w);
    INFO("area planes=" << planes << " " << H << "x" << W << " -> " << h << "x" << w);
    CHECK(within(rel_err(y, std::vector<double>(y_cpu.begin(), y_cpu.end())), 1e-6));
    emu_record(y);
    CHECK(within(rel_err(gx, std::vector<double>(gx_cpu.begin(), gx_cpu.end())), 1e-6));
    emu_record(gx);
  }
}

namespace {

// A small scene: intrinsics of a W x H camera, depths in [1, 4], a small motion.
struct Scene {
  int64_t B, S, C, H, W;
  std::vector<float> tgt, srcs, depth, poses, K, mask;
};
Scene make_scene(int64_t B, int64_t S, int64_t C, int64_t H, int64_t W, uint64_t seed) {
  Rng rng(seed);
  Scene sc{B, S, C, H, W, {}, {}, {}, {}, {}, {}};
  sc.tgt = random_vec(B * C * H * W, rng, 0, 1);
  sc.srcs = random_vec(B * S * C * H * W, rng, 0, 1);
  sc.depth = random_vec(B * H * W, rng, 1, 4);
  sc.mask = random_vec(B * S * H * W, rng, 0.05, 1);
  for (int64_t i = 0; i < B * S; ++i) {
    // translations up to ~0.3 (pixels move by up to ~0.3 * f / depth), rotations up to 0.05 rad
    for (int j = 0; j < 3; ++j) sc.poses.push_back((float)rng.uniform(-0.3, 0.3));
    for (int j = 0; j < 3; ++j) sc.poses.push_back((float)rng.uniform(-0.05, 0.05));
  }
  for (int64_t b = 0; b < B; ++b) {
    const float f = 0.6f * (float)W;
    std::vector<float> k{f, 0, 0.5f * (float)(W - 1), 0, f, 0.5f * (float)(H - 1), 0, 0, 1};
    sc.K.insert(sc.K.end(), k.begin(), k.end());
  }
  return sc;
}
std::vector<double> dvec(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

}  // namespace

TEST_CASE("emulated kernels: inverse_warp forward and backward match the CPU loops", "[emu]") {
  EMU_ORDERS();
  // 7x9 fits one block per image; 13x23 (299 pixels) spans two, so the pose partials of
  // several blocks are combined.
  for (auto [H, W] : std::vector<std::pair<int64_t, int64_t>>{{7, 9}, {13, 23}})
    for (Padding pad : {Padding::Zeros, Padding::Border})
      for (RotationMode rot : {RotationMode::Euler, RotationMode::Quat}) {
        const int64_t B = 2, C = 3;
        Scene sc = make_scene(B, 1, C, H, W, 100 + H);
        INFO("inverse_warp " << H << "x" << W << (pad == Padding::Zeros ? " zeros" : " border")
                             << (rot == RotationMode::Euler ? " euler" : " quat"));
        const WarpDims d{B, C, H, W};
        std::vector<float> out_c(B * C * H * W), val_c(B * H * W);
        cpu::inverse_warp_forward<float>(sc.srcs.data(), sc.depth.data(), sc.poses.data(), sc.K.data(), d, pad, rot,
                                         out_c.data(), val_c.data());
        auto out = poisoned(out_c.size()), val = poisoned(val_c.size());
        kc::warpk::launch_inverse_warp_forward(sc.srcs.data(), sc.depth.data(), sc.poses.data(), sc.K.data(), d, pad, rot, out.data(), val.data());
        CHECK(within(rel_err(out, dvec(out_c)), 1e-5));
        emu_record(out);
        CHECK(val == val_c);

        Rng rng(7);
        auto gout = random_vec(out_c.size(), rng);
        std::vector<float> gs_c(out_c.size()), gd_c(val_c.size()), gp_c(B * 6);
        cpu::inverse_warp_backward<float>(sc.srcs.data(), sc.depth.data(), sc.poses.data(), sc.K.data(), d, pad, rot,
                                          gout.data(), gs_c.data(), gd_c.data(), gp_c.data());
        auto gs = poisoned(gs_c.size()), gd = poisoned(gd_c.size()), gp = poisoned(gp_c.size());
        kc::warpk::launch_inverse_warp_backward(sc.srcs.data(), sc.depth.data(), sc.poses.data(), sc.K.data(), d, pad, rot, gout.data(), gs.data(), gd.data(), gp.data());
        CHECK(within(rel_err(gs, dvec(gs_c)), 1e-5));  // CPU: float sums in pixel order; here exact fixed point
        emu_record(gs);
        CHECK(within(rel_err(gd, dvec(gd_c)), 1e-5));
        emu_record(gd);
        CHECK(within(rel_err(gp, dvec(gp_c)), 1e-5));  // double sums in another grouping
        emu_record(gp);
        // pose only (no depth buffer): the same pose gradient
        auto gp2 = poisoned(gp_c.size());
        kc::warpk::launch_inverse_warp_backward(sc.srcs.data(), sc.depth.data(), sc.poses.data(), sc.K.data(), d, pad, rot, gout.data(), nullptr, nullptr, gp2.data());
        CHECK(gp2 == gp);
      }
}

TEST_CASE("emulated kernels: fused photometric loss matches the CPU loops", "[emu]") {
  EMU_ORDERS();
  for (auto [H, W] : std::vector<std::pair<int64_t, int64_t>>{{6, 10}, {15, 19}})
    for (bool keep : {true, false})
      for (bool with_mask : {true, false}) {
        const int64_t B = 2, S = 2, C = 3;
        Scene sc = make_scene(B, S, C, H, W, 300 + W);
        PhotometricOptions opt;
        opt.keep_out_of_view = keep;
        opt.padding = keep ? Padding::Zeros : Padding::Border;
        opt.rotation = with_mask ? RotationMode::Euler : RotationMode::Quat;
        INFO("photometric " << H << "x" << W << " keep=" << keep << " mask=" << with_mask);
        const float* mask = with_mask ? sc.mask.data() : nullptr;
        const PhotometricDims d{B, S, C, H, W};
        std::vector<float> warped_c(sc.srcs.size());
        const double loss_c = cpu::photometric_forward<float>(sc.tgt.data(), sc.srcs.data(), sc.depth.data(),
                                                              sc.poses.data(), sc.K.data(), mask, d, opt,
                                                              warped_c.data());
        auto loss = poisoned(1), warped = poisoned(warped_c.size());
        kc::warpk::launch_photometric_forward(sc.tgt.data(), sc.srcs.data(), sc.depth.data(), sc.poses.data(),
                                              sc.K.data(), mask, d, opt, loss.data(), warped.data());
        CHECK(within(rel_err(loss, {loss_c}), 1e-6));
        emu_record(loss);
        CHECK(within(rel_err(warped, dvec(warped_c)), 1e-5));
        emu_record(warped);
        auto loss2 = poisoned(1);  // without the warped images
        kc::warpk::launch_photometric_forward(sc.tgt.data(), sc.srcs.data(), sc.depth.data(), sc.poses.data(),
                                              sc.K.data(), mask, d, opt, loss2.data(), nullptr);
        CHECK(loss2 == loss);

        const float gscale = 1.7f;
        std::vector<float> gd_c(B * H * W), gp_c(B * S * 6), gm_c(B * S * H * W);
        cpu::photometric_backward<float>(sc.tgt.data(), sc.srcs.data(), sc.depth.data(), sc.poses.data(),
                                         sc.K.data(), mask, d, opt, gscale, gd_c.data(), gp_c.data(),
                                         with_mask ? gm_c.data() : nullptr);
        auto gd = poisoned(gd_c.size()), gp = poisoned(gp_c.size()), gm = poisoned(gm_c.size());
        kc::warpk::launch_photometric_backward(sc.tgt.data(), sc.srcs.data(), sc.depth.data(), sc.poses.data(),
                                               sc.K.data(), mask, d, opt, &gscale, gd.data(), gp.data(),
                                               with_mask ? gm.data() : nullptr);
        CHECK(within(rel_err(gd, dvec(gd_c)), 1e-5));
        emu_record(gd);
        CHECK(within(rel_err(gp, dvec(gp_c)), 1e-5));
        emu_record(gp);
        if (with_mask) CHECK(within(rel_err(gm, dvec(gm_c)), 1e-5));
      }
}

TEST_CASE("emulated kernels: smoothness and explainability losses match the CPU loops", "[emu]") {
  EMU_ORDERS();
  Rng rng(9);
  // 1xN and Nx1 maps leave some smoothness terms without origins
  for (auto [planes, H, W] : std::vector<std::array<int64_t, 3>>{{3, 9, 17}, {2, 1, 6}, {1, 5, 2}, {2, 20, 30}}) {
    auto x = random_vec(planes * H * W, rng);
    double inv[4];
    for (int k = 0; k < 4; ++k) {
      long long n = planes * math::smooth_term_count(k, H, W);
      inv[k] = n > 0 ? 1.0 / (double)n : 0.0;
    }
    double sums[4];
    cpu::smoothness_forward<float>(x.data(), planes, H, W, sums);
    double ref = 0;
    for (int k = 0; k < 4; ++k) ref += sums[k] * inv[k];
    auto loss = poisoned(1);
    kc::lossk::launch_smoothness_forward(x.data(), planes, H, W, inv, loss.data());
    INFO("smoothness " << planes << "x" << H << "x" << W);
    CHECK(within(rel_err(loss, {(double)(float)ref}), 1e-6));
    emu_record(loss);
    const float g = 0.8f;
    double coef[4];
    for (int k = 0; k < 4; ++k) coef[k] = (double)g * inv[k];
    std::vector<float> gx_c(x.size());
    cpu::smoothness_backward<float>(x.data(), planes, H, W, coef, gx_c.data());
    auto gx = poisoned(x.size());
    kc::lossk::launch_smoothness_backward(x.data(), planes, H, W, inv, &g, gx.data());
    CHECK(gx == gx_c);  // the same float arithmetic per element
    // value and gradient in one pass, then scaled by the upstream gradient on the "device"
    auto loss_f = poisoned(1), gx_f = poisoned(x.size());
    kc::lossk::launch_smoothness_fused(x.data(), planes, H, W, inv, loss_f.data(), gx_f.data());
    kc::red::launch_scale_by_scalar(gx_f.data(), &g, gx_f.data(), (int64_t)x.size());
    CHECK(loss_f == loss);
    CHECK(within(rel_err(gx_f, dvec(gx_c)), 1e-6));  // (coef*s)*g vs (g*coef)*s: an ulp
    emu_record(gx_f);
  }

  const int64_t B = 2, S = 3, hw = 700, n = B * S * hw;
  auto m = random_vec(n, rng, 0.0, 1.0);
  m[5] = 0.0f;  // log clamped at -100
  const float g = 1.3f;
  {
    auto loss = poisoned(1), gm = poisoned(n);
    kc::lossk::launch_explainability_forward(m.data(), n, loss.data());
    kc::lossk::launch_explainability_backward(m.data(), n, &g, gm.data());
    std::vector<float> gm_c(n);
    cpu::explainability_backward<float>(m.data(), n, (float)((double)g / (double)n), gm_c.data());
    CHECK(within(rel_err(loss, {cpu::explainability_forward<float>(m.data(), n) / (double)n}), 1e-6));
    emu_record(loss);
    CHECK(gm == gm_c);
    auto loss_f = poisoned(1), gm_f = poisoned(n);
    kc::lossk::launch_explainability_fused(m.data(), n, loss_f.data(), gm_f.data());
    kc::red::launch_scale_by_scalar(gm_f.data(), &g, gm_f.data(), n);
    CHECK(loss_f == loss);
    CHECK(within(rel_err(gm_f, dvec(gm_c)), 1e-6));
    emu_record(gm_f);
  }
  {
    auto logits = random_vec(2 * n, rng, -4, 4);
    auto loss = poisoned(1), gl = poisoned(2 * n), mk = poisoned(n), gm = poisoned(2 * n);
    kc::lossk::launch_softmax_ce_forward(logits.data(), B, S, hw, loss.data());
    kc::lossk::launch_softmax_ce_backward(logits.data(), B, S, hw, &g, gl.data());
    kc::lossk::launch_pairs_mask_forward(logits.data(), B, S, hw, mk.data());
    auto gy = random_vec(n, rng);
    kc::lossk::launch_pairs_mask_backward(mk.data(), gy.data(), B, S, hw, gm.data());
    std::vector<float> gl_c(2 * n), mk_c(n), gm_c(2 * n);
    cpu::softmax_ce_backward<float>(logits.data(), B, S, hw, (float)((double)g / (double)n), gl_c.data());
    cpu::pairs_mask_forward<float>(logits.data(), B, S, hw, mk_c.data());
    cpu::pairs_mask_backward<float>(mk_c.data(), gy.data(), B, S, hw, gm_c.data());
    CHECK(within(rel_err(loss, {cpu::softmax_ce_forward<float>(logits.data(), B, S, hw) / (double)n}), 1e-6));
    emu_record(loss);
    CHECK(gl == gl_c);
    CHECK(mk == mk_c);
    CHECK(gm == gm_c);
  }
}
