// The training data loader: snippet indexing (both layouts), resizing and augmentation with
// exact intrinsics, determinism and resumption, in-memory == from-disk, and every bad-input
// case with its message. Data is written by the tests themselves (tiny PNG/JPEG via OpenCV).
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "engine/npy.h"
#include "train/data/augment.h"
#include "train/data/dataset.h"
#include "train/data/loader.h"
#include "train/synth/synth_world.h"

using namespace sfm;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / "sfm_test_dataset" / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A BGR frame whose red channel is `r` and green channel `g` everywhere (constant channels
// survive any resize exactly) and whose blue channel is a gradient.
cv::Mat tagged_frame(int w, int h, int r, int g) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b((uchar)((3 * x + 5 * y) % 256), (uchar)g, (uchar)r);
  return m;
}

// Frame k of scene s: red = 10 + 20*k, green = 30 + 40*s.
int red_of(int k) { return 10 + 20 * k; }
int green_of(int s) { return 30 + 40 * s; }

Eigen::Matrix3d test_K(int w, int h) {
  Eigen::Matrix3d K;
  K << 0.9 * w, 0, 0.48 * w, 0, 0.9 * w, 0.52 * h, 0, 0, 1;
  return K;
}

void write_K(const fs::path& p, const Eigen::Matrix3d& K, bool commas = false) {
  std::ofstream f(p);
  f.precision(17);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) f << K(r, c) << (commas ? (r == 2 && c == 2 ? "" : ",") : (c == 2 ? "\n" : " "));
}

std::string frame_name(int k) {
  char b[16];
  std::snprintf(b, sizeof b, "%010d", k);
  return b;
}

struct SceneSpec {
  std::string name;
  int frames = 6, w = 48, h = 16, id = 0;
  bool poses = false, depth = false;
  std::string ext = ".png";
};

// Writes a formatted-layout scene; returns its folder.
fs::path write_scene(const fs::path& root, const SceneSpec& s) {
  fs::path d = root / s.name;
  fs::create_directories(d);
  for (int k = 0; k < s.frames; ++k) {
    cv::imwrite((d / (frame_name(k) + s.ext)).string(), tagged_frame(s.w, s.h, red_of(k), green_of(s.id)));
    if (s.depth) {
      std::vector<float> dm((size_t)s.w * s.h, 0.0f);
      for (int i = 0; i < s.w * s.h; ++i) dm[i] = 1.0f + k + 0.001f * i;
      save_npy((d / (frame_name(k) + ".npy")).string(), dm.data(), {s.h, s.w});
    }
  }
  write_K(d / "cam.txt", test_K(s.w, s.h));
  if (s.poses) {
    std::ofstream f(d / "poses.txt");
    for (int k = 0; k < s.frames; ++k) f << "1 0 0 " << 0.1 * k << " 0 1 0 " << 0.2 * k << " 0 0 1 " << k + 0.5 << "\n";
  }
  return d;
}

void write_list(const fs::path& root, const std::string& split, const std::vector<std::string>& lines) {
  std::ofstream f(root / (split + ".txt"));
  for (const auto& l : lines) f << l << "\n";
}

// Red/green channel value of batch image plane (undoing the normalisation).
int channel_value(const Tensor& t, int64_t offset) {
  return (int)std::lround((t.data<float>()[offset] * 0.5 + 0.5) * 255.0);
}
int tgt_red(const Batch& b, int j) {
  int64_t plane = b.tgt.dim(2) * b.tgt.dim(3);
  return channel_value(b.tgt, (j * 3 + 0) * plane);
}
int tgt_green(const Batch& b, int j) {
  int64_t plane = b.tgt.dim(2) * b.tgt.dim(3);
  return channel_value(b.tgt, (j * 3 + 1) * plane);
}
int src_red(const Batch& b, int j, int s) {
  int64_t plane = b.srcs.dim(3) * b.srcs.dim(4), S = b.srcs.dim(1);
  return channel_value(b.srcs, ((j * S + s) * 3 + 0) * plane);
}

LoaderOptions plain_opts(int h, int w, int seq = 3) {
  LoaderOptions o;
  o.height = h;
  o.width = w;
  o.seq_length = seq;
  o.augment = false;
  o.shuffle = false;
  o.workers = 0;
  o.quiet = true;
  return o;
}

