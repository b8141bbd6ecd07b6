// The CUDA kernels' own code, run on the CPU under the host emulation of kernels/emu.h
// (every block as real threads with barriers, mma.sync rebuilt from the 32 lanes' fragment
// registers). This checks, on any machine, what can be checked without a GPU: indexing,
// tiling, boundary handling, the stride-residue decomposition, split-K planning and
// reduction, epilogues, the TF32 fragment layouts, and the reductions' determinism. It
// cannot check timing, memory-model races that do not show on the host, or the real
// mma/cvt instructions (the [gpu] tests do, where a GPU is present).
//
// References are plain loops in double. Tolerances, relative to the largest |reference|
// element of the tensor: FP32 1e-5 (sums of at most ~200 products of O(1) values, each
// rounding 2^-24 relative), TF32 3e-3 (operands rounded to 10 mantissa bits, 2^-11
// relative each, FP32 accumulation). Outputs are poisoned with NaN first, so an element
// the kernel never writes fails the comparison.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
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

using namespace sfm;
namespace kc = sfm::cuda;

namespace {

std::vector<float> random_vec(size_t n, Rng& rng, double lo = -1.0, double hi = 1.0) {
  std::vector<float> v(n);
  for (float& x : v) x = (float)rng.uniform(lo, hi);
  return v;
}
std::vector<float> poisoned(size_t n) { return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN()); }

// max |got - ref| / max |ref| (NaN when any element of got is NaN or the sizes differ).
double rel_err(const std::vector<float>& got, const std::vector<double>& ref) {
  if (got.size() != ref.size()) return std::numeric_limits<double>::quiet_NaN();
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i])) return std::numeric_limits<double>::quiet_NaN();
    num = std::max(num, std::fabs((double)got[i] - ref[i]));
    den = std::max(den, std::fabs(ref[i]));
  }
  return den > 0 ? num / den : num;
}
bool within(double err, double tol) { return err <= tol; }  // false for NaN

double act_ref(Activation a, double v) { return math::conv_activation(a, v); }

// ---- naive double-precision convolution (the convolution's own terms)
struct G {
  int N, C, H, W, O, k, s, p, P, Q;
};
G geom(int N, int C, int H, int W, int O, int k, int s, int p) {
  return {N, C, H, W, O, k, s, p, (H + 2 * p - k) / s + 1, (W + 2 * p - k) / s + 1};
}

std::vector<double> ref_fwd(const G& g, const std::vector<float>& x, const std::vector<float>& w,
                            const std::vector<float>* b, Activation act) {
  std::vector<double> y((size_t)g.N * g.O * g.P * g.Q);
  for (int n = 0; n < g.N; ++n)
    for (int o = 0; o < g.O; ++o)
      for (int p = 0; p < g.P; ++p)
        for (int q = 0; q < g.Q; ++q) {
          double acc = b ? (*b)[o] : 0.0;
          for (int c = 0; c < g.C; ++c)
            for (int r = 0; r < g.k; ++r)
              for (int s = 0; s < g.k; ++s) {
                int h = p * g.s - g.p + r, ww = q * g.s - g.p + s;
                if (h < 0 || h >= g.H || ww < 0 || ww >= g.W) continue;
                acc += (double)w[((o * g.C + c) * g.k + r) * g.k + s] * x[((n * g.C + c) * g.H + h) * g.W + ww];
              }
          y[((n * g.O + o) * g.P + p) * g.Q + q] = act_ref(act, acc);
        }
  return y;
}

