// Tensor basics, the tape, and the elementwise / shape / reduction ops.
#include <catch2/catch.hpp>

#include "tests/test_support.h"

#include "boundary/allocator.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "tests/gradcheck.h"

using namespace sfm;
using sfm::test::grad_input;

TEST_CASE("tensor: creation, views, dtype conversion", "[tensor]") {
  Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, Shape{2, 3});
  REQUIRE(t.shape() == Shape{2, 3});
  REQUIRE(t.numel() == 6);
  Tensor v = t.view(Shape{3, 2});
  v.data<float>()[0] = 9;  // a view shares storage
  REQUIRE(t.data<float>()[0] == 9);
  Tensor b = t.batch_slice(1, 2);
  REQUIRE(b.shape() == Shape{1, 3});
  REQUIRE(b.to_vector() == std::vector<float>{4, 5, 6});
  Tensor d = t.to(DType::F64);
  REQUIRE(d.dtype() == DType::F64);
  REQUIRE(d.to_vector_f64()[5] == 6.0);
  Tensor c = t.clone();
  c.data<float>()[1] = -1;
  REQUIRE(t.data<float>()[1] == 2);
  REQUIRE_THROWS_WITH(t.data<double>(), Catch::Contains("float32 cpu [2, 3]"));
  REQUIRE_THROWS_WITH(t.view(Shape{4}), Catch::Contains("cannot view [2, 3] as [4]"));
}

TEST_CASE("allocator: current and peak bytes", "[tensor]") {
  Allocator& a = allocator_for(Device::CPU);
  size_t before = a.stats().current_bytes;
  a.reset_peak();
  {
    Tensor t = Tensor::empty(Shape{1000}, DType::F32);
    REQUIRE(a.stats().current_bytes == before + 4000);
  }
  REQUIRE(a.stats().current_bytes == before);
  REQUIRE(a.stats().peak_bytes >= before + 4000);
}

TEST_CASE("autograd: shared inputs accumulate, no-grad records nothing", "[autograd]") {
  Tensor x = Tensor::from_vector(std::vector<double>{1.5, -2.0}, Shape{2}).set_requires_grad(true);
  Tensor y = sum(mul(x, x));  // d/dx = 2x, x used twice in one op
  y.backward();
  REQUIRE(x.grad().to_vector_f64() == std::vector<double>{3.0, -4.0});
  x.zero_grad();
  Tensor z = sum(add(mul_scalar(x, 3.0), x));  // two paths to x
  z.backward();
  REQUIRE(x.grad().to_vector_f64() == std::vector<double>{4.0, 4.0});
  {
    NoGradGuard ng;
    Tensor w = mul(x, x);
    REQUIRE(w.grad_fn() == nullptr);
  }
  REQUIRE_THROWS_WITH(mul(x, x).backward(), Catch::Contains("non-scalar root"));
}

TEST_CASE("gradcheck: elementwise ops", "[gradcheck][elementwise]") {
  Rng rng(1);
  Shape s{2, 3, 4, 5};
  auto a = grad_input(s, rng), b = grad_input(s, rng, 0.5, 2.0), pos = grad_input(s, rng, 0.3, 3.0);
  REQUIRE_GRADCHECK([](auto& in) { return relu(in[0]); }, {a});
  REQUIRE_GRADCHECK([](auto& in) { return sigmoid(mul_scalar(in[0], 4.0)); }, {a});
  REQUIRE_GRADCHECK([](auto& in) { return affine(in[0], 10.0, 0.01); }, {a});
  REQUIRE_GRADCHECK([](auto& in) { return reciprocal(in[0]); }, {pos});
  REQUIRE_GRADCHECK([](auto& in) { return abs(in[0]); }, {a});
  REQUIRE_GRADCHECK([](auto& in) { return log(in[0]); }, {pos});
  REQUIRE_GRADCHECK([](auto& in) { return exp(in[0]); }, {a});
  REQUIRE_GRADCHECK([](auto& in) { return sub(in[0], in[1]); }, {a, b});
  REQUIRE_GRADCHECK([](auto& in) { return mul(in[0], in[1]); }, {a, b});
  REQUIRE_GRADCHECK([](auto& in) { return div(in[0], in[1]); }, {a, b});
}

