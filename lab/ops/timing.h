#pragma once
// The one host-side timer of lab/ops/: `sfm selftest --mode time` (timing_mode.cpp) and
// `sfm bench ops` (op_bench.cpp) time their rows with it. (`sfm bench kernels` times raw kernel
// launches with CUDA events on the compute stream instead: kernel_bench.cpp.)
#include <functional>

namespace sfm::lab {

struct CallTimes {
  int reps = 0;
  double ms_median = 0, ms_min = 0, ms_max = 0;  // per call, over the timed calls
};

// warmup untimed calls of f, then reps timed calls, each between device synchronisations (the
// clock stops after the device has finished). after_each, when given, runs after every call,
// warm-up ones included, outside the clock (a caller frees what the call returned there). reps >= 1.
CallTimes time_calls(const std::function<void()>& f, int warmup, int reps,
                     const std::function<void()>& after_each = nullptr);

}  // namespace sfm::lab
