// The ops of a training step called through engine/ops.h on CUDA tensors, against the same ops
// on the CPU, on fresh random inputs: what `sfm train --device cuda` and `sfm bench train`
// actually run (dispatch, autograd and the kernels together), where tests/test_gpu_conv.cpp
// and tests/test_gpu_ops.cpp call the kernels' launchers directly. Tagged [gpu]: without a
// CUDA device each test says "SKIPPED: no CUDA device" and does nothing.
//
// Every check body takes the device under test, so the same code also runs CPU-against-CPU
// (that is how it was exercised on machines without a GPU; the [gpu] tests only ever pass
// Device::CUDA).
//
// Error: max |got - ref| / max |ref| over a tensor (NaN when a value is not finite, which
// fails every check). Outputs are poisoned first: just before each op, a NaN-filled block of
// the output's size class is handed back to the caching allocator, which gives it to the op's
// output (its free lists are last-in first-out), so an element a kernel does not write shows.
// Tolerances, stated at each check:
//   * convolutions against the CPU ops in float64: 1e-5 for the FP32 paths (sums of at most
//     C k^2 = 500 and N Ho Wo = 480 products here, rounded in FP32 in another order: ~sqrt(500)
//     2^-24 ~ 1.3e-6 of the largest output, with margin), 3e-3 for TF32 (operands rounded to
//     10-bit mantissas, 2^-11 each); ReLU gradients are compared with a zero upstream gradient
//     where |pre-activation| < 1% of its largest value (a TF32 rounding can move such a value
//     across 0, which flips the ReLU's derivative);
//   * warp, photometric, smoothness and explainability against the CPU ops in float32 (the
//     same per-pixel math, boundary/math/*.h, on both sides: contraction differences only);
//     pixels whose projected coordinate lies within 1e-3 px of an integer (a bilinear cell
//     edge or the view border, where the result or its derivative jumps) or whose colour
//     difference is within 1e-5 of 0 (the sign of |diff|) get a zero upstream gradient or
//     mask and are left out of the comparisons;
//   * the two networks and the loss at 64x208, float32 on both sides: 1e-4 on outputs and
//     loss (float rounding of ~1e-6 per layer through 14 layers). Parameter gradients are not
//     smooth functions of that rounding: a ReLU whose input is within rounding of 0, or a
//     projected coordinate within rounding of a bilinear cell edge, switches a whole term, and
//     the deep layers (1x2 to 4x13 maps at 64x208) sum only a few dozen terms per weight. A
//     probe on the CPU (this test's code, every weight of one side perturbed by a relative
//     1e-6 to 3e-5 to mimic GPU rounding, three seeds) moved the outputs by <= 6.3e-5, the loss
//     by <= 1.8e-5, all gradients together by <= 1.9e-4 (L2 norm of the difference over the L2
//     norm), and single tensors by up to 4.3e-3 at 1e-6 and 3.6e-2 at 3e-5 (L2). Hence: all
//     gradients together within 1e-3 (L2), each tensor within 0.1 (L2; a wiring or kernel
//     error gives O(1)); the ops themselves are held to 1e-5 by the tests above;
//   * Adam: the same gradients on both sides, 1e-6 (the same float formula).
#include <catch2/catch.hpp>

#include "tests/test_support.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "boundary/math/elementwise_math.h"

#include "lab/ops/compare.h"
#include "engine/adam.h"
#include "engine/autograd.h"
#include "boundary/device_runtime.h"
#include "boundary/math/warp_math.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "models/dispnet.h"
#include "models/posenet.h"
#include "models/sfm_loss.h"
#if SFM_WITH_CUDA
#include "kernels/conv.h"
#endif

using namespace sfm;
using sfm::lab::max_rel_err;

