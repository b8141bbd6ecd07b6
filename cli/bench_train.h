#pragma once
// `sfm bench train` (cli/bench_train.cpp; the measurement is lab/train/bench_train.h): the hook
// through which OpenCV builds hand the command its loader-fed half.
#include "lab/train/step_bench.h"

namespace sfm::cli {

// The loader-fed half of the benchmark needs OpenCV (lab/train/loader_bench.h), so the OpenCV
// build's cli/bench_train_loader_cv.cpp sets this at start-up; the OpenCV-free executables
// (sfm_core) see null and skip the loader-fed run.
const TrainBenchLoader*& bench_train_loader();

}  // namespace sfm::cli
