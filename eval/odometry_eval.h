#pragma once
// `sfm eval odometry` as a function: predicted trajectories against ground truth, both in the
// KITTI odometry format (eval/kitti_trajectory.h), scored per sequence by the devkit's t_err and
// r_err and by ATE and RPE after an alignment (eval/odometry_metrics.h, docs/evaluation.md).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/odometry_metrics.h"

namespace sfm::eval {

struct OdometryEvalRun {
  std::string gt_dir;    // <seq>.txt (KITTI's poses/ folder), or <seq>/poses.txt (a formatted data root)
  std::string pred_dir;  // <seq>.txt (what sfm eval pose --trajectory-out writes)
  std::vector<std::string> seqs;  // empty: every <name>.txt of pred_dir, by name
  OdometryOptions metrics;
  std::string plots_dir;  // when set: <seq>_trajectory.png and <seq>_segment_errors.png there
};

struct OdometrySequenceResult {
  std::string name, gt_file, pred_file;
  OdometryErrors errors;
};
struct OdometryEvalResult {
  std::vector<OdometrySequenceResult> sequences;  // in the order of run.seqs
  // The unweighted mean over sequences of t_err, r_err, ATE and RPE (NaN when a sequence has no
  // segment), and the devkit's pooled t_err / r_err over all segments of all sequences.
  OdometryErrors mean, total;
  int64_t total_segments = 0;
  std::vector<std::string> plots;  // files written
};

// "09,10" -> {"09", "10"}; an empty item or a repeated name is an error naming --seqs.
std::vector<std::string> parse_sequence_list(const std::string& s);

// Reads and checks every sequence (files present, same frames, finite, rigid) before scoring
// any; throws naming the sequence and the file.
OdometryEvalResult evaluate_odometry(const OdometryEvalRun& run);

// {"align", "sequences": {name: {...}}, "mean": {...}, "total": {...}, lengths, step}.
nlohmann::json odometry_eval_json(const OdometryEvalRun& run, const OdometryEvalResult& result);
// A printable table, one row per sequence and the mean.
std::string odometry_table(const OdometryEvalResult& result);

}  // namespace sfm::eval
