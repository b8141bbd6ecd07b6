// Regularisers of SfMLearner: second-order smoothness, explainability cross-entropy (sigmoid
// mask and 2-class softmax forms) and the softmax mask. Checks, dispatch, autograd.
// Per-element math: boundary/math/loss_math.h; CPU loops: cpu/loss.cpp.
#include "engine/autograd.h"
#include "cpu/loss.h"
#include "boundary/math/loss_math.h"
#include "engine/op_checks.h"
#include "engine/ops.h"
#if SFM_WITH_CUDA
#include "kernels/loss.h"
#endif

namespace sfm {

namespace {

void check_grad(const char* op, const Tensor& g, const Tensor& like, const Shape& shape) {
  SFM_CHECK(g.defined() && g.shape() == shape && g.dtype() == like.dtype() && g.device() == like.device(), op,
            ": backward got an output gradient ", g.defined() ? g.desc() : std::string("(undefined)"),
            ", expected ", dtype_name(like.dtype()), " ", device_name(like.device()), " ", shape.str());
}

// logits [B,2S,H,W]: an even, non-zero channel count.
void check_pairs(const char* op, const Tensor& logits) {
  check_rank(op, "logits", logits, 4, "[B,2S,H,W]");
  check_nonempty(op, "logits", logits);
  SFM_CHECK(logits.dim(1) % 2 == 0, op, ": argument 'logits' has shape ", logits.shape().str(),
            ", expected an even channel count 2S (a logit pair per source) (dim 1)");
}

}  // namespace

Tensor smoothness_loss(const Tensor& x) {
  const char* op = "smoothness_loss";
  check_rank(op, "x", x, 4, "[B,C,H,W]");
  check_nonempty(op, "x", x);
  const int64_t planes = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3);
  // Each term's mean is over its own origins; an empty term (map too small) contributes 0.
  double inv_count[math::kSmoothTerms];
  for (int k = 0; k < math::kSmoothTerms; ++k) {
    long long n = planes * math::smooth_term_count(k, H, W);
    inv_count[k] = n > 0 ? 1.0 / (double)n : 0.0;
  }
  Tensor out = Tensor::empty(Shape{1}, x.dtype(), x.device());
  SFM_BACKEND_CALL(op, x, smoothness_forward, x.data<T>(), planes, H, W, inv_count, out.data<T>());
  Tensor xs = x.detach();
  return record(op, out, {x}, [xs, planes, H, W, inv_count](const Tensor& g) -> std::vector<Tensor> {
    check_grad("smoothness_loss", g, xs, Shape{1});
    Tensor gx = Tensor::empty(xs.shape(), xs.dtype(), xs.device());
    SFM_BACKEND_CALL("smoothness_loss backward", xs, smoothness_backward, xs.data<T>(), planes, H, W, inv_count,
                     static_cast<const T*>(g.data<T>()), gx.data<T>());
    return {gx};
  });
}

Tensor explainability_loss(const Tensor& mask) {
  const char* op = "explainability_loss";
  check_rank(op, "mask", mask, 4, "[B,S,H,W]");
  check_nonempty(op, "mask", mask);
  const int64_t n = mask.numel();
  Tensor out = Tensor::empty(Shape{1}, mask.dtype(), mask.device());
  SFM_BACKEND_CALL(op, mask, explainability_forward, mask.data<T>(), n, out.data<T>());
  Tensor m = mask.detach();
  return record(op, out, {mask}, [m, n](const Tensor& g) -> std::vector<Tensor> {
    check_grad("explainability_loss", g, m, Shape{1});
    Tensor gm = Tensor::empty(m.shape(), m.dtype(), m.device());
    SFM_BACKEND_CALL("explainability_loss backward", m, explainability_backward, m.data<T>(), n,
                     static_cast<const T*>(g.data<T>()), gm.data<T>());
    return {gm};
  });
}

Tensor explainability_loss_softmax(const Tensor& logits) {
  const char* op = "explainability_loss_softmax";
  check_pairs(op, logits);
  const int64_t B = logits.dim(0), S = logits.dim(1) / 2, hw = logits.dim(2) * logits.dim(3);
  Tensor out = Tensor::empty(Shape{1}, logits.dtype(), logits.device());
  SFM_BACKEND_CALL(op, logits, softmax_ce_forward, logits.data<T>(), B, S, hw, out.data<T>());
  Tensor l = logits.detach();
  return record(op, out, {logits}, [l, B, S, hw](const Tensor& g) -> std::vector<Tensor> {
    check_grad("explainability_loss_softmax", g, l, Shape{1});
    Tensor gl = Tensor::empty(l.shape(), l.dtype(), l.device());
    SFM_BACKEND_CALL("explainability_loss_softmax backward", l, softmax_ce_backward, l.data<T>(), B, S, hw,
                     static_cast<const T*>(g.data<T>()), gl.data<T>());
    return {gl};
  });
}

Tensor softmax_pairs_mask(const Tensor& logits) {
  const char* op = "softmax_pairs_mask";
  check_pairs(op, logits);
  const int64_t B = logits.dim(0), S = logits.dim(1) / 2, H = logits.dim(2), W = logits.dim(3), hw = H * W;
  Tensor out = Tensor::empty(Shape{B, S, H, W}, logits.dtype(), logits.device());
  // (Before the one dispatch helper, this op's CUDA forward had been written into the branch
  // of explainability_loss_softmax where it could never run, and a CUDA tensor here failed.)
  SFM_BACKEND_CALL(op, logits, pairs_mask_forward, logits.data<T>(), B, S, hw, out.data<T>());
  Tensor l = logits.detach(), y = out.detach();  // the output's data only, never `out` itself
  return record(op, out, {logits}, [l, y, B, S, hw](const Tensor& g) -> std::vector<Tensor> {
    check_grad("softmax_pairs_mask", g, l, y.shape());
    Tensor gl = Tensor::empty(l.shape(), l.dtype(), l.device());
    SFM_BACKEND_CALL("softmax_pairs_mask backward", l, pairs_mask_backward, y.data<T>(), g.data<T>(), B, S, hw,
                     gl.data<T>());
    return {gl};
  });
}

}  // namespace sfm
