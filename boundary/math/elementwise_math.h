#pragma once
// Per-element functions shared by the CPU loops and the CUDA kernels.
#include <cmath>

#include "boundary/host_device.h"

namespace sfm::math {

template <class T> SFM_HD T relu(T x) { return x > T(0) ? x : T(0); }
template <class T> SFM_HD T relu_grad(T y, T g) { return y > T(0) ? g : T(0); }  // from the output y
// Numerically safe logistic for both signs.
template <class T> SFM_HD T sigmoid(T x) {
  if (x >= T(0)) {
    T e = std::exp(-x);
    return T(1) / (T(1) + e);
  }
  T e = std::exp(x);
  return e / (T(1) + e);
}
template <class T> SFM_HD T sigmoid_grad(T y, T g) { return g * y * (T(1) - y); }  // from the output y
// log(1 + exp(x)) without overflow.
template <class T> SFM_HD T softplus(T x) { return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
template <class T> SFM_HD T sign(T x) { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)); }

}  // namespace sfm::math

namespace sfm {

// Elementwise op codes: the CPU loop and the CUDA kernel both switch on these and call the
// same functions below.
enum class UnaryOp : int { Relu, Sigmoid, Affine, Reciprocal, Abs, Log, Exp };
enum class BinaryOp : int { Add, Sub, Mul, Div };

namespace math {

// y = op(x); p0, p1 are the affine scale and shift (unused otherwise).
template <class T> SFM_HD T unary(UnaryOp op, T x, T p0, T p1) {
  switch (op) {
    case UnaryOp::Relu: return relu(x);
    case UnaryOp::Sigmoid: return sigmoid(x);
    case UnaryOp::Affine: return p0 * x + p1;
    case UnaryOp::Reciprocal: return T(1) / x;
    case UnaryOp::Abs: return x < T(0) ? -x : x;
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Exp: return std::exp(x);
  }
  return x;
}
// dL/dx from the input x, output y and dL/dy g.
template <class T> SFM_HD T unary_grad(UnaryOp op, T x, T y, T g, T p0, T p1) {
  switch (op) {
    case UnaryOp::Relu: return relu_grad(y, g);
    case UnaryOp::Sigmoid: return sigmoid_grad(y, g);
    case UnaryOp::Affine: return p0 * g;
    case UnaryOp::Reciprocal: return -g * y * y;
    case UnaryOp::Abs: return g * sign(x);
    case UnaryOp::Log: return g / x;
    case UnaryOp::Exp: return g * y;
  }
  return g;
}
template <class T> SFM_HD T binary(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
  }
  return a;
}

}  // namespace math
}  // namespace sfm
