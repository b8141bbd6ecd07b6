// KITTI raw parsing (calibration, OXTS, velodyne) and `sfm prepare` on a tiny fake KITTI raw
// tree written by the test (exact calibration chosen so every expected number can be
// computed by hand), and on `sfm synth --layout kitti-raw` output (true poses and depth).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <opencv2/imgcodecs.hpp>

#include "engine/npy.h"
#include "train/data/augment.h"
#include "train/data/dataset.h"
#include "train/kitti/kitti_raw.h"
#include "train/data/loader.h"
#include "train/kitti/prepare.h"
#include "train/synth/synth_world.h"
#include "train/synth/synth_writer.h"

using namespace sfm;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / "sfm_test_prepare" / name;
  fs::remove_all(d);
  fs::create_directories(d.parent_path());
  return d;
}

std::string frame_name(int k) {
  char b[16];
  std::snprintf(b, sizeof b, "%010d", k);
  return b;
}

void write_text(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p);
  f << s;
}

std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream f(p);
  std::vector<std::string> v;
  for (std::string l; std::getline(f, l);)
    if (!l.empty()) v.push_back(l);
  return v;
}

// ---- the fake rig (raw images 310x94) --------------------------------------------------
constexpr int kRawW = 310, kRawH = 94;
constexpr double kFx = 180, kFy = 181, kCx = 155.3, kCy = 47.1;
constexpr double kBaseline2 = 0.06, kBaseline3 = -0.48;  // X_cam = X_cam0 + (b, 0, 0)
constexpr double kLat = 49.0, kLon0 = 8.4, kStep = 1.3;  // metres per frame, driving east

Eigen::Matrix4d fake_velo_to_cam0() {
  Eigen::Matrix4d M = Eigen::Matrix4d::Identity();
  M.block<3, 3>(0, 0) << 0, -1, 0, 0, 0, -1, 1, 0, 0;
  M.block<3, 1>(0, 3) << 0, -0.08, -0.27;
  return M;
}
Eigen::Matrix4d fake_imu_to_velo() {
  Eigen::Matrix4d M = Eigen::Matrix4d::Identity();
  M.block<3, 1>(0, 3) << -0.8, 0.3, -1.0;
  return M;
}
Eigen::Matrix4d cam_shift(double b) {
  Eigen::Matrix4d M = Eigen::Matrix4d::Identity();
  M(0, 3) = b;
  return M;
}

std::string P_line(const char* key, double b) {
  std::ostringstream os;
  os.precision(17);
  os << key << ": " << kFx << " 0 " << kCx << " " << kFx * b << " 0 " << kFy << " " << kCy << " 0 0 0 1 0\n";
  return os.str();
}

struct FakeDrive {
  int number;
  int frames;
  std::vector<int> static_frames;  // speed 0 in OXTS
  double yaw_rate = 0;             // rad per frame from frame 3 on
};

// One velodyne point (in velodyne coordinates) for the depth test and a second one on the
// same camera-2 ray 1.5 times farther (the nearest must win), plus one behind the car.
Eigen::Vector3d kPointA(10.0, 1.0, 0.5);

std::vector<float> fake_scan() {
  Eigen::Matrix4d V2 = cam_shift(kBaseline2) * fake_velo_to_cam0();
  Eigen::Vector4d Xa = V2 * kPointA.homogeneous();
  Eigen::Vector4d Xb = Xa;
  Xb.head<3>() *= 1.5;
  Eigen::Vector4d vb = V2.inverse() * Xb;
  return {(float)kPointA.x(), (float)kPointA.y(), (float)kPointA.z(), 0.5f, (float)vb.x(), (float)vb.y(),
          (float)vb.z(), 0.5f, -5.0f, 0.0f, 0.0f, 0.5f};
}

double lon_of(int k) {
  const double er = 6378137.0, scale = std::cos(kLat * M_PI / 180);
  return kLon0 + k * kStep * 180.0 / (M_PI * er * scale);
}
double yaw_of(const FakeDrive& d, int k) { return k >= 3 ? d.yaw_rate * (k - 2) : 0.0; }

