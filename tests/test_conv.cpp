// conv2d and conv_transpose2d: forward and backward against independent naive loops (float64
// and float32), gradient checks over many geometries, PyTorch fixtures, thread-count
// independence, and the argument errors.
#include <catch2/catch.hpp>

#include "lab/ops/compare.h"
#include "tests/test_support.h"
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "boundary/device_runtime.h"
#include "engine/ops.h"
#include "cpu/parallel.h"
#include "engine/rng.h"
#include "engine/safetensors.h"
#include "tests/gradcheck.h"

using namespace sfm;
using sfm::lab::l2_rel_err;
using sfm::test::grad_input;

namespace {

using Vec = std::vector<double>;

struct ConvCfg {
  int64_t N, C, H, W, O;
  int k, s, p;
  int op;  // output_padding (transposed only)
  bool bias;
  Activation act;
  std::string str() const {
    std::ostringstream os;
    os << "N" << N << " C" << C << " " << H << "x" << W << " O" << O << " k" << k << " s" << s << " p" << p << " op"
       << op << (bias ? " bias" : "") << " act" << int(act);
    return os.str();
  }
};

double act_f(Activation a, double v) {
  if (a == Activation::ReLU) return v > 0 ? v : 0;
  if (a == Activation::Sigmoid) return 1 / (1 + std::exp(-v));
  return v;
}
// d act / dv expressed through y = act(v)
double act_d(Activation a, double y) {
  if (a == Activation::ReLU) return y > 0 ? 1 : 0;
  if (a == Activation::Sigmoid) return y * (1 - y);
  return 1;
}

// ---- naive reference, straight from the definitions (no im2col, no shared code) ----
// conv2d: y[n,o,oy,ox] = b[o] + sum_{c,ky,kx} x[n,c,oy*s-p+ky, ox*s-p+kx] w[o,c,ky,kx]
struct Naive {
  ConvCfg c;
  int64_t Ho, Wo;
  bool transposed;
  Naive(const ConvCfg& cfg, bool t) : c(cfg), transposed(t) {
    if (!t) {
      Ho = (c.H + 2 * c.p - c.k) / c.s + 1;
      Wo = (c.W + 2 * c.p - c.k) / c.s + 1;
    } else {
      Ho = (c.H - 1) * c.s - 2 * c.p + c.k + c.op;
      Wo = (c.W - 1) * c.s - 2 * c.p + c.k + c.op;
    }
  }
  // Visits every (input element, weight element, output element) triple of the linear map.
  template <class F>
  void each(F&& f) const {
    for (int64_t n = 0; n < c.N; ++n)
      for (int64_t o = 0; o < c.O; ++o)
        for (int64_t ci = 0; ci < c.C; ++ci)
          for (int ky = 0; ky < c.k; ++ky)
            for (int kx = 0; kx < c.k; ++kx) {
              // weight index: conv OIHW [O,C,k,k]; transposed IOHW [C,O,k,k]
              const int64_t wi = transposed ? ((ci * c.O + o) * c.k + ky) * c.k + kx : ((o * c.C + ci) * c.k + ky) * c.k + kx;
              if (!transposed) {
                for (int64_t oy = 0; oy < Ho; ++oy) {
                  const int64_t iy = oy * c.s - c.p + ky;
                  if (iy < 0 || iy >= c.H) continue;
                  for (int64_t ox = 0; ox < Wo; ++ox) {
                    const int64_t ix = ox * c.s - c.p + kx;
                    if (ix < 0 || ix >= c.W) continue;
                    f(((n * c.C + ci) * c.H + iy) * c.W + ix, wi, ((n * c.O + o) * Ho + oy) * Wo + ox);
                  }
                }
              } else {  // scatter form: x[n,ci,iy,ix] adds to y[n,o,iy*s-p+ky, ix*s-p+kx]
                for (int64_t iy = 0; iy < c.H; ++iy) {
                  const int64_t oy = iy * c.s - c.p + ky;
                  if (oy < 0 || oy >= Ho) continue;
                  for (int64_t ix = 0; ix < c.W; ++ix) {
                    const int64_t ox = ix * c.s - c.p + kx;
                    if (ox < 0 || ox >= Wo) continue;
                    f(((n * c.C + ci) * c.H + iy) * c.W + ix, wi, ((n * c.O + o) * Ho + oy) * Wo + ox);
                  }
                }
              }
            }
  }
  Vec forward(const Vec& x, const Vec& w, const Vec& b) const {
    Vec y(c.N * c.O * Ho * Wo, 0.0);
    each([&](int64_t xi, int64_t wi, int64_t yi) { y[yi] += x[xi] * w[wi]; });
    const int64_t P = Ho * Wo;
    for (size_t i = 0; i < y.size(); ++i) y[i] = act_f(c.act, y[i] + (b.empty() ? 0.0 : b[(i / P) % c.O]));
    return y;
  }
  // Gradients of sum(y * gy) given y.
  void backward(const Vec& x, const Vec& w, const Vec& y, const Vec& gy, Vec& gx, Vec& gw, Vec& gb) const {
    Vec gv(gy.size());
    for (size_t i = 0; i < gy.size(); ++i) gv[i] = gy[i] * act_d(c.act, y[i]);
    gx.assign(x.size(), 0.0);
    gw.assign(w.size(), 0.0);
    gb.assign(c.O, 0.0);
    each([&](int64_t xi, int64_t wi, int64_t yi) {
      gx[xi] += gv[yi] * w[wi];
      gw[wi] += gv[yi] * x[xi];
    });
    const int64_t P = Ho * Wo;
    for (size_t i = 0; i < gv.size(); ++i) gb[(i / P) % c.O] += gv[i];
  }
};


Shape wshape(const ConvCfg& c, bool transposed) {
  return transposed ? Shape{c.C, c.O, c.k, c.k} : Shape{c.O, c.C, c.k, c.k};
}
Tensor run_op(const ConvCfg& c, bool transposed, const Tensor& x, const Tensor& w, const Tensor& b) {
  return transposed ? conv_transpose2d(x, w, b, c.s, c.p, c.op, c.act) : conv2d(x, w, b, c.s, c.p, c.act);
}

// Runs the op (dtype t) forward and backward and compares with the naive loops.
void check_against_naive(const ConvCfg& c, bool transposed, DType t, double tol) {
  INFO((transposed ? "conv_transpose2d " : "conv2d ") << c.str() << " " << dtype_name(t));
  Rng rng(42);
  Naive nv(c, transposed);
  const double wscale = 1.0 / std::sqrt(double(c.C * c.k * c.k));
  Tensor x = rand_uniform(Shape{c.N, c.C, c.H, c.W}, rng, -1, 1, t).set_requires_grad(true);
  Tensor w = rand_uniform(wshape(c, transposed), rng, -wscale, wscale, t).set_requires_grad(true);
  Tensor b = c.bias ? rand_uniform(Shape{c.O}, rng, -0.2, 0.2, t).set_requires_grad(true) : Tensor();
  Tensor y = run_op(c, transposed, x, w, b);
  REQUIRE(y.shape() == Shape{c.N, c.O, nv.Ho, nv.Wo});
  Vec xr = x.to_vector_f64(), wr = w.to_vector_f64(), br = c.bias ? b.to_vector_f64() : Vec{};
  Vec yr = nv.forward(xr, wr, br);
  CHECK(l2_rel_err(y.to_vector_f64(), yr) < tol);
  Tensor gy = rand_uniform(y.shape(), rng, -1, 1, t);
  y.backward(gy);
  Vec gx, gw, gb;
  nv.backward(xr, wr, yr, gy.to_vector_f64(), gx, gw, gb);
  CHECK(l2_rel_err(x.grad().to_vector_f64(), gx) < tol);
  CHECK(l2_rel_err(w.grad().to_vector_f64(), gw) < tol);
  if (c.bias) CHECK(l2_rel_err(b.grad().to_vector_f64(), gb) < tol);
}

// Geometries that reach every path of the CPU plan (cpu/conv.cpp; blocks of 2^18
// im2col elements, tasks of >= 4 MFLOP, up to 8 of them): column blocks spanning several images
// (K = 288, P = 2304), images cut into runs of output rows processed in two waves (K = 800,
// P = 4096; K = 784, P = 3000 with stride 2), the weight gradient split over column segments
// (O = 2) and over K, output channels split (K = 2304, P = 6), input channels split in the
// data gradient (same), image groups with a shorter last group (N = 3, 2 per group), dy rows
// split in the weight gradient (K = 64, O = 128), and tiny shapes. Each is a few million
// multiply-adds, so the naive loops stay fast under sanitizers.
const std::vector<ConvCfg> kNaiveConv = {
    {4, 32, 48, 48, 2, 3, 1, 1, 0, true, Activation::ReLU},
    {1, 32, 64, 64, 2, 5, 1, 2, 0, false, Activation::None},
    {1, 16, 100, 120, 2, 7, 2, 3, 0, true, Activation::Sigmoid},
    {3, 5, 13, 13, 7, 3, 2, 1, 0, true, Activation::ReLU},
    {2, 3, 1, 1, 4, 3, 2, 1, 0, true, Activation::None},
    {1, 64, 2, 7, 96, 3, 1, 1, 0, true, Activation::ReLU},
    {2, 256, 2, 3, 256, 3, 1, 1, 0, true, Activation::ReLU},
    {3, 256, 10, 10, 8, 3, 1, 1, 0, true, Activation::None},
    {2, 64, 16, 16, 128, 1, 1, 0, 0, true, Activation::ReLU},
};
// For conv_transpose2d the convolution it is the adjoint of has K = O_t k^2 and P = H_t W_t.
const std::vector<ConvCfg> kNaiveConvT = {
    {4, 2, 48, 48, 32, 3, 2, 1, 1, true, Activation::ReLU},  // K = 288, P = 2304: 3 images per chunk
    {1, 2, 64, 64, 32, 4, 2, 1, 0, true, Activation::None},  // K = 512, P = 4096: 2 segments
    {3, 7, 4, 7, 5, 3, 2, 1, 1, false, Activation::Sigmoid},
    {2, 4, 1, 1, 3, 3, 2, 1, 1, true, Activation::ReLU},
    {1, 96, 2, 4, 64, 4, 2, 1, 0, true, Activation::ReLU},
};

}  // namespace

