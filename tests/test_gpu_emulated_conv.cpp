// The convolution kernels' own code under the host emulation (kernels/emu.h): split-K planning,
// FP32 and TF32 (mma.sync fragment layouts) forward, backward-data and backward-weight on every
// kernel size and stride of the models, deep DispNet layers and seeded random geometries,
// against loops in double. The method, the poisoning and the tolerances: tests/test_gpu_emulated.cpp.

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


namespace {

// Forces the split count of every implicit GEMM the guard's lifetime plans (0: the planner's choice).
struct SplitGuard {
  int saved;
  explicit SplitGuard(int s) : saved(kc::igemm::forced_splits()) { kc::igemm::forced_splits() = s; }
  ~SplitGuard() { kc::igemm::forced_splits() = saved; }
};

template <class P>
kc::igemm::Plan plan_of(const P& prob, int sms, int forced = 0) {
  SplitGuard sg(forced);
  return kc::igemm::make_plan(prob, sms);
}

kc::convk::BwdDataProblem bwd_data_problem(const ConvGeom& g) {
  // the classes run_bwd_data builds (the first launch's, up to kMaxClasses)
  kc::convk::BwdDataProblem p{};
  p.C = (int)g.C, p.H = (int)g.H, p.W = (int)g.W, p.O = (int)g.O, p.k = g.k, p.stride = g.s;
  p.pad = g.p, p.P = (int)g.Ho, p.Q = (int)g.Wo;
  for (int64_t ph = 0; ph < g.s && p.ncls < kc::convk::kMaxClasses; ++ph)
    for (int64_t pw = 0; pw < g.s && p.ncls < kc::convk::kMaxClasses; ++pw) {
      auto rh = kc::convk::residue(ph, g.H, g.k, g.s, g.p), rw = kc::convk::residue(pw, g.W, g.k, g.s, g.p);
      auto& c = p.cl[p.ncls++];
      c.M = (int)g.C, c.N = (int)(g.N * rh.count * rw.count), c.K = (int)(g.O * rh.taps * rw.taps);
    }
  return p;
}

}  // namespace

