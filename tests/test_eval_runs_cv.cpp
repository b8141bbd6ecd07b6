// The evaluation as library calls (eval/depth_eval.h, eval/pose_eval.h) on tiny formatted data
// sets written here, and the one reader of the formatted layout they share with the training
// Dataset (eval/data_layout.h): frame order, scene lists, depth maps, times.txt.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <sstream>

#include "engine/npy.h"
#include "eval/data_layout.h"
#include "eval/depth_eval.h"
#include "eval/pose_eval.h"
#include "models/posenet.h"

using namespace sfm;
using namespace sfm::eval;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / "sfm_test_eval_runs" / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
void write_text(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << s;
}
std::string frame_file(int i, const char* ext = ".png") {
  char b[32];
  std::snprintf(b, sizeof(b), "%010d%s", i, ext);
  return b;
}
void write_image(const fs::path& p, int h, int w, int seed) {
  fs::create_directories(p.parent_path());
  cv::Mat im(h, w, CV_8UC3);
  cv::randu(im, seed, 200 + seed);
  REQUIRE(cv::imwrite(p.string(), im));
}
// The ground truth of frame k of a scene: a ramp whose slope depends on k, so that a prediction
// scored against the wrong frame has errors even after median scaling.
std::vector<float> gt_depth(int k, int h, int w) {
  std::vector<float> d((size_t)h * w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) d[(size_t)y * w + x] = (float)(2.0 + (k + 1) * 0.5 * x + 0.1 * y);
  return d;
}

}  // namespace

TEST_CASE("data formats: frame order, scene lists, depth maps and times.txt", "[eval][data]") {
  fs::path root = fresh_dir("layout");
  fs::path s = root / "a";
  fs::create_directories(s);
  // Unpadded digit stems sort as numbers; extensions in any case; other files are not frames.
  for (const char* n : {"10.png", "9.JPG", "0000000011.jpeg", "notes.txt", "9.npy"}) write_text(s / n, "x");
  std::vector<std::string> f = list_scene_frames(s.string());
  REQUIRE(f.size() == 3);
  CHECK(frame_name(f[0]) == "9");
  CHECK(frame_name(f[1]) == "10");
  CHECK(frame_name(f[2]) == "0000000011");
  CHECK(depth_map_path(f[0]) == (s / "9.npy").string());
  CHECK(depth_map_path(f[1]).empty());

  fs::create_directories(root / "b");
  write_text(root / "val.txt", "a\n\n  b \r\nmissing\nc d\n");
  std::string list = split_list_path(root.string(), "val");
  CHECK_THROWS_WITH(read_scene_list(root.string(), list, "who"),
                    Catch::Contains("who: " + list + " line 4") && Catch::Contains("'missing'") &&
                        Catch::Contains("does not exist"));
  std::vector<std::string> bad;
  auto scenes = read_scene_list(root.string(), list, "who", [&](const std::string& m) { bad.push_back(m); });
  REQUIRE(scenes.size() == 2);
  CHECK(scenes[0].name == "a");
  CHECK(scenes[1].name == "b");
  CHECK(scenes[1].line == 3);
  REQUIRE(bad.size() == 2);
  CHECK_THAT(bad[1], Catch::Contains("line 5") && Catch::Contains("not a scene folder name"));
  // The evaluation's --split: a file path, or a name under the root.
  CHECK(split_list_path_or_file(root.string(), "val") == list);
  CHECK(split_list_path_or_file(root.string(), list) == list);
  CHECK_THROWS_WITH(split_list_path_or_file((root / "nope").string(), "val"), Catch::Contains("nope"));

  write_text(s / "times.txt", "0.1\n0.2\n");
  CHECK_THROWS_WITH(read_times_file((s / "times.txt").string(), 3, "who"),
                    Catch::Contains("times.txt") && Catch::Contains("2 timestamps for 3 frames"));
  CHECK(read_times_file((s / "times.txt").string(), 2, "who") == std::vector<double>{0.1, 0.2});
  write_text(s / "poses.txt", "1 0 0 4 0 1 0 5 0 0 1 6\n\n1 0 0 0 0 1 0 0 0 0 1 nan\n");
  CHECK_THROWS_WITH(read_poses_file((s / "poses.txt").string(), "who"), Catch::Contains("line 3"));
  write_text(s / "poses.txt", "1 0 0 4 0 1 0 5 0 0 1 6\n");
  std::vector<Pose34> p = read_poses_file((s / "poses.txt").string(), "who");
  REQUIRE(p.size() == 1);
  CHECK(p[0](1, 3) == 5.0);
  CHECK(pose_from_3x4(p[0])(2, 3) == 6.0);
  CHECK(pose_from_3x4(p[0])(3, 3) == 1.0);
}

