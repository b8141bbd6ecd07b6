// CUDA regularisers (kernels in kernels/loss_kernels.h).
#include "kernels/loss.h"

#include "kernels/loss_kernels.h"

namespace sfm::cuda {

void smoothness_forward(const float* x, int64_t planes, int64_t H, int64_t W, const double inv_count[4], float* loss) {
  loss_kernels::launch_smoothness_forward(x, planes, H, W, inv_count, loss);
}
void smoothness_backward(const float* x, int64_t planes, int64_t H, int64_t W, const double inv_count[4],
                         const float* g, float* gx) {
  loss_kernels::launch_smoothness_backward(x, planes, H, W, inv_count, g, gx);
}
void smoothness_value_and_grad(const float* x, int64_t planes, int64_t H, int64_t W, const double inv_count[4],
                               float* loss, float* gx) {
  loss_kernels::launch_smoothness_fused(x, planes, H, W, inv_count, loss, gx);
}
void explainability_value_and_grad(const float* m, int64_t n, float* loss, float* gm) {
  loss_kernels::launch_explainability_fused(m, n, loss, gm);
}
void explainability_forward(const float* m, int64_t n, float* loss) { loss_kernels::launch_explainability_forward(m, n, loss); }
void explainability_backward(const float* m, int64_t n, const float* g, float* gm) {
  loss_kernels::launch_explainability_backward(m, n, g, gm);
}
void softmax_ce_forward(const float* logits, int64_t B, int64_t S, int64_t hw, float* loss) {
  loss_kernels::launch_softmax_ce_forward(logits, B, S, hw, loss);
}
void softmax_ce_backward(const float* logits, int64_t B, int64_t S, int64_t hw, const float* g, float* gl) {
  loss_kernels::launch_softmax_ce_backward(logits, B, S, hw, g, gl);
}
void pairs_mask_forward(const float* logits, int64_t B, int64_t S, int64_t hw, float* mask) {
  loss_kernels::launch_pairs_mask_forward(logits, B, S, hw, mask);
}
void pairs_mask_backward(const float* y, const float* gy, int64_t B, int64_t S, int64_t hw, float* gl) {
  loss_kernels::launch_pairs_mask_backward(y, gy, B, S, hw, gl);
}

}  // namespace sfm::cuda
