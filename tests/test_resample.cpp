// upsample_bilinear2x, downsample_area, resize_area: known values, naive loops, gradient
// checks, PyTorch fixtures and argument errors.
#include <catch2/catch.hpp>

#include "tests/test_support.h"
#include <algorithm>
#include <array>
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
using sfm::test::grad_input;

namespace {

using Vec = std::vector<double>;

double max_abs_diff(const Vec& a, const Vec& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// Naive bilinear x2 (align_corners=False), written from PyTorch's documented rule: the source
// coordinate (d + 0.5) / 2 - 0.5, negative values clamped to 0, the upper neighbour clamped to
// the last pixel.
Vec naive_upsample(const Vec& x, int64_t planes, int64_t H, int64_t W) {
  Vec y(planes * 4 * H * W);
  auto src = [](int64_t d, int64_t n, int64_t& a, int64_t& b, double& f) {
    double s = std::max(0.0, (d + 0.5) / 2.0 - 0.5);
    a = (int64_t)std::floor(s);
    b = std::min(a + 1, n - 1);
    f = s - a;
  };
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oy = 0; oy < 2 * H; ++oy)
      for (int64_t ox = 0; ox < 2 * W; ++ox) {
        int64_t y0, y1, x0, x1;
        double fy, fx;
        src(oy, H, y0, y1, fy);
        src(ox, W, x0, x1, fx);
        auto at = [&](int64_t yy, int64_t xx) { return x[(p * H + yy) * W + xx]; };
        y[(p * 2 * H + oy) * 2 * W + ox] = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) +
                                           fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
      }
  return y;
}

// Naive adaptive average pooling: bin [floor(i*H/h), ceil((i+1)*H/h)).
Vec naive_area(const Vec& x, int64_t planes, int64_t H, int64_t W, int64_t h, int64_t w) {
  Vec y(planes * h * w);
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oy = 0; oy < h; ++oy)
      for (int64_t ox = 0; ox < w; ++ox) {
        int64_t y0 = (int64_t)std::floor(double(oy * H) / h), y1 = (int64_t)std::ceil(double((oy + 1) * H) / h);
        int64_t x0 = (int64_t)std::floor(double(ox * W) / w), x1 = (int64_t)std::ceil(double((ox + 1) * W) / w);
        double s = 0;
        for (int64_t iy = y0; iy < y1; ++iy)
          for (int64_t ix = x0; ix < x1; ++ix) s += x[(p * H + iy) * W + ix];
        y[(p * h + oy) * w + ox] = s / double((y1 - y0) * (x1 - x0));
      }
  return y;
}

}  // namespace

TEST_CASE("upsample_bilinear2x: known values", "[resample]") {
  // PyTorch: F.interpolate([[1,2],[3,4]], scale_factor=2, mode='bilinear', align_corners=False)
  Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, Shape{1, 1, 2, 2});
  std::vector<float> expect = {1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5,
                               2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0};
  REQUIRE(upsample_bilinear2x(x).to_vector() == expect);  // exact: all weights are k/16
  Tensor one = Tensor::from_vector(std::vector<float>{5}, Shape{1, 1, 1, 1});
  REQUIRE(upsample_bilinear2x(one).to_vector() == std::vector<float>{5, 5, 5, 5});
}

// Naive loops in float64: the same few-term sums in a different order, equal to ~1e-15.
TEST_CASE("resampling matches naive loops", "[resample]") {
  Rng rng(3);
  for (auto [N, C, H, W] : std::vector<std::array<int64_t, 4>>{{2, 3, 5, 7}, {1, 1, 1, 1}, {1, 2, 1, 6}, {3, 1, 13, 4}}) {
    INFO("upsample " << H << "x" << W);
    Tensor x = rand_uniform(Shape{N, C, H, W}, rng, -1, 1, DType::F64);
    Tensor y = upsample_bilinear2x(x);
    REQUIRE(y.shape() == Shape{N, C, 2 * H, 2 * W});
    CHECK(max_abs_diff(y.to_vector_f64(), naive_upsample(x.to_vector_f64(), N * C, H, W)) < 1e-14);
  }
  struct A {
    int64_t N, C, H, W, h, w;
  };
  for (A a : std::vector<A>{{2, 3, 8, 6, 4, 3}, {1, 2, 12, 12, 3, 3}, {1, 1, 7, 9, 3, 4}, {1, 2, 3, 4, 5, 7},
                            {2, 1, 6, 10, 1, 1}, {1, 1, 1, 1, 2, 3}, {1, 1, 13, 5, 4, 5}}) {
    INFO("area " << a.H << "x" << a.W << " -> " << a.h << "x" << a.w);
    Tensor x = rand_uniform(Shape{a.N, a.C, a.H, a.W}, rng, -1, 1, DType::F64);
    Vec ref = naive_area(x.to_vector_f64(), a.N * a.C, a.H, a.W, a.h, a.w);
    CHECK(max_abs_diff(resize_area(x, a.h, a.w).to_vector_f64(), ref) < 1e-14);
    if (a.H % a.h == 0 && a.W % a.w == 0 && a.H / a.h == a.W / a.w)
      CHECK(max_abs_diff(downsample_area(x, int(a.H / a.h)).to_vector_f64(), ref) < 1e-14);
  }
}

