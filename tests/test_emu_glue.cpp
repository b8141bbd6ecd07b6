// Host emulation (kernels/emu_execution.h) part 2: the glue kernels of the library paths and the runtime
// (bias/activation epilogue, activation gradient, im2col/col2im, fill, pose_vec2mat), and the
// emulation's own instruments: launch limits, static shared memory and parameter sizes,
// float4 alignment, poisoned shared memory and scratch, thread-order policies.
#include <catch2/catch.hpp>

#include "tests/test_support.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/conv_kernels.h"
#include "kernels/elementwise_kernels.h"
#include "kernels/warp_kernels.h"
// after the kernels' headers (see conv_math.h)
#include "cpu/warp.h"
#include "engine/rng.h"

using namespace sfm;
namespace kc = sfm::cuda;

namespace {

using sfm::test::same_bits;

struct PolicyGuard {
  emu::Policy saved;
  PolicyGuard(emu::Order o, uint64_t seed) : saved(emu::schedule_policy()) { emu::schedule_policy() = {o, seed}; }
  ~PolicyGuard() { emu::schedule_policy() = saved; }
};

}  // namespace

TEST_CASE("emulated kernels: bias/activation epilogue and activation gradient of the library paths", "[emu]") {
  Rng rng(31);
  const int64_t N = 2, C = 5, HW = 37, n = N * C * HW;
  auto y0 = sfm::test::random_vec(n, rng, -3, 3), b = sfm::test::random_vec(C, rng), g = sfm::test::random_vec(n, rng);
  for (Activation act : {Activation::None, Activation::ReLU, Activation::Sigmoid})
    for (bool with_b : {false, true}) {
      INFO("act " << (int)act << " bias " << with_b);
      auto y = y0;
      kc::conv_kernels::launch_bias_activation(y.data(), with_b ? b.data() : nullptr, N, C, HW, act);
      for (int64_t i = 0; i < n; ++i) {
        const float v = y0[i] + (with_b ? b[(i / HW) % C] : 0.0f);
        REQUIRE(y[i] == math::conv_activation(act, v));
      }
      auto out = sfm::test::poisoned(n);
      kc::conv_kernels::launch_activation_backward(y.data(), g.data(), out.data(), n, act);
      for (int64_t i = 0; i < n; ++i) REQUIRE(out[i] == math::conv_activation_grad(act, y[i], g[i]));
    }
  // in place (out == g), and empty
  auto g2 = g;
  kc::conv_kernels::launch_activation_backward(y0.data(), g2.data(), g2.data(), n, Activation::None);
  CHECK(g2 == g);
  kc::conv_kernels::launch_activation_backward(nullptr, nullptr, nullptr, 0, Activation::ReLU);
  kc::conv_kernels::launch_bias_activation(nullptr, nullptr, 0, C, HW, Activation::ReLU);
}

