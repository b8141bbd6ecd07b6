#include "train/prepare/output.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>

#include "boundary/error.h"
#include "cpu/parallel.h"

namespace sfm::prep {
namespace fs = std::filesystem;

std::string fmt_num(double v) {
  if (std::fabs(v) < 1e-12) v = 0;
  char b[64];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

void check_output_free(const std::string& out) {
  SFM_CHECK(!out.empty(), "prepare: --out is required");
  SFM_CHECK(!fs::exists(out), "prepare: output ", out,
            " already exists; remove it or choose another --out (nothing is overwritten)");
}

void check_size_and_threads(int height, int width, int threads) {
  for (auto [name, v] : {std::pair<const char*, int>{"--height", height}, {"--width", width}}) {
    SFM_CHECK(v >= 8, "prepare: ", name, " ", v, " is too small (at least 8)");
    SFM_CHECK(v <= kMaxOutputSide, "prepare: ", name, " ", v, " is more than ", kMaxOutputSide,
              ", the largest image side sfm reads back");
  }
  SFM_CHECK(threads >= 1, "prepare: --threads must be >= 1, got ", threads);
  SFM_CHECK(threads <= max_cpu_threads(), "prepare: --threads ", threads, " is more than 4x this machine's ",
            std::thread::hardware_concurrency(), " hardware threads (at most ", max_cpu_threads(), ")");
}

void check_unique_cameras(const std::vector<std::string>& names, const std::vector<int>& index) {
  for (size_t i = 0; i < index.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      SFM_CHECK(index[i] != index[j], "prepare: --cameras lists camera 0", index[i], " twice ('", names[j], "' and '",
                names[i], "'); each camera gives one scene per drive, so give it once");
}

StagedFolder::StagedFolder(const std::string& out) : out_(out) {
  std::random_device rd;
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, ".tmp-%08x", (unsigned)(rd() ^ (unsigned)::getpid()));
  if (out_.has_parent_path()) fs::create_directories(out_.parent_path());
  tmp_ = out_.string() + suffix;
  fs::create_directories(tmp_);
}

StagedFolder::~StagedFolder() {
  if (done_) return;
  std::error_code ec;
  fs::remove_all(tmp_, ec);
}

void StagedFolder::commit() {
  fs::rename(tmp_, out_);
  done_ = true;
}

void write_cam_txt(const fs::path& file, const Eigen::Matrix3d& K) {
  std::ofstream cf(file);
  for (int r = 0; r < 3; ++r) cf << fmt_num(K(r, 0)) << " " << fmt_num(K(r, 1)) << " " << fmt_num(K(r, 2)) << "\n";
  SFM_CHECK(cf.good(), "prepare: cannot write ", file.string());
}

void write_lines(const fs::path& file, const std::vector<std::string>& lines) {
  std::ofstream lf(file);
  for (const auto& s : lines) lf << s << "\n";
  SFM_CHECK(lf.good(), "prepare: cannot write ", file.string());
}

}  // namespace sfm::prep