// dx of the convolution (plus an optional per-C bias and activation: the transposed forward).
std::vector<double> ref_bwd_data(const G& g, const std::vector<float>& dy, const std::vector<float>& w,
                                 const std::vector<float>* b = nullptr, Activation act = Activation::None) {
  std::vector<double> dx((size_t)g.N * g.C * g.H * g.W, 0.0);
  for (int n = 0; n < g.N; ++n)
    for (int o = 0; o < g.O; ++o)
      for (int p = 0; p < g.P; ++p)
        for (int q = 0; q < g.Q; ++q)
          for (int c = 0; c < g.C; ++c)
            for (int r = 0; r < g.k; ++r)
              for (int s = 0; s < g.k; ++s) {
                int h = p * g.s - g.p + r, ww = q * g.s - g.p + s;
                if (h < 0 || h >= g.H || ww < 0 || ww >= g.W) continue;
                dx[((n * g.C + c) * g.H + h) * g.W + ww] +=
                    (double)w[((o * g.C + c) * g.k + r) * g.k + s] * dy[((n * g.O + o) * g.P + p) * g.Q + q];
              }
  if (b || act != Activation::None)
    for (size_t i = 0; i < dx.size(); ++i) {
      int c = (int)((i / ((size_t)g.H * g.W)) % g.C);
      dx[i] = act_ref(act, dx[i] + (b ? (*b)[c] : 0.0));
    }
  return dx;
}

std::vector<double> ref_bwd_weight(const G& g, const std::vector<float>& x, const std::vector<float>& dy) {
  std::vector<double> dw((size_t)g.O * g.C * g.k * g.k, 0.0);
  for (int n = 0; n < g.N; ++n)
    for (int o = 0; o < g.O; ++o)
      for (int p = 0; p < g.P; ++p)
        for (int q = 0; q < g.Q; ++q)
          for (int c = 0; c < g.C; ++c)
            for (int r = 0; r < g.k; ++r)
              for (int s = 0; s < g.k; ++s) {
                int h = p * g.s - g.p + r, ww = q * g.s - g.p + s;
                if (h < 0 || h >= g.H || ww < 0 || ww >= g.W) continue;
                dw[((o * g.C + c) * g.k + r) * g.k + s] +=
                    (double)dy[((n * g.O + o) * g.P + p) * g.Q + q] * x[((n * g.C + c) * g.H + h) * g.W + ww];
              }
  return dw;
}

std::vector<double> ref_bias_grad(int N, int C, int HW, const std::vector<float>& dy) {
  std::vector<double> db(C, 0.0);
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < HW; ++i) db[c] += dy[((size_t)n * C + c) * HW + i];
  return db;
}

struct SmsGuard {
  int saved;
  explicit SmsGuard(int n) : saved(emu::num_sms()) { emu::num_sms() = n; }
  ~SmsGuard() { emu::num_sms() = saved; }
};

}  // namespace

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

TEST_CASE("emulated kernels: split-K planning", "[emu]") {
  // DispNet conv7b at 128x416, batch 4: 512 -> 512, k3, map 1x4: 8 x 1 output tiles for 132
  // multiprocessors, K = 4608 (288 K-steps): split.
  auto deep = kc::convk::make_fwd(kc::convk::Geom{4, 512, 1, 4, 512, 3, 1, 1, 1, 4}, nullptr, nullptr, nullptr, nullptr,
                                  Activation::ReLU);
  auto pl = kc::igemm::make_plan(deep, 132);
  REQUIRE(pl.splits > 1);
  REQUIRE(pl.splits <= kc::igemm::kMaxSplits);
  REQUIRE(pl.grid.x == 1);
  REQUIRE(pl.grid.y == 8);
  REQUIRE(pl.grid.z == (unsigned)pl.splits);
  // conv1 at full resolution: 64 x 208 x 4 = 53248 columns, 832 tiles: no split.
  auto big = kc::convk::make_fwd(kc::convk::Geom{4, 3, 128, 416, 32, 7, 2, 3, 64, 208}, nullptr, nullptr, nullptr,
                                 nullptr, Activation::ReLU);
  REQUIRE(kc::igemm::make_plan(big, 132).splits == 1);
  // The weight gradient of conv1: 1 x 3 tiles, K = 53248: split to the limit.
  auto wg = kc::convk::make_bwd_weight(kc::convk::Geom{4, 3, 128, 416, 32, 7, 2, 3, 64, 208}, nullptr, nullptr, nullptr);
  REQUIRE(kc::igemm::make_plan(wg, 132).splits == kc::igemm::kMaxSplits);
}