TEST_CASE("emulated kernels: split-K planning", "[emu]") {
  // DispNet conv7b at 128x416, batch 4: 512 -> 512, k3, map 1x4: 8 x 1 output tiles for 132
  // multiprocessors, K = 4608 (288 K-steps): split.
  const ConvGeom conv7b = ConvGeom::conv(4, 512, 1, 4, 512, 3, 1, 1);
  auto deep = kc::convk::make_fwd(conv7b, nullptr, nullptr, nullptr, nullptr, Activation::ReLU);
  auto pl = plan_of(deep, 132);
  REQUIRE(pl.splits > 1);
  REQUIRE(pl.splits <= kc::igemm::kMaxSplits);
  REQUIRE(pl.grid.x == 1);
  REQUIRE(pl.grid.y == 8);
  REQUIRE(pl.grid.z == (unsigned)pl.splits);
  // target 2 x SMs tiles: ceil(264 / 8) = 33 splits of ceil(288 / 33) = 9 K-steps -> 32 splits.
  REQUIRE(pl.splits == 32);
  // with 4 SMs the 8 tiles already fill the target (8): no split; with 1 SM neither.
  REQUIRE(plan_of(deep, 4).splits == 1);
  REQUIRE(plan_of(deep, 1).splits == 1);
  // A larger device splits more, never less (so "a huge SM count" can never mean "no split").
  int prev = 1;
  for (int sms : {1, 4, 8, 16, 132, 1000, 100000}) {
    const int s = plan_of(deep, sms).splits;
    REQUIRE(s >= prev);
    prev = s;
  }
  // 100000 SMs: min(25000, 288 / 4 = 72, kMaxSplits = 64) = 64 splits of ceil(288 / 64) = 5 K-steps -> 58
  REQUIRE(prev == 58);
  // conv1 at full resolution: 64 x 208 x 4 = 53248 columns, 832 tiles: no split.
  const ConvGeom conv1 = ConvGeom::conv(4, 3, 128, 416, 32, 7, 2, 3);  // out 64x208
  auto big = kc::convk::make_fwd(conv1, nullptr, nullptr, nullptr, nullptr, Activation::ReLU);
  for (int sms : {1, 4, 132}) REQUIRE(plan_of(big, sms).splits == 1);
  // The weight gradient of conv1: 1 x 3 tiles, K = 53248: split to the limit at 132 SMs,
  // ceil(8/3) = 3 at 4, 1 at 1 (3 tiles fill the target of 2).
  auto wg = kc::convk::make_bwd_weight(conv1, nullptr, nullptr, nullptr);
  REQUIRE(plan_of(wg, 132).splits == kc::igemm::kMaxSplits);
  REQUIRE(plan_of(wg, 4).splits == 3);
  REQUIRE(plan_of(wg, 1).splits == 1);
  // Backward-data of a stride-2 layer: 4 classes share the grid's z with the splits.
  const ConvGeom s2 = ConvGeom::conv(1, 64, 8, 8, 64, 3, 2, 1);
  auto bd = bwd_data_problem(s2);
  REQUIRE(bd.ncls == 4);
  auto pb = plan_of(bd, 132);
  REQUIRE(pb.classes == 4);
  REQUIRE(pb.splits > 1);
  REQUIRE(pb.grid.z == (unsigned)(4 * pb.splits));
  REQUIRE(plan_of(bd, 1).splits == 1);  // 4 tiles >= 2
  // The override: clamped to [1, min(K-steps, kMaxSplits)], then no split left without K-steps.
  REQUIRE(plan_of(deep, 132, 1).splits == 1);
  REQUIRE(plan_of(deep, 1, 5).splits == 5);
  REQUIRE(plan_of(deep, 1, 1000).splits == 58);  // 64 -> ceil(288 / 64) = 5 K-steps each -> 58
  auto small = kc::convk::make_fwd(ConvGeom::conv(1, 3, 4, 4, 2, 3, 1, 1), nullptr, nullptr, nullptr, nullptr,
                                   Activation::None);  // K = 27: 2 K-steps
  REQUIRE(plan_of(small, 132).splits == 1);            // fewer than 8 K-steps: never split by the planner
  REQUIRE(plan_of(small, 132, 7).splits == 2);
  // 10 K-steps in 4 splits: 3 per split -> 4 splits (3,3,3,1); in 6: 2 per split -> 5 splits.
  auto k10 = kc::convk::make_fwd(ConvGeom::conv(1, 160, 1, 1, 2, 1, 1, 0), nullptr, nullptr, nullptr, nullptr,
                                 Activation::None);
  REQUIRE(plan_of(k10, 1, 4).splits == 4);
  REQUIRE(plan_of(k10, 1, 6).splits == 5);
}

