// KITTI ground truth (eval/kitti_depth_gt.h): calibration parsing, velodyne projection on scans
// whose points are placed at known pixels and depths, on `sfm synth --layout kitti-raw` data
// against the renderer's true depth, the Eigen split file, bad inputs, and
// `sfm eval depth --kitti-raw --pred` end to end on a tiny KITTI tree.
#include <catch2/catch.hpp>
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/npy.h"
#include "eval/kitti_depth_gt.h"
#include "train/synth/synth_writer.h"

using namespace sfm;
using namespace sfm::eval;
namespace fs = std::filesystem;

namespace {

// The real car's velodyne->camera calibration of 2011_09_26 and rectification-like values
// (a small non-identity R_rect_00), with a 20x40 image.
const char* kVeloToCam =
    "calib_time: 15-Mar-2012 11:37:16\n"
    "R: 7.533745e-03 -9.999714e-01 -6.166020e-04 1.480249e-02 7.280733e-04 -9.998902e-01 9.998621e-01 "
    "7.523790e-03 1.480755e-02\n"
    "T: -4.069766e-03 -7.631618e-02 -2.717806e-01\n"
    "delta_f: 0.000000e+00 0.000000e+00\n"
    "delta_c: 0.000000e+00 0.000000e+00\n";
const char* kCamToCam =
    "calib_time: 09-Jan-2012 13:57:47\n"
    "corner_dist: 9.950000e-02\n"
    "S_02: 1.392000e+03 5.120000e+02\n"
    "R_rect_00: 9.999239e-01 9.837760e-03 -7.445048e-03 -9.869795e-03 9.999421e-01 -4.278459e-03 "
    "7.402527e-03 4.351614e-03 9.999631e-01\n"
    "S_rect_02: 4.000000e+01 2.000000e+01\n"
    "P_rect_02: 3.000000e+01 0.000000e+00 2.030000e+01 1.800000e+00 0.000000e+00 3.000000e+01 1.010000e+01 "
    "2.000000e-01 0.000000e+00 0.000000e+00 1.000000e+00 2.700000e-03\n"
    "S_rect_03: 4.000000e+01 2.000000e+01\n"
    "P_rect_03: 3.000000e+01 0.000000e+00 2.030000e+01 -1.440000e+01 0.000000e+00 3.000000e+01 1.010000e+01 "
    "0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00 0.000000e+00\n";

constexpr int kH = 20, kW = 40;

void write_text(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary);
  f << s;
}
void write_bin(const fs::path& p, const std::vector<float>& v) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), (std::streamsize)(v.size() * sizeof(float)));
}
fs::path tmp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / "sfm_test_kitti_gt" / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

Eigen::Matrix<double, 3, 4> mat34(const std::vector<double>& v) {
  Eigen::Matrix<double, 3, 4> m;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) m(i, j) = v[4 * i + j];
  return m;
}

// Rectified-camera point -> velodyne point for the calibration above (independent of the code
// under test: Eigen inverses of the file's matrices).
struct Rig {
  Eigen::Matrix4d velo_to_rect;
  Eigen::Matrix<double, 3, 4> P2;
  Rig(const CalibFile& c2c, const CalibFile& v2c) {
    Eigen::Matrix4d Rv = Eigen::Matrix4d::Identity(), Rr = Eigen::Matrix4d::Identity();
    const auto& R = v2c.get("R", 9);
    const auto& T = v2c.get("T", 3);
    const auto& rr = c2c.get("R_rect_00", 9);
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) {
        Rv(i, j) = R[3 * i + j];
        Rr(i, j) = rr[3 * i + j];
      }
      Rv(i, 3) = T[i];
    }
    velo_to_rect = Rr * Rv;
    P2 = mat34(c2c.get("P_rect_02", 12));
  }
  // The velodyne point (float32, as a scan stores it) whose projection lands at pixel
  // (col + 1 + 0.2, row + 1 + 0.3) with rectified depth z: away from any rounding boundary.
  Eigen::Vector3f point_at(int row, int col, double z) const {
    double tz = P2(2, 3), u = col + 1.2, v = row + 1.3;
    double X = (u * (z + tz) - P2(0, 2) * z - P2(0, 3)) / P2(0, 0);
    double Y = (v * (z + tz) - P2(1, 2) * z - P2(1, 3)) / P2(1, 1);
    Eigen::Vector4d velo = velo_to_rect.inverse() * Eigen::Vector4d(X, Y, z, 1);
    return velo.head<3>().cast<float>();
  }
  // The depths the two modes store for a velodyne point: its x, and the projected z.
  double proj_z(const Eigen::Vector3f& p) const {
    Eigen::Vector4d r = velo_to_rect * Eigen::Vector4d(p.x(), p.y(), p.z(), 1);
    return (P2 * r)(2);
  }
};

}  // namespace

