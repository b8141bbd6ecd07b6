#include "eval/infer.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "boundary/device_runtime.h"
#include "boundary/error.h"
#include "engine/safetensors.h"
#include "eval/image_bytes.h"

namespace fs = std::filesystem;

namespace sfm::eval {

static std::string lower_ext(const std::string& path) {
  std::string e = fs::path(path).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return (char)std::tolower(c); });
  return e;
}

bool is_image_file(const std::string& path) {
  std::string e = lower_ext(path);
  return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".bmp";
}
bool is_video_file(const std::string& path) {
  std::string e = lower_ext(path);
  return e == ".mp4" || e == ".avi" || e == ".mov" || e == ".mkv" || e == ".webm" || e == ".m4v";
}

std::vector<std::string> list_images(const std::string& dir) {
  std::error_code ec;
  SFM_CHECK(fs::is_directory(dir, ec), "image folder ", dir, " does not exist");
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && is_image_file(e.path().string())) out.push_back(e.path().string());
  SFM_CHECK(!ec, "cannot list folder ", dir, ": ", ec.message());
  SFM_CHECK(!out.empty(), "folder ", dir, " holds no images (.png, .jpg, .jpeg, .bmp)");
  std::sort(out.begin(), out.end());
  return out;
}

cv::Mat load_image_rgb(const std::string& path) {
  std::error_code ec;
  SFM_CHECK(fs::is_regular_file(path, ec), "image ", path, " is missing");
  std::string bytes = read_image_file_checked(path, "infer");
  cv::Mat buf(1, (int)bytes.size(), CV_8U, bytes.data());
  cv::Mat im = bytes.empty() ? cv::Mat() : cv::imdecode(buf, cv::IMREAD_COLOR);
  SFM_CHECK(!im.empty(), "cannot decode image ", path);
  cv::Mat rgb;
  cv::cvtColor(im, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

cv::Mat resize_for_network(const cv::Mat& rgb, int h, int w) {
  SFM_CHECK(!rgb.empty() && rgb.type() == CV_8UC3, "resize_for_network: expected an 8-bit RGB image");
  if (rgb.rows == h && rgb.cols == w) return rgb;
  cv::Mat out;
  cv::resize(rgb, out, cv::Size(w, h), 0, 0, cv::INTER_AREA);
  return out;
}

Tensor images_to_tensor(const std::vector<cv::Mat>& rgb, int h, int w) {
  SFM_CHECK(!rgb.empty(), "images_to_tensor: no images");
  SFM_CHECK(h > 0 && w > 0, "images_to_tensor: bad network size ", h, "x", w);
  Tensor t = Tensor::empty(Shape{(int64_t)rgb.size(), 3, h, w});
  float* d = t.data<float>();
  const size_t plane = (size_t)h * w;
  for (size_t b = 0; b < rgb.size(); ++b) {
    cv::Mat im = resize_for_network(rgb[b], h, w);
    float* o = d + b * 3 * plane;
    for (int y = 0; y < h; ++y) {
      const uint8_t* row = im.ptr<uint8_t>(y);
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c) o[c * plane + (size_t)y * w + x] = (float)row[3 * x + c];
    }
  }
  return t;
}

Tensor network_input(const std::vector<cv::Mat>& rgb, int h, int w, Device dev) {
  return normalize_images(images_to_tensor(rgb, h, w).to(dev));
}

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::CPU;
  if (s == "cuda") {
    SFM_CHECK(cuda_available(), "--device cuda: this build has no CUDA backend or no GPU is present");
    return Device::CUDA;
  }
  fail("--device: expected cpu or cuda, got '", s, "'");
}

std::string resolve_weights(const std::string& path, const std::string& default_name) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    fs::path p = fs::path(path) / default_name;
    SFM_CHECK(fs::is_regular_file(p, ec), "checkpoint folder ", path, " holds no ", default_name);
    return p.string();
  }
  SFM_CHECK(fs::is_regular_file(path, ec), "weights file ", path, " is missing");
  return path;
}

std::unique_ptr<DispNet> load_dispnet(const std::string& path, Device dev) {
  std::string file = resolve_weights(path, "dispnet.safetensors");
  auto net = std::make_unique<DispNet>(0, Device::CPU);
  net->load(file);
  net->to(dev);
  return net;
}

