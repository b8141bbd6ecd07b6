// min_reprojection_loss (Monodepth2's photometric objective fused with the warp): checks,
// dispatch, autograd. Per-pixel math: boundary/math/min_reprojection_math.h; CPU loops:
// cpu/min_reprojection.cpp; CUDA: kernels/min_reprojection.cu.
#include <climits>

#include "engine/autograd.h"
#include "cpu/min_reprojection.h"
#include "engine/op_checks.h"
#include "engine/ops.h"
#if SFM_WITH_CUDA
#include "kernels/min_reprojection.h"
#endif

namespace sfm {

namespace {
bool wants_grad(const Tensor& t) { return t.defined() && (t.requires_grad() || t.grad_fn() != nullptr); }
}  // namespace

Tensor min_reprojection_loss(const Tensor& tgt, const Tensor& srcs, const Tensor& depth, const Tensor& poses,
                             const Tensor& K, const MinReprojectionOptions& opt, Tensor* chosen, Tensor* warped) {
  const char* op = "min_reprojection_loss";
  const auto [B, S, C, H, W] = check_view_synthesis_inputs(op, tgt, srcs, depth, poses, K);
  SFM_CHECK(H * W < (int64_t)INT_MAX, op, ": argument 'tgt' has shape ", tgt.shape().str(),
            ", an H*W plane too large (max ", INT_MAX, " pixels)");
  SFM_CHECK(!opt.use_ssim || (H >= 2 && W >= 2), op, ": argument 'tgt' has shape ", tgt.shape().str(),
            ", but the SSIM window's reflection padding needs H >= 2 and W >= 2 (or use_ssim = false)");
  SFM_CHECK(!opt.use_ssim || (opt.ssim_weight >= 0 && opt.ssim_weight <= 1), op, ": option ssim_weight = ",
            opt.ssim_weight, ", expected a value in [0, 1]");
  SFM_CHECK(opt.noise_amplitude >= 0, op, ": option noise_amplitude = ", opt.noise_amplitude, ", expected >= 0");
  const MinReprojectionDims dims{B, S, C, H, W};

  Tensor out = Tensor::empty(Shape{1}, tgt.dtype(), tgt.device());
  Tensor codes = Tensor::empty(Shape{B, 1, H, W}, tgt.dtype(), tgt.device());
  Tensor wimg = warped ? Tensor::empty(srcs.shape(), tgt.dtype(), tgt.device()) : Tensor();
  SFM_BACKEND_CALL(op, tgt, min_reprojection_forward, tgt.data<T>(), srcs.data<T>(), depth.data<T>(), poses.data<T>(),
                   K.data<T>(), dims, opt, out.data<T>(), codes.data<T>(), warped ? wimg.data<T>() : nullptr);
  if (chosen) *chosen = codes.clone();  // the backward reads codes: hand out a copy
  if (warped) *warped = wimg;

  // The images and K take no gradient: keep their data only (detached), not their history.
  Tensor t = tgt.detach(), ss = srcs.detach(), d = depth.detach(), p = poses.detach(), k = K.detach();
  const bool want_depth = wants_grad(depth), want_pose = wants_grad(poses);
  return record(op, out, {depth, poses}, [=](const Tensor& g) -> std::vector<Tensor> {
    SFM_CHECK(g.defined() && g.shape() == Shape{1} && g.dtype() == t.dtype() && g.device() == t.device(),
              "min_reprojection_loss: backward got an output gradient ",
              g.defined() ? g.desc() : std::string("(undefined)"), ", expected ", dtype_name(t.dtype()), " ",
              device_name(t.device()), " [1]");
    Tensor gd = want_depth ? Tensor::empty(d.shape(), d.dtype(), d.device()) : Tensor();
    Tensor gp = want_pose ? Tensor::empty(p.shape(), p.dtype(), p.device()) : Tensor();
    SFM_BACKEND_CALL("min_reprojection_loss backward", t, min_reprojection_backward, t.data<T>(), ss.data<T>(),
                     d.data<T>(), p.data<T>(), k.data<T>(), static_cast<const T*>(codes.data<T>()), dims, opt,
                     static_cast<const T*>(g.data<T>()), want_depth ? gd.data<T>() : nullptr,
                     want_pose ? gp.data<T>() : nullptr);
    return {gd, gp};
  });
}

}  // namespace sfm