TEST_CASE("emulated kernels: im2col and col2im of the cuBLAS path", "[emu]") {
  Rng rng(32);
  struct Gc {
    int64_t N, C, H, W, k, s, p;
  };
  for (const Gc& c : std::vector<Gc>{{2, 3, 7, 9, 3, 1, 1}, {1, 4, 8, 6, 5, 2, 2}, {3, 2, 5, 5, 1, 3, 0}, {1, 1, 1, 1, 1, 1, 0}}) {
    const ConvGeom g = ConvGeom::conv(c.N, c.C, c.H, c.W, 1, (int)c.k, (int)c.s, (int)c.p);
    const int64_t P = g.Ho, Q = g.Wo, K = g.K();
    const kc::conv_kernels::ColGeom cg = kc::conv_kernels::col_geom(g);
    INFO("N=" << c.N << " C=" << c.C << " " << c.H << "x" << c.W << " k=" << c.k << " s=" << c.s << " p=" << c.p);
    auto x = sfm::test::random_vec(c.N * c.C * c.H * c.W, rng);
    auto col = sfm::test::poisoned(c.N * K * P * Q);
    kc::conv_kernels::launch_im2col(cg, x.data(), col.data(), c.N);
    auto dcol = sfm::test::random_vec(col.size(), rng);
    std::vector<double> dx_ref(x.size(), 0.0);
    for (int64_t i = 0; i < c.N; ++i)
      for (int64_t ch = 0; ch < c.C; ++ch)
        for (int64_t r = 0; r < c.k; ++r)
          for (int64_t s = 0; s < c.k; ++s)
            for (int64_t p = 0; p < P; ++p)
              for (int64_t q = 0; q < Q; ++q) {
                const int64_t row = (i * K + (ch * c.k + r) * c.k + s), e = row * P * Q + p * Q + q;
                const int64_t h = p * c.s - c.p + r, w = q * c.s - c.p + s;
                const bool in = h >= 0 && h < c.H && w >= 0 && w < c.W;
                const float want = in ? x[((i * c.C + ch) * c.H + h) * c.W + w] : 0.0f;
                REQUIRE(col[e] == want);
                if (in) dx_ref[((i * c.C + ch) * c.H + h) * c.W + w] += dcol[e];
              }
    auto dx = sfm::test::poisoned(x.size());
    kc::conv_kernels::launch_col2im(cg, dcol.data(), dx.data(), c.N);
    for (size_t i = 0; i < dx.size(); ++i) REQUIRE(std::fabs(dx[i] - dx_ref[i]) <= 1e-6 * std::max(1.0, std::fabs(dx_ref[i])));
  }
}

TEST_CASE("emulated kernels: fill and pose_vec2mat", "[emu]") {
  for (size_t n : {size_t(0), size_t(1), size_t(255), size_t(257), size_t(100000)}) {
    auto p = sfm::test::poisoned(n + 1);
    kc::elem::launch_fill(p.data(), n, -2.5f);
    for (size_t i = 0; i < n; ++i) REQUIRE(p[i] == -2.5f);
    REQUIRE(std::isnan(p[n]));  // nothing past the end
  }
  Rng rng(33);
  for (RotationMode mode : {RotationMode::Euler, RotationMode::Quat})
    for (int64_t B : {1, 3, 65, 130}) {
      auto pose = sfm::test::random_vec(B * 6, rng, -0.5, 0.5), gRt = sfm::test::random_vec(B * 12, rng);
      std::vector<float> Rt_c(B * 12), gp_c(B * 6);
      cpu::pose_vec2mat_forward<float>(pose.data(), B, mode, Rt_c.data());
      cpu::pose_vec2mat_backward<float>(pose.data(), gRt.data(), B, mode, gp_c.data());
      auto Rt = sfm::test::poisoned(B * 12), gp = sfm::test::poisoned(B * 6);
      kc::warp_kernels::launch_pose_vec2mat_forward(pose.data(), B, mode, Rt.data());
      kc::warp_kernels::launch_pose_vec2mat_backward(pose.data(), gRt.data(), B, mode, gp.data());
      INFO("pose_vec2mat B=" << B << " mode " << (int)mode);
      // the same float arithmetic (boundary/math/warp_math.h), compiled in another translation
      // unit: FMA contraction may differ by an ulp
      for (int64_t i = 0; i < B * 12; ++i) REQUIRE(std::fabs(Rt[i] - Rt_c[i]) <= 1e-6f * std::max(1.0f, std::fabs(Rt_c[i])));
      for (int64_t i = 0; i < B * 6; ++i) REQUIRE(std::fabs(gp[i] - gp_c[i]) <= 1e-5f * std::max(1.0f, std::fabs(gp_c[i])));
    }
  // inverse_warp of empty images: no launch, the pose gradient is zero
  std::vector<float> pose(12, 0.1f), K(18, 1.0f), gpose = sfm::test::poisoned(12);
  kc::warp_kernels::launch_inverse_warp_backward(nullptr, nullptr, pose.data(), K.data(), WarpDims{2, 3, 0, 5}, Padding::Zeros,
                                          RotationMode::Euler, nullptr, nullptr, nullptr, gpose.data());
  CHECK(gpose == std::vector<float>(12, 0.0f));
  kc::warp_kernels::launch_pose_vec2mat_forward(nullptr, 0, RotationMode::Euler, nullptr);
  kc::warp_kernels::launch_pose_vec2mat_backward(nullptr, nullptr, 0, RotationMode::Euler, nullptr);
}

