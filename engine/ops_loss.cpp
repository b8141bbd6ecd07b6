// Regularisers of SfMLearner: second-order smoothness, explainability cross-entropy (sigmoid
// mask and 2-class softmax forms) and the softmax mask. Checks, dispatch, autograd.
// Per-element math: engine/math/loss_math.h; CPU loops: engine/cpu/loss.cpp.
#include "engine/autograd.h"
#include "engine/cpu/loss.h"
#include "engine/math/loss_math.h"
#include "engine/op_checks.h"
#include "engine/ops.h"
#if SFM_WITH_CUDA
#include "kernels/loss.h"
#endif

namespace sfm {

namespace {

void require_cpu(const char* op, const Tensor& t) {
  SFM_CHECK(!t.is_cuda(), op, ": no CUDA implementation of this op in this build (got ", t.desc(), ")");
}

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
#if SFM_WITH_CUDA
  if (x.is_cuda()) {
    cuda::smoothness_forward(x.data<float>(), planes, H, W, inv_count, out.data<float>());
  } else
#endif
  {
    require_cpu(op, x);
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      double sums[math::kSmoothTerms];
      cpu::smoothness_forward(x.data<T>(), planes, H, W, sums);
      double loss = 0;
      for (int k = 0; k < math::kSmoothTerms; ++k) loss += sums[k] * inv_count[k];
      out.data<T>()[0] = T(loss);
    });
  }
  Tensor xs = x.detach();
  return record(op, out, {x}, [xs, planes, H, W, inv_count](const Tensor& g) -> std::vector<Tensor> {
    check_grad("smoothness_loss", g, xs, Shape{1});
    Tensor gx = Tensor::empty(xs.shape(), xs.dtype(), xs.device());
#if SFM_WITH_CUDA
    if (xs.is_cuda()) {
      cuda::smoothness_backward(xs.data<float>(), planes, H, W, inv_count, g.data<float>(), gx.data<float>());
    } else
#endif
    {
      require_cpu("smoothness_loss", xs);
      dispatch_float(xs.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const double gs = (double)g.data<T>()[0];
        double coef[math::kSmoothTerms];
        for (int k = 0; k < math::kSmoothTerms; ++k) coef[k] = gs * inv_count[k];
        cpu::smoothness_backward(xs.data<T>(), planes, H, W, coef, gx.data<T>());
      });
    }
    return {gx};
  });
}

Tensor explainability_loss(const Tensor& mask) {
  const char* op = "explainability_loss";
  check_rank(op, "mask", mask, 4, "[B,S,H,W]");
  check_nonempty(op, "mask", mask);
  const int64_t n = mask.numel();
  Tensor out = Tensor::empty(Shape{1}, mask.dtype(), mask.device());
#if SFM_WITH_CUDA
  if (mask.is_cuda()) {
    cuda::explainability_forward(mask.data<float>(), n, out.data<float>());
  } else
#endif
  {
    require_cpu(op, mask);
    dispatch_float(mask.dtype(), [&](auto tag) {
      using T = decltype(tag);
      out.data<T>()[0] = T(cpu::explainability_forward(mask.data<T>(), n) / (double)n);
    });
  }
  Tensor m = mask.detach();
  return record(op, out, {mask}, [m, n](const Tensor& g) -> std::vector<Tensor> {
    check_grad("explainability_loss", g, m, Shape{1});
    Tensor gm = Tensor::empty(m.shape(), m.dtype(), m.device());
#if SFM_WITH_CUDA
    if (m.is_cuda()) {
      cuda::explainability_backward(m.data<float>(), n, g.data<float>(), gm.data<float>());
    } else
#endif
    {
      require_cpu("explainability_loss", m);
      dispatch_float(m.dtype(), [&](auto tag) {
        using T = decltype(tag);
        cpu::explainability_backward(m.data<T>(), n, T((double)g.data<T>()[0] / (double)n), gm.data<T>());
      });
    }
    return {gm};
  });
}

Tensor explainability_loss_softmax(const Tensor& logits) {
  const char* op = "explainability_loss_softmax";
  check_pairs(op, logits);
  const int64_t B = logits.dim(0), S = logits.dim(1) / 2, hw = logits.dim(2) * logits.dim(3);
  const int64_t n = B * S * hw;
  Tensor out = Tensor::empty(Shape{1}, logits.dtype(), logits.device());
#if SFM_WITH_CUDA
  if (logits.is_cuda()) {
    cuda::softmax_ce_forward(logits.data<float>(), B, S, hw, out.data<float>());
  } else
#endif
  {
#if SFM_WITH_CUDA
    if (logits.is_cuda()) {
      cuda::pairs_mask_forward(logits.data<float>(), B, S, hw, out.data<float>());
    } else
#endif
    {
      require_cpu(op, logits);
      dispatch_float(logits.dtype(), [&](auto tag) {
        using T = decltype(tag);
        out.data<T>()[0] = T(cpu::softmax_ce_forward(logits.data<T>(), B, S, hw) / (double)n);
      });
    }
  }
  Tensor l = logits.detach();
  return record(op, out, {logits}, [l, B, S, hw, n](const Tensor& g) -> std::vector<Tensor> {
    check_grad("explainability_loss_softmax", g, l, Shape{1});
    Tensor gl = Tensor::empty(l.shape(), l.dtype(), l.device());
#if SFM_WITH_CUDA
    if (l.is_cuda()) {
      cuda::softmax_ce_backward(l.data<float>(), B, S, hw, g.data<float>(), gl.data<float>());
    } else
#endif
    {
      require_cpu("explainability_loss_softmax", l);
      dispatch_float(l.dtype(), [&](auto tag) {
        using T = decltype(tag);
        cpu::softmax_ce_backward(l.data<T>(), B, S, hw, T((double)g.data<T>()[0] / (double)n), gl.data<T>());
      });
    }
    return {gl};
  });
}

Tensor softmax_pairs_mask(const Tensor& logits) {
  const char* op = "softmax_pairs_mask";
  check_pairs(op, logits);
  const int64_t B = logits.dim(0), S = logits.dim(1) / 2, H = logits.dim(2), W = logits.dim(3), hw = H * W;
  Tensor out = Tensor::empty(Shape{B, S, H, W}, logits.dtype(), logits.device());
  require_cpu(op, logits);
  dispatch_float(logits.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::pairs_mask_forward(logits.data<T>(), B, S, hw, out.data<T>());
  });
  Tensor l = logits.detach(), y = out.detach();  // the output's data only, never `out` itself
  return record(op, out, {logits}, [l, y, B, S, hw](const Tensor& g) -> std::vector<Tensor> {
    check_grad("softmax_pairs_mask", g, l, y.shape());
    Tensor gl = Tensor::empty(l.shape(), l.dtype(), l.device());
#if SFM_WITH_CUDA
    if (l.is_cuda()) {
      cuda::pairs_mask_backward(y.data<float>(), g.data<float>(), B, S, hw, gl.data<float>());
    } else
#endif
    {
      require_cpu("softmax_pairs_mask", l);
      dispatch_float(l.dtype(), [&](auto tag) {
        using T = decltype(tag);
        cpu::pairs_mask_backward(y.data<T>(), g.data<T>(), B, S, hw, gl.data<T>());
      });
    }
    return {gl};
  });
}

}  // namespace sfm
