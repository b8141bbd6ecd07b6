#pragma once
// Line charts drawn with OpenCV (no plotting library): the trainer's loss-curve PNG, refreshed
// during training, the figures of the demo report and the odometry evaluation's trajectory and
// error plots (eval/odometry_plots.h).
//
// What is drawn: a title, a framed plot area with a light grid, ticks at "nice" values
// (1, 2, 5 x 10^k; powers of ten on a log axis) with readable labels ("0.25", "20k", "1e-4"),
// the x label (and an optional y label), each series in its own colour (matplotlib's tab10
// order), and a legend in the corner of the plot that the data covers least. With smoothing
// on, each series is drawn twice: the raw points faint and thin, a trailing moving average on
// top. Everything is rendered at 2x and reduced with area averaging, so lines and text come
// out anti-aliased.
//
// Data handling: points whose x or y is not finite (or y <= 0 on a log axis) are skipped and
// break the line there; a series with one usable point is drawn as a dot; series with no
// usable point are left out of the legend; with no data at all the axes are drawn with
// "no data yet" (so the trainer can refresh the PNG from its first step). x and y of a series
// must have the same length (sfm::Error naming the series otherwise).
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace sfm {

struct Series {
  std::string name;
  std::vector<double> x, y;
};

struct PlotOptions {
  int width = 900, height = 500;  // output size in pixels (at least 200 x 150)
  bool log_y = false;             // logarithmic y axis (base 10)
  int smooth_window = 0;          // > 1: trailing moving average over this many points
  std::string ylabel;             // optional, drawn vertically at the left
  bool legend = true;
  bool equal_aspect = false;      // one data unit is as long on x as on y (linear axes; trajectories
                                  // seen from above): the axis with the shorter span is widened
};

// The chart as a BGR CV_8UC3 image of opts.width x opts.height.
cv::Mat plot_image(const std::vector<Series>& series, const std::string& title, const std::string& xlabel,
                   const PlotOptions& opts = {});
// The chart as a PNG at png_path, written atomically (png_path + ".tmp", then a rename).
// Throws sfm::Error naming the path when it cannot be written (the directory must exist).
void plot_curves(const std::string& png_path, const std::vector<Series>& series, const std::string& title,
                 const std::string& xlabel, const PlotOptions& opts = {});

// The tab10 colour of series i (BGR), cycling after 10. Exposed for tests and for callers
// that draw matching colours elsewhere.
cv::Scalar series_color(size_t i);
// Trailing moving average: out[i] = mean(y[max(0, i-window+1) .. i]), over the finite values
// in that range (NaN where there are none). window <= 1 returns y unchanged.
std::vector<double> moving_average(const std::vector<double>& y, int window);

}  // namespace sfm
