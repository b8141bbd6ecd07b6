// Resampling ops: bilinear x2 upsampling (align_corners=False), integer-factor area
// downsampling and area resize (adaptive average pooling bins). Checks, dispatch, autograd.
// Weights: boundary/math/resample_math.h; CPU loops: cpu/resample.h.
#include "engine/autograd.h"
#include "cpu/resample.h"
#include "engine/op_checks.h"
#include "engine/ops.h"
#if SFM_WITH_CUDA
#include "kernels/resample.h"
#endif

namespace sfm {

namespace {

void upsample_fwd(const Tensor& x, const Tensor& y) {
  const int64_t planes = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3);
  SFM_BACKEND_CALL("upsample_bilinear2x", x, upsample2x_forward, x.data<T>(), y.data<T>(), planes, H, W);
}
void upsample_bwd(const Tensor& g, const Tensor& gx) {
  const int64_t planes = gx.dim(0) * gx.dim(1), H = gx.dim(2), W = gx.dim(3);
  SFM_BACKEND_CALL("upsample_bilinear2x backward", g, upsample2x_backward, g.data<T>(), gx.data<T>(), planes, H, W);
}
void area_fwd(const Tensor& x, const Tensor& y) {
  const int64_t planes = x.dim(0) * x.dim(1);
  SFM_BACKEND_CALL("resize_area", x, area_forward, x.data<T>(), y.data<T>(), planes, x.dim(2), x.dim(3), y.dim(2),
                   y.dim(3));
}
void area_bwd(const Tensor& g, const Tensor& gx) {
  const int64_t planes = gx.dim(0) * gx.dim(1);
  SFM_BACKEND_CALL("resize_area backward", g, area_backward, g.data<T>(), gx.data<T>(), planes, gx.dim(2), gx.dim(3),
                   g.dim(2), g.dim(3));
}

// Area resize to [h, w] with its backward, shared by downsample_area and resize_area.
Tensor area_op(const char* op, const Tensor& x, int64_t h, int64_t w) {
  Tensor y = Tensor::empty(Shape{x.dim(0), x.dim(1), h, w}, x.dtype(), x.device());
  area_fwd(x, y);
  Shape in_shape = x.shape();
  return record(op, y, {x}, [in_shape](const Tensor& g) -> std::vector<Tensor> {
    Tensor gx = Tensor::empty(in_shape, g.dtype(), g.device());
    area_bwd(g, gx);
    return {gx};
  });
}

}  // namespace

Tensor upsample_bilinear2x(const Tensor& x) {
  const char* op = "upsample_bilinear2x";
  check_rank(op, "x", x, 4, "[N,C,H,W]");
  check_nonempty(op, "x", x);
  Tensor y = Tensor::empty(Shape{x.dim(0), x.dim(1), 2 * x.dim(2), 2 * x.dim(3)}, x.dtype(), x.device());
  upsample_fwd(x, y);
  Shape in_shape = x.shape();
  return record(op, y, {x}, [in_shape](const Tensor& g) -> std::vector<Tensor> {
    Tensor gx = Tensor::empty(in_shape, g.dtype(), g.device());
    upsample_bwd(g, gx);
    return {gx};
  });
}

Tensor downsample_area(const Tensor& x, int factor) {
  const char* op = "downsample_area";
  check_rank(op, "x", x, 4, "[N,C,H,W]");
  check_nonempty(op, "x", x);
  SFM_CHECK(factor >= 1, op, ": factor must be >= 1, got ", factor);
  SFM_CHECK(x.dim(2) % factor == 0 && x.dim(3) % factor == 0, op, ": argument 'x' has shape ", x.shape().str(),
            ", expected H and W divisible by the factor ", factor);
  if (factor == 1) return x;
  return area_op(op, x, x.dim(2) / factor, x.dim(3) / factor);
}

Tensor resize_area(const Tensor& x, int64_t h, int64_t w) {
  const char* op = "resize_area";
  check_rank(op, "x", x, 4, "[N,C,H,W]");
  check_nonempty(op, "x", x);
  SFM_CHECK(h >= 1 && w >= 1, op, ": output size must be at least 1x1, got ", h, "x", w, " for x ", x.shape().str());
  if (h == x.dim(2) && w == x.dim(3)) return x;
  return area_op(op, x, h, w);
}

}  // namespace sfm
