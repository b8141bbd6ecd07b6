#pragma once
// CPU loops of edge_aware_smoothness; the per-pixel math is boundary/math/edge_smoothness_math.h.
// Sums are deterministic: each row summed serially in double, rows added in order per batch
// entry, independent of the thread count. Same signatures as the CUDA launchers
// (kernels/edge_smoothness.h): host memory here, device memory there.
#include <cstdint>

namespace sfm::cpu {

// disp [B, H, W] (one channel), img [B, C, H, W]. stats [2B]: stats[b] = mean_hw(disp_b),
// stats[B + b] = L_b (batch entry b's share of the loss); loss[0] = sum_b L_b.
template <class T>
void edge_smoothness_forward(const T* disp, const T* img, int64_t B, int64_t C, int64_t H, int64_t W, T* stats,
                             T* loss);
// gdisp = g[0] * d loss / d disp, from the forward's stats.
template <class T>
void edge_smoothness_backward(const T* disp, const T* img, const T* stats, int64_t B, int64_t C, int64_t H, int64_t W,
                              const T* g, T* gdisp);

}  // namespace sfm::cpu
