// Geometry ops: pose_vec2mat, inverse_warp and the fused photometric loss. Checks, dispatch,
// autograd. Per-pixel math: boundary/math/warp_math.h; CPU loops: cpu/warp.cpp.
#include <climits>

#include "engine/autograd.h"
#include "cpu/warp.h"
#include "engine/op_checks.h"
#include "engine/ops.h"
#if SFM_WITH_CUDA
#include "kernels/warp.h"
#endif

namespace sfm {

namespace {

bool wants_grad(const Tensor& t) { return t.defined() && (t.requires_grad() || t.grad_fn() != nullptr); }

// The per-pixel math indexes a plane with int.
void check_plane(const char* op, const char* arg, const Tensor& t, int64_t H, int64_t W) {
  SFM_CHECK(H * W < (int64_t)INT_MAX, op, ": argument '", arg, "' has shape ", t.shape().str(),
            ", an H*W plane too large (max ", INT_MAX, " pixels)");
}

// The gradient arriving at a node has the output's dtype and device; say so if not.
void check_grad(const char* op, const Tensor& g, const Tensor& like, const Shape& shape) {
  SFM_CHECK(g.defined() && g.shape() == shape && g.dtype() == like.dtype() && g.device() == like.device(), op,
            ": backward got an output gradient ", g.defined() ? g.desc() : std::string("(undefined)"),
            ", expected ", dtype_name(like.dtype()), " ", device_name(like.device()), " ", shape.str());
}

}  // namespace

// ------------------------------------------------------------------ pose_vec2mat
Tensor pose_vec2mat(const Tensor& pose, RotationMode mode) {
  const char* op = "pose_vec2mat";
  check_rank(op, "pose", pose, 2, "[B,6]");
  check_dim(op, "pose", pose, 1, 6, "the pose parameters (tx,ty,tz,rx,ry,rz)");
  check_nonempty(op, "pose", pose);
  const int64_t B = pose.dim(0);
  Tensor out = Tensor::empty(Shape{B, 3, 4}, pose.dtype(), pose.device());
  SFM_BACKEND_CALL(op, pose, pose_vec2mat_forward, pose.data<T>(), B, mode, out.data<T>());
  Tensor p = pose.detach();
  Shape out_shape = out.shape();
  return record(op, out, {pose}, [p, B, mode, out_shape](const Tensor& g) -> std::vector<Tensor> {
    check_grad("pose_vec2mat", g, p, out_shape);
    Tensor gp = Tensor::empty(p.shape(), p.dtype(), p.device());
    SFM_BACKEND_CALL("pose_vec2mat backward", g, pose_vec2mat_backward, p.data<T>(), g.data<T>(), B, mode,
                     gp.data<T>());
    return {gp};
  });
}

// ------------------------------------------------------------------ inverse_warp
Tensor inverse_warp(const Tensor& src, const Tensor& depth, const Tensor& pose, const Tensor& K, Padding padding,
                    Tensor* valid, RotationMode mode) {
  const char* op = "inverse_warp";
  check_rank(op, "src", src, 4, "[B,C,H,W]");
  check_nonempty(op, "src", src);
  const int64_t B = src.dim(0), C = src.dim(1), H = src.dim(2), W = src.dim(3);
  check_like(op, "depth", depth, "src", src);
  check_shape(op, "depth", depth, Shape{B, 1, H, W});
  check_like(op, "pose", pose, "src", src);
  check_shape(op, "pose", pose, Shape{B, 6});
  check_like(op, "K", K, "src", src);
  check_shape(op, "K", K, Shape{B, 3, 3});
  check_plane(op, "src", src, H, W);
  const WarpDims dims{B, C, H, W};

  Tensor out = Tensor::empty(src.shape(), src.dtype(), src.device());
  Tensor v = valid ? Tensor::empty(Shape{B, 1, H, W}, src.dtype(), src.device()) : Tensor();
  SFM_BACKEND_CALL(op, src, inverse_warp_forward, src.data<T>(), depth.data<T>(), pose.data<T>(), K.data<T>(), dims,
                   padding, mode, out.data<T>(), valid ? v.data<T>() : nullptr);
  if (valid) *valid = v;

  // Saved data without history (no gradient goes to K; the node keeps the inputs themselves).
  Tensor s = src.detach(), d = depth.detach(), p = pose.detach(), k = K.detach();
  const bool want_src = wants_grad(src), want_depth = wants_grad(depth), want_pose = wants_grad(pose);
  return record(op, out, {src, depth, pose, K}, [=](const Tensor& g) -> std::vector<Tensor> {
    check_grad("inverse_warp", g, s, s.shape());
    Tensor gs = want_src ? Tensor::empty(s.shape(), s.dtype(), s.device()) : Tensor();
    Tensor gd = want_depth ? Tensor::empty(d.shape(), d.dtype(), d.device()) : Tensor();
    Tensor gp = want_pose ? Tensor::empty(p.shape(), p.dtype(), p.device()) : Tensor();
    SFM_BACKEND_CALL("inverse_warp backward", s, inverse_warp_backward, s.data<T>(), d.data<T>(), p.data<T>(),
                     k.data<T>(), dims, padding, mode, g.data<T>(), want_src ? gs.data<T>() : nullptr,
                     want_depth ? gd.data<T>() : nullptr, want_pose ? gp.data<T>() : nullptr);
    return {gs, gd, gp, Tensor()};
  });
}

// ------------------------------------------------------------------ photometric_loss
Tensor photometric_loss(const Tensor& tgt, const Tensor& srcs, const Tensor& depth, const Tensor& poses,
                        const Tensor& K, const Tensor& mask, const PhotometricOptions& opt, Tensor* warped) {
  const char* op = "photometric_loss";
  const auto [B, S, C, H, W] = check_view_synthesis_inputs(op, tgt, srcs, depth, poses, K);
  if (mask.defined()) {
    check_like(op, "mask", mask, "tgt", tgt);
    check_shape(op, "mask", mask, Shape{B, S, H, W});
  }
  check_plane(op, "tgt", tgt, H, W);
  const PhotometricDims dims{B, S, C, H, W};

  Tensor out = Tensor::empty(Shape{1}, tgt.dtype(), tgt.device());
  Tensor wimg = warped ? Tensor::empty(srcs.shape(), tgt.dtype(), tgt.device()) : Tensor();
  SFM_BACKEND_CALL(op, tgt, photometric_forward, tgt.data<T>(), srcs.data<T>(), depth.data<T>(), poses.data<T>(),
                   K.data<T>(), mask.defined() ? mask.data<T>() : nullptr, dims, opt, out.data<T>(),
                   warped ? wimg.data<T>() : nullptr);
  if (warped) *warped = wimg;

  // The images and K take no gradient: keep their data only (detached), not their history.
  Tensor t = tgt.detach(), ss = srcs.detach(), d = depth.detach(), p = poses.detach(), k = K.detach();
  Tensor mk = mask.defined() ? mask.detach() : Tensor();
  const bool want_depth = wants_grad(depth), want_pose = wants_grad(poses), want_mask = wants_grad(mask);
  return record(op, out, {depth, poses, mask}, [=](const Tensor& g) -> std::vector<Tensor> {
    check_grad("photometric_loss", g, t, Shape{1});
    Tensor gd = want_depth ? Tensor::empty(d.shape(), d.dtype(), d.device()) : Tensor();
    Tensor gp = want_pose ? Tensor::empty(p.shape(), p.dtype(), p.device()) : Tensor();
    Tensor gm = want_mask ? Tensor::empty(mk.shape(), mk.dtype(), mk.device()) : Tensor();
    // The upstream gradient is read where it lives (on CUDA: on the device, no host round trip).
    SFM_BACKEND_CALL("photometric_loss backward", t, photometric_backward, t.data<T>(), ss.data<T>(), d.data<T>(),
                     p.data<T>(), k.data<T>(), mk.defined() ? mk.data<T>() : nullptr, dims, opt,
                     static_cast<const T*>(g.data<T>()), want_depth ? gd.data<T>() : nullptr,
                     want_pose ? gp.data<T>() : nullptr, want_mask ? gm.data<T>() : nullptr);
    return {gd, gp, gm};
  });
}

}  // namespace sfm
