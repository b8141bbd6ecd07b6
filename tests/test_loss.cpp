// Regularisers: smoothness_loss, explainability_loss, explainability_loss_softmax and
// softmax_pairs_mask. Naive loops, float64 gradient checks, small-map behaviour, PyTorch
// fixtures (tests/reference/fixture_ops_warp.py), thread-count independence, error paths.
// (The photometric loss is tested with the warp in tests/test_warp.cpp.)
#include <catch2/catch.hpp>

#include "tests/tensor_compare.h"
#include "tests/test_support.h"

#include <cmath>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "cpu/parallel.h"
#include "engine/rng.h"
#include "engine/safetensors.h"
#include "tests/gradcheck.h"

using namespace sfm;

namespace {
using sfm::test::max_abs;
using sfm::test::max_abs_diff;

Tensor fixture(const std::string& name) {
  static SafeTensors st = load_safetensors(sfm::test::source_dir() + "/tests/fixtures/ops_warp.safetensors");
  auto it = st.tensors.find(name);
  INFO("fixture tensor " << name);
  REQUIRE(it != st.tensors.end());
  return it->second;
}

// The port's smooth_loss, spelled out: first differences as arrays, then their differences;
// the mean of an empty term is taken as 0 (the op's documented small-map behaviour).
double naive_smoothness(const Tensor& x) {
  const int64_t P = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3);
  std::vector<double> v = x.to_vector_f64();
  auto at = [&](int64_t p, int64_t y, int64_t xx) { return v[(p * H + y) * W + xx]; };
  double sum[4] = {0, 0, 0, 0};
  int64_t cnt[4] = {0, 0, 0, 0};
  for (int64_t p = 0; p < P; ++p) {
    // dx [H, W-1], dy [H-1, W]
    std::vector<double> dx, dy;
    for (int64_t y = 0; y < H; ++y)
      for (int64_t xx = 0; xx + 1 < W; ++xx) dx.push_back(at(p, y, xx + 1) - at(p, y, xx));
    for (int64_t y = 0; y + 1 < H; ++y)
      for (int64_t xx = 0; xx < W; ++xx) dy.push_back(at(p, y + 1, xx) - at(p, y, xx));
    const int64_t Wd = W - 1;
    for (int64_t y = 0; y < H; ++y)  // dx2 = dx of dx
      for (int64_t xx = 0; xx + 1 < Wd; ++xx) {
        sum[0] += std::fabs(dx[y * Wd + xx + 1] - dx[y * Wd + xx]);
        ++cnt[0];
      }
    for (int64_t y = 0; y + 1 < H; ++y)  // dxdy = dy of dx
      for (int64_t xx = 0; xx < Wd; ++xx) {
        sum[1] += std::fabs(dx[(y + 1) * Wd + xx] - dx[y * Wd + xx]);
        ++cnt[1];
      }
    for (int64_t y = 0; y + 1 < H; ++y)  // dydx = dx of dy
      for (int64_t xx = 0; xx + 1 < W; ++xx) {
        sum[2] += std::fabs(dy[y * W + xx + 1] - dy[y * W + xx]);
        ++cnt[2];
      }
    for (int64_t y = 0; y + 2 < H; ++y)  // dy2 = dy of dy
      for (int64_t xx = 0; xx < W; ++xx) {
        sum[3] += std::fabs(dy[(y + 1) * W + xx] - dy[y * W + xx]);
        ++cnt[3];
      }
  }
  double loss = 0;
  for (int k = 0; k < 4; ++k) loss += cnt[k] ? sum[k] / cnt[k] : 0.0;
  return loss;
}

}  // namespace

