#pragma once
// Single-view depth metrics as the SfMLearner / Monodepth family reports them: abs rel, sq rel,
// rmse, rmse log and the threshold accuracies delta < 1.25, 1.25^2, 1.25^3, computed per image
// on the valid ground-truth pixels and averaged over images.
//
// Per image (compute_depth_metrics):
//   1. valid = min_depth < gt < max_depth (and gt finite), inside the Garg crop when asked
//      (rows int(0.40810811 H) .. int(0.99189189 H), cols int(0.03594771 W) .. int(0.96405229 W),
//      half-open, of the ground-truth size, as the reference scripts compute it);
//   2. median scaling (optional): s = median(gt[valid]) / median(pred[valid]), pred *= s
//      (numpy's median: the mean of the two middle values for an even count);
//   3. the prediction clamped to [min_depth, max_depth];
//   4. the metrics on the valid pixels.
// ClampOrder::PytorchPort reproduces the PyTorch port's test_disp.py instead: the median is
// taken of the clamped prediction, and the scaled prediction is scored *unclamped*.
//
// Everything here is plain C++ (no OpenCV in the interface), so the trainer can call it during
// validation and the demo on its own data.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace sfm::eval {

enum class ClampOrder {
  AfterScaling,  // original SfMLearner, Monodepth2: scale, then clamp, then score (the right one)
  PytorchPort,   // ClementPinard/SfmLearner-Pytorch: median of the clamped prediction, scores the unclamped one
};
ClampOrder parse_clamp_order(const std::string& s);  // "standard" | "pytorch-port" (sfm eval depth --scoring)
const char* clamp_order_name(ClampOrder c);

struct DepthEvalOptions {
  double min_depth = 1e-3;
  double max_depth = 80.0;
  bool garg_crop = false;       // the Eigen-split crop (KITTI protocol)
  bool median_scaling = true;   // per-image median ratio (monocular methods have no scale)
  ClampOrder clamp = ClampOrder::AfterScaling;
};

struct DepthMetrics {
  double abs_rel = 0, sq_rel = 0, rmse = 0, rmse_log = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t valid_pixels = 0;  // pixels scored (0: the image had no valid ground truth)
  double scale = 1.0;        // the median ratio applied (1 without median scaling)
};

// Metric names in report order, and the matching values of m.
const std::vector<std::string>& depth_metric_names();  // abs_rel, sq_rel, rmse, rmse_log, a1, a2, a3
std::vector<double> depth_metric_values(const DepthMetrics& m);

// The Garg crop of an H x W ground truth: rows [r0, r1), cols [c0, c1).
struct CropBox {
  int r0, r1, c0, c1;
};
CropBox garg_crop_box(int H, int W);

// gt and pred_depth: H x W depth maps (row-major, metres). Throws sfm::Error (naming `what`, an
// image or file) when the prediction has a non-positive or non-finite value on a valid pixel.
// An image without valid pixels returns valid_pixels == 0 and zero metrics.
DepthMetrics compute_depth_metrics(const float* gt, const float* pred_depth, int H, int W,
                                   const DepthEvalOptions& opt, const std::string& what = "image");
DepthMetrics compute_depth_metrics(const std::vector<float>& gt, const std::vector<float>& pred_depth, int H,
                                   int W, const DepthEvalOptions& opt, const std::string& what = "image");

// numpy-compatible median (mean of the two middle values for an even count); v is reordered.
double median_inplace(std::vector<double>& v);

enum class PredResize {
  Depth,      // depth = 1/disp at the network size, then bilinearly resized (original SfMLearner)
  Disparity,  // disparity resized, then inverted (Monodepth2)
};
PredResize parse_pred_resize(const std::string& s);  // "depth" | "disparity" (sfm eval depth --resize)
const char* pred_resize_name(PredResize r);
// Disparity h x w -> depth H x W (bilinear resize as cv::resize INTER_LINEAR, half-pixel
// centres). Throws naming `what` on a non-positive disparity.
std::vector<float> disparity_to_depth(const float* disp, int h, int w, int H, int W, PredResize mode,
                                      const std::string& what = "prediction");
// Bilinear resize of a single-channel float map (cv::resize INTER_LINEAR semantics).
std::vector<float> resize_bilinear(const float* src, int h, int w, int H, int W);

// Averages metrics over images; images without valid ground truth are counted apart and do
// not enter the mean.
struct DepthMetricsAccumulator {
  int64_t images = 0;          // images that entered the mean
  int64_t skipped = 0;         // images without any valid ground-truth pixel
  int64_t valid_pixels = 0;
  DepthMetrics sum{0, 0, 0, 0, 0, 0, 0, 0, 0.0};  // running sums (scale: sum of the scales)

  void add(const DepthMetrics& m);
  // Scores one image and adds it; returns its metrics.
  DepthMetrics add(const float* gt, const float* pred_depth, int H, int W, const DepthEvalOptions& opt,
                   const std::string& what = "image");
  // A batch: gt_depth [B,1,H,W] or [B,H,W] (0 where unknown), pred_disp [B,1,h,w] or [B,h,w]
  // (any device; the network's finest disparity). The prediction is turned into depth at the
  // ground-truth size (see PredResize) and scored image by image.
  void add_batch(const Tensor& gt_depth, const Tensor& pred_disp, const DepthEvalOptions& opt,
                 PredResize resize = PredResize::Depth);
  DepthMetrics mean() const;  // zeros when no image was added
  void merge(const DepthMetricsAccumulator& other);
};

}  // namespace sfm::eval
