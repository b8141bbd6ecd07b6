// `sfm prepare --video / --frames` (train/own/own_camera.h): the K transform of crop + resize,
// the motion filter, synthetic sources (`sfm synth --layout frames|video`) prepared and
// trained on, and the errors for bad input. Images are tiny (48x160 in, 32x104 out).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <opencv2/calib3d.hpp>
#include <opencv2/core/persistence.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "train/config.h"
#include "train/data/augment.h"
#include "train/own/cityscapes.h"
#include "train/own/own_camera.h"
#include "train/synth/synth_world.h"
#include "train/synth/synth_writer.h"
#include "train/trainer.h"

using namespace sfm;
namespace fs = std::filesystem;

namespace {

fs::path fresh(const std::string& name) {
  fs::path d = fs::temp_directory_path() / "sfm_test_prepare_own" / name;
  fs::remove_all(d);
  fs::create_directories(d.parent_path());
  return d;
}

std::vector<double> numbers(const fs::path& p) {
  std::ifstream f(p);
  std::vector<double> v;
  for (double x; f >> x;) v.push_back(x);
  return v;
}

std::vector<std::string> lines(const fs::path& p) {
  std::ifstream f(p);
  std::vector<std::string> v;
  for (std::string l; std::getline(f, l);)
    if (!l.empty()) v.push_back(l);
  return v;
}

std::vector<std::string> stems(const fs::path& dir, const std::string& ext) {
  std::vector<std::string> v;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ext) v.push_back(e.path().stem().string());
  std::sort(v.begin(), v.end());
  return v;
}

constexpr int kInH = 48, kInW = 160, kOutH = 32, kOutW = 104;

synth::SynthOptions source_opts(const std::string& layout, int scenes, int frames) {
  synth::SynthOptions so;
  so.layout = layout;
  so.scenes = scenes;
  so.frames = frames;
  so.height = kInH;
  so.width = kInW;
  so.seed = 7;
  so.supersample = 1;
  so.moving_objects = 0;
  so.progress = false;
  so.threads = 2;
  return so;
}

own::OwnOptions own_opts(const fs::path& out) {
  own::OwnOptions o;
  o.out = out.string();
  o.height = kOutH;
  o.width = kOutW;
  o.val_fraction = 0.0;
  o.progress = false;
  o.min_frames = 3;
  return o;
}

// Two steps of `sfm train` (the trainer behind it) on a prepared folder.
void train_two_steps(const fs::path& data, const fs::path& run) {
  TrainConfig c;
  for (auto [k, v] : std::vector<std::pair<const char*, std::string>>{
           {"data", data.string()}, {"height", std::to_string(kOutH)}, {"width", std::to_string(kOutW)},
           {"batch", "2"}, {"steps", "2"}, {"val_every", "0"}, {"log_every", "1"}, {"plot_every", "0"},
           {"workers", "1"}, {"tensorboard", "false"}, {"seed", "3"}})
    c.set(k, v, "test");
  fs::remove_all(run);
  TrainResult r = train(c, run.string(), false);
  CHECK_FALSE(r.failed);
  CHECK(r.end_step == 2);
  CHECK(std::isfinite(r.last_loss));
}

Eigen::Matrix3d K_of(const std::vector<double>& v) {
  Eigen::Matrix3d K;
  for (int i = 0; i < 9; ++i) K(i / 3, i % 3) = v.at(i);
  return K;
}

}  // namespace

