// Loss-curve plots: file output (size, atomic write, errors) and where the curves land,
// found by the series' colours in the rendered image.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "boundary/error.h"
#include "eval/plot.h"

using namespace sfm;
namespace fs = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("sfm_test_plot_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}
// Removes a test case's directory, and the per-process parent once it is empty.
void cleanup(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::remove(fs::path(dir).parent_path(), ec);  // fails harmlessly while other cases' dirs exist
}

// Pixels within `tol` (per channel) of a series colour. Lines are 2 px wide after the 2x
// supersampling, so each has a core of exactly the colour; anti-aliased edges, the white
// background, the grey grid and the other tab10 colours are all more than 40 away in some
// channel, so 40 keeps the core and nothing else.
cv::Mat color_mask(const cv::Mat& img, const cv::Scalar& c, int tol = 40) {
  cv::Mat m;
  cv::inRange(img, c - cv::Scalar::all(tol), c + cv::Scalar::all(tol), m);
  return m;
}

// Mean row of the mask's pixels in column c (-1 when none).
double mean_row(const cv::Mat& mask, int c) {
  double sum = 0;
  int n = 0;
  for (int r = 0; r < mask.rows; ++r)
    if (mask.at<uchar>(r, c)) {
      sum += r;
      ++n;
    }
  return n ? sum / n : -1;
}

// First and last columns holding mask pixels.
std::pair<int, int> column_extent(const cv::Mat& mask) {
  int c0 = -1, c1 = -1;
  for (int c = 0; c < mask.cols; ++c)
    if (cv::countNonZero(mask.col(c)) > 0) {
      if (c0 < 0) c0 = c;
      c1 = c;
    }
  return {c0, c1};
}

Series line(const std::string& name, int n, double (*f)(double)) {
  Series s{name, {}, {}};
  for (int i = 0; i <= n; ++i) {
    s.x.push_back(i);
    s.y.push_back(f(i));
  }
  return s;
}

PlotOptions no_legend() {
  PlotOptions o;
  o.legend = false;
  return o;
}

}  // namespace

TEST_CASE("plot: writes a PNG of the requested size, atomically", "[plot]") {
  std::string dir = fresh_dir("files");
  std::string p = dir + "/loss.png";
  Series s = line("loss", 50, [](double x) { return 1.0 / (1 + x); });
  plot_curves(p, {s}, "training loss", "step");
  cv::Mat img = cv::imread(p, cv::IMREAD_UNCHANGED);
  REQUIRE(img.type() == CV_8UC3);
  REQUIRE(img.cols == 900);
  REQUIRE(img.rows == 500);
  REQUIRE_FALSE(fs::exists(p + ".tmp"));

  // Refreshing replaces the file, at another size here.
  PlotOptions o;
  o.width = 640;
  o.height = 360;
  o.log_y = true;
  o.smooth_window = 5;
  o.ylabel = "loss";
  plot_curves(p, {s}, "training loss", "step", o);
  img = cv::imread(p);
  REQUIRE(img.cols == 640);
  REQUIRE(img.rows == 360);
  REQUIRE_FALSE(fs::exists(p + ".tmp"));
  for (const auto& e : fs::directory_iterator(dir)) REQUIRE(e.path().filename() == "loss.png");

  // plot_image gives the same picture as the file holds (PNG is lossless).
  REQUIRE(cv::norm(plot_image({s}, "training loss", "step", o), img, cv::NORM_INF) == 0);

  // Errors name the path / the series; nothing is left behind.
  std::string missing = dir + "/no_such_dir/loss.png";
  REQUIRE_THROWS_WITH(plot_curves(missing, {s}, "t", "x"), Catch::Contains(missing));
  REQUIRE_FALSE(fs::exists(dir + "/no_such_dir"));
  Series bad{"val/photometric", {1, 2, 3}, {1, 2}};
  REQUIRE_THROWS_WITH(plot_image({s, bad}, "t", "x"), Catch::Contains("val/photometric"));
  PlotOptions tiny;
  tiny.width = 50;
  REQUIRE_THROWS_AS(plot_image({s}, "t", "x", tiny), sfm::Error);
  cleanup(dir);
}

