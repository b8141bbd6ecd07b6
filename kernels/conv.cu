// Convolution launchers: dispatch by ConvImpl to the handwritten implicit GEMM
// (kernels/conv_kernels.h), cuDNN or im2col + cuBLAS (kernels/conv_library.h), plus the
// bias/activation epilogue, activation-gradient and bias-gradient launchers (their kernels:
// kernels/conv_kernels.h, kernels/reduce_kernels.h). Runtime calls only through
// kernels/kernel_compiler.h (zero_async, compute_capability), so the file can also be compiled
// against the host emulation.
#include "kernels/conv.h"

#include <algorithm>

#include "kernels/conv_kernels.h"
#include "kernels/conv_library.h"
#include "kernels/kernel_compiler.h"
#include "kernels/reduce_kernels.h"

namespace sfm::cuda {

namespace {

void require_tf32(const char* op) {
  SFM_CHECK(compute_capability() >= 80, op, ": the TF32 tensor-core path needs sm_80 or newer; this device is sm_",
            compute_capability());
}

bool empty(int64_t a, int64_t b, int64_t c, int64_t d) { return a == 0 || b == 0 || c == 0 || d == 0; }

#if !SFM_WITH_CUDNN
[[noreturn]] void no_cudnn(const char* op) {
  fail(op, ": this build has no cuDNN (cudnn.h / libcudnn were not found when configuring)");
}
#endif

}  // namespace

void bias_activation_inplace(float* y, const float* b, int64_t N, int64_t C, int64_t P, Activation act) {
  conv_kernels::launch_bias_activation(y, b, N, C, P, act);
}

void activation_backward(const float* y, const float* g, float* out, int64_t n, Activation act) {
  conv_kernels::launch_activation_backward(y, g, out, n, act);
}

void channel_sum(const float* g, int64_t N, int64_t C, int64_t P, float* db) {
  reduce_kernels::launch_segmented_sum(g, N, C, P, 1.0, db);
}

// ---------------------------------------------------------------- conv2d
void conv2d_forward(ConvImpl impl, const ConvGeom& g, const float* x, const float* w, const float* b, Activation act,
                    float* y) {
  if (empty(g.N, g.O, g.Ho, g.Wo)) return;
  switch (impl) {
    case ConvImpl::Handwritten: conv_kernels::conv2d_forward(false, g, x, w, b, act, y); return;
    case ConvImpl::HandwrittenTF32:
      require_tf32("conv2d forward");
      conv_kernels::conv2d_forward(true, g, x, w, b, act, y);
      return;
    case ConvImpl::CuDNN:
      conv_kernels::check_geom("conv2d forward (cuDNN)", g);
#if SFM_WITH_CUDNN
      lib::cudnn_forward(g, x, w, y);
      bias_activation_inplace(y, b, g.N, g.O, g.P(), act);
      return;
#else
      no_cudnn("conv2d forward");
#endif
    case ConvImpl::CuBLAS:
      conv_kernels::check_geom("conv2d forward (cuBLAS)", g);
      lib::cublas_forward(g, x, w, y);
      bias_activation_inplace(y, b, g.N, g.O, g.P(), act);
      return;
  }
  fail("conv2d forward: unknown implementation");
}

void conv2d_backward_data(ConvImpl impl, const ConvGeom& g, const float* w, const float* dy, float* dx) {
  if (empty(g.N, g.C, g.H, g.W)) return;
  switch (impl) {
    case ConvImpl::Handwritten: conv_kernels::conv2d_backward_data(false, g, w, dy, dx); return;
    case ConvImpl::HandwrittenTF32:
      require_tf32("conv2d backward-data");
      conv_kernels::conv2d_backward_data(true, g, w, dy, dx);
      return;
    case ConvImpl::CuDNN:
      conv_kernels::check_geom("conv2d backward-data (cuDNN)", g);
#if SFM_WITH_CUDNN
      lib::cudnn_backward_data(g, dy, w, dx);
      return;
#else
      no_cudnn("conv2d backward-data");
#endif
    case ConvImpl::CuBLAS:
      conv_kernels::check_geom("conv2d backward-data (cuBLAS)", g);
      lib::cublas_backward_data(g, dy, w, dx);
      return;
  }
  fail("conv2d backward-data: unknown implementation");
}

void conv2d_backward_weight(ConvImpl impl, const ConvGeom& g, const float* x, const float* dy, float* dw) {
  if (empty(g.O, g.C, g.k, g.k)) return;
  if (empty(g.N, g.Ho, g.Wo, 1)) {  // nothing contributes: the gradient is zero
    zero_async(dw, (size_t)(g.O * g.K()));
    return;
  }
  switch (impl) {
    case ConvImpl::Handwritten: conv_kernels::conv2d_backward_weight(false, g, x, dy, dw); return;
    case ConvImpl::HandwrittenTF32:
      require_tf32("conv2d backward-weight");
      conv_kernels::conv2d_backward_weight(true, g, x, dy, dw);
      return;
    case ConvImpl::CuDNN:
      conv_kernels::check_geom("conv2d backward-weight (cuDNN)", g);
#if SFM_WITH_CUDNN
      lib::cudnn_backward_filter(g, x, dy, dw);
      return;
#else
      no_cudnn("conv2d backward-weight");
#endif
    case ConvImpl::CuBLAS:
      conv_kernels::check_geom("conv2d backward-weight (cuBLAS)", g);
      lib::cublas_backward_filter(g, x, dy, dw);
      return;
  }
  fail("conv2d backward-weight: unknown implementation");
}

// ---------------------------------------------------------------- conv_transpose2d
// Its backward passes are conv2d_forward and conv2d_backward_weight on the same geometry
// (kernels/conv.h). The library paths run backward-data, then the epilogue as its own pass.
void conv_transpose2d_forward(ConvImpl impl, const ConvGeom& g, const float* x, const float* w, const float* b,
                              Activation act, float* y) {
  if (empty(g.N, g.C, g.H, g.W)) return;
  switch (impl) {
    case ConvImpl::Handwritten: conv_kernels::conv_transpose2d_forward(false, g, x, w, b, act, y); return;
    case ConvImpl::HandwrittenTF32:
      require_tf32("conv_transpose2d forward");
      conv_kernels::conv_transpose2d_forward(true, g, x, w, b, act, y);
      return;
    case ConvImpl::CuDNN:
    case ConvImpl::CuBLAS:
      conv2d_backward_data(impl, g, w, x, y);
      bias_activation_inplace(y, b, g.N, g.C, g.H * g.W, act);
      return;
  }
  fail("conv_transpose2d forward: unknown implementation");
}

bool conv_tf32_supported() { return compute_capability() >= 80; }

void clear_conv_caches() {
#if SFM_WITH_CUDNN
  lib::cudnn_clear_cache();
#endif
}

}  // namespace sfm::cuda
