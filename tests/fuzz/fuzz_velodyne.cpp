// libFuzzer target: velodyne scans (train/kitti/kitti_raw.cpp parse_velodyne_bytes) projected to a
// depth map (velodyne_depth), which must stay inside the image whatever the points are (NaN, inf).
#include <cstddef>
#include <cstdint>
#include <string>

#include "boundary/error.h"
#include "train/kitti/kitti_raw.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto pts = sfm::kitti::parse_velodyne_bytes(data, size, "scan.bin");
    Eigen::Matrix3d K;
    K << 50, 0, 16, 0, 50, 8, 0, 0, 1;
    auto d = sfm::kitti::velodyne_depth(pts, K, Eigen::Matrix4d::Identity(), 16, 32);
    if (d.size() != 16 * 32) __builtin_trap();
  } catch (const sfm::Error&) {
  }
  return 0;
}
