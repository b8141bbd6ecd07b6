#include "eval/depth_metrics.h"

#include <algorithm>
#include <cmath>

#include "boundary/error.h"

namespace sfm::eval {

const std::vector<std::string>& depth_metric_names() {
  static const std::vector<std::string> n{"abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3"};
  return n;
}
std::vector<double> depth_metric_values(const DepthMetrics& m) {
  return {m.abs_rel, m.sq_rel, m.rmse, m.rmse_log, m.a1, m.a2, m.a3};
}

CropBox garg_crop_box(int H, int W) {
  // The reference scripts compute these in float64 and truncate with astype(np.int32).
  return CropBox{(int)(0.40810811 * H), (int)(0.99189189 * H), (int)(0.03594771 * W), (int)(0.96405229 * W)};
}

double median_inplace(std::vector<double>& v) {
  SFM_CHECK(!v.empty(), "median of an empty set");
  size_t n = v.size(), mid = n / 2;
  std::nth_element(v.begin(), v.begin() + mid, v.end());
  double hi = v[mid];
  if (n % 2 == 1) return hi;
  double lo = *std::max_element(v.begin(), v.begin() + mid);
  return 0.5 * (lo + hi);
}

DepthMetrics compute_depth_metrics(const float* gt, const float* pred, int H, int W, const DepthEvalOptions& opt,
                                   const std::string& what) {
  SFM_CHECK(H > 0 && W > 0, "depth metrics: ", what, ": empty depth map ", H, "x", W);
  SFM_CHECK(opt.min_depth >= 0 && opt.max_depth > opt.min_depth, "depth metrics: bad depth range (", opt.min_depth,
            ", ", opt.max_depth, ")");
  CropBox box{0, H, 0, W};
  if (opt.garg_crop) box = garg_crop_box(H, W);

  std::vector<double> g, p;  // the valid pixels
  for (int r = box.r0; r < box.r1; ++r)
    for (int c = box.c0; c < box.c1; ++c) {
      size_t i = (size_t)r * W + c;
      double gv = gt[i];
      if (!(gv > opt.min_depth && gv < opt.max_depth)) continue;  // also drops NaN
      double pv = pred[i];
      if (!std::isfinite(pv) || pv <= 0)
        fail("depth metrics: ", what, ": predicted depth ", pv, " at pixel (row ", r, ", col ", c,
             ") is not a positive finite number");
      g.push_back(gv);
      p.push_back(pv);
    }
  DepthMetrics m;
  m.valid_pixels = (int64_t)g.size();
  if (g.empty()) return m;

  auto clamp = [&](double x) { return std::min(std::max(x, opt.min_depth), opt.max_depth); };
  double s = 1.0;
  if (opt.median_scaling) {
    std::vector<double> tg = g, tp = p;
    if (opt.clamp == ClampOrder::PytorchPort)
      for (double& x : tp) x = clamp(x);
    s = median_inplace(tg) / median_inplace(tp);
  }
  m.scale = s;
  double n = (double)g.size();
  double abs_rel = 0, sq_rel = 0, se = 0, sle = 0;
  int64_t c1 = 0, c2 = 0, c3 = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    double pv = p[i] * s;
    if (opt.clamp == ClampOrder::AfterScaling) pv = clamp(pv);
    double gv = g[i];
    double d = gv - pv;
    double th = std::max(gv / pv, pv / gv);
    c1 += th < 1.25;
    c2 += th < 1.25 * 1.25;
    c3 += th < 1.25 * 1.25 * 1.25;
    se += d * d;
    double dl = std::log(gv) - std::log(pv);
    sle += dl * dl;
    abs_rel += std::fabs(d) / gv;
    sq_rel += d * d / gv;
  }
  m.abs_rel = abs_rel / n;
  m.sq_rel = sq_rel / n;
  m.rmse = std::sqrt(se / n);
  m.rmse_log = std::sqrt(sle / n);
  m.a1 = c1 / n;
  m.a2 = c2 / n;
  m.a3 = c3 / n;
  return m;
}

