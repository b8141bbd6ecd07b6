#include "engine/collective_gradients.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "engine/autograd.h"
#include "boundary/device_runtime.h"
#include "boundary/error.h"
#include "engine/ops.h"

namespace sfm {

GradientAverager::GradientAverager(Collective& comm, size_t bucket_bytes)
    : comm_(comm), bucket_floats_(std::max<size_t>(1, bucket_bytes / sizeof(float))) {}

void GradientAverager::average(const std::vector<Tensor>& params) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const int ranks = comm_.size();
  std::vector<Tensor> grads;
  size_t total = 0;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    SFM_CHECK(g.dtype() == DType::F32 && g.numel() == p.numel(), "GradientAverager: the gradient of a parameter ",
              p.shape().str(), " is not float32 of its shape (", g.desc(), ")");
    grads.push_back(g);
    total += (size_t)g.numel();
  }
  last_floats_ = total;
  if (ranks <= 1 || total == 0) {
    last_total_s_ = last_reduce_s_ = 0;
    return;
  }
  const Device dev = grads.front().device();
  if (!flat_.defined() || (size_t)flat_.numel() != total || flat_.device() != dev)
    flat_ = Tensor::empty(Shape{(int64_t)total}, DType::F32, dev);
  auto copy = [dev](void* dst, const void* src, size_t bytes) {
    if (dev == Device::CPU)
      std::memcpy(dst, src, bytes);
    else
      cuda_memcpy(dst, dev, src, dev, bytes);
  };
  float* flat = flat_.data<float>();
  size_t off = 0;
  for (const Tensor& g : grads) {
    SFM_CHECK(g.device() == dev, "GradientAverager: the parameters are on more than one device");
    copy(flat + off, g.raw_data(), g.nbytes());
    off += (size_t)g.numel();
  }
  const auto t1 = Clock::now();
  for (size_t b = 0; b < total; b += bucket_floats_) {
    const size_t n = std::min(bucket_floats_, total - b);
    if (dev == Device::CPU)
      comm_.all_reduce_sum(flat + b, n);
    else
      comm_.all_reduce_sum_device(flat + b, n);
  }
  if (dev != Device::CPU) cuda_synchronize();
  const auto t2 = Clock::now();
  Tensor mean;
  {
    NoGradGuard ng;
    mean = mul_scalar(flat_, 1.0 / (double)ranks);
  }
  const float* m = mean.data<float>();
  off = 0;
  for (const Tensor& g : grads) {
    copy(g.raw_data(), m + off, g.nbytes());
    off += (size_t)g.numel();
  }
  last_reduce_s_ = std::chrono::duration<double>(t2 - t1).count();
  last_total_s_ = std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace sfm
