// `sfm synth`: the synthetic world's geometry against its own files (depth, poses, intrinsics,
// KITTI calibration, velodyne, OXTS), determinism, the layouts, and the progress reporter.
// Small images (32..96 rows) and a few frames keep this fast, also under ASan.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <Eigen/Dense>
#include <opencv2/imgcodecs.hpp>

#include "boundary/error.h"
#include "engine/npy.h"
#include "train/log/progress.h"
#include "train/synth/synth_world.h"
#include "train/synth/synth_writer.h"

using namespace sfm;
using namespace sfm::synth;
namespace fs = std::filesystem;

namespace {

fs::path test_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / "sfm_test_synth" / name;
  fs::remove_all(d);
  fs::create_directories(d.parent_path());
  return d;
}

std::string name10(int k) {
  char b[16];
  std::snprintf(b, sizeof b, "%010d", k);
  return b;
}

std::vector<double> read_numbers(const fs::path& p) {
  std::ifstream f(p);
  REQUIRE(f.good());
  std::vector<double> v;
  double x;
  while (f >> x) v.push_back(x);
  return v;
}
std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream f(p);
  REQUIRE(f.good());
  std::vector<std::string> v;
  std::string s;
  while (std::getline(f, s))
    if (!s.empty()) v.push_back(s);
  return v;
}
std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
// KITTI "key: numbers" calibration text (non-numeric lines skipped).
std::map<std::string, std::vector<double>> read_calib(const fs::path& p) {
  std::map<std::string, std::vector<double>> m;
  for (const std::string& line : read_lines(p)) {
    auto c = line.find(':');
    if (c == std::string::npos) continue;
    std::istringstream is(line.substr(c + 1));
    std::vector<double> v;
    double x;
    while (is >> x) v.push_back(x);
    if (is.eof() && !v.empty()) m[line.substr(0, c)] = v;
  }
  return m;
}
Eigen::Matrix4d rigid(const std::map<std::string, std::vector<double>>& c) {
  Eigen::Matrix4d T = Eigen::Matrix4d::Identity();
  REQUIRE(c.at("R").size() == 9);
  REQUIRE(c.at("T").size() == 3);
  for (int r = 0; r < 3; ++r) {
    for (int k = 0; k < 3; ++k) T(r, k) = c.at("R")[3 * r + k];
    T(r, 3) = c.at("T")[r];
  }
  return T;
}