void write_fake_kitti(const fs::path& root, const std::vector<FakeDrive>& drives, const std::string& date = "2011_09_26") {
  fs::path dd = root / date;
  std::string c2c = "calib_time: 09-Jan-2012 13:57:47\ncorner_dist: 9.950000e-02\n";
  for (int c = 0; c < 4; ++c) {
    double b = c == 2 ? kBaseline2 : c == 3 ? kBaseline3 : c == 1 ? -0.54 : 0.0;
    std::string n = "0" + std::to_string(c);
    c2c += "S_rect_" + n + ": 310 94\nR_rect_" + n + ": 1 0 0 0 1 0 0 0 1\n";
    c2c += P_line(("P_rect_" + n).c_str(), b);
  }
  write_text(dd / "calib_cam_to_cam.txt", c2c);
  write_text(dd / "calib_velo_to_cam.txt",
             "calib_time: 15-Mar-2012 11:37:16\nR: 0 -1 0 0 0 -1 1 0 0\nT: 0 -0.08 -0.27\ndelta_f: 0 0\ndelta_c: 0 0\n");
  write_text(dd / "calib_imu_to_velo.txt", "calib_time: 25-May-2012 16:47:16\nR: 1 0 0 0 1 0 0 0 1\nT: -0.8 0.3 -1.0\n");
  std::vector<float> scan = fake_scan();
  for (const auto& d : drives) {
    char dn[64];
    std::snprintf(dn, sizeof dn, "%s_drive_%04d_sync", date.c_str(), d.number);
    fs::path drive = dd / dn;
    for (int k = 0; k < d.frames; ++k) {
      for (const char* cam : {"image_02", "image_03"}) {
        fs::create_directories(drive / cam / "data");
        cv::Mat img(kRawH, kRawW, CV_8UC3, cv::Scalar(20 * k % 256, d.number * 10 % 256, cam[7] == '2' ? 60 : 120));
        cv::imwrite((drive / cam / "data" / (frame_name(k) + ".png")).string(), img);
      }
      bool is_static = std::find(d.static_frames.begin(), d.static_frames.end(), k) != d.static_frames.end();
      std::ostringstream o;
      o.precision(15);
      o << kLat << " " << lon_of(k) << " 100 0 0 " << yaw_of(d, k) << " 0 0 " << (is_static ? 0.0 : kStep * 10)
        << " 0 0";
      for (int i = 11; i < 30; ++i) o << " " << (i >= 25 ? 4 : 0);
      write_text(drive / "oxts" / "data" / (frame_name(k) + ".txt"), o.str() + "\n");
      fs::create_directories(drive / "velodyne_points" / "data");
      std::ofstream v(drive / "velodyne_points" / "data" / (frame_name(k) + ".bin"), std::ios::binary);
      v.write(reinterpret_cast<const char*>(scan.data()), (std::streamsize)(scan.size() * sizeof(float)));
    }
  }
}

std::vector<FakeDrive> standard_drives() {
  return {{1, 8, {0, 1}, 0.0}, {2, 7, {}, 0.05}, {5, 7, {}, 0.0}, {9, 6, {}, 0.0}};  // 0009: Eigen test drive
}

PrepareOptions fast_opts(const fs::path& raw, const fs::path& out) {
  PrepareOptions o;
  o.kitti_raw = raw.string();
  o.out = out.string();
  o.height = 32;
  o.width = 96;
  o.progress = false;
  o.val_fraction = 0.34;
  o.min_frames = 3;
  return o;
}

}  // namespace

