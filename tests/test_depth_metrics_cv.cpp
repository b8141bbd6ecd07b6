// Depth metrics (eval/depth_metrics.h) against hand-computed values, and the helpers `sfm infer`
// uses around them (network input, colour maps, grids). The eval library exists only in builds
// with OpenCV, hence the _cv suffix; the metric code itself uses no OpenCV (its bilinear resize is
// checked against cv::resize here).
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "engine/rng.h"
#include "eval/colormap.h"
#include "eval/depth_metrics.h"
#include "eval/infer.h"

using namespace sfm;
using namespace sfm::eval;
namespace fs = std::filesystem;

namespace {
DepthEvalOptions no_scaling() {
  DepthEvalOptions o;
  o.median_scaling = false;
  return o;
}
}  // namespace

TEST_CASE("depth metrics: hand-computed values, validity mask and strict thresholds", "[eval][depth]") {
  // Valid pairs (gt, pred): (2, 1), (4, 4), (8, 10). gt = 0 (unknown) and gt = 100 (> max 80)
  // are masked out, whatever their predictions.
  std::vector<float> gt{2, 4, 8, 0, 100}, pred{1, 4, 10, 5, 5};
  DepthMetrics m = compute_depth_metrics(gt, pred, 1, 5, no_scaling());
  REQUIRE(m.valid_pixels == 3);
  // abs_rel = (1/2 + 0 + 2/8)/3, sq_rel = (1/2 + 0 + 4/8)/3, rmse = sqrt(5/3),
  // rmse_log = sqrt((ln 2)^2 + (ln 0.8)^2)/3). Ratios 2, 1, 1.25: 1.25 is not < 1.25.
  // The inputs are exact in float and every step is a few double operations: 1e-12.
  const double eps = 1e-12;
  CHECK(m.abs_rel == Approx(0.25).epsilon(eps));
  CHECK(m.sq_rel == Approx(1.0 / 3.0).epsilon(eps));
  CHECK(m.rmse == Approx(std::sqrt(5.0 / 3.0)).epsilon(eps));
  CHECK(m.rmse_log == Approx(std::sqrt((std::log(2.0) * std::log(2.0) + std::log(0.8) * std::log(0.8)) / 3.0)).epsilon(eps));
  CHECK(m.a1 == Approx(1.0 / 3.0).epsilon(eps));
  CHECK(m.a2 == Approx(2.0 / 3.0).epsilon(eps));  // 2 >= 1.5625 > 1.25
  CHECK(m.a3 == Approx(2.0 / 3.0).epsilon(eps));  // 2 >= 1.953125
  CHECK(m.scale == 1.0);
}

TEST_CASE("depth metrics: median scaling uses numpy's median", "[eval][depth]") {
  // Proportional prediction: s = 2 and every error vanishes.
  std::vector<float> gt{2, 4, 6}, pred{1, 2, 3};
  DepthMetrics m = compute_depth_metrics(gt, pred, 1, 3, DepthEvalOptions{});
  CHECK(m.scale == Approx(2.0).epsilon(1e-15));
  CHECK(m.abs_rel == Approx(0.0).margin(1e-15));
  CHECK(m.a1 == 1.0);
  // Even count: median(gt) = (2+3)/2 = 2.5 (lower/upper medians would give 2 or 3), pred all 1.
  std::vector<float> gt2{1, 2, 3, 10}, pred2{1, 1, 1, 1};
  CHECK(compute_depth_metrics(gt2, pred2, 1, 4, DepthEvalOptions{}).scale == Approx(2.5).epsilon(1e-15));
  std::vector<double> v{5, 1, 4, 2};
  CHECK(median_inplace(v) == 3.0);
}

