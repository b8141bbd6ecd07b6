#pragma once
// `sfm bench kernels` (cli/bench_kernels.cpp parses its options): times every CUDA kernel at the
// SfMLearner training shapes, in every implementation it has (convolutions: handwritten FP32,
// handwritten TF32, cuDNN, im2col + cuBLAS), with CUDA events on the compute stream (median of
// reps timed calls after warmup untimed ones). Each row reports the achieved TFLOP/s
// (convolutions) or GB/s (memory-bound kernels, from the minimum bytes the op must move), the
// percentage of the device's peak measured here once (a 1 GiB device-to-device copy for
// bandwidth, an 8192^3 cuBLAS SGEMM for FP32 and the same GEMM in TF32 for tensor cores), and the
// error against the CPU (max |gpu - cpu| / max |cpu|; convolutions against the CPU ops in float64
// at check_batch, the rest against the CPU float loops at the timed size). Prints a table; json
// also writes the rows. The rows: kernel_bench.cpp (convolutions, the layers of
// models/sfm_layers.h) and kernel_bench_memory.cpp (memory-bound kernels).
#include <cstdint>
#include <string>

namespace sfm::lab {

struct KernelBenchOptions {
  int64_t batch = 4, height = 128, width = 416, sources = 2;
  int reps = 20, warmup = 3;
  int check_batch = 1;    // batch of the convolution error check against the CPU (0: no check)
  std::string impl_list;  // comma-separated subset of handwritten,tf32,cudnn,cublas ("" = all)
  std::string filter;     // only rows whose op or shape contains this
  std::string json;       // also write the rows there ("" = no file)
};

// Runs the benchmark; 1 when there is no CUDA device (or no CUDA backend in this build), with a
// line saying so, else 0.
int run_kernel_bench(const KernelBenchOptions& o);

}  // namespace sfm::lab