// ---------------------------------------------------------------- the instruments
namespace sfm::cuda {
SFM_KERNEL_NS_BEGIN
namespace emutest {

SFM_GLOBAL void noop_kernel(int) {}

// 48 KiB exactly, in two arrays: allowed.
SFM_GLOBAL void shared48_kernel(float* out) {
  SFM_SHARED_ARRAY(float, a, [8192]);
  SFM_SHARED_ARRAY(float, b, [4096]);
  a[threadIdx.x] = 1.0f;
  b[threadIdx.x] = 2.0f;
  sfm_syncthreads();
  if (threadIdx.x == 0) out[blockIdx.x] = a[31] + b[0];
}
// 48 KiB + 4 bytes: refused.
SFM_GLOBAL void shared49_kernel(float* out) {
  SFM_SHARED_ARRAY(float, a, [8192]);
  SFM_SHARED_ARRAY(float, b, [4097]);
  a[threadIdx.x] = b[threadIdx.x] = 0.0f;
  out[0] = 0.0f;
}

struct Big {
  char c[32768];
};
SFM_GLOBAL void big_param_kernel(Big) {}
struct Fits {
  char c[32760];
};
SFM_GLOBAL void fits_param_kernel(Fits, int) {}

SFM_GLOBAL void lds4_kernel(const float* p, float* out) {
  const float4 v = lds4(p);
  if (threadIdx.x == 0) out[0] = v.x + v.y + v.z + v.w;
}

// Block b: thread 0 writes sh[0] = b in block 0 only, then every thread reads sh[0]:
// block 1 must see the poison, not block 0's value.
SFM_GLOBAL void shared_persist_kernel(float* out) {
  SFM_SHARED_ARRAY(float, sh, [1]);
  if (blockIdx.x == 0 && threadIdx.x == 0) sh[0] = 7.0f;
  sfm_syncthreads();
  if (threadIdx.x == 0) out[blockIdx.x] = sh[0];
}

// A missing barrier: thread t writes sh[t] and reads sh[t-1] without __syncthreads().
// Thread order runs t-1 first and hides it; the reversed order shows the poison.
SFM_GLOBAL void racy_kernel(float* out) {
  SFM_SHARED_ARRAY(float, sh, [64]);
  const int t = (int)threadIdx.x;
  sh[t] = (float)t;
  out[t] = t > 0 ? sh[t - 1] : 0.0f;
}

// The order in which the threads start.
SFM_GLOBAL void order_kernel(int* seq, int* pos) { seq[(*pos)++] = (int)threadIdx.x; }

}  // namespace emutest
SFM_KERNEL_NS_END
}  // namespace sfm::cuda

