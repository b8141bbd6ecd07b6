#pragma once
// `sfm demo`: the whole job on any machine, in a fixed time budget: synthetic data with ground
// truth -> training -> evaluation on held-out scenes -> a report folder.
#include <string>

namespace sfm {

struct DemoOptions {
  std::string out = "demo_out";
  std::string device = "auto";  // auto | cpu | cuda
  double minutes = 15;          // the whole budget, data generation and evaluation included
  int scenes = 0, frames = 0, height = 0, width = 0;  // 0: the device's defaults
  int threads = 0;
  uint64_t seed = 1;
  bool force = false;
  // The PyTorch port's loss learns within minutes on the CPU; the original's (smoothness on
  // disparity at 0.5, out-of-view pixels kept) did not move off the baseline in 570 steps
  // (docs/demo.md). --preset original selects it anyway.
  std::string preset = "pytorch-port";
  double lr = 5e-4;  // the paper's 2e-4 is the `sfm train` default; the demo has minutes
};

struct DemoResult {
  double trained_abs_rel = 0, baseline_abs_rel = 0, untrained_abs_rel = 0;
  bool passed = false;  // trained abs rel <= 0.7 x the baseline's
  bool interrupted = false;  // stopped by a signal: no report was written (`sfm demo` exits 130)
};

// SIGINT/SIGTERM/SIGHUP stop run_demo at any stage (data generation, training with its
// checkpoint saved, evaluation); it then writes no report and returns interrupted.
void install_demo_stop_handlers();
void request_demo_stop();

DemoResult run_demo(const DemoOptions& opt);

}  // namespace sfm
