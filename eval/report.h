#pragma once
// Printing and saving evaluation results: a fixed-width table (the column order of the
// SfMLearner/Monodepth papers) and JSON written atomically.
#include <nlohmann/json.hpp>
#include <string>

#include "eval/depth_metrics.h"
#include "eval/pose_metrics.h"

namespace sfm::eval {

// "   abs_rel    sq_rel      rmse  rmse_log        a1        a2        a3\n    0.1830 ...\n"
std::string depth_table(const DepthMetrics& m);
// "snippets  ATE mean  ATE std  rot mean (deg)  rot std (deg)" and the values.
std::string pose_table(const PoseErrorStats& s);

nlohmann::json depth_metrics_json(const DepthMetrics& m);
nlohmann::json pose_stats_json(const PoseErrorStats& s);

// Pretty-printed JSON through a temporary file and a rename.
void write_json_atomic(const std::string& path, const nlohmann::json& j);

}  // namespace sfm::eval