// float64 against the naive loops: both sums are exact to ~K * 1e-16 relative (K <= 800 terms),
// so 1e-12 only fails on a wrong index or a missing term.
// float32: rounding of K-term sums at eps 6e-8 grows like sqrt(K) (~30 here) times a small
// cancellation factor, well below 1e-5; a wrong term gives errors of order 1e-2 or more.
TEST_CASE("conv2d: forward and backward match naive loops", "[conv]") {
  for (const ConvCfg& c : kNaiveConv) {
    check_against_naive(c, false, DType::F64, 1e-12);
    check_against_naive(c, false, DType::F32, 1e-5);
  }
}

TEST_CASE("conv_transpose2d: forward and backward match the naive scatter form", "[conv]") {
  for (const ConvCfg& c : kNaiveConvT) {
    check_against_naive(c, true, DType::F64, 1e-12);
    check_against_naive(c, true, DType::F32, 1e-5);
  }
}

TEST_CASE("gradcheck: conv2d over kernels, strides, paddings, sizes, bias and activations", "[gradcheck][conv]") {
  const std::vector<ConvCfg> cfgs = {
      {1, 2, 1, 1, 3, 1, 1, 0, 0, true, Activation::None},      // 1x1 kernel, 1x1 image
      {2, 2, 5, 4, 3, 1, 2, 0, 0, false, Activation::ReLU},     // 1x1 kernel, stride 2
      {2, 2, 5, 4, 3, 3, 1, 1, 0, true, Activation::ReLU},
      {1, 1, 13, 13, 2, 3, 2, 1, 0, true, Activation::None},    // 13 -> 7
      {1, 2, 7, 7, 2, 3, 2, 1, 0, false, Activation::Sigmoid},  // 7 -> 4
      {1, 2, 4, 4, 2, 3, 2, 1, 0, true, Activation::ReLU},      // 4 -> 2
      {1, 2, 6, 5, 2, 4, 2, 1, 0, true, Activation::None},      // even kernel
      {1, 2, 7, 6, 2, 5, 2, 2, 0, true, Activation::Sigmoid},
      {1, 1, 9, 8, 2, 7, 2, 3, 0, true, Activation::ReLU},
      {1, 1, 3, 3, 2, 7, 1, 3, 0, false, Activation::None},     // kernel larger than the image
      {2, 1, 4, 5, 2, 3, 1, 0, 0, true, Activation::Sigmoid},   // no padding
      {1, 2, 1, 1, 2, 3, 1, 3, 0, true, Activation::None},      // padding 3 on a 1x1 image: 5x5 out
      {1, 2, 1, 1, 2, 5, 2, 2, 0, true, Activation::ReLU},      // 1x1 -> 1x1
      {1, 3, 2, 3, 2, 2, 1, 0, 0, true, Activation::None},      // k = 2
  };
  Rng rng(7);
  for (const ConvCfg& c : cfgs) {
    INFO("conv2d " << c.str());
    std::vector<Tensor> in = {grad_input(Shape{c.N, c.C, c.H, c.W}, rng), grad_input(wshape(c, false), rng)};
    if (c.bias) in.push_back(grad_input(Shape{c.O}, rng));
    REQUIRE_GRADCHECK(
        [c](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], c.bias ? v[2] : Tensor(), c.s, c.p, c.act); }, in);
  }
}

