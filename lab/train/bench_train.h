#pragma once
// What `sfm bench train` does once its options are parsed: cli/bench_train.cpp maps the options
// onto a BenchTrainRequest and calls run_bench_train, which runs one of the modes, prints its
// tables on stdout and writes the JSON (--json, rank 0 only, atomically; in the timing mode
// after each implementation's run too, so a time limit keeps the runs that finished):
//   * --roofline: the per-layer roofline (lab/train/roofline.h), nothing timed;
//   * --compare-cpu: CPU and device trained step by step (lab/train/device_compare.h);
//   * timing (the default): the step benchmark (lab/train/step_bench.h), with the loader-fed run
//     when a loader is given (lab/train/loader_bench.h) and --pytorch's comparison
//     (lab/train/pytorch_bench.h); under a launcher the data-parallel benchmark
//     (lab/train/parallel_bench.h).
#include <string>
#include <vector>

#include "lab/train/device_compare.h"
#include "lab/train/roofline.h"
#include "lab/train/step_bench.h"

namespace sfm {

struct BenchTrainRequest {
  enum class Mode { Time, Roofline, CompareCpu };
  Mode mode = Mode::Time;
  TrainBenchSettings settings;
  bool parallel = false;                     // under a launcher (world().size() > 1)
  std::string conv_impls;                    // --conv-impl as given
  bool conv_impls_given = false;
  std::string data_root;                     // --data ("": a synthetic set)
  const TrainBenchLoader* loader = nullptr;  // null: no loader-fed run (no OpenCV)
  RooflinePeaks peaks;
  DeviceCompareOptions compare;              // --compare-cpu's options
  bool compare_sizes_given = false;          // --batch, --height or --width given
  bool pytorch = false;
  std::string python = "auto", pytorch_script;
  std::string cpu_name;   // the CPU's model name, for the reports
  std::string json_path;  // "": no JSON
};

// The command's checks of the settings, naming its flags (throws sfm::Error).
void check_bench_train_settings(const TrainBenchSettings& s);

// The peaks --peak-fp32-tflops, --peak-tf32-tflops and --peak-gbs give: the datasheet's label when
// they are its values, else one that names them; throws unless all are > 0.
RooflinePeaks bench_train_peaks(double fp32_tflops, double tf32_tflops, double gbs);

// The convolution implementations to time: on CUDA the comma-separated list (default
// "tf32,handwritten" where TF32 exists, else "handwritten"), each checked against this build and
// device; on the CPU {"cpu"}, and --conv-impl refused.
std::vector<std::string> bench_train_conv_impls(Device dev, const std::string& list, bool given);

// Runs the request's mode; returns the exit status (--compare-cpu: 1 when the losses disagree,
// 2 when --device cuda has no GPU).
int run_bench_train(const BenchTrainRequest& r);

}  // namespace sfm