TEST_CASE("gradcheck: shape ops and reductions", "[gradcheck][shape]") {
  Rng rng(2);
  auto a = grad_input(Shape{2, 3, 5, 7}, rng), b = grad_input(Shape{2, 1, 5, 7}, rng);
  REQUIRE_GRADCHECK([](auto& in) { return concat_channels({in[0], in[1], in[0]}); }, {a, b});
  REQUIRE_GRADCHECK([](auto& in) { return slice_channels(in[0], 1, 3); }, {a});
  REQUIRE_GRADCHECK([](auto& in) { return crop(in[0], 4, 6); }, {a});
  REQUIRE_GRADCHECK([](auto& in) { return reshape(in[0], Shape{6, 35}); }, {a});
  REQUIRE_GRADCHECK([](auto& in) { return mean(in[0]); }, {a});
  REQUIRE_GRADCHECK([](auto& in) { return mean_hw(in[0]); }, {a});
}

TEST_CASE("shape ops: values and errors", "[shape]") {
  Tensor a = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}, Shape{2, 2, 1, 2});
  Tensor b = Tensor::from_vector(std::vector<float>{9, 10, 11, 12}, Shape{2, 1, 1, 2});
  REQUIRE(concat_channels({a, b}).to_vector() == std::vector<float>{1, 2, 3, 4, 9, 10, 5, 6, 7, 8, 11, 12});
  REQUIRE(slice_channels(a, 1, 2).to_vector() == std::vector<float>{3, 4, 7, 8});
  REQUIRE(crop(a, 1, 1).to_vector() == std::vector<float>{1, 3, 5, 7});
  REQUIRE(crop(a, 1, 2).same(a));  // free when nothing is cut
  REQUIRE(mean_hw(a).to_vector() == std::vector<float>{1.5, 3.5, 5.5, 7.5});
  Tensor c = Tensor::zeros(Shape{3, 1, 1, 2});
  REQUIRE_THROWS_WITH(concat_channels({a, c}), Catch::Contains("xs[1]") && Catch::Contains("[3, 1, 1, 2]"));
  REQUIRE_THROWS_WITH(crop(a, 2, 1), Catch::Contains("crop") && Catch::Contains("[2, 2, 1, 2]"));
  REQUIRE_THROWS_WITH(add(a, b), Catch::Contains("add") && Catch::Contains("[2, 1, 1, 2]"));
  REQUIRE_THROWS_WITH(add(a, a.to(DType::F64)), Catch::Contains("float64"));
}

TEST_CASE("gradcheck: catches a wrong backward", "[gradcheck]") {
  // An op whose recorded gradient is off by 10%: the checker must reject it.
  auto wrong_square = [](const std::vector<Tensor>& in) {
    Tensor x = in[0];
    Tensor y;
    {
      NoGradGuard ng;
      y = mul(x, x);
    }
    return record("wrong_square", y, {x}, [x](const Tensor& g) -> std::vector<Tensor> {
      return {mul(g, mul_scalar(x, 2.2))};
    });
  };
  Rng rng(3);
  auto r = sfm::test::gradcheck(wrong_square, {grad_input(Shape{5}, rng)});
  REQUIRE_FALSE(r.ok);
}

TEST_CASE("allocator: large CPU blocks are reused, not fetched from the system again", "[tensor]") {
#if defined(__SANITIZE_ADDRESS__)
  SFM_SKIP("the CPU block cache is off under AddressSanitizer (so it sees every use after free)");
  return;
#endif
  Allocator& a = allocator_for(Device::CPU);
  { Tensor warm = Tensor::empty(Shape{3 << 20}, DType::F32); }  // 12 MiB, returned to the cache
  size_t sys = a.stats().system_allocs;
  size_t reserved = a.stats().reserved_bytes;
  for (int i = 0; i < 5; ++i) {
    Tensor t = Tensor::empty(Shape{3 << 20}, DType::F32);
    t.fill_(1.0);
  }
  REQUIRE(a.stats().system_allocs == sys);
  REQUIRE(a.stats().reserved_bytes == reserved);
  a.release_cached();
  REQUIRE(a.stats().reserved_bytes < reserved);
}
