// upsample_bilinear (any output size) and edge_aware_smoothness (Monodepth2's get_smooth_loss
// on the mean-normalised disparity): naive double loops, float64 gradient checks, small-map
// behaviour, PyTorch fixtures (tests/reference/fixture_smooth_upsample.py), thread-count
// independence, argument errors. CUDA: tests/test_gpu_smooth_upsample.cpp ([gpu]) and
// tests/test_gpu_emulated_smooth_upsample.cpp ([emu]).
#include <catch2/catch.hpp>

#include "tests/test_support.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "cpu/parallel.h"
#include "engine/rng.h"
#include "engine/safetensors.h"
#include "lab/ops/op_cases_smooth_upsample.h"
#include "tests/gradcheck.h"

using namespace sfm;
using Vec = std::vector<double>;

namespace {

double max_abs(const Vec& a) {
  double m = 0;
  for (double v : a) m = std::max(m, std::fabs(v));
  return m;
}
double max_abs_diff(const Vec& a, const Vec& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}
double norm2(const Vec& a) {
  double s = 0;
  for (double v : a) s += v * v;
  return std::sqrt(s);
}
double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}
Tensor fixture(const std::string& name) {
  static SafeTensors st = load_safetensors(sfm::test::source_dir() + "/tests/fixtures/smooth_upsample.safetensors");
  auto it = st.tensors.find(name);
  INFO("fixture tensor " << name);
  REQUIRE(it != st.tensors.end());
  return it->second;
}

// Bilinear resize from PyTorch's documented rule (align_corners=False): source coordinate
// (n_in / n_out)(o + 0.5) - 0.5, negative values clamped to 0, i0 = floor, i1 = min(i0 + 1, n_in - 1).
Vec naive_resize(const Vec& x, int64_t planes, int64_t h, int64_t w, int64_t H, int64_t W) {
  auto src = [](int64_t o, int64_t n_in, int64_t n_out, int64_t& a, int64_t& b, double& f) {
    double s = std::max(0.0, (double)n_in / (double)n_out * (o + 0.5) - 0.5);
    a = std::min((int64_t)std::floor(s), n_in - 1);
    b = std::min(a + 1, n_in - 1);
    f = s - (double)a;
  };
  Vec y(planes * H * W);
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oy = 0; oy < H; ++oy)
      for (int64_t ox = 0; ox < W; ++ox) {
        int64_t y0, y1, x0, x1;
        double fy, fx;
        src(oy, h, H, y0, y1, fy);
        src(ox, w, W, x0, x1, fx);
        auto at = [&](int64_t yy, int64_t xx) { return x[(p * h + yy) * w + xx]; };
        y[(p * H + oy) * W + ox] =
            (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
      }
  return y;
}

// get_smooth_loss(disp / (mean + 1e-7), img) as plain loops (empty terms contribute 0).
double naive_edge_smoothness(const Tensor& disp, const Tensor& img) {
  const int64_t B = disp.dim(0), H = disp.dim(2), W = disp.dim(3), C = img.dim(1), hw = H * W;
  Vec d = disp.to_vector_f64(), im = img.to_vector_f64();
  double sx = 0, sy = 0;
  for (int64_t b = 0; b < B; ++b) {
    double m = 0;
    for (int64_t i = 0; i < hw; ++i) m += d[b * hw + i];
    m = m / (double)hw + 1e-7;
    auto n = [&](int64_t y, int64_t x) { return d[b * hw + y * W + x] / m; };
    auto wgt = [&](int64_t y0, int64_t x0, int64_t y1, int64_t x1) {
      double s = 0;
      for (int64_t c = 0; c < C; ++c) s += std::fabs(im[(b * C + c) * hw + y0 * W + x0] - im[(b * C + c) * hw + y1 * W + x1]);
      return std::exp(-s / (double)C);
    };
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        if (x + 1 < W) sx += std::fabs(n(y, x) - n(y, x + 1)) * wgt(y, x, y, x + 1);
        if (y + 1 < H) sy += std::fabs(n(y, x) - n(y + 1, x)) * wgt(y, x, y + 1, x);
      }
  }
  const int64_t nx = B * H * (W - 1), ny = B * (H - 1) * W;
  return (nx ? sx / (double)nx : 0.0) + (ny ? sy / (double)ny : 0.0);
}

