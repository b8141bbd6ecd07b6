// Convolution ops: conv2d and conv_transpose2d (checks, dispatch, autograd), and the global
// choice of the CUDA convolution implementation. CPU: cpu/conv.h (im2col + Eigen GEMM);
// per-element math: boundary/math/conv_math.h.
//
// A transposed convolution is the adjoint of a convolution with the same weight tensor read as
// OIHW of the convolution that maps the transposed output back to its input. Both ops are
// therefore written with one convolution geometry (ConvGeom, boundary/op_types.h) and three primitives:
//   conv forward (x -> y), backward data (dy -> dx), backward weight (x, dy -> dw).
//   conv2d:           forward = fwd;       dx = bwd-data(g);  dw = bwd-weight(x, g)
//   conv_transpose2d: forward = bwd-data;  dx = fwd(g);       dw = bwd-weight(g, x)
// Each primitive reaches the CPU or CUDA function of the same name and arguments through
// SFM_BACKEND_CALL_CONV (engine/op_checks.h).
#include <atomic>

#include "engine/autograd.h"
#include "cpu/conv.h"
#include "engine/op_checks.h"
#include "engine/ops.h"
#if SFM_WITH_CUDA
#include "kernels/conv.h"
#endif

namespace sfm {

// ------------------------------------------------------------------------ implementation choice
namespace {
std::atomic<int> g_conv_impl{int(ConvImpl::Handwritten)};
}

void set_conv_impl(ConvImpl impl) { g_conv_impl.store(int(impl)); }
ConvImpl conv_impl() { return ConvImpl(g_conv_impl.load()); }
ConvImpl parse_conv_impl(const std::string& s) {
  for (ConvImpl c : kConvImpls)
    if (s == conv_impl_name(c)) return c;
  fail("parse_conv_impl: unknown convolution implementation '", s, "' (expected handwritten, tf32, cudnn or cublas)");
}

namespace {

bool wants_grad(const Tensor& t) { return t.defined() && (t.requires_grad() || t.grad_fn() != nullptr); }

// ----------------------------------------------------------------------- device dispatch
// Each primitive runs cpu::fn<T> (cpu/conv.h) or cuda::fn (kernels/conv.h, with the
// implementation choice first) with one argument list.
template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// y = act(conv(x, w) + b)
void conv_fwd(const ConvGeom& g, const Tensor& x, const Tensor& w, const Tensor& b, Activation act, const Tensor& y) {
  SFM_BACKEND_CALL_CONV("conv2d", x, conv_impl(), conv2d_forward, g, x.data<T>(), w.data<T>(), data_or_null<T>(b),
                        act, y.data<T>());
}

// dx and/or dw (undefined: not wanted) of conv(x, w) for the output gradient dy.
void conv_bwd(const ConvGeom& g, const Tensor& x, const Tensor& w, const Tensor& dy, const Tensor& dx,
              const Tensor& dw) {
  if (dw.defined())
    SFM_BACKEND_CALL_CONV("conv2d backward", dy, conv_impl(), conv2d_backward_weight, g, x.data<T>(), dy.data<T>(),
                          dw.data<T>());
  if (dx.defined())
    SFM_BACKEND_CALL_CONV("conv2d backward", dy, conv_impl(), conv2d_backward_data, g, w.data<T>(), dy.data<T>(),
                          dx.data<T>());
}

// y = act(conv_transpose(x, w) + b), the adjoint of g's convolution (y [N,C,H,W]).
void conv_transpose_fwd(const ConvGeom& g, const Tensor& x, const Tensor& w, const Tensor& b, Activation act,
                        const Tensor& y) {
  SFM_BACKEND_CALL_CONV("conv_transpose2d", x, conv_impl(), conv_transpose2d_forward, g, x.data<T>(), w.data<T>(),
                        data_or_null<T>(b), act, y.data<T>());
}

// dL/d(pre-activation) from the saved output y and dL/dy g.
Tensor act_grad(const Tensor& y, const Tensor& g, Activation act) {
  if (act == Activation::None) return g;
  Tensor out = Tensor::empty(g.shape(), g.dtype(), g.device());
  SFM_BACKEND_CALL("conv activation backward", g, activation_backward, y.data<T>(), g.data<T>(), out.data<T>(),
                   g.numel(), act);
  return out;
}

// Bias gradient: g [N,C,H,W] summed to [C].
Tensor bias_grad(const Tensor& g) {
  const int64_t N = g.dim(0), C = g.dim(1), P = g.numel() / (N * C);
  Tensor db = Tensor::empty(Shape{C}, g.dtype(), g.device());
  SFM_BACKEND_CALL("conv bias gradient", g, channel_sum, g.data<T>(), N, C, P, db.data<T>());
  return db;
}

// ------------------------------------------------------------------------------ checks
// Common checks of x [N,C,H,W] and a square 4-d weight whose dim `in_dim` holds C.
void check_conv_args(const char* op, const Tensor& x, const Tensor& w, int stride, int padding, const char* w_layout,
                     int in_dim) {
  check_rank(op, "x", x, 4, "[N,C,H,W]");
  check_rank(op, "w", w, 4, w_layout);
  check_like(op, "w", w, "x", x);
  check_nonempty(op, "x", x);
  check_nonempty(op, "w", w);
  check_dim(op, "w", w, in_dim, x.dim(1), "the channels of x");
  SFM_CHECK(w.dim(2) == w.dim(3), op, ": argument 'w' has shape ", w.shape().str(), ", expected a square kernel ",
            w_layout);
  SFM_CHECK(stride >= 1, op, ": stride must be >= 1, got ", stride);
  SFM_CHECK(padding >= 0, op, ": padding must be >= 0, got ", padding);
}

void check_bias(const char* op, const Tensor& b, const Tensor& x, int64_t out_channels) {
  if (!b.defined()) return;
  check_like(op, "b", b, "x", x);
  check_shape(op, "b", b, Shape{out_channels});
}

}  // namespace

// ---------------------------------------------------------------------------------- conv2d
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int padding, Activation act) {
  const char* op = "conv2d";
  check_conv_args(op, x, w, stride, padding, "[O,C,k,k]", 1);
  check_bias(op, b, x, w.dim(0));

  const ConvGeom g = ConvGeom::conv(x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), int(w.dim(2)), stride, padding);
  SFM_CHECK(g.Ho >= 1 && g.Wo >= 1, op, ": output would be empty: input ", x.shape().str(), " with kernel ", g.k,
            ", stride ", g.s, ", padding ", g.p, " (need H + 2p >= k and W + 2p >= k)");

  Tensor y = Tensor::empty(Shape{g.N, g.O, g.Ho, g.Wo}, x.dtype(), x.device());
  conv_fwd(g, x, w, b, act, y);
  if (!needs_grad({&x, &w, &b})) return y;
  Tensor saved_y = act == Activation::None ? Tensor() : y.detach();  // never capture y itself
  return record(op, y, {x, w, b}, [g, x, w, b, saved_y, act](const Tensor& gy) -> std::vector<Tensor> {
    Tensor gv = act_grad(saved_y, gy, act);
    Tensor dx, dw, db;
    if (wants_grad(x)) dx = Tensor::empty(x.shape(), gv.dtype(), gv.device());
    if (wants_grad(w)) dw = Tensor::empty(w.shape(), gv.dtype(), gv.device());
    if (wants_grad(b)) db = bias_grad(gv);
    conv_bwd(g, x, w, gv, dx, dw);
    return {dx, dw, db};
  });
}