TEST_CASE("gradcheck: conv_transpose2d incl. output_padding", "[gradcheck][conv]") {
  const std::vector<ConvCfg> cfgs = {
      {1, 2, 4, 3, 2, 3, 2, 1, 1, true, Activation::ReLU},     // DispNet upconv
      {1, 2, 1, 1, 3, 3, 2, 1, 1, true, Activation::None},     // 1x1 -> 2x2
      {2, 2, 3, 2, 2, 4, 2, 1, 0, true, Activation::Sigmoid},  // PoseExpNet upconv
      {1, 2, 4, 4, 2, 3, 1, 1, 0, false, Activation::None},
      {1, 2, 3, 3, 2, 1, 1, 0, 0, true, Activation::ReLU},     // k1
      {1, 2, 2, 3, 2, 1, 2, 0, 1, true, Activation::None},     // k1 s2: pixels only the bias reaches
      {1, 1, 3, 3, 2, 5, 2, 2, 1, false, Activation::Sigmoid},
      {1, 1, 3, 3, 2, 7, 2, 3, 1, true, Activation::None},
      {1, 2, 2, 3, 2, 3, 2, 0, 0, true, Activation::ReLU},     // no padding
      {1, 1, 3, 3, 2, 3, 1, 2, 0, true, Activation::None},     // padding 2 crops to 1x1
      {1, 1, 4, 4, 1, 4, 2, 3, 1, true, Activation::None},     // padding 3
  };
  Rng rng(8);
  for (const ConvCfg& c : cfgs) {
    INFO("conv_transpose2d " << c.str());
    std::vector<Tensor> in = {grad_input(Shape{c.N, c.C, c.H, c.W}, rng), grad_input(wshape(c, true), rng)};
    if (c.bias) in.push_back(grad_input(Shape{c.O}, rng));
    REQUIRE_GRADCHECK(
        [c](const std::vector<Tensor>& v) {
          return conv_transpose2d(v[0], v[1], c.bias ? v[2] : Tensor(), c.s, c.p, c.op, c.act);
        },
        in);
  }
}