// ================================================================ smoothness
TEST_CASE("smoothness_loss: matches the port's formula, small maps included", "[loss]") {
  Rng rng(41);
  for (Shape s : {Shape{2, 3, 7, 9}, Shape{1, 1, 1, 1}, Shape{1, 2, 2, 2}, Shape{1, 1, 1, 5}, Shape{1, 1, 5, 1},
                  Shape{2, 1, 2, 3}, Shape{1, 1, 3, 3}, Shape{1, 1, 2, 9}, Shape{1, 1, 9, 2}}) {
    INFO(s.str());
    Tensor x = rand_uniform(s, rng, -1, 1, DType::F64);
    double ref = naive_smoothness(x);
    // float64, the same differences in a different summation order: 1e-14 relative.
    REQUIRE(smoothness_loss(x).item() == Approx(ref).epsilon(1e-14).margin(1e-300));
  }
  // Small maps: empty terms contribute 0 (no NaN). 1x1: nothing at all.
  REQUIRE(smoothness_loss(Tensor::ones(Shape{1, 1, 1, 1}, DType::F64)).item() == 0.0);
  // A 1xW row has only the dx2 term: a parabola x^2 has dx2 = 2 everywhere.
  Tensor row = Tensor::from_vector(std::vector<double>{0, 1, 4, 9, 16}, Shape{1, 1, 1, 5});
  REQUIRE(smoothness_loss(row).item() == 2.0);
  // ... and the Hx1 column only the dy2 term.
  REQUIRE(smoothness_loss(row.view(Shape{1, 1, 5, 1})).item() == 2.0);
  // A plane a + bx + cy has no second differences at all.
  std::vector<double> plane;
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 6; ++x) plane.push_back(0.5 + 0.25 * x - 0.75 * y);
  REQUIRE(smoothness_loss(Tensor::from_vector(plane, Shape{1, 1, 4, 6})).item() == 0.0);
  // x*y: the mixed terms are 1 everywhere, dx2 = dy2 = 0 -> 1 + 1.
  std::vector<double> xy;
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 6; ++x) xy.push_back((double)x * y);
  REQUIRE(smoothness_loss(Tensor::from_vector(xy, Shape{1, 1, 4, 6})).item() == 2.0);
}

TEST_CASE("gradcheck: smoothness_loss", "[loss][gradcheck]") {
  Rng rng(42);
  for (Shape s : {Shape{2, 2, 5, 7}, Shape{1, 1, 1, 1}, Shape{1, 2, 2, 2}, Shape{1, 1, 1, 5}, Shape{2, 1, 4, 1},
                  Shape{1, 1, 3, 4}, Shape{1, 1, 2, 3}}) {
    INFO(s.str());
    REQUIRE_GRADCHECK([](auto& in) { return smoothness_loss(in[0]); }, {test::grad_input(s, rng)});
  }
  // 1x1: no term depends on the input: the gradient is defined and 0.
  Tensor one = test::grad_input(Shape{1, 1, 1, 1}, rng);
  smoothness_loss(one).backward();
  REQUIRE(one.grad().to_vector_f64() == std::vector<double>{0.0});
}

TEST_CASE("smoothness_loss: vs PyTorch fixtures", "[loss][fixture]") {
  Tensor x = fixture("smooth.x"), ref = fixture("smooth.loss"), gref = fixture("smooth.grad");
  for (DType dt : {DType::F64, DType::F32}) {
    INFO(dtype_name(dt));
    Tensor xi = x.to(dt).clone().set_requires_grad(true);
    Tensor l = smoothness_loss(xi);
    l.backward();
    // float64: rounding only (1e-13). float32: the second differences of values in [-1, 1]
    // carry ~2e-7 absolute error each; a sign can flip only where a difference is within that
    // of 0, which these random values are not: 1e-6 on the value, 1e-6 on the gradient.
    double tol = dt == DType::F64 ? 1e-13 : 1e-6;
    REQUIRE(std::fabs(l.item() - ref.item()) < tol * std::fabs(ref.item()));
    REQUIRE(max_abs_diff(xi.grad(), gref) < tol * max_abs(gref) + 1e-12);
  }
}

TEST_CASE("smoothness_loss: results independent of the thread count", "[loss]") {
  Rng rng(43);
  Tensor x = rand_uniform(Shape{4, 1, 64, 208}, rng, 0, 1);  // > kParallelGrain elements
  auto run = [&](int threads) {
    set_cpu_threads(threads);
    Tensor xi = x.clone().set_requires_grad(true);
    Tensor l = smoothness_loss(xi);
    l.backward();
    return std::vector<std::vector<float>>{l.to_vector(), xi.grad().to_vector()};
  };
  auto one = run(1), two = run(2), three = run(3);
  set_cpu_threads(0);
  REQUIRE(one == two);  // bit for bit
  REQUIRE(one == three);
}

