#pragma once
// Tensor -> picture conversions for logs and reports.
#include <opencv2/core.hpp>

#include "engine/tensor.h"

namespace sfm {

// Item b of a normalised RGB tensor [B,3,H,W] ((x/255-0.5)/0.5) as an 8-bit BGR image.
cv::Mat normalized_rgb_to_bgr(const Tensor& img, int64_t b = 0);
// Item b, channel c of a [B,C,H,W] map with values in [0,1] as an 8-bit gray image.
cv::Mat unit_map_to_gray(const Tensor& map, int64_t b = 0, int64_t c = 0);

}  // namespace sfm
