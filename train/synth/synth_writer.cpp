// `sfm synth` data sets: the formatted layout and KITTI's raw layout (see synth_writer.h and
// docs/data.md). Everything is written into OUT.tmp-XXXXXX and renamed to OUT at the end.
#include "train/synth/synth_writer.h"

#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <Eigen/Dense>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "boundary/error.h"
#include "engine/npy.h"
#include "cpu/parallel.h"
#include "engine/stop_signals.h"
#include "engine/rng.h"
#include "train/log/progress.h"

#include <atomic>
#include <csignal>

namespace sfm::synth {
namespace fs = std::filesystem;

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kEarthRadius = 6378137.0;
constexpr double kGravity = 9.81;

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}
std::string numbers(const double* v, int n, const char* f = "%.12e") {
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (i) s += ' ';
    s += fmt(f, v[i]);
  }
  return s;
}
Eigen::Matrix4d translation(double x, double y, double z) {
  Eigen::Matrix4d T = Eigen::Matrix4d::Identity();
  T(0, 3) = x;
  T(1, 3) = y;
  T(2, 3) = z;
  return T;
}
void write_bytes(const std::string& path, const void* data, size_t n) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  SFM_CHECK(f.good(), "synth: cannot open '", path, "' for writing");
  f.write(static_cast<const char*>(data), (std::streamsize)n);
  f.flush();
  SFM_CHECK(f.good(), "synth: write to '", path, "' failed (disk full?)");
}
void write_text(const std::string& path, const std::string& s) { write_bytes(path, s.data(), s.size()); }

std::string frame_name(int k) {
  char b[32];
  std::snprintf(b, sizeof b, "%010d", k);
  return b;
}

std::vector<uchar> encode_image(const RenderedFrame& f, const std::string& ext, int jpeg_quality) {
  cv::Mat rgb(f.height, f.width, CV_8UC3, const_cast<uint8_t*>(f.rgb.data()));
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  std::vector<int> params;
  if (ext == ".jpg") params = {cv::IMWRITE_JPEG_QUALITY, jpeg_quality};
  if (ext == ".png") params = {cv::IMWRITE_PNG_COMPRESSION, 3};
  std::vector<uchar> buf;
  SFM_CHECK(cv::imencode(ext, bgr, buf, params), "synth: could not encode a ", ext, " image");
  return buf;
}

// Rotation of the east-north-up frame from IMU axes: R = Rz(yaw) Ry(pitch) Rx(roll).
void rotation_to_rpy(const Eigen::Matrix3d& R, double& roll, double& pitch, double& yaw) {
  pitch = std::asin(std::max(-1.0, std::min(1.0, -R(2, 0))));
  roll = std::atan2(R(2, 1), R(2, 2));
  yaw = std::atan2(R(1, 0), R(0, 0));
}

// Runs jobs [0, n) on nt threads (dynamic schedule); the first exception is rethrown.
std::atomic<bool> g_synth_stop{false};
void on_synth_signal(int) { g_synth_stop = true; }

template <class F>
void run_jobs(int64_t n, int nt, F&& job_fn) {
  // A stop request (SIGINT/SIGTERM, see request_synth_stop) fails the next job, so the caller's
  // cleanup removes OUT.tmp-*.
  auto job = [&](int64_t i) {
    SFM_CHECK(!g_synth_stop.load(), "synth: interrupted; nothing was written (the temporary folder is removed)");
    job_fn(i);
  };
  std::exception_ptr err;
  std::mutex mu;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1)
  for (int64_t i = 0; i < n; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (err) continue;
    }
    try {
      job(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!err) err = std::current_exception();
    }
  }
  if (err) std::rethrow_exception(err);
}

}  // namespace

void request_synth_stop() { g_synth_stop = true; }
void install_synth_stop_handlers() {
  install_stop_handler(on_synth_signal);  // SIGINT, SIGTERM, SIGHUP
}

