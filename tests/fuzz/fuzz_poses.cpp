// libFuzzer target: poses.txt (eval/data_layout.cpp parse_poses_text).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "boundary/error.h"
#include "eval/data_layout.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto rows = sfm::parse_poses_text(std::string(reinterpret_cast<const char*>(data), size), "poses.txt");
    for (const auto& r : rows)
      for (double v : r.reshaped())
        if (!std::isfinite(v)) __builtin_trap();  // a non-finite pose must be refused
  } catch (const sfm::Error&) {
  }
  return 0;
}
