// The min_reprojection_loss kernels (kernels/min_reprojection_kernels.h) run under the host
// emulation of kernels/emu_execution.h against the CPU loops (cpu/min_reprojection.cpp), which
// share their per-pixel math: outputs poisoned with NaN first (an unwritten element fails),
// selection codes compared exactly, each case rerun under reversed and seeded-shuffled thread
// orders within each barrier interval and required to give bitwise identical results.
// Tolerances relative to the largest |CPU| element: loss 1e-6 (double block sums in another
// grouping, one float rounding), warped images 1e-6 (the same float code, but the compiler may
// contract a*b + c into an FMA differently in the two inlining contexts: ~1 ulp), gradients
// 1e-5 (float sums of the pose terms in another grouping, as for the photometric kernel). The
// selection codes must be equal: the scenes keep candidates 1e-4 apart.
// Scenes: lab/ops/op_cases_min_reprojection.h (no pixel near a kink). Cost: ~2 s.
#include <catch2/catch.hpp>

#include "tests/test_support.h"

#include <cstring>
#include <vector>

#include "kernels/min_reprojection_kernels.h"
// The CPU loops the kernels must agree with (after the kernels' headers: see conv_math.h).
#include "cpu/min_reprojection.h"
#include "lab/ops/compare.h"
#include "lab/ops/op_cases_min_reprojection.h"

using namespace sfm;
namespace kc = sfm::cuda;

namespace {

using sfm::test::poisoned;

std::vector<float> fvec(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }
std::vector<double> dvec(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }
double rel_err(const std::vector<float>& got, const std::vector<float>& ref) {
  return sfm::lab::max_rel_err(got, dvec(ref));
}
bool within(double err, double tol) { return err <= tol; }  // false for NaN

// Bitwise comparison of every recorded output across the thread-order policies (as the
// EMU_ORDERS of tests/test_gpu_emulated.cpp).
struct Recorder {
  std::vector<std::vector<float>> first;
  size_t next = 0;
  int order = 0;
};
Recorder& recorder() {
  static Recorder r;
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
    recorder().order = idx;
    recorder().next = 0;
    if (idx == 0) recorder().first.clear();
  }
  ~OrderScope() { emu::schedule_policy() = saved; }
};
void record(const std::vector<float>& v) {
  Recorder& r = recorder();
  if (r.order == 0) {
    r.first.push_back(v);
    return;
  }
  INFO("recorded output " << r.next << " under order " << r.order);
  REQUIRE(r.next < r.first.size());
  CHECK(sfm::test::same_bits(v, r.first[r.next++]));
}

}  // namespace

TEST_CASE("emulated kernels: min_reprojection_loss matches the CPU loops", "[emu]") {
  const int order = GENERATE(0, 1, 2, 3);
  OrderScope scope(order);
  INFO("thread order policy " << order);
  struct Var {
    bool min, automask, ssim;
    Padding pad;
    RotationMode rot;
  };
  const Var vars[] = {{true, true, true, Padding::Border, RotationMode::Euler},
                      {false, true, true, Padding::Zeros, RotationMode::Quat},
                      {true, false, false, Padding::Border, RotationMode::Quat},
                      {false, false, true, Padding::Zeros, RotationMode::Euler}};
  // 2x2: the smallest reflected window; 7x9: one block per image; 13x23 (299 pixels): two
  // blocks, so the pose partials of several blocks are combined.
  for (auto [H, W] : std::vector<std::pair<int64_t, int64_t>>{{2, 2}, {7, 9}, {13, 23}})
    for (const Var& var : vars) {
      const int64_t B = 2, S = 2, C = 3;
      MinReprojectionOptions opt;
      opt.min_over_sources = var.min;
      opt.automask = var.automask;
      opt.use_ssim = var.ssim;
      opt.padding = var.pad;
      opt.rotation = var.rot;
      opt.noise_seed = 17;
      INFO(H << "x" << W << " min=" << var.min << " automask=" << var.automask << " ssim=" << var.ssim);
      const lab::MinReprojectionScene sc = lab::make_min_reprojection_scene(B, S, C, H, W, opt, 500 + H * W);
      const std::vector<float> tgt = fvec(sc.tgt), srcs = fvec(sc.srcs), depth = fvec(sc.depth),
                               poses = fvec(sc.poses), K = fvec(sc.K);
      const MinReprojectionDims d{B, S, C, H, W};
      std::vector<float> loss_c(1), chosen_c(B * H * W), warped_c(srcs.size());
      cpu::min_reprojection_forward<float>(tgt.data(), srcs.data(), depth.data(), poses.data(), K.data(), d, opt,
                                           loss_c.data(), chosen_c.data(), warped_c.data());
      auto loss = poisoned(1), chosen = poisoned(chosen_c.size()), warped = poisoned(warped_c.size());
      kc::min_reprojection_kernels::launch_forward(tgt.data(), srcs.data(), depth.data(), poses.data(), K.data(), d, opt,
                                  loss.data(), chosen.data(), warped.data());
      CHECK(within(rel_err(loss, loss_c), 1e-6));
      record(loss);
      CHECK(chosen == chosen_c);
      CHECK(within(rel_err(warped, warped_c), 1e-6));
      record(warped);
      auto loss2 = poisoned(1), chosen2 = poisoned(chosen_c.size());  // without the warped images
      kc::min_reprojection_kernels::launch_forward(tgt.data(), srcs.data(), depth.data(), poses.data(), K.data(), d, opt,
                                  loss2.data(), chosen2.data(), nullptr);
      CHECK(sfm::test::same_bits(loss2, loss));
      CHECK(chosen2 == chosen);

      const float gscale = 1.7f;
      std::vector<float> gd_c(B * H * W), gp_c(B * S * 6);
      cpu::min_reprojection_backward<float>(tgt.data(), srcs.data(), depth.data(), poses.data(), K.data(),
                                            chosen_c.data(), d, opt, &gscale, gd_c.data(), gp_c.data());
      auto gd = poisoned(gd_c.size()), gp = poisoned(gp_c.size());
      kc::min_reprojection_kernels::launch_backward(tgt.data(), srcs.data(), depth.data(), poses.data(), K.data(), chosen.data(), d, opt, &gscale, gd.data(), gp.data());
      CHECK(within(rel_err(gd, gd_c), 1e-5));
      record(gd);
      CHECK(within(rel_err(gp, gp_c), 1e-5));
      record(gp);
      auto gp2 = poisoned(gp_c.size());  // poses only: the same pose gradient
      kc::min_reprojection_kernels::launch_backward(tgt.data(), srcs.data(), depth.data(), poses.data(), K.data(), chosen.data(), d, opt, &gscale, nullptr, gp2.data());
      CHECK(sfm::test::same_bits(gp2, gp));
    }
}
