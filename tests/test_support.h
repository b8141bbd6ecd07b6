#pragma once
// Small helpers shared by the test files.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>


#include "engine/rng.h"

// A test that checks nothing here says why with SFM_SKIP(...) and returns. The line starts with
// "SKIPPED:", which ctest's SKIP_REGULAR_EXPRESSION (tests/CMakeLists.txt) turns into a skipped
// test, and it goes to stdout too, so that reporters which drop warnings (Catch2's JUnit: its
// <system-out>) still carry it. A test that ran some checks and left a part out says
// "not run: ..." in a WARN instead, and counts as run.
#define SFM_SKIP(...)                                       \
  do {                                                      \
    std::ostringstream sfm_skip_os;                         \
    sfm_skip_os << "SKIPPED: " << __VA_ARGS__;              \
    std::printf("%s\n", sfm_skip_os.str().c_str());         \
    std::fflush(stdout);                                    \
    WARN(sfm_skip_os.str());                                \
  } while (0)

namespace sfm::test {
// The source tree: $SFM_SOURCE_DIR when set (a binary built elsewhere and run on a copy of the
// tree, as tests/gpu/first_contact.sh does with the prebuilt ones), else where it was built.
inline std::string source_dir() {
  const char* e = std::getenv("SFM_SOURCE_DIR");
  return e && *e ? std::string(e) : std::string(SFM_SOURCE_DIR);
}
// n uniform values in [lo, hi), and n NaNs (an output buffer poisoned before a kernel runs).
inline std::vector<float> random_vec(size_t n, Rng& rng, double lo = -1.0, double hi = 1.0) {
  std::vector<float> v(n);
  for (float& x : v) x = (float)rng.uniform(lo, hi);
  return v;
}
inline std::vector<float> poisoned(size_t n) { return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN()); }
inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
}
}  // namespace sfm::test
