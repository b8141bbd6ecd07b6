#pragma once
// `sfm eval pose` as a function: PoseExpNet on every snippet of the listed scenes of a
// formatted data set with poses.txt, scored by snippet ATE and rotation error
// (eval/pose_metrics.h, docs/evaluation.md). The command parses its options into a
// PoseEvalRun, calls evaluate_pose and prints what it returns.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "boundary/op_types.h"  // RotationMode
#include "engine/tensor.h"    // Device
#include "eval/pose_metrics.h"

namespace sfm::eval {

struct PoseEvalRun {
  std::string pose_weights;  // PoseExpNet weights (.safetensors, or a checkpoint folder)
  std::string data;          // formatted data root (scene folders with frames and poses.txt)
  std::string split = "val"; // scene list name (ROOT/<split>.txt) or file
  std::optional<int> seq_length;  // frames per snippet: must agree with the checkpoint; unset: the checkpoint's
  RotationMode rotation = RotationMode::Euler;  // the pose form the network was trained with
  int height = 128, width = 416, batch_size = 4;
  Device device = Device::CPU;
  std::string tum_dir;       // when set: every snippet as DIR/gt/<scene>_<first>.txt and DIR/pred/...
  std::string trajectory_out;  // when set: each scene's chained trajectory (chain_snippets) as
                               // DIR/<scene>.txt, KITTI format (eval/kitti_trajectory.h)
};

struct PoseEvalResult {
  PoseErrorStats stats;
  int seq_length = 0;  // N, from the checkpoint
  std::string split;   // the list that was read
  double seconds = 0;  // prediction and scoring, after the checks
  std::vector<std::string> trajectories;  // the files written for trajectory_out
  // Scenes with fewer frames than a snippet (N): not scored; a note on stderr names each.
  std::vector<std::pair<std::string, int>> short_scenes;  // scene folder, its frame count
};

// Loads the network, checks every scene (poses.txt, times.txt, frame counts) before any
// network work, then scores every window of N consecutive frames (stride 1), with a progress
// line on stderr. Throws naming the file or option on bad input.
PoseEvalResult evaluate_pose(const PoseEvalRun& run);

// The --out file: the settings and the metrics.
nlohmann::json pose_eval_json(const PoseEvalRun& run, const PoseEvalResult& result);

}  // namespace sfm::eval
