#pragma once
// `sfm bench ops`'s rows: the op timings the op case table (op_cases.h, timed by `sfm selftest
// --mode time`) does not give: forward and backward apart, the backward without the tape (the
// autograd node's own function), at any batch and image size and at the loss's four scales. One
// declarative list of families (op_bench_families(), in op_bench.cpp), each a function of the
// problem size returning its rows (op_bench_<family>.cpp); run_op_bench() times each row with
// the timer of timing.h (median of repeated calls after a warm-up) and prints a table and JSON.
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace sfm::lab {

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

// The families' rows (op_bench_conv.cpp: conv and resample; op_bench_min_reprojection.cpp;
// op_bench_warp.cpp).
std::vector<BenchRow> conv_rows(const BenchContext& ctx);
std::vector<BenchRow> resample_rows(const BenchContext& ctx);
std::vector<BenchRow> min_reprojection_rows(const BenchContext& ctx);
std::vector<BenchRow> warp_rows(const BenchContext& ctx);

struct BenchFamily {
  std::string family;  // "conv", "resample", "min_reprojection", "warp"
  std::function<std::vector<BenchRow>(const BenchContext&)> rows;
};
// Every family, in the order the benchmark runs and lists them.
const std::vector<BenchFamily>& op_bench_families();

// "model name" of /proc/cpuinfo ("unknown" when unreadable), for benchmark reports.
std::string cpu_model_name();

struct OpBenchOptions {
  BenchContext ctx;
  int reps = 5;
  std::string filter;  // only rows whose op or shape contains this
  std::string json;    // also write the rows there ("" = no file)
};
// Prints "family op shape" of every row that would run.
void list_op_bench(const OpBenchOptions& o);
// Times every row; the table on stdout, the JSON file when o.json is set.
void run_op_bench(const OpBenchOptions& o);

}  // namespace sfm::lab
