#include "train/kitti/odometry.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <Eigen/Dense>
#include <opencv2/imgcodecs.hpp>

#include "boundary/error.h"
#include "train/data/augment.h"
#include "train/data/dataset.h"
#include "train/kitti/kitti_raw.h"
#include "train/kitti/prepare.h"
#include "train/log/progress.h"
#include "train/prepare/output.h"

namespace sfm::kitti {
namespace fs = std::filesystem;

namespace {

std::vector<Eigen::Matrix4d> read_pose_file(const fs::path& p) {
  std::ifstream f(p);
  SFM_CHECK(f.good(), "prepare: cannot open ", p.string());
  std::vector<Eigen::Matrix4d> out;
  std::string line;
  int ln = 0;
  while (std::getline(f, line)) {
    ++ln;
    std::istringstream is(line);
    std::vector<double> v;
    for (double x; is >> x;) v.push_back(x);
    if (v.empty() && is.eof()) continue;
    SFM_CHECK(v.size() == 12 && is.eof(), "prepare: ", p.string(), " line ", ln, ": expected 12 numbers");
    Eigen::Matrix4d T = Eigen::Matrix4d::Identity();
    for (int i = 0; i < 12; ++i) T(i / 4, i % 4) = v[i];
    out.push_back(T);
  }
  return out;
}

struct Sequence {
  std::string id;
  fs::path dir;
  std::vector<std::string> frames;  // stems, sorted
  std::vector<Eigen::Matrix4d> poses;
  std::map<std::string, std::vector<double>> calib;
};

}  // namespace

OdometryReport prepare_kitti_odometry(const OdometryOptions& opt) {
  prep::check_size_and_threads(opt.height, opt.width, opt.threads);
  SFM_CHECK(opt.val_fraction >= 0 && opt.val_fraction < 1, "prepare: --val-fraction must be in [0, 1)");
  SFM_CHECK(!opt.cameras.empty(), "prepare: no camera given");
  std::vector<int> cams;
  for (const auto& c : opt.cameras) {
    cams.push_back(camera_index(c));
    SFM_CHECK(cams.back() == 2 || cams.back() == 3, "prepare: --kitti-odometry has colour cameras 02 and 03, got '", c,
              "'");
  }
  prep::check_unique_cameras(opt.cameras, cams);
  prep::check_output_free(opt.out);
  const fs::path seq_root = fs::path(opt.root) / "sequences";
  SFM_CHECK(fs::is_directory(seq_root), "prepare: --kitti-odometry ", opt.root,
            " has no sequences/ folder (expected ROOT/sequences/NN/image_2, ROOT/poses/NN.txt)");

  OdometryReport rep;
  std::vector<Sequence> seqs;
  std::set<std::string> test_ids(opt.test_sequences.begin(), opt.test_sequences.end());
  std::vector<std::string> all = opt.train_sequences;
  all.insert(all.end(), opt.test_sequences.begin(), opt.test_sequences.end());
  for (const auto& id : all) {
    Sequence s;
    s.id = id;
    s.dir = seq_root / id;
    if (!fs::is_directory(s.dir)) {
      rep.missing.push_back(id);
      continue;
    }
    const std::string calib_path = (s.dir / "calib.txt").string();
    SFM_CHECK(fs::is_regular_file(calib_path), "prepare: sequence ", s.dir.string(), " has no calib.txt");
    s.calib = read_calib_file(calib_path);
    for (size_t ci = 0; ci < cams.size(); ++ci) {
      calib_values(s.calib, "P" + std::to_string(cams[ci]), 12, calib_path);
      fs::path idir = s.dir / ("image_" + std::to_string(cams[ci]));
      SFM_CHECK(fs::is_directory(idir), "prepare: sequence ", s.dir.string(), " has no ", idir.filename().string(),
                "/ folder");
      std::vector<std::string> st;
      for (const auto& e : fs::directory_iterator(idir))
        if (e.is_regular_file() && e.path().extension() == ".png") st.push_back(e.path().stem().string());
      std::sort(st.begin(), st.end());
      SFM_CHECK(!st.empty(), "prepare: no .png frame in ", idir.string());
      if (ci == 0)
        s.frames = st;
      else
        SFM_CHECK(st == s.frames, "prepare: ", idir.string(), " holds other frame ids than image_",
                  std::to_string(cams[0]));
    }
    fs::path pp = fs::path(opt.root) / "poses" / (id + ".txt");
    if (fs::exists(pp)) {
      s.poses = read_pose_file(pp);
      SFM_CHECK(s.poses.size() == s.frames.size(), "prepare: ", pp.string(), " has ", s.poses.size(),
                " poses for ", s.frames.size(), " frames of sequence ", id);
    }
    seqs.push_back(std::move(s));
  }
  SFM_CHECK(!seqs.empty(), "prepare: none of the odometry sequences found under ", seq_root.string());
  rep.sequences = (int)seqs.size();

  std::vector<std::string> train_ids, val_ids, split_ids;
  for (const auto& s : seqs)
    if (!test_ids.count(s.id)) split_ids.push_back(s.id);
  split_drives(split_ids, opt.val_fraction, opt.seed, train_ids, val_ids);

  prep::StagedFolder staged(opt.out);
  const fs::path& tmp = staged.path();
  int64_t total = 0;
  for (const auto& s : seqs) total += (int64_t)s.frames.size() * (int64_t)cams.size();
  Progress prog("prepare", total, "frames", opt.progress);
  for (const auto& s : seqs) {
    for (int ci : cams) {
      const std::string scene = s.id + "_0" + std::to_string(ci);
      fs::path sdir = tmp / scene, idir = s.dir / ("image_" + std::to_string(ci));
      fs::create_directories(sdir);
      std::vector<double> pv = calib_values(s.calib, "P" + std::to_string(ci), 12, (s.dir / "calib.txt").string());
      Mat34 P;
      for (int i = 0; i < 12; ++i) P(i / 4, i % 4) = pv[i];
      int w0 = 0, h0 = 0;
      const std::string first = (idir / (s.frames[0] + ".png")).string();
      SFM_CHECK(read_image_size(first, w0, h0), "prepare: cannot read image ", first);
      Eigen::Matrix3d K0 = P.leftCols<3>();
      prep::write_cam_txt(sdir / "cam.txt", resize_intrinsics(K0, w0, h0, opt.width, opt.height));
      prep::parallel_items((int64_t)s.frames.size(), opt.threads, [&](int64_t k) {
        const std::string src = (idir / (s.frames[k] + ".png")).string();
        cv::Mat img = cv::imread(src, cv::IMREAD_COLOR);
        SFM_CHECK(!img.empty(), "prepare: cannot decode image ", src);
        SFM_CHECK(img.cols == w0 && img.rows == h0, "prepare: ", src, " is ", img.cols, "x", img.rows, ", but ", first,
                  " is ", w0, "x", h0);
        char name[32];
        std::snprintf(name, sizeof name, "%010lld.jpg", std::stoll(s.frames[k]));
        const std::string dst = (sdir / name).string();
        SFM_CHECK(cv::imwrite(dst, resize_image_area(img, opt.width, opt.height),
                              {cv::IMWRITE_JPEG_QUALITY, opt.jpeg_quality}),
                  "prepare: cannot write ", dst);
        prog.advance();
      });
      if (!s.poses.empty()) {
        Eigen::Matrix4d S = Eigen::Matrix4d::Identity();  // camera ci -> camera 0
        S.block<3, 1>(0, 3) = -(K0.inverse() * P.col(3));
        Eigen::Matrix4d first_inv = (s.poses[0] * S).inverse();
        std::vector<std::string> lines;
        for (const auto& T0 : s.poses) {
          Eigen::Matrix4d T = first_inv * T0 * S;
          std::string l;
          for (int e = 0; e < 12; ++e) l += (e ? " " : "") + prep::fmt_num(T(e / 4, e % 4));
          lines.push_back(l);
        }
        prep::write_lines(sdir / "poses.txt", lines);
      }
      ++rep.scenes;
      rep.frames += (int64_t)s.frames.size();
      if (test_ids.count(s.id))
        rep.test_scenes.push_back(scene);
      else
        (std::count(val_ids.begin(), val_ids.end(), s.id) ? rep.val_scenes : rep.train_scenes).push_back(scene);
    }
  }
  prog.finish();
  prep::write_lines(tmp / "train.txt", rep.train_scenes);
  prep::write_lines(tmp / "val.txt", rep.val_scenes);
  prep::write_lines(tmp / "test.txt", rep.test_scenes);
  staged.commit();
  return rep;
}

}  // namespace sfm::kitti