namespace {

struct ConvCase {
  int N, C, H, W, O, k, s, p;
};

void check_conv2d(const ConvCase& cc, bool tf32, int sms, Activation act, bool bias) {
  SmsGuard guard(sms);
  const G g = geom(cc.N, cc.C, cc.H, cc.W, cc.O, cc.k, cc.s, cc.p);
  INFO("conv2d N=" << g.N << " C=" << g.C << " H=" << g.H << " W=" << g.W << " O=" << g.O << " k=" << g.k
                   << " s=" << g.s << " p=" << g.p << (tf32 ? " TF32" : " FP32") << " sms=" << sms);
  const double tol = tf32 ? 3e-3 : 1e-5;
  Rng rng(1000 + cc.C * 7 + cc.O * 13 + cc.k);
  auto x = random_vec((size_t)g.N * g.C * g.H * g.W, rng);
  auto w = random_vec((size_t)g.O * g.C * g.k * g.k, rng);
  auto b = random_vec(g.O, rng);
  auto dy = random_vec((size_t)g.N * g.O * g.P * g.Q, rng);

  auto y = poisoned(dy.size());
  kc::convk::conv2d_forward(tf32, x.data(), w.data(), bias ? b.data() : nullptr, y.data(), g.N, g.C, g.H, g.W, g.O,
                            g.k, g.s, g.p, g.P, g.Q, act);
  CHECK(within(rel_err(y, ref_fwd(g, x, w, bias ? &b : nullptr, act)), tol));

  auto dx = poisoned(x.size());
  kc::convk::conv2d_backward_data(tf32, dy.data(), w.data(), dx.data(), g.N, g.C, g.H, g.W, g.O, g.k, g.s, g.p, g.P,
                                  g.Q);
  CHECK(within(rel_err(dx, ref_bwd_data(g, dy, w)), tol));

  auto dw = poisoned(w.size());
  auto db = poisoned(g.O);
  kc::convk::conv2d_backward_weight(tf32, x.data(), dy.data(), dw.data(), db.data(), g.N, g.C, g.H, g.W, g.O, g.k, g.s,
                                    g.p, g.P, g.Q);
  CHECK(within(rel_err(dw, ref_bwd_weight(g, x, dy)), tol));
  CHECK(within(rel_err(db, ref_bias_grad(g.N, g.O, g.P * g.Q, dy)), 1e-6));
}

struct TCase {
  int N, C, H, W, O, k, s, p, op;  // transposed: x [N,C,H,W], w [C,O,k,k], output_padding op
};

void check_conv_transpose2d(const TCase& t, bool tf32, int sms, Activation act) {
  SmsGuard guard(sms);
  const int Ho = (t.H - 1) * t.s - 2 * t.p + t.k + t.op, Wo = (t.W - 1) * t.s - 2 * t.p + t.k + t.op;
  // The adjoint convolution: input [N,O,Ho,Wo], output [N,C,H,W], weight [C,O,k,k] as OIHW.
  const G g{t.N, t.O, Ho, Wo, t.C, t.k, t.s, t.p, t.H, t.W};
  REQUIRE(g.P == (Ho + 2 * t.p - t.k) / t.s + 1);
  INFO("conv_transpose2d N=" << t.N << " C=" << t.C << " " << t.H << "x" << t.W << " O=" << t.O << " k=" << t.k
                             << " s=" << t.s << " p=" << t.p << " op=" << t.op << (tf32 ? " TF32" : " FP32")
                             << " sms=" << sms);
  const double tol = tf32 ? 3e-3 : 1e-5;
  Rng rng(2000 + t.C * 7 + t.O * 13 + t.k);
  auto x = random_vec((size_t)t.N * t.C * t.H * t.W, rng);
  auto w = random_vec((size_t)t.C * t.O * t.k * t.k, rng);
  auto b = random_vec(t.O, rng);
  auto dy = random_vec((size_t)t.N * t.O * Ho * Wo, rng);

  auto y = poisoned(dy.size());
  kc::convk::conv_transpose2d_forward(tf32, x.data(), w.data(), b.data(), y.data(), t.N, t.C, t.H, t.W, t.O, t.k, t.s,
                                      t.p, Ho, Wo, act);
  CHECK(within(rel_err(y, ref_bwd_data(g, x, w, &b, act)), tol));

  auto dx = poisoned(x.size());
  kc::convk::conv_transpose2d_backward_data(tf32, dy.data(), w.data(), dx.data(), t.N, t.C, t.H, t.W, t.O, t.k, t.s,
                                            t.p, Ho, Wo);
  CHECK(within(rel_err(dx, ref_fwd(g, dy, w, nullptr, Activation::None)), tol));

  auto dw = poisoned(w.size());
  auto db = poisoned(t.O);
  kc::convk::conv_transpose2d_backward_weight(tf32, x.data(), dy.data(), dw.data(), db.data(), t.N, t.C, t.H, t.W, t.O,
                                              t.k, t.s, t.p, Ho, Wo);
  CHECK(within(rel_err(dw, ref_bwd_weight(g, dy, x)), tol));
  CHECK(within(rel_err(db, ref_bias_grad(t.N, t.O, Ho * Wo, dy)), 1e-6));
}

}  // namespace

