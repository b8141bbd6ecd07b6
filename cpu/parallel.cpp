#include "cpu/parallel.h"

#include <Eigen/Core>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "boundary/error.h"
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

int max_cpu_threads() { return 4 * std::max(1, (int)std::thread::hardware_concurrency()); }

// OpenMP's default (OMP_NUM_THREADS, else the cores), bounded by max_cpu_threads(): every parallel
// region of the process, Eigen's and OpenMP's own default included, is limited with it.
static int bounded_default_threads() {
  static const int n = [] {
    int want = omp_get_max_threads(), cap = max_cpu_threads();
    if (want <= cap) return want;
    const char* env = std::getenv("OMP_NUM_THREADS");
    std::fprintf(stderr, "sfm: OMP_NUM_THREADS=%s is more than 4x this machine's %u hardware threads; using %d\n",
                 env ? env : "?", std::thread::hardware_concurrency(), cap);
    omp_set_num_threads(cap);
    Eigen::setNbThreads(cap);
    return cap;
  }();
  return n;
}

int cpu_threads() {
  static std::once_flag once;
  if (g_threads <= 0) g_threads = bounded_default_threads();
  std::call_once(once, [] { flush_denormals_all_threads(g_threads); });
  return g_threads;
}

void set_cpu_threads(int n, const char* what) {
  SFM_CHECK(n <= max_cpu_threads(), what, " ", n, " is more than 4x this machine's ", std::thread::hardware_concurrency(),
            " hardware threads (at most ", max_cpu_threads(), ")");
  g_threads = n > 0 ? n : bounded_default_threads();
  Eigen::setNbThreads(g_threads);
  flush_denormals_all_threads(g_threads);
}

}  // namespace sfm