TEST_CASE("kitti gt: calibration files parse; missing keys and files are named", "[eval][kitti]") {
  fs::path d = tmp_dir("calib");
  write_text(d / "calib_cam_to_cam.txt", kCamToCam);
  write_text(d / "calib_velo_to_cam.txt", kVeloToCam);
  CalibFile c = read_calib_file((d / "calib_cam_to_cam.txt").string());
  CHECK(c.text.at("calib_time") == " 09-Jan-2012 13:57:47");
  CHECK(c.get("P_rect_02", 12)[3] == 1.8);
  CHECK(c.get("corner_dist", 1)[0] == 0.0995);
  CHECK(rectified_image_size(c, 2) == std::array<int, 2>{kH, kW});
  REQUIRE_THROWS_WITH(c.get("P_rect_01"), Catch::Contains("P_rect_01") && Catch::Contains("calib_cam_to_cam.txt"));
  REQUIRE_THROWS_WITH(c.get("P_rect_02", 9), Catch::Contains("has 12 numbers"));
  REQUIRE_THROWS_WITH(read_calib_file((d / "nope.txt").string()), Catch::Contains("nope.txt"));
  write_text(d / "bad.txt", "R: 1 2 3\nno colon here\n");
  REQUIRE_THROWS_WITH(read_calib_file((d / "bad.txt").string()), Catch::Contains("bad.txt") && Catch::Contains("line 2"));

  // P = P_rect_0c * R_rect_00 * [R|T], checked against Eigen for both colour cameras.
  CalibFile v = read_calib_file((d / "calib_velo_to_cam.txt").string());
  Rig rig(c, v);
  for (int cam : {2, 3}) {
    Mat34 P = velo_to_image_matrix(d.string(), cam);
    Eigen::Matrix<double, 3, 4> want = mat34(c.get("P_rect_0" + std::to_string(cam), 12)) * rig.velo_to_rect;
    for (int i = 0; i < 12; ++i) CHECK(P[i] == Approx(want(i / 4, i % 4)).margin(1e-12));
  }
  write_text(d / "calib_cam_to_cam.txt", "P_rect_02: 1 0 0 0 0 1 0 0 0 0 1 0\n");
  REQUIRE_THROWS_WITH(velo_to_image_matrix(d.string(), 2), Catch::Contains("R_rect_00"));
  fs::remove(d / "calib_velo_to_cam.txt");
  REQUIRE_THROWS_WITH(velo_to_image_matrix(d.string(), 2), Catch::Contains("calib_velo_to_cam.txt"));
}

