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
#include "lab/ops/compare.h"

using namespace sfm;
namespace kc = sfm::cuda;

namespace {

using sfm::test::poisoned;
using sfm::test::random_vec;
// max |got - ref| / max |ref|, NaN when anything is not finite (lab/ops/compare.h).
double rel_err(const std::vector<float>& got, const std::vector<double>& ref) {
  return sfm::lab::max_rel_err(got, ref);
}
bool within(double err, double tol) { return err <= tol; }  // false for NaN

double act_ref(Activation a, double v) { return math::conv_activation(a, v); }

// ---- naive double-precision convolution (the convolution's own terms: ConvGeom)

std::vector<double> ref_fwd(const ConvGeom& g, const std::vector<float>& x, const std::vector<float>& w,
                            const std::vector<float>* b, Activation act) {
  std::vector<double> y((size_t)g.N * g.O * g.Ho * g.Wo);
  for (int n = 0; n < g.N; ++n)
    for (int o = 0; o < g.O; ++o)
      for (int p = 0; p < g.Ho; ++p)
        for (int q = 0; q < g.Wo; ++q) {
          double acc = b ? (*b)[o] : 0.0;
          for (int c = 0; c < g.C; ++c)
            for (int r = 0; r < g.k; ++r)
              for (int s = 0; s < g.k; ++s) {
                int h = p * g.s - g.p + r, ww = q * g.s - g.p + s;
                if (h < 0 || h >= g.H || ww < 0 || ww >= g.W) continue;
                acc += (double)w[((o * g.C + c) * g.k + r) * g.k + s] * x[((n * g.C + c) * g.H + h) * g.W + ww];
              }
          y[((n * g.O + o) * g.Ho + p) * g.Wo + q] = act_ref(act, acc);
        }
  return y;
}

// dx of the convolution (plus an optional per-C bias and activation: the transposed forward).
std::vector<double> ref_bwd_data(const ConvGeom& g, const std::vector<float>& dy, const std::vector<float>& w,
                                 const std::vector<float>* b = nullptr, Activation act = Activation::None) {
  std::vector<double> dx((size_t)g.N * g.C * g.H * g.W, 0.0);
  for (int n = 0; n < g.N; ++n)
    for (int o = 0; o < g.O; ++o)
      for (int p = 0; p < g.Ho; ++p)
        for (int q = 0; q < g.Wo; ++q)
          for (int c = 0; c < g.C; ++c)
            for (int r = 0; r < g.k; ++r)
              for (int s = 0; s < g.k; ++s) {
                int h = p * g.s - g.p + r, ww = q * g.s - g.p + s;
                if (h < 0 || h >= g.H || ww < 0 || ww >= g.W) continue;
                dx[((n * g.C + c) * g.H + h) * g.W + ww] +=
                    (double)w[((o * g.C + c) * g.k + r) * g.k + s] * dy[((n * g.O + o) * g.Ho + p) * g.Wo + q];
              }
  if (b || act != Activation::None)
    for (size_t i = 0; i < dx.size(); ++i) {
      int c = (int)((i / ((size_t)g.H * g.W)) % g.C);
      dx[i] = act_ref(act, dx[i] + (b ? (*b)[c] : 0.0));
    }
  return dx;
}

std::vector<double> ref_bwd_weight(const ConvGeom& g, const std::vector<float>& x, const std::vector<float>& dy) {
  std::vector<double> dw((size_t)g.O * g.C * g.k * g.k, 0.0);
  for (int n = 0; n < g.N; ++n)
    for (int o = 0; o < g.O; ++o)
      for (int p = 0; p < g.Ho; ++p)
        for (int q = 0; q < g.Wo; ++q)
          for (int c = 0; c < g.C; ++c)
            for (int r = 0; r < g.k; ++r)
              for (int s = 0; s < g.k; ++s) {
                int h = p * g.s - g.p + r, ww = q * g.s - g.p + s;
                if (h < 0 || h >= g.H || ww < 0 || ww >= g.W) continue;
                dw[((o * g.C + c) * g.k + r) * g.k + s] +=
                    (double)dy[((n * g.O + o) * g.Ho + p) * g.Wo + q] * x[((n * g.C + c) * g.H + h) * g.W + ww];
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


// ---- thread-order perturbation for whole test cases: EMU_ORDERS() at the top of a test runs
// the test once per order (thread order, reversed, two seeded shuffles: Catch GENERATE), and
// emu_record(v) checks that the i-th recorded output of every rerun is bitwise identical to
// the thread-order run's.
struct OrderRecorder {
  std::vector<std::vector<float>> first;
  size_t next = 0;
  int order = 0;
};
OrderRecorder& order_recorder() {
  static OrderRecorder r;
  return r;
}
struct OrderScope {
  emu::Policy saved;
  explicit OrderScope(int idx) : saved(emu::schedule_policy()) {
    static const emu::Policy pols[] = {{emu::Order::RoundRobin, 0},
                                       {emu::Order::Reversed, 0},
                                       {emu::Order::Shuffled, 0xa11ce},
                                       {emu::Order::Shuffled, 0xb0b}};
    emu::schedule_policy() = pols[idx];
    OrderRecorder& r = order_recorder();
    r.order = idx;
    r.next = 0;
    if (idx == 0) r.first.clear();
  }
  ~OrderScope() { emu::schedule_policy() = saved; }
};
void emu_record(const std::vector<float>& v) {
  OrderRecorder& r = order_recorder();
  if (r.order == 0) {
    r.first.push_back(v);
    return;
  }
  INFO("recorded output " << r.next << " under order " << r.order);
  REQUIRE(r.next < r.first.size());
  const std::vector<float>& ref = r.first[r.next++];
  CHECK((v.size() == ref.size() && (v.empty() || std::memcmp(v.data(), ref.data(), v.size() * 4) == 0)));
}
#define EMU_ORDERS()                                 \
  const int emu_order_idx_ = GENERATE(0, 1, 2, 3);   \
  OrderScope emu_order_scope_(emu_order_idx_);        \
  INFO("thread order policy " << emu_order_idx_)

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

TEST_CASE("emulated kernels: conv split-K paths (forward, backward-data with classes, backward-weight)", "[emu]") {
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

TEST_CASE("emulated kernels: deep DispNet layers at batch 1-2", "[emu]") {
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

TEST_CASE("emulated kernels: seeded random conv geometries against double loops", "[emu]") {
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
