#pragma once
// Visualisation: perceptual colour maps for disparity and depth, picture grids with captions,
// and atomic PNG writing. Colour maps are OpenCV's copies of matplotlib's perceptually uniform
// maps (magma by default); images are 8-bit BGR cv::Mat, as OpenCV writes them.
#include <opencv2/core.hpp>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace sfm::eval {

enum class ColorMap { Magma, Inferno, Plasma, Viridis, Gray };
ColorMap parse_colormap(const std::string& s);  // "magma" | "inferno" | "plasma" | "viridis" | "gray"

// values: CV_32F (single channel). Maps [lo, hi] linearly onto the colour map (clamped);
// non-finite values are drawn black. Returns CV_8UC3 (BGR).
cv::Mat colorize(const cv::Mat& values, double lo, double hi, ColorMap map = ColorMap::Magma);

// The display range of a disparity map, as Monodepth2 shows it: [min, 95th percentile].
std::pair<double, double> disparity_display_range(const cv::Mat& disp, double upper_percentile = 95.0);
// Disparity (near = bright). lo >= hi picks disparity_display_range per image.
cv::Mat colorize_disparity(const cv::Mat& disp, ColorMap map = ColorMap::Magma, double lo = 0, double hi = 0);
// The first map of a disparity tensor ([B,1,H,W] or [B,H,W], any device), as above.
cv::Mat colorize_disparity(const Tensor& disp, ColorMap map = ColorMap::Magma);
// Depth shown as its inverse (near = bright, like the disparity maps), over [1/max_depth,
// 1/min_depth]; pixels <= 0 (unknown ground truth, sky) are black. min_depth <= 0: the upper end
// is the 95th percentile of the valid inverse depths (as colorize_disparity); max_depth <= 0:
// the lower end is their minimum.
cv::Mat colorize_depth(const cv::Mat& depth, double max_depth = 80.0, double min_depth = 0.0,
                       ColorMap map = ColorMap::Magma);

// A float map (h x w, row-major) wrapped as a CV_32F matrix (copied).
cv::Mat float_image(const float* data, int h, int w);

struct GridTile {
  cv::Mat image;        // CV_8UC3 (BGR) or CV_8UC1 (converted); empty: a blank cell
  std::string caption;  // drawn under the tile ("" for none)
};
// Tiles in row-major order, `cols` per row; every cell has the size of the largest tile
// (smaller ones are centred), `pad` pixels between cells and around the grid, captions in a
// strip under each row when any tile of the grid has one.
cv::Mat make_grid(const std::vector<GridTile>& tiles, int cols, int pad = 4,
                  const cv::Scalar& background = cv::Scalar(255, 255, 255));

// Encodes img (8-bit, 1 or 3 channels, BGR) as PNG and writes it through a temporary file and a
// rename; throws naming the path on failure.
void write_png_atomic(const std::string& path, const cv::Mat& img);

}  // namespace sfm::eval