TEST_CASE("kitti gt: velodyne points at known pixels and depths", "[eval][kitti]") {
  fs::path d = tmp_dir("project");
  write_text(d / "calib_cam_to_cam.txt", kCamToCam);
  write_text(d / "calib_velo_to_cam.txt", kVeloToCam);
  CalibFile c2c = read_calib_file((d / "calib_cam_to_cam.txt").string());
  CalibFile v2c = read_calib_file((d / "calib_velo_to_cam.txt").string());
  Rig rig(c2c, v2c);

  struct Pt {
    int row, col;
    double z;
  };
  // (5, 10) twice: the nearer point (z 7) must win whatever the order. (-3, 10) and (5, 45)
  // project outside the 20x40 image.
  std::vector<Pt> placed{{5, 10, 9.0}, {12, 30, 25.0}, {5, 10, 7.0}, {0, 0, 3.0}, {19, 39, 60.0}, {-3, 10, 5.0}, {5, 45, 5.0}};
  std::vector<float> scan;
  std::vector<Eigen::Vector3f> pts;
  for (const Pt& p : placed) {
    Eigen::Vector3f v = rig.point_at(p.row, p.col, p.z);
    pts.push_back(v);
    scan.insert(scan.end(), {v.x(), v.y(), v.z(), 0.5f});
  }
  // A point behind the velodyne (x < 0) that, unfiltered, would land inside the image with a
  // negative depth on the pixel of a valid point placed there (and zero it out).
  Eigen::Vector3f behind(-5.f, 0.f, 0.f);
  Mat34 P = velo_to_image_matrix(c2c, v2c, 2);
  double bz = P[8] * behind.x() + P[9] * behind.y() + P[10] * behind.z() + P[11];
  int bcol = (int)std::nearbyint((P[0] * behind.x() + P[1] * behind.y() + P[2] * behind.z() + P[3]) / bz) - 1;
  int brow = (int)std::nearbyint((P[4] * behind.x() + P[5] * behind.y() + P[6] * behind.z() + P[7]) / bz) - 1;
  REQUIRE((brow >= 0 && brow < kH && bcol >= 0 && bcol < kW));
  Eigen::Vector3f guard = rig.point_at(brow, bcol, 15.0);
  scan.insert(scan.end(), {behind.x(), behind.y(), behind.z(), 0.1f, guard.x(), guard.y(), guard.z(), 0.1f});
  fs::path bin = d / "drive" / "velodyne_points" / "data" / "0000000000.bin";
  write_bin(bin, scan);

  std::vector<float> loaded = load_velodyne_points(bin.string());
  REQUIRE(loaded == scan);
  for (VeloDepth mode : {VeloDepth::X, VeloDepth::Z}) {
    INFO(velo_depth_name(mode));
    std::vector<float> gt = project_velodyne(loaded, P, kH, kW, mode);
    auto want = [&](const Eigen::Vector3f& p) { return mode == VeloDepth::X ? (double)p.x() : rig.proj_z(p); };
    // Stored in float32: relative 1e-6.
    CHECK(gt[5 * kW + 10] == Approx(want(pts[2])).epsilon(1e-6));  // the nearer of the two
    CHECK(gt[12 * kW + 30] == Approx(want(pts[1])).epsilon(1e-6));
    CHECK(gt[0] == Approx(want(pts[3])).epsilon(1e-6));
    CHECK(gt[19 * kW + 39] == Approx(want(pts[4])).epsilon(1e-6));
    CHECK(gt[brow * kW + bcol] == Approx(want(guard)).epsilon(1e-6));
    int nonzero = 0;
    for (float v : gt) nonzero += v != 0.f;
    CHECK(nonzero == 5);
  }
  // The two modes differ by what the rig puts between the velodyne and the camera: for this
  // calibration x - z is about T_z(0.27 m) minus P_rect_02's z offset, at every point.
  std::vector<float> gx = project_velodyne(loaded, P, kH, kW, VeloDepth::X), gz = project_velodyne(loaded, P, kH, kW, VeloDepth::Z);
  CHECK(gx[12 * kW + 30] - gz[12 * kW + 30] == Approx(pts[1].x() - rig.proj_z(pts[1])).margin(1e-5));
  CHECK(std::fabs(gx[12 * kW + 30] - gz[12 * kW + 30]) > 0.2);

  // Rounding: numpy's round takes halves to even (10.5 -> 10, 11.5 -> 12), then minus one.
  // P maps (x, y, z) to (u, v, depth) = (y/x, z/x, x) so the projections are exact in binary.
  Mat34 Psimple{0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0};
  std::vector<float> half{2.f, 21.f, 11.f, 0.f, 2.f, 23.f, 15.f, 0.f};  // (10.5, 5.5) and (11.5, 7.5)
  std::vector<float> g = project_velodyne(half, Psimple, kH, kW, VeloDepth::X);
  CHECK(g[5 * kW + 9] == 2.f);   // round(10.5) = 10, round(5.5) = 6 -> (row 5, col 9)
  CHECK(g[7 * kW + 11] == 2.f);  // round(11.5) = 12, round(7.5) = 8 -> (row 7, col 11)
  CHECK(g[5 * kW + 10] == 0.f);  // where round-half-away-from-zero would have put it
}

