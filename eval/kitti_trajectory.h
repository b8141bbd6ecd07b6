#pragma once
// Trajectories in the KITTI odometry format: one camera-to-world pose per line, the 3x4 matrix
// [R | t] row-major as 12 numbers (the devkit's poses/NN.txt), or 13 with a leading frame index
// (the form some VO tools write). The reader refuses what would make the metrics meaningless and
// names the file and line: a line of another length, a mix of 12 and 13, a number that is not
// finite, frame indices that do not increase, a rotation that is not a rotation.
#include <cstdint>
#include <string>
#include <vector>

#include "eval/pose_metrics.h"  // Pose, PoseList

namespace sfm::eval {

// How far R^T R may be from the identity (largest entry) for a pose to count as rigid. KITTI's
// ground truth is printed with 7 significant digits (about 1e-7 off), predictions printed with 6
// decimals are about 1e-6 off, 4 decimals about 2e-4: 1e-3 accepts all of these and still refuses
// a similarity written into the matrix (s R is off by 2|s - 1|: refused from |s - 1| > 5e-4) or a
// shear. A rotation must also have det R > 0 (no reflection).
constexpr double kRigidTolerance = 1e-3;

// What makes R no rotation, or "" when it is one within tol.
std::string rotation_problem(const Eigen::Matrix3d& R, double tol = kRigidTolerance);

struct Trajectory {
  std::vector<int64_t> frames;  // the frame index of each pose: the leading number, or the line's
                                // rank among the pose lines (0, 1, ...) in the 12-number form
  PoseList poses;               // camera-to-world, [R t; 0 0 0 1]
  bool indexed = false;         // the file had 13 numbers per line
};

// The text of a trajectory file; errors read "<where>: line N: ...". Blank lines are skipped.
Trajectory parse_kitti_trajectory(const std::string& text, const std::string& where);
// The file at path (errors name the path).
Trajectory read_kitti_trajectory(const std::string& path);

// One line of 12 numbers per pose (%.10e, about 1e-10 relative), written atomically.
void write_kitti_trajectory(const std::string& path, const PoseList& poses);

}  // namespace sfm::eval