// Fixture values: PyTorch in float64 from the float32 inputs. float64: 1e-12 (sum order only).
// float32: 1e-5 of the norm (see the naive test).
TEST_CASE("conv2d and conv_transpose2d match PyTorch fixtures", "[conv][fixture]") {
  SafeTensors f = load_safetensors(sfm::test::source_dir() + "/tests/fixtures/ops_conv.safetensors");
  int cases = 0;
  for (bool transposed : {false, true}) {
    const std::string op = transposed ? "conv_transpose2d" : "conv2d";
    for (int i = 0; f.tensors.count(op + "/" + std::to_string(i) + "/x"); ++i, ++cases) {
      const std::string key = op + "/" + std::to_string(i) + "/";
      INFO(key);
      std::vector<float> prm = f.tensors.at(key + "params").to_vector();
      const int s = int(prm[0]), p = int(prm[1]), op_pad = int(prm[3]);
      const Activation act = prm[2] == 1 ? Activation::ReLU : prm[2] == 2 ? Activation::Sigmoid : Activation::None;
      const bool has_b = f.tensors.count(key + "b") > 0;
      for (DType t : {DType::F64, DType::F32}) {
        const double tol = t == DType::F64 ? 1e-12 : 1e-5;
        Tensor x = f.tensors.at(key + "x").to(t).clone().set_requires_grad(true);
        Tensor w = f.tensors.at(key + "w").to(t).clone().set_requires_grad(true);
        Tensor b = has_b ? f.tensors.at(key + "b").to(t).clone().set_requires_grad(true) : Tensor();
        Tensor y = transposed ? conv_transpose2d(x, w, b, s, p, op_pad, act) : conv2d(x, w, b, s, p, act);
        REQUIRE(y.shape() == f.tensors.at(key + "y").shape());
        CHECK(l2_rel_err(y.to_vector_f64(), f.tensors.at(key + "y").to_vector_f64()) < tol);
        y.backward(f.tensors.at(key + "gy").to(t));
        CHECK(l2_rel_err(x.grad().to_vector_f64(), f.tensors.at(key + "gx").to_vector_f64()) < tol);
        CHECK(l2_rel_err(w.grad().to_vector_f64(), f.tensors.at(key + "gw").to_vector_f64()) < tol);
        if (has_b) CHECK(l2_rel_err(b.grad().to_vector_f64(), f.tensors.at(key + "gb").to_vector_f64()) < tol);
      }
    }
  }
  REQUIRE(cases == 14);  // 8 conv2d + 6 conv_transpose2d cases in the fixture
}

