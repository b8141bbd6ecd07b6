#include "train/data/image_util.h"

#include <algorithm>
#include <cmath>

namespace sfm {

cv::Mat normalized_rgb_to_bgr(const Tensor& img, int64_t b) {
  SFM_CHECK(img.ndim() == 4 && img.dim(1) == 3, "normalized_rgb_to_bgr: expected [B,3,H,W], got ", img.desc());
  std::vector<float> v = img.batch_slice(b, b + 1).to_vector();
  const int H = (int)img.dim(2), W = (int)img.dim(3);
  cv::Mat m(H, W, CV_8UC3);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < 3; ++c) {
        float f = (v[(size_t)c * H * W + (size_t)y * W + x] * 0.5f + 0.5f) * 255.0f;
        m.at<cv::Vec3b>(y, x)[2 - c] = (uint8_t)std::lround(std::clamp(f, 0.0f, 255.0f));
      }
  return m;
}

cv::Mat unit_map_to_gray(const Tensor& map, int64_t b, int64_t c) {
  SFM_CHECK(map.ndim() == 4, "unit_map_to_gray: expected [B,C,H,W], got ", map.desc());
  std::vector<float> v = map.batch_slice(b, b + 1).to_vector();
  const int H = (int)map.dim(2), W = (int)map.dim(3);
  cv::Mat m(H, W, CV_8UC1);
  const float* p = v.data() + (size_t)c * H * W;
  for (int i = 0; i < H * W; ++i) m.data[i] = (uint8_t)std::lround(std::clamp(p[i], 0.0f, 1.0f) * 255.0f);
  return m;
}

}  // namespace sfm
