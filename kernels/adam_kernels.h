#pragma once
// Multi-tensor Adam kernel (device code; kernels/adam.cu wraps it). The tensor table travels
// as a kernel parameter (CUDA 12.1+ allows 32 KiB of parameters on sm_70+), so a step needs
// no host-to-device copy and can be captured in a CUDA graph. Block b finds its tensor by a
// binary search over the chunk prefix sums and updates that tensor's chunk b - start.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "boundary/math/adam_math.h"
#include "kernels/adam.h"
#include "kernels/kernel_compiler.h"

namespace sfm::cuda {
SFM_KERNEL_NS_BEGIN
namespace adam_kernels {

constexpr int kMaxTensors = 192;
constexpr int kChunk = 4096;  // elements per block
constexpr int kThreads = 256;

struct Batch {
  AdamTensor t[kMaxTensors];
  int64_t chunk_start[kMaxTensors + 1];  // prefix sums of the tensors' chunk counts
  int count;
};

struct Hyper {
  float lr, b1, b2, eps, wd, bc1, bc2;
};

SFM_GLOBAL void SFM_LAUNCH_BOUNDS(kThreads) adam_kernel(const Batch b, const Hyper h) {
  const int64_t chunk = blockIdx.x;
  int lo = 0, hi = b.count - 1;  // the last tensor whose first chunk is <= this one
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (b.chunk_start[mid] <= chunk)
      lo = mid;
    else
      hi = mid - 1;
  }
  const AdamTensor T = b.t[lo];
  const int64_t begin = (chunk - b.chunk_start[lo]) * kChunk;
  const int64_t end = begin + kChunk < T.n ? begin + kChunk : T.n;
  for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
    float p = T.p[i], m = T.m[i], v = T.v[i];
    math::adam_update(p, T.g[i], m, v, h.lr, h.b1, h.b2, h.eps, h.wd, h.bc1, h.bc2);
    T.p[i] = p;
    T.m[i] = m;
    T.v[i] = v;
  }
}

inline void launch_adam(const std::vector<AdamTensor>& ts, const Hyper& h) {
  for (size_t first = 0; first < ts.size(); first += kMaxTensors) {
    const size_t cnt = std::min<size_t>(kMaxTensors, ts.size() - first);
    Batch b{};
    b.count = (int)cnt;
    int64_t chunks = 0;
    for (size_t i = 0; i < cnt; ++i) {
      const AdamTensor& t = ts[first + i];
      SFM_CHECK(t.n >= 0 && (t.n == 0 || (t.p && t.g && t.m && t.v)), "adam_multi_tensor: tensor ", first + i,
                " has a null pointer or a negative size");
      b.t[i] = t;
      b.chunk_start[i] = chunks;
      chunks += ceil_div(t.n, kChunk);
    }
    b.chunk_start[cnt] = chunks;
    if (chunks == 0) continue;
    SFM_CHECK(chunks < (int64_t(1) << 31), "adam_multi_tensor: too many elements");
    auto* k = &adam_kernel;
    SFM_LAUNCH(k, dim3((unsigned)chunks), dim3(kThreads), b, h);
  }
}

}  // namespace adam_kernels
SFM_KERNEL_NS_END
}  // namespace sfm::cuda
