#pragma once
// Data augmentation as SfMLearner does it, with exact intrinsics bookkeeping.
//
// Pixel convention (the warp's): integer pixel centres, pixel (u, v) covers
// [u-0.5, u+0.5] x [v-0.5, v+0.5]; the image spans [-0.5, W-0.5].
//   resize W0 -> W (any cv::resize mode, area or bilinear): u' = (u + 0.5) * W/W0 - 0.5, so
//                     fx' = fx * sx, cx' = (cx + 0.5) * sx - 0.5 (same for y)
//   crop at (x0, y0): u' = u - x0,          cx' = cx - x0
//   horizontal flip:  u' = (W - 1) - u,     cx' = (W - 1) - cx, fx unchanged; the flipped
//                     image is the view of the mirrored world (x -> -x), so camera-to-world
//                     poses become D T D with D = diag(-1, 1, 1, 1).
// Random transform (drawn once per snippet; all its frames, its depth map and its poses go
// through the same one): x and y scale factors uniform in [1, max_scale] (independently, as
// in SfMLearner), the scaled size truncated to integers (the intrinsics use the exact ratio
// of the integer sizes), a uniformly random crop back to (W, H), a flip with probability 1/2,
// and optionally a small colour jitter (brightness, contrast, saturation factors uniform in
// [1 - j, 1 + j]; photometric only, the same factors for every frame).
// The parameters of snippet `index` in epoch `epoch` are a pure function of
// (seed, epoch, index): worker threads, prefetching and resumption cannot change them.
#include <cstdint>

#include <Eigen/Dense>
#include <opencv2/core.hpp>

#include "train/data/dataset.h"

namespace sfm {

struct AugmentOptions {
  bool scale_crop = true;
  double max_scale = 1.15;
  bool flip = true;
  bool color_jitter = false;
  double brightness = 0.1, contrast = 0.1, saturation = 0.1;  // jitter amplitudes j
};

struct AugmentParams {
  int width = 0, height = 0;      // output size (= input size)
  int scaled_w = 0, scaled_h = 0; // size after the scale step (== width/height: no scaling)
  int crop_x = 0, crop_y = 0;
  bool flip = false;
  bool jitter = false;
  double brightness = 1, contrast = 1, saturation = 1;
  bool identity() const;
};

// Mixes (seed, epoch, index) into one 64-bit seed (splitmix64 steps).
uint64_t mix_seed(uint64_t seed, uint64_t epoch, uint64_t index, uint64_t stream = 0);
AugmentParams sample_augment(const AugmentOptions& opt, int width, int height, uint64_t seed, int64_t epoch,
                             uint64_t index);

// Geometric part on an RGB (or any 8-bit) image of size (width, height): scale (bilinear),
// crop, flip. Returns a new image of size (width, height).
cv::Mat augment_image(const cv::Mat& img, const AugmentParams& p);
// The same geometry on a depth map (CV_32F) with nearest-neighbour sampling.
cv::Mat augment_depth(const cv::Mat& depth, const AugmentParams& p);
Eigen::Matrix3d augment_intrinsics(const Eigen::Matrix3d& K, const AugmentParams& p);
Pose34 augment_pose(const Pose34& T, const AugmentParams& p);
// Photometric part on a CV_32FC3 RGB image with values in [0, 255] (in place, clamped).
void color_jitter(cv::Mat& rgb, const AugmentParams& p);

// Resizing with the pixel convention above.
cv::Mat resize_image_area(const cv::Mat& img, int width, int height);  // cv::INTER_AREA (the tensor op: sfm::resize_area)
cv::Mat resize_nearest(const cv::Mat& img, int width, int height);   // src = floor((u+0.5)*W0/W)
Eigen::Matrix3d resize_intrinsics(const Eigen::Matrix3d& K, int w0, int h0, int w, int h);

}  // namespace sfm