// ----------------------------------------------------------------------------- parsing
TEST_CASE("kitti: calibration, OXTS and velodyne files, with errors naming file and key", "[kitti]") {
  fs::path raw = fresh_dir("parse");
  write_fake_kitti(raw, {{1, 3, {}, 0.0}});
  fs::path date = raw / "2011_09_26";
  kitti::CamToCam c = kitti::read_cam_to_cam((date / "calib_cam_to_cam.txt").string());
  CHECK(c.P_rect[2](0, 0) == kFx);
  CHECK(c.P_rect[2](0, 3) == Approx(kFx * kBaseline2));
  CHECK(c.S_rect[2] == Eigen::Vector2i(310, 94));
  CHECK(kitti::rect_intrinsics(c, 2)(1, 2) == kCy);
  // velodyne -> rectified camera 2 = shift(b2) * R_rect * velo_to_cam
  Eigen::Matrix4d V = kitti::read_rigid_calib((date / "calib_velo_to_cam.txt").string());
  CHECK((kitti::velo_to_rect_cam(c, V, 2) - cam_shift(kBaseline2) * fake_velo_to_cam0()).norm() < 1e-12);
  Eigen::Matrix4d I2V = kitti::read_rigid_calib((date / "calib_imu_to_velo.txt").string());
  CHECK((kitti::imu_to_rect_cam(c, V, I2V, 3) - cam_shift(kBaseline3) * fake_velo_to_cam0() * fake_imu_to_velo()).norm() <
        1e-12);
  CHECK(kitti::camera_index("03") == 3);
  CHECK_THROWS_WITH(kitti::camera_index("04"), Catch::Contains("'04'"));

  // errors
  fs::path bad = raw / "bad_c2c.txt";
  write_text(bad, "calib_time: x\nP_rect_00: 1 2 3\n");
  CHECK_THROWS_WITH(kitti::read_cam_to_cam(bad.string()),
                    Catch::Contains(bad.string()) && Catch::Contains("'P_rect_00' has 3 numbers, expected 12"));
  write_text(bad, "R: 1 0 0 0 1 0 0 0 1\n");
  CHECK_THROWS_WITH(kitti::read_rigid_calib(bad.string()), Catch::Contains(bad.string()) && Catch::Contains("no key 'T'"));
  write_text(bad, "not a calibration file\n");
  CHECK_THROWS_WITH(kitti::read_calib_file(bad.string()), Catch::Contains("no 'key: numbers' line"));
  CHECK_THROWS_WITH(kitti::read_calib_file((raw / "missing.txt").string()), Catch::Contains("cannot open"));

  fs::path ox = date / "2011_09_26_drive_0001_sync" / "oxts" / "data" / (frame_name(1) + ".txt");
  kitti::Oxts o = kitti::read_oxts(ox.string());
  CHECK(o.lat() == kLat);
  CHECK(o.speed() == Approx(kStep * 10));
  write_text(bad, "1 2 3\n");
  CHECK_THROWS_WITH(kitti::read_oxts(bad.string()), Catch::Contains(bad.string()) && Catch::Contains("found 3"));

  // OXTS -> poses: the first is the identity; driving east kStep metres per frame.
  std::vector<kitti::Oxts> pk;
  for (int k = 0; k < 3; ++k) pk.push_back(kitti::read_oxts((ox.parent_path() / (frame_name(k) + ".txt")).string()));
  auto poses = kitti::oxts_to_poses(pk);
  CHECK((poses[0] - Eigen::Matrix4d::Identity()).norm() < 1e-12);
  CHECK(poses[2](0, 3) == Approx(2 * kStep).margin(1e-6));
  CHECK(std::abs(poses[2](1, 3)) < 1e-6);

  fs::path vb = raw / "bad.bin";
  write_text(vb, "0123456789");
  CHECK_THROWS_WITH(kitti::read_velodyne(vb.string()), Catch::Contains(vb.string()) && Catch::Contains("multiple of 16"));
}

