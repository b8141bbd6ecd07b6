#pragma once
// What kernel_bench.cpp and kernel_bench_memory.cpp share (CUDA builds only): a row, the
// measured peaks, and the benchmark under way (its sizes, filter and report()).
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/tensor.h"
#include "lab/ops/kernel_bench.h"

namespace sfm::lab::kbench {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

enum class Peak { Fp32, Tf32, Bandwidth };

struct Row {
  std::string op, shape, impl;
  double flops = 0, bytes = 0;
  Peak peak = Peak::Bandwidth;
  std::function<void()> run;
  double err = kNaN;  // vs the CPU
};

struct Peaks {
  double gbs = 0, fp32_tflops = 0, tf32_tflops = 0;
};

// The benchmark under way: its options and sizes, and the rows reported so far.
struct KernelBench {
  KernelBenchOptions o;
  int64_t B = 0, H = 0, W = 0, S = 0;
  Peaks peaks;
  nlohmann::json rows = nlohmann::json::array();
  bool wanted(const std::string& op, const std::string& shape) const {
    return o.filter.empty() || op.find(o.filter) != std::string::npos || shape.find(o.filter) != std::string::npos;
  }
  // Times r (warmup, reps), prints its line and appends its JSON row (kernel_bench.cpp).
  void report(Row& r);
};

// Tensors on the device: NaN-filled (an unwritten element shows), a float32 copy, a vector.
Tensor nan_gpu(const Shape& s);
Tensor gpu(const Tensor& t);
Tensor gpu_vec(const std::vector<float>& v);

// The memory-bound kernels' rows (kernel_bench_memory.cpp).
void memory_rows(KernelBench& kb);

}  // namespace sfm::lab::kbench
