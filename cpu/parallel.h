#pragma once
// CPU parallelism: OpenMP with static scheduling, so the split of work (and therefore every
// floating-point sum) is the same from run to run for a given thread count.
#include <cstdint>

#include <omp.h>

namespace sfm {

// Below this many elements a loop runs on one thread (spawning costs more than it saves).
constexpr int64_t kParallelGrain = 1 << 15;

// The most CPU threads a process uses: 4x the hardware threads (at least 4). More only adds
// switching, and an absurd OMP_NUM_THREADS (100000) would exhaust the stacks: cpu_threads()
// clamps OMP_NUM_THREADS to it (saying so once on stderr) and set_cpu_threads refuses more.
int max_cpu_threads();
int cpu_threads();
// n > 0: use n threads; n <= 0: OMP_NUM_THREADS or all. Throws sfm::Error (naming `what`, e.g.
// "--threads") when n > max_cpu_threads().
void set_cpu_threads(int n, const char* what = "threads");

template <class F>
void parallel_for(int64_t n, F&& f, int64_t grain = kParallelGrain) {
  if (n < grain || cpu_threads() == 1) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(cpu_threads())
  for (int64_t i = 0; i < n; ++i) f(i);
}

}  // namespace sfm