#define SFM_DISPATCH_GPU_OR_SKIP()     \
  do {                                 \
    if (!cuda_available()) {           \
      SFM_SKIP("no CUDA device"); \
      return;                          \
    }                                  \
  } while (0)

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Sums of squares of (got - ref) and of ref, added to *num and *den (NaN when a value is not
// finite or a tensor is missing): for L2-norm relative errors.
void add_l2(const Tensor& got, const Tensor& ref, double* num, double* den) {
  if (!got.defined() || !ref.defined() || got.numel() != ref.numel()) {
    *num = kNaN;
    return;
  }
  std::vector<double> g = got.to_vector_f64(), r = ref.to_vector_f64();
  for (size_t i = 0; i < g.size(); ++i) {
    *num += std::isfinite(g[i]) ? (g[i] - r[i]) * (g[i] - r[i]) : kNaN;
    *den += r[i] * r[i];
  }
}
double l2_rel_err(const Tensor& got, const Tensor& ref) {
  double num = 0, den = 0;
  add_l2(got, ref, &num, &den);
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}
// As rel_err over [G, C, plane] data, leaving out the pixels marked in risky [G, plane].
double rel_err_skip(const Tensor& got, const Tensor& ref, const std::vector<char>& risky, int64_t C, int64_t plane) {
  std::vector<double> g = got.to_vector_f64(), r = ref.to_vector_f64();
  if (g.size() != r.size() || g.size() != risky.size() * (size_t)C) return kNaN;
  double num = 0, den = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    const int64_t grp = (int64_t)i / (C * plane), p = (int64_t)i % plane;
    if (risky[grp * plane + p]) continue;
    if (!std::isfinite(g[i])) return kNaN;
    num = std::max(num, std::fabs(g[i] - r[i]));
    den = std::max(den, std::fabs(r[i]));
  }
  return den > 0 ? num / den : num;
}
bool same_bits(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return false;
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}
// A fresh copy on d (never shares storage with t, also when d is t's device).
Tensor on(const Tensor& t, Device d) { return t.clone().to(d); }
// The next CUDA allocation of this shape's size class gets a NaN-filled block.
void poison_next(const Shape& s, Device d) {
  if (d == Device::CUDA) Tensor t = Tensor::full(s, kNaN, DType::F32, d);
}

struct ImplGuard {
  ConvImpl saved = conv_impl();
  explicit ImplGuard(ConvImpl i) { set_conv_impl(i); }
  ~ImplGuard() { set_conv_impl(saved); }
};

// The convolution implementations to test on d (the CPU has one, whatever is selected).
std::vector<ConvImpl> impls_for(Device d) {
  if (d == Device::CPU) return {ConvImpl::Handwritten};
  std::vector<ConvImpl> v{ConvImpl::Handwritten};
#if SFM_WITH_CUDA
  if (cuda::conv_tf32_supported())
    v.push_back(ConvImpl::HandwrittenTF32);
  else
    WARN("not run: the TF32 tensor-core path (this GPU is below sm_80)");
#endif
#if SFM_WITH_CUDNN
  v.push_back(ConvImpl::CuDNN);
#else
  WARN("not run: the cuDNN path (cuDNN was not found when this binary was built)");
#endif
#if SFM_EMULATED_CUDA
  WARN("not run: the cuBLAS path (not in the emulated build)");
#else
  v.push_back(ConvImpl::CuBLAS);
#endif
  return v;
}
double conv_tol(Device d, ConvImpl i) { return d == Device::CUDA && i == ConvImpl::HandwrittenTF32 ? 3e-3 : 1e-5; }

// ------------------------------------------------------------------------------ convolutions
struct ConvCase {
  const char* name;
  bool transposed;
  int64_t N, C, H, W, O, k;
  int s, p, op;
  Activation act;
};

