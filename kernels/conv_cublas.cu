// im2col + cuBLAS convolution path (pedantic FP32 SGEMM). Images are processed in groups
// whose column buffer stays under 256 MiB.
//   forward          col = im2col(x);   y_i^T[PQ,O] = col_i^T[PQ,K] * W^T[K,O]   (batched over i)
//   backward-data    dcol_i^T[PQ,K] = dy_i^T[PQ,O] * W[O,K];  dx = col2im(dcol)  (a gather:
//                    each input pixel adds the taps that read it, in a fixed order)
//   backward-filter  dW^T[K,O] += col_i[K,PQ] * dy_i^T[PQ,O], image after image (fixed order)
// cuBLAS is column-major: a row-major [R,C] matrix is a column-major [C,R] one.
#include <cublas_v2.h>

#include <algorithm>

#include "kernels/conv_lib.h"
#include "kernels/cuda_check.h"
#include "kernels/device_compat.h"
#include "kernels/runtime.h"

namespace sfm::cuda::lib {

namespace {

constexpr size_t kColBudget = size_t(256) << 20;  // bytes of column buffer per group

struct ColGeom {
  int C, H, W, k, stride, pad, P, Q, K;
  FastDiv pq, kd, kk, kdiv, qd, hw, hwd, cd;  // P*Q, K, k*k, k, Q, H*W, W, C
};

ColGeom col_geom(const Geom& g) {
  ColGeom c;
  c.C = (int)g.C, c.H = (int)g.H, c.W = (int)g.W, c.k = (int)g.k, c.stride = (int)g.stride, c.pad = (int)g.pad;
  c.P = (int)g.P, c.Q = (int)g.Q, c.K = (int)(g.C * g.k * g.k);
  c.pq = FastDiv((uint32_t)(g.P * g.Q));
  c.kd = FastDiv((uint32_t)c.K);
  c.kk = FastDiv((uint32_t)(g.k * g.k));
  c.kdiv = FastDiv((uint32_t)g.k);
  c.qd = FastDiv((uint32_t)g.Q);
  c.hw = FastDiv((uint32_t)(g.H * g.W));
  c.hwd = FastDiv((uint32_t)g.W);
  c.cd = FastDiv((uint32_t)g.C);
  return c;
}

// col[(i*K + kidx)*PQ + pq] = x[img0 + i, c, p*st - pad + r, q*st - pad + s] (0 outside).
__global__ void im2col_kernel(const float* __restrict__ x, float* __restrict__ col, ColGeom g, int64_t total) {
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    uint32_t row, pq, i, kidx, c, rs, r, s, p, q;
    g.pq.divmod((uint32_t)e, row, pq);
    g.kd.divmod(row, i, kidx);
    g.kk.divmod(kidx, c, rs);
    g.kdiv.divmod(rs, r, s);
    g.qd.divmod(pq, p, q);
    const int h = (int)p * g.stride - g.pad + (int)r, w = (int)q * g.stride - g.pad + (int)s;
    float v = 0.f;
    if ((unsigned)h < (unsigned)g.H && (unsigned)w < (unsigned)g.W)
      v = x[(((int64_t)i * g.C + c) * g.H + h) * g.W + w];
    col[e] = v;
  }
}

// dx[img0 + i, c, h, w] = sum over taps (r, s) that read (h, w) of dcol[(i*K + (c*k + r)*k + s)*PQ + p*Q + q].
__global__ void col2im_kernel(const float* __restrict__ dcol, float* __restrict__ dx, ColGeom g, int64_t total) {
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    uint32_t plane, hw, i, c, h, w;
    g.hw.divmod((uint32_t)e, plane, hw);
    g.cd.divmod(plane, i, c);
    g.hwd.divmod(hw, h, w);
    float acc = 0.f;
    for (int r = 0; r < g.k; ++r) {
      const int ph = (int)h + g.pad - r;
      if (ph < 0 || ph % g.stride) continue;
      const int p = ph / g.stride;
      if (p >= g.P) continue;
      for (int s = 0; s < g.k; ++s) {
        const int qw = (int)w + g.pad - s;
        if (qw < 0 || qw % g.stride) continue;
        const int q = qw / g.stride;
        if (q >= g.Q) continue;
        const int64_t kidx = ((int64_t)c * g.k + r) * g.k + s;
        acc += dcol[((int64_t)i * g.K + kidx) * ((int64_t)g.P * g.Q) + (int64_t)p * g.Q + q];
      }
    }
    dx[e] = acc;
  }
}

