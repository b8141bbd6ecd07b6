#include "train/kitti/kitti_raw.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "boundary/error.h"

namespace sfm::kitti {

namespace {

// Parses all whitespace-separated numbers of s; false if any token is not a number.
bool parse_numbers(const std::string& s, std::vector<double>& out) {
  std::istringstream is(s);
  std::string tok;
  out.clear();
  while (is >> tok) {
    errno = 0;
    char* end = nullptr;
    double v = std::strtod(tok.c_str(), &end);
    if (end != tok.c_str() + tok.size() || errno == ERANGE) return false;
    out.push_back(v);
  }
  return true;
}

Eigen::Matrix3d rotx(double a) {
  Eigen::Matrix3d R;
  R << 1, 0, 0, 0, std::cos(a), -std::sin(a), 0, std::sin(a), std::cos(a);
  return R;
}
Eigen::Matrix3d roty(double a) {
  Eigen::Matrix3d R;
  R << std::cos(a), 0, std::sin(a), 0, 1, 0, -std::sin(a), 0, std::cos(a);
  return R;
}
Eigen::Matrix3d rotz(double a) {
  Eigen::Matrix3d R;
  R << std::cos(a), -std::sin(a), 0, std::sin(a), std::cos(a), 0, 0, 0, 1;
  return R;
}

}  // namespace

static std::string slurp(const std::string& path, const char* what) {
  std::ifstream f(path, std::ios::binary);
  SFM_CHECK(f.good(), "kitti: cannot open ", what, " ", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::map<std::string, std::vector<double>> read_calib_file(const std::string& path) {
  return parse_calib_text(slurp(path, "calibration file"), path);
}

std::map<std::string, std::vector<double>> parse_calib_text(const std::string& text, const std::string& path) {
  std::istringstream f(text);
  std::map<std::string, std::vector<double>> out;
  std::string line;
  std::vector<double> vals;
  while (std::getline(f, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    while (!key.empty() && std::isspace((unsigned char)key.back())) key.pop_back();
    while (!key.empty() && std::isspace((unsigned char)key.front())) key.erase(key.begin());
    if (key.empty()) continue;
    if (parse_numbers(line.substr(colon + 1), vals) && !vals.empty()) out[key] = vals;
  }
  SFM_CHECK(!out.empty(), "kitti: ", path, " holds no 'key: numbers' line (not a KITTI calibration file?)");
  return out;
}

std::vector<double> calib_values(const std::map<std::string, std::vector<double>>& calib, const std::string& key,
                                 size_t count, const std::string& path) {
  auto it = calib.find(key);
  SFM_CHECK(it != calib.end(), "kitti: ", path, " has no key '", key, "'");
  SFM_CHECK(it->second.size() == count, "kitti: ", path, ": key '", key, "' has ", it->second.size(),
            " numbers, expected ", count);
  return it->second;
}

CamToCam read_cam_to_cam(const std::string& path) {
  auto calib = read_calib_file(path);
  CamToCam c;
  for (int k = 0; k < 4; ++k) {
    char key[16];
    std::snprintf(key, sizeof key, "P_rect_0%d", k);
    auto P = calib_values(calib, key, 12, path);
    for (int r = 0; r < 3; ++r)
      for (int col = 0; col < 4; ++col) c.P_rect[k](r, col) = P[r * 4 + col];
    std::snprintf(key, sizeof key, "S_rect_0%d", k);
    auto it = calib.find(key);
    if (it != calib.end() && it->second.size() == 2)
      c.S_rect[k] = Eigen::Vector2i((int)std::lround(it->second[0]), (int)std::lround(it->second[1]));
    else
      c.S_rect[k] = Eigen::Vector2i(0, 0);
  }
  auto R = calib_values(calib, "R_rect_00", 9, path);
  for (int r = 0; r < 3; ++r)
    for (int col = 0; col < 3; ++col) c.R_rect_00(r, col) = R[r * 3 + col];
  return c;
}

Eigen::Matrix4d read_rigid_calib(const std::string& path) {
  auto calib = read_calib_file(path);
  auto R = calib_values(calib, "R", 9, path);
  auto T = calib_values(calib, "T", 3, path);
  Eigen::Matrix4d M = Eigen::Matrix4d::Identity();
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) M(r, c) = R[r * 3 + c];
    M(r, 3) = T[r];
  }
  return M;
}

int camera_index(const std::string& cam) {
  std::string s = cam;
  if (s.rfind("image_", 0) == 0) s = s.substr(6);
  SFM_CHECK(s.size() == 2 && s[0] == '0' && s[1] >= '0' && s[1] <= '3', "kitti: camera '", cam,
            "' is not one of 00, 01, 02, 03");
  return s[1] - '0';
}

Eigen::Matrix3d rect_intrinsics(const CamToCam& c, int cam) { return c.P_rect.at(cam).leftCols<3>(); }

static Eigen::Matrix4d rect0_to_rect_cam(const CamToCam& c, int cam) {
  Eigen::Matrix3d K = rect_intrinsics(c, cam);
  Eigen::Vector3d t = K.inverse() * c.P_rect.at(cam).col(3);
  Eigen::Matrix4d M = Eigen::Matrix4d::Identity();
  M.block<3, 1>(0, 3) = t;
  return M;
}

Eigen::Matrix4d velo_to_rect_cam(const CamToCam& c, const Eigen::Matrix4d& velo_to_cam, int cam) {
  Eigen::Matrix4d Rr = Eigen::Matrix4d::Identity();
  Rr.block<3, 3>(0, 0) = c.R_rect_00;
  return rect0_to_rect_cam(c, cam) * Rr * velo_to_cam;
}

Eigen::Matrix4d imu_to_rect_cam(const CamToCam& c, const Eigen::Matrix4d& velo_to_cam,
                                const Eigen::Matrix4d& imu_to_velo, int cam) {
  return velo_to_rect_cam(c, velo_to_cam, cam) * imu_to_velo;
}

double Oxts::speed() const { return std::sqrt(vf() * vf() + vl() * vl()); }

Oxts read_oxts(const std::string& path) { return parse_oxts_text(slurp(path, "OXTS file"), path); }

Oxts parse_oxts_text(const std::string& text, const std::string& path) {
  std::vector<double> vals;
  SFM_CHECK(parse_numbers(text, vals), "kitti: ", path, ": OXTS file holds a token that is not a number");
  SFM_CHECK(vals.size() == 30, "kitti: ", path, ": expected the 30 OXTS values, found ", vals.size());
  Oxts o;
  for (int i = 0; i < 30; ++i) {
    SFM_CHECK(std::isfinite(vals[i]), "kitti: ", path, ": OXTS value ", i + 1, " is not finite");
    o.v[i] = vals[i];
  }
  return o;
}

Eigen::Matrix4d oxts_pose(const Oxts& o, double scale) {
  const double er = 6378137.0;  // earth radius (m), as in the devkit
  Eigen::Matrix4d T = Eigen::Matrix4d::Identity();
  T(0, 3) = scale * o.lon() * M_PI * er / 180.0;
  T(1, 3) = scale * er * std::log(std::tan((90.0 + o.lat()) * M_PI / 360.0));
  T(2, 3) = o.alt();
  T.block<3, 3>(0, 0) = rotz(o.yaw()) * roty(o.pitch()) * rotx(o.roll());
  return T;
}

std::vector<Eigen::Matrix4d> oxts_to_poses(const std::vector<Oxts>& packets) {
  std::vector<Eigen::Matrix4d> out;
  if (packets.empty()) return out;
  double scale = std::cos(packets[0].lat() * M_PI / 180.0);
  Eigen::Matrix4d T0_inv = oxts_pose(packets[0], scale).inverse();
  out.reserve(packets.size());
  for (const auto& p : packets) out.push_back(T0_inv * oxts_pose(p, scale));
  return out;
}

std::vector<float> parse_velodyne_bytes(const void* data, size_t n, const std::string& path) {
  SFM_CHECK(n % 16 == 0, "kitti: ", path, " has ", n, " bytes, not a multiple of 16 (4 float32 per point)");
  std::vector<float> pts(n / 4);
  if (n) std::memcpy(pts.data(), data, n);
  return pts;
}

std::vector<float> read_velodyne(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  SFM_CHECK(f.good(), "kitti: cannot open velodyne scan ", path);
  std::streamoff n = f.tellg();
  SFM_CHECK(n % 16 == 0, "kitti: ", path, " has ", n, " bytes, not a multiple of 16 (4 float32 per point)");
  std::vector<float> pts((size_t)n / 4);
  f.seekg(0);
  f.read(reinterpret_cast<char*>(pts.data()), n);
  SFM_CHECK(f.good() || n == 0, "kitti: short read from ", path);
  return pts;
}

std::vector<float> velodyne_depth(const std::vector<float>& points, const Eigen::Matrix3d& K,
                                  const Eigen::Matrix4d& velo_to_cam, int height, int width) {
  std::vector<float> depth((size_t)height * width, 0.0f);
  const size_t n = points.size() / 4;
  for (size_t i = 0; i < n; ++i) {
    Eigen::Vector4d X(points[4 * i], points[4 * i + 1], points[4 * i + 2], 1.0);
    if (X.x() < 0) continue;  // behind the car
    Eigen::Vector3d Xc = (velo_to_cam * X).head<3>();
    if (!(Xc.z() > 0)) continue;
    Eigen::Vector3d p = K * Xc;
    double u = p.x() / p.z(), v = p.y() / p.z();
    if (!(u > -0.5 && v > -0.5 && u < width - 0.5 && v < height - 0.5)) continue;
    long ui = std::lround(u), vi = std::lround(v);
    if (ui < 0 || vi < 0 || ui >= width || vi >= height) continue;
    float& d = depth[(size_t)vi * width + ui];
    if (d == 0.0f || Xc.z() < d) d = (float)Xc.z();
  }
  return depth;
}

Eigen::Matrix3d resize_transform(int w0, int h0, int w, int h) {
  double sx = (double)w / w0, sy = (double)h / h0;
  Eigen::Matrix3d S;
  S << sx, 0, 0.5 * sx - 0.5, 0, sy, 0.5 * sy - 0.5, 0, 0, 1;
  return S;
}

Eigen::Matrix3d scale_intrinsics(const Eigen::Matrix3d& K, int w0, int h0, int w, int h) {
  return resize_transform(w0, h0, w, h) * K;
}

}  // namespace sfm::kitti
