#pragma once
// `sfm bench train` (cli/bench_train.cpp): its settings, and the roofline / traffic analysis
// of one training iteration computed from the layer shapes (cli/bench_train_roofline.cpp).
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/tensor.h"
#include "models/sfmlearner.h"

namespace sfm::cli {

struct BenchTrainSettings {
  Device dev = Device::CPU;
  int batch = 4, height = 128, width = 416, seq_length = 3;
  double mask_weight = 0.2;
  int iters = 3, warmup = 1, loader_iters = 3, workers = 2;
  bool loader = true, cuda_graph = false;
  int sources() const { return seq_length - 1; }
};

// Datasheet peaks (dense, no sparsity) of the NVIDIA H100 SXM5 80 GB; --peak-* override them.
struct Peaks {
  double fp32_tflops = 67.0, tf32_tflops = 494.7, gbs = 3350.0;
  std::string label = "NVIDIA H100 SXM5 datasheet (dense): FP32 67 TFLOP/s, TF32 tensor 494.7 TFLOP/s, HBM3 3.35 TB/s";
};

// Prints the per-layer roofline table and the traffic beyond the minimum (both from the
// shapes, not measured); returns {"roofline": ..., "extra_traffic": ...}.
nlohmann::json bench_train_roofline(const BenchTrainSettings& s, const Peaks& pk);

// The loader-fed half of the benchmark needs OpenCV (train/loader.h decodes the frames), so it
// lives in cli/bench_train_loader_cv.cpp, linked into `sfm` only in OpenCV builds, which sets
// bench_train_loader() at start-up; the OpenCV-free executables (sfm_core) see null.
struct BenchTrainLoader {
  // Writes a small synthetic data set (train/synth_world.h) into dir; returns its description.
  std::function<nlohmann::json(const std::string& dir, const BenchTrainSettings& s)> make_synthetic_set;
  // The loader's own rate, no training: ms per batch over `count` batches back to back.
  std::function<double(const std::string& root, const BenchTrainSettings& s, int workers, int count, bool in_memory)>
      alone_ms;
  // Opens the training loader (augmentation on) on root; each call of the result returns the
  // next batch (on the CPU, normalised).
  std::function<std::function<SfMBatch()>(const std::string& root, const BenchTrainSettings& s)> open;
};
const BenchTrainLoader*& bench_train_loader();

}  // namespace sfm::cli