// ---------------------------------------------------------------------------------------------
// rig and calibration
double kitti_camera_offset(int cam) {
  static const double b[4] = {0.0, -0.54, 0.06, -0.48};
  SFM_CHECK(cam >= 0 && cam <= 3, "synth: camera index ", cam, " out of range 0..3");
  return b[cam];
}
Eigen::Matrix4d kitti_velo_to_cam0() {
  Eigen::Matrix4d T = Eigen::Matrix4d::Identity();
  T.topLeftCorner<3, 3>() << 0, -1, 0, 0, 0, -1, 1, 0, 0;
  T(0, 3) = 0.0;
  T(1, 3) = -0.08;
  T(2, 3) = -0.27;
  return T;
}
Eigen::Matrix4d kitti_imu_to_velo() { return translation(-0.81, 0.32, -0.80); }
Eigen::Matrix4d kitti_camera_pose(const SynthWorld& w, int cam, double t) {
  return w.camera_pose(t) * translation(-kitti_camera_offset(cam), 0, 0);
}
Eigen::Matrix4d kitti_velo_pose(const SynthWorld& w, double t) { return w.camera_pose(t) * kitti_velo_to_cam0(); }
Eigen::Matrix4d kitti_imu_pose(const SynthWorld& w, double t) { return kitti_velo_pose(w, t) * kitti_imu_to_velo(); }

std::string kitti_cam_to_cam_text(const Intrinsics& K) {
  std::string s = "calib_time: 01-Jan-2031 12:00:00\ncorner_dist: 9.950000e-02\n";
  double Km[9] = {K.fx, 0, K.cx, 0, K.fy, K.cy, 0, 0, 1};
  double I[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  double D[5] = {0, 0, 0, 0, 0};
  double S[2] = {(double)K.width, (double)K.height};
  for (int i = 0; i < 4; ++i) {
    char c[8];
    std::snprintf(c, sizeof c, "0%d", i);
    double b = kitti_camera_offset(i);
    double T[3] = {b, 0, 0};
    double P[12] = {K.fx, 0, K.cx, K.fx * b, 0, K.fy, K.cy, 0, 0, 0, 1, 0};
    s += std::string("S_") + c + ": " + numbers(S, 2) + "\n";
    s += std::string("K_") + c + ": " + numbers(Km, 9) + "\n";
    s += std::string("D_") + c + ": " + numbers(D, 5) + "\n";
    s += std::string("R_") + c + ": " + numbers(I, 9) + "\n";
    s += std::string("T_") + c + ": " + numbers(T, 3) + "\n";
    s += std::string("S_rect_") + c + ": " + numbers(S, 2) + "\n";
    s += std::string("R_rect_") + c + ": " + numbers(I, 9) + "\n";
    s += std::string("P_rect_") + c + ": " + numbers(P, 12) + "\n";
  }
  return s;
}
static std::string rigid_text(const Eigen::Matrix4d& T, bool velo) {
  double R[9], t[3];
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) R[3 * r + c] = T(r, c);
    t[r] = T(r, 3);
  }
  std::string s = "calib_time: 01-Jan-2031 12:00:00\nR: " + numbers(R, 9) + "\nT: " + numbers(t, 3) + "\n";
  if (velo) s += "delta_f: 0.000000e+00 0.000000e+00\ndelta_c: 0.000000e+00 0.000000e+00\n";
  return s;
}
std::string kitti_velo_to_cam_text() { return rigid_text(kitti_velo_to_cam0(), true); }
std::string kitti_imu_to_velo_text() { return rigid_text(kitti_imu_to_velo(), false); }

// ---------------------------------------------------------------------------------------------
// OXTS
GeoAnchor drive_anchor(uint64_t seed, int drive) {
  Rng r(seed * 0x2545F4914F6CDD1Dull + 0x9E3779B97F4A7C15ull * (uint64_t)(drive + 7));
  GeoAnchor a;
  a.lat0 = 49.0 + r.uniform(-0.05, 0.05);
  a.lon0 = 8.4 + r.uniform(-0.1, 0.1);
  a.alt0 = 110.0 + r.uniform(0, 20);
  a.heading = r.uniform(-kPi, kPi);
  return a;
}