TEST_CASE("emulated kernels: conv2d FP32, every kernel size and stride of the models", "[emu]") {
  // k7 s2 (conv1), k5 s2 (conv2), k3 s1 and s2, k1 (pose head), k4 s2, odd sizes, several
  // M and N tiles, and a K long enough (C=16, k3: 9 K-steps) to split with 4 "SMs".
  const std::vector<ConvCase> cases{{2, 3, 9, 11, 5, 7, 2, 3}, {2, 4, 8, 10, 6, 5, 2, 2}, {1, 5, 7, 6, 9, 3, 1, 1},
                                    {2, 3, 6, 7, 4, 1, 1, 0},  {1, 16, 5, 6, 70, 3, 1, 1}, {2, 6, 4, 5, 3, 4, 2, 1},
                                    {1, 4, 1, 4, 3, 3, 1, 1},  {1, 3, 2, 2, 2, 3, 2, 1}};
  for (const ConvCase& c : cases) check_conv2d(c, false, 4, Activation::ReLU, true);
  // without split-K (a device too big to want it), no bias, no activation
  for (size_t i : {0, 4, 5}) check_conv2d(cases[i], false, 100000, Activation::None, false);
  check_conv2d({1, 5, 7, 6, 9, 3, 1, 1}, false, 4, Activation::Sigmoid, true);
}

TEST_CASE("emulated kernels: conv2d TF32 tensor-core path (mma.sync fragment layouts)", "[emu]") {
  check_conv2d({2, 3, 9, 11, 5, 7, 2, 3}, true, 4, Activation::ReLU, true);
  check_conv2d({1, 16, 5, 6, 70, 3, 1, 1}, true, 4, Activation::None, true);
}

TEST_CASE("emulated kernels: conv_transpose2d FP32 and TF32", "[emu]") {
  const std::vector<TCase> cases{{2, 5, 3, 4, 6, 3, 2, 1, 1},   // DispNet upconv: k3 s2 p1 op1
                                 {1, 4, 3, 5, 3, 4, 2, 1, 0},   // PoseExpNet upconv: k4 s2 p1
                                 {1, 3, 4, 4, 2, 3, 1, 1, 0},   // stride 1
                                 {1, 2, 2, 3, 3, 1, 2, 0, 1}};  // k1 s2: residue classes without taps
  for (const TCase& t : cases) {
    check_conv_transpose2d(t, false, 4, Activation::ReLU);
    check_conv_transpose2d(t, false, 100000, Activation::Sigmoid);
  }
  check_conv_transpose2d({2, 5, 3, 4, 6, 3, 2, 1, 1}, true, 4, Activation::ReLU);
}