TEST_CASE("gradcheck: resampling ops", "[gradcheck][resample]") {
  Rng rng(4);
  for (Shape s : {Shape{1, 1, 1, 1}, Shape{1, 2, 1, 3}, Shape{2, 1, 3, 4}, Shape{1, 1, 7, 4}}) {
    INFO("upsample " << s.str());
    REQUIRE_GRADCHECK([](auto& in) { return upsample_bilinear2x(in[0]); }, {grad_input(s, rng)});
  }
  REQUIRE_GRADCHECK([](auto& in) { return downsample_area(in[0], 2); }, {grad_input(Shape{2, 2, 4, 6}, rng)});
  REQUIRE_GRADCHECK([](auto& in) { return downsample_area(in[0], 3); }, {grad_input(Shape{1, 1, 6, 3}, rng)});
  REQUIRE_GRADCHECK([](auto& in) { return downsample_area(in[0], 1); }, {grad_input(Shape{1, 1, 2, 3}, rng)});
  struct R {
    Shape s;
    int64_t h, w;
  };
  for (R r : {R{Shape{1, 2, 5, 7}, 3, 4}, R{Shape{1, 1, 3, 4}, 5, 7}, R{Shape{1, 1, 1, 1}, 2, 3},
              R{Shape{2, 1, 7, 5}, 1, 1}, R{Shape{1, 1, 6, 4}, 4, 3}}) {
    INFO("resize_area " << r.s.str() << " -> " << r.h << "x" << r.w);
    REQUIRE_GRADCHECK([r](auto& in) { return resize_area(in[0], r.h, r.w); }, {grad_input(r.s, rng)});
  }
}

// PyTorch in float64 from the float32 inputs. float64: 1e-13 absolute (values O(1), sums of
// at most ~60 terms). float32: 1e-6 absolute (a few roundings of O(1) values at eps 6e-8).
TEST_CASE("resampling matches PyTorch fixtures", "[resample][fixture]") {
  SafeTensors f = load_safetensors(sfm::test::source_dir() + "/tests/fixtures/ops_conv.safetensors");
  int cases = 0;
  for (std::string kind : {"upsample", "area"}) {
    for (int i = 0; f.tensors.count(kind + "/" + std::to_string(i) + "/x"); ++i, ++cases) {
      const std::string key = kind + "/" + std::to_string(i) + "/";
      INFO(key);
      std::vector<float> prm = f.tensors.at(key + "params").to_vector();
      for (DType t : {DType::F64, DType::F32}) {
        const double tol = t == DType::F64 ? 1e-13 : 1e-6;
        Tensor x = f.tensors.at(key + "x").to(t).clone().set_requires_grad(true);
        Tensor y = kind == "upsample" ? upsample_bilinear2x(x) : resize_area(x, int64_t(prm[0]), int64_t(prm[1]));
        REQUIRE(y.shape() == f.tensors.at(key + "y").shape());
        CHECK(max_abs_diff(y.to_vector_f64(), f.tensors.at(key + "y").to_vector_f64()) < tol);
        y.backward(f.tensors.at(key + "gy").to(t));
        CHECK(max_abs_diff(x.grad().to_vector_f64(), f.tensors.at(key + "gx").to_vector_f64()) < tol);
        if (kind == "area" && x.dim(2) % y.dim(2) == 0 && x.dim(3) % y.dim(3) == 0 &&
            x.dim(2) / y.dim(2) == x.dim(3) / y.dim(3)) {
          Tensor yd = downsample_area(x.detach(), int(x.dim(2) / y.dim(2)));
          CHECK(max_abs_diff(yd.to_vector_f64(), f.tensors.at(key + "y").to_vector_f64()) < tol);
        }
      }
    }
  }
  REQUIRE(cases == 10);  // 4 upsample + 6 area cases in the fixture
}

TEST_CASE("resampling: large inputs give the same bits on 1 and 3 threads", "[resample]") {
  const int before = cpu_threads();
  auto run = [](int threads) {
    set_cpu_threads(threads);
    Rng rng(6);
    Tensor x = rand_uniform(Shape{2, 3, 64, 96}, rng).set_requires_grad(true);
    Tensor y = add(resize_area(upsample_bilinear2x(x), 50, 70), resize_area(downsample_area(x, 4), 50, 70));
    y.backward(rand_uniform(y.shape(), rng));
    return std::vector<std::vector<float>>{y.to_vector(), x.grad().to_vector()};
  };
  CHECK(run(1) == run(3));
  set_cpu_threads(before);
}

TEST_CASE("resampling: argument errors", "[resample]") {
  using Catch::Contains;
  Tensor x = Tensor::zeros(Shape{1, 2, 6, 9});
  REQUIRE(downsample_area(x, 3).shape() == Shape{1, 2, 2, 3});
  REQUIRE(downsample_area(x, 1).same(x));
  REQUIRE(resize_area(x, 6, 9).same(x));
  REQUIRE_THROWS_WITH(upsample_bilinear2x(Tensor::zeros(Shape{2, 6, 9})),
                      Contains("upsample_bilinear2x") && Contains("'x'") && Contains("[2, 6, 9]"));
  REQUIRE_THROWS_WITH(downsample_area(x, 2),
                      Contains("downsample_area") && Contains("[1, 2, 6, 9]") && Contains("divisible") && Contains("2"));
  REQUIRE_THROWS_WITH(downsample_area(x, 0), Contains("downsample_area") && Contains("factor"));
  REQUIRE_THROWS_WITH(downsample_area(Tensor::zeros(Shape{6, 9}), 2), Contains("downsample_area") && Contains("[6, 9]"));
  REQUIRE_THROWS_WITH(resize_area(x, 0, 3), Contains("resize_area") && Contains("0x3") && Contains("[1, 2, 6, 9]"));
  REQUIRE_THROWS_WITH(resize_area(Tensor::zeros(Shape{1, 0, 6, 9}), 2, 3), Contains("resize_area") && Contains("empty"));
}
