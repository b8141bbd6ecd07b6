// Reductions: sum, mean (to a one-element tensor) and the spatial mean used by the pose head.
#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "cpu/reduce.h"
#include "engine/op_checks.h"
#include "engine/ops.h"
#if SFM_WITH_CUDA
#include "kernels/reduce.h"
#endif

namespace sfm {

namespace {

// out[0] = scale * sum(x)
Tensor scaled_sum(const char* op, const Tensor& x, double scale) {
  check_defined(op, "x", x);
  Tensor out = Tensor::empty(Shape{1}, x.dtype(), x.device());
  SFM_BACKEND_CALL(op, x, scaled_sum, x.data<T>(), x.numel(), scale, out.data<T>());
  Shape in_shape = x.shape();
  return record(op, out, {x}, [in_shape, scale](const Tensor& g) -> std::vector<Tensor> {
    Tensor gx = Tensor::empty(in_shape, g.dtype(), g.device());
    SFM_BACKEND_CALL("sum backward", g, broadcast_scalar, g.data<T>(), scale, gx.data<T>(), gx.numel());
    return {gx};
  });
}

}  // namespace

Tensor sum(const Tensor& x) { return scaled_sum("sum", x, 1.0); }
Tensor mean(const Tensor& x) {
  check_defined("mean", "x", x);
  check_nonempty("mean", "x", x);
  return scaled_sum("mean", x, 1.0 / (double)x.numel());
}

Tensor mean_hw(const Tensor& x) {
  const char* op = "mean_hw";
  check_rank(op, "x", x, 4, "[N,C,H,W]");
  check_nonempty(op, "x", x);
  int64_t planes = x.dim(0) * x.dim(1), hw = x.dim(2) * x.dim(3);
  Tensor out = Tensor::empty(Shape{x.dim(0), x.dim(1)}, x.dtype(), x.device());
  SFM_BACKEND_CALL(op, x, plane_mean, x.data<T>(), planes, hw, out.data<T>());
  Shape in_shape = x.shape();
  return record(op, out, {x}, [in_shape, planes, hw](const Tensor& g) -> std::vector<Tensor> {
    Tensor gx = Tensor::empty(in_shape, g.dtype(), g.device());
    SFM_BACKEND_CALL("mean_hw backward", g, plane_broadcast, g.data<T>(), planes, hw, 1.0 / (double)hw, gx.data<T>());
    return {gx};
  });
}

bool all_finite(const Tensor& x) {
  check_defined("all_finite", "x", x);
  if (x.is_cuda()) {
    // A reduction kernel would avoid the copy; this is called once per batch, not per op.
    for (float v : x.to_vector())
      if (!std::isfinite(v)) return false;
    return true;
  }
  return dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = x.data<T>();
    int64_t n = x.numel();
    int64_t chunks = (n + cpu::kReduceChunk - 1) / cpu::kReduceChunk;
    std::vector<char> ok(chunks, 1);
    parallel_for(chunks, [&](int64_t c) {
      int64_t b = c * cpu::kReduceChunk, e = std::min(n, b + cpu::kReduceChunk);
      for (int64_t i = b; i < e; ++i)
        if (!std::isfinite(p[i])) ok[c] = 0;
    }, 8);
    for (char v : ok)
      if (!v) return false;
    return true;
  });
}

}  // namespace sfm