TEST_CASE("kitti gt: bad velodyne files are named", "[eval][kitti]") {
  fs::path d = tmp_dir("badvelo");
  REQUIRE_THROWS_WITH(load_velodyne_points((d / "0000000001.bin").string()),
                      Catch::Contains("0000000001.bin") && Catch::Contains("missing"));
  write_text(d / "short.bin", "0123456789");
  REQUIRE_THROWS_WITH(load_velodyne_points((d / "short.bin").string()),
                      Catch::Contains("short.bin") && Catch::Contains("multiple of 16"));
}

TEST_CASE("kitti gt: the Eigen split file and split parsing", "[eval][kitti]") {
  std::vector<KittiSplitEntry> e = read_kitti_split(default_eigen_split_path());
  REQUIRE(e.size() == 697);
  CHECK(e[0].drive_dir == "2011_09_26/2011_09_26_drive_0002_sync");
  CHECK(e[0].frame == "0000000069");
  CHECK(e[0].date() == "2011_09_26");
  CHECK(e[0].cam() == 2);
  CHECK(e.back().drive_dir == "2011_10_03/2011_10_03_drive_0047_sync");
  CHECK(e.back().frame == "0000000768");
  std::set<std::string> drives, frames;
  for (const auto& x : e) {
    CHECK(x.side == 'l');
    drives.insert(x.drive_dir);
    frames.insert(x.drive_dir + "/" + x.frame);
  }
  CHECK(drives.size() == 28);    // the 28 test drives of Eigen et al.
  CHECK(frames.size() == 697);   // no duplicate frame

  fs::path d = tmp_dir("split");
  write_text(d / "s.txt", "2011_09_26/2011_09_26_drive_0002_sync 69 r\n\n2011_09_26/2011_09_26_drive_0002_sync 0000000070\n");
  REQUIRE_THROWS_WITH(read_kitti_split((d / "s.txt").string()), Catch::Contains("s.txt") && Catch::Contains("line 3"));
  write_text(d / "s.txt", "2011_09_26/2011_09_26_drive_0002_sync 69 r\n");
  e = read_kitti_split((d / "s.txt").string());
  CHECK(e[0].frame == "0000000069");  // Monodepth2 writes frame numbers unpadded
  CHECK(e[0].cam() == 3);
  KittiFramePaths p = kitti_frame_paths("/k", e[0]);
  CHECK(p.image == "/k/2011_09_26/2011_09_26_drive_0002_sync/image_03/data/0000000069.png");
  CHECK(p.velodyne == "/k/2011_09_26/2011_09_26_drive_0002_sync/velodyne_points/data/0000000069.bin");
  CHECK(p.calib_dir == "/k/2011_09_26");
  write_text(d / "s.txt", "2011_09_26/2011_09_26_drive_0002_sync 69 x\n");
  REQUIRE_THROWS_WITH(read_kitti_split((d / "s.txt").string()), Catch::Contains("side"));
}

