// The example of docs/extending.md, compiled and checked here. The lines between the two
// `extending.md example` markers are quoted verbatim in the doc; the ctest test
// `docs_extending_example` (scripts/check_doc_example.sh) fails when the two drift apart.
#include <catch2/catch.hpp>

#include <cmath>

#include "engine/rng.h"
#include "tests/gradcheck.h"

// ---- extending.md example begin
#include "engine/autograd.h"
#include "boundary/error.h"
#include "boundary/host_device.h"
#include "engine/tensor.h"

namespace my_ops {

// 1. The per-element math, once, for the CPU loop and a CUDA kernel (SFM_HD).
SFM_HD double charbonnier(double d, double eps) { return std::sqrt(d * d + eps * eps); }
SFM_HD double charbonnier_grad(double d, double eps) { return d / std::sqrt(d * d + eps * eps); }

// 2. The CPU loop: the reference every other backend is compared with.
template <class T>
void charbonnier_forward_cpu(const T* x, const T* y, int64_t n, double eps, T* loss) {
  double acc = 0;  // one sum in double, in index order: deterministic
  for (int64_t i = 0; i < n; ++i) acc += charbonnier((double)x[i] - (double)y[i], eps);
  *loss = (T)(acc / (double)n);
}

// 3. The op: checks that name the op and the argument, the forward, and the tape node.
//    mean over elements of sqrt((x - y)^2 + eps^2), a robust L1; gradient to x only.
sfm::Tensor charbonnier_loss(const sfm::Tensor& x, const sfm::Tensor& y, double eps) {
  using sfm::Tensor;
  SFM_CHECK(x.defined() && y.defined() && x.shape() == y.shape() && x.dtype() == y.dtype(),
            "charbonnier_loss: x and y must have one shape and dtype, got ", x.desc(), " and ", y.desc());
  SFM_CHECK(x.device() == sfm::Device::CPU, "charbonnier_loss: CPU only in this example, got ", x.desc());
  SFM_CHECK(eps > 0, "charbonnier_loss: eps must be > 0, got ", eps);
  const int64_t n = x.numel();
  Tensor out = Tensor::empty(sfm::Shape{1}, x.dtype(), x.device());
  if (x.dtype() == sfm::DType::F64)
    charbonnier_forward_cpu(x.data<double>(), y.data<double>(), n, eps, out.data<double>());
  else
    charbonnier_forward_cpu(x.data<float>(), y.data<float>(), n, eps, out.data<float>());
  Tensor xs = x.detach(), ys = y.detach();  // saved for backward (never `out` itself)
  return sfm::record("charbonnier_loss", out, {x}, [xs, ys, n, eps](const Tensor& g) -> std::vector<Tensor> {
    Tensor gx = Tensor::empty(xs.shape(), xs.dtype(), xs.device());
    const double scale = g.item() / (double)n;
    auto run = [&](auto* gxp, const auto* xp, const auto* yp) {
      for (int64_t i = 0; i < n; ++i) gxp[i] = scale * charbonnier_grad((double)xp[i] - (double)yp[i], eps);
    };
    if (xs.dtype() == sfm::DType::F64) run(gx.data<double>(), xs.data<double>(), ys.data<double>());
    else run(gx.data<float>(), xs.data<float>(), ys.data<float>());
    return {gx};
  });
}

}  // namespace my_ops
// ---- extending.md example end

using namespace sfm;

TEST_CASE("extending.md example: charbonnier_loss values, float64 gradient check, errors", "[extending]") {
  Rng rng(5);
  Tensor x = Tensor::from_vector(std::vector<double>{0.5, -1.0, 2.0}, Shape{3});
  Tensor y = Tensor::from_vector(std::vector<double>{0.5, 1.0, -2.0}, Shape{3});
  // mean(sqrt(0 + eps^2), sqrt(4 + eps^2), sqrt(16 + eps^2)) by hand, eps = 0.1
  const double want = (0.1 + std::sqrt(4.01) + std::sqrt(16.01)) / 3;
  CHECK(std::fabs(my_ops::charbonnier_loss(x, y, 0.1).item() - want) < 1e-15);
  Tensor target = test::grad_input(Shape{2, 3, 5, 7}, rng);
  REQUIRE_GRADCHECK([target](auto& in) { return my_ops::charbonnier_loss(in[0], target, 0.05); },
                    {test::grad_input(Shape{2, 3, 5, 7}, rng)});
  REQUIRE_THROWS_WITH(my_ops::charbonnier_loss(x, Tensor::zeros(Shape{4}), 0.1), Catch::Contains("charbonnier_loss"));
  REQUIRE_THROWS_WITH(my_ops::charbonnier_loss(x, y, 0.0), Catch::Contains("eps"));
}
