// CUDA shape copies (kernels in kernels/shape_kernels.h).
#include "kernels/shape.h"

#include "kernels/shape_kernels.h"

namespace sfm::cuda {

void copy_blocks(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t len, int64_t count) {
  shape_kernels::launch_copy_blocks(src, src_stride, dst, dst_stride, len, count);
}
void crop_planes(const float* src, float* dst, int64_t planes, int64_t H, int64_t W, int64_t h, int64_t w) {
  shape_kernels::launch_crop(src, dst, planes, H, W, h, w);
}
void uncrop_planes(const float* src, float* dst, int64_t planes, int64_t H, int64_t W, int64_t h, int64_t w) {
  shape_kernels::launch_uncrop(src, dst, planes, H, W, h, w);
}

}  // namespace sfm::cuda