TEST_CASE("emulated launch: grid, block, shared-memory and parameter limits", "[emu]") {
  namespace et = kc::emutest;
  using kc::dim3;
  // (SFM_LAUNCH is a statement: wrapped in lambdas for the REQUIRE_THROWS macros)
  auto noop = [](dim3 g, dim3 b) {
    auto* k = &et::noop_kernel;
    SFM_LAUNCH(k, g, b, 0);
  };
  noop(dim3(3, 65535, 2), dim3(32));  // at the y limit: allowed (a no-op body)
  noop(dim3(1), dim3(1024));
  REQUIRE_THROWS_WITH(noop(dim3(1, 65536), dim3(32)), Catch::Contains("exceeds the limits"));
  REQUIRE_THROWS_WITH(noop(dim3(1, 1, 65536), dim3(32)), Catch::Contains("exceeds the limits"));
  REQUIRE_THROWS_WITH(noop(dim3(1u << 31), dim3(32)), Catch::Contains("exceeds the limits"));
  REQUIRE_THROWS_WITH(noop(dim3(1), dim3(2048)), Catch::Contains("exceeds 1024"));
  REQUIRE_THROWS_WITH(noop(dim3(1), dim3(48)), Catch::Contains("whole warps"));
  REQUIRE_THROWS_WITH(noop(dim3(0), dim3(32)), Catch::Contains("empty grid"));

  std::vector<float> out(4, 0.0f);
  auto* s48 = &et::shared48_kernel;
  SFM_LAUNCH(s48, dim3(2), dim3(64), out.data());
  CHECK(emu::Scheduler::get().last_shared_bytes() == 48 * 1024);
  CHECK(out[0] == 3.0f);
  auto s49 = [&] {
    auto* k = &et::shared49_kernel;
    SFM_LAUNCH(k, dim3(1), dim3(32), out.data());
  };
  REQUIRE_THROWS_WITH(s49(), Catch::Contains("static shared memory"));

  STATIC_REQUIRE(emu::param_bytes(&et::fits_param_kernel) == 32764);
  STATIC_REQUIRE(emu::param_bytes(&et::big_param_kernel) == 32768);
  auto* fits = &et::fits_param_kernel;
  SFM_LAUNCH(fits, dim3(1), dim3(32), et::Fits{}, 1);
  auto big = [] {
    auto* k = &et::big_param_kernel;
    SFM_LAUNCH(k, dim3(1), dim3(32), et::Big{});
  };
  REQUIRE_THROWS_WITH(big(), Catch::Contains("bytes of kernel parameters"));

  alignas(16) float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  auto l4 = [&](const float* p) {
    auto* k = &et::lds4_kernel;
    SFM_LAUNCH(k, dim3(1), dim3(32), p, out.data());
  };
  l4(v);
  CHECK(out[0] == 10.0f);
  REQUIRE_THROWS_WITH(l4(v + 1), Catch::Contains("not 16-byte aligned"));
}

TEST_CASE("emulated launch: poisoned shared memory and scratch, thread-order policies", "[emu]") {
  namespace et = kc::emutest;
  using kc::dim3;
  std::vector<float> out(2, 0.0f);
  auto* sp = &et::shared_persist_kernel;
  SFM_LAUNCH(sp, dim3(2), dim3(32), out.data());
  CHECK(out[0] == 7.0f);
  CHECK(std::isnan(out[1]));  // block 1 does not inherit block 0's shared memory

  kc::Scratch ws(40);
  for (int i = 0; i < 10; ++i) CHECK(std::isnan(ws.f()[i]));

  auto* racy = &et::racy_kernel;
  std::vector<float> r(64);
  {
    PolicyGuard pg(emu::Order::RoundRobin, 0);
    SFM_LAUNCH(racy, dim3(1), dim3(64), r.data());
    int bad = 0;
    for (float x : r) bad += std::isnan(x);
    CHECK(bad == 0);  // hidden by thread order
  }
  {
    PolicyGuard pg(emu::Order::Reversed, 0);
    SFM_LAUNCH(racy, dim3(1), dim3(64), r.data());
    int bad = 0;
    for (float x : r) bad += std::isnan(x);
    CHECK(bad == 63);  // every reader ran before its writer
  }

  auto* ok = &et::order_kernel;
  std::vector<int> seq(64);
  int pos = 0;
  auto run = [&](emu::Order o, uint64_t seed) {
    PolicyGuard pg(o, seed);
    pos = 0;
    SFM_LAUNCH(ok, dim3(1), dim3(64), seq.data(), &pos);
    return seq;
  };
  std::vector<int> id(64), rev(64);
  for (int i = 0; i < 64; ++i) id[i] = i, rev[i] = 63 - i;
  CHECK(run(emu::Order::RoundRobin, 0) == id);
  CHECK(run(emu::Order::Reversed, 0) == rev);
  auto s1 = run(emu::Order::Shuffled, 1), s1b = run(emu::Order::Shuffled, 1), s2 = run(emu::Order::Shuffled, 2);
  CHECK(s1 == s1b);  // seeded: reproducible
  CHECK(s1 != id);
  CHECK(s1 != s2);
  auto sorted = s1;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == id);  // a permutation
  (void)same_bits;
}
