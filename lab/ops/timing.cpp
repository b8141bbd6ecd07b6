// The host-side timer (timing.h).
#include "lab/ops/timing.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "boundary/device_runtime.h"
#include "boundary/error.h"
#include "engine/stopwatch.h"

namespace sfm::lab {

CallTimes time_calls(const std::function<void()>& f, int warmup, int reps, const std::function<void()>& after_each) {
  SFM_CHECK(reps >= 1, "time_calls: reps must be >= 1, got ", reps);
  for (int i = 0; i < warmup; ++i) {
    f();
    if (after_each) after_each();
  }
  cuda_synchronize();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    cuda_synchronize();
    ms.push_back(ms_since(t0));
    if (after_each) after_each();
  }
  std::sort(ms.begin(), ms.end());
  CallTimes t;
  t.reps = reps;
  t.ms_median = ms[ms.size() / 2], t.ms_min = ms.front(), t.ms_max = ms.back();
  return t;
}

}  // namespace sfm::lab
