#pragma once
// Per-element math of the convolution family, shared by the CPU loops (cpu/conv.cpp)
// and the CUDA kernels: the im2col source coordinate, the fused epilogue (bias + activation)
// and the activation's gradient from the saved output. (Output sizes: ConvGeom, boundary/op_types.h.)
#include <cstdint>

#include "boundary/host_device.h"
#include "boundary/math/elementwise_math.h"
#include "boundary/op_types.h"

namespace sfm::math {

// Input coordinate read by kernel tap t at output coordinate o (may lie in the padding,
// outside [0, n)).
SFM_HD int64_t conv_src(int64_t o, int t, int s, int p) { return o * s - p + t; }

// Floor and ceiling division by a positive divisor, for possibly negative numerators.
SFM_HD int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
SFM_HD int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// The output range [lo, hi) along one axis whose tap t reads inside [0, n): 0 <= o s - p + t < n.
SFM_HD void conv_valid_range(int64_t n_out, int64_t n_in, int t, int s, int p, int64_t& lo, int64_t& hi) {
  lo = ceil_div(p - t, s);
  hi = floor_div(n_in - 1 + p - t, s) + 1;
  if (lo < 0) lo = 0;
  if (hi > n_out) hi = n_out;
  if (hi < lo) hi = lo;
}

// The fused epilogue: act(v), v already including the bias.
template <class T> SFM_HD T conv_activation(Activation act, T v) {
  switch (act) {
    case Activation::ReLU: return relu(v);
    case Activation::Sigmoid: return sigmoid(v);
    case Activation::None: break;
  }
  return v;
}
// dL/dv from the saved output y = act(v) and dL/dy g.
template <class T> SFM_HD T conv_activation_grad(Activation act, T y, T g) {
  switch (act) {
    case Activation::ReLU: return relu_grad(y, g);
    case Activation::Sigmoid: return sigmoid_grad(y, g);
    case Activation::None: break;
  }
  return g;
}

}  // namespace sfm::math
