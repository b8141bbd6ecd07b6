// sfm selftest (engine/testing/selftest.h). Builds without OpenCV.
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/command.h"
#include "engine/device_runtime.h"
#include "engine/parallel.h"
#include "engine/testing/selftest.h"

namespace sfm::cli {

static int selftest_main(const std::vector<std::string>& argv) {
  Args a("selftest",
         "Checks every op and every implementation of it on fresh random inputs: the ops on --device in float32\n"
         "against the CPU in float64 (allocations poisoned with NaN, every case run twice and required to be\n"
         "bitwise identical), at the SfMLearner training shapes and at edge shapes. Exit status 0 when nothing\n"
         "failed, 1 when something did, 2 when the device cannot be used.");
  a.option("device", "cpu, cuda, or auto (cuda when a device is present)", "auto")
      .flag("quick", "few, small shapes (seconds)")
      .option("seed", "seed of the inputs and the random shapes (default: from the clock; printed)", "")
      .option("filter", "only rows whose family/op/implementation/case contains this text", "")
      .option("json", "also write the rows as JSON to this file", "")
      .option("threads", "CPU threads (0 = all)", "0")
      .flag("failures", "print only the failing rows and the summary");
  if (!a.parse(argv)) return 0;
  std::string dev = a.get("device");
  SFM_CHECK(dev == "cpu" || dev == "cuda" || dev == "auto", "sfm selftest: --device must be cpu, cuda or auto, got '", dev,
            "'");
  if (dev == "auto") dev = cuda_available() ? "cuda" : "cpu";
  if (dev == "cuda" && !cuda_available()) {
    std::fprintf(stderr,
                 "sfm selftest: cannot run --device cuda: %s (nothing was checked; --device cpu checks the CPU ops)\n",
                 cuda_device_name().empty() ? "no CUDA device is available (or the build has no CUDA backend)"
                                            : "the CUDA device cannot be used");
    return 2;
  }
  if (a.get_int("threads") > 0) set_cpu_threads(a.get_int("threads"));
  testing::SelftestOptions o;
  o.device = dev == "cuda" ? Device::CUDA : Device::CPU;
  o.quick = a.get_flag("quick");
  if (!a.get("seed").empty()) {
    o.seed = std::stoull(a.get("seed"));
    SFM_CHECK(o.seed != 0, "sfm selftest: --seed must be nonzero");
  }
  o.filter = a.get("filter");
  o.json_path = a.get("json");
  o.only_failures = a.get_flag("failures");
  const testing::SelftestReport r = testing::run_selftest(o);
  if (r.passed + r.failed == 0) {
    std::fprintf(stderr, "sfm selftest: no row ran%s\n", o.filter.empty() ? "" : " (check --filter)");
    return 1;
  }
  return r.ok() ? 0 : 1;
}

SFM_COMMAND("selftest", "check every op and implementation against a float64 reference (poisoned, twice)",
            selftest_main);

}  // namespace sfm::cli