TEST_CASE("depth metrics: clamping after scaling vs the PyTorch port's order", "[eval][depth]") {
  // gt (70, 75, 79), pred (1, 1, 2): s = 75/1 = 75, scaled (75, 75, 150).
  // Standard: 150 is clamped to max 80 before scoring: abs_rel = (5/70 + 0 + 1/79)/3.
  // PyTorch port: the median is of the clamped prediction (1, 1, 2 are inside the range, so
  // s = 75 too) but the *unclamped* 150 is scored: abs_rel = (5/70 + 0 + 71/79)/3.
  std::vector<float> gt{70, 75, 79}, pred{1, 1, 2};
  DepthEvalOptions std_opt, port;
  port.clamp = ClampOrder::PytorchPort;
  DepthMetrics a = compute_depth_metrics(gt, pred, 1, 3, std_opt), b = compute_depth_metrics(gt, pred, 1, 3, port);
  CHECK(a.scale == 75.0);
  CHECK(b.scale == 75.0);
  CHECK(a.abs_rel == Approx((5.0 / 70 + 1.0 / 79) / 3).epsilon(1e-12));
  CHECK(b.abs_rel == Approx((5.0 / 70 + 71.0 / 79) / 3).epsilon(1e-12));
  CHECK(a.rmse == Approx(std::sqrt((25.0 + 1.0) / 3)).epsilon(1e-12));
  CHECK(b.rmse == Approx(std::sqrt((25.0 + 71.0 * 71.0) / 3)).epsilon(1e-12));

  // Where the median itself sees the clamp: gt (10, 20, 30), pred (50, 100, 200), max 80.
  // Standard: s = 20/100 = 0.2 -> (10, 20, 40): exact but the last. Port: median of the clamped
  // (50, 80, 80) = 80, s = 0.25 -> (12.5, 25, 50).
  std::vector<float> gt2{10, 20, 30}, pred2{50, 100, 200};
  a = compute_depth_metrics(gt2, pred2, 1, 3, std_opt);
  b = compute_depth_metrics(gt2, pred2, 1, 3, port);
  CHECK(a.scale == Approx(0.2).epsilon(1e-15));
  CHECK(b.scale == Approx(0.25).epsilon(1e-15));
  CHECK(a.abs_rel == Approx((0 + 0 + 10.0 / 30) / 3).epsilon(1e-12));
  CHECK(b.abs_rel == Approx((2.5 / 10 + 5.0 / 20 + 20.0 / 30) / 3).epsilon(1e-12));

  // Without median scaling the standard order still clamps: pred 0.0001 -> min depth 1e-3.
  std::vector<float> gt3{1}, pred3{1e-4f};
  DepthMetrics c = compute_depth_metrics(gt3, pred3, 1, 1, no_scaling());
  CHECK(c.abs_rel == Approx(1.0 - 1e-3).epsilon(1e-12));
}

TEST_CASE("depth metrics: the Garg crop", "[eval][depth]") {
  // KITTI's 375x1242: rows int(153.04) .. int(371.96), cols int(44.65) .. int(1197.35).
  CropBox b = garg_crop_box(375, 1242);
  CHECK(b.r0 == 153);
  CHECK(b.r1 == 371);
  CHECK(b.c0 == 44);
  CHECK(b.c1 == 1197);
  // 20 x 40: rows 8..19 (0.408*20 = 8.16, 0.992*20 = 19.84), cols 1..38 (1.44, 38.56).
  b = garg_crop_box(20, 40);
  CHECK((b.r0 == 8 && b.r1 == 19 && b.c0 == 1 && b.c1 == 38));
  const int H = 20, W = 40;
  std::vector<float> gt(H * W, 0.f), pred(H * W, 1.f);
  gt[7 * W + 10] = 5.f;   // row 7: above the crop
  gt[10 * W + 0] = 5.f;   // col 0: left of it
  gt[19 * W + 10] = 5.f;  // row 19: r1 is exclusive
  gt[10 * W + 38] = 5.f;  // col 38: c1 is exclusive
  DepthEvalOptions crop;
  crop.garg_crop = true;
  CHECK(compute_depth_metrics(gt, pred, H, W, crop).valid_pixels == 0);
  CHECK(compute_depth_metrics(gt, pred, H, W, DepthEvalOptions{}).valid_pixels == 4);
  gt[8 * W + 1] = 5.f;  // the crop's first pixel
  CHECK(compute_depth_metrics(gt, pred, H, W, crop).valid_pixels == 1);
}

