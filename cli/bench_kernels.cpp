// `sfm bench kernels`: its options; the benchmark (the rows, CUDA-event timing, the measured
// peaks, the error against the CPU and the JSON) is lab/ops/kernel_bench.{h,cpp}. In a build
// without CUDA, or on a machine without a device, it says so and exits with status 1.
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/command.h"
#include "boundary/error.h"
#include "lab/ops/kernel_bench.h"

namespace sfm::cli {

// The options of `sfm bench kernels`, the same in CUDA and CPU-only builds.
static Args bench_kernels_args() {
  Args a("bench kernels", "Times every CUDA kernel and implementation at the SfMLearner training shapes.");
  a.option("device", "cuda (the only device this benchmark runs on)", "cuda")
      .option("batch", "batch size", "4")
      .option("height", "image height", "128")
      .option("width", "image width", "416")
      .option("sources", "source frames per target", "2")
      .option("reps", "timed calls per row (median reported)", "20")
      .option("warmup", "untimed calls per row first", "3")
      .option("check-batch", "batch of the convolution error check against the CPU (0: no check)", "1")
      .option("impl", "comma-separated subset of handwritten,tf32,cudnn,cublas", "")
      .option("filter", "only rows whose op or shape contains this text", "")
      .option("json", "also write the results as JSON to this file", "");
  return a;
}

static int bench_kernels(const std::vector<std::string>& argv) {
  Args a = bench_kernels_args();
  if (!a.parse(argv)) return 0;
#if SFM_WITH_CUDA
  SFM_CHECK(a.get("device") == "cuda", "sfm bench kernels: --device must be cuda (CPU ops: sfm bench ops)");
#endif
  lab::KernelBenchOptions o;
  o.batch = a.get_int("batch"), o.height = a.get_int("height"), o.width = a.get_int("width");
  o.sources = a.get_int("sources");
  o.reps = a.get_int("reps"), o.warmup = a.get_int("warmup"), o.check_batch = a.get_int("check-batch");
  o.impl_list = a.get("impl"), o.filter = a.get("filter");
  o.json = a.has("json") ? a.get("json") : "";
  return lab::run_kernel_bench(o);
}

SFM_COMMAND("bench kernels", "time every CUDA kernel and implementation at the SfMLearner shapes", bench_kernels);

}  // namespace sfm::cli
