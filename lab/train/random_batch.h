#pragma once
// Synthetic SfMLearner batches without files or OpenCV: the input of `sfm bench train`
// (lab/train/step_bench.h, lab/train/parallel_bench.h), of --compare-cpu
// (lab/train/device_compare.h) and of the unit's tests (tests/test_sfmlearner.cpp). Neither the
// trainer nor the evaluation uses them: they read real or synthetic data sets from disk.
#include <cstdint>

#include "models/sfmlearner.h"

namespace sfm {

// Seeded random snippets made in memory, no files or OpenCV: a smooth random scene in [0,255]
// (a coarse grid of random colours bilinearly upsampled, plus fine noise), the sources the
// same scene shifted sideways by a few pixels (as a forward-moving camera sees it) with their
// own noise, and KITTI-like intrinsics scaled to H x W. Range Raw255, on dev.
SfMBatch random_batch(int batch, int height, int width, int num_sources, uint64_t seed, Device dev = Device::CPU);
// KITTI's intrinsics at 128x416 (fx 241.7, cx 204.2, fy 241.7, cy 59.0: the prepared KITTI
// data of the PyTorch port) scaled to H x W, repeated over the batch: [B,3,3] on dev.
Tensor kitti_like_intrinsics(int batch, int height, int width, Device dev = Device::CPU);

}  // namespace sfm
