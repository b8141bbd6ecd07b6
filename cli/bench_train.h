#pragma once
// `sfm bench train` (cli/bench_train.cpp): its settings (models/sfmlearner_bench.h), the
// roofline / traffic analysis of one training iteration computed from the layer shapes
// (cli/bench_train_roofline.cpp), and the hook through which OpenCV builds hand the command
// its loader-fed half.
#include <string>

#include <nlohmann/json.hpp>

#include "models/sfmlearner_bench.h"

namespace sfm::cli {

using BenchTrainSettings = TrainBenchSettings;

// Datasheet peaks (dense, no sparsity) of the NVIDIA H100 SXM5 80 GB; --peak-* override them.
struct Peaks {
  double fp32_tflops = 67.0, tf32_tflops = 494.7, gbs = 3350.0;
  std::string label = "NVIDIA H100 SXM5 datasheet (dense): FP32 67 TFLOP/s, TF32 tensor 494.7 TFLOP/s, HBM3 3.35 TB/s";
};

// Prints the per-layer roofline table and the traffic beyond the minimum (both from the
// shapes, not measured); returns {"roofline": ..., "extra_traffic": ...}.
nlohmann::json bench_train_roofline(const BenchTrainSettings& s, const Peaks& pk);

// The loader-fed half of the benchmark needs OpenCV (train/bench_loader.h), so the OpenCV
// build's cli/bench_train_loader_cv.cpp sets this at start-up; the OpenCV-free executables
// (sfm_core) see null and skip the loader-fed run.
const TrainBenchLoader*& bench_train_loader();

}  // namespace sfm::cli
