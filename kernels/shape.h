#pragma once
// CUDA copies for the shape ops (raw device pointers, on the compute stream).
#include <cstdint>

namespace sfm::cuda {

// dst[i*dst_stride + j] = src[i*src_stride + j] for i < count, j < len.
void copy_blocks(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t len, int64_t count);
// Top-left crop of each of `planes` planes (H,W) -> (h,w).
void crop_planes(const float* src, float* dst, int64_t planes, int64_t H, int64_t W, int64_t h, int64_t w);
// Its adjoint: src (planes,h,w) into the top-left of dst (planes,H,W), zero elsewhere.
void uncrop_planes(const float* src, float* dst, int64_t planes, int64_t H, int64_t W, int64_t h, int64_t w);

}  // namespace sfm::cuda
