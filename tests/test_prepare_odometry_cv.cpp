// `sfm prepare --kitti-odometry` (train/kitti/odometry.h) on `sfm synth --layout kitti-odometry`
// output: the odometry split, K of P2/P3 scaled, camera 2/3 poses against the true rig poses,
// training on the result, and errors naming the file.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "train/config.h"
#include "train/data/augment.h"
#include "train/kitti/odometry.h"
#include "train/synth/synth_world.h"
#include "train/synth/synth_writer.h"
#include "train/trainer.h"

using namespace sfm;
namespace fs = std::filesystem;

namespace {

fs::path fresh(const std::string& name) {
  fs::path d = fs::temp_directory_path() / "sfm_test_prepare_odometry" / name;
  fs::remove_all(d);
  fs::create_directories(d.parent_path());
  return d;
}

std::vector<std::string> lines(const fs::path& p) {
  std::ifstream f(p);
  std::vector<std::string> v;
  for (std::string l; std::getline(f, l);)
    if (!l.empty()) v.push_back(l);
  return v;
}

synth::SynthOptions odo_source(int sequences, int frames) {
  synth::SynthOptions so;
  so.layout = "kitti-odometry";
  so.scenes = sequences;
  so.frames = frames;
  so.height = 48;
  so.width = 160;
  so.seed = 5;
  so.supersample = 1;
  so.moving_objects = 0;
  so.progress = false;
  so.threads = 2;
  return so;
}

}  // namespace

TEST_CASE("prepare odometry: synthetic KITTI odometry -> split, K, poses -> train", "[prepare][odometry][train][long]") {
  fs::path src = fresh("src"), out = fresh("out"), run = fresh("run");
  synth::SynthOptions so = odo_source(11, 3);
  synth::write_synthetic_dataset(src.string(), so);
  REQUIRE(fs::exists(src / "sequences" / "10" / "image_3" / "000002.png"));
  REQUIRE(fs::exists(src / "poses" / "09.txt"));

  kitti::OdometryOptions o;
  o.root = src.string();
  o.out = out.string();
  o.height = 32;
  o.width = 104;
  o.progress = false;
  kitti::OdometryReport r = kitti::prepare_kitti_odometry(o);
  CHECK(r.sequences == 11);
  CHECK(r.scenes == 22);
  CHECK(r.frames == 66);

  // the odometry split: 00-08 in train/val (both cameras of a sequence on one side), 09-10 only in test.txt
  auto tr = lines(out / "train.txt"), va = lines(out / "val.txt"), te = lines(out / "test.txt");
  CHECK(te == std::vector<std::string>{"09_02", "09_03", "10_02", "10_03"});
  std::set<std::string> tv(tr.begin(), tr.end());
  tv.insert(va.begin(), va.end());
  CHECK(tv.size() == tr.size() + va.size());
  CHECK(tv.size() == 18);
  CHECK(va.size() == 2);  // round(9 * 0.1) = 1 sequence, two cameras
  for (const auto& s : tv) CHECK(s.substr(0, 2) <= "08");
  for (const auto& s : va) CHECK(std::count(va.begin(), va.end(), s.substr(0, 3) + (s[4] == '2' ? "03" : "02")) == 1);

  // K: P2's left 3x3 scaled from 160x48 to 104x32 with integer pixel centres
  Eigen::Matrix3d K0 = synth::kitti_intrinsics(so.height, so.width).K();
  Eigen::Matrix3d want = resize_intrinsics(K0, 160, 48, 104, 32);
  std::ifstream kf(out / "05_03" / "cam.txt");
  Eigen::Matrix3d got;
  for (int i = 0; i < 9; ++i) kf >> got(i / 3, i % 3);
  CHECK((got - want).cwiseAbs().maxCoeff() < 1e-6 * want.cwiseAbs().maxCoeff());
  CHECK(got(0, 2) == Approx((K0(0, 2) + 0.5) * 104.0 / 160 - 0.5).epsilon(1e-8));

  // poses.txt of camera 2 and 3 = the rig camera's true poses relative to its first frame
  // (9 significant digits written: tolerance 1e-6)
  for (int seq : {3, 10}) {
    synth::SynthWorld w = synth::synth_world(so, seq);
    for (int cam : {2, 3}) {
      char sc[16];
      std::snprintf(sc, sizeof sc, "%02d_0%d", seq, cam);
      auto pl = lines(out / sc / "poses.txt");
      REQUIRE(pl.size() == 3);
      Eigen::Matrix4d T0inv = synth::kitti_camera_pose(w, cam, 0).inverse();
      double worst = 0;
      for (int k = 0; k < 3; ++k) {
        std::istringstream is(pl[k]);
        Eigen::Matrix<double, 3, 4> T;
        for (int i = 0; i < 12; ++i) is >> T(i / 4, i % 4);
        Eigen::Matrix4d truth = T0inv * synth::kitti_camera_pose(w, cam, k);
        worst = std::max(worst, (T - truth.topRows<3>()).cwiseAbs().maxCoeff());
      }
      INFO(sc);
      CHECK(worst < 1e-6);
    }
  }

  TrainConfig c;
  for (auto [k, v] : std::vector<std::pair<const char*, std::string>>{
           {"data", out.string()}, {"height", "32"}, {"width", "104"}, {"batch", "2"}, {"steps", "2"},
           {"val_every", "0"}, {"log_every", "1"}, {"plot_every", "0"}, {"workers", "1"}, {"tensorboard", "false"},
           {"seed", "3"}})
    c.set(k, v, "test");
  TrainResult tr_r = train(c, run.string(), false);
  CHECK_FALSE(tr_r.failed);
  CHECK(tr_r.end_step == 2);

  // the README's pose steps: eval pose on test.txt chains 09/10 into trajectories that eval odometry
  // scores against the prepared camera-2 poses (a 2-step network: only that the pipeline runs)
  const std::string sfm = std::string(SFM_BINARY_DIR) + "/sfm", log = (run.parent_path() / "eval.log").string();
  fs::path traj = fresh("traj");
  std::string ev = sfm + " eval pose --pose-weights " + (run / "checkpoints" / "latest").string() + " --data " +
                   out.string() + " --split test --seq-length 3 --trajectory-out " + traj.string() + " > " + log +
                   " 2>&1";
  REQUIRE(std::system(ev.c_str()) == 0);
  CHECK(fs::exists(traj / "09_02.txt"));
  CHECK(fs::exists(traj / "10_03.txt"));
  std::string od = sfm + " eval odometry --gt " + out.string() + " --pred " + traj.string() +
                   " --seqs 09_02,10_02 --align 7dof > " + log + " 2>&1";
  CHECK(std::system(od.c_str()) == 0);

  // errors name the file; nothing is written
  fs::path out2 = fresh("out_bad");
  o.out = out2.string();
  std::ofstream(src / "poses" / "04.txt", std::ios::app) << "1 0 0 0 0 1 0 0 0 0 1 0\n";
  CHECK_THROWS_WITH(kitti::prepare_kitti_odometry(o), Catch::Contains((src / "poses" / "04.txt").string()) &&
                                                          Catch::Contains("4 poses for 3 frames"));
  fs::remove(src / "sequences" / "02" / "calib.txt");
  CHECK_THROWS_WITH(kitti::prepare_kitti_odometry(o), Catch::Contains("sequences/02") && Catch::Contains("calib.txt"));
  o.root = (src / "nope").string();
  CHECK_THROWS_WITH(kitti::prepare_kitti_odometry(o), Catch::Contains("nope") && Catch::Contains("sequences/"));
  CHECK_FALSE(fs::exists(out2));
}
