// Convolution launchers: dispatch by ConvImpl to the handwritten implicit GEMM
// (kernels/conv_kernels.h), cuDNN or im2col + cuBLAS (kernels/conv_lib.h), plus the
// bias/activation epilogue and activation-gradient kernels the library paths need.
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

__global__ void bias_act_kernel(float* __restrict__ y, const float* __restrict__ b, FastDiv hw, FastDiv ch, int64_t n,
                                Activation act) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float v = y[i];
    if (b) {
      uint32_t plane = hw.div((uint32_t)i), q, c;
      ch.divmod(plane, q, c);
      v += b[c];
    }
    y[i] = convk::activate(act, v);
  }
}

template <Activation A>
__global__ void act_backward_kernel(const float* __restrict__ y, const float* g, float* out, int64_t n) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    out[i] = math::conv_activation_grad(A, y[i], g[i]);
  }
}

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
  const int64_t n = N * C * HW;
  if (n == 0 || (!b && act == Activation::None)) return;
  SFM_CHECK(n < (int64_t(1) << 31), "bias_activation: tensor too large for 32-bit indexing");
  auto* k = &bias_act_kernel;
  SFM_LAUNCH(k, dim3(red::elementwise_blocks(n)), dim3(256), y, b, FastDiv((uint32_t)HW), FastDiv((uint32_t)C), n,
             act);
}

void activation_backward(Activation act, const float* y, const float* g, float* out, int64_t n) {
  if (n == 0) return;
  const dim3 grid(red::elementwise_blocks(n)), block(256);
  switch (act) {
    case Activation::ReLU: {
      auto* k = &act_backward_kernel<Activation::ReLU>;
      SFM_LAUNCH(k, grid, block, y, g, out, n);
      break;
    }
    case Activation::Sigmoid: {
      auto* k = &act_backward_kernel<Activation::Sigmoid>;
      SFM_LAUNCH(k, grid, block, y, g, out, n);
      break;
    }
    default: {
      if (out != g) SFM_CUDA_CHECK(cudaMemcpyAsync(out, g, n * sizeof(float), cudaMemcpyDeviceToDevice, stream()));
      break;
    }
  }
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
