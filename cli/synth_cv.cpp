// `sfm synth`: a synthetic driving data set with exact ground truth (train/synth/synth_world.h).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "cli/args.h"
#include "cli/command.h"
#include "boundary/error.h"
#include "cpu/parallel.h"
#include "engine/file_io.h"
#include "train/synth/synth_world.h"
#include "train/synth/synth_writer.h"

namespace sfm::cli {
namespace {

uint64_t parse_u64(const std::string& name, const std::string& v) {
  try {
    size_t pos = 0;
    unsigned long long r = std::stoull(v, &pos);
    if (pos == v.size() && v.find('-') == std::string::npos) return r;
  } catch (...) {
  }
  fail("sfm synth: option --", name, " expects a non-negative integer, got '", v, "'");
}

// Inverse depth in a colour map (sky / unknown black), scaled so `near_m` is the top colour.
cv::Mat depth_colour(const std::vector<float>& depth, int h, int w, double near_m = 2.0) {
  cv::Mat g(h, w, CV_8UC1);
  for (int i = 0; i < h * w; ++i) {
    float d = depth[i];
    g.data[i] = d > 0 ? (uint8_t)std::lround(255.0 * std::min(1.0, near_m / d)) : 0;
  }
  cv::Mat c;
  cv::applyColorMap(g, c, cv::COLORMAP_MAGMA);
  for (int i = 0; i < h * w; ++i)
    if (depth[i] <= 0) c.at<cv::Vec3b>(i / w, i % w) = cv::Vec3b(0, 0, 0);
  return c;
}

// A contact sheet of the data set: per scene (up to 4) its middle frame, the ground-truth
// depth and, for kitti-raw, the velodyne scan projected through the calibration.
void write_preview(const std::string& path, const synth::SynthOptions& opt) {
  const synth::Intrinsics K = synth::kitti_intrinsics(opt.height, opt.width);
  synth::RenderOptions ro;
  ro.supersample = opt.supersample;
  const bool kitti = opt.layout == "kitti-raw";
  std::vector<cv::Mat> rows;
  for (int i = 0; i < std::min(opt.scenes, 4); ++i) {
    synth::SynthWorld w = synth::synth_world(opt, i);
    int k = opt.frames / 2;
    Eigen::Matrix4d T = kitti ? synth::kitti_camera_pose(w, 2, k) : w.camera_pose(k);
    synth::RenderedFrame f = w.render(T, K, k, ro);
    cv::Mat rgb(f.height, f.width, CV_8UC3, f.rgb.data()), bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    std::vector<cv::Mat> cols{bgr, depth_colour(f.depth, f.height, f.width)};
    if (kitti) {
      synth::SynthWorld::LidarSpec spec;
      spec.azimuth_steps = opt.lidar_azimuth_steps;
      std::vector<float> pts = w.lidar_scan(synth::kitti_velo_pose(w, k), k, spec);
      // P_rect_02 * R_rect_00 (= I) * velo_to_cam, as the calibration files say
      Eigen::Matrix<double, 3, 4> P;
      P << K.fx, 0, K.cx, K.fx * synth::kitti_camera_offset(2), 0, K.fy, K.cy, 0, 0, 0, 1, 0;
      Eigen::Matrix<double, 3, 4> PV = P * synth::kitti_velo_to_cam0();
      cv::Mat over = bgr * 0.5;
      std::vector<float> sparse((size_t)f.height * f.width, 0.0f);
      for (size_t j = 0; j + 3 < pts.size(); j += 4) {
        if (pts[j] <= 0) continue;
        Eigen::Vector3d q = PV * Eigen::Vector4d(pts[j], pts[j + 1], pts[j + 2], 1);
        if (q.z() <= 0) continue;
        int u = (int)std::lround(q.x() / q.z()), v = (int)std::lround(q.y() / q.z());
        if (u < 0 || v < 0 || u >= f.width || v >= f.height) continue;
        sparse[(size_t)v * f.width + u] = (float)q.z();
      }
      cv::Mat sc = depth_colour(sparse, f.height, f.width);
      for (int y = 0; y < f.height; ++y)
        for (int x = 0; x < f.width; ++x)
          if (sparse[(size_t)y * f.width + x] > 0) over.at<cv::Vec3b>(y, x) = sc.at<cv::Vec3b>(y, x);
      cols.push_back(over);
    }
    cv::Mat row;
    cv::hconcat(cols, row);
    rows.push_back(row);
  }
  cv::Mat sheet;
  cv::vconcat(rows, sheet);
  std::vector<uchar> buf;
  SFM_CHECK(cv::imencode(".png", sheet, buf), "sfm synth: could not encode the preview");
  write_file_atomic(path, std::string(buf.begin(), buf.end()));
}

int synth_main(const std::vector<std::string>& argv) {
  Args a("synth",
         "Generates a synthetic driving data set with exact ground truth: procedurally built streets\n"
         "ray cast on the CPU (textured road with markings, facades, walls, parked and moving cars,\n"
         "poles, trees, skyline, sky), a camera 1.65 m above the road moving 0.5-1.5 m per frame,\n"
         "KITTI-like intrinsics. Layouts (docs/data.md): 'formatted' (train.txt/val.txt, per scene\n"
         "frames, cam.txt, poses.txt, depth .npy) or 'kitti-raw' (calibration files, image_02/03,\n"
         "velodyne scans, OXTS packets). Same seed, same bytes. The set is written to OUT.tmp-XXXXXX\n"
         "and renamed to OUT when complete.");
  a.option("out", "output folder (must not exist unless --force)", "", true)
      .option("scenes", "scenes (drives)", "10")
      .option("frames", "frames per scene", "30")
      .option("height", "image height", "128")
      .option("width", "image width", "416")
      .option("seed", "random seed", "1")
      .option("moving-objects", "at most this many independently moving cars per scene (each scene draws 0..K)", "2")
      .option("layout", "formatted, kitti-raw, kitti-odometry (sequences/NN, poses/NN.txt), cityscapes (leftImg8bit_sequence, camera JSON), video (MJPG .avi per scene) or frames (PNG folder per scene); "
                        "video and frames come with cam.txt and poses/<scene>.txt, for sfm prepare --video/--frames",
              "formatted")
      .option("image-format", "formatted layout: jpg or png", "jpg")
      .option("jpeg-quality", "JPEG quality", "95")
      .option("supersample", "SxS anti-aliasing samples per pixel", "2")
      .option("val-fraction", "formatted layout: share of scenes in val.txt", "0.2")
      .option("lidar-azimuth-steps", "kitti-raw: velodyne directions per ring (64 rings)", "2000")
      .option("threads", "CPU threads (0: all)", "0")
      .option("preview", "also write a PNG contact sheet (image | depth [| velodyne]) of the first scenes", "")
      .flag("force", "replace OUT if it exists")
      .flag("quiet", "no progress output");
  if (!a.parse(argv)) return 0;
  synth::SynthOptions o;
  o.scenes = a.get_int("scenes");
  o.frames = a.get_int("frames");
  o.height = a.get_int("height");
  o.width = a.get_int("width");
  o.seed = parse_u64("seed", a.get("seed"));
  o.moving_objects = a.get_int("moving-objects");
  o.layout = a.get("layout");
  o.image_format = a.get("image-format");
  o.jpeg_quality = a.get_int("jpeg-quality");
  o.supersample = a.get_int("supersample");
  o.val_fraction = a.get_double("val-fraction");
  o.lidar_azimuth_steps = a.get_int("lidar-azimuth-steps");
  o.force = a.get_flag("force");
  o.progress = !a.get_flag("quiet");
  SFM_CHECK(a.get_int("threads") >= 0, "sfm synth: --threads must be >= 0");
  if (a.get_int("threads") > 0) set_cpu_threads(a.get_int("threads"));
  o.threads = cpu_threads();
  synth::validate(o);

  auto t0 = std::chrono::steady_clock::now();
  synth::install_synth_stop_handlers();
  synth::write_synthetic_dataset(a.get("out"), o);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int64_t frames = (int64_t)o.scenes * o.frames;
  if (o.progress)
    std::fprintf(stderr, "synth: wrote %lld frames (%d scenes, %s layout, %dx%d) to %s in %.1f s (%.1f frames/s, %d threads)\n",
                 (long long)frames, o.scenes, o.layout.c_str(), o.height, o.width, a.get("out").c_str(), s, frames / s,
                 o.threads);
  if (a.has("preview")) {
    write_preview(a.get("preview"), o);
    if (o.progress) std::fprintf(stderr, "synth: preview written to %s\n", a.get("preview").c_str());
  }
  return 0;
}

}  // namespace

SFM_COMMAND("synth", "generate a synthetic driving data set with exact depth, poses (and KITTI-raw sensors)", synth_main);

}  // namespace sfm::cli