// A kink-free float64 disparity (lab/ops/op_cases_smooth_upsample.h) that takes gradients.
Tensor disparity(const Shape& s, uint64_t seed) {
  return Tensor::from_vector(lab::kink_free_disparity(s[0], s[2], s[3], seed), s).set_requires_grad(true);
}

}  // namespace

// ================================================================ upsample_bilinear
TEST_CASE("upsample_bilinear: matches the documented rule at any size", "[resample][upsample]") {
  Rng rng(61);
  struct Case {
    Shape s;
    int64_t H, W;
  };
  for (const Case& c : std::vector<Case>{{Shape{2, 3, 5, 7}, 12, 9},
                                         {Shape{1, 1, 1, 1}, 4, 3},
                                         {Shape{3, 1, 1, 4}, 3, 5},
                                         {Shape{2, 1, 4, 6}, 32, 48},
                                         {Shape{1, 2, 9, 13}, 4, 6},
                                         {Shape{1, 1, 7, 3}, 1, 1},
                                         {Shape{1, 1, 16, 52}, 128, 416},
                                         {Shape{2, 1, 5, 5}, 5, 17}}) {
    INFO(c.s.str() << " -> " << c.H << "x" << c.W);
    Tensor x = rand_uniform(c.s, rng, -1, 1, DType::F64);
    Tensor y = upsample_bilinear(x, c.H, c.W);
    REQUIRE(y.shape() == Shape{c.s[0], c.s[1], c.H, c.W});
    Vec ref = naive_resize(x.to_vector_f64(), c.s[0] * c.s[1], c.s[2], c.s[3], c.H, c.W);
    // float64, the same products in the same order up to the grouping of the weights: 1e-15.
    REQUIRE(max_abs_diff(y.to_vector_f64(), ref) <= 1e-15 * std::max(1.0, max_abs(ref)));
  }
  // x2 is upsample_bilinear2x (the scale n/2n is exactly 0.5): the same taps, so the same
  // forward bits. The backward gathers over a wider superset of readers (zero weights), which
  // the compiler's FMA contraction may round differently by an ulp: 2.4e-7 of the largest.
  Tensor x = rand_uniform(Shape{2, 3, 5, 7}, rng, -1, 1).set_requires_grad(true);
  Tensor x2 = x.detach().clone().set_requires_grad(true);
  Tensor a = upsample_bilinear(x, 10, 14), b = upsample_bilinear2x(x2);
  REQUIRE(a.to_vector() == b.to_vector());
  Tensor g = rand_uniform(a.shape(), rng, -1, 1);
  a.backward(g);
  b.backward(g);
  const Vec ga = x.grad().to_vector_f64(), gb = x2.grad().to_vector_f64();
  REQUIRE(max_abs_diff(ga, gb) <= 0x1p-22 * max_abs(gb));
  // The same size: the identity, the very tensor.
  Tensor same = upsample_bilinear(x, 5, 7);
  REQUIRE(same.data<float>() == x.data<float>());
  // A constant map stays constant at any size (the two weights of every tap sum to 1).
  Tensor k = upsample_bilinear(Tensor::full(Shape{1, 1, 3, 5}, 0.75, DType::F64), 11, 2);
  for (double v : k.to_vector_f64()) REQUIRE(std::fabs(v - 0.75) <= 1e-15);
}

TEST_CASE("upsample_bilinear: the backward is the adjoint; gradcheck", "[resample][upsample][gradcheck]") {
  Rng rng(62);
  struct Case {
    Shape s;
    int64_t H, W;
  };
  for (const Case& c : std::vector<Case>{{Shape{2, 2, 3, 4}, 7, 9},
                                         {Shape{1, 1, 2, 3}, 16, 24},
                                         {Shape{1, 2, 7, 9}, 3, 4},
                                         {Shape{2, 1, 1, 5}, 2, 8},
                                         {Shape{1, 1, 4, 1}, 9, 1}}) {
    INFO(c.s.str() << " -> " << c.H << "x" << c.W);
    Tensor x = test::grad_input(c.s, rng);
    Tensor y = upsample_bilinear(x, c.H, c.W);
    Tensor g = rand_uniform(y.shape(), rng, -1, 1, DType::F64);
    y.backward(g);
    // <U x, g> = <x, U^T g>: float64 sums of a few hundred terms, 1e-13 relative.
    const double lhs = dot(y.to_vector_f64(), g.to_vector_f64()), rhs = dot(x.detach().to_vector_f64(), x.grad().to_vector_f64());
    REQUIRE(std::fabs(lhs - rhs) <= 1e-13 * std::max(1.0, std::fabs(lhs)));
    REQUIRE_GRADCHECK([c](auto& in) { return upsample_bilinear(in[0], c.H, c.W); }, {test::grad_input(c.s, rng)});
  }
}