void check_convolutions(Device dut) {
  const ConvCase cases[] = {
      {"k7 s2 ReLU (encoder conv1)", false, 2, 3, 19, 27, 8, 7, 2, 3, 0, Activation::ReLU},
      {"k3 s1 Sigmoid (disparity head)", false, 2, 16, 12, 20, 3, 3, 1, 1, 0, Activation::Sigmoid},
      {"k5 s2 no activation", false, 2, 20, 9, 13, 24, 5, 2, 2, 0, Activation::None},
      {"k1 s1 (pose head)", false, 2, 32, 2, 3, 12, 1, 1, 0, 0, Activation::None},
      {"transposed k3 s2 op1 ReLU (DispNet upconv)", true, 2, 24, 5, 7, 16, 3, 2, 1, 1, Activation::ReLU},
      {"transposed k4 s2 op0 ReLU (PoseExpNet upconv)", true, 2, 16, 6, 9, 8, 4, 2, 1, 0, Activation::ReLU},
  };
  uint64_t seed = 100;
  for (const ConvCase& c : cases) {
    Rng rng(++seed);
    const Tensor x = rand_uniform(Shape{c.N, c.C, c.H, c.W}, rng, -1, 1);
    const Tensor w = c.transposed ? rand_uniform(Shape{c.C, c.O, c.k, c.k}, rng, -1, 1)
                                  : rand_uniform(Shape{c.O, c.C, c.k, c.k}, rng, -1, 1);
    const Tensor b = rand_uniform(Shape{c.O}, rng, -1, 1);
    auto run = [&](const Tensor& xi, const Tensor& wi, const Tensor& bi, Activation act) {
      return c.transposed ? conv_transpose2d(xi, wi, bi, c.s, c.p, c.op, act) : conv2d(xi, wi, bi, c.s, c.p, act);
    };
    // Reference in float64 on the CPU.
    Tensor x64 = x.to(DType::F64).set_requires_grad(true), w64 = w.to(DType::F64).set_requires_grad(true),
           b64 = b.to(DType::F64).set_requires_grad(true);
    Tensor pre;
    {
      NoGradGuard ng;
      pre = run(x64, w64, b64, Activation::None);
    }
    Tensor gw = rand_uniform(pre.shape(), rng, -1, 1, DType::F64);
    if (c.act == Activation::ReLU) {
      std::vector<double> pv = pre.to_vector_f64(), gv = gw.to_vector_f64();
      double mx = 0;
      for (double v : pv) mx = std::max(mx, std::fabs(v));
      for (size_t i = 0; i < pv.size(); ++i)
        if (std::fabs(pv[i]) < 1e-2 * mx) gv[i] = 0;
      gw = Tensor::from_vector(gv, pre.shape());
    }
    Tensor y64 = run(x64, w64, b64, c.act);
    sum(mul(y64, gw)).backward();
    const Tensor gw32 = gw.to(DType::F32);

    for (ConvImpl impl : impls_for(dut)) {
      ImplGuard guard(impl);
      const double tol = conv_tol(dut, impl);
      INFO(c.name << ", N=" << c.N << " C=" << c.C << " " << c.H << "x" << c.W << " O=" << c.O << ", impl "
                  << conv_impl_name(impl) << ", tolerance " << tol);
      Tensor y[2], dx[2], dw[2], db[2];
      for (int r = 0; r < 2; ++r) {
        Tensor xd = on(x, dut).set_requires_grad(true), wd = on(w, dut).set_requires_grad(true),
               bd = on(b, dut).set_requires_grad(true);
        poison_next(pre.shape(), dut);
        y[r] = run(xd, wd, bd, c.act);
        sum(mul(y[r], on(gw32, dut))).backward();
        dx[r] = xd.grad(), dw[r] = wd.grad(), db[r] = bd.grad();
      }
      CHECK(y[0].shape() == y64.shape());
      CHECK(max_rel_err(y[0], y64) <= tol);
      CHECK(max_rel_err(dx[0], x64.grad()) <= tol);
      CHECK(max_rel_err(dw[0], w64.grad()) <= tol);
      CHECK(max_rel_err(db[0], b64.grad()) <= tol);
      // Deterministic: the same inputs give the same bits.
      CHECK(same_bits(y[0], y[1]));
      CHECK(same_bits(dx[0], dx[1]));
      CHECK(same_bits(dw[0], dw[1]));
      CHECK(same_bits(db[0], db[1]));
    }
  }
}

