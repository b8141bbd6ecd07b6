// Convolution launchers: dispatch by ConvImpl to the handwritten implicit GEMM
// (kernels/conv_kernels.h), cuDNN or im2col + cuBLAS (kernels/conv_lib.h), plus the
// bias/activation epilogue and activation-gradient launchers the library paths need (their
// kernels: kernels/conv_kernels.h).
#include "kernels/conv.h"

#include <algorithm>

#include "kernels/conv_kernels.h"
#include "kernels/conv_lib.h"
#include "kernels/device_compat.h"
#include "kernels/reduce_kernels.h"

namespace sfm::cuda {

namespace {

void require_tf32(const char* op) {
  SFM_CHECK(compute_capability() >= 80, op, ": the TF32 tensor-core path needs sm_80 or newer; this device is sm_",
            compute_capability());
}

bool empty(int64_t a, int64_t b, int64_t c, int64_t d) { return a == 0 || b == 0 || c == 0 || d == 0; }

void lib_forward_epilogue(float* y, const float* b, int64_t N, int64_t O, int64_t HW, Activation act) {
  if (b || act != Activation::None) bias_activation(y, b, N, O, HW, act);
}

#if !SFM_WITH_CUDNN
[[noreturn]] void no_cudnn(const char* op) {
  fail(op, ": this build has no cuDNN (cudnn.h / libcudnn were not found when configuring)");
}
#endif

}  // namespace

void bias_activation(float* y, const float* b, int64_t N, int64_t C, int64_t HW, Activation act) {
  convk::launch_bias_activation(y, b, N, C, HW, act);
}

void activation_backward(Activation act, const float* y, const float* g, float* out, int64_t n) {
  convk::launch_activation_backward(act, y, g, out, n);
}

void bias_grad(const float* dy, int64_t N, int64_t C, int64_t HW, float* db) {
  if (db) red::launch_segmented_sum(dy, N, C, HW, 1.0, db);
}

// ---------------------------------------------------------------- conv2d
void conv2d_forward(ConvImpl impl, const float* x, const float* w, const float* b, float* y, int64_t N, int64_t C,
                    int64_t H, int64_t W, int64_t O, int64_t k, int64_t stride, int64_t pad, int64_t Ho, int64_t Wo,
                    Activation act) {
  if (empty(N, O, Ho, Wo)) return;
  const convk::Geom g{N, C, H, W, O, k, stride, pad, Ho, Wo};
  switch (impl) {
    case ConvImpl::Handwritten: convk::conv2d_forward(false, x, w, b, y, N, C, H, W, O, k, stride, pad, Ho, Wo, act); return;
    case ConvImpl::HandwrittenTF32:
      require_tf32("conv2d forward");
      convk::conv2d_forward(true, x, w, b, y, N, C, H, W, O, k, stride, pad, Ho, Wo, act);
      return;
    case ConvImpl::CuDNN:
      convk::check_geom("conv2d forward (cuDNN)", g);
#if SFM_WITH_CUDNN
      lib::cudnn_forward(g, x, w, y);
      lib_forward_epilogue(y, b, N, O, Ho * Wo, act);
      return;
#else
      no_cudnn("conv2d forward");
#endif
    case ConvImpl::CuBLAS:
      convk::check_geom("conv2d forward (cuBLAS)", g);
      lib::cublas_forward(g, x, w, y);
      lib_forward_epilogue(y, b, N, O, Ho * Wo, act);
      return;
  }
  fail("conv2d forward: unknown implementation");
}

void conv2d_backward_data(ConvImpl impl, const float* dy, const float* w, float* dx, int64_t N, int64_t C, int64_t H,
                          int64_t W, int64_t O, int64_t k, int64_t stride, int64_t pad, int64_t Ho, int64_t Wo) {
  if (empty(N, C, H, W)) return;
  const convk::Geom g{N, C, H, W, O, k, stride, pad, Ho, Wo};
  switch (impl) {
    case ConvImpl::Handwritten: convk::conv2d_backward_data(false, dy, w, dx, N, C, H, W, O, k, stride, pad, Ho, Wo); return;
    case ConvImpl::HandwrittenTF32:
      require_tf32("conv2d backward-data");
      convk::conv2d_backward_data(true, dy, w, dx, N, C, H, W, O, k, stride, pad, Ho, Wo);
      return;
    case ConvImpl::CuDNN:
      convk::check_geom("conv2d backward-data (cuDNN)", g);
#if SFM_WITH_CUDNN
      lib::cudnn_backward_data(g, dy, w, dx);
      return;
#else
      no_cudnn("conv2d backward-data");
#endif
    case ConvImpl::CuBLAS:
      convk::check_geom("conv2d backward-data (cuBLAS)", g);
      lib::cublas_backward_data(g, dy, w, dx);
      return;
  }
  fail("conv2d backward-data: unknown implementation");
}

void conv2d_backward_weight(ConvImpl impl, const float* x, const float* dy, float* dw, float* db, int64_t N, int64_t C,
                            int64_t H, int64_t W, int64_t O, int64_t k, int64_t stride, int64_t pad, int64_t Ho,
                            int64_t Wo) {
  if (empty(O, C, k, k)) return;
  if (empty(N, Ho, Wo, 1)) {  // nothing contributes: the gradients are zero
    zero_async(dw, (size_t)(O * C * k * k));
    if (db) zero_async(db, (size_t)O);
    return;
  }
  const convk::Geom g{N, C, H, W, O, k, stride, pad, Ho, Wo};
  switch (impl) {
    case ConvImpl::Handwritten:
    case ConvImpl::HandwrittenTF32:
      if (impl == ConvImpl::HandwrittenTF32) require_tf32("conv2d backward-weight");
      convk::conv2d_backward_weight(impl == ConvImpl::HandwrittenTF32, x, dy, dw, db, N, C, H, W, O, k, stride, pad,
                                    Ho, Wo);
      break;
    case ConvImpl::CuDNN:
      convk::check_geom("conv2d backward-weight (cuDNN)", g);
#if SFM_WITH_CUDNN
      lib::cudnn_backward_filter(g, x, dy, dw);
      bias_grad(dy, N, O, Ho * Wo, db);
      break;
#else
      no_cudnn("conv2d backward-weight");
#endif
    case ConvImpl::CuBLAS:
      convk::check_geom("conv2d backward-weight (cuBLAS)", g);
      lib::cublas_backward_filter(g, x, dy, dw);
      bias_grad(dy, N, O, Ho * Wo, db);
      break;
  }
}

// ---------------------------------------------------------------- conv_transpose2d
void conv_transpose2d_forward(ConvImpl impl, const float* x, const float* w, const float* b, float* y, int64_t N,
                              int64_t C, int64_t H, int64_t W, int64_t O, int64_t k, int64_t stride, int64_t pad,
                              int64_t Ho, int64_t Wo, Activation act) {
  if (empty(N, O, Ho, Wo)) return;
  const convk::Geom g = convk::transposed_geom(N, C, H, W, O, k, stride, pad, Ho, Wo);
  switch (impl) {
    case ConvImpl::Handwritten:
      convk::conv_transpose2d_forward(false, x, w, b, y, N, C, H, W, O, k, stride, pad, Ho, Wo, act);
      return;
    case ConvImpl::HandwrittenTF32:
      require_tf32("conv_transpose2d forward");
      convk::conv_transpose2d_forward(true, x, w, b, y, N, C, H, W, O, k, stride, pad, Ho, Wo, act);
      return;
    case ConvImpl::CuDNN:
      convk::check_geom("conv_transpose2d forward (cuDNN)", g);
#if SFM_WITH_CUDNN
      lib::cudnn_backward_data(g, x, w, y);
      lib_forward_epilogue(y, b, N, O, Ho * Wo, act);
      return;
#else
      no_cudnn("conv_transpose2d forward");
#endif
    case ConvImpl::CuBLAS:
      convk::check_geom("conv_transpose2d forward (cuBLAS)", g);
      lib::cublas_backward_data(g, x, w, y);
      lib_forward_epilogue(y, b, N, O, Ho * Wo, act);
      return;
  }
  fail("conv_transpose2d forward: unknown implementation");
}

void conv_transpose2d_backward_data(ConvImpl impl, const float* dy, const float* w, float* dx, int64_t N, int64_t C,
                                    int64_t H, int64_t W, int64_t O, int64_t k, int64_t stride, int64_t pad,
                                    int64_t Ho, int64_t Wo) {
  if (empty(N, C, H, W)) return;
  const convk::Geom g = convk::transposed_geom(N, C, H, W, O, k, stride, pad, Ho, Wo);
  switch (impl) {
    case ConvImpl::Handwritten:
      convk::conv_transpose2d_backward_data(false, dy, w, dx, N, C, H, W, O, k, stride, pad, Ho, Wo);
      return;
    case ConvImpl::HandwrittenTF32:
      require_tf32("conv_transpose2d backward-data");
      convk::conv_transpose2d_backward_data(true, dy, w, dx, N, C, H, W, O, k, stride, pad, Ho, Wo);
      return;
    case ConvImpl::CuDNN:
      convk::check_geom("conv_transpose2d backward-data (cuDNN)", g);
#if SFM_WITH_CUDNN
      lib::cudnn_forward(g, dy, w, dx);
      return;
#else
      no_cudnn("conv_transpose2d backward-data");
#endif
    case ConvImpl::CuBLAS:
      convk::check_geom("conv_transpose2d backward-data (cuBLAS)", g);
      lib::cublas_forward(g, dy, w, dx);
      return;
  }
  fail("conv_transpose2d backward-data: unknown implementation");
}

void conv_transpose2d_backward_weight(ConvImpl impl, const float* x, const float* dy, float* dw, float* db, int64_t N,
                                      int64_t C, int64_t H, int64_t W, int64_t O, int64_t k, int64_t stride,
                                      int64_t pad, int64_t Ho, int64_t Wo) {
  if (empty(O, C, k, k)) return;
  if (empty(N, H, W, 1)) {  // nothing contributes: the gradients are zero
    zero_async(dw, (size_t)(O * C * k * k));
    if (db) zero_async(db, (size_t)O);
    return;
  }
  const convk::Geom g = convk::transposed_geom(N, C, H, W, O, k, stride, pad, Ho, Wo);
  switch (impl) {
    case ConvImpl::Handwritten:
    case ConvImpl::HandwrittenTF32:
      if (impl == ConvImpl::HandwrittenTF32) require_tf32("conv_transpose2d backward-weight");
      convk::conv_transpose2d_backward_weight(impl == ConvImpl::HandwrittenTF32, x, dy, dw, db, N, C, H, W, O, k,
                                              stride, pad, Ho, Wo);
      break;
    case ConvImpl::CuDNN:
      convk::check_geom("conv_transpose2d backward-weight (cuDNN)", g);
#if SFM_WITH_CUDNN
      // The adjoint convolution's filter gradient: its input is dy, its output gradient x.
      lib::cudnn_backward_filter(g, dy, x, dw);
      bias_grad(dy, N, O, Ho * Wo, db);
      break;
#else
      no_cudnn("conv_transpose2d backward-weight");
#endif
    case ConvImpl::CuBLAS:
      convk::check_geom("conv_transpose2d backward-weight (cuBLAS)", g);
      lib::cublas_backward_filter(g, dy, x, dw);
      bias_grad(dy, N, O, Ho * Wo, db);
      break;
  }
}

bool conv_tf32_supported() { return compute_capability() >= 80; }

void clear_conv_caches() {
#if SFM_WITH_CUDNN
  lib::cudnn_clear_cache();
#endif
}

}  // namespace sfm::cuda
