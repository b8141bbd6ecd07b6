// im2col + cuBLAS convolution path (pedantic FP32 SGEMM). Images are processed in groups
// whose column buffer stays under 256 MiB.
//   forward          col = im2col(x);   y_i^T[PQ,O] = col_i^T[PQ,K] * W^T[K,O]   (batched over i)
//   backward-data    dcol_i^T[PQ,K] = dy_i^T[PQ,O] * W[O,K];  dx = col2im(dcol)  (a gather:
//                    each input pixel adds the taps that read it, in a fixed order)
//   backward-filter  dW^T[K,O] += col_i[K,PQ] * dy_i^T[PQ,O], image after image (fixed order)
// cuBLAS is column-major: a row-major [R,C] matrix is a column-major [C,R] one. The im2col and
// col2im kernels are in kernels/conv_kernels.h (so the emulated tests run them).
#include <cublas_v2.h>

#include <algorithm>

#include "kernels/conv_library.h"
#include "kernels/cuda_check.h"
#include "kernels/kernel_compiler.h"
#include "kernels/runtime.h"

namespace sfm::cuda::lib {

namespace {

constexpr size_t kColBudget = size_t(256) << 20;  // bytes of column buffer per group

using conv_kernels::ColGeom;
using conv_kernels::col_geom;

int64_t group_size(const ConvGeom& g) {
  const int64_t per = g.K() * g.P() * (int64_t)sizeof(float);
  return std::max<int64_t>(1, std::min<int64_t>(g.N, (int64_t)kColBudget / std::max<int64_t>(per, 1)));
}

const float kOne = 1.0f, kZero = 0.0f;

}  // namespace

void cublas_forward(const ConvGeom& g, const float* x, const float* w, float* y) {
  const ColGeom cg = col_geom(g);
  const int64_t PQ = g.P(), K = cg.K, G = group_size(g);
  Scratch col((size_t)(G * K * PQ) * sizeof(float));
  for (int64_t i0 = 0; i0 < g.N; i0 += G) {
    const int64_t cnt = std::min(G, g.N - i0);
    conv_kernels::launch_im2col(cg, x + i0 * g.C * g.H * g.W, col.f(), cnt);
    SFM_CUBLAS_CHECK(cublasSgemmStridedBatched(cublas_handle(), CUBLAS_OP_N, CUBLAS_OP_N, (int)PQ, (int)g.O, (int)K,
                                               &kOne, col.f(), (int)PQ, K * PQ, w, (int)K, 0, &kZero,
                                               y + i0 * g.O * PQ, (int)PQ, g.O * PQ, (int)cnt));
  }
}

void cublas_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx) {
  const ColGeom cg = col_geom(g);
  const int64_t PQ = g.P(), K = cg.K, G = group_size(g);
  Scratch col((size_t)(G * K * PQ) * sizeof(float));
  for (int64_t i0 = 0; i0 < g.N; i0 += G) {
    const int64_t cnt = std::min(G, g.N - i0);
    SFM_CUBLAS_CHECK(cublasSgemmStridedBatched(cublas_handle(), CUBLAS_OP_N, CUBLAS_OP_T, (int)PQ, (int)K, (int)g.O,
                                               &kOne, dy + i0 * g.O * PQ, (int)PQ, g.O * PQ, w, (int)K, 0, &kZero,
                                               col.f(), (int)PQ, K * PQ, (int)cnt));
    conv_kernels::launch_col2im(cg, col.f(), dx + i0 * g.C * g.H * g.W, cnt);
  }
}

void cublas_backward_filter(const ConvGeom& g, const float* x, const float* dy, float* dw) {
  const ColGeom cg = col_geom(g);
  const int64_t PQ = g.P(), K = cg.K, G = group_size(g);
  Scratch col((size_t)(G * K * PQ) * sizeof(float));
  for (int64_t i0 = 0; i0 < g.N; i0 += G) {
    const int64_t cnt = std::min(G, g.N - i0);
    conv_kernels::launch_im2col(cg, x + i0 * g.C * g.H * g.W, col.f(), cnt);
    for (int64_t i = 0; i < cnt; ++i) {
      const float* beta = (i0 + i == 0) ? &kZero : &kOne;
      SFM_CUBLAS_CHECK(cublasSgemm(cublas_handle(), CUBLAS_OP_T, CUBLAS_OP_N, (int)K, (int)g.O, (int)PQ, &kOne,
                                   col.f() + i * K * PQ, (int)PQ, dy + (i0 + i) * g.O * PQ, (int)PQ, beta, dw,
                                   (int)K));
    }
  }
}

}  // namespace sfm::cuda::lib
