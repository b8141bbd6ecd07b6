#pragma once
// The loader-fed half of `sfm bench train` (TrainBenchLoader, lab/train/step_bench.h): a
// small synthetic data set in the formatted layout, the loader's own rate, and the training
// loader as `sfm train` opens it. Needs OpenCV (train/data/loader.h decodes the frames), so
// the OpenCV build's cli/bench_train_loader_cv.cpp hands it to the OpenCV-free benchmark.
#include "lab/train/step_bench.h"

namespace sfm {

const TrainBenchLoader& train_bench_loader();

}  // namespace sfm
