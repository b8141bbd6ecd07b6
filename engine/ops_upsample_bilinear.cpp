// upsample_bilinear: bilinear resize to any size, align_corners=False (PyTorch's
// F.interpolate(x, size=(H, W), mode="bilinear")). Checks, dispatch, autograd.
// Taps: boundary/math/upsample_bilinear_math.h; CPU loops: cpu/upsample_bilinear.h;
// CUDA: kernels/upsample_bilinear.h.
#include <climits>

#include "engine/autograd.h"
#include "cpu/upsample_bilinear.h"
#include "engine/op_checks.h"
#include "engine/ops.h"
#if SFM_WITH_CUDA
#include "kernels/upsample_bilinear.h"
#endif

namespace sfm {

Tensor upsample_bilinear(const Tensor& x, int64_t H, int64_t W) {
  const char* op = "upsample_bilinear";
  check_rank(op, "x", x, 4, "[N,C,h,w]");
  check_nonempty(op, "x", x);
  SFM_CHECK(H >= 1 && W >= 1, op, ": output size must be at least 1x1, got ", H, "x", W, " for x ", x.shape().str());
  SFM_CHECK(H * W < (int64_t)INT_MAX && x.dim(2) * x.dim(3) < (int64_t)INT_MAX, op, ": output ", H, "x", W,
            " or input ", x.shape().str(), " has a plane too large (max ", INT_MAX, " pixels)");
  if (H == x.dim(2) && W == x.dim(3)) return x;  // the taps are the identity
  const int64_t planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3);
  Tensor y = Tensor::empty(Shape{x.dim(0), x.dim(1), H, W}, x.dtype(), x.device());
  SFM_BACKEND_CALL(op, x, upsample_bilinear_forward, x.data<T>(), y.data<T>(), planes, h, w, H, W);
  const Shape in_shape = x.shape(), out_shape = y.shape();
  return record(op, y, {x}, [in_shape, out_shape, planes, h, w, H, W](const Tensor& g) -> std::vector<Tensor> {
    SFM_CHECK(g.defined() && g.shape() == out_shape, "upsample_bilinear: backward got an output gradient ",
              g.defined() ? g.desc() : std::string("(undefined)"), ", expected ", out_shape.str());
    Tensor gx = Tensor::empty(in_shape, g.dtype(), g.device());
    SFM_BACKEND_CALL("upsample_bilinear backward", g, upsample_bilinear_backward, g.data<T>(), gx.data<T>(), planes,
                     h, w, H, W);
    return {gx};
  });
}

}  // namespace sfm
