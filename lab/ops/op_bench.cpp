// The driver of `sfm bench ops`'s rows (op_bench.h).
#include "lab/ops/op_bench.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/autograd.h"
#include "boundary/device_runtime.h"
#include "engine/file_io.h"
#include "cpu/parallel.h"
#include "lab/ops/timing.h"

namespace sfm::lab {

const std::vector<BenchFamily>& op_bench_families() {
  static const std::vector<BenchFamily> families{{"conv", conv_rows},
                                                 {"resample", resample_rows},
                                                 {"min_reprojection", min_reprojection_rows},
                                                 {"warp", warp_rows}};
  return families;
}

std::string cpu_model_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      return p == std::string::npos ? line : line.substr(p + 2);
    }
  return "unknown";
}

static bool wanted(const OpBenchOptions& o, const BenchRow& r) {
  return o.filter.empty() || r.op.find(o.filter) != std::string::npos || r.shape.find(o.filter) != std::string::npos;
}

void list_op_bench(const OpBenchOptions& o) {
  for (const BenchFamily& f : op_bench_families())
    for (const BenchRow& r : f.rows(o.ctx))
      if (wanted(o, r)) std::printf("%-8s %-26s %s\n", f.family.c_str(), r.op.c_str(), r.shape.c_str());
}

void run_op_bench(const OpBenchOptions& o) {
  const BenchContext& ctx = o.ctx;
  const std::string dev = ctx.device == Device::CPU ? "cpu" : "cuda";
  const std::string device_desc = ctx.device == Device::CPU
                                      ? cpu_model_name() + ", " + std::to_string(cpu_threads()) + " threads"
                                      : cuda_device_name();
  std::printf("sfm bench ops: device %s (%s), batch %d, %dx%d, median of %d calls\n", dev.c_str(),
              device_desc.c_str(), ctx.batch, ctx.height, ctx.width, o.reps);
  std::printf("%-26s %-44s %10s %10s %10s\n", "op", "shape", "ms", "GFLOP/s", "GB/s");
  nlohmann::json rows = nlohmann::json::array();
  NoGradGuard no_grad;
  for (const BenchFamily& f : op_bench_families()) {
    for (BenchRow& r : f.rows(ctx)) {
      if (!wanted(o, r)) continue;
      const CallTimes t = time_calls(r.run, 1, o.reps);  // one warm-up call
      const double med = t.ms_median;
      const double gflops = r.flops > 0 ? r.flops / (med * 1e6) : 0;
      const double gbs = r.bytes > 0 ? r.bytes / (med * 1e6) : 0;
      std::printf("%-26s %-44s %10.3f %10.1f %10.1f\n", r.op.c_str(), r.shape.c_str(), med, gflops, gbs);
      std::fflush(stdout);
      rows.push_back({{"family", f.family}, {"op", r.op}, {"shape", r.shape}, {"ms_median", med},
                      {"ms_min", t.ms_min}, {"ms_max", t.ms_max}, {"flops", r.flops}, {"bytes", r.bytes},
                      {"gflops", gflops}, {"gbytes_per_s", gbs}});
    }
  }
  if (!o.json.empty()) {
    nlohmann::json j = {{"device", dev}, {"device_name", device_desc}, {"batch", ctx.batch},
                        {"height", ctx.height}, {"width", ctx.width}, {"reps", o.reps}, {"rows", rows}};
    write_file_atomic(o.json, j.dump(2) + "\n");
    std::printf("wrote %s\n", o.json.c_str());
  }
}

}  // namespace sfm::lab
