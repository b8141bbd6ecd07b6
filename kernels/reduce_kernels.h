#pragma once
// Deterministic reductions (device code; kernels/reduce.cu wraps them, the conv bias
// gradient and the emulated tests use them directly).
//
// One primitive covers them all: the segmented sum of x viewed as [N, C, HW],
//   out[c] = scale * sum_{n, i} x[(n*C + c)*HW + i],
// (a full sum is C = N = 1; a per-plane mean is N = 1, C = planes; a bias gradient is the
// sum over N, H, W per channel). Pass 1 gives each block a fixed chunk of 4096 elements of
// one segment; its 256 threads add fixed strided subsets in double and a fixed shared-
// memory tree adds the threads. Pass 2 adds the chunk sums of each segment in a fixed
// order the same way. No atomics, no dependence on timing: the bits are reproducible.
#include <algorithm>
#include <cstdint>

#include "kernels/kernel_compiler.h"

namespace sfm::cuda {
SFM_KERNEL_NS_BEGIN
namespace reduce_kernels {

constexpr int kThreads = 256;
constexpr int kChunk = 4096;

// Sum of one value per thread over the block, in a fixed tree order; every thread gets it.
SFM_DEV double block_sum(double v, double* sh) {
  const int t = (int)threadIdx.x;
  sh[t] = v;
  sfm_syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (t < s) sh[t] += sh[t + s];
    sfm_syncthreads();
  }
  const double r = sh[0];
  sfm_syncthreads();  // sh may be reused at once
  return r;
}

// Sums NV values per thread over the block (blockDim.x == kThreads), NV fixed trees side
// by side in sh[NV * kThreads]; every thread gets the totals in out[]. Every thread must
// call it.
template <int NV>
SFM_DEV void block_sum_n(const double (&v)[NV], double* sh, double (&out)[NV]) {
  const int t = (int)threadIdx.x;
  for (int k = 0; k < NV; ++k) sh[k * kThreads + t] = v[k];
  sfm_syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (t < s)
      for (int k = 0; k < NV; ++k) sh[k * kThreads + t] += sh[k * kThreads + t + s];
    sfm_syncthreads();
  }
  for (int k = 0; k < NV; ++k) out[k] = sh[k * kThreads];
  sfm_syncthreads();  // sh may be reused at once
}

struct SegSum {
  const float* x;
  int C;
  FastDiv hw;          // HW
  int64_t per;         // N*HW elements per segment
  int chunks;          // ceil(per / kChunk)
  double scale;
  float* out;          // [C]
  double* partial;     // [C, chunks] (chunks > 1)
};

SFM_GLOBAL void SFM_LAUNCH_BOUNDS(kThreads) seg_sum_pass1(SegSum s) {
  SFM_SHARED_ARRAY(double, sh, [kThreads]);
  const int b = (int)blockIdx.x;
  const int64_t begin = (int64_t)b * kChunk;
  const int64_t end = begin + kChunk < s.per ? begin + kChunk : s.per;
  for (int c = (int)blockIdx.y; c < s.C; c += (int)gridDim.y) {
    double acc = 0;
    for (int64_t j = begin + threadIdx.x; j < end; j += kThreads) {
      uint32_t n, i;
      s.hw.divmod((uint32_t)j, n, i);
      acc += (double)s.x[((int64_t)n * s.C + c) * s.hw.d + i];
    }
    const double tot = block_sum(acc, sh);
    if (threadIdx.x == 0) {
      if (s.chunks == 1)
        s.out[c] = (float)(tot * s.scale);
      else
        s.partial[(int64_t)c * s.chunks + b] = tot;
    }
  }
}

SFM_GLOBAL void SFM_LAUNCH_BOUNDS(kThreads) seg_sum_pass2(SegSum s) {
  SFM_SHARED_ARRAY(double, sh, [kThreads]);
  for (int c = (int)blockIdx.x; c < s.C; c += (int)gridDim.x) {
    double acc = 0;
    for (int i = (int)threadIdx.x; i < s.chunks; i += kThreads) acc += s.partial[(int64_t)c * s.chunks + i];
    const double tot = block_sum(acc, sh);
    if (threadIdx.x == 0) s.out[c] = (float)(tot * s.scale);
  }
}