TEST_CASE("upsample_bilinear: vs PyTorch F.interpolate (fixtures)", "[resample][upsample][fixture]") {
  for (const char* name : {"frac", "x8", "down", "row"}) {
    const std::string p = std::string("upsample.") + name + ".";
    Tensor x = fixture(p + "x"), yref = fixture(p + "y"), gout = fixture(p + "gout"), gref = fixture(p + "grad");
    for (DType dt : {DType::F64, DType::F32}) {
      INFO(name << " " << dtype_name(dt));
      Tensor xi = x.to(dt).clone().set_requires_grad(true);
      Tensor y = upsample_bilinear(xi, yref.dim(2), yref.dim(3));
      y.backward(gout.to(dt));
      const Vec yv = y.to_vector_f64(), yr = yref.to_vector_f64(), gv = xi.grad().to_vector_f64(), gr = gref.to_vector_f64();
      if (dt == DType::F64) {
        // float64: the same formula, rounding only.
        REQUIRE(max_abs_diff(yv, yr) <= 1e-14 * max_abs(yr));
        REQUIRE(max_abs_diff(gv, gr) <= 1e-13 * max_abs(gr));
      } else {
        // float32 against PyTorch float64: the parity bounds, values 1e-4 (of the largest
        // value), gradients 1e-3 of the gradient's norm.
        REQUIRE(max_abs_diff(yv, yr) <= 1e-4 * max_abs(yr));
        REQUIRE(norm2(Vec([&] {
                  Vec d(gv.size());
                  for (size_t i = 0; i < d.size(); ++i) d[i] = gv[i] - gr[i];
                  return d;
                }())) <= 1e-3 * norm2(gr));
      }
    }
  }
}

TEST_CASE("upsample_bilinear: results independent of the thread count", "[resample][upsample]") {
  Rng rng(63);
  Tensor x = rand_uniform(Shape{4, 1, 16, 52}, rng, 0, 1);
  Tensor g = rand_uniform(Shape{4, 1, 128, 416}, rng, -1, 1);  // > kParallelGrain elements
  auto run = [&](int threads) {
    set_cpu_threads(threads);
    Tensor xi = x.clone().set_requires_grad(true);
    Tensor y = upsample_bilinear(xi, 128, 416);
    y.backward(g);
    return std::vector<std::vector<float>>{y.to_vector(), xi.grad().to_vector()};
  };
  auto one = run(1), two = run(2), three = run(3);
  set_cpu_threads(0);
  REQUIRE(one == two);  // bit for bit
  REQUIRE(one == three);
}