// ----------------------------------------------------------------------------- prepare
TEST_CASE("prepare: fake KITTI raw -> formatted layout with depth and poses", "[prepare]") {
  fs::path raw = fresh_dir("raw"), out = fresh_dir("out");
  write_fake_kitti(raw, standard_drives());
  PrepareOptions o = fast_opts(raw, out);
  o.with_depth = true;
  o.with_pose = true;
  PrepareReport r = prepare_kitti_raw(o);  // default test-scene list: data/test_scenes_eigen.txt

  // nothing half-written left behind
  for (const auto& e : fs::directory_iterator(out.parent_path()))
    CHECK(e.path().filename().string().rfind("out.tmp-", 0) == std::string::npos);
  CHECK(r.drives_found == 4);
  CHECK(r.drives_test == 1);  // 2011_09_26_drive_0009 is an Eigen test drive
  CHECK(r.drives_used == 3);
  CHECK(r.scenes == 6);
  CHECK(r.static_dropped == 2);
  CHECK(r.frames == 2 * (6 + 7 + 7));
  CHECK_FALSE(fs::exists(out / "2011_09_26_drive_0009_sync_02"));

  // train/val split by drive: disjoint, complete, both cameras of a drive on one side
  auto train = read_lines(out / "train.txt"), val = read_lines(out / "val.txt");
  CHECK(train.size() == 4);
  CHECK(val.size() == 2);
  std::set<std::string> all(train.begin(), train.end());
  all.insert(val.begin(), val.end());
  CHECK(all == std::set<std::string>{"2011_09_26_drive_0001_sync_02", "2011_09_26_drive_0001_sync_03",
                                     "2011_09_26_drive_0002_sync_02", "2011_09_26_drive_0002_sync_03",
                                     "2011_09_26_drive_0005_sync_02", "2011_09_26_drive_0005_sync_03"});
  CHECK(val[0].substr(0, val[0].size() - 3) == val[1].substr(0, val[1].size() - 3));

  // static frames 0, 1 of drive 0001 dropped (OXTS speed 0); frame ids kept
  fs::path s1 = out / "2011_09_26_drive_0001_sync_02";
  CHECK_FALSE(fs::exists(s1 / (frame_name(1) + ".jpg")));
  REQUIRE(fs::exists(s1 / (frame_name(2) + ".jpg")));
  cv::Mat im = cv::imread((s1 / (frame_name(2) + ".jpg")).string());
  CHECK(im.cols == 96);
  CHECK(im.rows == 32);

  // cam.txt: K of P_rect_02 scaled to 96x32 with integer pixel centres
  auto k = read_numbers((s1 / "cam.txt").string());
  REQUIRE(k.size() == 9);
  const double sx = 96.0 / kRawW, sy = 32.0 / kRawH;
  CHECK(k[0] == Approx(kFx * sx).epsilon(1e-8));
  CHECK(k[4] == Approx(kFy * sy).epsilon(1e-8));
  CHECK(k[2] == Approx((kCx + 0.5) * sx - 0.5).epsilon(1e-8));
  CHECK(k[5] == Approx((kCy + 0.5) * sy - 0.5).epsilon(1e-8));
  CHECK(k[8] == 1);

  // depth: the velodyne point lands at the pixel K predicts with its camera-2 depth; the
  // point 1.5x farther on the same ray loses; the point behind the car is dropped.
  NpyArray d = load_npy((s1 / (frame_name(2) + ".npy")).string());
  REQUIRE(d.shape == std::vector<int64_t>{32, 96});
  Eigen::Vector4d Xa = cam_shift(kBaseline2) * fake_velo_to_cam0() * kPointA.homogeneous();
  double u = kFx * Xa.x() / Xa.z() + kCx, v = kFy * Xa.y() / Xa.z() + kCy;
  long uo = std::lround((u + 0.5) * sx - 0.5), vo = std::lround((v + 0.5) * sy - 0.5);
  REQUIRE(uo >= 0);
  REQUIRE(uo < 96);
  REQUIRE(vo >= 0);
  REQUIRE(vo < 32);
  CHECK(d.data[vo * 96 + uo] == Approx(Xa.z()).epsilon(1e-6));
  int nonzero = 0;
  for (float x : d.data) nonzero += x != 0;
  CHECK(nonzero == 1);
  // camera 03 sees the point elsewhere (0.54 m baseline)
  NpyArray d3 = load_npy((out / "2011_09_26_drive_0001_sync_03" / (frame_name(2) + ".npy")).string());
  Eigen::Vector4d X3 = cam_shift(kBaseline3) * fake_velo_to_cam0() * kPointA.homogeneous();
  long u3 = std::lround((kFx * X3.x() / X3.z() + kCx + 0.5) * sx - 0.5);
  CHECK(d3.data[vo * 96 + u3] == Approx(X3.z()).epsilon(1e-6));

  // poses: camera-to-world of the rectified camera, first written frame = identity;
  // driving straight ahead kStep per frame = +z in camera coordinates.
  auto pl = read_lines(s1 / "poses.txt");
  REQUIRE(pl.size() == 6);
  auto pose = [](const std::string& line) {
    std::istringstream is(line);
    Eigen::Matrix<double, 3, 4> T;
    for (int i = 0; i < 12; ++i) is >> T(i / 4, i % 4);
    return T;
  };
  Eigen::Matrix<double, 3, 4> I34 = Eigen::Matrix<double, 3, 4>::Identity();
  CHECK((pose(pl[0]) - I34).norm() < 1e-9);
  Eigen::Matrix<double, 3, 4> T3 = pose(pl[3]);  // frame 5, three frames after frame 2
  CHECK(T3(2, 3) == Approx(3 * kStep).margin(1e-5));
  CHECK(std::abs(T3(0, 3)) < 1e-5);
  CHECK(std::abs(T3(1, 3)) < 1e-5);
  CHECK((T3.leftCols<3>() - Eigen::Matrix3d::Identity()).norm() < 1e-9);
  // drive 0002 turns left (yaw +0.05 rad per frame from frame 3): the camera's forward axis
  // turns towards its -x (left), rotation about the camera's y axis only
  auto p2 = read_lines(out / "2011_09_26_drive_0002_sync_02" / "poses.txt");
  REQUIRE(p2.size() == 7);
  Eigen::Matrix<double, 3, 4> T6 = pose(p2[6]);
  double th = 0.05 * 4;
  CHECK(T6(0, 2) == Approx(-std::sin(th)).margin(1e-9));
  CHECK(T6(2, 2) == Approx(std::cos(th)).margin(1e-9));
  CHECK(T6(1, 1) == Approx(1.0).margin(1e-9));
  // and its position: the camera is offset from the IMU, so it is not just the IMU track;
  // compare with the rig transform applied by hand: T_cam = C T_imu C^-1, C = imu -> camera
  Eigen::Matrix4d C = cam_shift(kBaseline2) * fake_velo_to_cam0() * fake_imu_to_velo();
  Eigen::Matrix4d Timu = Eigen::Matrix4d::Identity();
  Timu.block<3, 3>(0, 0) = Eigen::AngleAxisd(th, Eigen::Vector3d::UnitZ()).toRotationMatrix();
  Timu(0, 3) = 6 * kStep;
  Eigen::Matrix4d Tc = C * Timu * C.inverse();
  CHECK((T6 - Tc.topRows<3>()).norm() < 1e-5);

  // The result loads: every scene yields frames - 2 snippets of 3; K as in cam.txt.
  LoaderOptions lo;
  lo.height = 32;
  lo.width = 96;
  lo.augment = false;
  lo.shuffle = false;
  lo.workers = 0;
  lo.quiet = true;
  DataLoader dl(out.string(), lo);
  size_t want_snippets = 0;  // train.txt scenes only
  for (const auto& sc : train) want_snippets += (sc.find("drive_0001") != std::string::npos ? 6 : 7) - 2;
  CHECK(dl.size() == want_snippets);
  CHECK(dl.dataset().has_depth());
  CHECK(dl.dataset().has_poses());
  SfMBatch b = dl.get_snippets({0});
  auto Kb = b.K.to_vector();
  auto kt = read_numbers((out / train[0] / "cam.txt").string());
  for (int i = 0; i < 9; ++i) CHECK(Kb[i] == Approx(kt[i]).margin(1e-4));

  // an existing output folder is never overwritten
  CHECK_THROWS_WITH(prepare_kitti_raw(o), Catch::Contains(out.string()) && Catch::Contains("already exists"));
}

