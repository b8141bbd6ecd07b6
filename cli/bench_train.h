#pragma once
// `sfm bench train` (cli/bench_train.cpp): its settings (models/sfmlearner_bench.h; the
// roofline analysis is models/sfmlearner_roofline.h), and the hook through which OpenCV builds hand the command
// its loader-fed half.
#include <string>

#include <nlohmann/json.hpp>

#include "models/sfmlearner_bench.h"

namespace sfm::cli {

using BenchTrainSettings = TrainBenchSettings;

// The loader-fed half of the benchmark needs OpenCV (train/bench_loader.h), so the OpenCV
// build's cli/bench_train_loader_cv.cpp sets this at start-up; the OpenCV-free executables
// (sfm_core) see null and skip the loader-fed run.
const TrainBenchLoader*& bench_train_loader();

}  // namespace sfm::cli
