// The training data loader: snippet indexing (both layouts), resizing and augmentation with
// exact intrinsics, determinism and resumption, in-memory == from-disk, and every bad-input
// case with its message. Data is written by the tests themselves (tiny PNG/JPEG via OpenCV).
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
    SfMBatch b = dl.get_snippets(all_indices(dl.size()));
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
  SfMBatch b = dl.get_snippets({0, 1, 2});
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
  SfMBatch b = dl.get_snippets({0, 1});
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
  SfMBatch b = dl.get_snippets({1});  // frames 1, 2, 3; target 2
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
  SfMBatch b2 = dl2.get_snippets({0});
  CHECK_FALSE(b2.depth_gt.defined());
  CHECK_FALSE(b2.poses_gt.defined());
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
    SfMBatch bc = c.get_snippets({0, 1, 2});
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