TEST_CASE("prepare: static-frames list, custom test scenes, split determinism", "[prepare]") {
  fs::path raw = fresh_dir("raw_list"), out = fresh_dir("out_list"), out2 = fresh_dir("out_list2");
  write_fake_kitti(raw, standard_drives());
  fs::path list = raw / "static.txt", tests = raw / "tests.txt";
  write_text(list, "2011_09_26 2011_09_26_drive_0002_sync 0000000003\n2011_09_26 2011_09_26_drive_0002_sync 0000000004\n");
  write_text(tests, "# my test drives\n2011_09_26_drive_0005\n");
  PrepareOptions o = fast_opts(raw, out);
  o.static_frames = list.string();
  o.test_scenes = tests.string();
  o.cameras = {"02"};
  PrepareReport r = prepare_kitti_raw(o);
  CHECK(r.static_dropped == 2);
  CHECK(r.drives_test == 1);
  CHECK(fs::exists(out / "2011_09_26_drive_0001_sync_02" / (frame_name(0) + ".jpg")));  // speed ignored with a list
  CHECK_FALSE(fs::exists(out / "2011_09_26_drive_0002_sync_02" / (frame_name(3) + ".jpg")));
  CHECK(fs::exists(out / "2011_09_26_drive_0002_sync_02" / (frame_name(5) + ".jpg")));
  CHECK_FALSE(fs::exists(out / "2011_09_26_drive_0005_sync_02"));
  CHECK(fs::exists(out / "2011_09_26_drive_0009_sync_02"));  // not in this test list
  CHECK_FALSE(fs::exists(out / "2011_09_26_drive_0001_sync_03"));
  CHECK_FALSE(fs::exists(out / "2011_09_26_drive_0001_sync_02" / "poses.txt"));

  // the same inputs give the same split; the split does not depend on the camera set
  o.out = out2.string();
  o.cameras = {"03", "02"};
  prepare_kitti_raw(o);
  auto strip = [](std::vector<std::string> v) {
    for (auto& s : v) s = s.substr(0, s.size() - 3);
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
  };
  CHECK(strip(read_lines(out / "val.txt")) == strip(read_lines(out2 / "val.txt")));
  CHECK(strip(read_lines(out / "train.txt")) == strip(read_lines(out2 / "train.txt")));

  std::vector<std::string> tr, va;
  split_drives({"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, 0.2, 7, tr, va);
  CHECK(va.size() == 2);
  CHECK(tr.size() == 8);
  std::vector<std::string> tr2, va2;
  split_drives({"j", "i", "h", "g", "f", "e", "d", "c", "b", "a"}, 0.2, 7, tr2, va2);
  CHECK(va == va2);  // order of discovery does not matter
  split_drives({"only"}, 0.5, 0, tr, va);
  CHECK(tr.size() == 1);
  CHECK(va.empty());
}

TEST_CASE("prepare: bad input stops with a message and leaves no output", "[prepare][bad]") {
  fs::path raw = fresh_dir("raw_bad"), out = fresh_dir("out_bad");
  write_fake_kitti(raw, {{1, 5, {}, 0.0}, {2, 5, {}, 0.0}});
  PrepareOptions o = fast_opts(raw, out);
  o.test_scenes = "none";
  auto no_output = [&] {
    if (fs::exists(out)) return false;
    for (const auto& e : fs::directory_iterator(out.parent_path()))
      if (e.path().filename().string().rfind("out_bad.tmp-", 0) == 0) return false;
    return true;
  };
  SECTION("corrupt image") {
    fs::path img = raw / "2011_09_26" / "2011_09_26_drive_0002_sync" / "image_03" / "data" / (frame_name(3) + ".png");
    write_text(img, "garbage");
    CHECK_THROWS_WITH(prepare_kitti_raw(o), Catch::Contains(img.string()));
    CHECK(no_output());
  }
  SECTION("missing OXTS packet with the speed criterion") {
    fs::path ox = raw / "2011_09_26" / "2011_09_26_drive_0001_sync" / "oxts" / "data" / (frame_name(2) + ".txt");
    fs::remove(ox);
    CHECK_THROWS_WITH(prepare_kitti_raw(o), Catch::Contains(ox.string()) && Catch::Contains("cannot open"));
    CHECK(no_output());
  }
  SECTION("missing camera folder") {
    fs::remove_all(raw / "2011_09_26" / "2011_09_26_drive_0001_sync" / "image_03");
    CHECK_THROWS_WITH(prepare_kitti_raw(o), Catch::Contains("image_03") && Catch::Contains("drive_0001"));
    CHECK(no_output());
  }
  SECTION("missing velodyne scan with --with-depth") {
    fs::path vb = raw / "2011_09_26" / "2011_09_26_drive_0002_sync" / "velodyne_points" / "data" / (frame_name(4) + ".bin");
    fs::remove(vb);
    o.with_depth = true;
    CHECK_THROWS_WITH(prepare_kitti_raw(o), Catch::Contains(vb.string()));
    CHECK(no_output());
  }
  SECTION("not a KITTI raw tree") {
    o.kitti_raw = (raw / "2011_09_26" / "2011_09_26_drive_0001_sync").string();
    CHECK_THROWS_WITH(prepare_kitti_raw(o), Catch::Contains("no date folder with calib_cam_to_cam.txt"));
  }
  SECTION("bad static-frames list") {
    write_text(raw / "st.txt", "2011_09_26_drive_0001_sync 0000000001\n");
    o.static_frames = (raw / "st.txt").string();
    CHECK_THROWS_WITH(prepare_kitti_raw(o), Catch::Contains("st.txt line 1"));
  }
}

TEST_CASE("prepare: the sfm prepare command", "[prepare][cli]") {
  fs::path raw = fresh_dir("raw_cli"), out = fresh_dir("out_cli");
  write_fake_kitti(raw, {{1, 5, {}, 0.0}, {2, 5, {}, 0.0}});
  std::string sfm = std::string(SFM_BINARY_DIR) + "/sfm";
  std::string log = (out.parent_path() / "cli.log").string();
  std::string cmd = sfm + " prepare --kitti-raw " + raw.string() + " --out " + out.string() +
                    " --height 32 --width 96 --test-scenes none --cameras 02 --no-progress > " + log + " 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  CHECK(fs::exists(out / "train.txt"));
  CHECK(fs::exists(out / "2011_09_26_drive_0001_sync_02" / "cam.txt"));
  // a second run refuses to overwrite; a missing option is reported
  CHECK(std::system(cmd.c_str()) != 0);
  std::string cmd2 = sfm + " prepare --kitti-raw " + raw.string() + " > " + log + " 2>&1";
  CHECK(std::system(cmd2.c_str()) != 0);
  std::ifstream lf(log);
  std::string text((std::istreambuf_iterator<char>(lf)), std::istreambuf_iterator<char>());
  CHECK(text.find("--out") != std::string::npos);
}

// ----------------------------------------------------------------------------- synth kitti-raw
TEST_CASE("prepare: sfm synth --layout kitti-raw output gives the true poses and depth", "[prepare][synth]") {
  using namespace sfm::synth;
  fs::path raw = fresh_dir("synth_raw"), out = fresh_dir("synth_out");
  SynthOptions so;
  so.layout = "kitti-raw";
  so.scenes = 2;
  so.frames = 5;
  so.height = 32;
  so.width = 104;
  so.seed = 4;
  so.supersample = 1;
  so.moving_objects = 0;
  so.lidar_azimuth_steps = 360;
  so.progress = false;
  write_synthetic_dataset(raw.string(), so);

  PrepareOptions o = fast_opts(raw, out);
  o.height = so.height;  // same size: no resampling, so depth can be compared pixel by pixel
  o.width = so.width;
  o.with_depth = true;
  o.with_pose = true;
  o.val_fraction = 0.5;
  PrepareReport r = prepare_kitti_raw(o);
  CHECK(r.drives_used == 2);
  CHECK(r.static_dropped == 0);  // the synthetic car moves 0.5..1.5 m per frame
  CHECK(r.frames == 2 * 2 * 5);

  Intrinsics K = kitti_intrinsics(so.height, so.width);
  double min_inside = 1, max_wrong = 0;
  for (int drive = 0; drive < 2; ++drive) {
    SynthWorld w = synth_world(so, drive);
    for (int cam : {2, 3}) {
      fs::path sd = out / (kitti_drive_name(drive) + "_0" + std::to_string(cam));
      INFO(sd.string());
      auto k = read_numbers((sd / "cam.txt").string());
      CHECK(k[0] == Approx(K.fx).epsilon(1e-9));
      CHECK(k[2] == Approx(K.cx).epsilon(1e-9));
      CHECK(k[5] == Approx(K.cy).epsilon(1e-9));
      // poses.txt == true camera poses relative to the first frame (OXTS text carries 15
      // significant digits of lat/lon, ~1e-8 m: tolerance 1e-5 m / 1e-7)
      auto pl = read_lines(sd / "poses.txt");
      REQUIRE(pl.size() == 5);
      Eigen::Matrix4d T0inv = kitti_camera_pose(w, cam, 0).inverse();
      double worst = 0;
      for (int f = 0; f < 5; ++f) {
        std::istringstream is(pl[f]);
        Eigen::Matrix<double, 3, 4> T;
        for (int i = 0; i < 12; ++i) is >> T(i / 4, i % 4);
        Eigen::Matrix4d want = T0inv * kitti_camera_pose(w, cam, f);
        worst = std::max(worst, (T - want.topRows<3>()).cwiseAbs().maxCoeff());
      }
      CHECK(worst < 1e-5);
      // depth from the velodyne vs the rendered depth: a lidar point lands up to half a pixel
      // from the centre of its pixel, so its depth must lie within the range of the true
      // depths of the pixel and its 8 neighbours (0.5% slack for the interpolation between
      // sample points). Points the velodyne sees but camera 2 does not (the velodyne sits
      // 0.27 m behind the camera) may fall outside; they are few (measured < 1.5%). A wrong
      // camera transform, axis or intrinsics scaling moves most points off their surfaces.
      const int H = so.height, W = so.width;
      auto inside_fraction = [&](const std::vector<float>& depth, const std::vector<float>& truth, int64_t& n) {
        int64_t inside = 0;
        n = 0;
        for (int y = 1; y + 1 < H; ++y)
          for (int x = 1; x + 1 < W; ++x) {
            size_t i = (size_t)y * W + x;
            if (!(depth[i] > 0)) continue;
            float lo = 1e30f, hi = 0;
            for (int dy = -1; dy <= 1; ++dy)
              for (int dx = -1; dx <= 1; ++dx) {
                float t = truth[i + dy * W + dx];
                if (t > 0) lo = std::min(lo, t);
                hi = std::max(hi, t);
              }
            if (hi == 0) continue;  // sky all around
            ++n;
            inside += depth[i] >= 0.995f * lo && depth[i] <= 1.005f * hi;
          }
        return n ? (double)inside / (double)n : 0.0;
      };
      for (int f : {0, 4}) {
        NpyArray d = load_npy((sd / (frame_name(f) + ".npy")).string());
        std::vector<float> truth = w.render_depth(kitti_camera_pose(w, cam, f), K, f);
        int64_t n = 0;
        double frac = inside_fraction(d.data, truth, n);
        INFO("synth depth, drive " << drive << " cam " << cam << " frame " << f << ": " << frac * 100 << "% of " << n
                                   << " lidar pixels within their neighbourhood's true depth range");
        REQUIRE(n > 500);
        CHECK(frac > 0.97);
        min_inside = std::min(min_inside, frac);
        if (cam == 2 && f == 0) {
          // the check can fail: the other camera's depth map (0.54 m baseline) does not pass
          fs::path other = out / (kitti_drive_name(drive) + "_03");
          NpyArray d3 = load_npy((other / (frame_name(f) + ".npy")).string());
          int64_t n3 = 0;
          double wrong = inside_fraction(d3.data, truth, n3);
          CHECK(wrong < 0.9);
          max_wrong = std::max(max_wrong, wrong);
        }
      }
    }
  }
  WARN("synth kitti-raw depth: >= " << min_inside * 100 << "% of lidar pixels on their true surface (the other "
       "camera's depth map: <= " << max_wrong * 100 << "%)");
  // and it loads
  LoaderOptions lo;
  lo.height = so.height;
  lo.width = so.width;
  lo.workers = 0;
  lo.quiet = true;
  DataLoader dl(out.string(), lo);
  CHECK(dl.dataset().has_poses());
  SfMBatch b = dl.next();
  CHECK(b.poses_gt.defined());
}