TEST_CASE("kitti gt: sfm eval depth --kitti-raw --pred end to end", "[eval][kitti][cli]") {
  fs::path exe = fs::path(SFM_BINARY_DIR) / "sfm";
  if (!fs::exists(exe)) {
    WARN("skipped: " << exe.string() << " is not built (build the sfm target)");
    return;
  }
  // Two frames of one drive, no images (the ground-truth size comes from S_rect_02).
  fs::path root = tmp_dir("tree");
  fs::path date = root / "2011_09_26";
  write_text(date / "calib_cam_to_cam.txt", kCamToCam);
  write_text(date / "calib_velo_to_cam.txt", kVeloToCam);
  CalibFile c2c = read_calib_file((date / "calib_cam_to_cam.txt").string());
  CalibFile v2c = read_calib_file((date / "calib_velo_to_cam.txt").string());
  Rig rig(c2c, v2c);
  std::string drive = "2011_09_26/2011_09_26_drive_0001_sync";
  std::vector<float> pred;  // disparities at the ground-truth size, 1/true depth where known
  for (int f = 0; f < 2; ++f) {
    std::vector<float> scan, disp(kH * kW, 0.1f);
    for (int r = 9; r < 19; r += 3)  // rows inside the Garg crop (8..19) ...
      for (int col = 2; col < 37; col += 5) {  // ... and cols (1..38)
        double z = 5.0 + r + col + 10 * f;
        Eigen::Vector3f p = rig.point_at(r, col, z);
        scan.insert(scan.end(), {p.x(), p.y(), p.z(), 0.3f});
        disp[r * kW + col] = (float)(1.0 / p.x());  // velodyne-x ground truth
      }
    char name[32];
    std::snprintf(name, sizeof(name), "%010d.bin", f);
    write_bin(root / drive / "velodyne_points" / "data" / name, scan);
    pred.insert(pred.end(), disp.begin(), disp.end());
  }
  write_text(root / "split.txt", drive + " 0000000000 l\n" + drive + " 0000000001 l\n");
  save_npy((root / "pred.npy").string(), pred.data(), {2, kH, kW});
  std::string base = "\"" + exe.string() + "\" eval depth --kitti-raw \"" + root.string() + "\" --split \"" +
                     (root / "split.txt").string() + "\"";
  std::string out = (root / "res.json").string(), err = (root / "err.txt").string();
  int rc = std::system((base + " --pred \"" + (root / "pred.npy").string() + "\" --out \"" + out + "\" > \"" +
                        (root / "log.txt").string() + "\" 2>&1")
                           .c_str());
  REQUIRE(rc == 0);
  nlohmann::json j = nlohmann::json::parse(std::ifstream(out));
  CHECK(j["images"] == 2);
  CHECK(j["gt"] == "velodyne-x");
  // Exact inverse depths in float32, median ratio ~1: relative errors of float rounding.
  CHECK(j["metrics"]["abs_rel"].get<double>() < 1e-6);
  CHECK(j["metrics"]["a1"].get<double>() == 1.0);
  CHECK(j["mean_scale"].get<double>() == Approx(1.0).epsilon(1e-6));
  // velodyne-z: the same predictions are now off by the rig's x - z offset (~0.27 m).
  rc = std::system((base + " --gt velodyne-z --pred \"" + (root / "pred.npy").string() + "\" --out \"" + out +
                    "\" > \"" + (root / "log.txt").string() + "\" 2>&1")
                       .c_str());
  REQUIRE(rc == 0);
  j = nlohmann::json::parse(std::ifstream(out));
  CHECK(j["metrics"]["abs_rel"].get<double>() > 1e-4);

  // A prediction count that does not match the split: an error naming the file.
  save_npy((root / "three.npy").string(), pred.data(), {1, kH, kW});
  rc = std::system((base + " --pred \"" + (root / "three.npy").string() + "\" > \"" + err + "\" 2>&1").c_str());
  CHECK(rc != 0);
  std::string msg((std::istreambuf_iterator<char>(std::ifstream(err).rdbuf())), std::istreambuf_iterator<char>());
  CHECK_THAT(msg, Catch::Contains("three.npy") && Catch::Contains("1 predictions") && Catch::Contains("2 frames"));
  // A missing velodyne scan is named before anything runs.
  write_text(root / "split2.txt", drive + " 0000000005 l\n");
  rc = std::system(("\"" + exe.string() + "\" eval depth --kitti-raw \"" + root.string() + "\" --split \"" +
                    (root / "split2.txt").string() + "\" --pred \"" + (root / "pred.npy").string() + "\" > \"" + err +
                    "\" 2>&1")
                       .c_str());
  CHECK(rc != 0);
  std::string msg2((std::istreambuf_iterator<char>(std::ifstream(err).rdbuf())), std::istreambuf_iterator<char>());
  CHECK_THAT(msg2, Catch::Contains("0000000005.bin") && Catch::Contains("missing"));
}