TEST_CASE("conv: results do not depend on the thread count", "[conv]") {
  // Large enough for the parallel path, several chunks and tiles (see kNaiveConv).
  const int before = cpu_threads();
  auto run = [](int threads, bool transposed, const ConvCfg& c) {
    set_cpu_threads(threads);
    Rng rng(5);
    Tensor x = rand_uniform(Shape{c.N, c.C, c.H, c.W}, rng, -1, 1).set_requires_grad(true);
    Tensor w = rand_uniform(wshape(c, transposed), rng, -0.1, 0.1).set_requires_grad(true);
    Tensor b = rand_uniform(Shape{c.O}, rng, -0.1, 0.1).set_requires_grad(true);
    Tensor y = run_op(c, transposed, x, w, b);
    y.backward(rand_uniform(y.shape(), rng, -1, 1));
    return std::vector<std::vector<float>>{y.to_vector(), x.grad().to_vector(), w.grad().to_vector(),
                                           b.grad().to_vector()};
  };
  for (const ConvCfg& c : {kNaiveConv[0], kNaiveConv[1], kNaiveConv[6], kNaiveConv[8]}) {
    INFO("conv2d " << c.str());
    CHECK(run(1, false, c) == run(3, false, c));  // bitwise equal
  }
  for (const ConvCfg& c : {kNaiveConvT[0], kNaiveConvT[4]}) {
    INFO("conv_transpose2d " << c.str());
    CHECK(run(1, true, c) == run(3, true, c));
  }
  set_cpu_threads(before);
}

TEST_CASE("conv: gradients only where needed, no tape under no-grad", "[conv]") {
  Rng rng(9);
  Tensor x = rand_uniform(Shape{1, 2, 5, 5}, rng);  // an input image: no gradient
  Tensor w = rand_uniform(Shape{3, 2, 3, 3}, rng).set_requires_grad(true);
  Tensor b = rand_uniform(Shape{3}, rng);  // frozen bias
  Tensor y = conv2d(x, w, b, 1, 1, Activation::ReLU);
  REQUIRE(y.grad_fn() != nullptr);
  sum(y).backward();
  REQUIRE(w.grad().defined());
  REQUIRE_FALSE(x.grad().defined());
  REQUIRE_FALSE(b.grad().defined());
  {
    NoGradGuard ng;
    REQUIRE(conv2d(x, w, b, 1, 1).grad_fn() == nullptr);
    REQUIRE(conv_transpose2d(x, w.view(Shape{2, 3, 3, 3}), b, 2, 1, 1).grad_fn() == nullptr);
  }
  // Without any input needing a gradient nothing is recorded.
  REQUIRE(conv2d(x, w.detach(), Tensor(), 2, 0).grad_fn() == nullptr);
}