TEST_CASE("plot: a rising line is drawn higher on the right, a falling one lower", "[plot]") {
  Series up = line("up", 100, [](double x) { return x; });
  Series down = line("down", 100, [](double x) { return 100 - 0.5 * x; });
  cv::Mat img = plot_image({up, down}, "two lines", "x", no_legend());
  cv::Mat mu = color_mask(img, series_color(0)), md = color_mask(img, series_color(1));
  REQUIRE(cv::countNonZero(mu) > 500);
  REQUIRE(cv::countNonZero(md) > 500);
  auto [u0, u1] = column_extent(mu);
  auto [d0, d1] = column_extent(md);
  // Both span the same x range (0..100), which fills most of the 900-px width.
  REQUIRE(u1 - u0 > 700);
  REQUIRE(std::abs(u0 - d0) <= 2);
  REQUIRE(std::abs(u1 - d1) <= 2);
  // Rows grow downwards: the rising line ends far above where it starts; the falling line,
  // whose drop is half as large, ends below where it starts by about half as much (the
  // lines' y range is 0..100 over the same axis: 2 px of slack for width and rounding).
  double up_l = mean_row(mu, u0 + 3), up_r = mean_row(mu, u1 - 3);
  double dn_l = mean_row(md, d0 + 3), dn_r = mean_row(md, d1 - 3);
  REQUIRE(up_l - up_r > 250);
  REQUIRE(dn_r - dn_l > 100);
  REQUIRE((dn_r - dn_l) == Approx((up_l - up_r) / 2).margin(3));
  // At x = 0 the falling line (y = 100) is at the top, the rising one (y = 0) at the bottom.
  REQUIRE(dn_l < up_l);
  REQUIRE(std::abs(dn_l - up_r) <= 3);  // both at y = 100 (x = 0 and x = 100 respectively)
}

TEST_CASE("plot: a log y axis straightens an exponential", "[plot]") {
  Series e = line("exp", 100, [](double x) { return std::pow(10.0, x / 25.0); });  // 1 .. 1e4
  PlotOptions o = no_legend();
  for (bool log_y : {true, false}) {
    o.log_y = log_y;
    cv::Mat m = color_mask(plot_image({e}, "exp", "x", o), series_color(0));
    auto [c0, c1] = column_extent(m);
    REQUIRE(c1 - c0 > 700);
    double left = mean_row(m, c0 + 3), right = mean_row(m, c1 - 3), mid = mean_row(m, (c0 + c1) / 2);
    REQUIRE(left - right > 250);
    // How far up from the left end the middle (x = 50, y = 100) lies, as a fraction of the rise.
    double frac = (left - mid) / (left - right);
    if (log_y)
      REQUIRE(frac == Approx(0.5).margin(0.02));  // a straight line: halfway (2% = ~7 px slack)
    else
      REQUIRE(frac < 0.03);  // 100 of 10000: about 1% of the way up
  }
}

TEST_CASE("plot: legend goes to an empty corner, in the series colours", "[plot]") {
  // y = x leaves the top-left and bottom-right corners empty; the top right (the first
  // choice) is where the line ends, so the legend must move to the top left.
  Series up = line("rising series", 100, [](double x) { return x; });
  cv::Mat with = plot_image({up}, "legend", "x");
  cv::Mat without = plot_image({up}, "legend", "x", no_legend());
  cv::Mat diff;
  cv::absdiff(with, without, diff);
  cv::cvtColor(diff, diff, cv::COLOR_BGR2GRAY);
  cv::Mat changed = diff > 0;
  REQUIRE(cv::countNonZero(changed) > 200);
  cv::Rect box = cv::boundingRect(changed);
  REQUIRE(box.x + box.width < with.cols / 2);
  REQUIRE(box.y + box.height < with.rows / 2);
  // The legend's swatch is drawn in the series colour.
  REQUIRE(cv::countNonZero(color_mask(with(box), series_color(0))) > 20);
  // An unnamed series gets no legend entry.
  Series anon = up;
  anon.name = "";
  REQUIRE(cv::norm(plot_image({anon}, "legend", "x"), without, cv::NORM_INF) == 0);
}

