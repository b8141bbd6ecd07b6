#include "engine/parallel.h"

#include <Eigen/Core>

namespace sfm {

static int g_threads = 0;

int cpu_threads() {
  if (g_threads <= 0) g_threads = omp_get_max_threads();
  return g_threads;
}
void set_cpu_threads(int n) {
  g_threads = n > 0 ? n : omp_get_max_threads();
  Eigen::setNbThreads(g_threads);
}

}  // namespace sfm
