// The CUDA kernels of upsample_bilinear and edge_aware_smoothness run on the CPU under the host
// emulation of kernels/emu_execution.h (see tests/test_gpu_emulated.cpp for what that checks and what it
// cannot), against the CPU loops (the reference) in float32 on the same inputs. Outputs are
// poisoned with NaN first (an element the kernel never writes fails), shared memory and scratch
// start as NaN, and every case reruns under reversed and seeded-shuffled thread orders and must
// give bitwise identical outputs.
//
// Cost (2 cores, Release): about 2 s.
#include <catch2/catch.hpp>

#include "tests/test_support.h"

#include <array>
#include <cstring>
#include <vector>

#include "kernels/edge_smoothness_kernels.h"
#include "kernels/upsample_bilinear_kernels.h"
// The CPU loops the kernels must agree with (after the kernels' headers, as tests/test_gpu_emulated.cpp).
#include "cpu/edge_smoothness.h"
#include "cpu/upsample_bilinear.h"
#include "engine/rng.h"
#include "lab/ops/compare.h"
#include "lab/ops/op_cases_smooth_upsample.h"

using namespace sfm;
namespace kc = sfm::cuda;
using sfm::test::poisoned;
using sfm::test::random_vec;
using sfm::test::same_bits;

namespace {

double rel_err(const std::vector<float>& got, const std::vector<float>& ref) {
  return sfm::lab::max_rel_err(got, std::vector<double>(ref.begin(), ref.end()));
}

// Runs f under each thread-order policy (thread order, reversed, two seeded shuffles); every
// output f returns must be bitwise the same under all of them.
template <class F> std::vector<std::vector<float>> under_every_order(F f) {
  static const emu::Policy pols[] = {{emu::Order::RoundRobin, 0},
                                     {emu::Order::Reversed, 0},
                                     {emu::Order::Shuffled, 0xa11ce},
                                     {emu::Order::Shuffled, 0xb0b}};
  const emu::Policy saved = emu::schedule_policy();
  std::vector<std::vector<float>> first;
  for (int i = 0; i < 4; ++i) {
    emu::schedule_policy() = pols[i];
    std::vector<std::vector<float>> got = f();
    if (i == 0) {
      first = got;
      continue;
    }
    INFO("thread order policy " << i);
    REQUIRE(got.size() == first.size());
    for (size_t k = 0; k < got.size(); ++k) CHECK(same_bits(got[k], first[k]));
  }
  emu::schedule_policy() = saved;
  return first;
}

}  // namespace

TEST_CASE("emulated kernels: upsample_bilinear matches the CPU loops", "[emu]") {
  Rng rng(71);
  // Upsampling by non-integer and integer factors (8x: 19 readers per axis), one-row inputs,
  // a downsampling (inputs no output reads: gradient 0), several grid-stride rounds.
  for (const auto& dims : std::vector<std::array<int64_t, 5>>{
           {3, 5, 7, 12, 9}, {2, 4, 6, 32, 48}, {1, 9, 13, 4, 6}, {3, 1, 4, 3, 5}, {2, 1, 1, 7, 3}, {1, 13, 17, 13, 40}}) {
    // (plain locals, not a structured binding: C++17 lambdas cannot capture those; clang refuses)
    const int64_t planes = dims[0], h = dims[1], w = dims[2], H = dims[3], W = dims[4];
    INFO("planes=" << planes << " " << h << "x" << w << " -> " << H << "x" << W);
    auto x = random_vec(planes * h * w, rng);
    auto g = random_vec(planes * H * W, rng);
    std::vector<float> y_cpu(g.size()), gx_cpu(x.size());
    cpu::upsample_bilinear_forward<float>(x.data(), y_cpu.data(), planes, h, w, H, W);
    cpu::upsample_bilinear_backward<float>(g.data(), gx_cpu.data(), planes, h, w, H, W);
    auto out = under_every_order([&] {
      auto y = poisoned(g.size()), gx = poisoned(x.size());
      kc::upsample_bilinear_kernels::launch_upsample_bilinear_forward(x.data(), y.data(), planes, h, w, H, W);
      kc::upsample_bilinear_kernels::launch_upsample_bilinear_backward(g.data(), gx.data(), planes, h, w, H, W);
      return std::vector<std::vector<float>>{y, gx};
    });
    // The same taps and the same summation order as the CPU: equal up to FMA contraction (1e-6).
    CHECK(rel_err(out[0], y_cpu) <= 1e-6);
    CHECK(rel_err(out[1], gx_cpu) <= 1e-6);
  }
}

TEST_CASE("emulated kernels: edge_aware_smoothness matches the CPU loops", "[emu]") {
  // 7x600 spans 17 blocks per entry (partials of several blocks per entry combined); one row,
  // one column, a gray image; batch entries in separate block rows.
  for (const auto& dims : std::vector<std::array<int64_t, 4>>{{2, 3, 5, 7}, {3, 3, 7, 600}, {2, 3, 1, 9}, {2, 1, 6, 1}, {1, 1, 1, 1}}) {
    const int64_t B = dims[0], C = dims[1], H = dims[2], W = dims[3];
    INFO("B=" << B << " C=" << C << " " << H << "x" << W);
    Rng rng(72 + H);
    std::vector<double> dd = lab::kink_free_disparity(B, H, W, 73 + W);
    std::vector<float> disp(dd.begin(), dd.end());
    auto img = random_vec(B * C * H * W, rng, 0, 1);
    std::vector<float> stats_c(2 * B), loss_c(1), gd_c(disp.size());
    const float g = 1.7f;
    cpu::edge_smoothness_forward<float>(disp.data(), img.data(), B, C, H, W, stats_c.data(), loss_c.data());
    cpu::edge_smoothness_backward<float>(disp.data(), img.data(), stats_c.data(), B, C, H, W, &g, gd_c.data());
    auto out = under_every_order([&] {
      auto stats = poisoned(2 * B), loss = poisoned(1), gd = poisoned(disp.size());
      kc::edge_smoothness_kernels::launch_edge_smoothness_forward(disp.data(), img.data(), B, C, H, W, stats.data(), loss.data());
      kc::edge_smoothness_kernels::launch_edge_smoothness_backward(disp.data(), img.data(), stats.data(), B, C, H, W, &g, gd.data());
      return std::vector<std::vector<float>>{stats, loss, gd};
    });
    // Means and sums accumulated in double in another order, rounded to float once: the same
    // float nearly always, 1e-6 at most. The gradient: the same float arithmetic per pixel on
    // equal (or 1-ulp apart) stats: 1e-6.
    CHECK(rel_err(out[0], stats_c) <= 1e-6);
    CHECK(rel_err(out[1], loss_c) <= 1e-6);
    CHECK(rel_err(out[2], gd_c) <= 1e-6);
  }
}