std::vector<size_t> all_indices(size_t n) {
  std::vector<size_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

bool same_tensor(const Tensor& a, const Tensor& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  return a.shape() == b.shape() && a.to_vector() == b.to_vector();
}
bool same_batch(const Batch& a, const Batch& b) {
  return a.ids == b.ids && same_tensor(a.tgt, b.tgt) && same_tensor(a.srcs, b.srcs) && same_tensor(a.K, b.K) &&
         same_tensor(a.depth_gt, b.depth_gt) && same_tensor(a.poses_gt, b.poses_gt);
}

// Intensity-weighted centroid of a single-channel float image.
cv::Point2d centroid(const cv::Mat& m) {
  double s = 0, sx = 0, sy = 0;
  for (int y = 0; y < m.rows; ++y)
    for (int x = 0; x < m.cols; ++x) {
      double v = m.at<float>(y, x);
      s += v;
      sx += v * x;
      sy += v * y;
    }
  return {sx / s, sy / s};
}

cv::Mat blob(int w, int h, double u, double v, double sigma) {
  cv::Mat m(h, w, CV_32F);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      m.at<float>(y, x) = (float)(200.0 * std::exp(-((x - u) * (x - u) + (y - v) * (y - v)) / (2 * sigma * sigma)));
  return m;
}

// Where K2 sends the pixel that K1 saw at (u, v): the same 3D ray, mirrored (x -> -x) when
// the image was flipped (a flipped image is the view of the mirrored world).
cv::Point2d map_pixel(const Eigen::Matrix3d& K1, const Eigen::Matrix3d& K2, double u, double v, bool flip = false) {
  Eigen::Vector3d ray = K1.inverse() * Eigen::Vector3d(u, v, 1);
  if (flip) ray.x() = -ray.x();
  Eigen::Vector3d p = K2 * ray;
  return {p.x() / p.z(), p.y() / p.z()};
}

}  // namespace

// ----------------------------------------------------------------------------- indexing
TEST_CASE("dataset: snippets of length 3 and 5 with the target in the middle", "[dataset]") {
  fs::path root = fresh_dir("indexing");
  write_scene(root, {"sceneA", 7, 48, 16, 0});
  write_scene(root, {"sceneB", 5, 48, 16, 1});
  write_list(root, "train", {"sceneA", "sceneB"});

  for (int seq : {3, 5}) {
    INFO("seq_length " << seq);
    LoaderOptions o = plain_opts(16, 48, seq);
    DataLoader dl(root.string(), o);
    const Dataset& ds = dl.dataset();
    REQUIRE(ds.layout() == DataLayout::Formatted);
    // A scene of n frames yields n - seq + 1 snippets.
    REQUIRE(dl.size() == (size_t)((7 - seq + 1) + (5 - seq + 1)));
    Batch b = dl.get_snippets(all_indices(dl.size()));
    REQUIRE(b.tgt.shape() == Shape{(int64_t)dl.size(), 3, 16, 48});
    REQUIRE(b.srcs.shape() == Shape{(int64_t)dl.size(), seq - 1, 3, 16, 48});
    const int half = seq / 2;
    size_t j = 0;
    for (int scene = 0; scene < 2; ++scene) {
      int n = scene == 0 ? 7 : 5;
      for (int c = half; c + half < n; ++c, ++j) {
        INFO("snippet " << j);
        CHECK(b.ids[j] == std::string(scene == 0 ? "sceneA/" : "sceneB/") + frame_name(c));
        CHECK(tgt_red(b, (int)j) == red_of(c));
        CHECK(tgt_green(b, (int)j) == green_of(scene));
        // sources in time order, the target left out
        int s = 0;
        for (int k = c - half; k <= c + half; ++k)
          if (k != c) CHECK(src_red(b, (int)j, s++) == red_of(k));
      }
    }
    REQUIRE(j == dl.size());
  }
}

TEST_CASE("dataset: frames are in file-name order, digit-only names in numeric order", "[dataset]") {
  fs::path root = fresh_dir("order");
  fs::create_directories(root / "s");
  for (int k : {1, 2, 9, 10, 11})  // not zero-padded: "10" sorts after "9"
    cv::imwrite((root / "s" / (std::to_string(k) + ".png")).string(), tagged_frame(48, 16, red_of(k), 0));
  write_K(root / "s" / "cam.txt", test_K(48, 16));
  write_list(root, "train", {"s"});
  DataLoader dl(root.string(), plain_opts(16, 48));
  REQUIRE(dl.size() == 3);
  Batch b = dl.get_snippets({0, 1, 2});
  CHECK(b.ids == std::vector<std::string>{"s/2", "s/9", "s/10"});
  CHECK(tgt_red(b, 1) == red_of(9));
  CHECK(src_red(b, 1, 0) == red_of(2));
  CHECK(src_red(b, 1, 1) == red_of(10));
}

