// CUDA multi-tensor Adam (kernel in kernels/adam_kernels.h).
#include "kernels/adam.h"

#include "kernels/adam_kernels.h"

namespace sfm::cuda {

void adam_multi_tensor(const std::vector<AdamTensor>& ts, float lr, float beta1, float beta2, float eps,
                       float weight_decay, float bc1, float bc2) {
  adam_kernels::launch_adam(ts, adam_kernels::Hyper{lr, beta1, beta2, eps, weight_decay, bc1, bc2});
}

}  // namespace sfm::cuda