TEST_CASE("depth metrics: bad predictions and sizes name the image", "[eval][depth]") {
  std::vector<float> gt{1, 2}, pred{1, 0};
  REQUIRE_THROWS_WITH(compute_depth_metrics(gt, pred, 1, 2, DepthEvalOptions{}, "frame_7.png"),
                      Catch::Contains("frame_7.png") && Catch::Contains("col 1"));
  pred[1] = std::nanf("");
  REQUIRE_THROWS_WITH(compute_depth_metrics(gt, pred, 1, 2, DepthEvalOptions{}, "x"), Catch::Contains("not a positive"));
  REQUIRE_THROWS_WITH(compute_depth_metrics(gt, std::vector<float>{1}, 1, 2, DepthEvalOptions{}, "img9"),
                      Catch::Contains("img9"));
  float disp[2] = {0.5f, -1.f};
  REQUIRE_THROWS_WITH(disparity_to_depth(disp, 1, 2, 1, 2, PredResize::Depth, "pred.npy [3]"),
                      Catch::Contains("pred.npy [3]"));
}

TEST_CASE("depth metrics: accumulator averages per image and skips images without ground truth", "[eval][depth]") {
  DepthMetricsAccumulator acc;
  std::vector<float> g1{2}, p1{1}, g2{4}, p2{4}, g3{0}, p3{1};
  acc.add(g1.data(), p1.data(), 1, 1, no_scaling());  // abs_rel 0.5, rmse 1
  acc.add(g2.data(), p2.data(), 1, 1, no_scaling());  // exact
  acc.add(g3.data(), p3.data(), 1, 1, no_scaling());  // nothing valid
  CHECK(acc.images == 2);
  CHECK(acc.skipped == 1);
  DepthMetrics m = acc.mean();
  CHECK(m.abs_rel == Approx(0.25).epsilon(1e-15));
  CHECK(m.rmse == Approx(0.5).epsilon(1e-15));  // mean of per-image rmse (1, 0), not a pooled rmse
  CHECK(m.a1 == Approx(0.5).epsilon(1e-15));
  CHECK(m.valid_pixels == 2);
  DepthMetricsAccumulator other;
  other.add(g2.data(), p2.data(), 1, 1, no_scaling());
  acc.merge(other);
  CHECK(acc.mean().abs_rel == Approx(0.5 / 3).epsilon(1e-15));
  CHECK(DepthMetricsAccumulator{}.mean().abs_rel == 0.0);
}

TEST_CASE("depth metrics: add_batch turns disparity tensors into depth at the ground-truth size", "[eval][depth]") {
  // Two 2x2 ground truths, predictions at 1x1 (a constant disparity resizes to a constant).
  Tensor gt = Tensor::from_vector(std::vector<float>{2, 2, 2, 2, 0, 4, 4, 0}, Shape{2, 1, 2, 2});
  Tensor disp = Tensor::from_vector(std::vector<float>{0.5f, 0.125f}, Shape{2, 1, 1, 1});
  DepthMetricsAccumulator acc;
  acc.add_batch(gt, disp, no_scaling());  // depth 2 (exact) and 8 (vs 4: abs_rel 1)
  CHECK(acc.images == 2);
  CHECK(acc.mean().abs_rel == Approx(0.5).epsilon(1e-12));
  CHECK(acc.valid_pixels == 6);
  REQUIRE_THROWS_WITH(acc.add_batch(gt, Tensor::ones(Shape{3, 1, 1, 1}), no_scaling()), Catch::Contains("batch"));
}

