#pragma once
// CUDA launchers of edge_aware_smoothness (raw device pointers, on the compute stream). The
// per-pixel math is boundary/math/edge_smoothness_math.h, shared with the CPU loops
// (cpu/edge_smoothness.cpp), whose signatures these are. Deterministic: per-entry
// means by the segmented sum, edge sums by fixed block trees added in a fixed order, the
// backward a per-pixel gather. The upstream gradient is read on the device.
#include <cstdint>

namespace sfm::cuda {

// disp [B, H, W], img [B, C, H, W]. stats [2B]: stats[b] = mean_hw(disp_b), stats[B + b] = L_b;
// loss[0] = sum_b L_b.
void edge_smoothness_forward(const float* disp, const float* img, int64_t B, int64_t C, int64_t H, int64_t W,
                             float* stats, float* loss);
// gdisp = g[0] * d loss / d disp.
void edge_smoothness_backward(const float* disp, const float* img, const float* stats, int64_t B, int64_t C, int64_t H,
                              int64_t W, const float* g, float* gdisp);

}  // namespace sfm::cuda
