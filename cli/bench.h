#pragma once
// `sfm bench ops`: a declarative table of op benchmarks. Each file cli/bench_ops_<family>.cpp
// registers a function that, given the device and problem size, returns its rows; the driver
// (bench_ops.cpp) times each row (median of repeated calls after warm-up, the device
// synchronised around each call) and prints a table and JSON.
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace sfm::cli {

struct BenchContext {
  Device device = Device::CPU;
  int batch = 4, height = 128, width = 416;
};

struct BenchRow {
  std::string op;     // "conv2d fwd"
  std::string shape;  // "dispnet conv1a 3->32 k7 s2 @128x416"
  double flops = 0;   // floating-point operations per call (0: not meaningful)
  double bytes = 0;   // minimum bytes moved per call (0: not meaningful)
  std::function<void()> run;
};

// "model name" of /proc/cpuinfo ("unknown" when unreadable), for benchmark reports.
std::string cpu_model_name();

using BenchRowsFn = std::function<std::vector<BenchRow>(const BenchContext&)>;
std::vector<std::pair<std::string, BenchRowsFn>>& bench_tables();
struct BenchRegistrar {
  BenchRegistrar(const std::string& family, BenchRowsFn fn) { bench_tables().push_back({family, std::move(fn)}); }
};

}  // namespace sfm::cli

#define SFM_BENCH_OPS(family, fn) \
  static ::sfm::cli::BenchRegistrar SFM_BENCH_CONCAT(sfm_bench_, __LINE__)(family, fn)
#define SFM_BENCH_CONCAT_INNER(a, b) a##b
#define SFM_BENCH_CONCAT(a, b) SFM_BENCH_CONCAT_INNER(a, b)