namespace {

struct ConvCase {
  int N, C, H, W, O, k, s, p;
};

// What a case varies besides the geometry.
struct RunCfg {
  bool tf32 = false;
  int sms = 4;
  int splits = 0;  // forced split count (0: the planner's)
  Activation act = Activation::ReLU;
  bool bias = true;
  bool perturb = true;  // rerun under reversed and shuffled thread orders: bitwise identical
};
std::ostream& operator<<(std::ostream& os, const RunCfg& r) {
  return os << (r.tf32 ? " TF32" : " FP32") << " sms=" << r.sms << " splits=" << r.splits << " act=" << (int)r.act
            << " bias=" << r.bias;
}

struct OrderGuard {
  emu::Policy saved;
  OrderGuard(emu::Order o, uint64_t seed) : saved(emu::schedule_policy()) { emu::schedule_policy() = {o, seed}; }
  ~OrderGuard() { emu::schedule_policy() = saved; }
};

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Runs produce() (which returns the outputs of one case, computed from fresh NaN-poisoned
// buffers) in thread order, then reversed and under two seeded shuffles: every output must be
// bitwise identical. Returns the thread-order outputs.
template <class F>
std::vector<std::vector<float>> run_orders(bool perturb, F produce) {
  std::vector<std::vector<float>> ref;
  {
    OrderGuard og(emu::Order::RoundRobin, 0);
    ref = produce();
  }
  if (!perturb) return ref;
  const std::pair<emu::Order, uint64_t> alts[] = {{emu::Order::Reversed, 0}, {emu::Order::Shuffled, 0x5eed1},
                                                  {emu::Order::Shuffled, 0x5eed2}};
  for (auto [o, seed] : alts) {
    OrderGuard og(o, seed);
    auto got = produce();
    REQUIRE(got.size() == ref.size());
    for (size_t i = 0; i < ref.size(); ++i) {
      INFO("output " << i << " under order " << (int)o << " seed " << seed);
      CHECK(bitwise_equal(got[i], ref[i]));
    }
  }
  return ref;
}

// FP32 bound for a sum of K products: 1e-5 relative to max|ref| holds for the model's layers up to
// K ~ 10^4 with margin: FP32 rounding errors of a K-term sum grow like sqrt(K) * 2^-24 relative to
// the sum's typical magnitude (random-walk), i.e. <= 6e-6 for K = 9216 (iconv7 of DispNet),
// and max|ref| is several times the typical magnitude. The TF32 bound (3e-3) is dominated by the
// operand rounding (2^-11 each) and does not grow with K for the same reason.
double tol_of(bool tf32) { return tf32 ? 3e-3 : 1e-5; }

void check_conv2d(const ConvCase& cc, const RunCfg& cfg) {
  SmsGuard guard(cfg.sms);
  SplitGuard sg(cfg.splits);
  const ConvGeom g = ConvGeom::conv(cc.N, cc.C, cc.H, cc.W, cc.O, cc.k, cc.s, cc.p);
  INFO("conv2d N=" << g.N << " C=" << g.C << " H=" << g.H << " W=" << g.W << " O=" << g.O << " k=" << g.k
                   << " s=" << g.s << " p=" << g.p << cfg);
  const double tol = tol_of(cfg.tf32);
  Rng rng(1000 + cc.C * 7 + cc.O * 13 + cc.k);
  auto x = random_vec((size_t)g.N * g.C * g.H * g.W, rng);
  auto w = random_vec((size_t)g.O * g.C * g.k * g.k, rng);
  auto b = random_vec(g.O, rng);
  auto dy = random_vec((size_t)(g.N * g.O * g.P()), rng);
  const bool tf32 = cfg.tf32;
  auto out = run_orders(cfg.perturb, [&] {
    auto y = poisoned(dy.size());
    kc::convk::conv2d_forward(tf32, g, x.data(), w.data(), cfg.bias ? b.data() : nullptr, cfg.act, y.data());
    auto dx = poisoned(x.size());
    kc::convk::conv2d_backward_data(tf32, g, w.data(), dy.data(), dx.data());
    auto dw = poisoned(w.size());
    kc::convk::conv2d_backward_weight(tf32, g, x.data(), dy.data(), dw.data());
    auto db = poisoned(g.O);  // the bias gradient as cuda::channel_sum computes it
    kc::red::launch_segmented_sum(dy.data(), g.N, g.O, g.P(), 1.0, db.data());
    return std::vector<std::vector<float>>{y, dx, dw, db};
  });
  const double ey = rel_err(out[0], ref_fwd(g, x, w, cfg.bias ? &b : nullptr, cfg.act));
  const double ex = rel_err(out[1], ref_bwd_data(g, dy, w));
  const double ew = rel_err(out[2], ref_bwd_weight(g, x, dy));
  INFO("relative errors: y " << ey << " dx " << ex << " dw " << ew);
  if (std::getenv("SFM_EMU_VERBOSE")) WARN("relative errors: y " << ey << " dx " << ex << " dw " << ew);
  CHECK(within(ey, tol));
  CHECK(within(ex, tol));
  CHECK(within(ew, tol));
  CHECK(within(rel_err(out[3], ref_bias_grad((int)g.N, (int)g.O, (int)g.P(), dy)), 1e-6));
}

struct TCase {
  int N, C, H, W, O, k, s, p, op;  // transposed: x [N,C,H,W], w [C,O,k,k], output_padding op
};

void check_conv_transpose2d(const TCase& t, const RunCfg& cfg) {
  SmsGuard guard(cfg.sms);
  SplitGuard sg(cfg.splits);
  // The adjoint convolution: input [N,O,Ho,Wo] (the output), output [N,C,H,W] (x), weight
  // [C,O,k,k] read as OIHW: in its terms g.C = t.O, g.H x g.W = Ho x Wo, g.O = t.C.
  const ConvGeom g = ConvGeom::transposed(t.N, t.C, t.H, t.W, t.O, t.k, t.s, t.p, t.op);
  REQUIRE(g.consistent());
  const int64_t Ho = g.H, Wo = g.W;
  INFO("conv_transpose2d N=" << t.N << " C=" << t.C << " " << t.H << "x" << t.W << " O=" << t.O << " k=" << t.k
                             << " s=" << t.s << " p=" << t.p << " op=" << t.op << cfg);
  const double tol = tol_of(cfg.tf32);
  Rng rng(2000 + t.C * 7 + t.O * 13 + t.k);
  auto x = random_vec((size_t)t.N * t.C * t.H * t.W, rng);
  auto w = random_vec((size_t)t.C * t.O * t.k * t.k, rng);
  auto b = random_vec(t.O, rng);
  auto dy = random_vec((size_t)t.N * t.O * Ho * Wo, rng);
  const bool tf32 = cfg.tf32;
  auto out = run_orders(cfg.perturb, [&] {
    auto y = poisoned(dy.size());
    kc::convk::conv_transpose2d_forward(tf32, g, x.data(), w.data(), cfg.bias ? b.data() : nullptr, cfg.act, y.data());
    // Its backward passes as engine/ops_conv.cpp runs them: the convolution's forward
    // (backward-data) and its backward-weight with x and dy swapped, on the same geometry.
    auto dx = poisoned(x.size());
    kc::convk::conv2d_forward(tf32, g, dy.data(), w.data(), nullptr, Activation::None, dx.data());
    auto dw = poisoned(w.size());
    kc::convk::conv2d_backward_weight(tf32, g, dy.data(), x.data(), dw.data());
    auto db = poisoned(t.O);
    kc::red::launch_segmented_sum(dy.data(), g.N, g.C, g.H * g.W, 1.0, db.data());
    return std::vector<std::vector<float>>{y, dx, dw, db};
  });
  const double ey = rel_err(out[0], ref_bwd_data(g, x, w, cfg.bias ? &b : nullptr, cfg.act));
  const double ex = rel_err(out[1], ref_fwd(g, dy, w, nullptr, Activation::None));
  const double ew = rel_err(out[2], ref_bwd_weight(g, dy, x));
  INFO("relative errors: y " << ey << " dx " << ex << " dw " << ew);
  if (std::getenv("SFM_EMU_VERBOSE")) WARN("relative errors: y " << ey << " dx " << ex << " dw " << ew);
  CHECK(within(ey, tol));
  CHECK(within(ex, tol));
  CHECK(within(ew, tol));
  CHECK(within(rel_err(out[3], ref_bias_grad(t.N, t.O, (int)(Ho * Wo), dy)), 1e-6));
}

RunCfg cfg(bool tf32, int sms, Activation act = Activation::ReLU, bool bias = true, int splits = 0) {
  RunCfg r;
  r.tf32 = tf32, r.sms = sms, r.act = act, r.bias = bias, r.splits = splits;
  return r;
}

uint64_t env_u64(const char* name, uint64_t dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 0) : dflt;
}

}  // namespace