// ------------------------------------------------------------------------------ resampling
void check_resampling(Device dut) {
  Rng rng(200);
  // Each op: forward and backward (upstream gradient random) on the CPU in float32 and on dut.
  // The per-element math is shared (boundary/math/resample_math.h) and both sides add in the same
  // order; bilinear weights are multiples of 1/4 (exact), area bins hold <= 64 values: 1e-6.
  auto check = [&](const char* name, const Shape& s, const std::function<Tensor(const Tensor&)>& f, bool positive) {
    INFO(name << " " << s.str());
    const Tensor x = rand_uniform(s, rng, positive ? 0.0 : -1.0, 1.0);
    Tensor xc = x.clone().set_requires_grad(true);
    Tensor yc = f(xc);
    const Tensor g = rand_uniform(yc.shape(), rng, -1, 1);
    yc.backward(g);
    Tensor xd = on(x, dut).set_requires_grad(true);
    poison_next(yc.shape(), dut);
    Tensor yd = f(xd);
    poison_next(s, dut);
    yd.backward(on(g, dut));
    CHECK(yd.shape() == yc.shape());
    CHECK(max_rel_err(yd, yc) <= 1e-6);
    CHECK(max_rel_err(xd.grad(), xc.grad()) <= 1e-6);
  };
  // disparity heads (1/8 -> 1/4 of 64x208 and an odd map)
  check(
      "upsample_bilinear2x", Shape{2, 1, 8, 26}, [](const Tensor& t) { return upsample_bilinear2x(t); }, true);
  check(
      "upsample_bilinear2x", Shape{2, 3, 5, 7}, [](const Tensor& t) { return upsample_bilinear2x(t); }, false);
  // the loss pyramid: factors 2 and 4
  check(
      "downsample_area /2", Shape{2, 3, 32, 104}, [](const Tensor& t) { return downsample_area(t, 2); }, true);
  check(
      "downsample_area /4", Shape{2, 3, 32, 104}, [](const Tensor& t) { return downsample_area(t, 4); }, true);
  // resize_area to the encoder's rounded-up sizes and an uneven size
  check(
      "resize_area 32x104 -> 16x52", Shape{2, 3, 32, 104}, [](const Tensor& t) { return resize_area(t, 16, 52); },
      true);
  check(
      "resize_area 31x101 -> 13x29", Shape{2, 3, 31, 101}, [](const Tensor& t) { return resize_area(t, 13, 29); },
      true);
}

// ------------------------------------------------------------------------------ geometry
struct Scene {
  int64_t B, S, C, H, W;
  Tensor tgt, srcs, depth, poses, K;  // CPU float32: [B,C,H,W], [B,S,C,H,W], [B,1,H,W], [B,S,6], [B,3,3]
};
Scene make_scene(int64_t B, int64_t S, int64_t C, int64_t H, int64_t W, uint64_t seed) {
  Rng rng(seed);
  Scene sc{B, S, C, H, W, {}, {}, {}, {}, {}};
  sc.tgt = rand_uniform(Shape{B, C, H, W}, rng, 0, 1);
  sc.srcs = rand_uniform(Shape{B, S, C, H, W}, rng, 0, 1);
  sc.depth = rand_uniform(Shape{B, 1, H, W}, rng, 1, 20);
  std::vector<float> p, k;
  for (int64_t i = 0; i < B * S; ++i) {
    for (int j = 0; j < 3; ++j) p.push_back((float)rng.uniform(-0.5, 0.5));    // translation
    for (int j = 0; j < 3; ++j) p.push_back((float)rng.uniform(-0.03, 0.03));  // rotation
  }
  for (int64_t b = 0; b < B; ++b) {
    const float f = 0.58f * (float)W;
    k.insert(k.end(), {f, 0, 0.5f * (float)W, 0, 1.9f * f * (float)H / (float)W, 0.5f * (float)H, 0, 0, 1});
  }
  sc.poses = Tensor::from_vector(p, Shape{B, S, 6});
  sc.K = Tensor::from_vector(k, Shape{B, 3, 3});
  return sc;
}

bool near_int(double u) { return std::fabs(u - std::nearbyint(u)) < 1e-3; }

