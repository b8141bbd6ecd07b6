#include "eval/kitti_depth_gt.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "boundary/error.h"

namespace fs = std::filesystem;

namespace sfm::eval {

const std::vector<double>& CalibFile::get(const std::string& key, size_t n) const {
  auto it = values.find(key);
  if (it == values.end()) fail("calibration file ", path, ": no numeric entry '", key, "'");
  SFM_CHECK(n == 0 || it->second.size() == n, "calibration file ", path, ": '", key, "' has ", it->second.size(),
            " numbers, expected ", n);
  return it->second;
}

CalibFile read_calib_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SFM_CHECK(in.good(), "cannot open calibration file ", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_calib_text(ss.str(), path);
}

CalibFile parse_calib_text(const std::string& text, const std::string& path) {
  std::istringstream f(text);
  CalibFile c;
  c.path = path;
  std::string line;
  int ln = 0;
  while (std::getline(f, line)) {
    ++ln;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    auto colon = line.find(':');
    SFM_CHECK(colon != std::string::npos, "calibration file ", path, " line ", ln, ": expected 'key: values', got '",
              line, "'");
    std::string key = line.substr(0, colon), rest = line.substr(colon + 1);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    // Numeric when every character is one a float can be made of (the reference readers' rule).
    bool numeric = rest.find_first_not_of("0123456789.eE+- \t") == std::string::npos;
    if (numeric) {
      std::istringstream is(rest);
      std::vector<double> v;
      std::string tok;
      bool ok = true;
      while (is >> tok) {
        char* end = nullptr;
        double x = std::strtod(tok.c_str(), &end);
        if (end != tok.c_str() + tok.size()) {
          ok = false;
          break;
        }
        v.push_back(x);
      }
      if (ok && !v.empty()) {
        c.values[key] = std::move(v);
        continue;
      }
    }
    c.text[key] = rest;
  }
  return c;
}

Mat34 velo_to_image_matrix(const CalibFile& c2c, const CalibFile& v2c, int cam) {
  SFM_CHECK(cam >= 0 && cam <= 3, "velo_to_image_matrix: camera ", cam, " is not 0..3");
  const auto& P = c2c.get("P_rect_0" + std::to_string(cam), 12);
  const auto& Rr = c2c.get("R_rect_00", 9);
  const auto& R = v2c.get("R", 9);
  const auto& T = v2c.get("T", 3);
  // Rv = R_rect (4x4) * [R|T; 0 0 0 1]: rows 0..2 = [Rr*R | Rr*T], row 3 = [0 0 0 1].
  double Rv[12];
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      double s = 0;
      for (int k = 0; k < 3; ++k) s += Rr[3 * i + k] * R[3 * k + j];
      Rv[4 * i + j] = s;
    }
    double s = 0;
    for (int k = 0; k < 3; ++k) s += Rr[3 * i + k] * T[k];
    Rv[4 * i + 3] = s;
  }
  Mat34 out{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) {
      double s = 0;
      for (int k = 0; k < 3; ++k) s += P[4 * i + k] * Rv[4 * k + j];
      if (j == 3) s += P[4 * i + 3];  // P[:,3] times the homogeneous row (0 0 0 1)
      out[4 * i + j] = s;
    }
  return out;
}

Mat34 velo_to_image_matrix(const std::string& calib_dir, int cam) {
  CalibFile c2c = read_calib_file((fs::path(calib_dir) / "calib_cam_to_cam.txt").string());
  CalibFile v2c = read_calib_file((fs::path(calib_dir) / "calib_velo_to_cam.txt").string());
  return velo_to_image_matrix(c2c, v2c, cam);
}

std::vector<float> load_velodyne_points(const std::string& path) {
  std::error_code ec;
  SFM_CHECK(fs::is_regular_file(path, ec), "velodyne file ", path, " is missing");
  auto bytes = fs::file_size(path, ec);
  SFM_CHECK(!ec, "velodyne file ", path, ": cannot read its size");
  SFM_CHECK(bytes % 16 == 0, "velodyne file ", path, " has ", bytes,
            " bytes, not a multiple of 16 (4 float32 per point)");
  std::vector<float> pts(bytes / 4);
  std::ifstream f(path, std::ios::binary);
  SFM_CHECK(f.good(), "cannot open velodyne file ", path);
  f.read(reinterpret_cast<char*>(pts.data()), (std::streamsize)bytes);
  SFM_CHECK(f.gcount() == (std::streamsize)bytes, "velodyne file ", path, ": short read");
  return pts;  // little-endian float32 on every platform this project targets
}

VeloDepth parse_velo_depth(const std::string& s) {
  if (s == "velodyne-x") return VeloDepth::X;
  if (s == "velodyne-z") return VeloDepth::Z;
  fail("--gt: expected velodyne-x or velodyne-z, got '", s, "'");
}
const char* velo_depth_name(VeloDepth d) { return d == VeloDepth::X ? "velodyne-x" : "velodyne-z"; }