TEST_CASE("emulated kernels: conv2d FP32, every kernel size and stride of the models", "[emu]") {
  // k7 s2 (conv1), k5 s2 (conv2), k3 s1 and s2, k1 (pose head), k4 s2, odd sizes, several
  // M and N tiles, and a K long enough (C=16, k3: 9 K-steps) to split with 4 "SMs".
  const std::vector<ConvCase> cases{{2, 3, 9, 11, 5, 7, 2, 3}, {2, 4, 8, 10, 6, 5, 2, 2}, {1, 5, 7, 6, 9, 3, 1, 1},
                                    {2, 3, 6, 7, 4, 1, 1, 0},  {1, 16, 5, 6, 70, 3, 1, 1}, {2, 6, 4, 5, 3, 4, 2, 1},
                                    {1, 4, 1, 4, 3, 3, 1, 1},  {1, 3, 2, 2, 2, 3, 2, 1}};
  for (const ConvCase& c : cases) check_conv2d(c, cfg(false, 4));
  // Without split-K, no bias, no activation. (The planner splits more on larger devices, so a
  // huge SM count does not turn split-K off: the plan override does.)
  for (size_t i : {0, 4, 5}) check_conv2d(cases[i], cfg(false, 132, Activation::None, false, 1));
  check_conv2d({1, 5, 7, 6, 9, 3, 1, 1}, cfg(false, 4, Activation::Sigmoid));
}

