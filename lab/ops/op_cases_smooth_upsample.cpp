// Op-table rows of upsample_bilinear (any output size; the Monodepth2 full-resolution scales)
// and edge_aware_smoothness. Inputs are drawn in float64 and rounded to float32 values (as in
// op_cases.cpp). upsample_bilinear is linear in x: no kinks. edge_aware_smoothness has the
// kinks of |d'(p) - d'(q)|: its disparities come from kink_free_disparity (see the header);
// the image takes no gradient, and exp(-mean |dI|) is smooth in it.
#include "lab/ops/op_cases_smooth_upsample.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/rng.h"

namespace sfm::lab {

namespace {

Tensor f32_tensor(std::vector<double> v, const Shape& s) {
  for (double& x : v) x = (double)(float)x;
  return Tensor::from_vector(v, s);
}
Tensor uniform_f32(const Shape& s, Rng& rng, double lo, double hi) {
  std::vector<double> v((size_t)s.numel());
  for (double& x : v) x = rng.uniform(lo, hi);
  return f32_tensor(std::move(v), s);
}
std::string dims(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (int i = 0; i < s.ndim; ++i) os << (i ? "," : "") << s[i];
  os << "]";
  return os.str();
}

OpCase make_row(Device device, const std::string& family, const std::string& op, ShapeClass sc,
                const std::string& shape, bool quick) {
  OpCase c;
  c.family = family;
  c.op = op;
  c.impl = device == Device::CUDA ? "cuda" : "cpu";
  c.shape_class = sc;
  c.shape = shape;
  c.quick = quick;
  c.key = family + "/" + op + "/" + shape_class_name(sc) + "/" + shape;
  c.unavailable = [] { return std::string(); };
  return c;
}

void add_upsample(std::vector<OpCase>& rows, Device device, const Shape& s, int64_t H, int64_t W, ShapeClass sc,
                  bool quick, const std::string& note) {
  std::string desc = dims(s) + " -> " + std::to_string(H) + "x" + std::to_string(W);
  if (!note.empty()) desc += " (" + note + ")";
  OpCase c = make_row(device, "resample", "upsample_bilinear", sc, desc, quick);
  const Shape out{s[0], s[1], H, W};
  c.make_inputs = [s, out](uint64_t seed) {
    Rng rng(seed);
    CaseInputs in;
    in["x"] = uniform_f32(s, rng, -1, 1);
    in["g"] = uniform_f32(out, rng, -1, 1);
    return in;
  };
  // Power-of-two ratios (the disparity scales, 2x to 8x): the float32 source coordinates are
  // exact, so Resample: each output 4 products of the taps (~3 roundings), a gradient element
  // its readers summed along x, then along y (up to 2 n_out / n_in + 3 per axis: 19 at 8x).
  // Other ratios: the scale n_in / n_out is rounded, so the coordinates (up to the input size)
  // carry a few ulp of it, as in the warp: Warp with scale = max(h, w).
  auto pow2_ratio = [](int64_t a, int64_t b) {
    const int64_t big = std::max(a, b), small = std::min(a, b);
    return big % small == 0 && ((big / small) & (big / small - 1)) == 0;
  };
  const bool exact = pow2_ratio(s[2], H) && pow2_ratio(s[3], W);
  const TolClass tol = exact ? TolClass::Resample : TolClass::Warp;
  const double scale = exact ? 0.0 : (double)std::max(s[2], s[3]);
  c.run = [H, W, tol, scale](const CaseInputs& in, const CaseContext& ctx) {
    Tensor x = ctx.in(in, "x", true);
    Tensor y = upsample_bilinear(x, H, W);
    y.backward(ctx.in(in, "g"));
    return std::vector<CaseTensor>{{"y", y.detach(), tol, scale}, {"grad x", x.grad(), tol, scale}};
  };
  c.forward = {{"y", "g"}};
  c.gradients = {{"grad x", "x"}};
  c.bytes = 4 * 2 * (double)(s.numel() + out.numel());  // x, grad x, y, g
  c.flops = 2 * 12 * (double)out.numel();                // ~12 per output each way
  rows.push_back(std::move(c));
}

void add_edge_smoothness(std::vector<OpCase>& rows, Device device, int64_t B, int64_t C, int64_t H, int64_t W,
                         ShapeClass sc, bool quick, const std::string& note) {
  std::string desc = dims(Shape{B, 1, H, W}) + " img C=" + std::to_string(C);
  if (!note.empty()) desc += " (" + note + ")";
  OpCase c = make_row(device, "loss", "edge_aware_smoothness", sc, desc, quick);
  c.make_inputs = [B, C, H, W](uint64_t seed) {
    Rng rng(seed);
    CaseInputs in;
    in["disp"] = f32_tensor(kink_free_disparity(B, H, W, seed ^ 0xd15full), Shape{B, 1, H, W});
    in["img"] = uniform_f32(Shape{B, C, H, W}, rng, 0, 1);
    in["g"] = uniform_f32(Shape{1}, rng, 0.5, 2.0);
    return in;
  };
  c.run = [](const CaseInputs& in, const CaseContext& ctx) {
    Tensor d = ctx.in(in, "disp", true);
    Tensor l = edge_aware_smoothness(d, ctx.in(in, "img"));
    l.backward(ctx.in(in, "g"));
    // Elementwise: a few roundings per term (a division, C differences, an exp), sums in
    // double; the gradient a gather of <= 4 such terms per pixel.
    return std::vector<CaseTensor>{{"loss", l.detach(), TolClass::Elementwise},
                                   {"grad disp", d.grad(), TolClass::Elementwise}};
  };
  c.forward = {{"loss", "g"}};
  c.gradients = {{"grad disp", "disp"}};
  const double n = (double)(B * H * W);
  c.bytes = 4 * (2 * n + (double)C * n);  // disp, grad disp, img
  c.flops = n * (2 * (3.0 * C + 6) + 4 * (3.0 * C + 6));
  rows.push_back(std::move(c));
}

}  // namespace

std::vector<double> kink_free_disparity(int64_t B, int64_t H, int64_t W, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> v((size_t)(B * H * W));
  const double two_pi = 6.283185307179586;
  for (int64_t b = 0; b < B; ++b) {
    double fx[3], fy[3], ph[3], amp[3], asum = 0;
    for (int k = 0; k < 3; ++k) {
      fx[k] = rng.uniform(0.5, 3.0) * (rng.uniform() < 0.5 ? -1 : 1);
      fy[k] = rng.uniform(0.5, 3.0);
      ph[k] = rng.uniform(0, two_pi);
      amp[k] = rng.uniform(0.3, 1.0);
      asum += amp[k];
    }
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        double f = 0;
        for (int k = 0; k < 3; ++k) f += amp[k] * std::sin(two_pi * (fx[k] * (double)x / (double)W + fy[k] * (double)y / (double)H) + ph[k]);
        v[(size_t)((b * H + y) * W + x)] = std::nearbyint(64.0 * (0.55 + 0.4 * f / asum)) / 64.0;
      }
  }
  return v;
}