// out[0] = (sum of the n partials, in order) / divisor, by one block of kThreads: thread t
// adds partials t, t+256, ... in order, then the fixed tree.
SFM_GLOBAL void SFM_LAUNCH_BOUNDS(kThreads) finish_mean_kernel(const double* partial, int64_t n, double divisor,
                                                              float* out) {
  SFM_SHARED_ARRAY(double, sh, [kThreads]);
  double v = 0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) v += partial[i];
  const double tot = block_sum(v, sh);
  if (threadIdx.x == 0) out[0] = (float)(tot / divisor);
}

SFM_GLOBAL void fill_kernel_f32(float* out, int64_t n, float v) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = v;
}

// out[c] = scale * sum over n < N, i < HW of x[(n*C + c)*HW + i]; out has C floats.
inline void launch_segmented_sum(const float* x, int64_t N, int64_t C, int64_t HW, double scale, float* out) {
  if (C <= 0) return;
  const int64_t per = N * HW;
  SFM_CHECK(per < (int64_t(1) << 31) && C < (int64_t(1) << 31), "segmented sum: ", N, "x", C, "x", HW,
            " is too large for 32-bit indexing");
  if (per == 0) {
    auto* k = &fill_kernel_f32;
    SFM_LAUNCH(k, dim3((unsigned)std::min<int64_t>(ceil_div(C, 256), 1024)), dim3(256), out, C, 0.0f);
    return;
  }
  SegSum s;
  s.x = x;
  s.C = (int)C;
  s.hw = FastDiv((uint32_t)HW);
  s.per = per;
  s.chunks = (int)ceil_div(per, kChunk);
  s.scale = scale;
  s.out = out;
  Scratch ws(s.chunks > 1 ? (size_t)C * s.chunks * sizeof(double) : 0);
  s.partial = static_cast<double*>(ws.get());
  const unsigned gy = (unsigned)std::min<int64_t>(C, 65535);
  auto* k1 = &seg_sum_pass1;
  SFM_LAUNCH(k1, dim3((unsigned)s.chunks, gy), dim3(kThreads), s);
  if (s.chunks > 1) {
    auto* k2 = &seg_sum_pass2;
    SFM_LAUNCH(k2, dim3(gy), dim3(kThreads), s);
  }
}

// out[i] = g[i / hw] * scale for i < planes*hw (hw = 1, planes = n: out = g * scale).
SFM_GLOBAL void plane_broadcast_kernel(const float* g, FastDiv hw, int64_t n, float scale, float* out) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = g[hw.div((uint32_t)i)] * scale;
}
// out[i] = g[0] * scale; the scalar is read on the device (no host round trip).
SFM_GLOBAL void scalar_broadcast_kernel(const float* g, int64_t n, float scale, float* out) {
  const float v = g[0] * scale;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = v;
}

// out[i] = x[i] * g[0] (out may alias x); the scalar is read on the device.
SFM_GLOBAL void scale_by_scalar_kernel(const float* x, const float* g, int64_t n, float* out) {
  const float v = g[0];
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = x[i] * v;
}

inline unsigned elementwise_blocks(int64_t n, int threads = 256) {
  const int64_t cap = (int64_t)planner_sm_count() * 16;
  return (unsigned)std::max<int64_t>(1, std::min<int64_t>(ceil_div(n, threads), cap));
}

inline void launch_plane_broadcast(const float* g, int64_t planes, int64_t hw, float scale, float* out) {
  const int64_t n = planes * hw;
  if (n == 0) return;
  SFM_CHECK(n < (int64_t(1) << 31), "plane broadcast: ", planes, "x", hw, " is too large for 32-bit indexing");
  auto* k = &plane_broadcast_kernel;
  SFM_LAUNCH(k, dim3(elementwise_blocks(n)), dim3(256), g, FastDiv((uint32_t)hw), n, scale, out);
}

inline void launch_scale_by_scalar(const float* x, const float* g, float* out, int64_t n) {
  if (n == 0) return;
  auto* k = &scale_by_scalar_kernel;
  SFM_LAUNCH(k, dim3(elementwise_blocks(n)), dim3(256), x, g, n, out);
}

inline void launch_scalar_broadcast(const float* g, float scale, float* out, int64_t n) {
  if (n == 0) return;
  auto* k = &scalar_broadcast_kernel;
  SFM_LAUNCH(k, dim3(elementwise_blocks(n)), dim3(256), g, n, scale, out);
}

}  // namespace reduce_kernels
SFM_KERNEL_NS_END
}  // namespace sfm::cuda