TEST_CASE("emulated kernels: reductions are exact to float rounding and reproducible", "[emu]") {
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
  }
  // per-channel sums of [N, C, HW] (bias gradients, plane means)
  const int N = 3, C = 5, HW = 3000;
  auto x = random_vec((size_t)N * C * HW, rng);
  auto out = poisoned(C);
  kc::red::launch_segmented_sum(x.data(), N, C, HW, 1.0 / 7, out.data());
  auto ref = ref_bias_grad(N, C, HW, x);
  for (double& r : ref) r /= 7;
  CHECK(within(rel_err(out, ref), 1e-6));
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
    CHECK(within(rel_err(gx, rg), 1e-6));
  }
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
    auto y = poisoned(n);
    kc::elem::launch_binary(op, a.data(), b.data(), y.data(), n);
    std::vector<double> r(n);
    for (int64_t i = 0; i < n; ++i) r[i] = math::binary(op, a[i], b[i]);
    CHECK(within(rel_err(y, r), 1e-6));
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
    CHECK(within(rel_err(gx, std::vector<double>(gx_cpu.begin(), gx_cpu.end())), 1e-6));
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
    CHECK(within(rel_err(gx, std::vector<double>(gx_cpu.begin(), gx_cpu.end())), 1e-6));
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
  // 7x9 fits one block per image; 13x23 (299 pixels) spans two, so the pose partials of
  // several blocks are combined.
  for (auto [H, W] : std::vector<std::pair<int64_t, int64_t>>{{7, 9}, {13, 23}})
    for (Padding pad : {Padding::Zeros, Padding::Border})
      for (RotationMode rot : {RotationMode::Euler, RotationMode::Quat}) {
        const int64_t B = 2, C = 3;
        Scene sc = make_scene(B, 1, C, H, W, 100 + H);
        INFO("inverse_warp " << H << "x" << W << (pad == Padding::Zeros ? " zeros" : " border")
                             << (rot == RotationMode::Euler ? " euler" : " quat"));
        const cpu::WarpDims d{B, C, H, W};
        std::vector<float> out_c(B * C * H * W), val_c(B * H * W);
        cpu::inverse_warp_forward<float>(sc.srcs.data(), sc.depth.data(), sc.poses.data(), sc.K.data(), d, pad, rot,
                                         out_c.data(), val_c.data());
        auto out = poisoned(out_c.size()), val = poisoned(val_c.size());
        kc::warpk::launch_inverse_warp_forward(sc.srcs.data(), sc.depth.data(), sc.poses.data(), sc.K.data(), B, C, H,
                                               W, pad, rot, out.data(), val.data());
        CHECK(within(rel_err(out, dvec(out_c)), 1e-5));
        CHECK(val == val_c);

        Rng rng(7);
        auto gout = random_vec(out_c.size(), rng);
        std::vector<float> gs_c(out_c.size()), gd_c(val_c.size()), gp_c(B * 6);
        cpu::inverse_warp_backward<float>(sc.srcs.data(), sc.depth.data(), sc.poses.data(), sc.K.data(), d, pad, rot,
                                          gout.data(), gs_c.data(), gd_c.data(), gp_c.data());
        auto gs = poisoned(gs_c.size()), gd = poisoned(gd_c.size()), gp = poisoned(gp_c.size());
        kc::warpk::launch_inverse_warp_backward(sc.srcs.data(), sc.depth.data(), sc.poses.data(), sc.K.data(), B, C,
                                                H, W, pad, rot, gout.data(), gs.data(), gd.data(), gp.data());
        CHECK(within(rel_err(gs, dvec(gs_c)), 1e-5));  // CPU: float sums in pixel order; here exact fixed point
        CHECK(within(rel_err(gd, dvec(gd_c)), 1e-5));
        CHECK(within(rel_err(gp, dvec(gp_c)), 1e-5));  // double sums in another grouping
        // pose only (no depth buffer): the same pose gradient
        auto gp2 = poisoned(gp_c.size());
        kc::warpk::launch_inverse_warp_backward(sc.srcs.data(), sc.depth.data(), sc.poses.data(), sc.K.data(), B, C,
                                                H, W, pad, rot, gout.data(), nullptr, nullptr, gp2.data());
        CHECK(gp2 == gp);
      }
}

