// Helpers of the data-set and loader tests (tests/test_dataset_cv.cpp, tests/test_loader_cv.cpp):
// scenes of tagged frames written to disk, their K, and batch comparisons.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include "engine/npy.h"
#include "train/data/augment.h"
#include "train/data/dataset.h"
#include "train/data/loader.h"
#include "train/synth/synth_world.h"

namespace sfm::test::dataset_support {

using namespace sfm;
namespace fs = std::filesystem;


inline fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / "sfm_test_dataset" / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A BGR frame whose red channel is `r` and green channel `g` everywhere (constant channels
// survive any resize exactly) and whose blue channel is a gradient.
inline cv::Mat tagged_frame(int w, int h, int r, int g) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b((uchar)((3 * x + 5 * y) % 256), (uchar)g, (uchar)r);
  return m;
}

// Frame k of scene s: red = 10 + 20*k, green = 30 + 40*s.
inline int red_of(int k) { return 10 + 20 * k; }
inline int green_of(int s) { return 30 + 40 * s; }

inline Eigen::Matrix3d test_K(int w, int h) {
  Eigen::Matrix3d K;
  K << 0.9 * w, 0, 0.48 * w, 0, 0.9 * w, 0.52 * h, 0, 0, 1;
  return K;
}

inline void write_K(const fs::path& p, const Eigen::Matrix3d& K, bool commas = false) {
  std::ofstream f(p);
  f.precision(17);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) f << K(r, c) << (commas ? (r == 2 && c == 2 ? "" : ",") : (c == 2 ? "\n" : " "));
}

inline std::string frame_name(int k) {
  char b[16];
  std::snprintf(b, sizeof b, "%010d", k);
  return b;
}

struct SceneSpec {
  std::string name;
  int frames = 6, w = 48, h = 16, id = 0;
  bool poses = false, depth = false;
  std::string ext = ".png";
};

// Writes a formatted-layout scene; returns its folder.
inline fs::path write_scene(const fs::path& root, const SceneSpec& s) {
  fs::path d = root / s.name;
  fs::create_directories(d);
  for (int k = 0; k < s.frames; ++k) {
    cv::imwrite((d / (frame_name(k) + s.ext)).string(), tagged_frame(s.w, s.h, red_of(k), green_of(s.id)));
    if (s.depth) {
      std::vector<float> dm((size_t)s.w * s.h, 0.0f);
      for (int i = 0; i < s.w * s.h; ++i) dm[i] = 1.0f + k + 0.001f * i;
      save_npy((d / (frame_name(k) + ".npy")).string(), dm.data(), {s.h, s.w});
    }
  }
  write_K(d / "cam.txt", test_K(s.w, s.h));
  if (s.poses) {
    std::ofstream f(d / "poses.txt");
    for (int k = 0; k < s.frames; ++k) f << "1 0 0 " << 0.1 * k << " 0 1 0 " << 0.2 * k << " 0 0 1 " << k + 0.5 << "\n";
  }
  return d;
}

inline void write_list(const fs::path& root, const std::string& split, const std::vector<std::string>& lines) {
  std::ofstream f(root / (split + ".txt"));
  for (const auto& l : lines) f << l << "\n";
}

// Red/green channel value of batch image plane (undoing the normalisation).
inline int channel_value(const Tensor& t, int64_t offset) {
  return (int)std::lround((t.data<float>()[offset] * 0.5 + 0.5) * 255.0);
}
inline int tgt_red(const SfMBatch& b, int j) {
  int64_t plane = b.tgt.dim(2) * b.tgt.dim(3);
  return channel_value(b.tgt, (j * 3 + 0) * plane);
}
inline int tgt_green(const SfMBatch& b, int j) {
  int64_t plane = b.tgt.dim(2) * b.tgt.dim(3);
  return channel_value(b.tgt, (j * 3 + 1) * plane);
}
inline int src_red(const SfMBatch& b, int j, int s) {
  int64_t plane = b.srcs.dim(3) * b.srcs.dim(4), S = b.srcs.dim(1);
  return channel_value(b.srcs, ((j * S + s) * 3 + 0) * plane);
}

inline LoaderOptions plain_opts(int h, int w, int seq = 3) {
  LoaderOptions o;
  o.height = h;
  o.width = w;
  o.seq_length = seq;
  o.augment = false;
  o.shuffle = false;
  o.workers = 0;
  o.quiet = true;
  return o;
}

inline std::vector<size_t> all_indices(size_t n) {
  std::vector<size_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

inline bool same_tensor(const Tensor& a, const Tensor& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  return a.shape() == b.shape() && a.to_vector() == b.to_vector();
}
inline bool same_batch(const SfMBatch& a, const SfMBatch& b) {
  return a.ids == b.ids && same_tensor(a.tgt, b.tgt) && same_tensor(a.srcs, b.srcs) && same_tensor(a.K, b.K) &&
         same_tensor(a.depth_gt, b.depth_gt) && same_tensor(a.poses_gt, b.poses_gt);
}

// Intensity-weighted centroid of a single-channel float image.
inline cv::Point2d centroid(const cv::Mat& m) {
  double s = 0, sx = 0, sy = 0;
  for (int y = 0; y < m.rows; ++y)
    for (int x = 0; x < m.cols; ++x) {
      double v = m.at<float>(y, x);
      s += v;
      sx += v * x;
      sy += v * y;
    }
  return {sx / s, sy / s};
}

inline cv::Mat blob(int w, int h, double u, double v, double sigma) {
  cv::Mat m(h, w, CV_32F);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      m.at<float>(y, x) = (float)(200.0 * std::exp(-((x - u) * (x - u) + (y - v) * (y - v)) / (2 * sigma * sigma)));
  return m;
}

// Where K2 sends the pixel that K1 saw at (u, v): the same 3D ray, mirrored (x -> -x) when
// the image was flipped (a flipped image is the view of the mirrored world).
inline cv::Point2d map_pixel(const Eigen::Matrix3d& K1, const Eigen::Matrix3d& K2, double u, double v, bool flip = false) {
  Eigen::Vector3d ray = K1.inverse() * Eigen::Vector3d(u, v, 1);
  if (flip) ray.x() = -ray.x();
  Eigen::Vector3d p = K2 * ray;
  return {p.x() / p.z(), p.y() / p.z()};
}


}  // namespace sfm::test::dataset_support