// risky[(b*S + s)*HW + p] (see the header): the projection in double, as a float one lands
// within ~1e-5 px of it.
std::vector<char> risky_pixels(const Scene& sc, RotationMode rot, Padding pad, bool check_diff) {
  const int64_t plane = sc.H * sc.W;
  const std::vector<float> tgt = sc.tgt.to_vector(), srcs = sc.srcs.to_vector(), depth = sc.depth.to_vector(),
                           poses = sc.poses.to_vector(), K = sc.K.to_vector();
  std::vector<char> r(sc.B * sc.S * plane, 0);
  for (int64_t b = 0; b < sc.B; ++b)
    for (int64_t s = 0; s < sc.S; ++s) {
      double pose[6], Kd[9], M[9], m[3];
      for (int j = 0; j < 6; ++j) pose[j] = poses[6 * (b * sc.S + s) + j];
      for (int j = 0; j < 9; ++j) Kd[j] = K[9 * b + j];
      math::warp_setup<double>(rot, pose, Kd, M, m);
      for (int64_t p = 0; p < plane; ++p) {
        const double x = (double)(p % sc.W), y = (double)(p / sc.W);
        const math::Projected<double> pr = math::project_pixel<double>(M, m, x, y, depth[b * plane + p]);
        bool bad = near_int(pr.u) || near_int(pr.v);
        if (!bad && check_diff) {
          const math::BilinearTaps<double> t = math::bilinear_setup<double>(pr.u, pr.v, (int)sc.W, (int)sc.H, pad);
          for (int64_t c = 0; c < sc.C && !bad; ++c) {
            const float* sp = srcs.data() + ((b * sc.S + s) * sc.C + c) * plane;
            double smp = 0;
            for (int k = 0; k < 4; ++k) smp += t.w[k] * sp[t.idx[k]];
            bad = std::fabs(tgt[(b * sc.C + c) * plane + p] - smp) < 1e-5;
          }
        }
        r[(b * sc.S + s) * plane + p] = bad;
      }
    }
  return r;
}

void check_inverse_warp(Device dut) {
  const int64_t B = 2, C = 3, H = 32, W = 104, plane = H * W;
  for (Padding pad : {Padding::Zeros, Padding::Border}) {
    INFO((pad == Padding::Zeros ? "zeros padding" : "border padding"));
    Scene sc = make_scene(B, 1, C, H, W, pad == Padding::Zeros ? 31 : 32);
    const Tensor src = sc.srcs.view(Shape{B, C, H, W}), pose = sc.poses.view(Shape{B, 6});
    const std::vector<char> risky = risky_pixels(sc, RotationMode::Euler, pad, false);
    Rng rng(33);
    std::vector<float> gv(B * C * plane);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t p = 0; p < plane; ++p)
          gv[(b * C + c) * plane + p] = risky[b * plane + p] ? 0.f : (float)rng.uniform(-1, 1);
    const Tensor g = Tensor::from_vector(gv, Shape{B, C, H, W});
    auto run = [&](Device d, Tensor& s_, Tensor& d_, Tensor& p_, Tensor& valid) {
      s_ = on(src, d).set_requires_grad(true);
      d_ = on(sc.depth, d).set_requires_grad(true);
      p_ = on(pose, d).set_requires_grad(true);
      poison_next(src.shape(), d);
      Tensor out = inverse_warp(s_, d_, p_, on(sc.K, d), pad, &valid, RotationMode::Euler);
      sum(mul(out, on(g, d))).backward();
      return out;
    };
    Tensor sc_, dc_, pc_, vc, sd_, dd_, pd_, vd;
    const Tensor oc = run(Device::CPU, sc_, dc_, pc_, vc);
    const Tensor od = run(dut, sd_, dd_, pd_, vd);
    // The same float arithmetic on both sides (contraction differences only): 1e-5.
    CHECK(rel_err_skip(od, oc, risky, C, plane) <= 1e-5);
    CHECK(rel_err_skip(vd, vc, risky, 1, plane) == 0.0);
    CHECK(max_rel_err(sd_.grad(), sc_.grad()) <= 1e-5);  // GPU: exact fixed-point scatter; CPU: float sums
    CHECK(max_rel_err(dd_.grad(), dc_.grad()) <= 1e-5);
    CHECK(max_rel_err(pd_.grad(), pc_.grad()) <= 1e-5);  // sums over all pixels, in double on both, other grouping
  }
}