// ================================================================ explainability (sigmoid mask)
TEST_CASE("explainability_loss: value, clamp at -100, gradient", "[loss]") {
  Tensor m = Tensor::from_vector(std::vector<double>{0.5, 0.25, 1.0, 0.0}, Shape{1, 1, 2, 2});
  // -(log .5 + log .25 + log 1 + max(log 0, -100)) / 4
  double expect = (std::log(2.0) + std::log(4.0) + 0.0 + 100.0) / 4.0;
  REQUIRE(explainability_loss(m).item() == Approx(expect).epsilon(1e-15));
  m.set_requires_grad(true);
  explainability_loss(m).backward();
  std::vector<double> g = m.grad().to_vector_f64();
  // d/dm (-log m)/4 = -1/(4m); 0 where the log is clamped (m = 0): finite everywhere.
  REQUIRE(g[0] == Approx(-0.5).epsilon(1e-15));
  REQUIRE(g[1] == Approx(-1.0).epsilon(1e-15));
  REQUIRE(g[2] == Approx(-0.25).epsilon(1e-15));
  REQUIRE(g[3] == 0.0);
  Rng rng(44);
  REQUIRE_GRADCHECK([](auto& in) { return explainability_loss(in[0]); },
                    {test::grad_input(Shape{2, 3, 5, 7}, rng, 0.05, 0.95)});
  REQUIRE_GRADCHECK([](auto& in) { return explainability_loss(in[0]); },
                    {test::grad_input(Shape{1, 1, 1, 1}, rng, 0.05, 0.95)});
}

TEST_CASE("explainability_loss: vs PyTorch binary_cross_entropy (fixtures)", "[loss][fixture]") {
  Tensor m = fixture("explain.mask"), ref = fixture("explain.loss"), gref = fixture("explain.grad");
  for (DType dt : {DType::F64, DType::F32}) {
    INFO(dtype_name(dt));
    Tensor mi = m.to(dt).clone().set_requires_grad(true);
    Tensor l = explainability_loss(mi);
    l.backward();
    // float64: rounding (1e-13). float32: logf and 1/m are accurate to a few ulp (~1e-6 relative).
    double tol = dt == DType::F64 ? 1e-13 : 2e-6;
    REQUIRE(std::fabs(l.item() - ref.item()) < tol * std::fabs(ref.item()));
    REQUIRE(max_abs_diff(mi.grad(), gref) < tol * max_abs(gref));
    // Masks with exact zeros and ones: the -100 clamp gives the same value as PyTorch.
    Tensor edge = explainability_loss(fixture("explain.mask_edge").to(dt));
    Tensor eref = fixture("explain.loss_edge");
    REQUIRE(std::fabs(edge.item() - eref.item()) < tol * std::fabs(eref.item()));
  }
}

// ================================================================ explainability (2-class softmax)
TEST_CASE("explainability_loss_softmax and softmax_pairs_mask: values and gradients", "[loss]") {
  Rng rng(45);
  const int64_t B = 2, S = 3, H = 4, W = 5, hw = H * W;
  Tensor logits = randn(Shape{B, 2 * S, H, W}, rng, 3.0, DType::F64);
  std::vector<double> l = logits.to_vector_f64();
  // Naive: cross-entropy against class 1 by log-sum-exp, and the class-1 probability.
  double ce = 0;
  std::vector<double> prob;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s)
      for (int64_t p = 0; p < hw; ++p) {
        double l0 = l[(b * 2 * S + 2 * s) * hw + p], l1 = l[(b * 2 * S + 2 * s + 1) * hw + p];
        double mx = std::max(l0, l1);
        double lse = mx + std::log(std::exp(l0 - mx) + std::exp(l1 - mx));
        ce += lse - l1;
        prob.push_back(std::exp(l1 - lse));
      }
  ce /= (double)(B * S * hw);
  // float64: different but equivalent formulas (softplus vs log-sum-exp): 1e-14 relative.
  REQUIRE(explainability_loss_softmax(logits).item() == Approx(ce).epsilon(1e-14));
  Tensor mask = softmax_pairs_mask(logits);
  REQUIRE(mask.shape() == Shape{B, S, H, W});
  std::vector<double> mv = mask.to_vector_f64();
  for (size_t i = 0; i < mv.size(); ++i) REQUIRE(mv[i] == Approx(prob[i]).epsilon(1e-14).margin(1e-300));
  // The two forms agree: CE(logits) = mean(-log softmax_1) = explainability_loss(mask), also in
  // gradient through the composition.
  Tensor a = logits.clone().set_requires_grad(true), b = logits.clone().set_requires_grad(true);
  Tensor la = explainability_loss_softmax(a), lb = explainability_loss(softmax_pairs_mask(b));
  REQUIRE(la.item() == Approx(lb.item()).epsilon(1e-12));
  la.backward();
  lb.backward();
  REQUIRE(max_abs_diff(a.grad(), b.grad()) < 1e-12 * max_abs(a.grad()));
  // Gradient checks; odd sizes and one pair.
  REQUIRE_GRADCHECK([](auto& in) { return explainability_loss_softmax(in[0]); },
                    {test::grad_input(Shape{2, 4, 3, 5}, rng, -4, 4)});
  REQUIRE_GRADCHECK([](auto& in) { return softmax_pairs_mask(in[0]); }, {test::grad_input(Shape{2, 4, 3, 5}, rng, -4, 4)});
  REQUIRE_GRADCHECK([](auto& in) { return explainability_loss_softmax(in[0]); },
                    {test::grad_input(Shape{1, 2, 1, 1}, rng, -4, 4)});
  // Extreme logits stay finite (softplus without overflow).
  Tensor big = Tensor::from_vector(std::vector<double>{1000, -1000, -1000, 1000}, Shape{1, 2, 1, 2});
  // pixel 0: (1000, -1000) -> CE 2000; pixel 1: (-1000, 1000) -> CE ~0.
  REQUIRE(explainability_loss_softmax(big).item() == Approx(1000.0).epsilon(1e-15));
  REQUIRE(softmax_pairs_mask(big).to_vector_f64() == std::vector<double>{0.0, 1.0});
}