TEST_CASE("emulated kernels: conv2d TF32 tensor-core path (mma.sync fragment layouts)", "[emu]") {
  check_conv2d({2, 3, 9, 11, 5, 7, 2, 3}, cfg(true, 4));
  check_conv2d({1, 16, 5, 6, 70, 3, 1, 1}, cfg(true, 4, Activation::None));
}

TEST_CASE("emulated kernels: conv_transpose2d FP32 and TF32", "[emu]") {
  const std::vector<TCase> cases{{2, 5, 3, 4, 6, 3, 2, 1, 1},   // DispNet upconv: k3 s2 p1 op1
                                 {1, 4, 3, 5, 3, 4, 2, 1, 0},   // PoseExpNet upconv: k4 s2 p1
                                 {1, 3, 4, 4, 2, 3, 1, 1, 0},   // stride 1
                                 {1, 2, 2, 3, 3, 1, 2, 0, 1}};  // k1 s2: residue classes without taps
  for (const TCase& t : cases) {
    check_conv_transpose2d(t, cfg(false, 4));
    check_conv_transpose2d(t, cfg(false, 1, Activation::Sigmoid, true, 1));
  }
  check_conv_transpose2d({2, 5, 3, 4, 6, 3, 2, 1, 1}, cfg(true, 4));
}

TEST_CASE("emulated kernels: conv split-K paths (forward, backward-data with classes, backward-weight)", "[emu][long]") {
  // K = 40*9 = 360 (23 K-steps) forward, O*taps backward-data, N*P*Q backward-weight; several M
  // and N tiles (O = 130: 3 M-tiles; N*P*Q = 2*12*11 = 264: 5 N-tiles).
  const ConvCase c{2, 40, 12, 11, 130, 3, 1, 1};
  for (int splits : {1, 2, 5}) check_conv2d(c, cfg(false, 1, Activation::ReLU, true, splits));
  check_conv2d(c, cfg(true, 132));  // the planner's choice on an H100-sized device
  // Stride 2 and 3: 4 and 9 residue classes (9 = two launches of up to 4 classes, plus one),
  // each split, FP32 and TF32; stride 3 k2 has classes without taps.
  check_conv2d({2, 24, 13, 12, 70, 3, 2, 1}, cfg(false, 1, Activation::ReLU, true, 3));
  check_conv2d({1, 20, 11, 10, 66, 5, 3, 2}, cfg(true, 1, Activation::ReLU, true, 4));
  check_conv2d({1, 9, 8, 8, 17, 2, 3, 0}, cfg(false, 4, Activation::ReLU, true, 3));
  check_conv_transpose2d({2, 70, 5, 6, 24, 3, 2, 1, 1}, cfg(false, 132));
  check_conv_transpose2d({1, 66, 4, 4, 20, 4, 2, 1, 0}, cfg(true, 1, Activation::Sigmoid, true, 6));
}

