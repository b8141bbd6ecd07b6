#include "eval/infer_run.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <set>

#include "boundary/error.h"
#include "engine/npy.h"
#include "engine/stop_signals.h"
#include "eval/infer.h"

namespace fs = std::filesystem;

namespace sfm::eval {
namespace {

std::atomic<bool> g_infer_stop{false};
void on_infer_signal(int) { g_infer_stop = true; }

// `path` absolute and normalised, without a trailing separator (for prefix comparisons).
fs::path normal_path(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(path, ec), ec).lexically_normal();
  if (p.filename().empty() && p.has_parent_path()) p = p.parent_path();
  return p;
}

// Writes the PNG (and .npy) of disparity plane b under `base` (a path without extension).
cv::Mat write_frame(const InferRun& o, const Tensor& disp, int64_t b, const std::string& base) {
  cv::Mat d = disparity_plane(disp, b);
  cv::Mat col = colorize_disparity(d, o.colormap);
  write_png_atomic(base + ".png", col);
  if (o.npy) save_npy(base + ".npy", d.ptr<float>(), {d.rows, d.cols});
  return col;
}

int infer_images(const InferRun& o, DispNet& net, const std::vector<std::string>& files, bool* interrupted) {
  std::set<std::string> stems;
  for (const auto& f : files) {
    std::string s = fs::path(f).stem().string();
    SFM_CHECK(stems.insert(s).second, "sfm infer: two inputs share the name '", s,
              "' (their outputs would overwrite each other); rename one");
  }
  ProgressLine progress("infer", (int64_t)files.size());
  for (size_t b0 = 0; b0 < files.size(); b0 += (size_t)o.batch_size) {
    if (g_infer_stop) {
      std::fprintf(stderr, "\nsfm infer: interrupted after %zu of %zu images; their outputs are complete\n", b0,
                   files.size());
      *interrupted = true;
      return (int)b0;
    }
    size_t b1 = std::min(files.size(), b0 + (size_t)o.batch_size);
    std::vector<cv::Mat> imgs;
    for (size_t i = b0; i < b1; ++i) imgs.push_back(load_image_rgb(files[i]));
    Tensor disp = predict_disparity(net, imgs, o.height, o.width);
    for (size_t i = b0; i < b1; ++i)
      write_frame(o, disp, (int64_t)(i - b0),
                  (fs::path(o.out_dir) / (fs::path(files[i]).stem().string() + "_disp")).string());
    progress.advance((int64_t)(b1 - b0));
  }
  progress.finish();
  return (int)files.size();
}

int infer_video(const InferRun& o, DispNet& net, InferResult* r) {
  const std::string& path = o.input;
  cv::VideoCapture cap(path);
  SFM_CHECK(cap.isOpened(), "cannot open video ", path, " (is OpenCV built with a backend that reads it?)");
  double fps = o.fps ? *o.fps : cap.get(cv::CAP_PROP_FPS);
  if (!(fps > 0 && fps <= 1000)) {  // only the input's rate can be missing: o.fps is checked before
    std::fprintf(stderr, "warning: %s reports no usable frame rate (%g); the output video uses 10 fps (set --fps)\n",
                 path.c_str(), fps);
    fps = 10.0;
  }
  int64_t total = (int64_t)cap.get(cv::CAP_PROP_FRAME_COUNT);
  std::string stem = fs::path(path).stem().string();
  std::string mp4 = (fs::path(o.out_dir) / (stem + "_disp.mp4")).string();
  std::string tmp = (fs::path(o.out_dir) / (stem + "_disp.tmp.mp4")).string();
  // The video shows the input above its disparity.
  cv::VideoWriter writer(tmp, cv::VideoWriter::fourcc('m', 'p', '4', 'v'), fps, cv::Size(o.width, 2 * o.height));
  SFM_CHECK(writer.isOpened(), "cannot write ", tmp, ": OpenCV has no mp4 (mp4v) encoder here");
  ProgressLine progress("infer " + stem, total > 0 ? total : -1);
  int64_t n = 0;
  bool more = true;
  try {
    while (more && !g_infer_stop) {
      std::vector<cv::Mat> imgs;
      while ((int)imgs.size() < o.batch_size) {
        cv::Mat bgr;
        if (!cap.read(bgr) || bgr.empty()) {
          more = false;
          break;
        }
        cv::Mat rgb;
        cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
        imgs.push_back(rgb);
      }
      if (imgs.empty()) break;
      Tensor disp = predict_disparity(net, imgs, o.height, o.width);
      for (size_t i = 0; i < imgs.size(); ++i, ++n) {
        char suffix[32];
        std::snprintf(suffix, sizeof(suffix), "_%06lld_disp", (long long)n);
        cv::Mat col = write_frame(o, disp, (int64_t)i, (fs::path(o.out_dir) / (stem + suffix)).string());
        cv::Mat in_bgr;
        cv::cvtColor(resize_for_network(imgs[i], o.height, o.width), in_bgr, cv::COLOR_RGB2BGR);
        cv::Mat both;
        cv::vconcat(in_bgr, col, both);
        writer.write(both);
      }
      progress.advance((int64_t)imgs.size());
    }
  } catch (...) {
    writer.release();
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  progress.finish();
  writer.release();
  if (g_infer_stop) {
    std::error_code ec;
    fs::remove(tmp, ec);
    std::fprintf(stderr, "sfm infer: interrupted after %lld frames of %s; the partial video %s was removed (the "
                         "frames' files written so far are complete)\n", (long long)n, path.c_str(), tmp.c_str());
    r->interrupted = true;
    return (int)n;
  }
  SFM_CHECK(n > 0, "video ", path, " has no readable frame");
  if (total > 0 && n < total)
    std::fprintf(stderr, "warning: video %s announces %lld frames but only %lld could be read (truncated or damaged?)\n",
                 path.c_str(), (long long)total, (long long)n);
  std::error_code ec;
  fs::rename(tmp, mp4, ec);
  SFM_CHECK(!ec, "cannot rename ", tmp, " to ", mp4, ": ", ec.message());
  r->video_out = mp4;
  r->video_fps = fps;
  return (int)n;
}

}  // namespace

void install_infer_stop_handlers() { install_stop_handler(on_infer_signal); }
void request_infer_stop() { g_infer_stop = true; }

InferResult run_inference(const InferRun& run) {
  SFM_CHECK(run.height > 0 && run.width > 0 && run.batch_size > 0,
            "sfm infer: --height, --width and --batch-size must be positive");
  if (run.fps)
    SFM_CHECK(std::isfinite(*run.fps) && *run.fps > 0 && *run.fps <= 1000, "sfm infer: --fps must be > 0 and <= 1000, got ",
              *run.fps);
  const std::string& in = run.input;
  std::error_code ec;
  SFM_CHECK(fs::exists(in, ec), "sfm infer: --input ", in, " does not exist");
  const bool is_dir = fs::is_directory(in, ec);
  SFM_CHECK(is_dir || is_image_file(in) || is_video_file(in), "sfm infer: --input ", in,
            " is neither a folder, an image (.png .jpg .jpeg .bmp) nor a video (.mp4 .avi .mov .mkv .webm .m4v)");
  if (is_dir) {
    const fs::path ci = normal_path(in), co = normal_path(run.out_dir);
    const bool inside = std::mismatch(ci.begin(), ci.end(), co.begin(), co.end()).first == ci.end();
    SFM_CHECK(!inside, "sfm infer: --out ", run.out_dir, ci == co ? " is the --input folder " : " is inside the --input folder ",
              in, ": the outputs would be taken as inputs by the next run; choose an --out outside ", in);
  }
  std::vector<std::string> files;
  if (is_dir) files = list_images(in);  // checks there is at least one
  auto net = load_dispnet(run.disp_weights, run.device);
  fs::create_directories(run.out_dir, ec);
  SFM_CHECK(fs::is_directory(run.out_dir, ec), "sfm infer: cannot create output folder ", run.out_dir);

  InferResult r;
  auto t0 = std::chrono::steady_clock::now();
  if (is_video_file(in) && !is_dir)
    r.frames = infer_video(run, *net, &r);
  else
    r.frames = infer_images(run, *net, is_dir ? files : std::vector<std::string>{in}, &r.interrupted);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace sfm::eval
