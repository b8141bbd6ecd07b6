// `sfm prepare`: KITTI raw (train/kitti/prepare.h) or your own videos / frame folders
// (train/own/own_camera.h) -> the formatted training layout.
#include <cstdio>
#include <sstream>

#include "cli/args.h"
#include "cli/command.h"
#include "boundary/error.h"
#include "engine/stop_signals.h"
#include "train/kitti/odometry.h"
#include "train/kitti/prepare.h"
#include "train/own/cityscapes.h"
#include "train/own/own_camera.h"

namespace sfm::cli {

namespace {

std::vector<std::string> comma_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream cs(s);
  for (std::string c; std::getline(cs, c, ',');)
    if (!c.empty()) out.push_back(c);
  return out;
}

// The options --video/--frames and --cityscapes share (train/own/own_camera.h).
own::OwnOptions own_common(const Args& a) {
  for (const char* k : {"static-frames", "test-scenes"})
    SFM_CHECK(!a.has(k), "sfm prepare: --", k, " applies to --kitti-raw only");
  SFM_CHECK(!a.get_flag("with-depth") && !a.get_flag("with-pose"),
            "sfm prepare: --with-depth / --with-pose apply to --kitti-raw only");
  own::OwnOptions o;
  o.out = a.get("out");
  o.height = a.get_int("height");
  o.width = a.get_int("width");
  o.stride = a.get_int("stride");
  if (a.has("crop")) o.crop = own::parse_crop(a.get("crop"), "--crop");
  o.min_motion = a.get_double("min-motion");
  o.min_frames = a.get_int("min-frames");
  o.val_fraction = a.get_double("val-fraction");
  o.threads = a.get_int("threads");
  o.jpeg_quality = a.get_int("jpeg-quality");
  o.progress = !a.get_flag("no-progress");
  SFM_CHECK(a.get_int("seed") >= 0, "sfm prepare: --seed must be >= 0");
  o.seed = (uint64_t)a.get_int("seed");
  return o;
}

void print_own_report(const own::OwnOptions& o, const own::OwnReport& r) {
  std::printf("prepared %s: %d scenes (%zu train, %zu val), %lld frames written\n", o.out.c_str(), r.scenes,
              r.train_scenes.size(), r.val_scenes.size(), (long long)r.frames);
  std::printf("  frames read: %lld, skipped by --stride %d: %lld, dropped by the motion filter (--min-motion %g): %lld\n",
              (long long)r.frames_read, o.stride, (long long)r.stride_skipped, o.min_motion,
              (long long)r.motion_dropped);
}

// --video / --frames: one scene per input.
int prepare_own_cmd(const Args& a) {
  own::OwnOptions o = own_common(a);
  o.videos = a.get_all("video");
  o.frame_dirs = a.get_all("frames");
  o.intrinsics = a.get("intrinsics");
  o.calib = a.get("calib");
  o.undistort = a.get_flag("undistort");
  print_own_report(o, own::prepare_own(o));
  return 0;
}

// --cityscapes: one scene per 30-frame snippet, K from its camera JSON, the hood band cropped.
int prepare_cityscapes_cmd(const Args& a) {
  for (const char* k : {"intrinsics", "calib", "undistort"})
    SFM_CHECK(!a.has(k), "sfm prepare: --", k, " does not apply to --cityscapes (K comes from camera/*.json)");
  own::OwnOptions o = own_common(a);
  o.crop_bottom_fraction = own::kCityscapesHoodFraction;
  own::validate_output(o);
  auto seqs = own::cityscapes_sequences(a.get("cityscapes"), comma_list(a.get("cityscapes-splits")));
  print_own_report(o, own::prepare_sequences(seqs, o));
  return 0;
}


// --kitti-odometry: sequences/NN -> scenes NN_02, NN_03 (train/kitti/odometry.h).
int prepare_odometry_cmd(const Args& a) {
  kitti::OdometryOptions o;
  o.root = a.get("kitti-odometry");
  o.out = a.get("out");
  o.height = a.get_int("height");
  o.width = a.get_int("width");
  o.cameras = comma_list(a.get("cameras"));
  o.train_sequences = comma_list(a.get("train-sequences"));
  o.test_sequences = comma_list(a.get("test-sequences"));
  o.val_fraction = a.get_double("val-fraction");
  SFM_CHECK(a.get_int("seed") >= 0, "sfm prepare: --seed must be >= 0");
  o.seed = (uint64_t)a.get_int("seed");
  o.threads = a.get_int("threads");
  SFM_CHECK(o.threads >= 1, "sfm prepare: --threads must be >= 1");
  o.jpeg_quality = a.get_int("jpeg-quality");
  SFM_CHECK(o.jpeg_quality >= 0 && o.jpeg_quality <= 100, "sfm prepare: --jpeg-quality must be 0..100");
  o.progress = !a.get_flag("no-progress");
  for (const auto& q : o.train_sequences)
    for (const auto& t : o.test_sequences)
      SFM_CHECK(q != t, "sfm prepare: sequence ", q, " is in both --train-sequences and --test-sequences");
  kitti::OdometryReport r = kitti::prepare_kitti_odometry(o);
  std::printf("prepared %s: %d sequences, %d scenes (%zu train, %zu val, %zu test in test.txt), %lld frames\n",
              o.out.c_str(), r.sequences, r.scenes, r.train_scenes.size(), r.val_scenes.size(), r.test_scenes.size(),
              (long long)r.frames);
  if (!r.missing.empty()) {
    std::printf("  sequences not found:");
    for (const auto& m : r.missing) std::printf(" %s", m.c_str());
    std::printf("\n");
  }
  return 0;
}

}  // namespace