cv::Mat read_rgb_float(const fs::path& p) {
  cv::Mat m = cv::imread(p.string(), cv::IMREAD_COLOR);
  REQUIRE(!m.empty());
  cv::Mat f;
  m.convertTo(f, CV_32FC3);
  return f;
}
cv::Vec3f bilinear(const cv::Mat& img, double u, double v) {
  int x0 = (int)std::floor(u), y0 = (int)std::floor(v);
  double a = u - x0, b = v - y0;
  auto at = [&](int x, int y) { return img.at<cv::Vec3f>(y, x); };
  cv::Vec3f r = at(x0, y0) * (float)((1 - a) * (1 - b)) + at(x0 + 1, y0) * (float)(a * (1 - b)) +
                at(x0, y0 + 1) * (float)((1 - a) * b) + at(x0 + 1, y0 + 1) * (float)(a * b);
  return r;
}
// Is 1/depth an affine function of the pixel position on the block [x0, x1] x [y0, y1] (all
// inside, all > 0)? Then the block shows one plane: every second difference and every 2x2
// "twist" of 1/depth vanishes (tolerance: `tol` relative, far above float32 rounding ~1e-7).
bool planar(const std::vector<float>& d, int h, int w, int x0, int y0, int x1, int y1, double tol = 1e-4) {
  if (x0 < 0 || y0 < 0 || x1 >= w || y1 >= h) return false;
  auto inv = [&](int x, int y) { return 1.0 / d[(size_t)y * w + x]; };
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x)
      if (d[(size_t)y * w + x] <= 0) return false;
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x) {
      double c = inv(x, y);
      if (x + 2 <= x1 && std::fabs(c - 2 * inv(x + 1, y) + inv(x + 2, y)) > tol * c) return false;
      if (y + 2 <= y1 && std::fabs(c - 2 * inv(x, y + 1) + inv(x, y + 2)) > tol * c) return false;
      if (x + 1 <= x1 && y + 1 <= y1 && std::fabs(c - inv(x + 1, y) - inv(x, y + 1) + inv(x + 1, y + 1)) > tol * c)
        return false;
    }
  return true;
}
// Depth at a sub-pixel position where the 4x4 pixel centres around it show one plane: 1/depth
// interpolated bilinearly, which is exact there. 0 when not applicable.
double depth_at(const std::vector<float>& d, int h, int w, double u, double v) {
  int x0 = (int)std::floor(u), y0 = (int)std::floor(v);
  if (!planar(d, h, w, x0 - 1, y0 - 1, x0 + 2, y0 + 2)) return 0;
  double z[4] = {d[(size_t)y0 * w + x0], d[(size_t)y0 * w + x0 + 1], d[(size_t)(y0 + 1) * w + x0],
                 d[(size_t)(y0 + 1) * w + x0 + 1]};
  double a = u - x0, b = v - y0;
  double inv = (1 - a) * (1 - b) / z[0] + a * (1 - b) / z[1] + (1 - a) * b / z[2] + a * b / z[3];
  return 1.0 / inv;
}
Eigen::Matrix4d pose_from_line(const std::vector<double>& v, size_t k) {
  Eigen::Matrix4d T = Eigen::Matrix4d::Identity();
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) T(r, c) = v[12 * k + 4 * r + c];
  return T;
}
std::vector<float> load_depth(const fs::path& p, int h, int w) {
  NpyArray a = load_npy(p.string());
  REQUIRE(a.shape == std::vector<int64_t>{h, w});
  return a.data;
}
double median(std::vector<double> v) {
  REQUIRE(!v.empty());
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}
double quantile(std::vector<double> v, double q) {
  REQUIRE(!v.empty());
  size_t i = std::min(v.size() - 1, (size_t)(q * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

SynthOptions small_options() {
  SynthOptions o;
  o.scenes = 2;
  o.frames = 3;
  o.height = 32;
  o.width = 104;
  o.seed = 3;
  o.progress = false;
  return o;
}

std::map<std::string, std::string> tree_bytes(const fs::path& root) {
  std::map<std::string, std::string> m;
  for (auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) m[fs::relative(e.path(), root).string()] = read_all(e.path());
  return m;
}

}  // namespace

TEST_CASE("synth: KITTI-like intrinsics scale with the image size", "[synth]") {
  Intrinsics k = kitti_intrinsics(128, 416);
  REQUIRE(k.fx == 241.7);
  REQUIRE(k.fy == 241.7);
  REQUIRE(k.cx == 204.2);
  REQUIRE(k.cy == 59.0);
  Intrinsics h = kitti_intrinsics(64, 208);
  REQUIRE(h.fx == Approx(120.85).epsilon(1e-12));
  REQUIRE(h.cy == Approx(29.5).epsilon(1e-12));
  REQUIRE_THROWS_WITH(kitti_intrinsics(4, 416), Catch::Contains("out of range"));
}

TEST_CASE("synth: the drive stays on the road at 0.5..1.5 m per frame, 1.65 m up, gently turning", "[synth]") {
  for (int i = 0; i < 6; ++i) {
    WorldConfig cfg;
    cfg.frames = 40;
    SynthWorld w = SynthWorld::generate(11, i, cfg);
    for (int k = 0; k + 1 < cfg.frames; ++k) {
      Eigen::Matrix4d a = w.camera_pose(k), b = w.camera_pose(k + 1);
      double step = (b.block<3, 1>(0, 3) - a.block<3, 1>(0, 3)).norm();
      REQUIRE(step >= 0.5);
      REQUIRE(step <= 1.5);
      REQUIRE(-a(1, 3) == Approx(1.65).margin(0.02));  // height above the road plane y = 0
      Eigen::AngleAxisd rel(Eigen::Matrix3d(a.topLeftCorner<3, 3>().transpose() * b.topLeftCorner<3, 3>()));
      REQUIRE(rel.angle() < 2.0 * M_PI / 180);  // "gentle": under 2 degrees per frame
    }
  }
}

TEST_CASE("synth: no camera of the rig ever touches anything", "[synth]") {
  // Objects are kept 2 m (horizontally) from the drive, moving cars stay in their lanes: the
  // nearest surface any camera of the kitti-raw rig sees is farther than 1 m (measured over 200
  // worlds: 1.76 m, a car passing in the next lane).
  Intrinsics K = kitti_intrinsics(16, 52);
  double nearest = 1e9;
  for (int i = 0; i < 12; ++i) {
    WorldConfig cfg;
    cfg.frames = 40;
    cfg.moving_objects = 3;
    SynthWorld w = SynthWorld::generate(21 + i / 4, i % 4, cfg);
    for (int k = 0; k < cfg.frames; k += 5)
      for (int cam : {0, 2, 3})
        for (float z : w.render_depth(kitti_camera_pose(w, cam, k), K, k, 1))
          if (z > 0) nearest = std::min(nearest, (double)z);
  }
  REQUIRE(nearest > 1.0);
}

TEST_CASE("synth: tiled rendering finds exactly the hits of brute-force ray casting", "[synth]") {
  // The renderer culls primitives per screen tile (and the lidar per azimuth sector); cast()
  // tests every primitive. Same intersection code, so depths must agree to rounding.
  WorldConfig cfg;
  cfg.frames = 6;
  cfg.moving_objects = 3;
  SynthWorld w = SynthWorld::generate(5, 1, cfg);
  Intrinsics K = kitti_intrinsics(24, 78);
  for (int k : {0, 5}) {
    Eigen::Matrix4d T = w.camera_pose(k);
    std::vector<float> depth = w.render_depth(T, K, k, 1);
    int mismatches = 0, hits = 0;
    for (int v = 0; v < K.height; ++v)
      for (int u = 0; u < K.width; ++u) {
        Eigen::Vector3d d = T.topLeftCorner<3, 3>() * Eigen::Vector3d((u - K.cx) / K.fx, (v - K.cy) / K.fy, 1);
        RayHit h = w.cast(T.block<3, 1>(0, 3), d, k);
        double ref = h.hit ? h.t : 0.0;
        hits += h.prim >= 0;
        if (std::fabs(ref - depth[(size_t)v * K.width + u]) > 1e-5 * std::max(1.0, ref)) ++mismatches;
      }
    REQUIRE(mismatches == 0);
    REQUIRE(hits > K.height * K.width / 4);  // the view is not just road and sky
  }
  // lidar: every 7th beam of a coarse scan against cast()
  SynthWorld::LidarSpec spec;
  spec.rings = 16;
  spec.azimuth_steps = 90;
  Eigen::Matrix4d V = kitti_velo_pose(w, 2);
  std::vector<float> pts = w.lidar_scan(V, 2, spec, 1);
  REQUIRE(pts.size() > 4 * 16 * 45);
  for (size_t j = 0; j < pts.size(); j += 4 * 7) {
    Eigen::Vector3d p(pts[j], pts[j + 1], pts[j + 2]);
    double r = p.norm();
    RayHit h = w.cast(V.block<3, 1>(0, 3), V.topLeftCorner<3, 3>() * (p / r), 2);
    REQUIRE(h.hit);
    REQUIRE(h.t == Approx(r).epsilon(1e-5));  // float32 storage
    REQUIRE(pts[j + 3] >= 0.0f);
    REQUIRE(pts[j + 3] <= 1.0f);
  }
}

TEST_CASE("synth: moving objects move and are seen", "[synth]") {
  WorldConfig cfg;
  cfg.frames = 8;
  cfg.moving_objects = 2;
  SynthWorld w = SynthWorld::generate(2, 0, cfg);
  REQUIRE(w.num_movers() == 2);
  for (int m = 0; m < 2; ++m) {
    double x0, z0, y0, x1, z1, y1;
    w.mover_pose(m, 0, x0, z0, y0);
    w.mover_pose(m, 5, x1, z1, y1);
    REQUIRE(std::hypot(x1 - x0, z1 - z0) > 1.0);  // every kind moves more than 0.2 m/frame
  }
  // some pixel of some frame sees a mover (cast() reports the primitive)
  Intrinsics K = kitti_intrinsics(16, 52);
  int seen = 0;
  for (int k = 0; k < cfg.frames; k += 3) {
    Eigen::Matrix4d T = w.camera_pose(k);
    for (int v = 0; v < K.height; ++v)
      for (int u = 0; u < K.width; ++u) {
        Eigen::Vector3d d = T.topLeftCorner<3, 3>() * Eigen::Vector3d((u - K.cx) / K.fx, (v - K.cy) / K.fy, 1);
        RayHit h = w.cast(T.block<3, 1>(0, 3), d, k);
        if (h.prim >= 0 && w.prims()[h.prim].mover >= 0) ++seen;
      }
  }
  REQUIRE(seen >= 5);
  // SynthOptions: each scene draws 0..K movers, so K = 0 gives static worlds only
  SynthOptions o = small_options();
  o.moving_objects = 0;
  for (int i = 0; i < 4; ++i) REQUIRE(synth_world(o, i).num_movers() == 0);
}

TEST_CASE("synth: formatted layout: files present and parseable; folder is replaced only with force",
          "[synth]") {
  fs::path dir = test_dir("formatted");
  SynthOptions o = small_options();
  o.scenes = 3;
  o.frames = 4;
  write_synthetic_dataset(dir.string(), o);
  REQUIRE(read_lines(dir / "train.txt") == std::vector<std::string>{"synth_0000", "synth_0001"});
  REQUIRE(read_lines(dir / "val.txt") == std::vector<std::string>{"synth_0002"});
  Intrinsics K = kitti_intrinsics(o.height, o.width);
  for (int i = 0; i < 3; ++i) {
    fs::path s = dir / formatted_scene_name(i);
    std::vector<double> cam = read_numbers(s / "cam.txt");
    REQUIRE(cam == std::vector<double>{K.fx, 0, K.cx, 0, K.fy, K.cy, 0, 0, 1});
    std::vector<double> poses = read_numbers(s / "poses.txt");
    REQUIRE(read_lines(s / "poses.txt").size() == 4);
    REQUIRE(poses.size() == 48);
    REQUIRE(pose_from_line(poses, 0) == Eigen::Matrix4d::Identity());
    for (int k = 0; k < 4; ++k) {
      Eigen::Matrix3d R = pose_from_line(poses, k).topLeftCorner<3, 3>();
      REQUIRE((R.transpose() * R - Eigen::Matrix3d::Identity()).norm() < 1e-9);
      cv::Mat img = cv::imread((s / (name10(k) + ".jpg")).string());
      REQUIRE(img.rows == o.height);
      REQUIRE(img.cols == o.width);
      std::vector<float> d = load_depth(s / (name10(k) + ".npy"), o.height, o.width);
      int valid = (int)std::count_if(d.begin(), d.end(), [](float z) { return z > 0; });
      REQUIRE(valid > o.height * o.width / 3);  // road and buildings; the rest is sky (0)
      REQUIRE(*std::max_element(d.begin(), d.end()) < 1e5f);
    }
  }
  auto meta = read_all(dir / "synth.json");
  REQUIRE(meta.find("\"seed\": 3") != std::string::npos);
  // no temporary folder is left next to it
  for (auto& e : fs::directory_iterator(dir.parent_path()))
    REQUIRE(e.path().filename().string().find(".tmp-") == std::string::npos);
  // an existing folder is refused without force, replaced with it
  REQUIRE_THROWS_WITH(write_synthetic_dataset(dir.string(), o),
                      Catch::Contains(dir.string()) && Catch::Contains("already exists") && Catch::Contains("--force"));
  o.scenes = 1;
  o.force = true;
  write_synthetic_dataset(dir.string(), o);
  REQUIRE(read_lines(dir / "train.txt").size() == 1);
  REQUIRE(read_lines(dir / "val.txt").empty());
  REQUIRE(!fs::exists(dir / "synth_0001"));
  // bad options name the option
  o.layout = "kitti";
  REQUIRE_THROWS_WITH(write_synthetic_dataset((dir.string() + "_x"), o), Catch::Contains("--layout"));
  REQUIRE(!fs::exists(dir.string() + "_x"));
}

TEST_CASE("synth: same seed gives the same bytes (any thread count), another seed differs", "[synth]") {
  SynthOptions o = small_options();
  o.moving_objects = 2;
  o.threads = 1;
  fs::path a = test_dir("seed_a"), b = test_dir("seed_b"), c = test_dir("seed_c");
  write_synthetic_dataset(a.string(), o);
  o.threads = 2;
  write_synthetic_dataset(b.string(), o);
  auto ta = tree_bytes(a), tb = tree_bytes(b);
  REQUIRE(ta.size() == 2 + 2 * (2 + 2 * 3) + 1);  // split files, 2 scenes x (cam, poses, 3 jpg, 3 npy), synth.json
  REQUIRE(ta == tb);
  o.seed = 4;
  write_synthetic_dataset(c.string(), o);
  auto tc = tree_bytes(c);
  REQUIRE(tc.size() == ta.size());
  int differ = 0;
  for (auto& [name, bytes] : ta)
    if (name.find(".jpg") != std::string::npos && tc.at(name) != bytes) ++differ;
  REQUIRE(differ == 6);
}

TEST_CASE("synth: frames agree under the true motion (depth + poses + cam.txt reproject)", "[synth]") {
  // Static worlds. For pixels of frame k with valid depth on a locally smooth surface: back-project
  // with cam.txt and the depth, move with poses.txt into frame k+1, project. (1) Where frame
  // k+1's own depth around that point is one surface, it must equal the moved point's depth:
  // exact geometry, so only occlusions (the point hidden in k+1) may disagree. (2) Colours must
  // agree up to resampling (bilinear) and texture filtering; the same statistic for a wrong motion
  // (translation halved) must be clearly worse, so the check can fail.
  fs::path dir = test_dir("reproject");
  SynthOptions o = small_options();
  o.height = 48;
  o.width = 156;
  o.frames = 3;
  o.moving_objects = 0;
  o.image_format = "png";
  write_synthetic_dataset(dir.string(), o);
  std::vector<double> rel_err, col_err, col_err_wrong;
  int64_t checked = 0, agree = 0, occluded = 0, in_front = 0;
  for (int i = 0; i < o.scenes; ++i) {
    fs::path s = dir / formatted_scene_name(i);
    std::vector<double> c = read_numbers(s / "cam.txt");
    Eigen::Matrix3d K;
    K << c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8];
    std::vector<double> poses = read_numbers(s / "poses.txt");
    for (int k = 0; k + 1 < o.frames; ++k) {
      char n0[16], n1[16];
      std::snprintf(n0, sizeof n0, "%010d", k);
      std::snprintf(n1, sizeof n1, "%010d", k + 1);
      std::vector<float> d0 = load_depth(s / (std::string(n0) + ".npy"), o.height, o.width);
      std::vector<float> d1 = load_depth(s / (std::string(n1) + ".npy"), o.height, o.width);
      cv::Mat i0 = read_rgb_float(s / (std::string(n0) + ".png")), i1 = read_rgb_float(s / (std::string(n1) + ".png"));
      Eigen::Matrix4d T = pose_from_line(poses, k + 1).inverse() * pose_from_line(poses, k);  // k -> k+1
      Eigen::Matrix4d Tw = T;
      Tw.block<3, 1>(0, 3) *= 0.5;
      for (int v = 0; v < o.height; ++v)
        for (int u = 0; u < o.width; ++u) {
          if (!planar(d0, o.height, o.width, u - 1, v - 1, u + 1, v + 1)) continue;
          double z = d0[(size_t)v * o.width + u];
          Eigen::Vector3d X = z * (K.inverse() * Eigen::Vector3d(u, v, 1));
          auto project = [&](const Eigen::Matrix4d& M, double& pu, double& pv, double& pz) {
            Eigen::Vector3d Y = M.topLeftCorner<3, 3>() * X + M.block<3, 1>(0, 3);
            Eigen::Vector3d q = K * Y;
            pu = q.x() / q.z();
            pv = q.y() / q.z();
            pz = Y.z();
            return pz > 0.1 && pu >= 0 && pv >= 0 && pu < o.width - 1 && pv < o.height - 1;
          };
          double pu, pv, pz;
          if (!project(T, pu, pv, pz)) continue;
          double z1 = depth_at(d1, o.height, o.width, pu, pv);
          if (z1 <= 0) continue;
          ++checked;
          double e = pz / z1 - 1;
          rel_err.push_back(std::fabs(e));
          if (e > 1e-4) ++occluded;  // hidden behind something nearer in frame k+1
          if (e < -1e-4) ++in_front;  // in front of what frame k+1 sees: impossible
          if (std::fabs(e) > 1e-4) continue;
          ++agree;
          cv::Vec3f a = i0.at<cv::Vec3f>(v, u), b = bilinear(i1, pu, pv);
          col_err.push_back((std::fabs(a[0] - b[0]) + std::fabs(a[1] - b[1]) + std::fabs(a[2] - b[2])) / 3);
          double wu, wv, wz;
          if (project(Tw, wu, wv, wz)) {
            cv::Vec3f bw = bilinear(i1, wu, wv);
            col_err_wrong.push_back((std::fabs(a[0] - bw[0]) + std::fabs(a[1] - bw[1]) + std::fabs(a[2] - bw[2])) / 3);
          }
        }
    }
  }
  double frac = (double)agree / (double)checked;
  WARN("reprojection: " << checked << " points, " << agree << " agree (" << frac << "), " << occluded
                        << " occluded, " << in_front << " in front; depth rel err median " << median(rel_err)
                        << "; colour |diff| median " << median(col_err) << " p90 " << quantile(col_err, 0.9)
                        << " (wrong motion: median " << median(col_err_wrong) << " p90 "
                        << quantile(col_err_wrong, 0.9) << ")");
  // measured (seed 3): 12793 points, all agree (other seeds: 99.97%, the rest occluded)
  REQUIRE(checked > 8000);
  REQUIRE(frac > 0.99);
  REQUIRE(in_front == 0);
  REQUIRE(median(rel_err) < 1e-6);
  REQUIRE(median(col_err) < 2.0);
  REQUIRE(quantile(col_err, 0.9) < 12.0);
  REQUIRE(median(col_err_wrong) > 2 * median(col_err));
}

TEST_CASE("synth: kitti-raw layout: calibration, velodyne on the image_02 depth, stereo, OXTS trajectory",
          "[synth]") {
  fs::path dir = test_dir("kitti");
  SynthOptions o = small_options();
  o.layout = "kitti-raw";
  o.scenes = 1;
  o.frames = 4;
  o.height = 64;
  o.width = 208;
  o.moving_objects = 1;
  o.lidar_azimuth_steps = 720;
  write_synthetic_dataset(dir.string(), o);
  const fs::path date = dir / kKittiDate;
  const fs::path drive = date / kitti_drive_name(0);
  REQUIRE(kitti_drive_name(0) == "2031_01_01_drive_0001_sync");
  for (const char* f : {"calib_cam_to_cam.txt", "calib_velo_to_cam.txt", "calib_imu_to_velo.txt"})
    REQUIRE(fs::exists(date / f));
  for (const char* f : {"image_02/timestamps.txt", "image_03/timestamps.txt", "oxts/timestamps.txt",
                        "velodyne_points/timestamps.txt"})
    REQUIRE(read_lines(drive / f).size() == 4);
  REQUIRE(read_lines(drive / "image_02/timestamps.txt")[1] == "2031-01-01 08:00:00.100000000");

  auto c2c = read_calib(date / "calib_cam_to_cam.txt");
  auto P_of = [&](int cam) {
    std::vector<double> p = c2c.at("P_rect_0" + std::to_string(cam));
    REQUIRE(p.size() == 12);
    Eigen::Matrix<double, 3, 4> P;
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 4; ++c) P(r, c) = p[4 * r + c];
    return P;
  };
  for (int cam = 0; cam < 4; ++cam) {
    for (const char* key : {"S_", "K_", "D_", "R_", "T_", "S_rect_", "R_rect_", "P_rect_"})
      REQUIRE(c2c.count(key + std::string("0") + std::to_string(cam)) == 1);
    REQUIRE(c2c.at("S_rect_0" + std::to_string(cam)) == std::vector<double>{(double)o.width, (double)o.height});
  }
  Eigen::Matrix<double, 3, 4> P2 = P_of(2), P3 = P_of(3);
  Intrinsics K = kitti_intrinsics(o.height, o.width);
  REQUIRE(P2(0, 3) == Approx(0.06 * K.fx).epsilon(1e-9));   // cam2 0.06 m left of cam0
  REQUIRE(P3(0, 3) == Approx(-0.48 * K.fx).epsilon(1e-9));  // cam3 0.48 m right: 0.54 m baseline
  Eigen::Matrix4d Rrect = Eigen::Matrix4d::Identity();
  {
    std::vector<double> r = c2c.at("R_rect_00");
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) Rrect(a, b) = r[3 * a + b];
  }
  Eigen::Matrix4d velo_to_cam = rigid(read_calib(date / "calib_velo_to_cam.txt"));
  Eigen::Matrix4d imu_to_velo = rigid(read_calib(date / "calib_imu_to_velo.txt"));

  SynthWorld w = synth_world(o, 0);
  REQUIRE(w.num_frames() == 4);

  // (1) velodyne points through the calibration land where image_02 sees the same surface.
  //  (a) on image_02's rendered depth map (1/depth interpolated where the 4x4 pixels around
  //      the projection show one plane): the velodyne sits 0.27 m behind and 0.08 m above cam0,
  //      so a few points it sees are hidden from image_02; and a pole thinner than a pixel can
  //      fall between pixel centres (the depth map shows what is behind it) -- both rare;
  //  (b) exactly, with the ray of image_02's camera through the projected sub-pixel position
  //      (brute-force cast): it must hit the point itself, or something in front of it
  //      (occlusion), never something behind it.
  std::vector<double> lidar_err;
  int64_t in_image = 0, lidar_in_front = 0, cast_n = 0, cast_ok = 0, cast_behind = 0;
  for (int k = 0; k < o.frames; k += 3) {
    char n[16];
    std::snprintf(n, sizeof n, "%010d", k);
    std::string bin = read_all(drive / "velodyne_points/data" / (std::string(n) + ".bin"));
    REQUIRE(bin.size() % 16 == 0);
    std::vector<float> pts(bin.size() / 4);
    std::memcpy(pts.data(), bin.data(), bin.size());
    REQUIRE(pts.size() > 4 * 64 * 360);  // most beams return (sky beams do not)
    for (size_t j = 0; j < pts.size(); j += 4)
      REQUIRE(Eigen::Vector3d(pts[j], pts[j + 1], pts[j + 2]).norm() <= 120.0 + 1e-3);
    Eigen::Matrix4d T2 = kitti_camera_pose(w, 2, k);
    std::vector<float> depth = w.render_depth(T2, K, k);
    Eigen::Matrix<double, 3, 4> PV = P2 * Rrect * velo_to_cam;
    int64_t seen = 0;
    for (size_t j = 0; j < pts.size(); j += 4) {
      if (pts[j] < 0) continue;
      Eigen::Vector3d q = PV * Eigen::Vector4d(pts[j], pts[j + 1], pts[j + 2], 1);
      if (q.z() <= 0.5) continue;
      double u = q.x() / q.z(), v = q.y() / q.z();
      if (u < 0 || v < 0 || u > o.width - 1 || v > o.height - 1) continue;
      if (seen++ % 6 == 0) {
        Eigen::Vector3d d = T2.topLeftCorner<3, 3>() * Eigen::Vector3d((u - K.cx) / K.fx, (v - K.cy) / K.fy, 1);
        RayHit h = w.cast(T2.block<3, 1>(0, 3), d, k);
        REQUIRE(h.hit);
        ++cast_n;
        double e = q.z() / h.t - 1;  // d has camera z = 1, so t is the depth
        if (std::fabs(e) < 1e-4) ++cast_ok;
        if (e < -1e-4) ++cast_behind;
      }
      double z = depth_at(depth, o.height, o.width, u, v);
      if (z <= 0) continue;
      ++in_image;
      double e = q.z() / z - 1;
      lidar_err.push_back(std::fabs(e));
      if (e < -1e-4) ++lidar_in_front;
    }
  }
  int64_t lidar_ok = std::count_if(lidar_err.begin(), lidar_err.end(), [](double e) { return e < 1e-4; });
  WARN("velodyne: " << in_image << " points on planar image_02 surfaces, " << lidar_ok
                    << " within 1e-4 of the rendered depth, " << lidar_in_front
                    << " in front of it; median rel err " << median(lidar_err) << "; exact rays: " << cast_ok
                    << "/" << cast_n << " hit the point, " << cast_behind << " hit something behind it");
  REQUIRE(in_image > 1000);
  REQUIRE((double)lidar_ok / (double)in_image > 0.99);        // measured 99.9%
  REQUIRE((double)lidar_in_front / (double)in_image < 0.005);  // measured 0.1% (8 points)
  REQUIRE(median(lidar_err) < 1e-6);
  REQUIRE(cast_n > 1000);
  REQUIRE(cast_behind == 0);
  REQUIRE((double)cast_ok / (double)cast_n > 0.97);

  // (2) image_03 is image_02 seen 0.54 m to the right: disparity fx*0.54/z, leftwards
  {
    cv::Mat i2 = read_rgb_float(drive / "image_02/data/0000000001.png");
    cv::Mat i3 = read_rgb_float(drive / "image_03/data/0000000001.png");
    std::vector<float> depth = w.render_depth(kitti_camera_pose(w, 2, 1), K, 1);
    std::vector<double> ok, flipped;
    for (int v = 1; v + 1 < o.height; ++v)
      for (int u = 1; u + 1 < o.width; ++u) {
        if (!planar(depth, o.height, o.width, u - 1, v - 1, u + 1, v + 1)) continue;
        double disp = K.fx * 0.54 / depth[(size_t)v * o.width + u];
        if (u - disp < 0 || u + disp > o.width - 1) continue;
        cv::Vec3f a = i2.at<cv::Vec3f>(v, u), b = bilinear(i3, u - disp, v), c = bilinear(i3, u + disp, v);
        ok.push_back((std::fabs(a[0] - b[0]) + std::fabs(a[1] - b[1]) + std::fabs(a[2] - b[2])) / 3);
        flipped.push_back((std::fabs(a[0] - c[0]) + std::fabs(a[1] - c[1]) + std::fabs(a[2] - c[2])) / 3);
      }
    WARN("stereo: colour |diff| median " << median(ok) << " (baseline flipped: " << median(flipped) << ")");
    REQUIRE(ok.size() > 2000);
    REQUIRE(median(ok) < 4.0);
    REQUIRE(median(flipped) > 2 * median(ok));
  }

  // (3) OXTS -> poses the KITTI devkit way (Mercator with scale cos(lat0), R = Rz Ry Rx),
  //     through the calibration to cam0, reproduce the drive
  std::vector<std::array<double, 30>> ox;
  for (int k = 0; k < o.frames; ++k) {
    char n[16];
    std::snprintf(n, sizeof n, "%010d", k);
    std::vector<double> v = read_numbers(drive / "oxts/data" / (std::string(n) + ".txt"));
    REQUIRE(v.size() == 30);
    std::array<double, 30> a;
    std::copy(v.begin(), v.end(), a.begin());
    ox.push_back(a);
  }
  const double er = 6378137.0, scale = std::cos(ox[0][0] * M_PI / 180);
  auto oxts_pose = [&](const std::array<double, 30>& a) {
    Eigen::Matrix4d T = Eigen::Matrix4d::Identity();
    T(0, 3) = scale * a[1] * M_PI * er / 180;
    T(1, 3) = scale * er * std::log(std::tan((90 + a[0]) * M_PI / 360));
    T(2, 3) = a[2];
    T.topLeftCorner<3, 3>() = (Eigen::AngleAxisd(a[5], Eigen::Vector3d::UnitZ()) *
                               Eigen::AngleAxisd(a[4], Eigen::Vector3d::UnitY()) *
                               Eigen::AngleAxisd(a[3], Eigen::Vector3d::UnitX()))
                                  .toRotationMatrix();
    return T;
  };
  Eigen::Matrix4d imu_to_cam = Rrect * velo_to_cam * imu_to_velo;
  Eigen::Matrix4d imu0_inv = oxts_pose(ox[0]).inverse();
  for (int k = 0; k < o.frames; ++k) {
    Eigen::Matrix4d cam_rel = imu_to_cam * imu0_inv * oxts_pose(ox[k]) * imu_to_cam.inverse();
    Eigen::Matrix4d truth = w.camera_pose(0).inverse() * w.camera_pose(k);
    REQUIRE((cam_rel.block<3, 1>(0, 3) - truth.block<3, 1>(0, 3)).norm() < 1e-4);  // 0.1 mm
    REQUIRE((cam_rel.topLeftCorner<3, 3>() - truth.topLeftCorner<3, 3>()).norm() < 1e-6);
  }
  // forward speed: vf against the displacement over two frames (10 Hz), within 2%
  for (int k = 1; k + 1 < o.frames; ++k) {
    Eigen::Vector3d a = kitti_imu_pose(w, k - 1).block<3, 1>(0, 3), b = kitti_imu_pose(w, k + 1).block<3, 1>(0, 3);
    double speed = (b - a).norm() / (2.0 / kFrameRate);
    REQUIRE(ox[k][8] == Approx(speed).epsilon(0.02));
    REQUIRE(std::fabs(ox[k][9]) < 0.05 * speed);         // vl: no side slip
    REQUIRE(ox[k][13] == Approx(9.81).margin(0.5));     // az: gravity reaction
  }
}

