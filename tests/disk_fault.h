#pragma once
// Disk-full fault injection for tests (tests/test_robustness_cv.cpp): a small tmpfs and a writer
// that fills it. Apart from tests/test_support.h, which the emulated-kernel tests include too:
// they are compiled with -fkeep-inline-functions (coverage), which cannot link <filesystem>'s
// inline members.
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace sfm::test {

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
