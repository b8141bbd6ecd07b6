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

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

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
// A small tmpfs mounted at `dir` for disk-full tests, unmounted (and dir removed) when it goes.
// Mounting needs root (CAP_SYS_ADMIN); when it cannot be done, why_not says why and the test
// says "SKIPPED: ..." with it:  SmallTmpfs fs(dir, "4m"); if (!fs.mounted()) { SFM_SKIP(...); return; }
struct SmallTmpfs {
  std::string dir, why_not;
  SmallTmpfs(const std::string& d, const std::string& size) : dir(d) {
    std::filesystem::create_directories(dir);
    if (::geteuid() != 0) {
      why_not = "not root (a tmpfs is needed to fill a disk)";
    } else if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, ("size=" + size).c_str()) != 0) {
      why_not = std::string("cannot mount a tmpfs at ") + dir + ": " + std::strerror(errno);
    }
  }
  ~SmallTmpfs() {
    if (mounted()) ::umount2(dir.c_str(), MNT_DETACH);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  bool mounted() const { return why_not.empty(); }
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
};
// Writes `path` until the disk is full (4 KiB at a time); returns the bytes written.
inline size_t fill_disk(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::setvbuf(f, nullptr, _IONBF, 0);
  std::vector<char> page(4096, 'x');
  size_t total = 0;
  while (std::fwrite(page.data(), 1, page.size(), f) == page.size()) total += page.size();
  std::fclose(f);
  return total;
}
}  // namespace sfm::test