std::vector<float> project_velodyne(const std::vector<float>& pts, const Mat34& P, int H, int W, VeloDepth mode) {
  SFM_CHECK(H > 0 && W > 0, "project_velodyne: bad image size ", H, "x", W);
  SFM_CHECK(pts.size() % 4 == 0, "project_velodyne: ", pts.size(), " floats is not a whole number of points");
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> best((size_t)H * W, inf);
  for (size_t i = 0; i + 3 < pts.size(); i += 4) {
    double x = pts[i], y = pts[i + 1], z = pts[i + 2];
    if (!(x >= 0)) continue;  // behind the velodyne (and NaN)
    double pu = P[0] * x + P[1] * y + P[2] * z + P[3];
    double pv = P[4] * x + P[5] * y + P[6] * z + P[7];
    double pz = P[8] * x + P[9] * y + P[10] * z + P[11];
    double u = pu / pz, v = pv / pz;
    if (!std::isfinite(u) || !std::isfinite(v)) continue;
    // nearbyint rounds halves to even in the default rounding mode, as numpy.round.
    double col = std::nearbyint(u) - 1, row = std::nearbyint(v) - 1;
    if (col < 0 || row < 0 || col >= W || row >= H) continue;
    double d = mode == VeloDepth::X ? x : pz;
    double& b = best[(size_t)row * W + (size_t)col];
    if (d < b) b = d;
  }
  std::vector<float> out(best.size());
  for (size_t i = 0; i < best.size(); ++i) out[i] = (best[i] == inf || best[i] < 0) ? 0.f : (float)best[i];
  return out;
}

std::string KittiSplitEntry::date() const {
  auto slash = drive_dir.find('/');
  return slash == std::string::npos ? drive_dir.substr(0, 10) : drive_dir.substr(0, slash);
}

std::vector<KittiSplitEntry> read_kitti_split(const std::string& path) {
  std::ifstream f(path);
  SFM_CHECK(f.good(), "cannot open split file ", path);
  std::vector<KittiSplitEntry> out;
  std::string line;
  int ln = 0;
  while (std::getline(f, line)) {
    ++ln;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    std::istringstream is(line);
    KittiSplitEntry e;
    std::string side, extra;
    is >> e.drive_dir >> e.frame >> side;
    SFM_CHECK(!e.drive_dir.empty() && !e.frame.empty() && !side.empty() && !(is >> extra), "split file ", path,
              " line ", ln, ": expected 'DATE/DRIVE FRAME l|r', got '", line, "'");
    SFM_CHECK(side == "l" || side == "r", "split file ", path, " line ", ln, ": side must be l or r, got '", side, "'");
    SFM_CHECK(e.frame.find_first_not_of("0123456789") == std::string::npos, "split file ", path, " line ", ln,
              ": frame '", e.frame, "' is not a number");
    if (e.frame.size() < 10) e.frame = std::string(10 - e.frame.size(), '0') + e.frame;  // Monodepth2 writes "69"
    while (!e.drive_dir.empty() && e.drive_dir.back() == '/') e.drive_dir.pop_back();
    e.side = side[0];
    e.line = ln;
    out.push_back(std::move(e));
  }
  SFM_CHECK(!out.empty(), "split file ", path, " lists no frames");
  return out;
}

std::string default_eigen_split_path() {
  const char* rel = "data/eigen_test_files.txt";
  std::vector<fs::path> cands;
  fs::path src(__FILE__);  // .../eval/kitti_depth_gt.cpp
  if (src.is_absolute()) cands.push_back(src.parent_path().parent_path() / rel);
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n > 0) {
    buf[n] = 0;
    fs::path exe_dir = fs::path(buf).parent_path();
    cands.push_back(exe_dir / rel);
    cands.push_back(exe_dir.parent_path() / rel);
  }
  cands.push_back(fs::path(rel));
  std::string tried;
  for (const auto& c : cands) {
    std::error_code ec;
    if (fs::is_regular_file(c, ec)) return c.string();
    tried += ' ';
    tried += c.string();
  }
  fail("the Eigen test list data/eigen_test_files.txt was not found (tried", tried, "); give --split FILE");
}

KittiFramePaths kitti_frame_paths(const std::string& root, const KittiSplitEntry& e) {
  KittiFramePaths p;
  fs::path drive = fs::path(root) / e.drive_dir;
  fs::path img_dir = drive / (e.cam() == 3 ? "image_03" : "image_02") / "data";
  fs::path png = img_dir / (e.frame + ".png"), jpg = img_dir / (e.frame + ".jpg");
  std::error_code ec;
  p.image = (!fs::exists(png, ec) && fs::exists(jpg, ec)) ? jpg.string() : png.string();
  p.velodyne = (drive / "velodyne_points" / "data" / (e.frame + ".bin")).string();
  p.calib_dir = (fs::path(root) / e.date()).string();
  return p;
}

std::array<int, 2> rectified_image_size(const CalibFile& c2c, int cam) {
  const auto& s = c2c.get("S_rect_0" + std::to_string(cam), 2);
  return {(int)std::lround(s[1]), (int)std::lround(s[0])};
}

}  // namespace sfm::eval
