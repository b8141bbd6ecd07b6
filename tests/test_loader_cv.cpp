// The loader and augmentation: a marked point moves as the adjusted K predicts, batches are a
// pure function of the seed (resuming equals the uninterrupted run), in-memory equals decoding,
// and sfm synth's output is read with its depth and poses. The scenes: tests/dataset_support_cv.h.
#include <catch2/catch.hpp>

#include "tests/dataset_support_cv.h"

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
using namespace sfm::test::dataset_support;



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
    SfMBatch bt = dl.get_snippets({0, 1, 2}, true, epoch);
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
  std::vector<SfMBatch> want;
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
  SfMBatch b = dl.get_snippets({1});
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