TEST_CASE("dataset: images at the target size are used as they are, others resized with K scaled", "[dataset]") {
  fs::path root = fresh_dir("resize");
  write_scene(root, {"same", 3, 48, 16, 0});
  write_scene(root, {"big", 3, 96, 32, 1});
  write_list(root, "train", {"same", "big"});
  DataLoader dl(root.string(), plain_opts(16, 48));
  Batch b = dl.get_snippets({0, 1});
  // Scene "same": bytes exactly as in the file (blue channel gradient, RGB order).
  cv::Mat f = cv::imread((root / "same" / (frame_name(1) + ".png")).string());
  const int64_t plane = 16 * 48;
  bool exact = true;
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 48; ++x)
      for (int c = 0; c < 3; ++c) {
        float want = (f.at<cv::Vec3b>(y, x)[2 - c] / 255.0f - 0.5f) / 0.5f;
        exact = exact && b.tgt.data<float>()[c * plane + y * 48 + x] == want;
      }
  CHECK(exact);
  auto K = b.K.to_vector();
  Eigen::Matrix3d K0 = test_K(48, 16);
  for (int i = 0; i < 9; ++i) CHECK(K[i] == Approx(K0(i / 3, i % 3)).margin(1e-5));
  // Scene "big" (96x32 -> 48x16): fx, fy halved, c' = (c + 0.5)/2 - 0.5.
  Eigen::Matrix3d K1 = test_K(96, 32);
  CHECK(K[9 + 0] == Approx(K1(0, 0) / 2).margin(1e-4));
  CHECK(K[9 + 4] == Approx(K1(1, 1) / 2).margin(1e-4));
  CHECK(K[9 + 2] == Approx((K1(0, 2) + 0.5) / 2 - 0.5).margin(1e-4));
  CHECK(K[9 + 5] == Approx((K1(1, 2) + 0.5) / 2 - 0.5).margin(1e-4));
  CHECK(tgt_red(b, 1) == red_of(1));  // constant channels survive INTER_AREA exactly
}

TEST_CASE("dataset: ground-truth depth and poses follow the snippet", "[dataset]") {
  fs::path root = fresh_dir("gt");
  SceneSpec s{"gt", 5, 48, 16, 0};
  s.poses = true;
  s.depth = true;
  write_scene(root, s);
  write_list(root, "train", {"gt"});
  DataLoader dl(root.string(), plain_opts(16, 48, 3));
  REQUIRE(dl.dataset().has_depth());
  REQUIRE(dl.dataset().has_poses());
  Batch b = dl.get_snippets({1});  // frames 1, 2, 3; target 2
  REQUIRE(b.depth_gt.shape() == Shape{1, 1, 16, 48});
  REQUIRE(b.poses_gt.shape() == Shape{1, 3, 3, 4});
  auto d = b.depth_gt.to_vector();
  CHECK(d[0] == Approx(3.0f));
  CHECK(d[47] == Approx(3.0f + 0.047f));
  auto P = b.poses_gt.to_vector();
  for (int k = 0; k < 3; ++k) {
    CHECK(P[k * 12 + 3] == Approx(0.1 * (k + 1)));
    CHECK(P[k * 12 + 7] == Approx(0.2 * (k + 1)));
    CHECK(P[k * 12 + 11] == Approx(k + 1.5));
  }
  // Flipping mirrors the world: D T D with D = diag(-1,1,1,1) negates t_x.
  AugmentParams fp;
  fp.width = fp.scaled_w = 48;
  fp.height = fp.scaled_h = 16;
  fp.flip = true;
  Pose34 T;
  T << 0.8, -0.6, 0, 1, 0.6, 0.8, 0, 2, 0, 0, 1, 3;
  Pose34 Tf = augment_pose(T, fp);
  CHECK(Tf(0, 3) == -1);
  CHECK(Tf(1, 3) == 2);
  CHECK(Tf(0, 1) == 0.6);
  CHECK(Tf(1, 0) == -0.6);
  CHECK(Tf(0, 0) == 0.8);
  // A scene without depth files gives no depth tensor; without poses.txt no pose tensor.
  fs::path root2 = fresh_dir("nogt");
  write_scene(root2, {"plain", 4, 48, 16, 0});
  write_list(root2, "train", {"plain"});
  DataLoader dl2(root2.string(), plain_opts(16, 48));
  Batch b2 = dl2.get_snippets({0});
  CHECK_FALSE(b2.depth_gt.defined());
  CHECK_FALSE(b2.poses_gt.defined());
}