void check_photometric(Device dut) {
  const int64_t B = 2, S = 2, C = 3, H = 32, W = 104, plane = H * W;
  for (bool keep : {true, false}) {
    PhotometricOptions opt;
    opt.keep_out_of_view = keep;
    opt.rotation = keep ? RotationMode::Euler : RotationMode::Quat;
    INFO("keep_out_of_view " << keep);
    Scene sc = make_scene(B, S, C, H, W, keep ? 41 : 42);
    const std::vector<char> risky = risky_pixels(sc, opt.rotation, opt.padding, true);
    Rng rng(43);
    std::vector<float> mv(B * S * plane);
    for (size_t i = 0; i < mv.size(); ++i) mv[i] = risky[i] ? 0.f : (float)rng.uniform(0.05, 1);
    const Tensor mask = Tensor::from_vector(mv, Shape{B, S, H, W});
    auto run = [&](Device d, Tensor& dep, Tensor& pos, Tensor& msk) {
      dep = on(sc.depth, d).set_requires_grad(true);
      pos = on(sc.poses, d).set_requires_grad(true);
      msk = on(mask, d).set_requires_grad(true);
      poison_next(Shape{1}, d);
      Tensor l = photometric_loss(on(sc.tgt, d), on(sc.srcs, d), dep, pos, on(sc.K, d), msk, opt);
      mul_scalar(l, 0.7).backward();
      return l;
    };
    Tensor dc, pc, mc, dd, pd, md;
    const Tensor lc = run(Device::CPU, dc, pc, mc);
    const Tensor ld = run(dut, dd, pd, md);
    const Tensor ld2 = run(dut, dd, pd, md);
    // A mean of 4e4 terms, the same float arithmetic each, summed in double on both: 1e-6.
    CHECK(max_rel_err(ld, lc) <= 1e-6);
    CHECK(same_bits(ld, ld2));
    CHECK(max_rel_err(dd.grad(), dc.grad()) <= 1e-5);
    CHECK(max_rel_err(pd.grad(), pc.grad()) <= 1e-5);
    // dL/dmask is |tgt - warp| (times the validity), discontinuous at the risky pixels.
    CHECK(rel_err_skip(md.grad(), mc.grad(), risky, 1, plane) <= 1e-5);
  }
}

// ------------------------------------------------------------------------------ regularisers
void check_regularisers(Device dut) {
  Rng rng(300);
  auto check = [&](const char* name, const Tensor& x, const std::function<Tensor(const Tensor&)>& f, double tol) {
    INFO(name << " " << x.shape().str() << ", tolerance " << tol);
    Tensor xc = x.clone().set_requires_grad(true), xd = on(x, dut).set_requires_grad(true);
    Tensor lc = f(xc);
    poison_next(Shape{1}, dut);
    Tensor ld = f(xd);
    mul_scalar(lc, 1.3).backward();
    mul_scalar(ld, 1.3).backward();
    CHECK(max_rel_err(ld, lc) <= tol);
    CHECK(max_rel_err(xd.grad(), xc.grad()) <= tol);
  };
  // Smoothness: sums and differences only (bitwise equal terms), reduced in double: 1e-6.
  for (Shape s : {Shape{2, 1, 32, 104}, Shape{2, 1, 4, 13}, Shape{3, 1, 1, 9}})
    check(
        "smoothness_loss", rand_uniform(s, rng, 0.01, 10), [](const Tensor& t) { return smoothness_loss(t); }, 1e-6);
  // Explainability: device logf/expf/log1pf are within 2 ulp of the host's: 1e-5.
  std::vector<float> m = rand_uniform(Shape{2, 2, 32, 104}, rng, 0, 1).to_vector();
  m[17] = 0.f;  // the log clamp at -100
  check(
      "explainability_loss", Tensor::from_vector(m, Shape{2, 2, 32, 104}),
      [](const Tensor& t) { return explainability_loss(t); }, 1e-5);
  const Tensor logits = rand_uniform(Shape{2, 4, 16, 52}, rng, -6, 6);
  check(
      "explainability_loss_softmax", logits, [](const Tensor& t) { return explainability_loss_softmax(t); }, 1e-5);
  check(
      "softmax_pairs_mask", logits, [](const Tensor& t) { return sum(mul_scalar(softmax_pairs_mask(t), 0.01)); }, 1e-5);
}