DepthMetrics compute_depth_metrics(const std::vector<float>& gt, const std::vector<float>& pred, int H, int W,
                                   const DepthEvalOptions& opt, const std::string& what) {
  SFM_CHECK(gt.size() == (size_t)H * W && pred.size() == (size_t)H * W, "depth metrics: ", what,
            ": ground truth has ", gt.size(), " values and the prediction ", pred.size(), ", expected ", H, "x", W);
  return compute_depth_metrics(gt.data(), pred.data(), H, W, opt, what);
}

std::vector<float> resize_bilinear(const float* src, int h, int w, int H, int W) {
  SFM_CHECK(h > 0 && w > 0 && H > 0 && W > 0, "resize_bilinear: bad sizes ", h, "x", w, " -> ", H, "x", W);
  std::vector<float> out((size_t)H * W);
  if (h == H && w == W) {
    std::copy(src, src + (size_t)h * w, out.begin());
    return out;
  }
  // Half-pixel centres, clamped at the edges (cv::resize INTER_LINEAR, PyTorch align_corners=False).
  auto taps = [](int n_out, int n_in, std::vector<int>& i0, std::vector<int>& i1, std::vector<float>& f) {
    double scale = (double)n_in / n_out;
    i0.resize(n_out);
    i1.resize(n_out);
    f.resize(n_out);
    for (int o = 0; o < n_out; ++o) {
      float x = (float)((o + 0.5) * scale - 0.5);
      int x0 = (int)std::floor(x);
      float fr = x - (float)x0;
      if (x0 < 0) x0 = 0, fr = 0.f;
      if (x0 >= n_in - 1) x0 = n_in - 1, fr = 0.f;
      i0[o] = x0;
      i1[o] = std::min(x0 + 1, n_in - 1);
      f[o] = fr;
    }
  };
  std::vector<int> r0, r1, c0, c1;
  std::vector<float> fr, fc;
  taps(H, h, r0, r1, fr);
  taps(W, w, c0, c1, fc);
  for (int y = 0; y < H; ++y) {
    const float* a = src + (size_t)r0[y] * w;
    const float* b = src + (size_t)r1[y] * w;
    float wy = fr[y];
    for (int x = 0; x < W; ++x) {
      float wx = fc[x];
      float top = a[c0[x]] * (1.f - wx) + a[c1[x]] * wx;
      float bot = b[c0[x]] * (1.f - wx) + b[c1[x]] * wx;
      out[(size_t)y * W + x] = top * (1.f - wy) + bot * wy;
    }
  }
  return out;
}

ClampOrder parse_clamp_order(const std::string& s) {
  if (s == "standard") return ClampOrder::AfterScaling;
  if (s == "pytorch-port") return ClampOrder::PytorchPort;
  fail("--scoring: expected standard or pytorch-port, got '", s, "'");
}
const char* clamp_order_name(ClampOrder c) { return c == ClampOrder::PytorchPort ? "pytorch-port" : "standard"; }

PredResize parse_pred_resize(const std::string& s) {
  if (s == "depth") return PredResize::Depth;
  if (s == "disparity") return PredResize::Disparity;
  fail("--resize: expected depth or disparity, got '", s, "'");
}
const char* pred_resize_name(PredResize r) { return r == PredResize::Disparity ? "disparity" : "depth"; }

std::vector<float> disparity_to_depth(const float* disp, int h, int w, int H, int W, PredResize mode,
                                      const std::string& what) {
  for (size_t i = 0; i < (size_t)h * w; ++i)
    if (!(disp[i] > 0) || !std::isfinite(disp[i]))
      fail("depth evaluation: ", what, ": disparity ", disp[i], " at pixel (row ", i / w, ", col ", i % w,
           ") is not a positive finite number");
  std::vector<float> out;
  if (mode == PredResize::Depth) {
    std::vector<float> depth((size_t)h * w);
    for (size_t i = 0; i < depth.size(); ++i) depth[i] = 1.f / disp[i];
    out = resize_bilinear(depth.data(), h, w, H, W);
  } else {
    out = resize_bilinear(disp, h, w, H, W);
    for (float& v : out) v = 1.f / v;
  }
  return out;
}

