#pragma once
// CPU convolution: im2col + Eigen GEMM on raw NCHW pointers, templated on float/double
// (instantiated in conv.cpp). A transposed convolution is the adjoint of a convolution, so
// everything is expressed in the terms of one convolution geometry:
//   conv2d:            x [N,C,H,W] * w [O,C,k,k] -> y [N,O,Ho,Wo]
//   conv_transpose2d:  forward = conv2d_backward_data, backward data = conv2d_forward,
//                      backward weight = conv2d_backward_weight with the roles of x and dy swapped.
//
// Each call is cut into tasks by the shapes alone (blocks of im2col columns, of output or
// input channels, of weight-gradient rows, of column segments summed into separate partials),
// run by one OpenMP loop. Every output element is produced by one single-threaded GEMM (Eigen's
// kernel) or by one fixed-order partial sum, so results do not depend on the number of threads.
#include <cstdint>

#include "boundary/op_types.h"  // ConvGeom, Activation

namespace sfm::cpu {

// The same functions, in the same argument order, as the CUDA launchers of kernels/conv.h
// (which take the implementation choice first): engine/ops_conv.cpp calls either through
// SFM_BACKEND_CALL_CONV.

// y [N,O,Ho,Wo] = act(conv(x, w) + b). b may be null.
template <class T>
void conv2d_forward(const ConvGeom& g, const T* x, const T* w, const T* b, Activation act, T* y);

// dx [N,C,H,W] (overwritten) of conv(x, w) for the output gradient dy [N,O,Ho,Wo] (already
// through the activation).
template <class T>
void conv2d_backward_data(const ConvGeom& g, const T* w, const T* dy, T* dx);

// dw [O,C,k,k] (overwritten) of conv(x, w) for the output gradient dy.
template <class T>
void conv2d_backward_weight(const ConvGeom& g, const T* x, const T* dy, T* dw);

// The transposed convolution of g (the adjoint of g's convolution): x [N,O,Ho,Wo] with the
// weight w [O,C,k,k] (its IOHW) -> y [N,C,H,W] = act(backward_data(x) + b), b [C] or null.
template <class T>
void conv_transpose2d_forward(const ConvGeom& g, const T* x, const T* w, const T* b, Activation act, T* y);

// y[n,c,:] = act(y[n,c,:] + b[c]) in place over planes of P pixels; b may be null.
template <class T>
void bias_activation_inplace(T* y, const T* b, int64_t N, int64_t C, int64_t P, Activation act);

// out = dL/dv from the saved output y = act(v) and g = dL/dy (n elements).
template <class T>
void activation_backward(const T* y, const T* g, T* out, int64_t n, Activation act);

// db[c] = sum over n and the P pixels of g[n,c,:] (the bias gradient), summed in double in a
// fixed order.
template <class T>
void channel_sum(const T* g, int64_t N, int64_t C, int64_t P, T* db);

}  // namespace sfm::cpu
