#pragma once
// CUDA convolution launchers (raw device pointers, sizes as in the ops). Every function
// runs on the compute stream and returns without synchronising. `impl` picks the
// implementation (engine/ops.h ConvImpl):
//   Handwritten      implicit GEMM, FP32 FMA                  (kernels/conv_kernels.h)
//   HandwrittenTF32  implicit GEMM, TF32 tensor cores (mma.sync m16n8k8), FP32 accumulate; sm_80+
//   CuDNN            cuDNN, FP32 (FMA math, no TF32), deterministic GEMM-type algorithms (no FFT
//                    or Winograd), chosen once per shape from cuDNN's heuristics and cached  (kernels/conv_cudnn.cu)
//   CuBLAS           im2col + cuBLAS SGEMM (pedantic FP32) + col2im gather  (kernels/conv_cublas.cu)
// All four are deterministic (bitwise equal results for equal inputs on one device).
//
// conv2d: x [N,C,H,W], w [O,C,k,k] (OIHW), b [O] or null, y [N,O,Ho,Wo] with
//   Ho = (H + 2 pad - k)/stride + 1; y = act(conv(x, w) + b), the activation fused.
// conv_transpose2d: x [N,C,H,W], w [C,O,k,k] (IOHW), b [O] or null, y [N,O,Ho,Wo] with
//   Ho = (H-1) stride - 2 pad + k + output_padding (0 <= output_padding < stride).
// Backward functions take dy already multiplied by the activation's derivative (see
// activation_backward) and overwrite their outputs; db (the bias gradient, [O]) may be
// null. Bias gradients are deterministic sums (no atomics) on every path.
#include <cstdint>

#include "engine/op_types.h"

namespace sfm::cuda {

void conv2d_forward(ConvImpl impl, const float* x, const float* w, const float* b, float* y, int64_t N, int64_t C,
                    int64_t H, int64_t W, int64_t O, int64_t k, int64_t stride, int64_t pad, int64_t Ho, int64_t Wo,
                    Activation act);
// dx [N,C,H,W] from dy [N,O,Ho,Wo].
void conv2d_backward_data(ConvImpl impl, const float* dy, const float* w, float* dx, int64_t N, int64_t C, int64_t H,
                          int64_t W, int64_t O, int64_t k, int64_t stride, int64_t pad, int64_t Ho, int64_t Wo);
// dw [O,C,k,k] and db [O] from x [N,C,H,W] and dy [N,O,Ho,Wo].
void conv2d_backward_weight(ConvImpl impl, const float* x, const float* dy, float* dw, float* db, int64_t N, int64_t C,
                            int64_t H, int64_t W, int64_t O, int64_t k, int64_t stride, int64_t pad, int64_t Ho,
                            int64_t Wo);

void conv_transpose2d_forward(ConvImpl impl, const float* x, const float* w, const float* b, float* y, int64_t N,
                              int64_t C, int64_t H, int64_t W, int64_t O, int64_t k, int64_t stride, int64_t pad,
                              int64_t Ho, int64_t Wo, Activation act);
// dx [N,C,H,W] from dy [N,O,Ho,Wo].
void conv_transpose2d_backward_data(ConvImpl impl, const float* dy, const float* w, float* dx, int64_t N, int64_t C,
                                    int64_t H, int64_t W, int64_t O, int64_t k, int64_t stride, int64_t pad,
                                    int64_t Ho, int64_t Wo);
// dw [C,O,k,k] and db [O] from x [N,C,H,W] and dy [N,O,Ho,Wo].
void conv_transpose2d_backward_weight(ConvImpl impl, const float* x, const float* dy, float* dw, float* db, int64_t N,
                                      int64_t C, int64_t H, int64_t W, int64_t O, int64_t k, int64_t stride,
                                      int64_t pad, int64_t Ho, int64_t Wo);

// out = g * act'(y), from the activation's output y (ReLU: y > 0; Sigmoid: y (1 - y));
// None copies g. out may alias g.
void activation_backward(Activation act, const float* y, const float* g, float* out, int64_t n);
// y[n,c,:,:] = act(y + b[c]) in place (b may be null).
void bias_activation(float* y, const float* b, int64_t N, int64_t C, int64_t HW, Activation act);
// db[c] = sum over n, i of dy[(n*C + c)*HW + i] (deterministic).
void bias_grad(const float* dy, int64_t N, int64_t C, int64_t HW, float* db);

// True when the device has the TF32 tensor-core path (sm_80 or newer).
bool conv_tf32_supported();

// Drops the cached cuDNN algorithm choices (e.g. before a benchmark that measures the choice).
void clear_conv_caches();

}  // namespace sfm::cuda
