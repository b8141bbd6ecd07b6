// `sfm synth --layout video|frames`: raw footage of a known camera, the input of
// `sfm prepare --video / --frames` (see synth_writer.h "camera sources").
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <Eigen/Dense>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "boundary/error.h"
#include "train/log/progress.h"
#include "train/synth/synth_writer.h"

namespace sfm::synth {
namespace fs = std::filesystem;

namespace {

void write_checked(const fs::path& p, const std::string& text) {
  std::ofstream f(p);
  f << text;
  SFM_CHECK(f.good(), "synth: cannot write ", p.string());
}

}  // namespace

void write_camera_sources(const fs::path& root, const SynthOptions& opt, const std::vector<SynthWorld>& worlds,
                          const Intrinsics& K, int threads) {
  const bool video = opt.layout == "video";
  char cam[256];
  std::snprintf(cam, sizeof cam, "%.9g 0 %.9g\n0 %.9g %.9g\n0 0 1\n", K.fx, K.cx, K.fy, K.cy);
  write_checked(root / "cam.txt", cam);
  fs::create_directories(root / "poses");
  RenderOptions ro;
  ro.supersample = opt.supersample;
  ro.threads = threads;
  Progress bar("synth", (int64_t)worlds.size() * opt.frames, "frames", opt.progress);
  for (size_t i = 0; i < worlds.size(); ++i) {
    const SynthWorld& w = worlds[i];
    const std::string name = formatted_scene_name((int)i);
    std::string poses;
    Eigen::Matrix4d T0inv = w.camera_pose(0).inverse();
    cv::VideoWriter vw;
    if (video) {
      std::string vp = (root / (name + ".avi")).string();
      vw.open(vp, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), kFrameRate, cv::Size(K.width, K.height), true);
      SFM_CHECK(vw.isOpened(), "synth: OpenCV cannot write the MJPG video ", vp);
    } else {
      fs::create_directories(root / name);
    }
    for (int k = 0; k < opt.frames; ++k) {
      RenderedFrame f = w.render(w.camera_pose(k), K, k, ro);
      cv::Mat rgb(f.height, f.width, CV_8UC3, f.rgb.data()), bgr;
      cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
      if (video) {
        vw.write(bgr);
      } else {
        char fn[32];
        std::snprintf(fn, sizeof fn, "%010d.png", k);
        std::string p = (root / name / fn).string();
        SFM_CHECK(cv::imwrite(p, bgr), "synth: cannot write ", p);
      }
      Eigen::Matrix4d T = k == 0 ? Eigen::Matrix4d::Identity().eval() : (T0inv * w.camera_pose(k)).eval();
      char line[512];
      int n = 0;
      for (int e = 0; e < 12; ++e) n += std::snprintf(line + n, sizeof line - n, e ? " %.12e" : "%.12e", T(e / 4, e % 4));
      poses += std::string(line) + "\n";
      bar.advance();
    }
    if (video) vw.release();
    write_checked(root / "poses" / (name + ".txt"), poses);
  }
  bar.finish();
}

}  // namespace sfm::synth