Eigen::Matrix4d world_to_enu(const SynthWorld& w, const GeoAnchor& a) {
  double c = std::cos(a.heading), s = std::sin(a.heading);
  Eigen::Matrix4d T = Eigen::Matrix4d::Identity();
  // world x (right) -> (sin h, -cos h, 0), y (down) -> (0, 0, -1), z (forward) -> (cos h, sin h, 0)
  T.topLeftCorner<3, 3>() << s, 0, c, -c, 0, s, 0, -1, 0;
  Eigen::Vector3d p0 = kitti_imu_pose(w, 0.0).block<3, 1>(0, 3);
  T.block<3, 1>(0, 3) = Eigen::Vector3d(0, 0, a.alt0) - T.topLeftCorner<3, 3>() * p0;
  return T;
}

void latlon_to_mercator(double lat, double lon, double scale, double& mx, double& my) {
  mx = scale * lon * kPi * kEarthRadius / 180.0;
  my = scale * kEarthRadius * std::log(std::tan((90.0 + lat) * kPi / 360.0));
}
void mercator_to_latlon(double mx, double my, double scale, double& lat, double& lon) {
  lon = mx * 180.0 / (kPi * kEarthRadius * scale);
  lat = 360.0 / kPi * std::atan(std::exp(my / (kEarthRadius * scale))) - 90.0;
}

std::array<double, 30> oxts_packet(const SynthWorld& w, const GeoAnchor& a, double t) {
  const Eigen::Matrix4d E = world_to_enu(w, a);
  auto pose = [&](double tt) -> Eigen::Matrix4d { return E * kitti_imu_pose(w, tt); };
  const double dt = 1.0 / kFrameRate, h1 = 0.01, h2 = 0.05;  // derivative steps (frames)
  Eigen::Matrix4d T = pose(t);
  Eigen::Matrix3d R = T.topLeftCorner<3, 3>();
  Eigen::Vector3d p = T.block<3, 1>(0, 3);
  double roll, pitch, yaw;
  rotation_to_rpy(R, roll, pitch, yaw);
  double scale = std::cos(a.lat0 * kPi / 180.0);
  double mx0, my0, lat, lon;
  latlon_to_mercator(a.lat0, a.lon0, scale, mx0, my0);
  mercator_to_latlon(mx0 + p.x(), my0 + p.y(), scale, lat, lon);
  Eigen::Matrix4d Tp = pose(t + h1), Tm = pose(t - h1);
  Eigen::Vector3d v = (Tp.block<3, 1>(0, 3) - Tm.block<3, 1>(0, 3)) / (2 * h1 * dt);
  Eigen::Vector3d acc = (pose(t + h2).block<3, 1>(0, 3) - 2 * p + pose(t - h2).block<3, 1>(0, 3)) / (h2 * dt * h2 * dt);
  Eigen::Matrix3d dR = Tm.topLeftCorner<3, 3>().transpose() * Tp.topLeftCorner<3, 3>();
  Eigen::Vector3d wb = Eigen::Vector3d(dR(2, 1) - dR(1, 2), dR(0, 2) - dR(2, 0), dR(1, 0) - dR(0, 1)) / (2 * 2 * h1 * dt);
  Eigen::Matrix3d Ryaw;
  Ryaw << std::cos(yaw), -std::sin(yaw), 0, std::sin(yaw), std::cos(yaw), 0, 0, 0, 1;
  Eigen::Vector3d vl = Ryaw.transpose() * v;
  Eigen::Vector3d f = acc + Eigen::Vector3d(0, 0, kGravity);
  Eigen::Vector3d ab = R.transpose() * f, al = Ryaw.transpose() * f;
  Eigen::Vector3d wl = Ryaw.transpose() * (R * wb);
  return {lat,     lon,     p.z(), roll,   pitch,   yaw,    v.y(),  v.x(),  vl.x(), vl.y(),
          vl.z(),  ab.x(),  ab.y(),                     ab.z(), al.x(),  al.y(), al.z(), wb.x(), wb.y(), wb.z(),
          wl.x(),  wl.y(),  wl.z(),                     0.05,   0.02,    4,      11,     4,      4,      6};
}

