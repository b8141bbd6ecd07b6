// upsample_bilinear and edge_aware_smoothness on a CUDA device against the CPU ops in float64,
// at the training shapes: the CUDA launchers (outputs NaN-poisoned, every run twice for
// bitwise determinism) and the ops through engine/ops.h (dispatch, autograd). Tagged [gpu]:
// without a CUDA device they say so and do nothing. Error: max |gpu - ref| / max |ref|.
#include <catch2/catch.hpp>

#include "tests/test_support.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/autograd.h"
#include "boundary/device_runtime.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "lab/ops/compare.h"
#include "lab/ops/op_cases_smooth_upsample.h"
#if SFM_WITH_CUDA
#include "kernels/edge_smoothness.h"
#include "kernels/upsample_bilinear.h"
#endif

using namespace sfm;
using sfm::lab::max_rel_err;

#if SFM_WITH_CUDA
namespace {
Tensor nan_gpu(const Shape& s) {
  return Tensor::full(s, std::numeric_limits<double>::quiet_NaN(), DType::F32, Device::CUDA);
}
bool same_bits(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * 4) == 0;
}
}  // namespace
#endif

TEST_CASE("gpu kernels: upsample_bilinear matches the CPU (float64) at the disparity scales", "[gpu]") {
#if SFM_WITH_CUDA
  if (!cuda_available()) {
    SFM_SKIP("no CUDA device");
    return;
  }
  Rng rng(81);
  struct Case {
    Shape s;
    int64_t H, W;
  };
  for (const Case& c : std::vector<Case>{{Shape{4, 1, 16, 52}, 128, 416},
                                         {Shape{4, 1, 32, 104}, 128, 416},
                                         {Shape{4, 1, 64, 208}, 128, 416},
                                         {Shape{12, 1, 24, 80}, 192, 640},
                                         {Shape{2, 3, 5, 7}, 12, 9},
                                         {Shape{2, 3, 9, 13}, 4, 6}}) {
    INFO(c.s.str() << " -> " << c.H << "x" << c.W);
    Tensor x = rand_uniform(c.s, rng, -1, 1, DType::F64).set_requires_grad(true);
    Tensor y = upsample_bilinear(x, c.H, c.W);
    Tensor g = rand_uniform(y.shape(), rng, -1, 1, DType::F64);
    y.backward(g);
    const int64_t planes = c.s[0] * c.s[1];
    Tensor xg = x.detach().to(DType::F32).to(Device::CUDA), gg = g.to(DType::F32).to(Device::CUDA);
    Tensor yo = nan_gpu(y.shape()), go = nan_gpu(c.s), yo2 = nan_gpu(y.shape()), go2 = nan_gpu(c.s);
    cuda::upsample_bilinear_forward(xg.data<float>(), yo.data<float>(), planes, c.s[2], c.s[3], c.H, c.W);
    cuda::upsample_bilinear_backward(gg.data<float>(), go.data<float>(), planes, c.s[2], c.s[3], c.H, c.W);
    cuda::upsample_bilinear_forward(xg.data<float>(), yo2.data<float>(), planes, c.s[2], c.s[3], c.H, c.W);
    cuda::upsample_bilinear_backward(gg.data<float>(), go2.data<float>(), planes, c.s[2], c.s[3], c.H, c.W);
    // Power-of-two ratios (the disparity scales): exact float32 coordinates; an output is 4
    // products (~1e-7 of the range), a gradient element sums up to 19 readers per axis (8x) in
    // float: 2e-6. Other ratios: the rounded scale n_in / n_out puts a few ulp of the input size
    // on the coordinates (the op table's Warp class): max(1e-5, 16 u max(h, w)).
    const bool exact = c.H % c.s[2] == 0 && c.W % c.s[3] == 0 && ((c.H / c.s[2]) & (c.H / c.s[2] - 1)) == 0 &&
                       ((c.W / c.s[3]) & (c.W / c.s[3] - 1)) == 0;
    const double tol = exact ? 2e-6 : std::max(1e-5, 16 * 0x1p-24 * (double)std::max(c.s[2], c.s[3]));
    CHECK(max_rel_err(yo, y) <= tol);
    CHECK(max_rel_err(go, x.grad()) <= tol);
    CHECK(same_bits(yo, yo2));
    CHECK(same_bits(go, go2));
    // Through the op (dispatch + autograd) on the device: the launchers' very bits.
    Tensor xo = xg.clone().set_requires_grad(true);
    Tensor yop = upsample_bilinear(xo, c.H, c.W);
    yop.backward(gg);
    CHECK(same_bits(yop, yo));
    CHECK(same_bits(xo.grad(), go));
  }
#else
  SFM_SKIP("this build has no CUDA backend");
#endif
}

TEST_CASE("gpu kernels: edge_aware_smoothness matches the CPU (float64) at the training shapes", "[gpu]") {
#if SFM_WITH_CUDA
  if (!cuda_available()) {
    SFM_SKIP("no CUDA device");
    return;
  }
  Rng rng(82);
  for (auto [B, C, H, W] : std::vector<std::array<int64_t, 4>>{{4, 3, 128, 416}, {12, 3, 192, 640}, {4, 3, 16, 52}, {2, 1, 5, 7}}) {
    INFO("B=" << B << " C=" << C << " " << H << "x" << W);
    Tensor d = Tensor::from_vector(lab::kink_free_disparity(B, H, W, 83 + H), Shape{B, 1, H, W}).set_requires_grad(true);
    Tensor img = rand_uniform(Shape{B, C, H, W}, rng, 0, 1, DType::F64);
    Tensor l = edge_aware_smoothness(d, img);
    l.backward();
    Tensor dg = d.detach().to(DType::F32).to(Device::CUDA), ig = img.to(DType::F32).to(Device::CUDA);
    Tensor one = Tensor::ones(Shape{1}, DType::F32, Device::CUDA);
    Tensor st = nan_gpu(Shape{2, B}), lo = nan_gpu(Shape{1}), gd = nan_gpu(d.shape());
    Tensor st2 = nan_gpu(Shape{2, B}), lo2 = nan_gpu(Shape{1}), gd2 = nan_gpu(d.shape());
    cuda::edge_smoothness_forward(dg.data<float>(), ig.data<float>(), B, C, H, W, st.data<float>(), lo.data<float>());
    cuda::edge_smoothness_backward(dg.data<float>(), ig.data<float>(), st.data<float>(), B, C, H, W, one.data<float>(),
                                   gd.data<float>());
    cuda::edge_smoothness_forward(dg.data<float>(), ig.data<float>(), B, C, H, W, st2.data<float>(), lo2.data<float>());
    cuda::edge_smoothness_backward(dg.data<float>(), ig.data<float>(), st2.data<float>(), B, C, H, W,
                                   one.data<float>(), gd2.data<float>());
    // The loss: float32 terms (a division, C differences, expf: a few ulp each) summed in
    // double: 1e-5. The gradient: <= 4 such terms and the per-entry share per pixel: 1e-5.
    CHECK(max_rel_err(lo, l) <= 1e-5);
    CHECK(max_rel_err(gd, d.grad()) <= 1e-5);
    CHECK(same_bits(st, st2));
    CHECK(same_bits(lo, lo2));
    CHECK(same_bits(gd, gd2));
    // Through the op on the device: the launchers' very bits.
    Tensor dop = dg.clone().set_requires_grad(true);
    Tensor lop = edge_aware_smoothness(dop, ig);
    lop.backward();
    CHECK(same_bits(lop, lo));
    CHECK(same_bits(dop.grad(), gd));
  }
#else
  SFM_SKIP("this build has no CUDA backend");
#endif
}
