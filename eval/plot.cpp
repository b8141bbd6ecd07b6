// Line charts with OpenCV (see plot.h).
#include "eval/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "boundary/error.h"
#include "engine/file_io.h"

namespace sfm {

namespace {

constexpr int kSuper = 2;         // render at 2x, then reduce with area averaging
constexpr int kShift = 3;         // sub-pixel bits for OpenCV drawing
constexpr double kSub = 1 << kShift;
const int kFont = cv::FONT_HERSHEY_SIMPLEX;
const cv::Scalar kTextColor(40, 40, 40), kTickColor(80, 80, 80), kGridColor(232, 232, 232),
    kMinorGridColor(244, 244, 244), kFrameColor(150, 150, 150);

// ---- ticks and their labels ------------------------------------------------------------------
// The "nice" step (1, 2 or 5 x 10^k) that splits `span` into about `target` intervals.
double nice_step(double span, int target) {
  double raw = span / std::max(1, target);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double f = raw / mag;
  double nice = f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10;
  return nice * mag;
}

std::vector<double> ticks_in(double lo, double hi, double step) {
  std::vector<double> t;
  double first = std::ceil(lo / step - 1e-9) * step;
  for (int i = 0; i < 100; ++i) {
    double v = first + i * step;
    if (v > hi + step * 1e-9) break;
    if (std::fabs(v) < step * 1e-9) v = 0;  // no "-0" or 1e-17 from rounding
    t.push_back(v);
  }
  return t;
}

std::string trim_zeros(std::string s) {
  if (s.find('.') == std::string::npos) return s;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", std::clamp(decimals, 0, 12), v);
  return buf;
}

// "2.5e-5": mantissa with as many decimals as `rel_step` (the step in units of 10^exponent) needs.
std::string scientific(double v, double rel_step) {
  int e = (int)std::floor(std::log10(std::fabs(v)) + 1e-9);
  double m = v / std::pow(10.0, e);
  int dec = rel_step > 0 ? std::max(0, (int)std::ceil(-std::log10(rel_step) - 1e-9)) : 3;
  std::string ms = trim_zeros(fixed(m, std::min(dec, 3)));
  if (ms == "10" || ms == "-10") {  // rounding pushed the mantissa up a decade
    ms = v < 0 ? "-1" : "1";
    ++e;
  }
  return ms + "e" + std::to_string(e);
}

// Labels for the ticks of a linear axis with spacing `step`, in one style for the whole axis
// so they read alike: "0 2k 4k ... 10k", "0.10 0.15 0.20", "2.5e-5 5e-5".
std::vector<std::string> linear_labels(const std::vector<double>& ticks, double step) {
  double maxabs = 0;
  for (double v : ticks) maxabs = std::max(maxabs, std::fabs(v));
  const int decimals = std::max(0, (int)std::ceil(-std::log10(step) - 1e-9));
  std::vector<std::string> out;
  for (double v : ticks) {
    if (v == 0) {
      out.push_back("0");
    } else if (maxabs >= 1e4 && maxabs < 1e9 && step >= 100) {  // thousands / millions
      double unit = maxabs >= 1e6 ? 1e6 : 1e3;
      int d = std::max(0, (int)std::ceil(-std::log10(step / unit) - 1e-9));
      out.push_back(trim_zeros(fixed(v / unit, d)) + (unit == 1e6 ? "M" : "k"));
    } else if (maxabs < 1e-3 || maxabs >= 1e9 || decimals > 4) {
      int e = (int)std::floor(std::log10(std::fabs(v)) + 1e-9);
      out.push_back(scientific(v, step / std::pow(10.0, e)));
    } else {
      out.push_back(fixed(v, decimals));
    }
  }
  return out;
}

// A label for a value on a log axis (each tick is its own precision).
std::string format_log_tick(double v) {
  if (v >= 1e-3 && v < 1e4) {
    int decimals = std::max(0, (int)std::ceil(-std::log10(v) - 1e-9) + 1);
    return trim_zeros(fixed(v, decimals));
  }
  if (v >= 1e4 && v < 1e9) return linear_labels({v}, v >= 1e6 ? 1e5 : 1e2)[0];
  return scientific(v, 1.0);
}

struct Axis {
  double lo = 0, hi = 1;       // in plotted units (log10 of the value on a log axis)
  std::vector<double> major;   // plotted units
  std::vector<std::string> labels;
  std::vector<double> minor;   // plotted units (log axes only)
};

Axis linear_axis(double lo, double hi, int target, bool pad) {
  Axis a;
  if (!(hi > lo)) {
    double d = lo == 0 ? 1.0 : std::fabs(lo) * 0.1;
    lo -= d;
    hi += d;
  } else if (pad) {
    double d = (hi - lo) * 0.05;
    lo -= d;
    hi += d;
  }
  a.lo = lo;
  a.hi = hi;
  double step = nice_step(hi - lo, target);
  a.major = ticks_in(lo, hi, step);
  a.labels = linear_labels(a.major, step);
  return a;
}

// lo, hi: log10 of the smallest and largest values.
Axis log_axis(double lo, double hi, int target) {
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  } else {
    double d = (hi - lo) * 0.05;
    lo -= d;
    hi += d;
  }
  Axis a;
  a.lo = lo;
  a.hi = hi;
  const double span = hi - lo;
  // Minor grid lines at 2..9 x 10^k while they are not too dense.
  if (span <= 4.5)
    for (int e = (int)std::floor(lo); e <= hi; ++e)
      for (int m = 2; m <= 9; ++m) {
        double p = e + std::log10((double)m);
        if (p > lo && p < hi) a.minor.push_back(p);
      }
  // Labels at 1, 2, 5 x 10^k when that gives 3..9 ticks; at (every k-th) decade when the
  // range is wider; under that, a linear nice step in value units placed on the log axis.
  std::vector<double> vals;
  for (int e = (int)std::floor(lo) - 1; e <= (int)std::ceil(hi) + 1; ++e)
    for (double m : {1.0, 2.0, 5.0}) {
      double p = e + std::log10(m);
      if (p >= lo - 1e-9 && p <= hi + 1e-9) vals.push_back(std::pow(10.0, p));
    }
  if (vals.size() > 9) {
    int k = std::max(1, (int)std::ceil(span / target));
    for (int e = (int)std::ceil(lo - 1e-9); e <= hi + 1e-9; ++e) {
      if (e % k != 0) continue;
      a.major.push_back(e);
      a.labels.push_back(format_log_tick(std::pow(10.0, e)));
    }
    return a;
  }
  if (vals.size() >= 3) {
    for (double v : vals) {
      a.major.push_back(std::log10(v));
      a.labels.push_back(format_log_tick(v));
    }
    return a;
  }
  double vlo = std::pow(10.0, lo), vhi = std::pow(10.0, hi);
  double step = nice_step(vhi - vlo, target);
  std::vector<double> ticks;
  for (double v : ticks_in(vlo, vhi, step))
    if (v > 0) ticks.push_back(v);
  a.labels = linear_labels(ticks, step);
  for (double v : ticks) a.major.push_back(std::log10(v));
  return a;
}

// ---- text ----------------------------------------------------------------------------------
struct Font {
  double scale;
  int thickness;
};

cv::Size text_size(const std::string& s, Font f, int* baseline = nullptr) {
  int b = 0;
  cv::Size sz = cv::getTextSize(s, kFont, f.scale, f.thickness, &b);
  if (baseline) *baseline = b;
  return sz;
}

// Draws s with its box's horizontal anchor at x (align: 0 left, 1 centre, 2 right) and its
// cap height centred on y_mid.
void put_text(cv::Mat& img, const std::string& s, int x, int y_mid, int align, Font f, const cv::Scalar& color) {
  cv::Size sz = text_size(s, f);
  int x0 = align == 0 ? x : align == 1 ? x - sz.width / 2 : x - sz.width;
  cv::putText(img, s, cv::Point(x0, y_mid + sz.height / 2), kFont, f.scale, color, f.thickness, cv::LINE_AA);
}

// Text rotated 90 degrees counter-clockwise, centred on (cx, cy); dark text on white is
// combined with the canvas by a per-pixel minimum.
void put_vertical_text(cv::Mat& img, const std::string& s, int cx, int cy, Font f, const cv::Scalar& color) {
  int base = 0;
  cv::Size sz = text_size(s, f, &base);
  cv::Mat t(sz.height + base + 4, sz.width + 4, CV_8UC3, cv::Scalar::all(255));
  cv::putText(t, s, cv::Point(2, sz.height + 2), kFont, f.scale, color, f.thickness, cv::LINE_AA);
  cv::Mat r;
  cv::rotate(t, r, cv::ROTATE_90_COUNTERCLOCKWISE);
  cv::Rect dst(cx - r.cols / 2, cy - r.rows / 2, r.cols, r.rows);
  dst &= cv::Rect(0, 0, img.cols, img.rows);
  if (dst.empty()) return;
  cv::Mat src = r(cv::Rect(dst.x - (cx - r.cols / 2), dst.y - (cy - r.rows / 2), dst.width, dst.height));
  cv::Mat roi = img(dst);
  cv::min(roi, src, roi);
}

// ---- data ----------------------------------------------------------------------------------
struct Prepared {
  std::string name;
  cv::Scalar color;
  std::vector<double> x, y, ys;  // ys: smoothed (empty without smoothing); y in plotted units
  bool any = false;
};

double to_plot_y(double v, bool log_y) {
  if (!std::isfinite(v)) return std::numeric_limits<double>::quiet_NaN();
  if (log_y) return v > 0 ? std::log10(v) : std::numeric_limits<double>::quiet_NaN();
  return v;
}

cv::Scalar blend_white(const cv::Scalar& c, double keep) {
  return cv::Scalar(255 - (255 - c[0]) * keep, 255 - (255 - c[1]) * keep, 255 - (255 - c[2]) * keep);
}

// Runs of consecutive usable points, as sub-pixel polylines in plot-area coordinates.
std::vector<std::vector<cv::Point>> polylines_of(const std::vector<double>& x, const std::vector<double>& y,
                                                 const Axis& ax, const Axis& ay, cv::Size area) {
  std::vector<std::vector<cv::Point>> runs(1);
  const double sx = (area.width - 1) / (ax.hi - ax.lo), sy = (area.height - 1) / (ay.hi - ay.lo);
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i]) || !std::isfinite(y[i])) {
      if (!runs.back().empty()) runs.emplace_back();
      continue;
    }
    // Clamp far-away values so integer coordinates cannot overflow (they are clipped anyway).
    double px = std::clamp((x[i] - ax.lo) * sx, -1e5, 1e5);
    double py = std::clamp((ay.hi - y[i]) * sy, -1e5, 1e5);
    runs.back().emplace_back((int)std::lround(px * kSub), (int)std::lround(py * kSub));
  }
  if (runs.back().empty()) runs.pop_back();
  return runs;
}