namespace sfm::synth {

void write_kitti_odometry(const fs::path& root, const SynthOptions& opt, const std::vector<SynthWorld>& worlds,
                          const Intrinsics& K, int threads) {
  RenderOptions ro;
  ro.supersample = opt.supersample;
  ro.threads = threads;
  fs::create_directories(root / "poses");
  Progress bar("synth", (int64_t)worlds.size() * opt.frames * 2, "frames", opt.progress);
  for (size_t i = 0; i < worlds.size(); ++i) {
    const SynthWorld& w = worlds[i];
    char id[16];
    std::snprintf(id, sizeof id, "%02d", (int)i);
    fs::path sdir = root / "sequences" / id;
    std::string calib, times, poses;
    for (int c = 0; c < 4; ++c) {
      double b = kitti_camera_offset(c);
      char line[512];
      std::snprintf(line, sizeof line, "P%d: %.12e 0 %.12e %.12e 0 %.12e %.12e 0 0 0 1 0\n", c, K.fx, K.cx, K.fx * b,
                    K.fy, K.cy);
      calib += line;
    }
    calib += "Tr: 0 -1 0 0 0 0 -1 -0.08 1 0 0 -0.27\n";  // velodyne -> camera 0, as the raw rig
    fs::create_directories(sdir);
    write_checked(sdir / "calib.txt", calib);
    Eigen::Matrix4d T0inv = kitti_camera_pose(w, 0, 0).inverse();
    for (int k = 0; k < opt.frames; ++k) {
      for (int c : {2, 3}) {
        RenderedFrame f = w.render(kitti_camera_pose(w, c, k), K, k, ro);
        cv::Mat rgb(f.height, f.width, CV_8UC3, f.rgb.data()), bgr;
        cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
        char fn[32];
        std::snprintf(fn, sizeof fn, "%06d.png", k);
        fs::path dir = sdir / ("image_" + std::to_string(c));
        fs::create_directories(dir);
        SFM_CHECK(cv::imwrite((dir / fn).string(), bgr), "synth: cannot write ", (dir / fn).string());
        bar.advance();
      }
      char t[64];
      std::snprintf(t, sizeof t, "%.6e\n", k / kFrameRate);
      times += t;
      Eigen::Matrix4d T = T0inv * kitti_camera_pose(w, 0, k);
      char line[512];
      int n = 0;
      for (int e = 0; e < 12; ++e) n += std::snprintf(line + n, sizeof line - n, e ? " %.12e" : "%.12e", T(e / 4, e % 4));
      poses += std::string(line) + "\n";
    }
    write_checked(sdir / "times.txt", times);
    write_checked(root / "poses" / (std::string(id) + ".txt"), poses);
  }
  bar.finish();
}

}  // namespace sfm::synth

namespace sfm::synth {

void write_cityscapes(const fs::path& root, const SynthOptions& opt, const std::vector<SynthWorld>& worlds,
                      const Intrinsics& K, int threads) {
  RenderOptions ro;
  ro.supersample = opt.supersample;
  ro.threads = threads;
  const std::string city = "synthcity";
  fs::path idir = root / "leftImg8bit_sequence" / "train" / city, cdir = root / "camera" / "train" / city;
  fs::create_directories(idir);
  fs::create_directories(cdir);
  fs::create_directories(root / "poses");
  Progress bar("synth", (int64_t)worlds.size() * opt.frames, "frames", opt.progress);
  for (size_t i = 0; i < worlds.size(); ++i) {
    const SynthWorld& w = worlds[i];
    char seq[16];
    std::snprintf(seq, sizeof seq, "%06d", (int)i);
    const std::string name = city + "_" + seq;
    Eigen::Matrix4d T0inv = w.camera_pose(0).inverse();
    std::string poses;
    for (int k = 0; k < opt.frames; ++k) {
      RenderedFrame f = w.render(w.camera_pose(k), K, k, ro);
      cv::Mat rgb(f.height, f.width, CV_8UC3, f.rgb.data()), bgr;
      cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
      char fn[64];
      std::snprintf(fn, sizeof fn, "%s_%06d_leftImg8bit.png", name.c_str(), k);
      SFM_CHECK(cv::imwrite((idir / fn).string(), bgr), "synth: cannot write ", (idir / fn).string());
      Eigen::Matrix4d T = T0inv * w.camera_pose(k);
      char line[512];
      int n = 0;
      for (int e = 0; e < 12; ++e) n += std::snprintf(line + n, sizeof line - n, e ? " %.12e" : "%.12e", T(e / 4, e % 4));
      poses += std::string(line) + "\n";
      bar.advance();
    }
    // the camera file of the snippet's annotated (middle) frame, as Cityscapes ships one
    char js[512];
    std::snprintf(js, sizeof js,
                  "{\n  \"extrinsic\": {\"baseline\": 0.209, \"pitch\": 0.0, \"roll\": 0.0, \"x\": 1.7, \"y\": 0.0, "
                  "\"yaw\": 0.0, \"z\": 1.65},\n  \"intrinsic\": {\"fx\": %.12g, \"fy\": %.12g, \"u0\": %.12g, "
                  "\"v0\": %.12g}\n}\n",
                  K.fx, K.fy, K.cx, K.cy);
    char jn[64];
    std::snprintf(jn, sizeof jn, "%s_%06d_camera.json", name.c_str(), opt.frames / 2);
    write_checked(cdir / jn, js);
    write_checked(root / "poses" / (name + ".txt"), poses);
  }
  bar.finish();
}

}  // namespace sfm::synth