TEST_CASE("prepare own: K follows the crop and the resize exactly", "[prepare][own]") {
  Eigen::Matrix3d K;
  K << 700, 0, 640.3, 0, 690, 359.7, 0, 0, 1;
  own::Crop c{20, 100, 30, 50};  // top, bottom, left, right
  const int w0 = 1280, h0 = 720, w = 416, h = 128;
  Eigen::Matrix3d Kp = own::crop_resize_intrinsics(K, c, w0, h0, w, h);
  const double sx = 416.0 / (1280 - 80), sy = 128.0 / (720 - 120);
  CHECK(Kp(0, 0) == Approx(700 * sx).epsilon(1e-12));
  CHECK(Kp(1, 1) == Approx(690 * sy).epsilon(1e-12));
  CHECK(Kp(0, 2) == Approx((640.3 - 30 + 0.5) * sx - 0.5).epsilon(1e-12));
  CHECK(Kp(1, 2) == Approx((359.7 - 20 + 0.5) * sy - 0.5).epsilon(1e-12));
  // A 3D point lands where the crop and resize move its pixel: u' = (u - left + 0.5) sx - 0.5.
  Eigen::Vector3d X(0.7, -0.3, 4.0);
  Eigen::Vector3d p = K * X, q = Kp * X;
  CHECK(q.x() / q.z() == Approx((p.x() / p.z() - 30 + 0.5) * sx - 0.5).epsilon(1e-12));
  CHECK(q.y() / q.z() == Approx((p.y() / p.z() - 20 + 0.5) * sy - 0.5).epsilon(1e-12));

  CHECK(own::parse_crop("1,2,3,4", "--crop").right == 4);
  CHECK_THROWS_WITH(own::parse_crop("1,2,3", "--crop"), Catch::Contains("--crop"));
  CHECK_THROWS_WITH(own::parse_crop("1,-2,3,4", "--crop"), Catch::Contains("--crop"));
  CHECK(own::parse_intrinsics("1,2,3,4", "--intrinsics")(1, 2) == 4);
  CHECK_THROWS_WITH(own::parse_intrinsics("1,2,x,4", "--intrinsics"), Catch::Contains("--intrinsics"));
  CHECK_THROWS_WITH(own::parse_intrinsics("0,2,3,4", "--intrinsics"), Catch::Contains("fx and fy"));
}

TEST_CASE("prepare own: synthetic frame folders -> prepare (crop, stride) -> train", "[prepare][own][train]") {
  fs::path src = fresh("frames_src"), out = fresh("frames_out"), run = fresh("frames_run");
  synth::write_synthetic_dataset(src.string(), source_opts("frames", 2, 9));
  REQUIRE(fs::exists(src / "cam.txt"));
  REQUIRE(fs::exists(src / "poses" / "synth_0000.txt"));

  own::OwnOptions o = own_opts(out);
  o.frame_dirs = {(src / "synth_0000").string(), (src / "synth_0001").string()};
  o.calib = (src / "cam.txt").string();
  o.crop = {4, 8, 6, 10};
  o.stride = 2;
  own::OwnReport r = own::prepare_own(o);
  CHECK(r.scenes == 2);
  CHECK(r.frames_read == 18);
  CHECK(r.stride_skipped == 8);     // frames 1,3,5,7 of each scene
  CHECK(r.motion_dropped == 0);     // the synthetic car moves 0.5..1.5 m per frame
  CHECK(r.frames == 10);
  CHECK(stems(out / "synth_0000", ".jpg") ==
        std::vector<std::string>{"0000000000", "0000000002", "0000000004", "0000000006", "0000000008"});
  // split by scene (split_drives keeps one scene each side when there are two)
  auto tr = lines(out / "train.txt"), va = lines(out / "val.txt");
  CHECK(tr.size() == 1);
  CHECK(va.size() == 1);
  std::set<std::string> both(tr.begin(), tr.end());
  both.insert(va.begin(), va.end());
  CHECK(both == std::set<std::string>{"synth_0000", "synth_0001"});

  // cam.txt = the source K after crop and resize (written with 9 significant digits)
  Eigen::Matrix3d K0 = synth::kitti_intrinsics(kInH, kInW).K();
  Eigen::Matrix3d want = own::crop_resize_intrinsics(K0, o.crop, kInW, kInH, kOutW, kOutH);
  Eigen::Matrix3d got = K_of(numbers(out / "synth_0001" / "cam.txt"));
  CHECK((got - want).cwiseAbs().maxCoeff() < 1e-6 * want.cwiseAbs().maxCoeff());
  // the image is the crop, area-resized: JPEG q95 at 104x32 leaves a mean absolute
  // difference of about 3.6 grey levels (measured); the uncropped frame resized instead
  // (K and image disagreeing by the crop) must differ by clearly more
  cv::Mat in = cv::imread((src / "synth_0000" / "0000000004.png").string());
  cv::Mat crop = in(cv::Rect(6, 4, kInW - 16, kInH - 12));
  cv::Mat expect = resize_image_area(crop, kOutW, kOutH), wrong = resize_image_area(in, kOutW, kOutH), diff;
  cv::Mat written = cv::imread((out / "synth_0000" / "0000000004.jpg").string());
  REQUIRE(written.size() == expect.size());
  cv::absdiff(written, expect, diff);
  double d_right = cv::mean(diff)[0];
  cv::absdiff(written, wrong, diff);
  double d_wrong = cv::mean(diff)[0];
  INFO("mean abs difference to the crop " << d_right << ", to the uncropped frame " << d_wrong);
  CHECK(d_right < 5.0);
  CHECK(d_wrong > 2 * d_right);

  train_two_steps(out, run);
}