TEST_CASE("progress: plain lines and bar text", "[synth][progress]") {
  REQUIRE(Progress::format_duration(42) == "42s");
  REQUIRE(Progress::format_duration(187) == "3:07");
  REQUIRE(Progress::format_duration(3723) == "1:02:03");
  REQUIRE(Progress::plain_line("synth", 3, 10, 2.0, "frames") == "synth: 3/10 (30%) 1.5 frames/s, ETA 5s");
  std::string bar = Progress::bar_line("synth", 5, 10, 1.0, "it", 10);
  REQUIRE(bar.find("[#####.....] 5/10") != std::string::npos);
  REQUIRE(bar.find("ETA 1s") != std::string::npos);
  // not a terminal: the first step and the end are reported, with the interval in between
  FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  {
    Progress p("job", 4, "it", true, f);
    REQUIRE(!p.is_terminal());
    p.set_plain_interval(1e9);
    for (int i = 0; i < 4; ++i) p.advance();
  }  // destructor finishes
  std::rewind(f);
  std::string text;
  char buf[256];
  while (std::fgets(buf, sizeof buf, f)) text += buf;
  std::fclose(f);
  REQUIRE(text.find("job: 1/4 (25%)") != std::string::npos);
  REQUIRE(text.find("job: 4/4 (100%)") != std::string::npos);
  REQUIRE(std::count(text.begin(), text.end(), '\n') == 2);
  // disabled: silent
  FILE* g = std::tmpfile();
  {
    Progress p("quiet", 2, "it", false, g);
    p.advance(2);
  }
  REQUIRE(std::ftell(g) == 0);
  std::fclose(g);
}