// ----------------------------------------------------------------------------- augmentation geometry
TEST_CASE("augment: a marked point moves exactly as the adjusted K predicts (scale, crop, flip)", "[dataset][augment]") {
  // A smooth blob (sigma 2.5 px) at a sub-pixel position; float images, so no quantisation.
  // Its intensity-weighted centroid moves with the image mapping to within 0.01 px
  // (bilinear interpolation bias; measured max 0.008 px, at the non-integer 110x73 scale,
  // exact to 1e-7 px for integer scales and crops); the tolerance 0.02 px
  // is far below the errors a wrong convention makes: cx*s instead of (cx+0.5)*s-0.5 is off
  // by 0.5*(s-1) = 0.25 px at s = 1.5, a flip about W instead of W-1 by 1 px, a crop sign
  // error by 2*offset.
  const int W = 96, H = 64;
  const double u0 = 41.3, v0 = 30.6;
  cv::Mat img = blob(W, H, u0, v0, 2.5);
  Eigen::Matrix3d K;
  K << 70, 0, 47.2, 0, 66, 31.9, 0, 0, 1;
  struct Case {
    int sw, sh, cx, cy;
    bool flip;
  };
  for (Case c : {Case{W, H, 0, 0, true}, Case{144, 96, 17, 9, false}, Case{144, 96, 30, 21, true},
                 Case{110, 73, 5, 8, true}, Case{W + 1, H, 1, 0, false}}) {
    INFO("scaled " << c.sw << "x" << c.sh << " crop " << c.cx << "," << c.cy << " flip " << c.flip);
    AugmentParams p;
    p.width = W;
    p.height = H;
    p.scaled_w = c.sw;
    p.scaled_h = c.sh;
    p.crop_x = c.cx;
    p.crop_y = c.cy;
    p.flip = c.flip;
    cv::Mat out = augment_image(img, p);
    REQUIRE(out.cols == W);
    REQUIRE(out.rows == H);
    cv::Point2d got = centroid(out);
    cv::Point2d want = map_pixel(K, augment_intrinsics(K, p), u0, v0, p.flip);
    CHECK(std::abs(got.x - want.x) < 0.02);
    CHECK(std::abs(got.y - want.y) < 0.02);
    // The depth map goes through the same geometry (nearest neighbour): a marked pixel
    // lands on the pixel nearest to where K puts it.
    cv::Mat dm = cv::Mat::zeros(H, W, CV_32F);
    dm.at<float>(30, 41) = 7.0f;
    cv::Mat dout = augment_depth(dm, p);
    cv::Point2d q = map_pixel(K, augment_intrinsics(K, p), 41, 30, p.flip);
    CHECK(dout.at<float>((int)std::lround(q.y), (int)std::lround(q.x)) == 7.0f);
  }
  // Resizing to the network size (INTER_AREA, 2x and a non-integer 1.5x reduction).
  for (auto [w2, h2] : {std::pair{48, 32}, std::pair{64, 40}}) {
    INFO("resize to " << w2 << "x" << h2);
    cv::Mat r = resize_image_area(img, w2, h2);
    cv::Point2d got = centroid(r);
    cv::Point2d want = map_pixel(K, resize_intrinsics(K, W, H, w2, h2), u0, v0);
    // Area averaging over boxes of 2 (or 1.5) pixels keeps the centroid to ~0.01 px.
    CHECK(std::abs(got.x - want.x) < 0.02);
    CHECK(std::abs(got.y - want.y) < 0.02);
  }
}

TEST_CASE("loader: random augmentation keeps image and K consistent end to end", "[dataset][augment]") {
  // Frames (144x48 files loaded at 72x24, so resizing and augmentation compose) hold a
  // bright blob; for every augmented sample the blob's centroid in the batch image must sit
  // where the batch K maps the blob's position in the file. 8-bit images: tolerance 0.06 px
  // (rounding to 8 bits after each resampling plus interpolation bias: measured max 0.014
  // px), well below the 0.25-1 px errors of a wrong convention (see above).
  fs::path root = fresh_dir("aug_e2e");
  const int W0 = 144, H0 = 48, W = 72, H = 24;
  const double u0 = 70.4, v0 = 23.3;
  fs::create_directories(root / "s");
  cv::Mat b = blob(W0, H0, u0, v0, 4.0);
  cv::Mat b8;
  b.convertTo(b8, CV_8U);
  cv::Mat bgr;
  cv::merge(std::vector<cv::Mat>{b8, b8, b8}, bgr);
  for (int k = 0; k < 5; ++k) cv::imwrite((root / "s" / (frame_name(k) + ".png")).string(), bgr);
  Eigen::Matrix3d K0 = test_K(W0, H0);
  write_K(root / "s" / "cam.txt", K0);
  write_list(root, "train", {"s"});
  LoaderOptions o = plain_opts(H, W);
  o.augment = true;
  o.seed = 3;
  DataLoader dl(root.string(), o);
  int flips = 0, scaled = 0;
  for (int64_t epoch = 0; epoch < 6; ++epoch) {
    Batch bt = dl.get_snippets({0, 1, 2}, true, epoch);
    for (int j = 0; j < 3; ++j) {
      cv::Mat m(H, W, CV_32F);
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) m.at<float>(y, x) = (bt.tgt.data<float>()[(j * 3) * H * W + y * W + x] + 1.0f) * 127.5f;
      auto Kv = bt.K.to_vector();
      Eigen::Matrix3d Kb;
      for (int i = 0; i < 9; ++i) Kb(i / 3, i % 3) = Kv[j * 9 + i];
      AugmentOptions ao;  // the loader's options: scale [1, 1.15], flip, no jitter
      AugmentParams p = sample_augment(ao, W, H, o.seed, epoch, (uint64_t)j);
      cv::Point2d want = map_pixel(K0, Kb, u0, v0, p.flip);
      cv::Point2d got = centroid(m);
      INFO("epoch " << epoch << " sample " << j << " K " << Kb(0, 0) << " " << Kb(0, 2) << " flip " << p.flip);
      CHECK(std::abs(got.x - want.x) < 0.06);
      CHECK(std::abs(got.y - want.y) < 0.06);
      flips += p.flip ? 1 : 0;
      scaled += (p.scaled_w > W || p.scaled_h > H) ? 1 : 0;
    }
  }
  CHECK(flips > 0);   // both flipped and unflipped samples were exercised
  CHECK(flips < 18);
  CHECK(scaled > 0);
}

