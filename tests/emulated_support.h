// Helpers of the emulated-kernel tests (tests/test_gpu_emulated.cpp, tests/test_gpu_emulated_conv.cpp):
// double-loop references of the convolutions, tolerances, and the thread-order recorder.
#pragma once

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
#include "engine/cpu/loss.h"
#include "engine/cpu/resample.h"
#include "engine/cpu/warp.h"
#include "engine/rng.h"
#include "engine/testing/compare.h"
using namespace sfm;

namespace sfm::test::emulated {


using sfm::test::poisoned;
using sfm::test::random_vec;
// max |got - ref| / max |ref|, NaN when anything is not finite (engine/testing/compare.h).
inline double rel_err(const std::vector<float>& got, const std::vector<double>& ref) {
  return sfm::testing::max_rel_err(got, ref);
}
inline bool within(double err, double tol) { return err <= tol; }  // false for NaN

inline double act_ref(Activation a, double v) { return math::conv_activation(a, v); }

// ---- naive double-precision convolution (the convolution's own terms: ConvGeom)

inline std::vector<double> ref_fwd(const ConvGeom& g, const std::vector<float>& x, const std::vector<float>& w,
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
inline std::vector<double> ref_bwd_data(const ConvGeom& g, const std::vector<float>& dy, const std::vector<float>& w,
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

inline std::vector<double> ref_bwd_weight(const ConvGeom& g, const std::vector<float>& x, const std::vector<float>& dy) {
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

inline std::vector<double> ref_bias_grad(int N, int C, int HW, const std::vector<float>& dy) {
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
inline OrderRecorder& order_recorder() {
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
inline void emu_record(const std::vector<float>& v) {
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


}  // namespace sfm::test::emulated
