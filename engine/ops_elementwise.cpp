// Elementwise ops: checks, dispatch, autograd. Math: boundary/math/elementwise_math.h.
#include "engine/autograd.h"
#include "cpu/elementwise.h"
#include "boundary/math/elementwise_math.h"
#include "engine/op_checks.h"
#include "engine/ops.h"
#if SFM_WITH_CUDA
#include "kernels/elementwise.h"
#endif

namespace sfm {

namespace {

Tensor unary_forward(UnaryOp op, const Tensor& x, double p0, double p1) {
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  SFM_BACKEND_CALL("unary op", x, unary_forward, op, x.data<T>(), y.data<T>(), x.numel(), T(p0), T(p1));
  return y;
}

Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& g, double p0, double p1) {
  Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
  SFM_BACKEND_CALL("unary op backward", x, unary_backward, op, x.data<T>(), y.data<T>(), g.data<T>(), gx.data<T>(),
                   x.numel(), T(p0), T(p1));
  return gx;
}

Tensor unary(const char* name, UnaryOp op, const Tensor& x, double p0 = 0, double p1 = 0) {
  check_defined(name, "x", x);
  Tensor y = unary_forward(op, x, p0, p1);
  Tensor saved_y = y.detach();  // never capture the output itself: that would be a reference cycle
  return record(name, y, {x}, [op, x, saved_y, p0, p1](const Tensor& g) -> std::vector<Tensor> {
    return {unary_backward(op, x, saved_y, g, p0, p1)};
  });
}

Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b) {
  Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());
  SFM_BACKEND_CALL("binary op", a, binary_forward, op, a.data<T>(), b.data<T>(), y.data<T>(), a.numel());
  return y;
}

Tensor binary(const char* name, BinaryOp op, const Tensor& a, const Tensor& b) {
  check_defined(name, "a", a);
  check_like(name, "b", b, "a", a);
  SFM_CHECK(a.shape() == b.shape(), name, ": argument 'b' has shape ", b.shape().str(), ", expected the shape of 'a' ",
            a.shape().str());
  Tensor y = binary_forward(op, a, b);
  return record(name, y, {a, b}, [op, a, b](const Tensor& g) -> std::vector<Tensor> {
    switch (op) {
      case BinaryOp::Add: return {g, g};
      case BinaryOp::Sub: return {g, mul_scalar(g, -1.0)};
      case BinaryOp::Mul: return {mul(g, b), mul(g, a)};
      case BinaryOp::Div: {
        Tensor ga = div(g, b);
        Tensor gb = mul_scalar(div(mul(ga, a), b), -1.0);
        return {ga, gb};
      }
    }
    return {};
  });
}

}  // namespace

Tensor relu(const Tensor& x) { return unary("relu", UnaryOp::Relu, x); }
Tensor sigmoid(const Tensor& x) { return unary("sigmoid", UnaryOp::Sigmoid, x); }
Tensor affine(const Tensor& a, double scale, double shift) { return unary("affine", UnaryOp::Affine, a, scale, shift); }
Tensor add_scalar(const Tensor& a, double s) { return unary("add_scalar", UnaryOp::Affine, a, 1.0, s); }
Tensor mul_scalar(const Tensor& a, double s) { return unary("mul_scalar", UnaryOp::Affine, a, s, 0.0); }
Tensor reciprocal(const Tensor& a) { return unary("reciprocal", UnaryOp::Reciprocal, a); }
Tensor abs(const Tensor& a) { return unary("abs", UnaryOp::Abs, a); }
Tensor log(const Tensor& a) { return unary("log", UnaryOp::Log, a); }
Tensor exp(const Tensor& a) { return unary("exp", UnaryOp::Exp, a); }

Tensor add(const Tensor& a, const Tensor& b) { return binary("add", BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary("sub", BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary("mul", BinaryOp::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary("div", BinaryOp::Div, a, b); }

}  // namespace sfm
