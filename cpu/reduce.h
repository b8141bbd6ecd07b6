#pragma once
// Deterministic CPU sums: fixed-size chunks summed in double, chunk results added in order,
// so the result does not depend on the thread count.
#include <cstdint>
#include <vector>

#include "cpu/parallel.h"

namespace sfm::cpu {

constexpr int64_t kReduceChunk = 4096;

template <class T>
double sum_det(const T* x, int64_t n) {
  int64_t chunks = (n + kReduceChunk - 1) / kReduceChunk;
  std::vector<double> part(chunks);
  parallel_for(chunks, [&](int64_t c) {
    int64_t b = c * kReduceChunk, e = b + kReduceChunk < n ? b + kReduceChunk : n;
    double s = 0;
    for (int64_t i = b; i < e; ++i) s += x[i];
    part[c] = s;
  }, 8);
  double s = 0;
  for (double p : part) s += p;
  return s;
}

// The op layer's form, the same signatures as the CUDA launchers (kernels/reduce.h); the
// scales are applied in double here (float32 on CUDA: the kernels' own rounding).
template <class T> void scaled_sum(const T* x, int64_t n, double scale, T* out) { out[0] = T(scale * sum_det(x, n)); }
template <class T> void broadcast_scalar(const T* g, double scale, T* out, int64_t n) {
  const T v = T((double)g[0] * scale);
  parallel_for(n, [&](int64_t i) { out[i] = v; }, 4096);
}
template <class T> void plane_mean(const T* x, int64_t planes, int64_t hw, T* out) {
  for (int64_t p = 0; p < planes; ++p) out[p] = T(sum_det(x + p * hw, hw) / (double)hw);
}
// out[p, i] = scale * g[p] over planes of hw elements (the backward of plane_mean: scale 1/hw).
template <class T> void plane_broadcast(const T* g, int64_t planes, int64_t hw, double scale, T* out) {
  parallel_for(planes, [&](int64_t p) {
    const T v = T((double)g[p] * scale);
    for (int64_t i = 0; i < hw; ++i) out[p * hw + i] = v;
  }, 64);
}

}  // namespace sfm::cpu