// -------------------------------------------------------------------------------- conv_transpose2d
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int padding,
                        int output_padding, Activation act) {
  const char* op = "conv_transpose2d";
  check_conv_args(op, x, w, stride, padding, "[C,O,k,k]", 0);
  SFM_CHECK(output_padding >= 0 && output_padding < stride, op, ": output_padding must be in [0, stride) = [0, ",
            stride, "), got ", output_padding);
  check_bias(op, b, x, w.dim(1));

  // The convolution this is the adjoint of: input = our output [N,O,Ho,Wo], output = our x.
  const ConvGeom g = ConvGeom::transposed(x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(1), int(w.dim(2)), stride,
                                          padding, output_padding);
  SFM_CHECK(g.H >= 1 && g.W >= 1, op, ": output would be empty: input ", x.shape().str(), " with kernel ", g.k,
            ", stride ", g.s, ", padding ", g.p, ", output_padding ", output_padding, " gives ", g.H, "x", g.W);

  Tensor y = Tensor::empty(Shape{g.N, g.C, g.H, g.W}, x.dtype(), x.device());
  conv_transpose_fwd(g, x, w, b, act, y);
  if (!needs_grad({&x, &w, &b})) return y;
  Tensor saved_y = act == Activation::None ? Tensor() : y.detach();
  return record(op, y, {x, w, b}, [g, x, w, b, saved_y, act](const Tensor& gy) -> std::vector<Tensor> {
    Tensor gv = act_grad(saved_y, gy, act);
    Tensor dx, dw, db;
    if (wants_grad(x)) {
      dx = Tensor::empty(x.shape(), gv.dtype(), gv.device());
      conv_fwd(g, gv, w, Tensor(), Activation::None, dx);
    }
    if (wants_grad(w)) {
      dw = Tensor::empty(w.shape(), gv.dtype(), gv.device());
      conv_bwd(g, gv, w, x, Tensor(), dw);
    }
    if (wants_grad(b)) db = bias_grad(gv);
    return {dx, dw, db};
  });
}

}  // namespace sfm
