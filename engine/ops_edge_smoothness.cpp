// edge_aware_smoothness: Monodepth2's edge-aware first-order smoothness of the mean-normalised
// disparity. Checks, dispatch, autograd. Math: boundary/math/edge_smoothness_math.h; CPU loops:
// cpu/edge_smoothness.cpp; CUDA: kernels/edge_smoothness.h.
#include <climits>

#include "engine/autograd.h"
#include "cpu/edge_smoothness.h"
#include "engine/op_checks.h"
#include "engine/ops.h"
#if SFM_WITH_CUDA
#include "kernels/edge_smoothness.h"
#endif

namespace sfm {

Tensor edge_aware_smoothness(const Tensor& disp, const Tensor& img) {
  const char* op = "edge_aware_smoothness";
  check_rank(op, "disp", disp, 4, "[B,1,H,W]");
  check_nonempty(op, "disp", disp);
  check_dim(op, "disp", disp, 1, 1, "one disparity channel");
  const int64_t B = disp.dim(0), H = disp.dim(2), W = disp.dim(3);
  check_rank(op, "img", img, 4, "[B,C,H,W]");
  check_like(op, "img", img, "disp", disp);
  check_nonempty(op, "img", img);
  const int64_t C = img.dim(1);
  check_shape(op, "img", img, Shape{B, C, H, W});
  SFM_CHECK(H * W < (int64_t)INT_MAX, op, ": argument 'disp' has shape ", disp.shape().str(),
            ", an H*W plane too large (max ", INT_MAX, " pixels)");

  Tensor out = Tensor::empty(Shape{1}, disp.dtype(), disp.device());
  // Per entry: the mean disparity and the entry's share of the loss, for the backward.
  Tensor stats = Tensor::empty(Shape{2, B}, disp.dtype(), disp.device());
  SFM_BACKEND_CALL(op, disp, edge_smoothness_forward, disp.data<T>(), img.data<T>(), B, C, H, W, stats.data<T>(),
                   out.data<T>());
  // The image takes no gradient (as the photometric images): its data only, not its history.
  Tensor d = disp.detach(), im = img.detach();
  return record(op, out, {disp}, [d, im, stats, B, C, H, W](const Tensor& g) -> std::vector<Tensor> {
    SFM_CHECK(g.defined() && g.shape() == Shape{1} && g.dtype() == d.dtype() && g.device() == d.device(),
              "edge_aware_smoothness: backward got an output gradient ",
              g.defined() ? g.desc() : std::string("(undefined)"), ", expected ", dtype_name(d.dtype()), " ",
              device_name(d.device()), " [1]");
    Tensor gd = Tensor::empty(d.shape(), d.dtype(), d.device());
    SFM_BACKEND_CALL("edge_aware_smoothness backward", d, edge_smoothness_backward, d.data<T>(), im.data<T>(),
                     static_cast<const T*>(stats.data<T>()), B, C, H, W, static_cast<const T*>(g.data<T>()),
                     gd.data<T>());
    return {gd};
  });
}

}  // namespace sfm