TEST_CASE("prepare own: synthetic video -> prepare -> train; repeated frames are exactly the dropped ones",
          "[prepare][own][video][train]") {
  fs::path src = fresh("video_src"), out = fresh("video_out"), run = fresh("video_run");
  synth::write_synthetic_dataset(src.string(), source_opts("video", 1, 8));
  REQUIRE(fs::exists(src / "synth_0000.avi"));

  own::OwnOptions o = own_opts(out);
  o.videos = {(src / "synth_0000.avi").string()};
  o.intrinsics = "200,201,80.5,23.5";
  own::OwnReport r = own::prepare_own(o);
  CHECK(r.frames_read == 8);
  CHECK(r.motion_dropped == 0);
  CHECK(r.frames == 8);
  Eigen::Matrix3d K0;
  K0 << 200, 0, 80.5, 0, 201, 23.5, 0, 0, 1;
  Eigen::Matrix3d got = K_of(numbers(out / "synth_0000" / "cam.txt"));
  CHECK((got - own::crop_resize_intrinsics(K0, {}, kInW, kInH, kOutW, kOutH)).cwiseAbs().maxCoeff() < 1e-6);
  train_two_steps(out, run);

  // A video of the rendered frames with frames held (a stopped car): 0 1 1 1 2 3 3 4 5 5 5 5
  // (MJPG decodes a repeated frame to the same pixels, difference 0 < the default 1.0).
  fs::path held = src.parent_path() / "held.avi";
  std::vector<int> order{0, 1, 1, 1, 2, 3, 3, 4, 5, 5, 5, 5};
  {
    fs::path frames = fresh("held_frames");
    synth::write_synthetic_dataset(frames.string(), source_opts("frames", 1, 6));
    cv::VideoWriter vw(held.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, cv::Size(kInW, kInH));
    REQUIRE(vw.isOpened());
    for (int k : order) {
      char fn[32];
      std::snprintf(fn, sizeof fn, "%010d.png", k);
      vw.write(cv::imread((frames / "synth_0000" / fn).string()));
    }
  }
  fs::path out2 = fresh("held_out");
  own::OwnOptions h = own_opts(out2);
  h.videos = {held.string()};
  h.intrinsics = "200,201,80.5,23.5";
  own::OwnReport rh = own::prepare_own(h);
  CHECK(rh.frames_read == 12);
  CHECK(rh.motion_dropped == 6);  // exactly the repeats
  CHECK(stems(out2 / "held", ".jpg") == std::vector<std::string>{"0000000000", "0000000001", "0000000004",
                                                                  "0000000005", "0000000007", "0000000008"});
  // --min-motion 0 keeps them all
  fs::path out3 = fresh("held_all");
  h.out = out3.string();
  h.min_motion = 0;
  CHECK(own::prepare_own(h).frames == 12);
}