std::unique_ptr<PoseExpNet> load_posenet(const std::string& path, Device dev) {
  std::string file = resolve_weights(path, "posenet.safetensors");
  SafeTensors st = load_safetensors(file);
  auto it = st.tensors.find("conv1.0.weight");
  SFM_CHECK(it != st.tensors.end(), file, ": no tensor 'conv1.0.weight': not a PoseExpNet checkpoint");
  const Tensor& w = it->second;
  SFM_CHECK(w.ndim() == 4 && w.dim(1) % 3 == 0 && w.dim(1) >= 6, file, ": 'conv1.0.weight' has shape ",
            w.shape().str(), ", expected [16, 3*(sources+1), 7, 7]");
  PoseExpNetConfig cfg;
  cfg.num_sources = (int)(w.dim(1) / 3 - 1);
  auto m = st.tensors.find("predict_mask1.weight");
  cfg.explainability = m != st.tensors.end();
  if (cfg.explainability)
    cfg.mask_mode = m->second.dim(0) == 2 * cfg.num_sources ? MaskMode::Softmax : MaskMode::Sigmoid;
  auto net = std::make_unique<PoseExpNet>(cfg, 0, Device::CPU);
  net->load_state_dict(st.tensors, file);
  net->to(dev);
  return net;
}

Tensor predict_disparity(DispNet& net, const std::vector<cv::Mat>& rgb, int h, int w) {
  Tensor x = network_input(rgb, h, w, net.device());
  Tensor d = net.infer(x);
  return d.cpu();
}

cv::Mat disparity_plane(const Tensor& disp, int64_t b) {
  SFM_CHECK(disp.defined() && !disp.is_cuda() && disp.dtype() == DType::F32 &&
                (disp.ndim() == 3 || (disp.ndim() == 4 && disp.dim(1) == 1)),
            "disparity_plane: expected a float32 CPU [B,1,H,W] or [B,H,W] tensor, got ",
            disp.defined() ? disp.desc() : std::string("undefined"));
  SFM_CHECK(b >= 0 && b < disp.dim(0), "disparity_plane: index ", b, " outside a batch of ", disp.dim(0));
  int h = (int)disp.dim(-2), w = (int)disp.dim(-1);
  return cv::Mat(h, w, CV_32FC1, disp.data<float>() + b * h * w).clone();
}

// ---------------------------------------------------------------- ProgressLine
ProgressLine::ProgressLine(std::string label, int64_t total)
    : label_(std::move(label)), total_(total), tty_(isatty(fileno(stderr)) != 0) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

void ProgressLine::advance(int64_t n) {
  done_ += n;
  auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ > std::chrono::milliseconds(100) || done_ == total_) {
      last_draw_ = now;
      draw(false);
    }
    return;
  }
  int64_t step = total_ > 0 ? std::max<int64_t>(1, total_ / 10) : 100;
  if (done_ - last_printed_ >= step) {
    last_printed_ = done_;
    draw(false);
  }
}

void ProgressLine::draw(bool final) {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = secs > 0 ? done_ / secs : 0.0;
  char buf[160];
  std::string bar;
  if (total_ > 0) {
    int filled = (int)(30 * std::min<int64_t>(done_, total_) / total_);
    bar.assign(1, '[');
    bar.append((size_t)filled, '#');
    bar.append((size_t)(30 - filled), '.');
    bar.append("] ");
    std::snprintf(buf, sizeof(buf), "%lld/%lld %.1f/s", (long long)done_, (long long)total_, rate);
  } else {
    std::snprintf(buf, sizeof(buf), "%lld %.1f/s", (long long)done_, rate);
  }
  if (tty_)
    std::fprintf(stderr, "\r%s %s%s\033[K%s", label_.c_str(), bar.c_str(), buf, final ? "\n" : "");
  else
    std::fprintf(stderr, "%s %s%s\n", label_.c_str(), bar.c_str(), buf);
  std::fflush(stderr);
}

void ProgressLine::finish() {
  if (finished_) return;
  finished_ = true;
  if (tty_ || done_ != last_printed_) draw(true);
}

ProgressLine::~ProgressLine() {
  // An exception unwinding through: end the in-place line so the error starts on its own.
  if (!finished_ && tty_) std::fprintf(stderr, "\n");
}

}  // namespace sfm::eval