TEST_CASE("explainability_loss_softmax / softmax_pairs_mask: vs PyTorch (fixtures)", "[loss][fixture]") {
  Tensor logits = fixture("softmax.logits");
  for (DType dt : {DType::F64, DType::F32}) {
    INFO(dtype_name(dt));
    // float64: 1e-13. float32: exp/log1p of logits up to ~10 in magnitude, a few ulp: 2e-6.
    double tol = dt == DType::F64 ? 1e-13 : 2e-6;
    Tensor a = logits.to(dt).clone().set_requires_grad(true);
    Tensor l = explainability_loss_softmax(a);
    l.backward();
    Tensor ref = fixture("softmax.loss"), gref = fixture("softmax.grad");
    REQUIRE(std::fabs(l.item() - ref.item()) < tol * std::fabs(ref.item()));
    REQUIRE(max_abs_diff(a.grad(), gref) < tol * max_abs(gref));
    Tensor b = logits.to(dt).clone().set_requires_grad(true);
    Tensor m = softmax_pairs_mask(b);
    sum(mul(m, fixture("softmax.mask_gout").to(dt))).backward();
    REQUIRE(max_abs_diff(m, fixture("softmax.mask")) < tol);
    Tensor mg = fixture("softmax.mask_grad");
    REQUIRE(max_abs_diff(b.grad(), mg) < tol * max_abs(mg));
  }
}

TEST_CASE("regularisers: bad arguments", "[loss]") {
  REQUIRE_THROWS_WITH(smoothness_loss(Tensor::zeros(Shape{2, 5, 7})),
                      Catch::Contains("smoothness_loss") && Catch::Contains("'x'") && Catch::Contains("[2, 5, 7]"));
  REQUIRE_THROWS_WITH(smoothness_loss(Tensor()), Catch::Contains("smoothness_loss") && Catch::Contains("undefined"));
  REQUIRE_THROWS_WITH(explainability_loss(Tensor::zeros(Shape{2, 2, 5})),
                      Catch::Contains("explainability_loss") && Catch::Contains("'mask'") && Catch::Contains("[2, 2, 5]"));
  REQUIRE_THROWS_WITH(explainability_loss_softmax(Tensor::zeros(Shape{2, 3, 5, 7})),
                      Catch::Contains("explainability_loss_softmax") && Catch::Contains("[2, 3, 5, 7]") &&
                          Catch::Contains("even"));
  REQUIRE_THROWS_WITH(softmax_pairs_mask(Tensor::zeros(Shape{2, 5, 7})),
                      Catch::Contains("softmax_pairs_mask") && Catch::Contains("'logits'") && Catch::Contains("[2, 5, 7]"));
  REQUIRE_THROWS_WITH(softmax_pairs_mask(Tensor::zeros(Shape{2, 0, 5, 7})),
                      Catch::Contains("softmax_pairs_mask") && Catch::Contains("empty"));
}
