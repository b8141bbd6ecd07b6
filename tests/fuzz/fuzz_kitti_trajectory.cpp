// libFuzzer target: KITTI trajectory files (eval/kitti_trajectory.cpp parse_kitti_trajectory), what
// sfm eval odometry reads from --gt and --pred.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "boundary/error.h"
#include "eval/kitti_trajectory.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    sfm::eval::Trajectory t =
        sfm::eval::parse_kitti_trajectory(std::string(reinterpret_cast<const char*>(data), size), "09.txt");
    if (t.poses.empty() || t.poses.size() != t.frames.size()) __builtin_trap();
    for (size_t i = 0; i < t.poses.size(); ++i) {
      if (!t.poses[i].allFinite()) __builtin_trap();  // a non-finite pose must be refused
      if (!sfm::eval::rotation_problem(t.poses[i].topLeftCorner<3, 3>()).empty()) __builtin_trap();  // and a non-rigid one
      if (i > 0 && t.frames[i] <= t.frames[i - 1]) __builtin_trap();  // indices increase
    }
  } catch (const sfm::Error&) {
  }
  return 0;
}