TEST_CASE("evaluate_depth: .npy ground truth, saved predictions in split order", "[eval][depth]") {
  const int h = 8, w = 24;
  fs::path root = fresh_dir("depth");
  // Two scenes; frame 1 of scene s1 has no depth map and is not scored.
  int n_gt = 0;
  std::vector<float> disp;  // exact inverse depths, in split order
  for (const char* sc : {"s1", "s0"}) {
    for (int k = 0; k < 3; ++k) {
      write_image(root / sc / frame_file(k), h, w, k);
      if (std::string(sc) == "s1" && k == 1) continue;
      std::vector<float> g = gt_depth(n_gt, h, w);
      save_npy((root / sc / frame_file(k, ".npy")).string(), g.data(), {h, w});
      for (float v : g) disp.push_back(1.0f / v);
      ++n_gt;
    }
  }
  write_text(root / "val.txt", "s1\ns0\n");  // list order, not name order
  save_npy((root / "pred.npy").string(), disp.data(), {n_gt, h, w});

  DepthEvalRun run;
  run.data = root.string();
  run.pred = (root / "pred.npy").string();
  run.metrics.median_scaling = false;
  run.metrics.max_depth = 1000;
  DepthEvalResult r = evaluate_depth(run);
  CHECK(r.images == 5);
  CHECK(r.skipped == 0);
  CHECK(r.split == (root / "val.txt").string());
  // Exact float32 inverses: errors of float rounding (1e-6 relative), none from a misorder.
  CHECK(r.mean.abs_rel < 1e-6);
  CHECK(r.mean.a1 == 1.0);

  // Twice the disparity: half the depth, abs rel 0.5; median scaling restores it (scale 2).
  std::vector<float> twice(disp);
  for (float& v : twice) v *= 2;
  save_npy((root / "twice.npy").string(), twice.data(), {n_gt, h, w});
  run.pred = (root / "twice.npy").string();
  r = evaluate_depth(run);
  CHECK(r.mean.abs_rel == Approx(0.5).epsilon(1e-5));
  run.metrics.median_scaling = true;
  r = evaluate_depth(run);
  CHECK(r.mean.abs_rel < 1e-6);
  CHECK(r.mean.scale == Approx(2.0).epsilon(1e-6));
  nlohmann::json j = depth_eval_json(run, r);
  CHECK(j["protocol"] == "npy");
  CHECK(j["images"] == 5);
  CHECK(j["scoring"] == "standard");
  CHECK(j["resize"] == "depth");

  // The predictions in the order of the scene names (s0 first) are scored against other frames.
  std::vector<float> swapped(disp.begin() + 2 * h * w, disp.end());
  swapped.insert(swapped.end(), disp.begin(), disp.begin() + 2 * h * w);
  save_npy((root / "swapped.npy").string(), swapped.data(), {n_gt, h, w});
  run.pred = (root / "swapped.npy").string();
  CHECK(evaluate_depth(run).mean.abs_rel > 0.05);

  // A count that differs from the split, and a bad option, name what is wrong.
  save_npy((root / "short.npy").string(), disp.data(), {n_gt - 1, h, w});
  run.pred = (root / "short.npy").string();
  CHECK_THROWS_WITH(evaluate_depth(run), Catch::Contains("short.npy") && Catch::Contains("4 predictions") &&
                                             Catch::Contains("5 frames"));
  run.disp_weights = "x.safetensors";
  CHECK_THROWS_WITH(evaluate_depth(run), Catch::Contains("exactly one of --disp-weights and --pred"));
}

