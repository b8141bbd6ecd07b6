#pragma once
// `sfm eval depth` as a function: DispNet (or saved disparities) scored against KITTI velodyne
// ground truth on the Eigen split, or against the .npy depth maps of a formatted data set
// (docs/evaluation.md). The command parses its options into a DepthEvalRun, calls
// evaluate_depth and prints what it returns.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/tensor.h"  // Device
#include "eval/depth_metrics.h"
#include "eval/kitti_depth_gt.h"

namespace sfm::eval {

struct DepthEvalRun {
  // The ground truth: exactly one of
  std::string kitti_raw;  // KITTI raw root (DATE/DRIVE/image_02/data, velodyne_points, DATE/calib_*.txt)
  std::string data;       // formatted data root: frames with NNNNNNNNNN.npy beside them
  // KITTI: split file ("" = data/eigen_test_files.txt); data: list name or file ("" = "val").
  std::string split;
  // What is scored: exactly one of
  std::string disp_weights;  // DispNet weights (.safetensors, or a checkpoint folder)
  std::string pred;          // saved disparities .npy [N,H,W] or [N,1,H,W], in split order
  VeloDepth gt = VeloDepth::X;  // KITTI: the velodyne depth stored
  DepthEvalOptions metrics;     // range, median scaling, clamp order; the Garg crop is always on for KITTI
  PredResize resize = PredResize::Depth;
  int height = 128, width = 416, batch_size = 4;  // the network's input and batch
  Device device = Device::CPU;
  std::string save_pred;  // with disp_weights: also write the disparities [N,H,W] to this .npy
};

struct DepthEvalResult {
  DepthMetrics mean;      // over the scored images (mean.scale: the mean median ratio)
  int64_t images = 0;     // images scored
  int64_t skipped = 0;    // images without a valid ground-truth pixel
  std::string split;      // the list that was read
  double seconds = 0;     // prediction and scoring, after loading the network
};

// Checks every input before any network work (errors name the file), then predicts and scores
// frame by frame in split order, with a progress line on stderr. Throws on bad options.
// images == 0 is returned, not thrown: the caller reports it after printing the result.
DepthEvalResult evaluate_depth(const DepthEvalRun& run);

// The --out file: the settings, the counts and the metrics.
nlohmann::json depth_eval_json(const DepthEvalRun& run, const DepthEvalResult& result);

}  // namespace sfm::eval
