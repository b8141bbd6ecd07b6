#pragma once
// CUDA reductions (raw device pointers, on the compute stream). Deterministic: fixed-size
// blocks, a fixed tree inside each, a fixed-order second pass; sums in double; no atomics.
#include <cstdint>

namespace sfm::cuda {

// out[0] = scale * sum(x[0..n)).
void scaled_sum(const float* x, int64_t n, float scale, float* out);
// out[i] = g[0] * scale for i < n; the scalar is read on the device.
void broadcast_scalar(const float* g, float scale, float* out, int64_t n);
// out[i] = x[i] * g[0] for i < n (out may alias x); the scalar is read on the device.
void scale_by_scalar(const float* x, const float* g, float* out, int64_t n);
// out[p] = mean of x[p*hw .. p*hw + hw) for p < planes.
void plane_mean(const float* x, int64_t planes, int64_t hw, float* out);
// out[p*hw + i] = g[p] * scale.
void plane_broadcast(const float* g, int64_t planes, int64_t hw, float scale, float* out);
// out[c] = scale * sum over n < N, i < HW of x[(n*C + c)*HW + i] (per-channel sums, e.g. a bias gradient).
void channel_sum(const float* x, int64_t N, int64_t C, int64_t HW, float scale, float* out);

}  // namespace sfm::cuda
