// CUDA min_reprojection_loss (kernels in kernels/min_reprojection_kernels.h).
#include "kernels/min_reprojection.h"

#include "kernels/min_reprojection_kernels.h"

namespace sfm::cuda {

void min_reprojection_forward(const float* tgt, const float* srcs, const float* depth, const float* poses,
                              const float* K, MinReprojectionDims d, const MinReprojectionOptions& opt, float* loss,
                              float* chosen, float* warped) {
  min_reprojection_kernels::launch_forward(tgt, srcs, depth, poses, K, d, opt, loss, chosen, warped);
}
void min_reprojection_backward(const float* tgt, const float* srcs, const float* depth, const float* poses,
                               const float* K, const float* chosen, MinReprojectionDims d,
                               const MinReprojectionOptions& opt, const float* gscale, float* gdepth, float* gposes) {
  min_reprojection_kernels::launch_backward(tgt, srcs, depth, poses, K, chosen, d, opt, gscale, gdepth, gposes);
}

}  // namespace sfm::cuda
