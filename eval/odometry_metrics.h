#pragma once
// Whole-trajectory ego-motion metrics, as VO papers report them on KITTI odometry (09, 10):
//   * t_err and r_err of the KITTI odometry devkit (evaluate_odometry.cpp): for every first frame
//     0, 10, 20, ... and every segment length L of 100, 200, ..., 800 m (distance travelled along
//     the ground truth), the last frame is the first whose travelled distance exceeds the first
//     frame's by more than L (strictly; none: that segment is skipped). With the relative motions
//     dG = G_first^-1 G_last and dP = P_first^-1 P_last, the error transform E = dP^-1 dG gives
//     t = |translation(E)| / L and r = angle(E) / L, angle = acos(clamp((trace R - 1)/2, -1, 1)).
//     t_err (%) = 100 * mean t, r_err (deg/100 m) = 100 * 180/pi * mean r, over all segments.
//   * ATE: the root mean square of the position differences |g_i - p_i| over all frames.
//   * RPE: the mean translation (m) and mean rotation angle (deg) of (G_i^-1 G_i+1)^-1 (P_i^-1 P_i+1)
//     over consecutive frames.
// Before scoring, as the widely used kitti-odom-eval does: both trajectories are taken relative
// to their first pose (X_0^-1 X_i) and the prediction is aligned to the ground truth by positions:
//   none        nothing more;
//   scale       one least-squares scale s = sum(p . g) / sum(p . p) on the positions;
//   6dof        Umeyama's rotation and translation (no scale): P_i <- [R t] P_i;
//   7dof        Umeyama with scale: positions s R p + t, rotations R R_i;
//   scale_7dof  only the scale of the 7-DoF fit (R = I, t = 0).
// The scale multiplies the positions of the poses (not the rotations). A rigid change of frame
// does not move t_err, r_err or RPE (they use relative motions): only the scale does; ATE depends
// on all of it.
#include <string>
#include <vector>

#include "eval/pose_metrics.h"  // Pose, PoseList

namespace sfm::eval {

enum class OdometryAlign { None, Scale, Scale7Dof, SevenDof, SixDof };
OdometryAlign parse_odometry_align(const std::string& s);  // none | scale | scale_7dof | 7dof | 6dof
const char* odometry_align_name(OdometryAlign a);

// x -> scale * R x + t.
struct Similarity {
  double scale = 1;
  Eigen::Matrix3d R = Eigen::Matrix3d::Identity();
  Eigen::Vector3d t = Eigen::Vector3d::Zero();
};
using Points = std::vector<Eigen::Vector3d, Eigen::aligned_allocator<Eigen::Vector3d>>;

// Umeyama (1991): the similarity (rigid when !with_scale) that minimises sum |y_i - (s R x_i + t)|^2.
// Throws when the counts differ, there are fewer than 2 points, or x has no spread (all equal).
Similarity umeyama_alignment(const Points& x, const Points& y, bool with_scale);
// The least-squares s of y ~ s x: sum(x . y) / sum(x . x); 0 when every x is 0.
double least_squares_scale(const Points& x, const Points& y);

Points positions(const PoseList& poses);

// gt and pred relative to their first poses, and pred aligned by `align`; `used` receives the
// alignment applied (identity for none); `pred_scaled`, when given, the prediction with only the
// alignment's scale applied (what the relative metrics use: the rigid part cancels in X_i^-1 X_j,
// and leaving it out spares them the rounding its rotation adds, ~1e-8 rad after acos).
// Throws when the counts differ or a list is empty.
void align_trajectories(const PoseList& gt, const PoseList& pred, OdometryAlign align, PoseList& gt_out,
                        PoseList& pred_out, Similarity* used = nullptr, PoseList* pred_scaled = nullptr);

// The angle of a rotation (radians), from its trace as the devkit computes it.
double rotation_angle(const Eigen::Matrix3d& R);

// Distance travelled up to each frame (0 at frame 0), along the given poses' positions.
std::vector<double> travelled_distances(const PoseList& poses);

const std::vector<double>& kitti_segment_lengths();  // 100, 200, ..., 800 (m)

struct SegmentError {
  int first = 0, last = 0;  // frames
  double length = 0;        // the segment length L (m)
  double t = 0;             // |translation error| / L (a fraction: 0.01 is 1%)
  double r = 0;             // rotation error / L (radians per metre)
};
// The devkit's segments (see the top of this file). gt and pred: the same number of poses.
std::vector<SegmentError> segment_errors(const PoseList& gt, const PoseList& pred,
                                         const std::vector<double>& lengths = kitti_segment_lengths(),
                                         int step = 10);

double absolute_trajectory_error(const PoseList& gt, const PoseList& pred);  // RMSE of positions (m)
struct RelativePoseError {
  double trans_m = 0, rot_deg = 0;
};
RelativePoseError relative_pose_error(const PoseList& gt, const PoseList& pred);  // consecutive frames

struct OdometryOptions {
  OdometryAlign align = OdometryAlign::None;
  std::vector<double> lengths = kitti_segment_lengths();
  int step = 10;  // a first frame every `step` frames
};
struct OdometryErrors {
  double t_err_percent = 0;       // NaN when no segment fits (a trajectory shorter than the lengths)
  double r_err_deg_per_100m = 0;  // NaN likewise
  double ate_m = 0, rpe_m = 0, rpe_deg = 0;
  int frames = 0;
  double length_m = 0;  // the ground truth's travelled distance
  Similarity alignment;
  std::vector<SegmentError> segments;
};
// Aligns (align_trajectories) and scores one sequence: ATE on the aligned prediction, t_err,
// r_err and RPE on the scaled one (the same numbers up to rounding). Throws when the counts
// differ or < 2 poses.
OdometryErrors evaluate_trajectory(const PoseList& gt, const PoseList& pred, const OdometryOptions& opt = {});

// Per segment length: the mean t (%) and r (deg/100 m) of its segments (the devkit's plots);
// lengths without a segment are left out.
struct LengthErrors {
  double length = 0, t_err_percent = 0, r_err_deg_per_100m = 0;
  int segments = 0;
};
std::vector<LengthErrors> errors_by_length(const std::vector<SegmentError>& segments);

}  // namespace sfm::eval