TEST_CASE("emulated kernels: fused photometric loss matches the CPU loops", "[emu]") {
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
        const cpu::PhotometricDims d{B, S, C, H, W};
        std::vector<float> warped_c(sc.srcs.size());
        const double loss_c = cpu::photometric_forward<float>(sc.tgt.data(), sc.srcs.data(), sc.depth.data(),
                                                              sc.poses.data(), sc.K.data(), mask, d, opt,
                                                              warped_c.data());
        auto loss = poisoned(1), warped = poisoned(warped_c.size());
        kc::warpk::launch_photometric_forward(sc.tgt.data(), sc.srcs.data(), sc.depth.data(), sc.poses.data(),
                                              sc.K.data(), mask, B, S, C, H, W, opt, loss.data(), warped.data());
        CHECK(within(rel_err(loss, {loss_c}), 1e-6));
        CHECK(within(rel_err(warped, dvec(warped_c)), 1e-5));
        auto loss2 = poisoned(1);  // without the warped images
        kc::warpk::launch_photometric_forward(sc.tgt.data(), sc.srcs.data(), sc.depth.data(), sc.poses.data(),
                                              sc.K.data(), mask, B, S, C, H, W, opt, loss2.data(), nullptr);
        CHECK(loss2 == loss);

        const float gscale = 1.7f;
        std::vector<float> gd_c(B * H * W), gp_c(B * S * 6), gm_c(B * S * H * W);
        cpu::photometric_backward<float>(sc.tgt.data(), sc.srcs.data(), sc.depth.data(), sc.poses.data(),
                                         sc.K.data(), mask, d, opt, gscale, gd_c.data(), gp_c.data(),
                                         with_mask ? gm_c.data() : nullptr);
        auto gd = poisoned(gd_c.size()), gp = poisoned(gp_c.size()), gm = poisoned(gm_c.size());
        kc::warpk::launch_photometric_backward(sc.tgt.data(), sc.srcs.data(), sc.depth.data(), sc.poses.data(),
                                               sc.K.data(), mask, B, S, C, H, W, opt, &gscale, gd.data(), gp.data(),
                                               with_mask ? gm.data() : nullptr);
        CHECK(within(rel_err(gd, dvec(gd_c)), 1e-5));
        CHECK(within(rel_err(gp, dvec(gp_c)), 1e-5));
        if (with_mask) CHECK(within(rel_err(gm, dvec(gm_c)), 1e-5));
      }
}

TEST_CASE("emulated kernels: smoothness and explainability losses match the CPU loops", "[emu]") {
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
    CHECK(gm == gm_c);
    auto loss_f = poisoned(1), gm_f = poisoned(n);
    kc::lossk::launch_explainability_fused(m.data(), n, loss_f.data(), gm_f.data());
    kc::red::launch_scale_by_scalar(gm_f.data(), &g, gm_f.data(), n);
    CHECK(loss_f == loss);
    CHECK(within(rel_err(gm_f, dvec(gm_c)), 1e-6));
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
    CHECK(gl == gl_c);
    CHECK(mk == mk_c);
    CHECK(gm == gm_c);
  }
}