// ----------------------------------------------------------------------------- determinism
TEST_CASE("loader: batches are a pure function of the seed; resuming equals the uninterrupted run", "[dataset][loader]") {
  fs::path root = fresh_dir("determinism");
  write_scene(root, {"a", 6, 48, 16, 0});
  write_scene(root, {"b", 5, 48, 16, 1});
  write_list(root, "train", {"a", "b"});
  LoaderOptions o = plain_opts(16, 48);
  o.augment = true;
  o.color_jitter = true;
  o.shuffle = true;
  o.batch = 2;
  o.seed = 11;
  o.workers = 2;
  o.prefetch = 3;
  DataLoader ref(root.string(), o);
  REQUIRE(ref.size() == 7);
  REQUIRE(ref.batches_per_epoch() == 3);
  std::vector<Batch> want;
  for (int i = 0; i < 8; ++i) want.push_back(ref.next());  // crosses two epoch boundaries
  CHECK(ref.epoch() == 2);
  CHECK(ref.position() == 2);
  CHECK(ref.wait_fraction() >= 0.0);
  CHECK(ref.wait_fraction() <= 1.0);
  // Each epoch visits distinct snippets; consecutive epochs are shuffled differently.
  std::vector<size_t> e0, e1;
  for (int i = 0; i < 3; ++i) e0.insert(e0.end(), want[i].snippets.begin(), want[i].snippets.end());
  for (int i = 3; i < 6; ++i) e1.insert(e1.end(), want[i].snippets.begin(), want[i].snippets.end());
  CHECK(std::set<size_t>(e0.begin(), e0.end()).size() == 6);
  CHECK(e0 != e1);

  SECTION("no workers, other prefetch: same batches") {
    LoaderOptions o2 = o;
    o2.workers = 0;
    DataLoader dl(root.string(), o2);
    for (int i = 0; i < 8; ++i) CHECK(same_batch(dl.next(), want[i]));
  }
  SECTION("resume from state() after 4 batches") {
    std::string st;
    {
      DataLoader first(root.string(), o);
      for (int i = 0; i < 4; ++i) CHECK(same_batch(first.next(), want[i]));
      st = first.state();
    }
    DataLoader resumed(root.string(), o);
    resumed.set_state(st);
    CHECK(resumed.epoch() == 1);
    CHECK(resumed.position() == 1);
    for (int i = 4; i < 8; ++i) CHECK(same_batch(resumed.next(), want[i]));
  }
  SECTION("set_state while batches are prefetched") {
    DataLoader dl(root.string(), o);
    dl.next();
    dl.next();
    dl.set_state(R"({"epoch":1,"position":2,"seed":11,"snippets":7,"batch":2})");
    CHECK(same_batch(dl.next(), want[5]));
    CHECK(same_batch(dl.next(), want[6]));
  }
  SECTION("another seed gives another order") {
    LoaderOptions o3 = o;
    o3.seed = 12;
    DataLoader dl(root.string(), o3);
    bool all_same = true;
    for (int i = 0; i < 3; ++i) all_same = all_same && same_batch(dl.next(), want[i]);
    CHECK_FALSE(all_same);
  }
  SECTION("a state from another configuration is rejected") {
    DataLoader dl(root.string(), o);
    CHECK_THROWS_WITH(dl.set_state(R"({"epoch":0,"position":0,"seed":5,"snippets":7,"batch":2})"),
                      Catch::Contains("seed 5"));
    CHECK_THROWS_WITH(dl.set_state(R"({"epoch":0,"position":0,"seed":11,"snippets":9,"batch":2})"),
                      Catch::Contains("9 snippets"));
    CHECK_THROWS_WITH(dl.set_state("garbage"), Catch::Contains("not a loader state"));
  }
}