TEST_CASE("prepare own: bad input stops with a message naming the file and writes nothing", "[prepare][own][bad]") {
  fs::path dir = fresh("bad");
  fs::create_directories(dir);
  fs::path out = dir / "out";
  auto no_output = [&] {
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().filename().string().rfind("out", 0) == 0) return false;
    return true;
  };
  // corrupt video
  fs::path corrupt = dir / "corrupt.avi";
  std::ofstream(corrupt) << "this is not a video";
  own::OwnOptions o = own_opts(out);
  o.videos = {corrupt.string()};
  o.intrinsics = "100,100,50,20";
  CHECK_THROWS_WITH(own::prepare_own(o), Catch::Contains(corrupt.string()));
  CHECK(no_output());
  // a short video (2 frames, --min-frames 3)
  fs::path shortv = dir / "short.avi";
  {
    cv::VideoWriter vw(shortv.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, cv::Size(64, 32));
    REQUIRE(vw.isOpened());
    for (int k = 0; k < 2; ++k) vw.write(cv::Mat(32, 64, CV_8UC3, cv::Scalar(40 * k, 80, 120)));
  }
  o.videos = {shortv.string()};
  CHECK_THROWS_WITH(own::prepare_own(o), Catch::Contains(shortv.string()) && Catch::Contains("--min-frames"));
  CHECK(no_output());
  // missing calibration, missing calibration file, bad cam.txt
  o.intrinsics.clear();
  CHECK_THROWS_WITH(own::prepare_own(o), Catch::Contains("--intrinsics") && Catch::Contains("--calib"));
  o.calib = (dir / "nope.txt").string();
  CHECK_THROWS_WITH(own::prepare_own(o), Catch::Contains(o.calib));
  std::ofstream(dir / "bad_cam.txt") << "1 0 2\n0 1 3\n";
  o.calib = (dir / "bad_cam.txt").string();
  CHECK_THROWS_WITH(own::prepare_own(o), Catch::Contains(o.calib) && Catch::Contains("3x3"));
  // inconsistent frame sizes in a folder
  fs::path frames = dir / "frames";
  fs::create_directories(frames);
  for (int k = 0; k < 4; ++k) {
    char fn[32];
    std::snprintf(fn, sizeof fn, "%010d.png", k);
    int w = k == 2 ? 66 : 64;
    cv::imwrite((frames / fn).string(), cv::Mat(32, w, CV_8UC3, cv::Scalar(30 * k, 60, 90)));
  }
  o = own_opts(out);
  o.frame_dirs = {frames.string()};
  o.intrinsics = "100,100,32,16";
  CHECK_THROWS_WITH(own::prepare_own(o), Catch::Contains("0000000002.png") && Catch::Contains("66x32"));
  CHECK(no_output());
  // options are checked before any file is touched
  o.stride = 0;
  CHECK_THROWS_WITH(own::prepare_own(o), Catch::Contains("--stride"));
  o.stride = 1;
  o.crop = {20, 20, 0, 0};
  CHECK_THROWS_WITH(own::prepare_own(o), Catch::Contains("--crop"));
  CHECK(no_output());
}

