#pragma once
// Inference helpers shared by `sfm infer`, `sfm eval` and the demo: loading images, preparing
// the networks' input as the design prescribes (RGB, resized to the network size with
// INTER_AREA unless already there, (x/255 - 0.5)/0.5), loading checkpoints, running DispNet in
// batches, and a small progress line.
#include <chrono>
#include <cstdint>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/tensor.h"
#include "models/dispnet.h"
#include "models/posenet.h"

namespace sfm::eval {

// ---------------------------------------------------------------- files
bool is_image_file(const std::string& path);  // .png .jpg .jpeg .bmp (any case)
bool is_video_file(const std::string& path);  // .mp4 .avi .mov .mkv .webm .m4v
// Image files of a folder (not recursive), sorted by name. Throws when it holds none.
std::vector<std::string> list_images(const std::string& dir);
// 8-bit RGB (3 channels) from any image OpenCV reads; throws naming the file.
cv::Mat load_image_rgb(const std::string& path);

// ---------------------------------------------------------------- network input
// rgb at h x w: returned as is (no copy) when already that size, else resized with INTER_AREA.
cv::Mat resize_for_network(const cv::Mat& rgb, int h, int w);
// B images (8-bit RGB, any size) -> [B,3,h,w] float32 of 0..255 values on the CPU.
Tensor images_to_tensor(const std::vector<cv::Mat>& rgb, int h, int w);
// The networks' input: images_to_tensor, normalize_images, moved to dev.
Tensor network_input(const std::vector<cv::Mat>& rgb, int h, int w, Device dev);

// ---------------------------------------------------------------- checkpoints
Device parse_device(const std::string& s);  // "cpu" | "cuda" (throws when CUDA is not available)
// A weights file, or a checkpoint folder holding default_name (e.g. dispnet.safetensors).
std::string resolve_weights(const std::string& path, const std::string& default_name);
std::unique_ptr<DispNet> load_dispnet(const std::string& path, Device dev);
// Builds PoseExpNet from what the file holds: the number of sources from conv1.0.weight, the
// mask decoder (and its sigmoid/softmax form) when predict_mask* tensors are present.
std::unique_ptr<PoseExpNet> load_posenet(const std::string& path, Device dev);

// ---------------------------------------------------------------- DispNet
// Finest disparity of each image: [B,1,h,w] on the CPU (float32).
Tensor predict_disparity(DispNet& net, const std::vector<cv::Mat>& rgb, int h, int w);
// Plane b of a [B,1,h,w] or [B,h,w] CPU tensor as a CV_32F matrix (copied).
cv::Mat disparity_plane(const Tensor& disp, int64_t b);

// ---------------------------------------------------------------- progress
// "label [#####.....] 42/100 12.3/s" redrawn in place on a terminal; on a pipe or file, a
// plain line every 10% (or every 100 items when the total is unknown, total < 0).
class ProgressLine {
 public:
  ProgressLine(std::string label, int64_t total);
  void advance(int64_t n = 1);
  void finish();
  ~ProgressLine();

 private:
  void draw(bool final);
  std::string label_;
  int64_t total_, done_ = 0, last_printed_ = 0;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace sfm::eval