void draw_runs(cv::Mat& area, const std::vector<std::vector<cv::Point>>& runs, const cv::Scalar& color,
               int thickness) {
  for (const auto& r : runs) {
    if (r.size() == 1)
      cv::circle(area, r[0], (int)(thickness * 2.0 * kSub), color, cv::FILLED, cv::LINE_AA, kShift);
    else
      cv::polylines(area, r, false, color, thickness, cv::LINE_AA, kShift);
  }
}

}  // namespace

cv::Scalar series_color(size_t i) {
  // matplotlib's tab10, as BGR.
  static const cv::Scalar kTab10[10] = {
      {180, 119, 31}, {14, 127, 255}, {44, 160, 44},   {40, 39, 214},  {189, 103, 148},
      {75, 86, 140},  {194, 119, 227}, {127, 127, 127}, {34, 189, 188}, {207, 190, 23}};
  return kTab10[i % 10];
}

std::vector<double> moving_average(const std::vector<double>& y, int window) {
  if (window <= 1) return y;
  std::vector<double> out(y.size());
  double sum = 0;
  int64_t count = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    if (std::isfinite(y[i])) {
      sum += y[i];
      ++count;
    }
    if (i >= (size_t)window && std::isfinite(y[i - window])) {
      sum -= y[i - window];
      --count;
    }
    out[i] = count > 0 ? sum / count : std::numeric_limits<double>::quiet_NaN();
  }
  return out;
}