TEST_CASE("emulated kernels: deep DispNet layers at batch 1-2", "[emu][long]") {
  // conv7b: 512 -> 512, k3, on the 1x4 map of a 128x416 input (K = 4608); iconv7: the
  // concatenation 512 + 512 = 1024 -> 512 (K = 9216); upconv7 512 -> 512 k3 s2 to 2x8 (the
  // transposed layer, 4 classes). FP32 with the planner's split on 132 SMs and TF32 on 4.
  // Thread-order perturbation on one of each (they are the costliest cases of the suite).
  RunCfg a = cfg(false, 132);
  check_conv2d({2, 512, 1, 4, 512, 3, 1, 1}, a);
  RunCfg b = cfg(true, 132);
  b.perturb = false;
  check_conv2d({1, 1024, 1, 4, 512, 3, 1, 1}, b);
  RunCfg c = cfg(false, 4);
  c.perturb = false;
  check_conv2d({1, 1024, 1, 4, 512, 3, 1, 1}, c);
  check_conv_transpose2d({1, 512, 1, 4, 512, 3, 2, 1, 1}, cfg(true, 132));
}

TEST_CASE("emulated kernels: seeded random conv geometries against double loops", "[emu][long]") {
  // SFM_EMU_CONV_CASES (default 6) geometries per run from SFM_EMU_SEED (default: a fresh seed,
  // printed). Each runs conv2d and conv_transpose2d, FP32 and TF32, forward / backward-data /
  // backward-weight, with a random SM count and split override, under three thread orders.
  // Geometries whose emulated work exceeds a bound (about 2e7 padded multiply-adds per pass)
  // are redrawn, which keeps a run's time bounded.
  const uint64_t seed = env_u64("SFM_EMU_SEED", (uint64_t)std::random_device{}() ^ ((uint64_t)std::time(nullptr) << 20));
  const int ncases = (int)env_u64("SFM_EMU_CONV_CASES", 6);
  WARN("random conv geometries: SFM_EMU_SEED=" << seed << " SFM_EMU_CONV_CASES=" << ncases);
  Rng rng(seed);
  auto ri = [&](int lo, int hi) { return lo + (int)rng.randint(hi - lo + 1); };
  auto padded_work = [](int64_t M, int64_t N, int64_t K) {
    return ((M + 63) / 64 * 64) * ((N + 63) / 64 * 64) * std::max<int64_t>(K, 16);
  };
  for (int i = 0; i < ncases; ++i) {
    int N, C, H, W, O, k, s, p, op, P, Q;
    for (;;) {
      N = ri(1, 3), C = ri(1, 40), H = ri(1, 20), W = ri(1, 20), O = ri(1, 130), k = ri(1, 7), s = ri(1, 3);
      p = ri(0, k / 2), op = ri(0, s - 1);
      const ConvGeom cg = ConvGeom::conv(N, C, H, W, O, k, s, p);
      if (!cg.consistent()) continue;  // the kernel does not fit: H + 2p < k or W + 2p < k
      P = (int)cg.Ho, Q = (int)cg.Wo;
      const int64_t fwd = padded_work(O, (int64_t)N * P * Q, (int64_t)C * k * k);
      const int64_t bwd = padded_work(C, (int64_t)N * H * W, (int64_t)O * k * k);
      const int64_t wgt = padded_work(O, (int64_t)C * k * k, (int64_t)N * P * Q);
      const ConvGeom tg = ConvGeom::transposed(N, C, H, W, O, k, s, p, op);
      const int64_t Ho = tg.H, Wo = tg.W;
      const int64_t tw = padded_work(O, (int64_t)N * Ho * Wo, (int64_t)C * k * k);
      if (std::max({fwd, bwd, wgt, tw}) > 20000000) continue;
      if (Ho < 1 || Wo < 1) continue;
      break;
    }
    const int sms_opts[] = {1, 4, 132};
    const int sms = sms_opts[ri(0, 2)];
    const int splits = ri(0, 3) == 0 ? 0 : ri(1, 6);
    const Activation acts[] = {Activation::None, Activation::ReLU, Activation::Sigmoid};
    const Activation act = acts[ri(0, 2)];
    INFO("random case " << i << " of seed " << seed);
    for (bool tf32 : {false, true}) {
      check_conv2d({N, C, H, W, O, k, s, p}, cfg(tf32, sms, act, ri(0, 1) == 1, splits));
      check_conv_transpose2d({N, C, H, W, O, k, s, p, op}, cfg(tf32, sms, act, ri(0, 1) == 1, splits));
    }
  }
}
