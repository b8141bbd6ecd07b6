// sfm demo
#include "cli/args.h"
#include "cli/command.h"
#include "boundary/device_runtime.h"
#include "lab/ops/selftest.h"
#include "train/demo.h"
#include "train/trainer.h"

namespace sfm::cli {

static int demo_main(const std::vector<std::string>& argv) {
  Args a("demo",
         "Generates a synthetic driving data set with exact depth, trains SfMLearner on it within the time\n"
         "budget, evaluates on held-out scenes against a constant-median-depth baseline and the untrained\n"
         "network, and writes OUT/report (metrics table, depth picture grid, loss curve).");
  a.option("out", "output folder", "demo_out")
      .option("minutes", "the whole time budget", "15")
      .option("device", "auto, cpu or cuda", "auto")
      .option("scenes", "synthetic scenes (default: 16 on the CPU, 40 on a GPU)", "0")
      .option("frames", "frames per scene (default: 40 on the CPU, 60 on a GPU)", "0")
      .option("height", "image height (default: 64 on the CPU, 128 on a GPU)", "0")
      .option("width", "image width (default: 208 on the CPU, 416 on a GPU)", "0")
      .option("preset", "loss preset: original or pytorch-port", "pytorch-port")
      .option("lr", "Adam learning rate", "5e-4")
      .option("seed", "seed for data, weights and order", "1")
      .option("threads", "CPU threads (0 = all)", "0")
      .flag("force", "replace OUT if it exists")
      .flag("skip-selftest", "do not run the CUDA kernel selftest (sfm selftest --quick) before training");
  if (!a.parse(argv)) return 0;
  DemoOptions o;
  o.out = a.get("out");
  o.minutes = a.get_double("minutes");
  o.device = a.get("device");
  SFM_CHECK(o.device == "auto" || o.device == "cpu" || o.device == "cuda", "sfm demo: --device must be auto, cpu or cuda");
  o.scenes = a.get_int("scenes");
  o.frames = a.get_int("frames");
  o.height = a.get_int("height");
  o.width = a.get_int("width");
  o.preset = a.get("preset");
  o.lr = a.get_double("lr");
  o.seed = (uint64_t)a.get_int("seed");
  o.threads = a.get_int("threads");
  o.force = a.get_flag("force");
  // On CUDA (run_demo's choice for auto: CUDA when a device is present), refuse to train on a
  // kernel that fails the quick selftest.
  const bool cuda = o.device == "cuda" || (o.device == "auto" && cuda_available());
  if (!a.get_flag("skip-selftest")) lab::require_selftest_pass(cuda ? Device::CUDA : Device::CPU, "sfm demo");
  install_demo_stop_handlers();  // a stop at any stage: no report, exit 130
  DemoResult r = run_demo(o);
  if (r.interrupted) return 130;
  return r.passed ? 0 : 4;
}

SFM_COMMAND("demo", "synthetic data -> training -> evaluation report, in a time budget", demo_main);

}  // namespace sfm::cli