TEST_CASE("evaluate_pose: snippets, TUM files and the ATE recomputed from them", "[eval][pose]") {
  const int h = 32, w = 64, frames = 5;
  fs::path root = fresh_dir("pose");
  std::ostringstream poses;
  for (int k = 0; k < frames; ++k) {
    write_image(root / "s" / frame_file(k), h, w, 10 * k);
    // Forward along z with a slow yaw.
    double a = 0.05 * k;
    poses << std::cos(a) << " 0 " << std::sin(a) << " " << 0.1 * k << " 0 1 0 0 " << -std::sin(a) << " 0 "
          << std::cos(a) << " " << 1.0 * k << "\n";
  }
  write_text(root / "s" / "poses.txt", poses.str());
  write_text(root / "s" / "times.txt", "0.5\n1.5\n2.5\n3.5\n4.5\n");
  write_text(root / "val.txt", "s\n");
  PoseExpNet net(PoseExpNetConfig{}, 7);
  net.save((root / "posenet.safetensors").string());

  PoseEvalRun run;
  run.pose_weights = (root / "posenet.safetensors").string();
  run.data = root.string();
  run.height = h;
  run.width = w;
  run.batch_size = 2;  // 3 snippets: a full batch and a short one
  run.tum_dir = (root / "tum").string();
  PoseEvalResult r = evaluate_pose(run);
  const int N = net.config().num_sources + 1;
  REQUIRE(r.seq_length == N);
  REQUIRE(r.stats.snippets == frames - N + 1);

  // Recompute every snippet's ATE from the TUM files alone (positions printed with 9 decimals):
  // least-squares scale, sqrt(sum of squared errors) / N.
  auto positions = [](const fs::path& p) {
    std::vector<Eigen::Vector3d> out;
    std::ifstream f(p);
    double t, x, y, z, qx, qy, qz, qw;
    while (f >> t >> x >> y >> z >> qx >> qy >> qz >> qw) out.emplace_back(x, y, z);
    return out;
  };
  double mean = 0, smallest = 1e300;  // smallest: of the predicted positions other than frame 0's
  for (int k = 0; k < r.stats.snippets; ++k) {
    char name[32];
    std::snprintf(name, sizeof(name), "s_%06d.txt", k);  // <scene>_<first frame>
    auto g = positions(root / "tum" / "gt" / name), p = positions(root / "tum" / "pred" / name);
    REQUIRE(g.size() == (size_t)N);
    REQUIRE(p.size() == (size_t)N);
    CHECK(g[0].norm() == 0.0);  // relative to the first frame
    for (int i = 1; i < N; ++i) smallest = std::min(smallest, p[i].norm());
    double num = 0, den = 0, se = 0;
    for (int i = 0; i < N; ++i) {
      num += g[i].dot(p[i]);
      den += p[i].dot(p[i]);
    }
    double s = den > 0 ? num / den : 0.0;
    for (int i = 0; i < N; ++i) se += (s * p[i] - g[i]).squaredNorm();
    mean += std::sqrt(se) / N;
  }
  mean /= (double)r.stats.snippets;
  // The files round each coordinate by up to 5e-10. The untrained network predicts small motions,
  // so the least-squares scale (and with it the ATE) inherits a relative error of about
  // 5e-10 / |p| from the numerator and the denominator: allow 4x that, and at least 1e-6.
  REQUIRE(smallest > 0);
  const double rel = std::max(1e-6, 4 * 5e-10 / smallest);
  INFO("smallest predicted position " << smallest << ", relative tolerance " << rel);
  CHECK(r.stats.ate_mean == Approx(mean).epsilon(rel));
  // The timestamps come from times.txt.
  std::ifstream first(root / "tum" / "gt" / "s_000001.txt");
  double t0 = 0;
  first >> t0;
  CHECK(t0 == 1.5);
  nlohmann::json j = pose_eval_json(run, r);
  CHECK(j["seq_length"] == N);
  CHECK(j["rotation"] == "euler");

  // Bad input names the file or option.
  run.tum_dir.clear();
  run.seq_length = N + 2;
  CHECK_THROWS_WITH(evaluate_pose(run), Catch::Contains("--seq-length") && Catch::Contains("trained for"));
  run.seq_length.reset();
  write_text(root / "s" / "poses.txt", "1 0 0 0 0 1 0 0 0 0 1 0\n");
  CHECK_THROWS_WITH(evaluate_pose(run), Catch::Contains("poses.txt") && Catch::Contains("1 poses for 5 frames"));
  fs::remove(root / "s" / "poses.txt");
  CHECK_THROWS_WITH(evaluate_pose(run), Catch::Contains("has no poses.txt"));
}
