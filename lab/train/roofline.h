#pragma once
// The roofline of one SfMLearner training iteration and the DRAM traffic the implementation
// moves beyond it, computed from the layer shapes (models/sfm_layers.h), not measured: what
// `sfm bench train --roofline` prints.
#include <string>

#include <nlohmann/json.hpp>

#include "lab/train/step_bench.h"

namespace sfm {

// Datasheet peaks (dense, no sparsity) of the NVIDIA H100 SXM5 80 GB; --peak-* override them.
struct RooflinePeaks {
  double fp32_tflops = 67.0, tf32_tflops = 494.7, gbs = 3350.0;
  std::string label = "NVIDIA H100 SXM5 datasheet (dense): FP32 67 TFLOP/s, TF32 tensor 494.7 TFLOP/s, HBM3 3.35 TB/s";
};

// Prints the per-layer roofline table and the traffic beyond the minimum for the benchmark's
// settings; returns {"roofline": ..., "extra_traffic": ...}.
nlohmann::json sfmlearner_roofline(const TrainBenchSettings& s, const RooflinePeaks& pk);

}  // namespace sfm
