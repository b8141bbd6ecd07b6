// `sfm eval pose --trajectory-out` followed by `sfm eval odometry` on synthetic scenes with
// poses.txt (the formatted layout sfm synth writes: GT/<scene>/poses.txt), with an untrained
// PoseExpNet: the library calls, then the command line with its JSON, plots and errors.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "eval/kitti_trajectory.h"
#include "eval/odometry_eval.h"
#include "eval/pose_eval.h"
#include "models/posenet.h"
#include "train/synth/synth_world.h"

using namespace sfm;
using namespace sfm::eval;
namespace fs = std::filesystem;

TEST_CASE("eval odometry: trajectories chained by eval pose on synthetic scenes, then scored", "[eval][odometry]") {
  fs::path root = fs::temp_directory_path() / "sfm_test_odometry_eval";
  fs::remove_all(root);
  fs::create_directories(root);
  synth::SynthOptions so;
  so.scenes = 3;
  so.frames = 14;
  so.height = 32;
  so.width = 104;
  so.seed = 25;
  so.progress = false;
  so.moving_objects = 0;
  so.supersample = 1;
  so.threads = 2;
  const fs::path data = root / "data";
  synth::write_synthetic_dataset(data.string(), so);
  // Every scene: the train and val lists together.
  std::ifstream tr(data / "train.txt"), va(data / "val.txt");
  std::string all((std::istreambuf_iterator<char>(tr)), {});
  all += std::string((std::istreambuf_iterator<char>(va)), {});
  std::ofstream(data / "all.txt") << all;

  PoseExpNet net(PoseExpNetConfig{}, 5);  // untrained: small, arbitrary motions
  net.save((root / "posenet.safetensors").string());
  PoseEvalRun pr;
  pr.pose_weights = (root / "posenet.safetensors").string();
  pr.data = data.string();
  pr.split = (data / "all.txt").string();
  pr.height = 32;
  pr.width = 104;
  pr.trajectory_out = (root / "traj").string();
  PoseEvalResult p = evaluate_pose(pr);
  REQUIRE(p.trajectories.size() == 3);
  for (const std::string& f : p.trajectories) {
    Trajectory t = read_kitti_trajectory(f);
    CHECK(t.poses.size() == 14);  // one pose per frame: K snippets + N - 1
    CHECK((t.poses[0] - Pose::Identity()).norm() < 1e-9);
  }
  CHECK(pose_eval_json(pr, p)["trajectories"].size() == 3);

  // The library: GT = the data root (<scene>/poses.txt), every trajectory of traj/.
  OdometryEvalRun run;
  run.gt_dir = data.string();
  run.pred_dir = pr.trajectory_out;
  run.metrics.align = OdometryAlign::SevenDof;
  run.metrics.lengths = {2, 4};  // the synthetic drives are a few metres long
  run.metrics.step = 2;
  run.plots_dir = (root / "plots").string();
  OdometryEvalResult r = evaluate_odometry(run);
  REQUIRE(r.sequences.size() == 3);
  for (const auto& s : r.sequences) {
    INFO(s.name << ": length " << s.errors.length_m << " m");
    CHECK(s.errors.frames == 14);
    CHECK(s.errors.length_m > 4);
    CHECK(!s.errors.segments.empty());
    CHECK(std::isfinite(s.errors.t_err_percent));
    CHECK(std::isfinite(s.errors.ate_m));
    CHECK(s.errors.ate_m > 0);  // an untrained network does not drive the synthetic path
  }
  REQUIRE(r.plots.size() == 6);
  for (const std::string& png : r.plots) {
    cv::Mat im = cv::imread(png);
    INFO(png);
    CHECK(!im.empty());
  }

  // The command line: the same numbers in the JSON, and a missing sequence named.
  const fs::path exe = fs::path(SFM_BINARY_DIR) / "sfm";
  if (!fs::exists(exe)) {
    WARN("not run: the command-line part (" << exe.string() << " is not built)");
    return;
  }
  const std::string seq = r.sequences[1].name, out = (root / "odo.json").string();
  const std::string base = "\"" + exe.string() + "\" eval odometry --gt \"" + data.string() + "\" --pred \"" +
                           pr.trajectory_out + "\" --align 7dof --segment-lengths 2,4 --step 2";
  int rc = std::system((base + " --seqs " + seq + " --out \"" + out + "\" > \"" + (root / "log.txt").string() + "\" 2>&1").c_str());
  REQUIRE(rc == 0);
  nlohmann::json j = nlohmann::json::parse(std::ifstream(out));
  CHECK(j["align"] == "7dof");
  REQUIRE(j["sequences"].size() == 1);
  for (const char* k : {"t_err_percent", "r_err_deg_per_100m", "ate_m", "rpe_m", "rpe_deg", "frames", "length_m"})
    CHECK(j["sequences"][seq].contains(k));
  CHECK(j["sequences"][seq]["ate_m"].get<double>() == Approx(r.sequences[1].errors.ate_m).epsilon(1e-12));
  CHECK(j["mean"]["t_err_percent"].get<double>() ==
        Approx(r.sequences[1].errors.t_err_percent).epsilon(1e-12));
  const std::string err = (root / "err.txt").string();
  rc = std::system((base + " --seqs " + seq + ",no_such_scene > \"" + err + "\" 2>&1").c_str());
  CHECK(rc != 0);
  std::ifstream ef(err);
  std::string msg((std::istreambuf_iterator<char>(ef)), {});
  CHECK(msg.find("sequence no_such_scene has no ground truth") != std::string::npos);
}
