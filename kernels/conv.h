#pragma once
// CUDA convolution launchers (raw device pointers, one ConvGeom). Every function
// runs on the compute stream and returns without synchronising. `impl` picks the
// implementation (ConvImpl, boundary/op_types.h):
//   Handwritten      implicit GEMM, FP32 FMA                  (kernels/conv_kernels.h)
//   HandwrittenTF32  implicit GEMM, TF32 tensor cores (mma.sync m16n8k8), FP32 accumulate; sm_80+
//   CuDNN            cuDNN, FP32 (FMA math, no TF32), deterministic GEMM-type algorithms (no FFT
//                    or Winograd), chosen once per shape from cuDNN's heuristics and cached  (kernels/conv_cudnn.cu)
//   CuBLAS           im2col + cuBLAS SGEMM (pedantic FP32) + col2im gather  (kernels/conv_cublas.cu)
// All four are deterministic (bitwise equal results for equal inputs on one device).
//
// Every launcher takes the geometry as one ConvGeom (boundary/op_types.h) and its pointers in
// the argument order of the CPU function of the same name (cpu/conv.h), after `impl`:
// engine/ops_conv.cpp calls either through SFM_BACKEND_CALL_CONV. In the convolution's terms
// x [N,C,H,W], w [O,C,k,k] (OIHW), y [N,O,Ho,Wo]; a transposed convolution is described by
// the geometry of the convolution it is the adjoint of (ConvGeom::transposed): its input is
// [N,O,Ho,Wo], its weight w [O,C,k,k] (its own IOHW), its output [N,C,H,W]. So its backward
// data is conv2d_forward (no bias, no activation) and its backward weight
// conv2d_backward_weight with the two tensors swapped, on the same geometry.
// Backward functions take dy already multiplied by the activation's derivative (see
// activation_backward) and overwrite their outputs. Bias gradients: channel_sum, a
// deterministic sum (no atomics).
#include <cstdint>

#include "boundary/op_types.h"

namespace sfm::cuda {

// y [N,O,Ho,Wo] = act(conv(x, w) + b), the bias (b [O] or null) and activation fused.
void conv2d_forward(ConvImpl impl, const ConvGeom& g, const float* x, const float* w, const float* b, Activation act,
                    float* y);
// dx [N,C,H,W] from dy [N,O,Ho,Wo].
void conv2d_backward_data(ConvImpl impl, const ConvGeom& g, const float* w, const float* dy, float* dx);
// dw [O,C,k,k] from x [N,C,H,W] and dy [N,O,Ho,Wo].
void conv2d_backward_weight(ConvImpl impl, const ConvGeom& g, const float* x, const float* dy, float* dw);
// The transposed convolution: y [N,C,H,W] = act(backward_data(x) + b) from x [N,O,Ho,Wo],
// b [C] or null; one pass (the backward-data GEMMs with the epilogue fused) on the handwritten path.
void conv_transpose2d_forward(ConvImpl impl, const ConvGeom& g, const float* x, const float* w, const float* b,
                              Activation act, float* y);

// out = g * act'(y), from the activation's output y (ReLU: y > 0; Sigmoid: y (1 - y));
// None copies g. out may alias g.
void activation_backward(const float* y, const float* g, float* out, int64_t n, Activation act);
// y[n,c,:] = act(y[n,c,:] + b[c]) in place over planes of P pixels (b may be null).
void bias_activation_inplace(float* y, const float* b, int64_t N, int64_t C, int64_t P, Activation act);
// db[c] = sum over n and the P pixels of g[n,c,:] (the bias gradient; deterministic).
void channel_sum(const float* g, int64_t N, int64_t C, int64_t P, float* db);

// True when the device has the TF32 tensor-core path (sm_80 or newer).
bool conv_tf32_supported();

// Drops the cached cuDNN algorithm choices (e.g. before a benchmark that measures the choice).
void clear_conv_caches();

}  // namespace sfm::cuda