std::string oxts_line(const std::array<double, 30>& v) {
  std::string s;
  for (int i = 0; i < 30; ++i) {
    if (i) s += ' ';
    s += i >= 25 ? fmt("%.0f", v[i]) : fmt("%.15g", v[i]);
  }
  return s + "\n";
}

std::string kitti_timestamp(int drive, int frame, double offset_s) {
  // drives start on the full minute, one after the other, from 08:00 on 2031-01-01
  int64_t ns = (int64_t)std::llround((frame / kFrameRate + offset_s) * 1e9);
  int64_t start_s = 8 * 3600 + (int64_t)drive * 3600;
  int64_t total_ns = start_s * 1000000000ll + ns;
  int64_t sec = total_ns / 1000000000ll, frac = total_ns % 1000000000ll;
  char b[64];
  std::snprintf(b, sizeof b, "2031-01-01 %02lld:%02lld:%02lld.%09lld", (long long)((sec / 3600) % 24),
                (long long)((sec / 60) % 60), (long long)(sec % 60), (long long)frac);
  return b;
}

std::string formatted_scene_name(int i) {
  char b[32];
  std::snprintf(b, sizeof b, "synth_%04d", i);
  return b;
}
std::string kitti_drive_name(int i) {
  char b[64];
  std::snprintf(b, sizeof b, "%s_drive_%04d_sync", kKittiDate, i + 1);
  return b;
}
int num_val_scenes(int scenes, double val_fraction) {
  if (scenes < 2) return 0;
  int n = (int)std::lround(val_fraction * scenes);
  return std::max(1, std::min(n, scenes - 1));
}

void validate(const SynthOptions& o) {
  SFM_CHECK(o.scenes >= 1 && o.scenes <= 100000, "synth: --scenes must be 1..100000, got ", o.scenes);
  SFM_CHECK(o.frames >= 1 && o.frames <= 100000, "synth: --frames must be 1..100000, got ", o.frames);
  SFM_CHECK(o.height >= 8 && o.height <= 8192 && o.width >= 8 && o.width <= 8192, "synth: image size --height ",
            o.height, " --width ", o.width, " out of range (8..8192)");
  SFM_CHECK(o.moving_objects >= 0 && o.moving_objects <= 64, "synth: --moving-objects must be 0..64, got ",
            o.moving_objects);
  SFM_CHECK(o.layout == "formatted" || o.layout == "kitti-raw" || o.layout == "video" || o.layout == "frames" ||
                o.layout == "kitti-odometry" || o.layout == "cityscapes",
            "synth: --layout must be 'formatted', 'kitti-raw', 'kitti-odometry', 'cityscapes', 'video' or 'frames', "
            "got '", o.layout, "'");
  SFM_CHECK(o.layout != "kitti-odometry" || o.scenes <= 100, "synth: --layout kitti-odometry has at most 100 "
            "sequences (00..99), got --scenes ", o.scenes);
  SFM_CHECK(o.image_format == "jpg" || o.image_format == "png", "synth: --image-format must be 'jpg' or 'png', got '",
            o.image_format, "'");
  SFM_CHECK(o.jpeg_quality >= 1 && o.jpeg_quality <= 100, "synth: --jpeg-quality must be 1..100, got ", o.jpeg_quality);
  SFM_CHECK(o.supersample >= 1 && o.supersample <= 8, "synth: --supersample must be 1..8, got ", o.supersample);
  SFM_CHECK(o.val_fraction >= 0 && o.val_fraction < 1, "synth: val fraction must be in [0, 1), got ", o.val_fraction);
  SFM_CHECK(o.lidar_azimuth_steps >= 8 && o.lidar_azimuth_steps <= 100000,
            "synth: lidar azimuth steps must be 8..100000, got ", o.lidar_azimuth_steps);
}