void add_smooth_upsample_cases(std::vector<OpCase>& rows, Device device, uint64_t seed) {
  Rng shape_rng(case_seed(seed, "smooth_upsample random shapes"));
  // upsample_bilinear: a one-row input, non-integer factors both ways, a downsampling.
  add_upsample(rows, device, Shape{3, 1, 1, 4}, 3, 5, ShapeClass::Edge, true, "");
  add_upsample(rows, device, Shape{2, 3, 5, 7}, 12, 9, ShapeClass::Edge, true, "");
  add_upsample(rows, device, Shape{1, 2, 9, 13}, 4, 6, ShapeClass::Edge, true, "downsampling");
  {
    const Shape rs{1 + shape_rng.randint(4), 1 + shape_rng.randint(3), 1 + shape_rng.randint(30), 1 + shape_rng.randint(40)};
    add_upsample(rows, device, rs, 1 + shape_rng.randint(100), 1 + shape_rng.randint(120), ShapeClass::Random, false, "");
  }
  // The disparity scales 3, 2, 1 to the input size (Monodepth2's full-resolution multi-scale).
  for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{16, 52}, {32, 104}, {64, 208}})
    add_upsample(rows, device, Shape{4, 1, h, w}, 128, 416, ShapeClass::SfMLearner, false, "disparity scale to full resolution");
  add_upsample(rows, device, Shape{12, 1, 24, 80}, 192, 640, ShapeClass::SfMLearner, false, "monodepth2 scale 3, batch 12");

  // edge_aware_smoothness: no y edges, no x edges, odd sizes, a random shape, the training maps.
  add_edge_smoothness(rows, device, 2, 3, 1, 6, ShapeClass::Edge, true, "one row");
  add_edge_smoothness(rows, device, 2, 1, 5, 1, ShapeClass::Edge, true, "one column, gray");
  add_edge_smoothness(rows, device, 3, 3, 5, 7, ShapeClass::Edge, true, "");
  add_edge_smoothness(rows, device, 1 + shape_rng.randint(4), 1 + shape_rng.randint(3), 2 + shape_rng.randint(40),
                      2 + shape_rng.randint(60), ShapeClass::Random, false, "");
  add_edge_smoothness(rows, device, 4, 3, 16, 52, ShapeClass::SfMLearner, false, "scale 3");
  add_edge_smoothness(rows, device, 4, 3, 128, 416, ShapeClass::SfMLearner, false, "full resolution");
}

}  // namespace sfm::lab
