#pragma once
// One Adam update of one element (PyTorch's formula), shared by the CPU loop and the CUDA
// multi-tensor kernel. bc1 = 1 - beta1^t, bc2 = 1 - beta2^t.
#include <cmath>

#include "boundary/host_device.h"

namespace sfm::math {

template <class T>
SFM_HD void adam_update(T& p, T g, T& m, T& v, T lr, T beta1, T beta2, T eps, T weight_decay, T bc1, T bc2) {
  if (weight_decay != T(0)) g += weight_decay * p;
  m = beta1 * m + (T(1) - beta1) * g;
  v = beta2 * v + (T(1) - beta2) * g * g;
  T denom = sqrt(v) / sqrt(bc2) + eps;
  p -= (lr / bc1) * m / denom;
}

}  // namespace sfm::math
