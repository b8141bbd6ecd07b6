#include "engine/parallel.h"

#include <Eigen/Core>
#include <mutex>
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace sfm {

static int g_threads = 0;

// Denormal floats (|x| < 1.2e-38) take a slow microcode path on x86, up to ~100x per
// operation. Late in training many gradients and Adam moments drift into that range, and a
// CPU run slowed from 8 to 3 images/s after 500 steps of the demo. Flushing them to zero
// (FTZ) and reading them as zero (DAZ) removes the cliff; the values involved are far below
// anything that changes a float32 result at the tolerances the tests use.
static void flush_denormals_this_thread() {
#if defined(__SSE__) || defined(__x86_64__)
  _mm_setcsr(_mm_getcsr() | 0x8040);  // FTZ (bit 15) | DAZ (bit 6)
#endif
}

static void flush_denormals_all_threads(int n) {
  flush_denormals_this_thread();
#pragma omp parallel num_threads(n)
  flush_denormals_this_thread();
}

int cpu_threads() {
  static std::once_flag once;
  if (g_threads <= 0) g_threads = omp_get_max_threads();
  std::call_once(once, [] { flush_denormals_all_threads(g_threads); });
  return g_threads;
}

void set_cpu_threads(int n) {
  g_threads = n > 0 ? n : omp_get_max_threads();
  Eigen::setNbThreads(g_threads);
  flush_denormals_all_threads(g_threads);
}

}  // namespace sfm
