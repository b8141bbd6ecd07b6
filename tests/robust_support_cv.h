// Helpers of the robustness tests (tests/test_robust_runs_cv.cpp: run folders, checkpoints,
// signals, full disks; tests/test_robust_inputs_cv.cpp: bad inputs and options refused, naming
// the file and the key): a tiny formatted data set, the `sfm` CLI runner, disk fillers.
#pragma once

#include <catch2/catch.hpp>

#include "tests/tiny_dataset_cv.h"

#include <signal.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "engine/file_io.h"
#include "engine/npy.h"
#include "cpu/parallel.h"
#include "engine/ops.h"
#include "eval/depth_eval.h"
#include "eval/image_bytes.h"
#include "eval/infer.h"
#include "models/dispnet.h"
#include "models/posenet.h"
#include "tests/disk_fault.h"
#include "tests/test_support.h"
#include "train/config.h"
#include "eval/data_layout.h"
#include "train/data/dataset.h"
#include "train/data/loader.h"
#include "train/kitti/prepare.h"
#include "train/synth/synth_world.h"
#include "train/synth/synth_writer.h"
#include "train/trainer.h"

namespace sfm::test::robust {

using namespace sfm;
namespace fs = std::filesystem;
using json = nlohmann::json;


inline fs::path tmp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("sfm_test_robust_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  return p;
}

// A small formatted data set (3 scenes x 8 frames, 32x104), copied fresh per test when asked.
inline std::string base_data() {
  static std::string dir;
  if (dir.empty()) {
    dir = tmp_dir("base_data").string();
    sfm::test::write_tiny_dataset(dir, 5);
  }
  return dir;
}
inline fs::path copy_data(const std::string& name) {
  fs::path d = tmp_dir(name);
  fs::copy(base_data(), d, fs::copy_options::recursive);
  return d;
}
inline std::string first_line(const fs::path& p) {
  std::ifstream f(p);
  std::string l;
  std::getline(f, l);
  while (!l.empty() && std::isspace((unsigned char)l.back())) l.pop_back();
  return l;
}
inline fs::path train_scene(const fs::path& data) { return data / first_line(data / "train.txt"); }

inline TrainConfig tiny(const std::string& data, int steps) {
  TrainConfig c;
  c.set("data", data, "test");
  c.set("height", "32", "test");
  c.set("width", "104", "test");
  c.set("batch", "2", "test");
  c.set("steps", std::to_string(steps), "test");
  c.set("val_every", "0", "test");
  c.set("log_every", "1", "test");
  c.set("plot_every", "0", "test");
  c.set("workers", "1", "test");
  c.set("tensorboard", "false", "test");
  c.set("seed", "3", "test");
  return c;
}

inline std::vector<json> metrics(const fs::path& run) {
  std::vector<json> out;
  std::ifstream f(run / "metrics.jsonl");
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}
inline std::string bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
inline void write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

struct Run {
  int rc;
  std::string out;
};
// Runs `sfm ARGS` (from `cwd` when given), stdout and stderr together.
inline Run sfm_cli(const std::string& args, const std::string& cwd = "") {
  static int n = 0;
  fs::path log = fs::temp_directory_path() / ("sfm_test_robust_" + std::to_string(::getpid()) + "_cli" + std::to_string(n++) + ".log");
  std::string exe = (fs::path(SFM_BINARY_DIR) / "sfm").string();
  std::string cmd = (cwd.empty() ? "" : "cd '" + cwd + "' && ") + exe + " " + args + " > '" + log.string() + "' 2>&1";
  int st = std::system(cmd.c_str());
  Run r{WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), bytes(log)};
  fs::remove(log);
  INFO("sfm " << args << " -> " << r.rc << "\n" << r.out);
  return r;
}
// Starts `sfm synth --out DIR/data` (200 scenes x 50 frames: long enough to be interrupted) as a
// child with its output discarded, and waits up to 6 s for its staging folder DIR/data.tmp-* to
// appear; *started says whether it did.
inline pid_t start_synth_staging(const fs::path& dir, bool* started) {
  const std::string exe = (fs::path(SFM_BINARY_DIR) / "sfm").string();
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::freopen("/dev/null", "w", stdout);
    std::freopen("/dev/null", "w", stderr);
    execl(exe.c_str(), exe.c_str(), "synth", "--out", (dir / "data").c_str(), "--scenes", "200", "--frames", "50",
          (char*)nullptr);
    _exit(127);
  }
  *started = false;
  for (int i = 0; i < 300 && !*started; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().filename().string().find(".tmp-") != std::string::npos) *started = true;
  }
  return pid;
}
inline bool has_sfm() { return fs::exists(fs::path(SFM_BINARY_DIR) / "sfm"); }


// Bytes of one checkpoint folder of the tiny config (3 x the weights: the networks and Adam's two
// moments), plus 4 MiB of headers and slack: the size of the disks the disk-full tests fill.
inline size_t checkpoint_bytes() {
  static size_t n = 0;
  if (!n) n = (size_t)(DispNet().num_parameters() + PoseExpNet(TrainConfig().pose_net()).num_parameters()) * 12 + (4u << 20);
  return n;
}
// Fills the disk of `dir` and then frees `pages` pages of 4 KiB again (the filler is `dir`/filler).
inline void fill_leaving_pages(const fs::path& dir, int pages) {
  size_t n = sfm::test::fill_disk((dir / "filler").string());
  REQUIRE(n > (size_t)pages * 4096);
  fs::resize_file(dir / "filler", (n / 4096 - (size_t)pages) * 4096);
}
inline std::vector<std::string> temporaries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().extension() == ".tmp") out.push_back(e.path().string());
  return out;
}
// Steps 1..rows.size(), each once, every line a whole JSON object (metrics() parses each).
inline void check_rows_consecutive(const fs::path& run) {
  std::vector<json> rows = metrics(run);
  for (size_t i = 0; i < rows.size(); ++i) CHECK(rows[i]["step"].get<int64_t>() == (int64_t)i + 1);
}
struct RetryPolicyScope {  // a short retry schedule for a test, restored after
  WriteRetryPolicy old;
  explicit RetryPolicyScope(WriteRetryPolicy p) : old(set_write_retry_policy(std::move(p))) {}
  ~RetryPolicyScope() { set_write_retry_policy(old); }
};

}  // namespace sfm::test::robust