TEST_CASE("kitti gt: projected synthetic velodyne scans agree with the true depth", "[eval][kitti][synth]") {
  // One drive of the synthetic kitti-raw layout (real-KITTI-format calibration files, velodyne
  // scans ray cast from the true geometry). The projection reads only the files; the true depth
  // comes from the renderer.
  synth::SynthOptions opt;
  opt.layout = "kitti-raw";
  opt.scenes = 1;
  opt.frames = 1;
  opt.height = 128;
  opt.width = 416;
  opt.supersample = 1;
  opt.lidar_azimuth_steps = 1000;
  opt.progress = false;
  opt.force = true;
  fs::path root = fs::temp_directory_path() / "sfm_test_kitti_gt" / "synth_raw";
  synth::write_synthetic_dataset(root.string(), opt);
  const int H = opt.height, W = opt.width, frame = 0;
  synth::SynthWorld world = synth::synth_world(opt, 0);
  synth::Intrinsics K = synth::kitti_intrinsics(H, W);
  KittiSplitEntry e;
  e.drive_dir = std::string(synth::kKittiDate) + "/" + synth::kitti_drive_name(0);
  e.frame = "0000000000";
  for (char side : {'l', 'r'}) {
    e.side = side;
    INFO("camera " << e.cam());
    KittiFramePaths p = kitti_frame_paths(root.string(), e);
    REQUIRE(fs::exists(p.image));
    Mat34 P = velo_to_image_matrix(p.calib_dir, e.cam());
    std::vector<float> scan = load_velodyne_points(p.velodyne);
    std::vector<float> gz = project_velodyne(scan, P, H, W, VeloDepth::Z), gx = project_velodyne(scan, P, H, W, VeloDepth::X);
    std::vector<float> truth = world.render_depth(synth::kitti_camera_pose(world, e.cam(), frame), K, frame, 1);
    // KITTI's "round, minus one" (the MATLAB devkit's 1-based indexing) stores the point that
    // projects at (u, v) ~ (c+1, r+1) in pixel (r, c): compare with the true depth there, and,
    // to see the convention, without the shift.
    std::vector<double> shifted, unshifted;
    int n = 0;
    for (int r = 0; r + 1 < H; ++r)
      for (int c = 0; c + 1 < W; ++c) {
        float g = gz[r * W + c];
        if (g <= 0) continue;
        ++n;
        // velodyne-x minus velodyne-z: the velodyne sits 0.27 m behind the cameras, and the
        // synthetic P_rect_0c have no z offset.
        CHECK(gx[r * W + c] - g == Approx(0.27).margin(1e-4));
        float t1 = truth[(r + 1) * W + c + 1], t0 = truth[r * W + c];
        if (t1 > 0) shifted.push_back(std::fabs(g - t1) / t1);
        if (t0 > 0) unshifted.push_back(std::fabs(g - t0) / t0);
      }
    REQUIRE(n > 3000);  // 64 rings x 1000 directions, about a tenth of them in view
    auto quantile = [](std::vector<double> v, double q) {
      std::sort(v.begin(), v.end());
      return v[(size_t)(q * (double)(v.size() - 1))];
    };
    double med = quantile(shifted, 0.5), q90 = quantile(shifted, 0.9), med0 = quantile(unshifted, 0.5);
    INFO("points " << n << ", relative error: median " << med << ", 90% " << q90 << ", unshifted median " << med0);
    // A point lies within half a pixel of the compared pixel centre: on the road near the
    // horizon depth changes by several percent per pixel, and the velodyne sees some surfaces the
    // camera does not (it sits 0.27 m behind and 0.08 m above it). Measured: median ~0.2%,
    // 90% ~1-2%.
    CHECK(med < 0.01);
    CHECK(q90 < 0.05);
    CHECK(med0 > 2 * med);  // without the shift the agreement is clearly worse
  }
}
