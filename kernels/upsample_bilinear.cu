// CUDA upsample_bilinear (kernels in kernels/upsample_bilinear_kernels.h).
#include "kernels/upsample_bilinear.h"

#include "kernels/upsample_bilinear_kernels.h"

namespace sfm::cuda {

void upsample_bilinear_forward(const float* x, float* y, int64_t planes, int64_t H, int64_t W, int64_t Ho, int64_t Wo) {
  upsample_bilinear_kernels::launch_upsample_bilinear_forward(x, y, planes, H, W, Ho, Wo);
}
void upsample_bilinear_backward(const float* g, float* gx, int64_t planes, int64_t H, int64_t W, int64_t Ho,
                                int64_t Wo) {
  upsample_bilinear_kernels::launch_upsample_bilinear_backward(g, gx, planes, H, W, Ho, Wo);
}

}  // namespace sfm::cuda
