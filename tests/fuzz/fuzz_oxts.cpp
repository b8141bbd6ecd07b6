// libFuzzer target: OXTS packets (train/kitti/kitti_raw.cpp parse_oxts_text) and the pose chain.
#include <vector>
#include <cstddef>
#include <cstdint>
#include <string>

#include "boundary/error.h"
#include "train/kitti/kitti_raw.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto o = sfm::kitti::parse_oxts_text(std::string(reinterpret_cast<const char*>(data), size), "oxts.txt");
    std::vector<sfm::kitti::Oxts> v{o, o};
    (void)sfm::kitti::oxts_to_poses(v);
  } catch (const sfm::Error&) {
  }
  return 0;
}