// ---------------------------------------------------------------------------------------------
// the two layouts
namespace {

std::string pose_line(const Eigen::Matrix4d& T) {
  double v[12];
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) v[4 * r + c] = T(r, c);
  return numbers(v, 12, "%.12e") + "\n";
}

void write_formatted(const fs::path& root, const SynthOptions& opt, const std::vector<SynthWorld>& worlds,
                     const Intrinsics& K, int nt) {
  const int n = (int)worlds.size();
  const int nval = num_val_scenes(n, opt.val_fraction);
  std::string train, val;
  nlohmann::json meta_scenes = nlohmann::json::array();
  for (int i = 0; i < n; ++i) {
    const std::string name = formatted_scene_name(i);
    fs::create_directories(root / name);
    char cam[256];
    std::snprintf(cam, sizeof cam, "%.6f %.6f %.6f\n%.6f %.6f %.6f\n%.6f %.6f %.6f\n", K.fx, 0.0, K.cx, 0.0, K.fy, K.cy,
                  0.0, 0.0, 1.0);
    write_text((root / name / "cam.txt").string(), cam);
    const SynthWorld& w = worlds[i];
    Eigen::Matrix4d T0inv = w.camera_pose(0).inverse();
    std::string poses;
    for (int k = 0; k < opt.frames; ++k)
      poses += pose_line(k == 0 ? Eigen::Matrix4d::Identity().eval() : (T0inv * w.camera_pose(k)).eval());
    write_text((root / name / "poses.txt").string(), poses);
    bool is_val = i >= n - nval;
    (is_val ? val : train) += name + "\n";
    meta_scenes.push_back({{"name", name}, {"split", is_val ? "val" : "train"}, {"moving_objects", w.num_movers()}});
  }
  write_text((root / "train.txt").string(), train);
  write_text((root / "val.txt").string(), val);

  const std::string ext = "." + opt.image_format;
  RenderOptions ro;
  ro.supersample = opt.supersample;
  ro.threads = 1;
  Progress bar("synth", (int64_t)n * opt.frames, "frames", opt.progress);
  run_jobs((int64_t)n * opt.frames, nt, [&](int64_t job) {
    int i = (int)(job / opt.frames), k = (int)(job % opt.frames);
    const SynthWorld& w = worlds[i];
    RenderedFrame f = w.render(w.camera_pose(k), K, k, ro);
    fs::path dir = root / formatted_scene_name(i);
    std::vector<uchar> img = encode_image(f, ext, opt.jpeg_quality);
    write_bytes((dir / (frame_name(k) + ext)).string(), img.data(), img.size());
    save_npy((dir / (frame_name(k) + ".npy")).string(), f.depth.data(), {f.height, f.width});
    bar.advance();
  });
  bar.finish();

  nlohmann::json meta = {{"generator", "sfm synth"},
                         {"format_version", 1},
                         {"layout", "formatted"},
                         {"seed", opt.seed},
                         {"scenes", n},
                         {"frames", opt.frames},
                         {"height", opt.height},
                         {"width", opt.width},
                         {"moving_objects_max", opt.moving_objects},
                         {"supersample", opt.supersample},
                         {"image_format", opt.image_format},
                         {"jpeg_quality", opt.jpeg_quality},
                         {"intrinsics", {{"fx", K.fx}, {"fy", K.fy}, {"cx", K.cx}, {"cy", K.cy}}},
                         {"depth", "float32 metres along the camera z axis, 0 = sky"},
                         {"poses", "3x4 camera-to-world per frame, world = the scene's first camera"},
                         {"scene_list", meta_scenes}};
  write_text((root / "synth.json").string(), meta.dump(2) + "\n");
}