TEST_CASE("depth metrics: depth vs disparity resizing and the bilinear resize", "[eval][depth]") {
  // Disparity (1, 2) -> 1x4. Sample positions (o + 0.5)/2 - 0.5 = -0.25, 0.25, 0.75, 1.25
  // (clamped at the ends). Depth first: (1, 0.5) -> (1, 0.875, 0.625, 0.5). Disparity first:
  // (1, 1.25, 1.75, 2) -> (1, 0.8, 1/1.75, 0.5).
  float disp[2] = {1.f, 2.f};
  auto d = disparity_to_depth(disp, 1, 2, 1, 4, PredResize::Depth);
  auto e = disparity_to_depth(disp, 1, 2, 1, 4, PredResize::Disparity);
  std::vector<float> d_want{1.f, 0.875f, 0.625f, 0.5f}, e_want{1.f, 0.8f, 1.f / 1.75f, 0.5f};
  for (int i = 0; i < 4; ++i) {
    CHECK(d[i] == Approx(d_want[i]).epsilon(1e-6));  // float arithmetic on exact inputs
    CHECK(e[i] == Approx(e_want[i]).epsilon(1e-6));
  }
  // Against cv::resize INTER_LINEAR on random maps, down and up. OpenCV computes the same
  // float weights but may order the operations differently (SIMD): values in [0, 1], 1e-5.
  Rng rng(3);
  for (auto [h, w, H, W] : {std::array<int, 4>{128, 416, 375, 1242}, {37, 53, 11, 17}, {5, 7, 5, 7}, {9, 4, 3, 13}}) {
    cv::Mat src(h, w, CV_32FC1);
    for (int i = 0; i < h * w; ++i) src.ptr<float>()[i] = (float)rng.uniform();
    cv::Mat ref;
    cv::resize(src, ref, cv::Size(W, H), 0, 0, cv::INTER_LINEAR);
    std::vector<float> out = resize_bilinear(src.ptr<float>(), h, w, H, W);
    double worst = 0;
    for (int i = 0; i < H * W; ++i) worst = std::max(worst, (double)std::fabs(out[i] - ref.ptr<float>()[i]));
    INFO(h << "x" << w << " -> " << H << "x" << W);
    CHECK(worst < 1e-5);
  }
}

// ---------------------------------------------------------------- what `sfm infer` feeds and draws
TEST_CASE("depth inference input: no resize at the network size, INTER_AREA otherwise, (x/255-0.5)/0.5",
          "[eval][infer]") {
  cv::Mat rgb(2, 3, CV_8UC3);
  for (int i = 0; i < 18; ++i) rgb.ptr<uint8_t>()[i] = (uint8_t)(i * 15);
  Tensor t = images_to_tensor({rgb}, 2, 3);
  REQUIRE(t.shape() == Shape{1, 3, 2, 3});
  std::vector<float> v = t.to_vector();
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x)
      for (int c = 0; c < 3; ++c) CHECK(v[c * 6 + y * 3 + x] == (float)rgb.at<cv::Vec3b>(y, x)[c]);  // planar RGB
  CHECK(resize_for_network(rgb, 2, 3).data == rgb.data);  // the same pixels, not a resampled copy
  // 4x4 of 2x2 checkered blocks -> 2x2: INTER_AREA averages each block (nearest or bilinear
  // sampling would give 0 or 100 off the block means).
  cv::Mat big(4, 4, CV_8UC3);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x)
      big.at<cv::Vec3b>(y, x) = cv::Vec3b((uint8_t)(40 * (y / 2) + 10 * (x / 2) + 100 * ((x + y) % 2)), 0, 255);
  std::vector<float> s = images_to_tensor({big}, 2, 2).to_vector();
  CHECK(s[0] == 50.f);   // block (0,0): 0, 100, 100, 0
  CHECK(s[1] == 60.f);   // block (0,1): 10, 110, 110, 10
  CHECK(s[3] == 100.f);  // block (1,1): 50, 150, 150, 50
  CHECK(s[4] == 0.f);    // green plane
  CHECK(s[8] == 255.f);  // blue plane
  std::vector<float> n = network_input({rgb}, 2, 3, Device::CPU).to_vector();
  for (size_t i = 0; i < n.size(); ++i) CHECK(n[i] == Approx((v[i] / 255.0 - 0.5) / 0.5).margin(1e-6));
  REQUIRE_THROWS_WITH(load_image_rgb("/nonexistent/frame.png"), Catch::Contains("/nonexistent/frame.png"));
}