TEST_CASE("loader: in_memory gives the same batches as decoding from disk", "[dataset][loader]") {
  fs::path root = fresh_dir("in_memory");
  SceneSpec s{"m", 6, 96, 32, 2};
  s.depth = true;
  s.poses = true;
  s.ext = ".jpg";
  write_scene(root, s);
  write_list(root, "train", {"m"});
  LoaderOptions o = plain_opts(16, 48);
  o.augment = true;
  o.color_jitter = true;
  o.shuffle = true;
  o.batch = 2;
  o.seed = 5;
  o.workers = 2;
  DataLoader disk(root.string(), o);
  o.in_memory = true;
  DataLoader mem(root.string(), o);
  for (int i = 0; i < 5; ++i) CHECK(same_batch(disk.next(), mem.next()));
  CHECK(same_batch(disk.get_snippets({3, 0}, true, 2), mem.get_snippets({3, 0}, true, 2)));
}

// ----------------------------------------------------------------------------- TF layout
TEST_CASE("dataset: the TensorFlow layout gives the same snippets as the formatted one", "[dataset]") {
  fs::path fmt = fresh_dir("layout_fmt"), tf = fresh_dir("layout_tf");
  const int W = 48, H = 16;
  write_scene(fmt, {"drive_02", 6, W, H, 1});
  write_list(fmt, "train", {"drive_02"});
  // TF: one image per snippet, frames concatenated horizontally, "<frame>_cam.txt".
  fs::create_directories(tf / "drive_02");
  std::vector<std::string> lines;
  for (int c = 1; c + 1 < 6; ++c) {
    std::vector<cv::Mat> parts;
    for (int k = c - 1; k <= c + 1; ++k) parts.push_back(cv::imread((fmt / "drive_02" / (frame_name(k) + ".png")).string()));
    cv::Mat cat;
    cv::hconcat(parts, cat);
    cv::imwrite((tf / "drive_02" / (frame_name(c) + ".png")).string(), cat);
    write_K(tf / "drive_02" / (frame_name(c) + "_cam.txt"), test_K(W, H), true);
    lines.push_back("drive_02 " + frame_name(c));
  }
  write_list(tf, "train", lines);
  LoaderOptions o = plain_opts(H, W);
  DataLoader a(fmt.string(), o), b(tf.string(), o);
  REQUIRE(b.dataset().layout() == DataLayout::TensorFlow);
  REQUIRE(a.size() == 4);
  REQUIRE(b.size() == 4);
  auto idx = all_indices(4);
  CHECK(same_batch(a.get_snippets(idx), b.get_snippets(idx)));
  CHECK(same_batch(a.get_snippets(idx, true, 7), b.get_snippets(idx, true, 7)));  // same augmentation too
  CHECK(b.get_snippets({2}).ids[0] == "drive_02/" + frame_name(3));

  SECTION("5-frame TF samples with 3-frame snippets: each sample yields 3 snippets") {
    fs::path tf5 = fresh_dir("layout_tf5");
    fs::create_directories(tf5 / "d");
    std::vector<cv::Mat> parts;
    for (int k = 0; k < 5; ++k) parts.push_back(cv::imread((fmt / "drive_02" / (frame_name(k) + ".png")).string()));
    cv::Mat cat;
    cv::hconcat(parts, cat);
    cv::imwrite((tf5 / "d" / "x.png").string(), cat);
    write_K(tf5 / "d" / "x_cam.txt", test_K(W, H), true);
    write_list(tf5, "train", {"d x"});
    LoaderOptions o5 = plain_opts(H, W);
    o5.tf_seq_length = 5;
    DataLoader c(tf5.string(), o5);
    REQUIRE(c.size() == 3);
    Batch bc = c.get_snippets({0, 1, 2});
    for (int j = 0; j < 3; ++j) {
      CHECK(tgt_red(bc, j) == red_of(j + 1));
      CHECK(src_red(bc, j, 0) == red_of(j));
      CHECK(src_red(bc, j, 1) == red_of(j + 2));
    }
    // tf_seq_length not dividing the width is reported
    o5.tf_seq_length = 7;
    CHECK_THROWS_WITH(DataLoader(tf5.string(), o5), Catch::Contains("x.png") && Catch::Contains("not a multiple"));
  }
}

