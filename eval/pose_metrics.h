#pragma once
// Ego-motion evaluation on short snippets, as the original SfMLearner evaluates it
// (kitti_eval/eval_pose.py + pose_evaluation_utils.compute_ate):
//   * every snippet of N frames (N = 3 or 5) is expressed relative to its first frame (both
//     the ground truth and the prediction: frame 0 is the identity, at the origin);
//   * one least-squares scale per snippet, s = sum(gt . pred) / sum(pred . pred) over the N
//     positions;
//   * ATE = sqrt(sum_i ||gt_i - s pred_i||^2) / N  (the published form: the root of the sum,
//     divided by N, not the root-mean-square);
//   * rotation error: the mean over frames 1..N-1 of the angle of R_gt^T R_pred, in degrees
//     (frame 0 is the identity in both, so it is left out of the mean);
//   * mean and population standard deviation (numpy's np.std) over snippets.
// Network poses: for a snippet with the target in the middle, PoseExpNet gives for every
// source s the transform target -> source (X_s = R X_t + t, R = Rx Ry Rz as pose_vec2mat); the
// camera pose of s in the target frame is its inverse, and everything is then re-expressed
// relative to the first frame: P_i = C_0^-1 C_i.
#include <Eigen/Dense>
#include <string>
#include <vector>

#include "engine/ops.h"  // RotationMode
#include "eval/data_layout.h"  // Pose34, the poses of the data

namespace sfm::eval {

using Pose = Eigen::Matrix4d;  // a rigid transform (camera-to-reference unless stated)
using PoseList = std::vector<Pose, Eigen::aligned_allocator<Pose>>;

// [R|t; 0 0 0 1] of a 6-vector (tx, ty, tz, rx, ry, rz), exactly pose_vec2mat's convention
// (boundary/math/warp_math.h).
Pose pose_vec_to_mat(const double* v, RotationMode mode = RotationMode::Euler);
// Inverse of a rigid transform.
Pose rigid_inverse(const Pose& T);

// poses[i] expressed relative to poses[0]: poses[0]^-1 * poses[i].
PoseList relative_to_first(const PoseList& poses);

// The camera poses of a snippet relative to its first frame from the network's output:
// vecs holds (N-1) 6-vectors (target -> source) for the frames other than the target, in
// frame order, and target is the index of the target frame in the snippet (N/2).
PoseList snippet_poses_from_network(const double* vecs, int seq_length, int target,
                                    RotationMode mode = RotationMode::Euler);
PoseList snippet_poses_from_network(const float* vecs, int seq_length, int target,
                                    RotationMode mode = RotationMode::Euler);

// One trajectory from the snippets of a sequence (every window of N frames, stride 1: snippet k
// holds the camera poses of frames k..k+N-1 relative to frame k, as snippet_poses_from_network
// gives them). The motion from frame i to i+1 is taken from the snippet whose target is frame i
// (the network's direct output for that pair: target -> next source); the pairs before the
// first snippet's target and after the last one's come from the first and the last snippet.
// Returns the K + N - 1 camera-to-first-frame poses (frame 0 the identity), in the network's
// scale. Throws when the snippets are empty or differ in length.
PoseList chain_snippets(const std::vector<PoseList>& snippets, int target);

// Camera-to-world 3x4 rows (KITTI odometry poses.txt style: 12 numbers, row-major) -> 4x4.
Pose pose_from_3x4(const double* m12);
Pose pose_from_3x4(const Pose34& T);  // a pose of the data (eval/data_layout.h) -> 4x4

RotationMode parse_rotation_mode(const std::string& s);  // "euler" | "quat" (sfm eval pose --rotation)
const char* rotation_mode_name(RotationMode m);

struct PoseErrors {
  double ate = 0;      // metres (the ground truth's unit), after the per-snippet scale
  double rot_deg = 0;  // mean rotation error over frames 1..N-1, degrees
  double scale = 0;    // the least-squares scale applied to the prediction
};
// gt and pred: the N camera poses of one snippet (any common reference: both are re-expressed
// relative to their first frame). Throws when the counts differ or N < 2.
PoseErrors snippet_ate(const PoseList& gt, const PoseList& pred);

// The whole chain for one training/validation snippet with the target in the middle:
// pose_vecs = the network's (seq_length-1) x 6 outputs (sources in time order), gt_3x4 =
// seq_length x 12 camera-to-world rows (the loader's poses_gt, time order).
PoseErrors snippet_ate_from_network(const std::vector<double>& pose_vecs, const std::vector<double>& gt_3x4,
                                    int seq_length, RotationMode mode = RotationMode::Euler);

struct PoseErrorStats {
  int64_t snippets = 0;
  double ate_mean = 0, ate_std = 0, rot_mean = 0, rot_std = 0;  // population std
};
struct PoseErrorAccumulator {
  std::vector<PoseErrors> all;
  void add(const PoseErrors& e) { all.push_back(e); }
  PoseErrorStats stats() const;
};

// One snippet in the TUM trajectory format the original evaluation reads:
// "timestamp tx ty tz qx qy qz qw" per line (unit quaternion with qw >= 0). Atomic write.
void write_tum_trajectory(const std::string& path, const PoseList& poses, const std::vector<double>& timestamps);

}  // namespace sfm::eval
