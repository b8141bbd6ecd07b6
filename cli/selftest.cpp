// sfm selftest (lab/ops/selftest.h). Builds without OpenCV.
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/command.h"
#include "boundary/device_runtime.h"
#include "cpu/parallel.h"
#include "lab/ops/selftest.h"

namespace sfm::cli {

static int selftest_main(const std::vector<std::string>& argv) {
  Args a("selftest",
         "Runs the op case table (lab/ops/op_cases.h: every op and implementation, at the SfMLearner\n"
         "training shapes and at edge shapes) on fresh random inputs, in one of three modes:\n"
         "  compare    the ops on --device in float32 against the CPU in float64 (allocations poisoned with NaN,\n"
         "             every case run twice and required to be bitwise identical);\n"
         "  gradcheck  on the CPU in float64: central finite differences against every analytic gradient;\n"
         "  time       forward + backward on --device, median ms, GFLOP/s and GB/s (--json for the rows).\n"
         "Exit status 0 when nothing failed, 1 when something did, 2 when the device cannot be used.");
  a.option("mode", "compare, gradcheck or time", "compare")
      .option("device", "cpu, cuda, or auto (cuda when a device is present; gradcheck: cpu)", "auto")
      .flag("quick", "few, small shapes (seconds)")
      .option("seed", "seed of the inputs and the random shapes (default: from the clock; printed)", "")
      .option("filter", "only rows whose family/op/implementation/case contains this text", "")
      .option("exclude",
              "leave out rows whose family/op/implementation/case contains any of these (comma-separated; "
              "e.g. cudnn,cublas under compute-sanitizer, which instruments the libraries too)",
              "")
      .option("classes", "only these shape classes, comma-separated: sfmlearner, edge, random (default: all)", "")
      .option("json", "also write the rows as JSON to this file", "")
      .option("threads", "CPU threads (0 = all)", "0")
      .flag("failures", "print only the failing rows and the summary")
      .option("samples", "gradcheck: elements perturbed per differentiable input", "24")
      .option("warmup", "time: untimed calls per row first", "1")
      .option("reps", "time: timed calls per row (default: CPU 3, CUDA 20)", "0");
  if (!a.parse(argv)) return 0;
  const lab::SelftestMode mode = lab::parse_selftest_mode(a.get("mode"));
  std::string dev = a.get("device");
  SFM_CHECK(dev == "cpu" || dev == "cuda" || dev == "auto", "sfm selftest: --device must be cpu, cuda or auto, got '", dev,
            "'");
  if (mode == lab::SelftestMode::Gradcheck) {
    SFM_CHECK(dev != "cuda", "sfm selftest: --mode gradcheck runs on the CPU in float64 (use --device cpu)");
    dev = "cpu";
  }
  if (dev == "auto") dev = cuda_available() ? "cuda" : "cpu";
  if (dev == "cuda" && !cuda_available()) {
    std::fprintf(stderr,
                 "sfm selftest: cannot run --device cuda: %s (nothing was checked; --device cpu checks the CPU ops)\n",
                 cuda_device_name().empty() ? "no CUDA device is available (or the build has no CUDA backend)"
                                            : "the CUDA device cannot be used");
    return 2;
  }
  if (a.get_int("threads") > 0) set_cpu_threads(a.get_int("threads"));
  lab::SelftestOptions o;
  o.mode = mode;
  o.fd_samples = a.get_int("samples");
  o.warmup = a.get_int("warmup");
  o.reps = a.get_int("reps");
  SFM_CHECK(o.fd_samples >= 1, "sfm selftest: --samples must be >= 1, got ", o.fd_samples);
  SFM_CHECK(o.warmup >= 0 && o.reps >= 0, "sfm selftest: --warmup and --reps must be >= 0");
  o.device = dev == "cuda" ? Device::CUDA : Device::CPU;
  o.quick = a.get_flag("quick");
  if (!a.get("seed").empty()) {
    o.seed = std::stoull(a.get("seed"));
    SFM_CHECK(o.seed != 0, "sfm selftest: --seed must be nonzero");
  }
  o.filter = a.get("filter");
  o.exclude = a.get("exclude");
  o.classes = a.get("classes");
  o.json_path = a.get("json");
  o.only_failures = a.get_flag("failures");
  const lab::SelftestReport r = lab::run_selftest(o);
  if (r.passed + r.failed == 0) {
    std::fprintf(stderr, "sfm selftest: no row ran%s\n", o.filter.empty() && o.exclude.empty() ? "" : " (check --filter and --exclude)");
    return 1;
  }
  return r.ok() ? 0 : 1;
}

SFM_COMMAND("selftest", "the op table: compare with float64 (poisoned, twice), --mode gradcheck, --mode time",
            selftest_main);

}  // namespace sfm::cli
