#include "engine/hash.h"
#include "train/kitti/prepare.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "boundary/error.h"
#include "engine/npy.h"
#include "engine/safetensors.h"
#include "train/data/augment.h"
#include "train/data/dataset.h"
#include "train/kitti/kitti_raw.h"
#include "train/prepare/output.h"
#include "train/log/progress.h"

namespace sfm {
namespace fs = std::filesystem;
using prep::fmt_num;
using prep::parallel_items;

namespace {


std::vector<std::string> sorted_stems(const fs::path& dir, const std::string& ext) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ext) out.push_back(e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

struct Drive {
  std::string date, folder;  // "2011_09_26", "2011_09_26_drive_0001_sync"
  fs::path dir;
  std::vector<std::string> frames;  // all frame ids (of the first camera)
  std::vector<int> kept;            // indices into frames
};

}  // namespace

std::string drive_key(const std::string& drive_folder) {
  std::string s = drive_folder;
  const std::string suf = "_sync";
  if (s.size() > suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0) s.resize(s.size() - suf.size());
  return s;
}

std::set<std::string> read_scene_list(const std::string& path) {
  std::ifstream f(path);
  SFM_CHECK(f.good(), "prepare: cannot open test-scene list ", path);
  std::set<std::string> out;
  std::string line;
  while (std::getline(f, line)) {
    size_t h = line.find('#');
    if (h != std::string::npos) line.resize(h);
    std::istringstream is(line);
    std::string w;
    if (is >> w) out.insert(drive_key(w));
  }
  return out;
}

std::set<std::string> read_static_frames(const std::string& path) {
  std::ifstream f(path);
  SFM_CHECK(f.good(), "prepare: cannot open static-frames list ", path);
  std::set<std::string> out;
  std::string line;
  int ln = 0;
  while (std::getline(f, line)) {
    ++ln;
    std::istringstream is(line);
    std::vector<std::string> t;
    std::string w;
    while (is >> w) t.push_back(w);
    if (t.empty()) continue;
    SFM_CHECK(t.size() == 3, "prepare: ", path, " line ", ln, ": expected '<date> <drive folder> <frame id>', got '",
              line, "'");
    out.insert(t[1] + " " + t[2]);
  }
  return out;
}

void split_drives(const std::vector<std::string>& drives, double val_fraction, uint64_t seed,
                  std::vector<std::string>& train, std::vector<std::string>& val) {
  std::vector<std::pair<uint64_t, std::string>> keyed;
  for (const auto& d : drives) keyed.push_back({mix_seed(seed, fnv1a64(d), 0, 0x5B117), d});
  std::sort(keyed.begin(), keyed.end());
  const int n = (int)keyed.size();
  int nv = (int)std::lround(n * val_fraction);
  if (n >= 2) nv = std::min(std::max(nv, 1), n - 1);
  else nv = 0;
  train.clear();
  val.clear();
  for (int i = 0; i < n; ++i) (i < nv ? val : train).push_back(keyed[i].second);
  std::sort(train.begin(), train.end());
  std::sort(val.begin(), val.end());
}

std::string find_data_file(const std::string& name) {
  std::vector<fs::path> tried;
  auto found = [&](const fs::path& p) {
    tried.push_back(p);
    std::error_code ec;
    return fs::is_regular_file(p, ec);
  };
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path dir = exe.parent_path();
    // The build tree's CMakeCache.txt names the source tree.
    std::ifstream cache(dir / "CMakeCache.txt");
    std::string line;
    const std::string key = "CMAKE_HOME_DIRECTORY:INTERNAL=";
    while (cache && std::getline(cache, line))
      if (line.rfind(key, 0) == 0) {
        fs::path p = fs::path(line.substr(key.size())) / "data" / name;
        if (found(p)) return p.string();
      }
    for (fs::path d = dir; !d.empty(); d = d.parent_path()) {
      if (found(d / "data" / name)) return (d / "data" / name).string();
      if (d == d.parent_path()) break;
    }
  }
  if (found(fs::path("data") / name)) return (fs::path("data") / name).string();
  std::string where;
  for (const auto& p : tried) where += "\n  " + p.string();
  fail("cannot find data/", name, "; looked in:", where);
}

