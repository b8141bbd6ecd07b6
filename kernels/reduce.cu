// CUDA reductions (kernels in kernels/reduce_kernels.h).
#include "kernels/reduce.h"

#include "kernels/reduce_kernels.h"

namespace sfm::cuda {

void scaled_sum(const float* x, int64_t n, float scale, float* out) {
  reduce_kernels::launch_segmented_sum(x, 1, 1, n, (double)scale, out);
}
void broadcast_scalar(const float* g, float scale, float* out, int64_t n) { reduce_kernels::launch_scalar_broadcast(g, scale, out, n); }
void scale_by_scalar(const float* x, const float* g, float* out, int64_t n) {
  reduce_kernels::launch_scale_by_scalar(x, g, out, n);
}
void plane_mean(const float* x, int64_t planes, int64_t hw, float* out) {
  reduce_kernels::launch_segmented_sum(x, 1, planes, hw, hw > 0 ? 1.0 / (double)hw : 0.0, out);
}
void plane_broadcast(const float* g, int64_t planes, int64_t hw, float scale, float* out) {
  reduce_kernels::launch_plane_broadcast(g, planes, hw, scale, out);
}
void channel_sum(const float* x, int64_t N, int64_t C, int64_t HW, float scale, float* out) {
  reduce_kernels::launch_segmented_sum(x, N, C, HW, (double)scale, out);
}

}  // namespace sfm::cuda
