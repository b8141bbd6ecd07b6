#pragma once
// Deterministic CPU sums: fixed-size chunks summed in double, chunk results added in order,
// so the result does not depend on the thread count.
#include <cstdint>
#include <vector>

#include "engine/parallel.h"

namespace sfm::cpu {

constexpr int64_t kReduceChunk = 4096;

template <class T>
double sum_det(const T* x, int64_t n) {
  int64_t chunks = (n + kReduceChunk - 1) / kReduceChunk;
  std::vector<double> part(chunks);
  parallel_for(chunks, [&](int64_t c) {
    int64_t b = c * kReduceChunk, e = b + kReduceChunk < n ? b + kReduceChunk : n;
    double s = 0;
    for (int64_t i = b; i < e; ++i) s += x[i];
    part[c] = s;
  }, 8);
  double s = 0;
  for (double p : part) s += p;
  return s;
}

}  // namespace sfm::cpu