TEST_CASE("plot: moving-average smoothing", "[plot]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Trailing window of 3 over the finite values (sums of small integers: exact in double).
  auto m = moving_average({1, 2, 3, 4, nan, 6}, 3);
  REQUIRE(m == std::vector<double>{1, 1.5, 2, 3, 3.5, 5});
  REQUIRE(moving_average({1, 5}, 1) == std::vector<double>{1, 5});
  REQUIRE(std::isnan(moving_average({nan, nan, 2}, 2)[1]));

  // 0.5 +- 0.2 alternating: smoothed over 2 points it is a flat 0.5 (after the first point).
  Series s{"noisy", {}, {}};
  for (int i = 0; i <= 200; ++i) {
    s.x.push_back(i);
    s.y.push_back(0.5 + (i % 2 ? 0.2 : -0.2));
  }
  PlotOptions o = no_legend();
  auto spread = [&](int window) {
    o.smooth_window = window;
    cv::Mat mk = color_mask(plot_image({s}, "noise", "x", o), series_color(0));
    auto [c0, c1] = column_extent(mk);
    int lo = mk.rows, hi = -1;
    for (int c = c0 + (c1 - c0) / 10; c <= c1; ++c)  // skip the first 10% (the first point is 0.3)
      for (int r = 0; r < mk.rows; ++r)
        if (mk.at<uchar>(r, c)) {
          lo = std::min(lo, r);
          hi = std::max(hi, r);
        }
    return hi - lo;
  };
  // Raw: the full-colour line zigzags over the whole 0.3..0.7 range (~380 px of the plot).
  REQUIRE(spread(0) > 250);
  // Smoothed: the full-colour line is a flat band a few pixels thick; the raw zigzag is still
  // drawn, but faint (30% of the colour), which the colour mask does not pick up.
  REQUIRE(spread(2) <= 6);
}

TEST_CASE("plot: no data, non-finite values and non-positive values on a log axis", "[plot]") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  cv::Mat empty = plot_image({}, "no data", "step");
  REQUIRE(empty.size() == cv::Size(900, 500));
  Series none{"none", {}, {}};
  REQUIRE(plot_image({none}, "no data", "step").size() == cv::Size(900, 500));
  // A NaN breaks the line: the two finite pieces are drawn, nothing in the gap between them.
  Series gap{"gap", {0, 1, 2, 3, 4, 5, 6}, {1, 1, 1, nan, 1, 1, inf}};
  cv::Mat mk = color_mask(plot_image({gap}, "gap", "x", no_legend()), series_color(0));
  auto [c0, c1] = column_extent(mk);
  REQUIRE(c0 >= 0);
  const double px_per_unit = (c1 - c0) / 5.0;  // points 0..5 drawn (6 is inf)
  int mid = c0 + (int)std::lround(3 * px_per_unit);
  REQUIRE(cv::countNonZero(mk.colRange(mid - 20, mid + 20)) == 0);
  REQUIRE(cv::countNonZero(mk.colRange(c0, c0 + 20)) > 0);
  // Log axis: y <= 0 is skipped the same way.
  Series nonpos{"nonpos", {0, 1, 2, 3}, {1, 0, -1, 10}};
  PlotOptions o;
  o.log_y = true;
  REQUIRE(plot_image({nonpos}, "log", "x", o).size() == cv::Size(900, 500));
}

TEST_CASE("plot: equal_aspect draws a 10:1 rectangle 10:1 on a square canvas", "[plot]") {
  // A trajectory seen from above must keep its shape (sfm eval odometry --plots): one metre as
  // long on x as on y. The outline of a 100 x 10 rectangle, on a 700 x 700 canvas.
  Series rect{"rect", {0, 100, 100, 0, 0}, {0, 0, 10, 10, 0}};
  PlotOptions o = no_legend();
  o.width = o.height = 700;
  auto extent = [&](const PlotOptions& opts) {
    cv::Mat m = color_mask(plot_image({rect}, "", "x", opts), series_color(0));
    cv::Rect box = cv::boundingRect(m);
    return std::make_pair(box.width, box.height);
  };
  auto [w0, h0] = extent(o);  // stretched to fill the plot area
  CHECK(w0 > 400);
  CHECK(h0 > 300);
  o.equal_aspect = true;
  auto [w, h] = extent(o);
  INFO("box " << w << " x " << h);
  CHECK(w > 400);
  // 10:1, up to the 2-px line width on each side of the short side.
  CHECK((double)w / (h - 2) == Approx(10.0).epsilon(0.15));
}