// ------------------------------------------------------------------------------ the networks
struct Nets {
  std::unique_ptr<DispNet> disp;
  std::unique_ptr<PoseExpNet> pose;
  std::vector<Tensor> params;
  std::vector<std::string> names;
};
Nets make_nets(Device d) {
  Nets n;
  n.disp = std::make_unique<DispNet>(11, d);
  n.pose = std::make_unique<PoseExpNet>(PoseExpNetConfig{}, 12, d);  // 2 sources, sigmoid masks
  for (Module* m : {(Module*)n.disp.get(), (Module*)n.pose.get()})
    for (size_t i = 0; i < m->parameters().size(); ++i) {
      n.params.push_back(m->parameters()[i]);
      n.names.push_back(m->kind() + "." + m->param_names()[i]);
    }
  return n;
}

struct StepOut {
  std::vector<Tensor> disps, masks;
  Tensor pose, loss;
};

// Forward, loss ('original' preset: explainability on) and backward on a [2, 3, 64, 208] batch.
StepOut forward_backward(Nets& n, Device d) {
  const int64_t B = 2, S = 2, H = 64, W = 208;
  Rng rng(500);
  const Tensor tgt = rand_uniform(Shape{B, 3, H, W}, rng, -1, 1).to(d);
  const Tensor srcs = rand_uniform(Shape{B, S, 3, H, W}, rng, -1, 1).to(d);
  std::vector<float> k;
  for (int64_t b = 0; b < B; ++b) k.insert(k.end(), {120.85f, 0, 102.1f, 0, 120.85f, 29.5f, 0, 0, 1});
  const Tensor K = Tensor::from_vector(k, Shape{B, 3, 3}, d);
  std::vector<Tensor> src_list;
  for (int64_t s = 0; s < S; ++s) src_list.push_back(slice_channels(srcs, s, s + 1).view(Shape{B, 3, H, W}));
  StepOut o;
  o.disps = n.disp->forward(tgt);
  PoseExpOutput pe = n.pose->forward(tgt, src_list);
  LossTerms lt = sfm_loss(tgt, srcs, K, o.disps, pe, loss_preset("original"));
  lt.total.backward();
  o.pose = pe.pose.detach();
  for (const Tensor& m : pe.masks) o.masks.push_back(m.detach());
  for (Tensor& t : o.disps) t = t.detach();
  o.loss = lt.total.detach();
  return o;
}