// ================================================================ edge_aware_smoothness
TEST_CASE("edge_aware_smoothness: matches get_smooth_loss, small maps included", "[loss][smoothness]") {
  Rng rng(64);
  struct Case {
    int64_t B, C, H, W;
  };
  for (const Case& c : std::vector<Case>{{2, 3, 7, 9}, {1, 1, 1, 1}, {2, 3, 1, 6}, {2, 1, 5, 1}, {1, 3, 2, 2}, {3, 2, 4, 5}}) {
    INFO(c.B << "x" << c.C << "x" << c.H << "x" << c.W);
    Tensor d = rand_uniform(Shape{c.B, 1, c.H, c.W}, rng, 0.01, 1, DType::F64);
    Tensor img = rand_uniform(Shape{c.B, c.C, c.H, c.W}, rng, 0, 1, DType::F64);
    const double ref = naive_edge_smoothness(d, img);
    // float64, the same terms summed in another order: 1e-14 relative.
    REQUIRE(edge_aware_smoothness(d, img).item() == Approx(ref).epsilon(1e-14).margin(1e-300));
  }
  // 1x1: no edges at all; a constant disparity: no differences.
  REQUIRE(edge_aware_smoothness(Tensor::ones(Shape{1, 1, 1, 1}, DType::F64), Tensor::ones(Shape{1, 3, 1, 1}, DType::F64))
              .item() == 0.0);
  REQUIRE(edge_aware_smoothness(Tensor::full(Shape{2, 1, 3, 4}, 0.3, DType::F64),
                                rand_uniform(Shape{2, 3, 3, 4}, rng, 0, 1, DType::F64))
              .item() == 0.0);
  // A flat image (weights exp(0) = 1) and the ramp d = 1 + x along a row: d' = d / (mean + 1e-7),
  // mean 2.5 over x = 0..3, every x edge |1 / 2.5000001|, no y edges.
  std::vector<double> ramp{1, 2, 3, 4};
  Tensor r = Tensor::from_vector(ramp, Shape{1, 1, 1, 4});
  REQUIRE(edge_aware_smoothness(r, Tensor::zeros(Shape{1, 3, 1, 4}, DType::F64)).item() ==
          Approx(1.0 / (2.5 + 1e-7)).epsilon(1e-15));
  // Scale invariance of the normalised disparity (up to the 1e-7 in the mean): k d gives the same loss.
  Tensor d = rand_uniform(Shape{2, 1, 6, 7}, rng, 0.1, 1, DType::F64), img = rand_uniform(Shape{2, 3, 6, 7}, rng, 0, 1, DType::F64);
  const double l1 = edge_aware_smoothness(d, img).item(), l2 = edge_aware_smoothness(mul_scalar(d, 8.0), img).item();
  REQUIRE(std::fabs(l1 - l2) <= 1e-6 * l1);  // the 1e-7 against means ~0.5: ~2e-7 relative
  // Image edges lower the loss: a textured image's weights exp(-mean_c |dI|) < 1 against a flat one's 1.
  Tensor edgy = Tensor::zeros(Shape{2, 3, 6, 7}, DType::F64);
  REQUIRE(edge_aware_smoothness(d, rand_uniform(Shape{2, 3, 6, 7}, rng, 0, 1, DType::F64)).item() <
          edge_aware_smoothness(d, edgy).item());
}

TEST_CASE("gradcheck: edge_aware_smoothness (through the mean)", "[loss][smoothness][gradcheck]") {
  Rng rng(65);
  struct Case {
    int64_t B, C, H, W;
  };
  uint64_t seed = 100;
  for (const Case& c : std::vector<Case>{{2, 3, 5, 7}, {1, 1, 1, 6}, {2, 3, 4, 1}, {1, 3, 2, 2}, {3, 2, 3, 4}}) {
    INFO(c.B << "x" << c.C << "x" << c.H << "x" << c.W);
    Tensor img = rand_uniform(Shape{c.B, c.C, c.H, c.W}, rng, 0, 1, DType::F64);
    REQUIRE_GRADCHECK([img](auto& in) { return edge_aware_smoothness(in[0], img); },
                      {disparity(Shape{c.B, 1, c.H, c.W}, seed++)});
  }
  // 1x1: nothing depends on the disparity: the gradient is defined and 0.
  Tensor one = disparity(Shape{1, 1, 1, 1}, 7);
  edge_aware_smoothness(one, Tensor::ones(Shape{1, 3, 1, 1}, DType::F64)).backward();
  REQUIRE(one.grad().to_vector_f64() == Vec{0.0});
  // The image takes no gradient, even when it asks for one.
  Tensor img = rand_uniform(Shape{1, 3, 3, 3}, rng, 0, 1, DType::F64).set_requires_grad(true);
  Tensor d = disparity(Shape{1, 1, 3, 3}, 8);
  edge_aware_smoothness(d, img).backward();
  REQUIRE(d.grad().defined());
  REQUIRE(!img.grad().defined());
}

