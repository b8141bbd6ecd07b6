// CUDA edge_aware_smoothness (kernels in kernels/edge_smoothness_kernels.h).
#include "kernels/edge_smoothness.h"

#include "kernels/edge_smoothness_kernels.h"

namespace sfm::cuda {

void edge_smoothness_forward(const float* disp, const float* img, int64_t B, int64_t C, int64_t H, int64_t W,
                             float* stats, float* loss) {
  edge_smoothness_kernels::launch_edge_smoothness_forward(disp, img, B, C, H, W, stats, loss);
}
void edge_smoothness_backward(const float* disp, const float* img, const float* stats, int64_t B, int64_t C, int64_t H,
                              int64_t W, const float* g, float* gdisp) {
  edge_smoothness_kernels::launch_edge_smoothness_backward(disp, img, stats, B, C, H, W, g, gdisp);
}

}  // namespace sfm::cuda