unsigned blocks_for(int64_t n) { return (unsigned)std::max<int64_t>(1, std::min<int64_t>((n + 255) / 256, 65535)); }

int64_t group_size(const Geom& g) {
  const int64_t per = g.C * g.k * g.k * g.P * g.Q * (int64_t)sizeof(float);
  return std::max<int64_t>(1, std::min<int64_t>(g.N, (int64_t)kColBudget / std::max<int64_t>(per, 1)));
}

void im2col(const ColGeom& cg, const float* x, float* col, int64_t count) {
  const int64_t total = count * cg.K * (int64_t)cg.P * cg.Q;
  SFM_CHECK(total < (int64_t(1) << 31), "im2col: column buffer too large");
  im2col_kernel<<<blocks_for(total), 256, 0, stream()>>>(x, col, cg, total);
  SFM_CUDA_CHECK_LAUNCH("im2col_kernel");
}

const float kOne = 1.0f, kZero = 0.0f;

}  // namespace

void cublas_forward(const Geom& g, const float* x, const float* w, float* y) {
  const ColGeom cg = col_geom(g);
  const int64_t PQ = g.P * g.Q, K = cg.K, G = group_size(g);
  Scratch col((size_t)(G * K * PQ) * sizeof(float));
  for (int64_t i0 = 0; i0 < g.N; i0 += G) {
    const int64_t cnt = std::min(G, g.N - i0);
    im2col(cg, x + i0 * g.C * g.H * g.W, col.f(), cnt);
    SFM_CUBLAS_CHECK(cublasSgemmStridedBatched(cublas_handle(), CUBLAS_OP_N, CUBLAS_OP_N, (int)PQ, (int)g.O, (int)K,
                                               &kOne, col.f(), (int)PQ, K * PQ, w, (int)K, 0, &kZero,
                                               y + i0 * g.O * PQ, (int)PQ, g.O * PQ, (int)cnt));
  }
}

void cublas_backward_data(const Geom& g, const float* dy, const float* w, float* dx) {
  const ColGeom cg = col_geom(g);
  const int64_t PQ = g.P * g.Q, K = cg.K, G = group_size(g);
  Scratch col((size_t)(G * K * PQ) * sizeof(float));
  for (int64_t i0 = 0; i0 < g.N; i0 += G) {
    const int64_t cnt = std::min(G, g.N - i0);
    SFM_CUBLAS_CHECK(cublasSgemmStridedBatched(cublas_handle(), CUBLAS_OP_N, CUBLAS_OP_T, (int)PQ, (int)K, (int)g.O,
                                               &kOne, dy + i0 * g.O * PQ, (int)PQ, g.O * PQ, w, (int)K, 0, &kZero,
                                               col.f(), (int)PQ, K * PQ, (int)cnt));
    const int64_t total = cnt * g.C * g.H * g.W;
    col2im_kernel<<<blocks_for(total), 256, 0, stream()>>>(col.f(), dx + i0 * g.C * g.H * g.W, cg, total);
    SFM_CUDA_CHECK_LAUNCH("col2im_kernel");
  }
}

void cublas_backward_filter(const Geom& g, const float* x, const float* dy, float* dw) {
  const ColGeom cg = col_geom(g);
  const int64_t PQ = g.P * g.Q, K = cg.K, G = group_size(g);
  Scratch col((size_t)(G * K * PQ) * sizeof(float));
  for (int64_t i0 = 0; i0 < g.N; i0 += G) {
    const int64_t cnt = std::min(G, g.N - i0);
    im2col(cg, x + i0 * g.C * g.H * g.W, col.f(), cnt);
    for (int64_t i = 0; i < cnt; ++i) {
      const float* beta = (i0 + i == 0) ? &kZero : &kOne;
      SFM_CUBLAS_CHECK(cublasSgemm(cublas_handle(), CUBLAS_OP_T, CUBLAS_OP_N, (int)K, (int)g.O, (int)PQ, &kOne,
                                   col.f() + i * K * PQ, (int)PQ, dy + (i0 + i) * g.O * PQ, (int)PQ, beta, dw,
                                   (int)K));
    }
  }
}

}  // namespace sfm::cuda::lib