TEST_CASE("prepare own: the sfm prepare --video command", "[prepare][own][cli]") {
  fs::path src = fresh("cli_src"), out = fresh("cli_out");
  synth::write_synthetic_dataset(src.string(), source_opts("video", 1, 5));
  std::string sfm = std::string(SFM_BINARY_DIR) + "/sfm";
  std::string log = (src.parent_path() / "cli.log").string();
  std::string cmd = sfm + " prepare --video " + (src / "synth_0000.avi").string() + " --calib " +
                    (src / "cam.txt").string() + " --out " + out.string() +
                    " --height 32 --width 104 --crop 0,8,0,0 --min-frames 3 --val-fraction 0 --no-progress > " + log +
                    " 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  CHECK(fs::exists(out / "synth_0000" / "cam.txt"));
  std::ifstream lf(log);
  std::string text((std::istreambuf_iterator<char>(lf)), std::istreambuf_iterator<char>());
  CHECK(text.find("dropped by the motion filter") != std::string::npos);
  // --video repeated: one scene each (a repeated name gets _2)
  fs::path out_two = fresh("cli_two");
  std::string v = (src / "synth_0000.avi").string();
  std::string two = sfm + " prepare --video " + v + " --video " + v + " --intrinsics 200,200,80,24 --out " +
                    out_two.string() + " --height 32 --width 104 --min-frames 3 --no-progress > " + log + " 2>&1";
  REQUIRE(std::system(two.c_str()) == 0);
  CHECK(fs::exists(out_two / "synth_0000" / "0000000004.jpg"));
  CHECK(fs::exists(out_two / "synth_0000_2" / "0000000004.jpg"));
  // a truncated video (its first 60%) still prepares what decodes, with a warning naming it
  fs::path trunc = src.parent_path() / "truncated.avi";
  {
    std::ifstream in(v, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(trunc, std::ios::binary) << bytes.substr(0, bytes.size() * 6 / 10);
  }
  fs::path out_tr = fresh("cli_trunc");
  std::string tr = sfm + " prepare --video " + trunc.string() + " --intrinsics 200,200,80,24 --out " +
                   out_tr.string() + " --height 32 --width 104 --min-frames 1 --no-progress > " + log + " 2>&1";
  CHECK(std::system(tr.c_str()) == 0);
  {
    std::ifstream tl(log);
    std::string t((std::istreambuf_iterator<char>(tl)), std::istreambuf_iterator<char>());
    INFO(t);
    CHECK(t.find(trunc.string() + ": decoding stopped after") != std::string::npos);
  }
  // no source, or two kinds of source
  std::string bad = sfm + " prepare --out " + (out.string() + "2") + " --intrinsics 1,1,1,1 > " + log + " 2>&1";
  CHECK(std::system(bad.c_str()) != 0);
  std::ifstream lf2(log);
  std::string t2((std::istreambuf_iterator<char>(lf2)), std::istreambuf_iterator<char>());
  CHECK(t2.find("--video") != std::string::npos);
  CHECK_FALSE(fs::exists(out.string() + "2"));
}

TEST_CASE("prepare own: synthetic Cityscapes tree -> hood band cropped, K from the JSON -> train",
          "[prepare][own][cityscapes][train]") {
  fs::path src = fresh("city_src"), out = fresh("city_out"), run = fresh("city_run");
  synth::write_synthetic_dataset(src.string(), source_opts("cityscapes", 2, 6));
  fs::path json = src / "camera" / "train" / "synthcity" / "synthcity_000001_000003_camera.json";
  REQUIRE(fs::exists(json));

  auto seqs = own::cityscapes_sequences(src.string(), {"train"});
  REQUIRE(seqs.size() == 2);
  CHECK(seqs[1].scene == "synthcity_000001");
  CHECK(seqs[1].files.size() == 6);
  Eigen::Matrix3d K0 = synth::kitti_intrinsics(kInH, kInW).K();
  CHECK((seqs[1].K - K0).cwiseAbs().maxCoeff() < 1e-9);

  own::OwnOptions o = own_opts(out);
  o.crop_bottom_fraction = own::kCityscapesHoodFraction;
  own::OwnReport r = own::prepare_sequences(seqs, o);
  CHECK(r.scenes == 2);
  CHECK(r.frames == 12);
  // the bottom int(0.25 * 48) = 12 rows are cut: K = crop (cy unchanged) then resize 160x36 -> 104x32
  Eigen::Matrix3d want = own::crop_resize_intrinsics(K0, {0, 12, 0, 0}, kInW, kInH, kOutW, kOutH);
  Eigen::Matrix3d got = K_of(numbers(out / "synthcity_000000" / "cam.txt"));
  CHECK((got - want).cwiseAbs().maxCoeff() < 1e-6 * want.cwiseAbs().maxCoeff());
  CHECK(got(1, 1) == Approx(K0(1, 1) * 32.0 / 36.0).epsilon(1e-8));
  cv::Mat in = cv::imread((src / "leftImg8bit_sequence" / "train" / "synthcity" /
                           "synthcity_000000_000002_leftImg8bit.png").string());
  cv::Mat expect = resize_image_area(in(cv::Rect(0, 0, kInW, 36)), kOutW, kOutH), diff;
  cv::Mat written = cv::imread((out / "synthcity_000000" / "0000000002.jpg").string());
  cv::absdiff(written, expect, diff);
  CHECK(cv::mean(diff)[0] < 5.0);  // JPEG q95 at 104x32 (see the frame-folder case)
  train_two_steps(out, run);

  // errors name the file
  std::ofstream(json) << "{\"intrinsic\": {\"fx\": 100, \"fy\": 100, \"u0\": 50}}";
  CHECK_THROWS_WITH(own::cityscapes_sequences(src.string(), {"train"}),
                    Catch::Contains(json.string()) && Catch::Contains("intrinsic.v0"));
  fs::remove(json);
  CHECK_THROWS_WITH(own::cityscapes_sequences(src.string(), {"train"}),
                    Catch::Contains("synthcity_000001_*_camera.json"));
  CHECK_THROWS_WITH(own::cityscapes_sequences(src.string(), {"val"}), Catch::Contains("leftImg8bit_sequence/val"));
}

TEST_CASE("prepare own: --undistort with an OpenCV calibration YAML recovers the pinhole frames",
          "[prepare][own][undistort]") {
  fs::path src = fresh("dist_src"), dist = fresh("dist_frames");
  synth::write_synthetic_dataset(src.string(), source_opts("frames", 1, 4));
  const Eigen::Matrix3d K = synth::kitti_intrinsics(kInH, kInW).K();
  // Distort the pinhole renders: the distorted pixel p_d shows the pinhole pixel of
  // undistortPoints(p_d) (k1 = -0.25 barrel, k2 = 0.05, p1 = 0.001, p2 = -0.001, k3 = 0).
  cv::Mat Kc(3, 3, CV_64F), D = (cv::Mat_<double>(1, 5) << -0.25, 0.05, 0.001, -0.001, 0);
  for (int i = 0; i < 9; ++i) Kc.at<double>(i / 3, i % 3) = K(i / 3, i % 3);
  std::vector<cv::Point2f> pd, pu;
  for (int y = 0; y < kInH; ++y)
    for (int x = 0; x < kInW; ++x) pd.push_back(cv::Point2f((float)x, (float)y));
  cv::undistortPoints(pd, pu, Kc, D, cv::noArray(), Kc);
  cv::Mat mx(kInH, kInW, CV_32F), my(kInH, kInW, CV_32F);
  for (int i = 0; i < kInH * kInW; ++i) {
    mx.at<float>(i / kInW, i % kInW) = pu[i].x;
    my.at<float>(i / kInW, i % kInW) = pu[i].y;
  }
  fs::create_directories(dist);
  for (int k = 0; k < 4; ++k) {
    char fn[32];
    std::snprintf(fn, sizeof fn, "%010d.png", k);
    cv::Mat pin = cv::imread((src / "synth_0000" / fn).string()), d;
    cv::remap(pin, d, mx, my, cv::INTER_LINEAR, cv::BORDER_REPLICATE);
    cv::imwrite((dist / fn).string(), d);
  }
  fs::path yml = dist.parent_path() / "calib.yml";
  {
    cv::FileStorage fsw(yml.string(), cv::FileStorage::WRITE);
    fsw << "image_width" << kInW << "image_height" << kInH << "camera_matrix" << Kc << "distortion_coefficients" << D;
  }
  own::Calibration cal = own::read_calibration(yml.string());
  CHECK((cal.K - K).cwiseAbs().maxCoeff() == 0);
  REQUIRE(cal.dist.size() == 5);
  CHECK(cal.dist[0] == -0.25);

  // the same crop and size for the pinhole source and the distorted one
  auto run = [&](const fs::path& frames, const std::string& out, bool undistort) {
    fs::path dir = fresh(out);
    own::OwnOptions o = own_opts(dir);
    o.frame_dirs = {frames.string()};
    o.calib = yml.string();
    o.undistort = undistort;
    o.crop = {6, 6, 16, 16};  // the border the barrel distortion leaves without data
    own::prepare_own(o);
    return dir / frames.filename();
  };
  fs::path ref = run(src / "synth_0000", "dist_ref", false);
  fs::path und = run(dist, "dist_und", true);
  fs::path raw = run(dist, "dist_raw", false);
  cv::Mat a = cv::imread((ref / "0000000002.jpg").string()), b = cv::imread((und / "0000000002.jpg").string()),
          c = cv::imread((raw / "0000000002.jpg").string()), diff;
  REQUIRE(!a.empty());
  REQUIRE(a.size() == b.size());
  REQUIRE(a.size() == c.size());
  cv::absdiff(a, b, diff);
  double d_und = cv::mean(diff)[0];
  cv::absdiff(a, c, diff);
  double d_raw = cv::mean(diff)[0];
  INFO("mean abs difference to the pinhole frames: undistorted " << d_und << ", left distorted " << d_raw);
  // two bilinear resamplings and JPEG: a few grey levels; leaving the distortion in: clearly more
  CHECK(d_und < 6.0);
  CHECK(d_raw > 2 * d_und);
  CHECK(numbers(und / "cam.txt") == numbers(ref / "cam.txt"));  // K is kept by the undistortion

  // --undistort without coefficients is an error naming the option
  own::OwnOptions o = own_opts(fresh("dist_bad"));
  o.frame_dirs = {dist.string()};
  o.intrinsics = "200,200,80,24";
  o.undistort = true;
  CHECK_THROWS_WITH(own::prepare_own(o), Catch::Contains("--undistort"));
  std::ofstream(dist.parent_path() / "bad.yml") << "%YAML:1.0\n---\nimage_width: 160\n";
  o.intrinsics.clear();
  o.calib = (dist.parent_path() / "bad.yml").string();
  CHECK_THROWS_WITH(own::prepare_own(o), Catch::Contains("bad.yml") && Catch::Contains("camera_matrix"));
}

TEST_CASE("prepare own: the motion measure: sensor noise and recompression stay below 1.0, driving is above",
          "[prepare][own][motion]") {
  fs::path src = fresh("motion_src");
  synth::write_synthetic_dataset(src.string(), source_opts("frames", 1, 3));
  cv::Mat f0 = cv::imread((src / "synth_0000" / "0000000000.png").string());
  cv::Mat f1 = cv::imread((src / "synth_0000" / "0000000001.png").string());
  REQUIRE(!f0.empty());
  // A still camera at KITTI's resolution: the frame upscaled to 1280x384, two independent
  // exposures with Gaussian noise (sigma 4 grey levels), each JPEG q70. (At this test's 160x48
  // the thumbnail averages only ~4 pixels and the same noise measures ~1.6: small footage
  // needs a higher --min-motion; docs/data.md says so.)
  cv::Mat big0, big1;
  cv::resize(f0, big0, cv::Size(1280, 384), 0, 0, cv::INTER_LINEAR);
  cv::resize(f1, big1, cv::Size(1280, 384), 0, 0, cv::INTER_LINEAR);
  cv::theRNG().state = 12345;
  auto exposure = [](const cv::Mat& img) {
    cv::Mat noise(img.size(), CV_16SC3), noisy;
    cv::randn(noise, 0, 4);
    img.convertTo(noisy, CV_16SC3);
    noisy += noise;
    noisy.convertTo(noisy, CV_8UC3);
    std::vector<uchar> buf;
    cv::imencode(".jpg", noisy, buf, {cv::IMWRITE_JPEG_QUALITY, 70});
    return cv::imdecode(buf, cv::IMREAD_COLOR);
  };
  double d_still = own::motion_difference(own::motion_signature(exposure(big0)), own::motion_signature(exposure(big0)));
  double d_drive = own::motion_difference(own::motion_signature(exposure(big0)), own::motion_signature(exposure(big1)));
  INFO("still camera (noise + JPEG) " << d_still << ", one synthetic frame of driving " << d_drive);
  CHECK(d_still < 0.5 * own::kDefaultMinMotion);
  CHECK(d_drive > 3 * own::kDefaultMinMotion);
  CHECK(own::motion_difference(own::motion_signature(f0), own::motion_signature(f0)) == 0);
}
