#include "eval/colormap.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "boundary/error.h"
#include "engine/file_io.h"

namespace sfm::eval {

ColorMap parse_colormap(const std::string& s) {
  if (s == "magma") return ColorMap::Magma;
  if (s == "inferno") return ColorMap::Inferno;
  if (s == "plasma") return ColorMap::Plasma;
  if (s == "viridis") return ColorMap::Viridis;
  if (s == "gray" || s == "grey") return ColorMap::Gray;
  fail("unknown colour map '", s, "' (magma, inferno, plasma, viridis, gray)");
}

cv::Mat colorize(const cv::Mat& values, double lo, double hi, ColorMap map) {
  SFM_CHECK(values.type() == CV_32FC1, "colorize: expected a single-channel float image, got type ", values.type());
  cv::Mat v8(values.size(), CV_8UC1);
  cv::Mat invalid(values.size(), CV_8UC1, cv::Scalar(0));
  double range = hi > lo ? hi - lo : 1.0;
  for (int r = 0; r < values.rows; ++r) {
    const float* in = values.ptr<float>(r);
    uint8_t* out = v8.ptr<uint8_t>(r);
    uint8_t* bad = invalid.ptr<uint8_t>(r);
    for (int c = 0; c < values.cols; ++c) {
      double x = in[c];
      if (!std::isfinite(x)) {
        out[c] = 0;
        bad[c] = 255;
        continue;
      }
      double t = std::clamp((x - lo) / range, 0.0, 1.0);
      out[c] = (uint8_t)std::lround(255.0 * t);
    }
  }
  cv::Mat bgr;
  if (map == ColorMap::Gray) {
    cv::cvtColor(v8, bgr, cv::COLOR_GRAY2BGR);
  } else {
    int cm = map == ColorMap::Magma     ? cv::COLORMAP_MAGMA
             : map == ColorMap::Inferno ? cv::COLORMAP_INFERNO
             : map == ColorMap::Plasma  ? cv::COLORMAP_PLASMA
                                        : cv::COLORMAP_VIRIDIS;
    cv::applyColorMap(v8, bgr, cm);
  }
  bgr.setTo(cv::Scalar(0, 0, 0), invalid);
  return bgr;
}

std::pair<double, double> disparity_display_range(const cv::Mat& disp, double pct) {
  SFM_CHECK(disp.type() == CV_32FC1, "disparity_display_range: expected a single-channel float image");
  std::vector<float> v;
  v.reserve(disp.total());
  for (int r = 0; r < disp.rows; ++r) {
    const float* p = disp.ptr<float>(r);
    for (int c = 0; c < disp.cols; ++c)
      if (std::isfinite(p[c])) v.push_back(p[c]);
  }
  if (v.empty()) return {0.0, 1.0};
  double lo = *std::min_element(v.begin(), v.end());
  // numpy.percentile's default (linear interpolation between closest ranks).
  double pos = std::clamp(pct, 0.0, 100.0) / 100.0 * (double)(v.size() - 1);
  size_t k = (size_t)std::floor(pos);
  std::nth_element(v.begin(), v.begin() + k, v.end());
  double a = v[k];
  double b = k + 1 < v.size() ? *std::min_element(v.begin() + k + 1, v.end()) : a;
  double hi = a + (b - a) * (pos - (double)k);
  if (!(hi > lo)) hi = lo + 1e-6;
  return {lo, hi};
}

cv::Mat colorize_disparity(const cv::Mat& disp, ColorMap map, double lo, double hi) {
  if (!(hi > lo)) std::tie(lo, hi) = disparity_display_range(disp);
  return colorize(disp, lo, hi, map);
}

cv::Mat colorize_disparity(const Tensor& disp, ColorMap map) {
  SFM_CHECK(disp.defined() && disp.numel() > 0 && (disp.ndim() == 3 || (disp.ndim() == 4 && disp.dim(1) == 1)),
            "colorize_disparity: expected a [B,1,H,W] or [B,H,W] tensor, got ",
            disp.defined() ? disp.desc() : std::string("undefined"));
  int h = (int)disp.dim(-2), w = (int)disp.dim(-1);
  std::vector<float> v = disp.batch_slice(0, 1).to_vector();
  return colorize_disparity(float_image(v.data(), h, w), map);
}

cv::Mat colorize_depth(const cv::Mat& depth, double max_depth, double min_depth, ColorMap map) {
  SFM_CHECK(depth.type() == CV_32FC1, "colorize_depth: expected a single-channel float image");
  cv::Mat inv(depth.size(), CV_32FC1);
  for (int r = 0; r < depth.rows; ++r) {
    const float* p = depth.ptr<float>(r);
    float* q = inv.ptr<float>(r);
    for (int c = 0; c < depth.cols; ++c)
      q[c] = (p[c] > 0 && std::isfinite(p[c])) ? 1.f / p[c] : std::numeric_limits<float>::quiet_NaN();  // NaN: black
  }
  auto [lo, hi] = disparity_display_range(inv);
  if (max_depth > 0) lo = 1.0 / max_depth;
  if (min_depth > 0) hi = 1.0 / min_depth;
  if (!(hi > lo)) hi = lo + 1e-6;
  return colorize(inv, lo, hi, map);
}

cv::Mat float_image(const float* data, int h, int w) {
  return cv::Mat(h, w, CV_32FC1, const_cast<float*>(data)).clone();
}

cv::Mat make_grid(const std::vector<GridTile>& tiles, int cols, int pad, const cv::Scalar& bg) {
  SFM_CHECK(!tiles.empty() && cols >= 1, "make_grid: need tiles and cols >= 1");
  int cw = 0, ch = 0;
  bool captions = false;
  for (const auto& t : tiles) {
    cw = std::max(cw, t.image.cols);
    ch = std::max(ch, t.image.rows);
    captions = captions || !t.caption.empty();
  }
  SFM_CHECK(cw > 0 && ch > 0, "make_grid: every tile is empty");
  const int font = cv::FONT_HERSHEY_SIMPLEX;
  const double scale = 0.45;
  int baseline = 0;
  int text_h = captions ? cv::getTextSize("Ag", font, scale, 1, &baseline).height + baseline + 6 : 0;
  int rows = ((int)tiles.size() + cols - 1) / cols;
  int ncols = std::min(cols, (int)tiles.size());
  cv::Mat grid(pad + rows * (ch + text_h + pad), pad + ncols * (cw + pad), CV_8UC3, bg);
  for (size_t i = 0; i < tiles.size(); ++i) {
    int r = (int)i / cols, c = (int)i % cols;
    int x0 = pad + c * (cw + pad), y0 = pad + r * (ch + text_h + pad);
    const cv::Mat& im = tiles[i].image;
    if (!im.empty()) {
      SFM_CHECK(im.depth() == CV_8U && (im.channels() == 1 || im.channels() == 3), "make_grid: tile ", i,
                " must be 8-bit with 1 or 3 channels");
      cv::Mat bgr;
      if (im.channels() == 1)
        cv::cvtColor(im, bgr, cv::COLOR_GRAY2BGR);
      else
        bgr = im;
      int ox = x0 + (cw - im.cols) / 2, oy = y0 + (ch - im.rows) / 2;
      bgr.copyTo(grid(cv::Rect(ox, oy, im.cols, im.rows)));
    }
    if (!tiles[i].caption.empty()) {
      cv::Size ts = cv::getTextSize(tiles[i].caption, font, scale, 1, &baseline);
      int tx = x0 + std::max(0, (cw - ts.width) / 2);
      int ty = y0 + ch + 3 + ts.height;
      cv::putText(grid, tiles[i].caption, cv::Point(tx, ty), font, scale, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    }
  }
  return grid;
}

void write_png_atomic(const std::string& path, const cv::Mat& img) {
  std::vector<uchar> buf;
  bool ok = false;
  try {
    ok = cv::imencode(".png", img, buf);
  } catch (const cv::Exception& e) {
    fail("cannot encode PNG for ", path, ": ", e.what());
  }
  SFM_CHECK(ok, "cannot encode PNG for ", path);
  write_file_atomic(path, std::string(buf.begin(), buf.end()));
}

}  // namespace sfm::eval