TEST_CASE("edge_aware_smoothness: vs PyTorch get_smooth_loss (fixtures)", "[loss][smoothness][fixture]") {
  for (const char* name : {"rgb", "gray"}) {
    const std::string p = std::string("smooth.") + name + ".";
    Tensor disp = fixture(p + "disp"), img = fixture(p + "img"), ref = fixture(p + "loss"), gref = fixture(p + "grad");
    for (DType dt : {DType::F64, DType::F32}) {
      INFO(name << " " << dtype_name(dt));
      Tensor di = disp.to(dt).clone().set_requires_grad(true);
      Tensor l = edge_aware_smoothness(di, img.to(dt));
      l.backward();
      const Vec gv = di.grad().to_vector_f64(), gr = gref.to_vector_f64();
      if (dt == DType::F64) {
        // float64: the same terms in another order, and the gradient's closed form (see
        // boundary/math/edge_smoothness_math.h) against autograd's chain: rounding only.
        REQUIRE(std::fabs(l.item() - ref.item()) <= 1e-13 * std::fabs(ref.item()));
        REQUIRE(max_abs_diff(gv, gr) <= 1e-12 * max_abs(gr));
      } else {
        // float32: the parity bounds (value 1e-4 relative, gradient 1e-3 of its norm).
        REQUIRE(std::fabs(l.item() - ref.item()) <= 1e-4 * std::fabs(ref.item()));
        Vec diff(gv.size());
        for (size_t i = 0; i < diff.size(); ++i) diff[i] = gv[i] - gr[i];
        REQUIRE(norm2(diff) <= 1e-3 * norm2(gr));
      }
    }
  }
}

TEST_CASE("edge_aware_smoothness: results independent of the thread count", "[loss][smoothness]") {
  Rng rng(66);
  Tensor d = rand_uniform(Shape{4, 1, 64, 208}, rng, 0.01, 1), img = rand_uniform(Shape{4, 3, 64, 208}, rng, 0, 1);
  auto run = [&](int threads) {
    set_cpu_threads(threads);
    Tensor di = d.clone().set_requires_grad(true);
    Tensor l = edge_aware_smoothness(di, img);
    l.backward();
    return std::vector<std::vector<float>>{l.to_vector(), di.grad().to_vector()};
  };
  auto one = run(1), two = run(2), three = run(3);
  set_cpu_threads(0);
  REQUIRE(one == two);  // bit for bit
  REQUIRE(one == three);
}

TEST_CASE("upsample_bilinear, edge_aware_smoothness: bad arguments", "[resample][loss][smoothness]") {
  REQUIRE_THROWS_WITH(upsample_bilinear(Tensor::zeros(Shape{2, 5, 7}), 4, 4),
                      Catch::Contains("upsample_bilinear") && Catch::Contains("'x'") && Catch::Contains("[2, 5, 7]"));
  REQUIRE_THROWS_WITH(upsample_bilinear(Tensor::zeros(Shape{1, 1, 5, 7}), 0, 4),
                      Catch::Contains("upsample_bilinear") && Catch::Contains("0x4"));
  REQUIRE_THROWS_WITH(upsample_bilinear(Tensor(), 4, 4), Catch::Contains("upsample_bilinear") && Catch::Contains("undefined"));
  REQUIRE_THROWS_WITH(edge_aware_smoothness(Tensor::zeros(Shape{2, 2, 5, 7}), Tensor::zeros(Shape{2, 3, 5, 7})),
                      Catch::Contains("edge_aware_smoothness") && Catch::Contains("'disp'") && Catch::Contains("[2, 2, 5, 7]"));
  REQUIRE_THROWS_WITH(edge_aware_smoothness(Tensor::zeros(Shape{2, 1, 5, 7}), Tensor::zeros(Shape{2, 3, 5, 6})),
                      Catch::Contains("edge_aware_smoothness") && Catch::Contains("'img'") && Catch::Contains("[2, 3, 5, 6]"));
  REQUIRE_THROWS_WITH(edge_aware_smoothness(Tensor::zeros(Shape{2, 1, 5, 7}), Tensor::zeros(Shape{2, 3, 5, 7}, DType::F64)),
                      Catch::Contains("edge_aware_smoothness") && Catch::Contains("'img'") && Catch::Contains("float"));
  REQUIRE_THROWS_WITH(edge_aware_smoothness(Tensor::zeros(Shape{2, 1, 5, 7}), Tensor()),
                      Catch::Contains("edge_aware_smoothness") && Catch::Contains("'img'") && Catch::Contains("undefined"));
}
