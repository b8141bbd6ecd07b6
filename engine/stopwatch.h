#pragma once
// Wall-clock milliseconds since a steady_clock time point: the one timer of the benchmarks and the
// op table's timing mode.
#include <chrono>

namespace sfm {

inline double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace sfm
