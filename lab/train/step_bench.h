#pragma once
// `sfm bench train` (issue 8): the wall time of one SfMLearner training iteration, the step
// `sfm train` runs (SfMLearner::step, models/sfmlearner.h) with the benchmark's configuration
// (sfmlearner_defaults: the 'original' loss preset with the explainability mask at
// mask_weight, Adam lr 2e-4, seed 0): normalise, DispNet and PoseExpNet forward, the
// four-scale loss, zero_grad, backward, one Adam step. Measured per convolution implementation
// (CUDA; the CPU always uses im2col + Eigen):
//   * pre-loaded: the median wall time per iteration (the device synchronised at the end of
//     each) after `warmup` untimed iterations, with the batch already on the device
//     (train_bench_batch), and images/s;
//   * the breakdown of the median iteration into forward, loss, backward and Adam (on CUDA
//     from a separate pass with a synchronisation at each phase boundary);
//   * peak memory: the device allocator's peak bytes over the timed iterations (reset after
//     the warm-up; parameters, gradients and Adam state count), and on CUDA the reserved bytes;
//   * with a loader (OpenCV builds, lab/train/loader_bench.h) the same iteration fed by the real
//     data loader, each batch copied to the device, from a data set or a small synthetic one
//     generated into a temporary folder; its median and the ratio pre-loaded / loader;
//   * cuda_graph (CUDA only, experimental): the same step captured once into a CUDA graph and
//     replayed (lab/train/step_graph.h).
// The PyTorch comparison is lab/train/pytorch_bench.h, the step-by-step CPU-vs-device
// training comparison lab/train/device_compare.h; lab/train/bench_train.h runs them as the command
// asks and prints (cli/bench_train.cpp parses the options). OpenCV-free.
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "boundary/allocator.h"
#include "models/sfmlearner.h"

namespace sfm {

class DataParallelStep;

struct TrainBenchSettings {
  Device dev = Device::CPU;
  int batch = 4, height = 128, width = 416, seq_length = 3;
  double mask_weight = 0.2;
  int iters = 3, warmup = 1, loader_iters = 3, workers = 2;
  bool loader = true, cuda_graph = false;
  int sources() const { return seq_length - 1; }
};

// The loader-fed half of the benchmark. The data loader decodes images with OpenCV, so
// lab/train/loader_bench.h implements these and models/ sees only the functions.
struct TrainBenchLoader {
  // Writes a small synthetic data set into dir; returns its description for the report.
  std::function<nlohmann::json(const std::string& dir, const TrainBenchSettings& s)> make_synthetic_set;
  // The loader's own rate, no training: ms per batch over `count` batches back to back.
  std::function<double(const std::string& root, const TrainBenchSettings& s, int workers, int count, bool in_memory)>
      alone_ms;
  // Opens the training loader (augmentation on) on root; each call of the result returns the
  // next batch (on the CPU, normalised).
  std::function<std::function<SfMBatch()>(const std::string& root, const TrainBenchSettings& s)> open;
};

// Wall times of a step's phases in ms (the device synchronised at each boundary).
struct StepPhases {
  double forward = 0, loss = 0, backward = 0, adam = 0;
};

// The benchmark's iteration: SfMLearner::step as the trainer runs it, except that the loss is
// not read back to the host every step (skip_non_finite off; the trainer's extra read is one
// scalar, and the check cannot change a finite step). With `phases` the device is
// synchronised and timed at each phase boundary; with `parallel` the step is the job's
// data-parallel step (models/sfmlearner_parallel.h), as the trainer runs it under a launcher.
StepLosses train_bench_step(SfMLearner& m, const SfMBatch& b, StepPhases* phases = nullptr,
                            DataParallelStep* parallel = nullptr);

// The pre-loaded batch: random_batch with seed 12345 on s.dev (seeded smooth random images in
// [0,255], KITTI-like K), normalised once as the loader normalises its batches, so the timed
// step is the trainer's.
SfMBatch train_bench_batch(const TrainBenchSettings& s);

// Nodes on the tape of a loss (each is one recorded op with a backward).
int64_t count_tape_nodes(const Tensor& root);

double bench_median(std::vector<double> v);  // NaN when empty

// A fresh folder under the system's temporary folder, removed with its contents on scope exit
// (the synthetic data set, the PyTorch reference's JSON).
class BenchTempDir {
 public:
  BenchTempDir();
  ~BenchTempDir();
  BenchTempDir(const BenchTempDir&) = delete;
  BenchTempDir& operator=(const BenchTempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One convolution implementation's measurements.
struct TrainBenchRun {
  std::string impl, precision;  // "tf32" / "fp32"
  std::vector<double> ms, loader_ms, loader_wait_ms, graph_ms, graph_loader_ms;
  StepPhases phases;  // medians
  MemoryStats mem_before, mem_after;  // around the timed pre-loaded iterations
  double loss_last = NAN;             // total loss of the last timed pre-loaded iteration
  uint64_t weights_hash_after_timed = 0;  // sfmlearner_weights_hash after warm-up + timed iterations
  double graph_loss = NAN;
  std::string graph_status;
  size_t graph_nodes = 0, graph_capture_mallocs = 0;
  int64_t tape_nodes = 0;
};

struct TrainBenchLoaderAlone {
  int batches = 0, workers = 0;
  double one_thread_ms = NAN, workers_ms = NAN, in_memory_ms = NAN;
};

struct TrainBenchResult {
  std::vector<TrainBenchRun> runs;
  TrainBenchLoaderAlone loader_alone;  // batches == 0: not measured
  std::string load_average_before, load_average_after;
  nlohmann::json report;  // everything, as `sfm bench train --json` writes it
};

struct TrainBenchOptions {
  std::vector<std::string> impls;  // convolution implementations (CUDA), or {"cpu"}
  std::string data_root;           // loader-fed run: "" generates a synthetic set
  std::string device_description;  // for the report ("<cpu model>, N threads" / the GPU's name)
  const TrainBenchLoader* loader = nullptr;  // null: no loader-fed run (no OpenCV)
  std::function<void(const std::string&)> progress;  // one line at a time (may be empty)
  // Called with the report so far after each implementation's run (may be empty): a benchmark
  // cut short by a time limit still leaves the runs that finished (`--json` writes each).
  std::function<void(const nlohmann::json&)> partial_report;
};

// FNV-1a over the bits of every parameter, in Adam's order: equal fingerprints after equal steps
// mean bitwise-equal training (two processes, two ranks).
uint64_t sfmlearner_weights_hash(SfMLearner& m);

// The settings block of the report (also written by --roofline).
nlohmann::json train_bench_settings_json(const TrainBenchSettings& s);

// One run per implementation, as described at the top; the report holds "tool", "settings",
// "device_name", "threads", "data", "loader_alone", "load_average_before/after" and "runs".
TrainBenchResult run_train_bench(const TrainBenchSettings& s, const TrainBenchOptions& o);

}  // namespace sfm