void DepthMetricsAccumulator::add(const DepthMetrics& m) {
  if (m.valid_pixels == 0) {
    ++skipped;
    return;
  }
  ++images;
  valid_pixels += m.valid_pixels;
  sum.abs_rel += m.abs_rel;
  sum.sq_rel += m.sq_rel;
  sum.rmse += m.rmse;
  sum.rmse_log += m.rmse_log;
  sum.a1 += m.a1;
  sum.a2 += m.a2;
  sum.a3 += m.a3;
  sum.scale += m.scale;
  sum.valid_pixels += m.valid_pixels;
}

DepthMetrics DepthMetricsAccumulator::add(const float* gt, const float* pred, int H, int W,
                                          const DepthEvalOptions& opt, const std::string& what) {
  DepthMetrics m = compute_depth_metrics(gt, pred, H, W, opt, what);
  add(m);
  return m;
}

void DepthMetricsAccumulator::add_batch(const Tensor& gt_depth, const Tensor& pred_disp, const DepthEvalOptions& opt,
                                        PredResize resize) {
  auto dims = [](const Tensor& t, const char* name, int64_t& B, int64_t& H, int64_t& W) {
    SFM_CHECK(t.defined() && (t.ndim() == 3 || (t.ndim() == 4 && t.dim(1) == 1)), "depth metrics: ", name,
              " must be [B,1,H,W] or [B,H,W], got ", t.defined() ? t.desc() : std::string("undefined"));
    B = t.dim(0);
    H = t.dim(-2);
    W = t.dim(-1);
  };
  int64_t B, H, W, Bp, h, w;
  dims(gt_depth, "ground truth", B, H, W);
  dims(pred_disp, "predicted disparity", Bp, h, w);
  SFM_CHECK(B == Bp, "depth metrics: ground truth ", gt_depth.desc(), " and prediction ", pred_disp.desc(),
            " have different batch sizes");
  std::vector<float> g = gt_depth.to_vector(), d = pred_disp.to_vector();
  // The overall 0-based index of the image names it in an error.
  for (int64_t b = 0; b < B; ++b) {
    std::string what = "batch image " + std::to_string(b);
    std::vector<float> pred = disparity_to_depth(d.data() + b * h * w, (int)h, (int)w, (int)H, (int)W, resize, what);
    add(g.data() + b * H * W, pred.data(), (int)H, (int)W, opt, what);
  }
}

DepthMetrics DepthMetricsAccumulator::mean() const {
  DepthMetrics m;
  if (images == 0) return m;
  double n = (double)images;
  m.abs_rel = sum.abs_rel / n;
  m.sq_rel = sum.sq_rel / n;
  m.rmse = sum.rmse / n;
  m.rmse_log = sum.rmse_log / n;
  m.a1 = sum.a1 / n;
  m.a2 = sum.a2 / n;
  m.a3 = sum.a3 / n;
  m.scale = sum.scale / n;
  m.valid_pixels = valid_pixels;
  return m;
}

void DepthMetricsAccumulator::merge(const DepthMetricsAccumulator& o) {
  images += o.images;
  skipped += o.skipped;
  valid_pixels += o.valid_pixels;
  sum.abs_rel += o.sum.abs_rel;
  sum.sq_rel += o.sum.sq_rel;
  sum.rmse += o.sum.rmse;
  sum.rmse_log += o.sum.rmse_log;
  sum.a1 += o.sum.a1;
  sum.a2 += o.sum.a2;
  sum.a3 += o.sum.a3;
  sum.scale += o.sum.scale;
  sum.valid_pixels += o.sum.valid_pixels;
}

}  // namespace sfm::eval