void check_networks_and_adam(Device dut) {
  Nets nc = make_nets(Device::CPU), nd = make_nets(dut);
  const StepOut oc = forward_backward(nc, Device::CPU), od = forward_backward(nd, dut);
  // float32 on both sides, ~1e-6 per layer through 14 layers: 1e-4.
  for (size_t s = 0; s < oc.disps.size(); ++s) {
    INFO("disparity scale " << s);
    CHECK(max_rel_err(od.disps[s], oc.disps[s]) <= 1e-4);
    CHECK(max_rel_err(od.masks[s], oc.masks[s]) <= 1e-4);
  }
  CHECK(max_rel_err(od.pose, oc.pose) <= 1e-4);
  CHECK(max_rel_err(od.loss, oc.loss) <= 1e-4);
  // Gradients (see the header: kinks make single tensors sensitive to rounding): all together
  // within 1e-3, each tensor within 0.1, both relative in the L2 norm.
  double num = 0, den = 0;
  for (size_t i = 0; i < nc.params.size(); ++i) {
    INFO("gradient of " << nc.names[i]);
    CHECK(l2_rel_err(nd.params[i].grad(), nc.params[i].grad()) <= 0.1);
    add_l2(nd.params[i].grad(), nc.params[i].grad(), &num, &den);
  }
  CHECK(std::sqrt(num / den) <= 1e-3);
  // One Adam step from the same gradients (the CPU's, copied): the same float formula, 1e-6.
  for (size_t i = 0; i < nc.params.size(); ++i) nd.params[i].set_grad(on(nc.params[i].grad(), dut));
  Adam ac(nc.params, nc.names), ad(nd.params, nd.names);
  ac.step();
  ad.step();
  const auto sc = ac.state(), sd = ad.state();
  for (size_t i = 0; i < nc.params.size(); ++i) {
    INFO("Adam on " << nc.names[i]);
    CHECK(max_rel_err(nd.params[i].detach(), nc.params[i].detach()) <= 1e-6);
    CHECK(max_rel_err(sd.at(nc.names[i] + ".exp_avg"), sc.at(nc.names[i] + ".exp_avg")) <= 1e-6);
    CHECK(max_rel_err(sd.at(nc.names[i] + ".exp_avg_sq"), sc.at(nc.names[i] + ".exp_avg_sq")) <= 1e-6);
  }
}

// Two fresh, identically seeded models take one training step each: every bit equal.
void check_training_step_determinism(Device dut) {
  for (ConvImpl impl : impls_for(dut)) {
    ImplGuard guard(impl);
    INFO("impl " << conv_impl_name(impl));
    Nets n[2] = {make_nets(dut), make_nets(dut)};
    StepOut o[2];
    for (int r = 0; r < 2; ++r) {
      o[r] = forward_backward(n[r], dut);
      Adam(n[r].params, n[r].names).step();
    }
    CHECK(same_bits(o[0].loss, o[1].loss));
    CHECK(same_bits(o[0].pose, o[1].pose));
    for (size_t s = 0; s < o[0].disps.size(); ++s) CHECK(same_bits(o[0].disps[s], o[1].disps[s]));
    bool grads_equal = true, params_equal = true;
    for (size_t i = 0; i < n[0].params.size(); ++i) {
      grads_equal = grads_equal && same_bits(n[0].params[i].grad(), n[1].params[i].grad());
      params_equal = params_equal && same_bits(n[0].params[i].detach(), n[1].params[i].detach());
    }
    CHECK(grads_equal);
    CHECK(params_equal);
  }
}

}  // namespace

TEST_CASE("gpu dispatch: conv2d and conv_transpose2d through the ops, every implementation", "[gpu][dispatch]") {
  SFM_DISPATCH_GPU_OR_SKIP();
  check_convolutions(Device::CUDA);
}

TEST_CASE("gpu dispatch: upsample, area downsample and resize_area forward and backward", "[gpu][dispatch]") {
  SFM_DISPATCH_GPU_OR_SKIP();
  check_resampling(Device::CUDA);
}

TEST_CASE("gpu dispatch: inverse_warp forward and backward", "[gpu][dispatch]") {
  SFM_DISPATCH_GPU_OR_SKIP();
  check_inverse_warp(Device::CUDA);
}

TEST_CASE("gpu dispatch: photometric_loss forward and backward", "[gpu][dispatch]") {
  SFM_DISPATCH_GPU_OR_SKIP();
  check_photometric(Device::CUDA);
}

TEST_CASE("gpu dispatch: smoothness and explainability losses forward and backward", "[gpu][dispatch]") {
  SFM_DISPATCH_GPU_OR_SKIP();
  check_regularisers(Device::CUDA);
}

TEST_CASE("gpu dispatch: DispNet + PoseExpNet forward/backward at 64x208 and an Adam step", "[gpu][dispatch]") {
  SFM_DISPATCH_GPU_OR_SKIP();
  check_networks_and_adam(Device::CUDA);
}

TEST_CASE("gpu dispatch: a training step is deterministic (two runs, identical bits)", "[gpu][dispatch]") {
  SFM_DISPATCH_GPU_OR_SKIP();
  check_training_step_determinism(Device::CUDA);
}
