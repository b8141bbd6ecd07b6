#pragma once
// The odometry evaluation's figures (sfm eval odometry --plots), drawn with eval/plot.h: both
// trajectories seen from above (the camera's x-z plane: KITTI's x right, z forward, y down) at
// equal scale on both axes, and the devkit's error per segment length (t_err in %, r_err in
// deg/100 m, side by side).
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "eval/odometry_metrics.h"

namespace sfm::eval {

// gt and pred as scored (relative to their first poses, the prediction aligned).
cv::Mat trajectory_plot(const PoseList& gt, const PoseList& pred, const std::string& title);
// One point per segment length that has segments (errors_by_length).
cv::Mat segment_error_plot(const std::vector<LengthErrors>& by_length, const std::string& title);

}  // namespace sfm::eval