TEST_CASE("conv: argument errors name the op, the argument and the shapes", "[conv]") {
  Tensor x = Tensor::zeros(Shape{1, 3, 5, 5});
  Tensor w = Tensor::zeros(Shape{4, 3, 3, 3});
  Tensor b = Tensor::zeros(Shape{4});
  using Catch::Contains;
  REQUIRE_NOTHROW(conv2d(x, w, b, 1, 1));
  REQUIRE_THROWS_WITH(conv2d(Tensor::zeros(Shape{3, 5, 5}), w, b, 1, 1),
                      Contains("conv2d") && Contains("'x'") && Contains("[3, 5, 5]") && Contains("4-d"));
  REQUIRE_THROWS_WITH(conv2d(x, Tensor::zeros(Shape{4, 2, 3, 3}), b, 1, 1),
                      Contains("conv2d") && Contains("'w'") && Contains("[4, 2, 3, 3]") && Contains("= 3"));
  REQUIRE_THROWS_WITH(conv2d(x, w, Tensor::zeros(Shape{3}), 1, 1),
                      Contains("conv2d") && Contains("'b'") && Contains("[3]") && Contains("[4]"));
  REQUIRE_THROWS_WITH(conv2d(x, Tensor::zeros(Shape{4, 3, 3, 2}), b, 1, 1),
                      Contains("conv2d") && Contains("[4, 3, 3, 2]") && Contains("square"));
  REQUIRE_THROWS_WITH(conv2d(Tensor::zeros(Shape{1, 3, 2, 2}), Tensor::zeros(Shape{4, 3, 5, 5}), b, 1, 1),
                      Contains("conv2d") && Contains("empty") && Contains("[1, 3, 2, 2]") && Contains("kernel 5"));
  REQUIRE_THROWS_WITH(conv2d(x, w.to(DType::F64), b, 1, 1), Contains("conv2d") && Contains("float64"));
  REQUIRE_THROWS_WITH(conv2d(x, w, b.to(DType::F64), 1, 1), Contains("conv2d") && Contains("'b'"));
  REQUIRE_THROWS_WITH(conv2d(x, w, b, 0, 1), Contains("conv2d") && Contains("stride"));
  REQUIRE_THROWS_WITH(conv2d(x, w, b, 1, -1), Contains("conv2d") && Contains("padding"));
  REQUIRE_THROWS_WITH(conv2d(Tensor(), w, b, 1, 1), Contains("conv2d") && Contains("'x'"));
  REQUIRE_THROWS_WITH(conv2d(Tensor::zeros(Shape{0, 3, 5, 5}), w, b, 1, 1), Contains("conv2d") && Contains("empty"));

  Tensor wt = Tensor::zeros(Shape{3, 4, 3, 3});  // [C,O,k,k]
  REQUIRE(conv_transpose2d(x, wt, b, 2, 1, 1).shape() == Shape{1, 4, 10, 10});
  REQUIRE_THROWS_WITH(conv_transpose2d(x, Tensor::zeros(Shape{4, 3, 3, 3}), b, 2, 1, 1),
                      Contains("conv_transpose2d") && Contains("'w'") && Contains("[4, 3, 3, 3]"));
  REQUIRE_THROWS_WITH(conv_transpose2d(x, wt, Tensor::zeros(Shape{3}), 2, 1, 1),
                      Contains("conv_transpose2d") && Contains("'b'") && Contains("[3]") && Contains("[4]"));
  REQUIRE_THROWS_WITH(conv_transpose2d(x, wt, b, 2, 1, 2), Contains("conv_transpose2d") && Contains("output_padding"));
  REQUIRE_THROWS_WITH(conv_transpose2d(Tensor::zeros(Shape{1, 3, 1, 1}), Tensor::zeros(Shape{3, 4, 1, 1}), b, 1, 1, 0),
                      Contains("conv_transpose2d") && Contains("empty") && Contains("[1, 3, 1, 1]"));
  REQUIRE_THROWS_WITH(conv_transpose2d(Tensor::zeros(Shape{1, 3, 5}), wt, b, 2, 1, 1),
                      Contains("conv_transpose2d") && Contains("'x'") && Contains("[1, 3, 5]"));
  if (cuda_available()) {
    REQUIRE_THROWS_WITH(conv2d(x, w.to(Device::CUDA), b, 1, 1), Contains("conv2d") && Contains("'w'") && Contains("cuda"));
  } else {
    WARN("no CUDA device: the device-mismatch error of conv2d was not exercised");
  }
}

TEST_CASE("conv implementation setting", "[conv]") {
  const ConvImpl before = conv_impl();
  for (ConvImpl c : {ConvImpl::Handwritten, ConvImpl::HandwrittenTF32, ConvImpl::CuDNN, ConvImpl::CuBLAS}) {
    REQUIRE(parse_conv_impl(conv_impl_name(c)) == c);
    set_conv_impl(c);
    REQUIRE(conv_impl() == c);
  }
  set_conv_impl(before);
  REQUIRE(std::string(conv_impl_name(ConvImpl::HandwrittenTF32)) == "tf32");
  REQUIRE_THROWS_WITH(parse_conv_impl("cudnnn"), Catch::Contains("'cudnnn'") && Catch::Contains("cudnn"));
}
