#pragma once
// What every `sfm prepare` source shares when it writes the formatted layout (DESIGN.md
// "Files"): the output folder staged under OUT.tmp-<random> and renamed to OUT when complete,
// cam.txt and list files, number formatting, and a small worker pool. Used by
// train/kitti/prepare.cpp and train/own/.
#include <atomic>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <Eigen/Core>

#include "boundary/error.h"
#include "engine/stop_signals.h"

namespace sfm::prep {

// 9 significant digits; round-off dust (|v| < 1e-12) and -0 written as 0.
std::string fmt_num(double v);

// Throws (naming the option) when `out` is empty or already exists: nothing is overwritten.
void check_output_free(const std::string& out);

// The largest --height/--width `sfm prepare` writes: the bound image headers are checked against
// when data is read (eval/image_bytes.h kMaxImageSide), so a prepared set can always be read back.
constexpr int kMaxOutputSide = 32768;
// Checks --height/--width (8..kMaxOutputSide) and --threads (1..max_cpu_threads(), the rule of
// `sfm train --threads`); throws naming the option. Call before anything is written.
void check_size_and_threads(int height, int width, int threads);
// Throws naming --cameras when two entries name the same camera ("02,02", "02,image_02"):
// `names` as given, `index` the camera numbers they parse to.
void check_unique_cameras(const std::vector<std::string>& names, const std::vector<int>& index);

// OUT.tmp-<random> created next to OUT; commit() renames it to OUT. Destroyed without
// commit() (an exception on the way), the temporary folder is removed.
class StagedFolder {
 public:
  explicit StagedFolder(const std::string& out);
  ~StagedFolder();
  StagedFolder(const StagedFolder&) = delete;
  StagedFolder& operator=(const StagedFolder&) = delete;
  const std::filesystem::path& path() const { return tmp_; }
  void commit();

 private:
  std::filesystem::path out_, tmp_;
  bool done_ = false;
};

// cam.txt: 3 lines of 3 numbers (fmt_num); throws naming the file when it cannot be written.
void write_cam_txt(const std::filesystem::path& file, const Eigen::Matrix3d& K);
// One entry per line (train.txt, val.txt, test.txt).
void write_lines(const std::filesystem::path& file, const std::vector<std::string>& lines);

// Runs f(i) for i in [0, n) on `threads` threads; the first exception is rethrown. A stop signal
// (engine/stop_signals.h, install_stop_flag) fails the next item, so the caller's StagedFolder
// removes OUT.tmp-* on the way out.
template <class F>
void parallel_items(int64_t n, int threads, F&& f) {
  std::atomic<int64_t> next{0};
  std::exception_ptr err;
  std::mutex em;
  auto work = [&] {
    for (int64_t i; (i = next.fetch_add(1)) < n;) {
      try {
        SFM_CHECK(!stop_requested(),
                  "prepare: interrupted by a signal (SIGINT, SIGTERM or SIGHUP); nothing was written (the temporary "
                  "output folder is removed)");
        f(i);
      } catch (...) {
        std::lock_guard<std::mutex> lk(em);
        if (!err) err = std::current_exception();
        next = n;  // stop handing out work
      }
    }
  };
  std::vector<std::thread> ts;
  try {
    for (int64_t t = 1; t < threads && t < n; ++t) ts.emplace_back(work);
  } catch (...) {  // the system refused a thread: the ones started do the work
  }
  work();
  for (auto& t : ts) t.join();
  if (err) std::rethrow_exception(err);
}

}  // namespace sfm::prep
