#pragma once
// Library-backed convolution paths (internal to kernels/): cuDNN (conv_cudnn.cu) and
// im2col + cuBLAS (conv_cublas.cu). In the convolution's own terms (ConvGeom): x [N,C,H,W],
// w [O,C,k,k], y [N,O,Ho,Wo]; no bias or activation (kernels/conv.cu adds them).
#include "kernels/conv_kernels.h"

namespace sfm::cuda::lib {

void cudnn_forward(const ConvGeom& g, const float* x, const float* w, float* y);
void cudnn_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx);
void cudnn_backward_filter(const ConvGeom& g, const float* x, const float* dy, float* dw);
void cudnn_clear_cache();

void cublas_forward(const ConvGeom& g, const float* x, const float* w, float* y);
void cublas_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx);
void cublas_backward_filter(const ConvGeom& g, const float* x, const float* dy, float* dw);

}  // namespace sfm::cuda::lib
