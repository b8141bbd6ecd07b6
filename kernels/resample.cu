// CUDA resampling (kernels in kernels/resample_kernels.h).
#include "kernels/resample.h"

#include "kernels/resample_kernels.h"

namespace sfm::cuda {

void upsample2x_forward(const float* x, float* y, int64_t planes, int64_t H, int64_t W) {
  resample_kernels::launch_upsample2x_forward(x, y, planes, H, W);
}
void upsample2x_backward(const float* g, float* gx, int64_t planes, int64_t H, int64_t W) {
  resample_kernels::launch_upsample2x_backward(g, gx, planes, H, W);
}
void area_forward(const float* x, float* y, int64_t planes, int64_t H, int64_t W, int64_t h, int64_t w) {
  resample_kernels::launch_area_forward(x, y, planes, H, W, h, w);
}
void area_backward(const float* g, float* gx, int64_t planes, int64_t H, int64_t W, int64_t h, int64_t w) {
  resample_kernels::launch_area_backward(g, gx, planes, H, W, h, w);
}

}  // namespace sfm::cuda