const char* kOxtsFormat =
    "lat:   latitude of the oxts-unit (deg)\n"
    "lon:   longitude of the oxts-unit (deg)\n"
    "alt:   altitude of the oxts-unit (m)\n"
    "roll:  roll angle (rad), 0 = level, positive = left side up (-pi..pi)\n"
    "pitch: pitch angle (rad), 0 = level, positive = front down (-pi/2..pi/2)\n"
    "yaw:   heading (rad), 0 = east, positive = counter clockwise (-pi..pi)\n"
    "vn:    velocity towards north (m/s)\n"
    "ve:    velocity towards east (m/s)\n"
    "vf:    forward velocity, i.e. parallel to earth-surface (m/s)\n"
    "vl:    leftward velocity, i.e. parallel to earth-surface (m/s)\n"
    "vu:    upward velocity, i.e. perpendicular to earth-surface (m/s)\n"
    "ax:    acceleration in x, i.e. in direction of vehicle front (m/s^2)\n"
    "ay:    acceleration in y, i.e. in direction of vehicle left (m/s^2)\n"
    "az:    acceleration in z, i.e. in direction of vehicle top (m/s^2)\n"
    "af:    forward acceleration (m/s^2)\n"
    "al:    leftward acceleration (m/s^2)\n"
    "au:    upward acceleration (m/s^2)\n"
    "wx:    angular rate around x (rad/s)\n"
    "wy:    angular rate around y (rad/s)\n"
    "wz:    angular rate around z (rad/s)\n"
    "wf:    angular rate around forward axis (rad/s)\n"
    "wl:    angular rate around leftward axis (rad/s)\n"
    "wu:    angular rate around upward axis (rad/s)\n"
    "pos_accuracy:  position accuracy (north/east in m)\n"
    "vel_accuracy:  velocity accuracy (north/east in m/s)\n"
    "navstat:       navigation status\n"
    "numsats:       number of satellites tracked by primary GPS receiver\n"
    "posmode:       position mode of primary GPS receiver\n"
    "velmode:       velocity mode of primary GPS receiver\n"
    "orimode:       orientation mode of primary GPS receiver\n"
    "(synthetic: sfm synth; accelerations are specific forces, gravity reaction included)\n";

void write_kitti_raw(const fs::path& root, const SynthOptions& opt, const std::vector<SynthWorld>& worlds,
                     const Intrinsics& K, int nt) {
  const int n = (int)worlds.size();
  const fs::path date = root / kKittiDate;
  fs::create_directories(date);
  write_text((date / "calib_cam_to_cam.txt").string(), kitti_cam_to_cam_text(K));
  write_text((date / "calib_velo_to_cam.txt").string(), kitti_velo_to_cam_text());
  write_text((date / "calib_imu_to_velo.txt").string(), kitti_imu_to_velo_text());
  for (int i = 0; i < n; ++i) {
    const fs::path d = date / kitti_drive_name(i);
    for (const char* sub : {"image_02/data", "image_03/data", "velodyne_points/data", "oxts/data"})
      fs::create_directories(d / sub);
    std::string ts, ts0, ts1;
    for (int k = 0; k < opt.frames; ++k) {
      ts += kitti_timestamp(i, k) + "\n";
      ts0 += kitti_timestamp(i, k, -0.05) + "\n";
      ts1 += kitti_timestamp(i, k, 0.05) + "\n";
    }
    for (const char* sub : {"image_02", "image_03", "oxts", "velodyne_points"})
      write_text((d / sub / "timestamps.txt").string(), ts);
    write_text((d / "velodyne_points" / "timestamps_start.txt").string(), ts0);
    write_text((d / "velodyne_points" / "timestamps_end.txt").string(), ts1);
    write_text((d / "oxts" / "dataformat.txt").string(), kOxtsFormat);
    const GeoAnchor a = drive_anchor(opt.seed, i);
    for (int k = 0; k < opt.frames; ++k)
      write_text((d / "oxts" / "data" / (frame_name(k) + ".txt")).string(), oxts_line(oxts_packet(worlds[i], a, k)));
  }
  RenderOptions ro;
  ro.supersample = opt.supersample;
  ro.threads = 1;
  SynthWorld::LidarSpec lidar;
  lidar.azimuth_steps = opt.lidar_azimuth_steps;
  Progress bar("synth", (int64_t)n * opt.frames, "frames", opt.progress);
  run_jobs((int64_t)n * opt.frames, nt, [&](int64_t job) {
    int i = (int)(job / opt.frames), k = (int)(job % opt.frames);
    const SynthWorld& w = worlds[i];
    const fs::path d = date / kitti_drive_name(i);
    for (int cam : {2, 3}) {
      RenderedFrame f = w.render(kitti_camera_pose(w, cam, k), K, k, ro);
      std::vector<uchar> img = encode_image(f, ".png", 0);
      write_bytes((d / (cam == 2 ? "image_02" : "image_03") / "data" / (frame_name(k) + ".png")).string(), img.data(),
                  img.size());
    }
    std::vector<float> pts = w.lidar_scan(kitti_velo_pose(w, k), k, lidar, 1);
    write_bytes((d / "velodyne_points" / "data" / (frame_name(k) + ".bin")).string(), pts.data(),
                pts.size() * sizeof(float));
    bar.advance();
  });
  bar.finish();
  nlohmann::json meta = {{"generator", "sfm synth"},   {"format_version", 1},           {"layout", "kitti-raw"},
                         {"seed", opt.seed},           {"drives", n},                   {"frames", opt.frames},
                         {"height", opt.height},       {"width", opt.width},            {"date", kKittiDate},
                         {"moving_objects_max", opt.moving_objects}, {"supersample", opt.supersample},
                         {"lidar_azimuth_steps", opt.lidar_azimuth_steps}};
  write_text((root / "synth.json").string(), meta.dump(2) + "\n");
}

}  // namespace