TEST_CASE("visualisation: magma colour maps, display ranges, grids, atomic PNG", "[eval][infer]") {
  cv::Mat v(1, 4, CV_32FC1);
  float vals[4] = {0.f, 0.5f, 1.f, std::nanf("")};
  for (int i = 0; i < 4; ++i) v.at<float>(0, i) = vals[i];
  cv::Mat c = colorize(v, 0.0, 1.0, ColorMap::Magma);
  cv::Mat ref8(1, 3, CV_8UC1), ref;
  ref8.at<uint8_t>(0, 0) = 0;
  ref8.at<uint8_t>(0, 1) = 128;  // round(127.5)
  ref8.at<uint8_t>(0, 2) = 255;
  cv::applyColorMap(ref8, ref, cv::COLORMAP_MAGMA);
  for (int i = 0; i < 3; ++i) CHECK(c.at<cv::Vec3b>(0, i) == ref.at<cv::Vec3b>(0, i));
  CHECK(c.at<cv::Vec3b>(0, 3) == cv::Vec3b(0, 0, 0));  // not finite: black
  // magma runs from near black to pale yellow (matplotlib: (0, 0, 4) .. (252, 253, 191) RGB).
  cv::Vec3b top = c.at<cv::Vec3b>(0, 2), bottom = c.at<cv::Vec3b>(0, 0);
  CHECK(std::abs(top[0] - 191) <= 3);
  CHECK(std::abs(top[1] - 253) <= 3);
  CHECK(std::abs(top[2] - 252) <= 3);
  CHECK(bottom[0] + bottom[1] + bottom[2] < 12);

  cv::Mat ramp(1, 101, CV_32FC1);
  for (int i = 0; i <= 100; ++i) ramp.at<float>(0, i) = (float)(100 - i);
  auto [lo, hi] = disparity_display_range(ramp);  // numpy.percentile(.., 95) of 0..100 = 95
  CHECK(lo == 0.0);
  CHECK(hi == Approx(95.0).epsilon(1e-12));
  // Depth: near is bright, unknown (0) is black.
  cv::Mat depth(1, 3, CV_32FC1);
  depth.at<float>(0, 0) = 2.f;
  depth.at<float>(0, 1) = 40.f;
  depth.at<float>(0, 2) = 0.f;
  cv::Mat dc = colorize_depth(depth, 80.0, 1.0);
  auto lum = [](cv::Vec3b p) { return (int)p[0] + p[1] + p[2]; };
  CHECK(lum(dc.at<cv::Vec3b>(0, 0)) > lum(dc.at<cv::Vec3b>(0, 1)));
  CHECK(dc.at<cv::Vec3b>(0, 2) == cv::Vec3b(0, 0, 0));
  // A tensor's first map draws as the same matrix does.
  Tensor dt = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 9, 9, 9, 9}, Shape{2, 1, 2, 2});
  cv::Mat a = colorize_disparity(dt), b = colorize_disparity(float_image(dt.to_vector().data(), 2, 2));
  CHECK(cv::norm(a, b, cv::NORM_INF) == 0);

  // Grid: 3 tiles, 2 columns, 4 px padding; cells as large as the largest tile, smaller centred.
  cv::Mat red(10, 20, CV_8UC3, cv::Scalar(0, 0, 255)), green(6, 8, CV_8UC3, cv::Scalar(0, 255, 0));
  cv::Mat g = make_grid({{red, "a"}, {green, ""}, {red, "b"}}, 2, 4);
  CHECK(g.cols == 4 + 2 * (20 + 4));
  CHECK(g.rows > 4 + 2 * (10 + 4));  // plus a caption strip per row
  CHECK(g.at<cv::Vec3b>(4, 4) == cv::Vec3b(0, 0, 255));                     // tile 0 at (pad, pad)
  CHECK(g.at<cv::Vec3b>(4 + 2, 28 + 6) == cv::Vec3b(0, 255, 0));            // tile 1 centred in cell 1
  CHECK(g.at<cv::Vec3b>(4, 28) == cv::Vec3b(255, 255, 255));                // around it: background
  fs::path dir = fs::temp_directory_path() / "sfm_test_colormap";
  fs::create_directories(dir);
  std::string png = (dir / "grid.png").string();
  write_png_atomic(png, g);
  CHECK_FALSE(fs::exists(png + ".tmp"));
  cv::Mat back = cv::imread(png, cv::IMREAD_COLOR);
  REQUIRE(back.size() == g.size());
  CHECK(cv::norm(back, g, cv::NORM_INF) == 0);
}