// ----------------------------------------------------------------------------- bad input
TEST_CASE("dataset: bad input is reported with the path, or skipped and counted", "[dataset][bad]") {
  auto good_root = [](const std::string& name) {
    fs::path root = fresh_dir(name);
    write_scene(root, {"ok", 6, 48, 16, 0});
    return root;
  };
  LoaderOptions o = plain_opts(16, 48);
  LoaderOptions skip = o;
  skip.skip_bad = true;

  SECTION("missing split file") {
    fs::path root = good_root("bad_split");
    CHECK_THROWS_WITH(DataLoader(root.string(), o), Catch::Contains((root / "train.txt").string()));
  }
  SECTION("train.txt names a missing folder") {
    fs::path root = good_root("bad_folder");
    write_list(root, "train", {"ok", "nope"});
    CHECK_THROWS_WITH(DataLoader(root.string(), o),
                      Catch::Contains("'nope'") && Catch::Contains("does not exist") && Catch::Contains("line 2"));
    DataLoader dl(root.string(), skip);
    CHECK(dl.bad_count() == 1);
    CHECK(dl.size() == 4);
  }
  SECTION("cam.txt without 9 numbers") {
    fs::path root = good_root("bad_cam");
    write_scene(root, {"cam8", 4, 48, 16, 1});
    { std::ofstream(root / "cam8" / "cam.txt") << "1 0 2\n0 1 3\n0 0\n"; }
    write_list(root, "train", {"ok", "cam8"});
    std::string cam = (root / "cam8" / "cam.txt").string();
    CHECK_THROWS_WITH(DataLoader(root.string(), o), Catch::Contains(cam) && Catch::Contains("expected 9 numbers") &&
                                                        Catch::Contains("found 8"));
    DataLoader dl(root.string(), skip);
    CHECK(dl.bad_count() == 1);
    CHECK(dl.size() == 4);
    { std::ofstream(root / "cam8" / "cam.txt") << "1 0 2 0 1 x 0 0 1\n"; }
    CHECK_THROWS_WITH(DataLoader(root.string(), o), Catch::Contains(cam) && Catch::Contains("'x' is not a number"));
  }
  SECTION("scene shorter than the snippet") {
    fs::path root = good_root("bad_short");
    write_scene(root, {"short", 2, 48, 16, 1});
    write_list(root, "train", {"ok", "short"});
    CHECK_THROWS_WITH(DataLoader(root.string(), o), Catch::Contains((root / "short").string()) &&
                                                        Catch::Contains("2 frames, fewer than the snippet length 3"));
    DataLoader dl(root.string(), skip);
    CHECK(dl.bad_count() == 1);
    CHECK(dl.size() == 4);
  }
  SECTION("unreadable frame (not an image)") {
    fs::path root = good_root("bad_frame");
    write_list(root, "train", {"ok"});
    std::string f3 = (root / "ok" / (frame_name(3) + ".png")).string();
    { std::ofstream(f3, std::ios::binary) << "definitely not a png"; }
    CHECK_THROWS_WITH(DataLoader(root.string(), o), Catch::Contains(f3) && Catch::Contains("cannot read image"));
    DataLoader dl(root.string(), skip);
    CHECK(dl.bad_count() == 1);
    CHECK(dl.size() == 1);  // of the 4 snippets only frames 0,1,2 avoid frame 3
    CHECK(dl.get_snippets({0}).ids[0] == "ok/" + frame_name(1));
  }
  SECTION("frame that fails to decode (valid header, truncated data)") {
    fs::path root = good_root("bad_decode");
    write_list(root, "train", {"ok"});
    std::string f2 = (root / "ok" / (frame_name(2) + ".png")).string();
    std::string bytes;
    {
      std::ifstream in(f2, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    { std::ofstream(f2, std::ios::binary) << bytes.substr(0, 40); }  // PNG signature + IHDR only
    LoaderOptions ob = o;
    ob.batch = 4;
    DataLoader dl(root.string(), ob);  // headers are fine: the error comes from next()
    CHECK_THROWS_WITH(dl.next(), Catch::Contains(f2) && Catch::Contains("cannot decode"));
    CHECK_THROWS_WITH(dl.get_snippets({0}), Catch::Contains(f2));
    LoaderOptions sb = skip;
    sb.batch = 1;
    sb.workers = 2;
    DataLoader ds(root.string(), sb);  // snippets 0,1,2 use frame 2; only snippet 3 loads
    for (int i = 0; i < 4; ++i) CHECK(ds.next().ids[0] == "ok/" + frame_name(4));
    CHECK(ds.bad_count() == 3);
  }
  SECTION("mixed image sizes within a scene") {
    fs::path root = good_root("bad_mixed");
    write_list(root, "train", {"ok"});
    std::string f4 = (root / "ok" / (frame_name(4) + ".png")).string();
    cv::imwrite(f4, tagged_frame(50, 16, 1, 1));
    CHECK_THROWS_WITH(DataLoader(root.string(), o), Catch::Contains("mixed image sizes") && Catch::Contains(f4) &&
                                                        Catch::Contains("50x16") && Catch::Contains("48x16"));
    // skipping the only scene leaves nothing: that is still an error
    CHECK_THROWS_WITH(DataLoader(root.string(), skip), Catch::Contains("no snippet"));
    write_scene(root, {"ok2", 3, 48, 16, 1});
    write_list(root, "train", {"ok", "ok2"});
    DataLoader dl2(root.string(), skip);
    CHECK(dl2.bad_count() == 1);
    CHECK(dl2.size() == 1);
  }
  SECTION("TensorFlow layout: missing frame, bad cam file") {
    fs::path root = fresh_dir("bad_tf");
    fs::create_directories(root / "f");
    cv::imwrite((root / "f" / "a.jpg").string(), tagged_frame(3 * 48, 16, 1, 1));
    { std::ofstream(root / "f" / "a_cam.txt") << "1,0,2,0,1,3,0,0,1"; }
    write_list(root, "train", {"f a", "f b"});
    CHECK_THROWS_WITH(DataLoader(root.string(), o), Catch::Contains("line 2") && Catch::Contains("'b'") &&
                                                        Catch::Contains((root / "f" / "b.jpg").string()));
    DataLoader dl(root.string(), skip);
    CHECK(dl.size() == 1);
    CHECK(dl.bad_count() == 1);
    { std::ofstream(root / "f" / "a_cam.txt") << "1,0,2,0,1,3,0,0"; }
    write_list(root, "train", {"f a"});
    CHECK_THROWS_WITH(DataLoader(root.string(), o), Catch::Contains((root / "f" / "a_cam.txt").string()) &&
                                                        Catch::Contains("found 8"));
  }
  SECTION("poses.txt with the wrong number of lines") {
    fs::path root = good_root("bad_poses");
    { std::ofstream(root / "ok" / "poses.txt") << "1 0 0 0 0 1 0 0 0 0 1 0\n"; }
    write_list(root, "train", {"ok"});
    CHECK_THROWS_WITH(DataLoader(root.string(), o),
                      Catch::Contains((root / "ok" / "poses.txt").string()) && Catch::Contains("1 poses for 6 frames"));
  }
}

// ----------------------------------------------------------------------------- sfm synth output
TEST_CASE("loader: reads sfm synth's formatted output with its depth and poses", "[dataset][synth]") {
  using namespace sfm::synth;
  fs::path root = fresh_dir("synth_formatted");
  fs::remove_all(root);
  SynthOptions so;
  so.scenes = 2;
  so.frames = 4;
  so.height = 32;
  so.width = 104;
  so.seed = 2;
  so.supersample = 1;
  so.progress = false;
  so.val_fraction = 0.5;
  so.image_format = "png";
  write_synthetic_dataset(root.string(), so);
  LoaderOptions o = plain_opts(so.height, so.width);
  DataLoader dl(root.string(), o);
  REQUIRE(dl.dataset().has_depth());
  REQUIRE(dl.dataset().has_poses());
  REQUIRE(dl.size() == 2);  // one training scene of 4 frames
  Batch b = dl.get_snippets({1});
  const SceneInfo& sc = dl.dataset().scene(0);
  // depth_gt is the target's .npy, poses_gt the scene's poses of frames 1..3
  NpyArray d = load_npy(sc.frames[2].depth_path);
  CHECK(b.depth_gt.to_vector() == d.data);
  auto P = b.poses_gt.to_vector();
  for (int k = 0; k < 3; ++k)
    for (int e = 0; e < 12; ++e) CHECK(P[k * 12 + e] == Approx(sc.poses[1 + k](e / 4, e % 4)).margin(1e-6));
  Intrinsics K = kitti_intrinsics(so.height, so.width);
  auto Kb = b.K.to_vector();
  CHECK(Kb[0] == Approx(K.fx).margin(1e-4));
  CHECK(Kb[2] == Approx(K.cx).margin(1e-4));
  CHECK(Kb[5] == Approx(K.cy).margin(1e-4));
  DataLoader val(root.string(), [&] {
    LoaderOptions v = o;
    v.split = "val";
    return v;
  }());
  CHECK(val.size() == 2);
  CHECK(val.get_snippets({0}).ids[0] != b.ids[0]);
}
