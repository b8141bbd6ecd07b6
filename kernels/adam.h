#pragma once
// Fused multi-tensor Adam on CUDA: one kernel launch updates every parameter tensor.
#include <cstdint>
#include <vector>

namespace sfm::cuda {

struct AdamTensor {
  float* p;        // parameter
  const float* g;  // its gradient
  float* m;        // first moment
  float* v;        // second moment
  int64_t n;       // elements
};

// One Adam step (boundary/math/adam_math.h, PyTorch's formula) over all tensors: a single
// launch whose blocks each take a fixed chunk of one tensor (up to 192 tensors per launch;
// more are done in further launches). bc1 = 1 - beta1^t, bc2 = 1 - beta2^t.
void adam_multi_tensor(const std::vector<AdamTensor>& ts, float lr, float beta1, float beta2, float eps,
                       float weight_decay, float bc1, float bc2);

}  // namespace sfm::cuda