PrepareReport prepare_kitti_raw(const PrepareOptions& opt) {
  PrepareReport rep;
  prep::check_size_and_threads(opt.height, opt.width, opt.threads);
  SFM_CHECK(!opt.cameras.empty(), "prepare: no camera given");
  std::vector<int> cams;
  for (const auto& c : opt.cameras) cams.push_back(kitti::camera_index(c));
  prep::check_unique_cameras(opt.cameras, cams);
  SFM_CHECK(fs::is_directory(opt.kitti_raw), "prepare: --kitti-raw ", opt.kitti_raw, " is not a directory");
  prep::check_output_free(opt.out);

  std::set<std::string> test_scenes;
  if (opt.test_scenes != "none") {
    std::string ts = opt.test_scenes.empty() ? find_data_file("test_scenes_eigen.txt") : opt.test_scenes;
    test_scenes = read_scene_list(ts);
  }
  std::set<std::string> static_list;
  const bool use_list = !opt.static_frames.empty();
  if (use_list) {
    static_list = read_static_frames(opt.static_frames);
    rep.static_source = "list " + opt.static_frames;
  } else {
    rep.static_source = "oxts speed < " + fmt_num(opt.min_speed) + " m/s";
  }

  // ---- find dates and drives
  std::vector<fs::path> dates;
  for (const auto& e : fs::directory_iterator(opt.kitti_raw))
    if (e.is_directory() && fs::exists(e.path() / "calib_cam_to_cam.txt")) dates.push_back(e.path());
  std::sort(dates.begin(), dates.end());
  SFM_CHECK(!dates.empty(), "prepare: no date folder with calib_cam_to_cam.txt under ", opt.kitti_raw,
            " (expected KITTI raw: <date>/calib_cam_to_cam.txt, <date>/<date>_drive_NNNN_sync/...)");
  rep.dates = (int)dates.size();

  struct DateCalib {
    kitti::CamToCam c2c;
    Eigen::Matrix4d velo_to_cam = Eigen::Matrix4d::Identity(), imu_to_velo = Eigen::Matrix4d::Identity();
  };
  std::map<std::string, DateCalib> calib;
  std::vector<Drive> drives;
  for (const auto& dp : dates) {
    std::string date = dp.filename().string();
    DateCalib dc;
    dc.c2c = kitti::read_cam_to_cam((dp / "calib_cam_to_cam.txt").string());
    if (opt.with_depth || opt.with_pose) dc.velo_to_cam = kitti::read_rigid_calib((dp / "calib_velo_to_cam.txt").string());
    if (opt.with_pose) dc.imu_to_velo = kitti::read_rigid_calib((dp / "calib_imu_to_velo.txt").string());
    calib[date] = dc;
    std::vector<fs::path> dd;
    for (const auto& e : fs::directory_iterator(dp)) {
      std::string n = e.path().filename().string();
      if (e.is_directory() && n.rfind(date + "_drive_", 0) == 0 && n.size() > 5 &&
          n.compare(n.size() - 5, 5, "_sync") == 0)
        dd.push_back(e.path());
    }
    std::sort(dd.begin(), dd.end());
    for (const auto& d : dd) {
      ++rep.drives_found;
      Drive dr;
      dr.date = date;
      dr.folder = d.filename().string();
      dr.dir = d;
      if (test_scenes.count(drive_key(dr.folder))) {
        ++rep.drives_test;
        continue;
      }
      fs::path img0 = d / ("image_" + opt.cameras[0].substr(opt.cameras[0].size() - 2)) / "data";
      SFM_CHECK(fs::is_directory(img0), "prepare: drive ", d.string(), " has no ", img0.string());
      dr.frames = sorted_stems(img0, ".png");
      SFM_CHECK(!dr.frames.empty(), "prepare: no .png frame in ", img0.string());
      for (int ci : cams) {
        char cn[16];
        std::snprintf(cn, sizeof cn, "image_%02d", ci);
        fs::path idir = d / cn / "data";
        SFM_CHECK(fs::is_directory(idir), "prepare: drive ", d.string(), " has no ", idir.string());
        auto st = sorted_stems(idir, ".png");
        SFM_CHECK(st == dr.frames, "prepare: ", idir.string(), " holds other frame ids than ", img0.string());
      }
      // static frames
      for (int i = 0; i < (int)dr.frames.size(); ++i) {
        bool is_static;
        if (use_list) {
          is_static = static_list.count(dr.folder + " " + dr.frames[i]) > 0;
        } else {
          auto o = kitti::read_oxts((d / "oxts" / "data" / (dr.frames[i] + ".txt")).string());
          is_static = o.speed() < opt.min_speed;
        }
        if (is_static)
          ++rep.static_dropped;
        else
          dr.kept.push_back(i);
      }
      if ((int)dr.kept.size() < opt.min_frames) {
        ++rep.drives_short;
        continue;
      }
      drives.push_back(std::move(dr));
    }
  }
  rep.drives_used = (int)drives.size();
  SFM_CHECK(!drives.empty(), "prepare: no drive left to write under ", opt.kitti_raw, " (", rep.drives_found,
            " found, ", rep.drives_test, " test scenes, ", rep.drives_short, " with fewer than ", opt.min_frames,
            " moving frames)");

  // ---- split
  std::vector<std::string> names, train_d, val_d;
  for (const auto& d : drives) names.push_back(d.folder);
  split_drives(names, opt.val_fraction, opt.seed, train_d, val_d);

  // ---- write under a temporary name
  prep::StagedFolder staged(opt.out);
  const fs::path& tmp = staged.path();
  std::atomic<int64_t> empty_depth{0};
  int64_t total = 0;
  for (const auto& d : drives) total += (int64_t)d.kept.size() * (int64_t)cams.size();
  {
    Progress prog("prepare", total, "frames", opt.progress);
    for (const auto& dr : drives) {
      const DateCalib& dc = calib.at(dr.date);
      // poses of the kept frames (IMU -> world, world = first packet's IMU frame)
      std::vector<Eigen::Matrix4d> imu_poses;
      if (opt.with_pose) {
        std::vector<kitti::Oxts> pk;
        for (const auto& f : dr.frames) pk.push_back(kitti::read_oxts((dr.dir / "oxts" / "data" / (f + ".txt")).string()));
        imu_poses = kitti::oxts_to_poses(pk);
      }
      for (int ci : cams) {
        char cn[16], sn[16];
        std::snprintf(cn, sizeof cn, "image_%02d", ci);
        std::snprintf(sn, sizeof sn, "_%02d", ci);
        fs::path idir = dr.dir / cn / "data";
        std::string scene = dr.folder + sn;
        fs::path sdir = tmp / scene;
        fs::create_directories(sdir);
        int w0 = 0, h0 = 0;
        std::string first = (idir / (dr.frames[dr.kept[0]] + ".png")).string();
        SFM_CHECK(read_image_size(first, w0, h0), "prepare: cannot read image ", first);
        Eigen::Matrix3d K = resize_intrinsics(kitti::rect_intrinsics(dc.c2c, ci), w0, h0, opt.width, opt.height);
        prep::write_cam_txt(sdir / "cam.txt", K);
        Eigen::Matrix4d velo_to_cam = kitti::velo_to_rect_cam(dc.c2c, dc.velo_to_cam, ci);
        parallel_items((int64_t)dr.kept.size(), opt.threads, [&](int64_t k) {
          const std::string& id = dr.frames[dr.kept[k]];
          std::string src = (idir / (id + ".png")).string();
          cv::Mat img = cv::imread(src, cv::IMREAD_COLOR);
          SFM_CHECK(!img.empty(), "prepare: cannot decode image ", src);
          SFM_CHECK(img.cols == w0 && img.rows == h0, "prepare: ", src, " is ", img.cols, "x", img.rows, ", but ", first,
                    " is ", w0, "x", h0);
          cv::Mat small = resize_image_area(img, opt.width, opt.height);
          std::string dst = (sdir / (id + ".jpg")).string();
          SFM_CHECK(cv::imwrite(dst, small, {cv::IMWRITE_JPEG_QUALITY, opt.jpeg_quality}), "prepare: cannot write ", dst);
          if (opt.with_depth) {
            const std::string scan = (dr.dir / "velodyne_points" / "data" / (id + ".bin")).string();
            auto pts = kitti::read_velodyne(scan);
            auto depth = kitti::velodyne_depth(pts, K, velo_to_cam, opt.height, opt.width);
            if (std::none_of(depth.begin(), depth.end(), [](float v) { return v > 0; })) {
              // Kept (0 = unknown, scored nowhere), but never silently: an empty or misplaced scan.
              ++empty_depth;
              std::fprintf(stderr, "\nprepare: warning: velodyne scan %s (%zu points) gives no depth inside camera %02d's "
                           "image: %s.npy is all zeros (no ground truth for that frame)\n",
                           scan.c_str(), pts.size() / 4, ci, id.c_str());
            }
            save_npy((sdir / (id + ".npy")).string(), depth.data(), {opt.height, opt.width});
          }
          prog.advance();
        });
        if (opt.with_pose) {
          Eigen::Matrix4d imu_to_cam = kitti::imu_to_rect_cam(dc.c2c, dc.velo_to_cam, dc.imu_to_velo, ci);
          Eigen::Matrix4d cam_to_imu = imu_to_cam.inverse();
          Eigen::Matrix4d first_inv = (imu_poses[dr.kept[0]] * cam_to_imu).inverse();
          std::ofstream pf(sdir / "poses.txt");
          for (int k : dr.kept) {
            Eigen::Matrix4d T = k == dr.kept[0] ? Eigen::Matrix4d::Identity().eval()
                                                : (first_inv * imu_poses[k] * cam_to_imu).eval();
            for (int e = 0; e < 12; ++e) pf << (e ? " " : "") << fmt_num(T(e / 4, e % 4));
            pf << "\n";
          }
          SFM_CHECK(pf.good(), "prepare: cannot write ", (sdir / "poses.txt").string());
        }
        ++rep.scenes;
        rep.frames += (int64_t)dr.kept.size();
        (std::find(val_d.begin(), val_d.end(), dr.folder) != val_d.end() ? rep.val_scenes : rep.train_scenes)
            .push_back(scene);
      }
    }
    prog.finish();
    rep.empty_depth = empty_depth;
    std::sort(rep.train_scenes.begin(), rep.train_scenes.end());
    std::sort(rep.val_scenes.begin(), rep.val_scenes.end());
    prep::write_lines(tmp / "train.txt", rep.train_scenes);
    prep::write_lines(tmp / "val.txt", rep.val_scenes);
    staged.commit();
  }
  return rep;
}

}  // namespace sfm
