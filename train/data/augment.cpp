#include "train/data/augment.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "boundary/error.h"
#include "engine/rng.h"

namespace sfm {

namespace {
uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

uint64_t mix_seed(uint64_t seed, uint64_t epoch, uint64_t index, uint64_t stream) {
  uint64_t h = splitmix(seed);
  h = splitmix(h ^ epoch);
  h = splitmix(h ^ index);
  return splitmix(h ^ stream);
}

bool AugmentParams::identity() const {
  return scaled_w == width && scaled_h == height && crop_x == 0 && crop_y == 0 && !flip && !jitter;
}

AugmentParams sample_augment(const AugmentOptions& opt, int width, int height, uint64_t seed, int64_t epoch,
                             uint64_t index) {
  SFM_CHECK(opt.max_scale >= 1.0, "augment: max_scale must be >= 1, got ", opt.max_scale);
  AugmentParams p;
  p.width = p.scaled_w = width;
  p.height = p.scaled_h = height;
  Rng rng(mix_seed(seed, (uint64_t)epoch, index, 0xA06));
  if (opt.scale_crop) {
    double sx = rng.uniform(1.0, opt.max_scale), sy = rng.uniform(1.0, opt.max_scale);
    p.scaled_w = std::max(width, (int)(width * sx));
    p.scaled_h = std::max(height, (int)(height * sy));
    p.crop_x = (int)rng.randint(p.scaled_w - width + 1);
    p.crop_y = (int)rng.randint(p.scaled_h - height + 1);
  }
  if (opt.flip) p.flip = rng.uniform() < 0.5;
  if (opt.color_jitter) {
    p.jitter = true;
    p.brightness = rng.uniform(1 - opt.brightness, 1 + opt.brightness);
    p.contrast = rng.uniform(1 - opt.contrast, 1 + opt.contrast);
    p.saturation = rng.uniform(1 - opt.saturation, 1 + opt.saturation);
  }
  return p;
}

cv::Mat resize_image_area(const cv::Mat& img, int width, int height) {
  if (img.cols == width && img.rows == height) return img;
  cv::Mat out;
  cv::resize(img, out, cv::Size(width, height), 0, 0, cv::INTER_AREA);
  return out;
}

cv::Mat resize_nearest(const cv::Mat& img, int width, int height) {
  if (img.cols == width && img.rows == height) return img;
  cv::Mat out(height, width, img.type());
  const size_t es = img.elemSize();
  std::vector<int> xs(width);
  for (int x = 0; x < width; ++x)
    xs[x] = std::min(img.cols - 1, (int)std::floor((x + 0.5) * img.cols / (double)width));
  for (int y = 0; y < height; ++y) {
    int sy = std::min(img.rows - 1, (int)std::floor((y + 0.5) * img.rows / (double)height));
    const uchar* src = img.ptr<uchar>(sy);
    uchar* dst = out.ptr<uchar>(y);
    for (int x = 0; x < width; ++x) std::copy(src + xs[x] * es, src + (xs[x] + 1) * es, dst + x * es);
  }
  return out;
}

Eigen::Matrix3d resize_intrinsics(const Eigen::Matrix3d& K, int w0, int h0, int w, int h) {
  double sx = (double)w / w0, sy = (double)h / h0;
  Eigen::Matrix3d S;
  S << sx, 0, 0.5 * sx - 0.5, 0, sy, 0.5 * sy - 0.5, 0, 0, 1;
  return S * K;
}

static cv::Mat crop_flip(const cv::Mat& scaled, const AugmentParams& p) {
  cv::Mat c = scaled(cv::Rect(p.crop_x, p.crop_y, p.width, p.height));
  cv::Mat out;
  if (p.flip)
    cv::flip(c, out, 1);
  else
    out = c.clone();
  return out;
}

cv::Mat augment_image(const cv::Mat& img, const AugmentParams& p) {
  SFM_CHECK(img.cols == p.width && img.rows == p.height, "augment: image is ", img.cols, "x", img.rows,
            ", parameters are for ", p.width, "x", p.height);
  cv::Mat scaled = img;
  if (p.scaled_w != p.width || p.scaled_h != p.height)
    cv::resize(img, scaled, cv::Size(p.scaled_w, p.scaled_h), 0, 0, cv::INTER_LINEAR);
  return crop_flip(scaled, p);
}

cv::Mat augment_depth(const cv::Mat& depth, const AugmentParams& p) {
  SFM_CHECK(depth.cols == p.width && depth.rows == p.height, "augment: depth map is ", depth.cols, "x", depth.rows,
            ", parameters are for ", p.width, "x", p.height);
  return crop_flip(resize_nearest(depth, p.scaled_w, p.scaled_h), p);
}

Eigen::Matrix3d augment_intrinsics(const Eigen::Matrix3d& K, const AugmentParams& p) {
  Eigen::Matrix3d K2 = resize_intrinsics(K, p.width, p.height, p.scaled_w, p.scaled_h);
  K2(0, 2) -= p.crop_x;
  K2(1, 2) -= p.crop_y;
  if (p.flip) {
    K2(0, 2) = (p.width - 1) - K2(0, 2);
    K2(0, 1) = -K2(0, 1);  // skew (zero for KITTI) changes sign with the mirrored x axis
  }
  return K2;
}

Pose34 augment_pose(const Pose34& T, const AugmentParams& p) {
  if (!p.flip) return T;
  Pose34 out = T;
  // D T D with D = diag(-1,1,1,1): negate row 0 and column 0 (the (0,0) entry twice).
  out.row(0) = -out.row(0);
  out.col(0) = -out.col(0);
  return out;
}

void color_jitter(cv::Mat& rgb, const AugmentParams& p) {
  if (!p.jitter) return;
  SFM_CHECK(rgb.type() == CV_32FC3, "color_jitter: expects CV_32FC3");
  const int n = rgb.rows * rgb.cols;
  float* d = rgb.ptr<float>();  // continuous (created by convertTo)
  SFM_CHECK(rgb.isContinuous(), "color_jitter: image must be continuous");
  auto clamp = [](double v) { return (float)std::min(255.0, std::max(0.0, v)); };
  // brightness
  for (int i = 0; i < 3 * n; ++i) d[i] = clamp(d[i] * p.brightness);
  // contrast: blend with the mean grey level
  double mean = 0;
  for (int i = 0; i < n; ++i) mean += 0.299 * d[3 * i] + 0.587 * d[3 * i + 1] + 0.114 * d[3 * i + 2];
  mean /= std::max(1, n);
  for (int i = 0; i < 3 * n; ++i) d[i] = clamp(mean + (d[i] - mean) * p.contrast);
  // saturation: blend with the pixel's grey level
  for (int i = 0; i < n; ++i) {
    double g = 0.299 * d[3 * i] + 0.587 * d[3 * i + 1] + 0.114 * d[3 * i + 2];
    for (int c = 0; c < 3; ++c) d[3 * i + c] = clamp(g + (d[3 * i + c] - g) * p.saturation);
  }
}

}  // namespace sfm