static int prepare_cmd(const std::vector<std::string>& argv) {
  Args a("prepare",
         "Your own camera: --video FILE (repeatable) or --frames DIR (repeatable) with --intrinsics or\n"
         "--calib -> one scene folder per input: frames in time order (a folder's images by name), every\n"
         "--stride-th frame, cropped (--crop), resized, frames where the camera barely moved dropped\n"
         "(--min-motion), cam.txt with K following the crop and resize (docs/data.md \"Your own camera\").\n\n"
         "Cityscapes: --cityscapes ROOT -> one scene per 30-frame snippet, K from its camera JSON, the\n"
         "bottom 25% (car hood) cropped as SfMLearner does; --stride, --crop, --min-motion apply.\n\n"
         "KITTI odometry: --kitti-odometry ROOT -> scenes NN_02, NN_03 with poses.txt; 00-08 split into\n"
         "train.txt/val.txt, 09-10 written and listed in test.txt only.\n\n"
         "KITTI raw: converts KITTI raw (<date>/calib_*.txt, <date>/<date>_drive_NNNN_sync/...) to the formatted\n"
         "training layout: one scene folder per drive and camera with resized JPEG frames, cam.txt,\n"
         "optional depth (.npy from the velodyne) and poses.txt (from OXTS), and train.txt / val.txt\n"
         "split by drive. The Eigen test drives are excluded and static frames dropped. Output is\n"
         "written to OUT.tmp-XXXX and renamed to OUT when complete.");
  a.option("kitti-raw", "KITTI raw root holding the <date> folders")
      .option("kitti-odometry", "KITTI odometry root (sequences/NN/image_2|3, calib.txt, poses/NN.txt)")
      .option("cityscapes", "Cityscapes root (leftImg8bit_sequence/<split>/<city>/*.png, camera/<split>/<city>/*.json)")
      .option("cityscapes-splits", "--cityscapes: comma-separated splits", "train")
      .option("train-sequences", "--kitti-odometry: sequences for train.txt/val.txt", "00,01,02,03,04,05,06,07,08")
      .option("test-sequences", "--kitti-odometry: test sequences (written, listed in test.txt only)", "09,10")
      .option("video", "a video file (one scene; repeat the option for more)")
      .option("frames", "a folder of images, one scene, in name order (repeatable)")
      .option("intrinsics", "--video/--frames: fx,fy,cx,cy in the input's pixels")
      .option("calib", "--video/--frames: a cam.txt (3x3 K in the input's pixels) or an OpenCV calibration "
                       ".yml/.yaml/.xml (camera_matrix, distortion_coefficients)")
      .flag("undistort", "--video/--frames: undistort every frame with the --calib YAML's coefficients (K kept)")
      .option("stride", "--video/--frames: keep every N-th frame", "1")
      .option("crop", "--video/--frames: top,bottom,left,right input pixels removed before resizing")
      .option("min-motion", "--video/--frames: drop a frame whose mean absolute grey difference (64x32 "
                            "thumbnail, 0..255) to the last kept frame is below this; 0 keeps all", "1")
      .option("out", "output folder (must not exist)")
      .option("height", "output image height", "128")
      .option("width", "output image width", "416")
      .option("static-frames", "static-frames list ('<date> <drive> <frame>' lines, e.g. data/static_frames.txt); "
                               "default: drop frames whose OXTS speed is below --min-speed", "")
      .option("min-speed", "speed (m/s) below which a frame is static when no list is given", "0.5")
      .option("test-scenes", "drives to exclude (default: data/test_scenes_eigen.txt; 'none': none)", "")
      .flag("with-depth", "write NNNNNNNNNN.npy depth maps from the velodyne scans")
      .flag("with-pose", "write poses.txt (camera-to-world per frame) from the OXTS packets")
      .option("cameras", "comma-separated cameras", "02,03")
      .option("val-fraction", "fraction of the drives for val.txt", "0.1")
      .option("min-frames", "scenes with fewer non-static frames are not written", "5")
      .option("seed", "seed of the train/val split", "0")
      .option("threads", "worker threads", "2")
      .option("jpeg-quality", "JPEG quality (0-100)", "95")
      .flag("no-progress", "no progress bar");
  if (!a.parse(argv)) return 0;
  install_stop_flag();  // Ctrl-C, kill, a closed terminal: stop after the frame in hand, remove OUT.tmp-*
  SFM_CHECK(a.positional().empty(), "sfm prepare: unexpected argument '", a.positional().front(), "'");
  SFM_CHECK(a.has("out"), "sfm prepare: missing required option --out");
  const bool own_mode = a.has("video") || a.has("frames");
  const int sources =
      (int)own_mode + (int)a.has("kitti-raw") + (int)a.has("kitti-odometry") + (int)a.has("cityscapes");
  SFM_CHECK(sources == 1, sources ? "sfm prepare: give one source: --kitti-raw, --kitti-odometry, --cityscapes or "
                                    "--video/--frames"
                                  : "sfm prepare: give a source: --kitti-raw, --kitti-odometry, --cityscapes, --video "
                                    "or --frames");
  if (own_mode) return prepare_own_cmd(a);
  if (a.has("cityscapes")) return prepare_cityscapes_cmd(a);
  if (a.has("kitti-odometry")) {
    for (const char* k : {"intrinsics", "calib", "crop", "undistort", "static-frames", "test-scenes"})
      SFM_CHECK(!a.has(k), "sfm prepare: --", k, " does not apply to --kitti-odometry");
    SFM_CHECK(!a.get_flag("with-depth") && !a.get_flag("with-pose"),
              "sfm prepare: --kitti-odometry writes poses.txt whenever poses/NN.txt exists; --with-depth / "
              "--with-pose apply to --kitti-raw only");
    return prepare_odometry_cmd(a);
  }
  for (const char* k : {"intrinsics", "calib", "crop", "undistort"})
    SFM_CHECK(!a.has(k), "sfm prepare: --", k, " applies to --video/--frames only");
  PrepareOptions o;
  o.kitti_raw = a.get("kitti-raw");
  o.out = a.get("out");
  o.height = a.get_int("height");
  o.width = a.get_int("width");
  o.static_frames = a.get("static-frames");
  o.min_speed = a.get_double("min-speed");
  o.test_scenes = a.get("test-scenes");
  o.with_depth = a.get_flag("with-depth");
  o.with_pose = a.get_flag("with-pose");
  o.cameras.clear();
  std::stringstream cs(a.get("cameras"));
  for (std::string c; std::getline(cs, c, ',');)
    if (!c.empty()) o.cameras.push_back(c);
  o.val_fraction = a.get_double("val-fraction");
  o.min_frames = a.get_int("min-frames");
  {
    std::string sv = a.get("seed");
    size_t pos = 0;
    try {
      o.seed = (uint64_t)std::stoull(sv, &pos);
    } catch (...) {
      pos = std::string::npos;
    }
    SFM_CHECK(pos == sv.size(), "sfm prepare: --seed expects a non-negative integer, got '", sv, "'");
  }
  o.threads = a.get_int("threads");
  o.jpeg_quality = a.get_int("jpeg-quality");
  SFM_CHECK(o.jpeg_quality >= 0 && o.jpeg_quality <= 100, "sfm prepare: --jpeg-quality must be 0..100, got ",
            o.jpeg_quality);
  o.progress = !a.get_flag("no-progress");
  SFM_CHECK(o.val_fraction >= 0 && o.val_fraction < 1, "sfm prepare: --val-fraction must be in [0, 1)");
  SFM_CHECK(o.min_frames >= 1, "sfm prepare: --min-frames must be >= 1");

  PrepareReport r = prepare_kitti_raw(o);
  std::printf("prepared %s: %d scenes (%zu train, %zu val), %lld frames\n", o.out.c_str(), r.scenes,
              r.train_scenes.size(), r.val_scenes.size(), (long long)r.frames);
  std::printf("  drives: %d found in %d dates, %d Eigen test drives excluded, %d too short, %d written\n",
              r.drives_found, r.dates, r.drives_test, r.drives_short, r.drives_used);
  std::printf("  static frames dropped: %lld (%s)\n", (long long)r.static_dropped, r.static_source.c_str());
  if (r.empty_depth)
    std::printf("  depth maps without any depth (velodyne scan empty or outside the image, warned above): %lld\n",
                (long long)r.empty_depth);
  return 0;
}

SFM_COMMAND("prepare", "KITTI raw, videos or frame folders -> formatted training data (resize, split, static frames)",
            prepare_cmd);

}  // namespace sfm::cli