void write_synthetic_dataset(const std::string& out_dir, const SynthOptions& opt) {
  validate(opt);
  SFM_CHECK(!out_dir.empty(), "synth: no output folder given (--out)");
  fs::path out = fs::path(out_dir).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();  // trailing slash
  SFM_CHECK(!out.empty() && !out.filename().empty() && out.filename() != "." && out.filename() != "..",
            "synth: bad output folder '", out_dir, "' (give a folder name)");
  const bool exists = fs::exists(fs::symlink_status(out));
  SFM_CHECK(!exists || opt.force, "synth: output folder '", out.string(),
            "' already exists (remove it or pass --force to replace it)");
  fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  fs::create_directories(parent);

  std::string tmpl = out.string() + ".tmp-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  SFM_CHECK(mkdtemp(buf.data()) != nullptr, "synth: cannot create a temporary folder next to '", out.string(), "'");
  const fs::path tmp(buf.data());
  try {
    const Intrinsics K = kitti_intrinsics(opt.height, opt.width);
    std::vector<SynthWorld> worlds;
    worlds.reserve(opt.scenes);
    for (int i = 0; i < opt.scenes; ++i) worlds.push_back(synth_world(opt, i));
    const int nt = opt.threads > 0 ? opt.threads : cpu_threads();
    if (opt.layout == "formatted")
      write_formatted(tmp, opt, worlds, K, nt);
    else if (opt.layout == "video" || opt.layout == "frames")
      write_camera_sources(tmp, opt, worlds, K, nt);
    else if (opt.layout == "kitti-odometry")
      write_kitti_odometry(tmp, opt, worlds, K, nt);
    else if (opt.layout == "cityscapes")
      write_cityscapes(tmp, opt, worlds, K, nt);
    else
      write_kitti_raw(tmp, opt, worlds, K, nt);
    if (fs::exists(fs::symlink_status(out))) {
      fs::path old = out.string() + ".old-" + tmp.string().substr(tmp.string().size() - 6);
      fs::rename(out, old);
      fs::rename(tmp, out);
      fs::remove_all(old);
    } else {
      fs::rename(tmp, out);
    }
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace sfm::synth
