// libFuzzer target: KITTI calibration files, both readers (train/kitti/kitti_raw.cpp for prepare,
// eval/kitti_depth_gt.cpp for the ground truth), and what is built from them.
#include <cstddef>
#include <cstdint>
#include <string>

#include "boundary/error.h"
#include "eval/kitti_depth_gt.h"
#include "train/kitti/kitti_raw.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto c = sfm::kitti::parse_calib_text(text, "calib.txt");
    (void)sfm::kitti::calib_values(c, "P_rect_02", 12, "calib.txt");
    (void)sfm::kitti::calib_values(c, "R", 9, "calib.txt");
  } catch (const sfm::Error&) {
  }
  try {
    auto c = sfm::eval::parse_calib_text(text, "calib.txt");
    (void)sfm::eval::velo_to_image_matrix(c, c, 2);
  } catch (const sfm::Error&) {
  }
  return 0;
}
