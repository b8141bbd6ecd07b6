// `sfm infer`: DispNet on an image, a folder of images or a video; colour-mapped disparity PNGs
// (and an mp4 for a video), optionally the raw finest-scale disparity as .npy.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <set>

#include "cli/args.h"
#include "cli/command.h"
#include "engine/error.h"
#include "engine/npy.h"
#include "eval/colormap.h"
#include "eval/infer.h"

namespace fs = std::filesystem;
using namespace sfm;
using namespace sfm::eval;

namespace {

struct Outputs {
  std::string dir;
  bool npy = false;
  ColorMap cmap = ColorMap::Magma;
  int h = 0, w = 0;
};

// Writes the PNG (and .npy) of disparity plane b under `base` (a path without extension).
cv::Mat write_frame(const Outputs& o, const Tensor& disp, int64_t b, const std::string& base) {
  cv::Mat d = disparity_plane(disp, b);
  cv::Mat col = colorize_disparity(d, o.cmap);
  write_png_atomic(base + ".png", col);
  if (o.npy) save_npy(base + ".npy", d.ptr<float>(), {d.rows, d.cols});
  return col;
}

int run_images(const Outputs& o, DispNet& net, const std::vector<std::string>& files, int batch) {
  std::set<std::string> stems;
  for (const auto& f : files) {
    std::string s = fs::path(f).stem().string();
    SFM_CHECK(stems.insert(s).second, "sfm infer: two inputs share the name '", s,
              "' (their outputs would overwrite each other); rename one");
  }
  ProgressLine progress("infer", (int64_t)files.size());
  for (size_t b0 = 0; b0 < files.size(); b0 += (size_t)batch) {
    size_t b1 = std::min(files.size(), b0 + (size_t)batch);
    std::vector<cv::Mat> imgs;
    for (size_t i = b0; i < b1; ++i) imgs.push_back(load_image_rgb(files[i]));
    Tensor disp = predict_disparity(net, imgs, o.h, o.w);
    for (size_t i = b0; i < b1; ++i)
      write_frame(o, disp, (int64_t)(i - b0), (fs::path(o.dir) / (fs::path(files[i]).stem().string() + "_disp")).string());
    progress.advance((int64_t)(b1 - b0));
  }
  progress.finish();
  return (int)files.size();
}

int run_video(const Outputs& o, DispNet& net, const std::string& path, int batch, double fps_override) {
  cv::VideoCapture cap(path);
  SFM_CHECK(cap.isOpened(), "cannot open video ", path, " (is OpenCV built with a backend that reads it?)");
  double fps = fps_override > 0 ? fps_override : cap.get(cv::CAP_PROP_FPS);
  if (!(fps > 0 && fps <= 1000)) {  // only the input's rate can be missing: --fps is checked by the caller
    std::fprintf(stderr, "warning: %s reports no usable frame rate (%g); the output video uses 10 fps (set --fps)\n",
                 path.c_str(), fps);
    fps = 10.0;
  }
  int64_t total = (int64_t)cap.get(cv::CAP_PROP_FRAME_COUNT);
  std::string stem = fs::path(path).stem().string();
  std::string mp4 = (fs::path(o.dir) / (stem + "_disp.mp4")).string();
  std::string tmp = (fs::path(o.dir) / (stem + "_disp.tmp.mp4")).string();
  // The video shows the input above its disparity.
  cv::VideoWriter writer(tmp, cv::VideoWriter::fourcc('m', 'p', '4', 'v'), fps, cv::Size(o.w, 2 * o.h));
  SFM_CHECK(writer.isOpened(), "cannot write ", tmp, ": OpenCV has no mp4 (mp4v) encoder here");
  ProgressLine progress("infer " + stem, total > 0 ? total : -1);
  int64_t n = 0;
  bool more = true;
  try {
    while (more) {
      std::vector<cv::Mat> imgs;
      while ((int)imgs.size() < batch) {
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
      Tensor disp = predict_disparity(net, imgs, o.h, o.w);
      for (size_t i = 0; i < imgs.size(); ++i, ++n) {
        char suffix[32];
        std::snprintf(suffix, sizeof(suffix), "_%06lld_disp", (long long)n);
        cv::Mat col = write_frame(o, disp, (int64_t)i, (fs::path(o.dir) / (stem + suffix)).string());
        cv::Mat in_bgr;
        cv::cvtColor(resize_for_network(imgs[i], o.h, o.w), in_bgr, cv::COLOR_RGB2BGR);
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
  SFM_CHECK(n > 0, "video ", path, " has no readable frame");
  if (total > 0 && n < total)
    std::fprintf(stderr, "warning: video %s announces %lld frames but only %lld could be read (truncated or damaged?)\n",
                 path.c_str(), (long long)total, (long long)n);
  std::error_code ec;
  fs::rename(tmp, mp4, ec);
  SFM_CHECK(!ec, "cannot rename ", tmp, " to ", mp4, ": ", ec.message());
  std::printf("wrote %s (%lld frames, %.1f fps)\n", mp4.c_str(), (long long)n, fps);
  return (int)n;
}

int run_infer(const std::vector<std::string>& argv) {
  cli::Args a("infer",
              "Runs DispNet on an image, a folder of images or a video file. Writes DIR/<name>_disp.png (colour-\n"
              "mapped disparity, magma, range [min, 95th percentile] per frame) and, with --npy, the raw finest-\n"
              "scale disparity DIR/<name>_disp.npy (float32 [H,W]); a video gives <name>_NNNNNN_disp.* per frame\n"
              "and <name>_disp.mp4 (input above disparity). Inputs are resized to the network size with\n"
              "INTER_AREA unless already at it.");
  a.option("disp-weights", "DispNet weights (.safetensors, or a checkpoint folder)", "", true)
      .option("input", "an image, a folder of images, or a video file", "", true)
      .option("out", "output folder (created)", "", true)
      .option("height", "network input height", "128")
      .option("width", "network input width", "416")
      .flag("npy", "also write the raw disparity as .npy")
      .option("device", "cpu or cuda", "cpu")
      .option("batch-size", "frames per network call", "4")
      .option("colormap", "magma, inferno, plasma, viridis or gray", "magma")
      .option("fps", "frame rate of the output video (default: the input's)");
  if (!a.parse(argv)) return 0;
  Outputs o;
  o.dir = a.get("out");
  o.npy = a.get_flag("npy");
  o.cmap = parse_colormap(a.get("colormap"));
  o.h = a.get_int("height");
  o.w = a.get_int("width");
  int batch = a.get_int("batch-size");
  SFM_CHECK(o.h > 0 && o.w > 0 && batch > 0, "sfm infer: --height, --width and --batch-size must be positive");
  if (a.has("fps")) {
    double f = a.get_double("fps");
    SFM_CHECK(std::isfinite(f) && f > 0 && f <= 1000, "sfm infer: --fps must be > 0 and <= 1000, got ", a.get("fps"));
  }
  std::string in = a.get("input");
  std::error_code ec;
  SFM_CHECK(fs::exists(in, ec), "sfm infer: --input ", in, " does not exist");
  bool is_dir = fs::is_directory(in, ec);
  SFM_CHECK(is_dir || is_image_file(in) || is_video_file(in), "sfm infer: --input ", in,
            " is neither a folder, an image (.png .jpg .jpeg .bmp) nor a video (.mp4 .avi .mov .mkv .webm .m4v)");
  std::vector<std::string> files;
  if (is_dir) files = list_images(in);  // checks there is at least one
  auto net = load_dispnet(a.get("disp-weights"), parse_device(a.get("device")));
  fs::create_directories(o.dir, ec);
  SFM_CHECK(fs::is_directory(o.dir, ec), "sfm infer: cannot create output folder ", o.dir);

  auto t0 = std::chrono::steady_clock::now();
  int n;
  if (is_video_file(in) && !is_dir)
    n = run_video(o, *net, in, batch, a.has("fps") ? a.get_double("fps") : 0.0);
  else
    n = run_images(o, *net, is_dir ? files : std::vector<std::string>{in}, batch);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%d frame%s in %.2f s (%.1f frames/s, %dx%d, batch %d) -> %s\n", n, n == 1 ? "" : "s", secs,
              secs > 0 ? n / secs : 0.0, o.w, o.h, batch, o.dir.c_str());
  return 0;
}

}  // namespace

SFM_COMMAND("infer", "DispNet depth on an image, a folder or a video (PNG, .npy, mp4)", run_infer);