cv::Mat plot_image(const std::vector<Series>& series, const std::string& title, const std::string& xlabel,
                   const PlotOptions& opts) {
  SFM_CHECK(opts.width >= 200 && opts.height >= 150 && opts.width <= 8000 && opts.height <= 8000,
            "plot '", title, "': size ", opts.width, "x", opts.height, " outside 200x150 .. 8000x8000");
  const int S = kSuper;
  const int W = opts.width * S, H = opts.height * S;
  // Sizes are designed for 900x500 and follow the image's size from there.
  const double k = std::clamp(std::min(opts.width / 900.0, opts.height / 500.0), 0.7, 2.5) * S;
  const Font f_title{0.68 * k, std::max(1, (int)std::lround(1.6 * k))};
  const Font f_label{0.52 * k, std::max(1, (int)std::lround(1.0 * k))};
  const Font f_tick{0.44 * k, std::max(1, (int)std::lround(1.0 * k))};
  const Font f_legend{0.46 * k, std::max(1, (int)std::lround(1.0 * k))};
  const int line_w = std::max(1, (int)std::lround(2.0 * k));
  const int raw_w = std::max(1, (int)std::lround(1.0 * k));
  const int pad = (int)std::lround(10 * k);

  // ---- data and ranges ----
  std::vector<Prepared> prep;
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    SFM_CHECK(s.x.size() == s.y.size(), "plot '", title, "': series '", s.name, "' has ", s.x.size(),
              " x values but ", s.y.size(), " y values");
    Prepared p;
    p.name = s.name;
    p.color = series_color(i);
    p.x = s.x;
    p.y.resize(s.y.size());
    for (size_t j = 0; j < s.y.size(); ++j) {
      p.y[j] = to_plot_y(s.y[j], opts.log_y);
      if (std::isfinite(p.x[j]) && std::isfinite(p.y[j])) {
        p.any = true;
        xmin = std::min(xmin, p.x[j]);
        xmax = std::max(xmax, p.x[j]);
        ymin = std::min(ymin, p.y[j]);
        ymax = std::max(ymax, p.y[j]);
      }
    }
    if (opts.smooth_window > 1) {
      std::vector<double> sm = moving_average(s.y, opts.smooth_window);
      p.ys.resize(sm.size());
      for (size_t j = 0; j < sm.size(); ++j) p.ys[j] = to_plot_y(sm[j], opts.log_y);
    }
    prep.push_back(std::move(p));
  }
  const bool have_data = std::isfinite(xmin);
  if (!have_data) {
    xmin = 0;
    xmax = 1;
    ymin = opts.log_y ? -1 : 0;
    ymax = opts.log_y ? 0 : 1;
  }
  Axis ax = linear_axis(xmin, xmax, 8, /*pad=*/opts.equal_aspect);  // a trajectory off the frame edges
  Axis ay = opts.log_y ? log_axis(ymin, ymax, 6) : linear_axis(ymin, ymax, 6, /*pad=*/true);

  // ---- layout ----
  int ytick_w = 0;
  for (const auto& l : ay.labels) ytick_w = std::max(ytick_w, text_size(l, f_tick).width);
  const int tick_len = (int)std::lround(5 * k);
  const int tick_h = text_size("0", f_tick).height;
  const int title_h = title.empty() ? 0 : text_size("Ag", f_title).height;
  const int label_h = text_size("Ag", f_label).height;
  int left = pad + ytick_w + tick_len + pad / 2 + (opts.ylabel.empty() ? 0 : label_h + pad);
  int last_xw = ax.labels.empty() ? 0 : text_size(ax.labels.back(), f_tick).width;
  int right = std::max(pad * 2, last_xw / 2 + pad);
  int top = title.empty() ? pad * 2 : title_h + pad * 3;
  int bottom = tick_len + pad / 2 + tick_h + pad + (xlabel.empty() ? 0 : label_h + pad) + pad / 2;
  cv::Rect area_rect(left, top, W - left - right, H - top - bottom);
  SFM_CHECK(area_rect.width > 20 && area_rect.height > 20, "plot '", title, "': ", opts.width, "x", opts.height,
            " leaves no room for the plot area");

  if (opts.equal_aspect && !opts.log_y) {
    // Units per pixel made equal by widening the axis that has fewer, about its centre. (The tick
    // labels may change a little; the layout above is kept.)
    const double ux = (ax.hi - ax.lo) / area_rect.width, uy = (ay.hi - ay.lo) / area_rect.height;
    if (ux > uy) {
      const double c = 0.5 * (ay.lo + ay.hi), half = 0.5 * ux * area_rect.height;
      ay = linear_axis(c - half, c + half, 6, /*pad=*/false);
    } else if (uy > ux) {
      const double c = 0.5 * (ax.lo + ax.hi), half = 0.5 * uy * area_rect.width;
      ax = linear_axis(c - half, c + half, 8, /*pad=*/false);
    }
  }

  cv::Mat img(H, W, CV_8UC3, cv::Scalar::all(255));
  cv::Mat area = img(area_rect);
  const cv::Size asz = area_rect.size();
  auto px_x = [&](double v) { return (int)std::lround((v - ax.lo) / (ax.hi - ax.lo) * (asz.width - 1)); };
  auto px_y = [&](double v) { return (int)std::lround((ay.hi - v) / (ay.hi - ay.lo) * (asz.height - 1)); };

  // ---- grid, frame, ticks, labels ----
  for (double v : ay.minor) cv::line(area, {0, px_y(v)}, {asz.width - 1, px_y(v)}, kMinorGridColor, 1 * S);
  for (double v : ax.major) cv::line(area, {px_x(v), 0}, {px_x(v), asz.height - 1}, kGridColor, 1 * S);
  for (double v : ay.major) cv::line(area, {0, px_y(v)}, {asz.width - 1, px_y(v)}, kGridColor, 1 * S);
  cv::rectangle(img, area_rect, kFrameColor, S);
  for (size_t i = 0; i < ax.major.size(); ++i) {
    int x = left + px_x(ax.major[i]);
    int y0 = top + asz.height;
    cv::line(img, {x, y0}, {x, y0 + tick_len}, kFrameColor, S);
    put_text(img, ax.labels[i], x, y0 + tick_len + pad / 2 + tick_h / 2, 1, f_tick, kTickColor);
  }
  for (size_t i = 0; i < ay.major.size(); ++i) {
    int y = top + px_y(ay.major[i]);
    cv::line(img, {left - tick_len, y}, {left, y}, kFrameColor, S);
    put_text(img, ay.labels[i], left - tick_len - pad / 2, y, 2, f_tick, kTickColor);
  }
  if (!title.empty()) put_text(img, title, left + asz.width / 2, pad * 3 / 2 + title_h / 2, 1, f_title, kTextColor);
  if (!xlabel.empty())
    put_text(img, xlabel, left + asz.width / 2, H - pad - label_h / 2, 1, f_label, kTextColor);
  if (!opts.ylabel.empty())
    put_vertical_text(img, opts.ylabel, pad + label_h / 2, top + asz.height / 2, f_label, kTextColor);

  // ---- data (drawn into the plot area, which clips it) ----
  cv::Mat coverage(asz, CV_8U, cv::Scalar(0));
  for (const Prepared& p : prep) {
    if (!p.any) continue;
    auto runs = polylines_of(p.x, p.y, ax, ay, asz);
    if (!p.ys.empty()) {
      draw_runs(area, runs, blend_white(p.color, 0.3), raw_w);
      runs = polylines_of(p.x, p.ys, ax, ay, asz);
    }
    draw_runs(area, runs, p.color, line_w);
    draw_runs(coverage, runs, cv::Scalar(255), line_w * 3);
  }
  if (!have_data) put_text(area, "no data yet", asz.width / 2, asz.height / 2, 1, f_label, kFrameColor);

  // ---- legend, in the corner the data covers least (top right on ties) ----
  std::vector<const Prepared*> entries;
  for (const Prepared& p : prep)
    if (p.any && !p.name.empty()) entries.push_back(&p);
  if (opts.legend && !entries.empty()) {
    const int row_h = std::max(text_size("Ag", f_legend).height, line_w) + pad;
    const int swatch = (int)std::lround(26 * k);
    int text_w = 0;
    for (const Prepared* p : entries) text_w = std::max(text_w, text_size(p->name, f_legend).width);
    cv::Size box(pad + swatch + pad + text_w + pad, (int)entries.size() * row_h + pad);
    box.width = std::min(box.width, asz.width - 2 * pad);
    box.height = std::min(box.height, asz.height - 2 * pad);
    const int m = pad;
    const cv::Point corners[4] = {{asz.width - m - box.width, m},
                                  {m, m},
                                  {asz.width - m - box.width, asz.height - m - box.height},
                                  {m, asz.height - m - box.height}};
    int best = 0, best_cover = std::numeric_limits<int>::max();
    for (int c = 0; c < 4; ++c) {
      cv::Rect r(corners[c], box);
      r &= cv::Rect(0, 0, asz.width, asz.height);
      int cover = r.empty() ? std::numeric_limits<int>::max() : cv::countNonZero(coverage(r));
      if (cover < best_cover) {
        best_cover = cover;
        best = c;
      }
    }
    cv::Rect lr(corners[best], box);
    lr &= cv::Rect(0, 0, asz.width, asz.height);
    cv::Mat roi = area(lr);
    cv::addWeighted(roi, 0.15, cv::Mat(roi.size(), roi.type(), cv::Scalar::all(255)), 0.85, 0, roi);
    cv::rectangle(area, lr, cv::Scalar(200, 200, 200), S);
    for (size_t i = 0; i < entries.size(); ++i) {
      int yc = lr.y + pad / 2 + (int)i * row_h + row_h / 2;
      if (yc > lr.y + lr.height) break;
      int x0 = lr.x + pad;
      cv::line(area, {x0, yc}, {x0 + swatch, yc}, entries[i]->color, line_w, cv::LINE_AA);
      put_text(area, entries[i]->name, x0 + swatch + pad, yc, 0, f_legend, kTextColor);
    }
  }

  cv::Mat out;
  cv::resize(img, out, cv::Size(opts.width, opts.height), 0, 0, cv::INTER_AREA);
  return out;
}

void plot_curves(const std::string& png_path, const std::vector<Series>& series, const std::string& title,
                 const std::string& xlabel, const PlotOptions& opts) {
  cv::Mat img = plot_image(series, title, xlabel, opts);
  std::vector<uchar> png;
  SFM_CHECK(cv::imencode(".png", img, png), "plot_curves: PNG encoding failed for '", png_path, "'");
  write_file_atomic(png_path, std::string(png.begin(), png.end()));
}

}  // namespace sfm
