#include "train/own/own_camera.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/calib3d.hpp>
#include <opencv2/core/persistence.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <opencv2/videoio/registry.hpp>

#include "boundary/error.h"
#include "train/data/augment.h"
#include "train/kitti/prepare.h"
#include "train/log/progress.h"
#include "train/prepare/output.h"

namespace sfm::own {
namespace fs = std::filesystem;

namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  std::stringstream ss(s);
  while (std::getline(ss, cur, ',')) out.push_back(cur);
  if (!s.empty() && s.back() == ',') out.push_back("");
  return out;
}

double parse_double(const std::string& t, const std::string& what, const std::string& whole) {
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(t, &pos);
  } catch (...) {
    pos = std::string::npos;
  }
  SFM_CHECK(pos == t.size() && !t.empty() && std::isfinite(v), "prepare: ", what, ": '", t, "' in '", whole,
            "' is not a finite number");
  return v;
}

bool is_image_file(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return (char)std::tolower(c); });
  return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".bmp" || e == ".ppm" || e == ".tif" || e == ".tiff";
}

std::string frame_id(int64_t k) {
  char b[24];
  std::snprintf(b, sizeof b, "%010lld", (long long)k);
  return b;
}

// Frames of one input in time order; `where()` names the current frame in errors.
class FrameSource {
 public:
  virtual ~FrameSource() = default;
  virtual bool next(cv::Mat& bgr) = 0;  // false at the end
  virtual std::string where() const = 0;
  virtual int64_t expected_frames() const { return -1; }  // what the container claims; -1: unknown
};

class VideoSource : public FrameSource {
 public:
  explicit VideoSource(const std::string& path) : path_(path) {
    SFM_CHECK(fs::is_regular_file(path), "prepare: --video ", path, " is not a file");
    // FFmpeg (the usual backend for files) when OpenCV has it, else whatever it has
    cap_.open(path, cv::videoio_registry::hasBackend(cv::CAP_FFMPEG) ? cv::CAP_FFMPEG : cv::CAP_ANY);
    SFM_CHECK(cap_.isOpened(), "prepare: cannot open video ", path, " (not a video OpenCV can decode)");
  }
  bool next(cv::Mat& bgr) override {
    if (!cap_.read(bgr) || bgr.empty()) return false;
    ++index_;
    return true;
  }
  std::string where() const override { return path_ + " frame " + std::to_string(index_); }
  int64_t expected_frames() const override {
    double n = cap_.get(cv::CAP_PROP_FRAME_COUNT);
    return n > 0 ? (int64_t)n : -1;
  }

 private:
  std::string path_;
  cv::VideoCapture cap_;
  int64_t index_ = -1;
};

std::vector<std::string> list_images(const std::string& dir) {
  SFM_CHECK(fs::is_directory(dir), "prepare: --frames ", dir, " is not a directory");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && is_image_file(e.path())) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  SFM_CHECK(!files.empty(), "prepare: --frames ", dir, " holds no image (.png, .jpg, .jpeg, .bmp, .ppm, .tif)");
  return files;
}

class FileListSource : public FrameSource {
 public:
  explicit FileListSource(const std::vector<std::string>& files) : files_(files) {}
  bool next(cv::Mat& bgr) override {
    if (++index_ >= (int64_t)files_.size()) return false;
    bgr = cv::imread(files_[index_], cv::IMREAD_COLOR);
    SFM_CHECK(!bgr.empty(), "prepare: cannot decode image ", files_[index_]);
    return true;
  }
  std::string where() const override { return files_.at(index_); }

 private:
  const std::vector<std::string>& files_;
  int64_t index_ = -1;
};

struct Input {
  std::string path, scene;  // path: the video, or what names the image sequence in messages
  bool video = false;
  std::vector<std::string> files;  // image sequence
  Eigen::Matrix3d K0;              // in the input's pixels
  std::vector<double> dist;        // non-empty: undistort every frame (K0 kept as the new K)
  std::unique_ptr<FrameSource> open() const {
    if (video) return std::make_unique<VideoSource>(path);
    return std::make_unique<FileListSource>(files);
  }
};

OwnReport write_inputs(const std::vector<Input>& inputs, const OwnOptions& opt);

}  // namespace

Eigen::Matrix3d parse_intrinsics(const std::string& s, const std::string& what) {
  auto t = split_commas(s);
  SFM_CHECK(t.size() == 4, "prepare: ", what, " expects fx,fy,cx,cy (4 numbers), got '", s, "'");
  double v[4];
  for (int i = 0; i < 4; ++i) v[i] = parse_double(t[i], what, s);
  SFM_CHECK(v[0] > 0 && v[1] > 0, "prepare: ", what, ": fx and fy must be > 0, got '", s, "'");
  Eigen::Matrix3d K;
  K << v[0], 0, v[2], 0, v[1], v[3], 0, 0, 1;
  return K;
}

Crop parse_crop(const std::string& s, const std::string& what) {
  auto t = split_commas(s);
  SFM_CHECK(t.size() == 4, "prepare: ", what, " expects top,bottom,left,right (4 integers), got '", s, "'");
  int v[4];
  for (int i = 0; i < 4; ++i) {
    size_t pos = 0;
    long long x = -1;
    try {
      x = std::stoll(t[i], &pos);
    } catch (...) {
      pos = std::string::npos;
    }
    SFM_CHECK(pos == t[i].size() && !t[i].empty() && x >= 0 && x < (1 << 20), "prepare: ", what, ": '", t[i], "' in '",
              s, "' is not a non-negative integer");
    v[i] = (int)x;
  }
  return Crop{v[0], v[1], v[2], v[3]};
}

Eigen::Matrix3d read_cam_txt(const std::string& path) {
  std::ifstream f(path);
  SFM_CHECK(f.good(), "prepare: cannot open calibration file ", path);
  std::vector<double> v;
  std::string tok;
  while (f >> tok) v.push_back(parse_double(tok, "calibration file " + path, tok));
  SFM_CHECK(v.size() == 9, "prepare: calibration file ", path, " holds ", v.size(),
            " numbers; expected a 3x3 matrix (cam.txt: 3 lines of 3 numbers)");
  Eigen::Matrix3d K;
  for (int i = 0; i < 9; ++i) K(i / 3, i % 3) = v[i];
  SFM_CHECK(K(2, 0) == 0 && K(2, 1) == 0 && K(2, 2) == 1 && K(1, 0) == 0 && K(0, 0) > 0 && K(1, 1) > 0,
            "prepare: calibration file ", path, " is not an intrinsics matrix [fx s cx; 0 fy cy; 0 0 1]");
  return K;
}

Calibration read_calibration(const std::string& path) {
  std::string e = fs::path(path).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char ch) { return (char)std::tolower(ch); });
  if (e != ".yml" && e != ".yaml" && e != ".xml") return Calibration{read_cam_txt(path), {}};
  SFM_CHECK(fs::is_regular_file(path), "prepare: cannot open calibration file ", path);
  cv::FileStorage fsr;
  try {
    fsr.open(path, cv::FileStorage::READ);
  } catch (const cv::Exception& ex) {
    fail("prepare: calibration file ", path, " cannot be parsed: ", ex.what());
  }
  SFM_CHECK(fsr.isOpened(), "prepare: cannot open calibration file ", path);
  cv::Mat K, D;
  fsr["camera_matrix"] >> K;
  SFM_CHECK(!K.empty() && K.rows == 3 && K.cols == 3, "prepare: calibration file ", path,
            " has no 3x3 camera_matrix (OpenCV calibration format: camera_matrix, distortion_coefficients)");
  K.convertTo(K, CV_64F);
  Calibration c;
  for (int i = 0; i < 9; ++i) c.K(i / 3, i % 3) = K.at<double>(i / 3, i % 3);
  SFM_CHECK(c.K(0, 0) > 0 && c.K(1, 1) > 0 && c.K(2, 2) == 1 && c.K(2, 0) == 0 && c.K(2, 1) == 0,
            "prepare: calibration file ", path, ": camera_matrix is not [fx s cx; 0 fy cy; 0 0 1]");
  fsr["distortion_coefficients"] >> D;
  if (!D.empty()) {
    D.convertTo(D, CV_64F);
    SFM_CHECK(D.total() == 4 || D.total() == 5 || D.total() == 8 || D.total() == 12 || D.total() == 14,
              "prepare: calibration file ", path, ": distortion_coefficients has ", D.total(),
              " values (OpenCV takes 4, 5, 8, 12 or 14)");
    for (size_t i = 0; i < D.total(); ++i) c.dist.push_back(D.at<double>((int)i));
  }
  return c;
}

Eigen::Matrix3d crop_resize_intrinsics(const Eigen::Matrix3d& K, const Crop& c, int w0, int h0, int w, int h) {
  Eigen::Matrix3d Kc = K;
  Kc(0, 2) -= c.left;
  Kc(1, 2) -= c.top;
  return resize_intrinsics(Kc, w0 - c.left - c.right, h0 - c.top - c.bottom, w, h);
}

cv::Mat motion_signature(const cv::Mat& img) {
  cv::Mat g;
  if (img.channels() == 3)
    cv::cvtColor(img, g, cv::COLOR_BGR2GRAY);
  else
    g = img;
  cv::Mat gf, s;
  g.convertTo(gf, CV_32F);
  cv::resize(gf, s, cv::Size(kMotionSigW, kMotionSigH), 0, 0, cv::INTER_AREA);
  return s;
}

double motion_difference(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  return cv::mean(d)[0];
}

void validate(const OwnOptions& o) {
  SFM_CHECK(!o.videos.empty() || !o.frame_dirs.empty(), "prepare: give --video FILE or --frames DIR");
  SFM_CHECK(o.intrinsics.empty() != o.calib.empty(), o.intrinsics.empty()
                ? "prepare: --video/--frames need the camera: --intrinsics fx,fy,cx,cy or --calib FILE"
                : "prepare: give either --intrinsics or --calib, not both");
  if (!o.intrinsics.empty()) parse_intrinsics(o.intrinsics, "--intrinsics");
  validate_output(o);
}

void validate_output(const OwnOptions& o) {
  SFM_CHECK(o.crop_bottom_fraction >= 0 && o.crop_bottom_fraction < 1, "prepare: bottom crop fraction must be in [0, 1)");
  prep::check_size_and_threads(o.height, o.width, o.threads);
  SFM_CHECK(o.stride >= 1, "prepare: --stride must be >= 1, got ", o.stride);
  SFM_CHECK(std::isfinite(o.min_motion) && o.min_motion >= 0, "prepare: --min-motion must be >= 0, got ", o.min_motion);
  SFM_CHECK(o.min_frames >= 1, "prepare: --min-frames must be >= 1");
  SFM_CHECK(o.val_fraction >= 0 && o.val_fraction < 1, "prepare: --val-fraction must be in [0, 1)");
  SFM_CHECK(o.jpeg_quality >= 0 && o.jpeg_quality <= 100, "prepare: --jpeg-quality must be 0..100, got ",
            o.jpeg_quality);
  prep::check_output_free(o.out);
}

OwnReport prepare_own(const OwnOptions& opt) {
  validate(opt);
  Calibration cal = opt.calib.empty() ? Calibration{parse_intrinsics(opt.intrinsics, "--intrinsics"), {}}
                                      : read_calibration(opt.calib);
  const Eigen::Matrix3d K0 = cal.K;
  bool distorted = false;
  for (double d : cal.dist) distorted |= d != 0;
  SFM_CHECK(!opt.undistort || !cal.dist.empty(), "prepare: --undistort needs the distortion coefficients: give --calib "
            "with an OpenCV calibration .yml (camera_matrix, distortion_coefficients)",
            opt.calib.empty() ? "" : ", not ", opt.calib);
  if (distorted && !opt.undistort)
    std::fprintf(stderr, "prepare: note: %s has non-zero distortion coefficients; frames are used as they are "
                         "(pass --undistort to remove the distortion)\n", opt.calib.c_str());

  // inputs and their scene names (file stem / folder name; repeated names get _2, _3, ...)
  std::vector<Input> inputs;
  std::map<std::string, int> seen;
  auto add = [&](const std::string& p, bool video) {
    fs::path fp = fs::path(p).lexically_normal();
    if (fp.filename().empty()) fp = fp.parent_path();
    std::string name = video ? fp.stem().string() : fp.filename().string();
    if (name.empty() || name == "." || name == "..") name = "scene";
    int n = ++seen[name];
    if (n > 1) name += "_" + std::to_string(n);
    Input in;
    in.path = p;
    in.scene = name;
    in.video = video;
    if (!video) in.files = list_images(p);
    in.K0 = K0;
    if (opt.undistort) in.dist = cal.dist;
    inputs.push_back(std::move(in));
  };
  for (const auto& v : opt.videos) {
    SFM_CHECK(fs::is_regular_file(v), "prepare: --video ", v, " is not a file");
    add(v, true);
  }
  for (const auto& d : opt.frame_dirs) {
    SFM_CHECK(fs::is_directory(d), "prepare: --frames ", d, " is not a directory");
    add(d, false);
  }
  return write_inputs(inputs, opt);
}

OwnReport prepare_sequences(const std::vector<ImageSequence>& seqs, const OwnOptions& opt) {
  validate_output(opt);
  SFM_CHECK(!seqs.empty(), "prepare: no image sequence to prepare");
  std::vector<Input> inputs;
  for (const auto& q : seqs) {
    SFM_CHECK(!q.files.empty(), "prepare: sequence ", q.scene, " has no frame");
    Input in;
    in.path = q.scene;
    in.scene = q.scene;
    in.files = q.files;
    in.K0 = q.K;
    inputs.push_back(std::move(in));
  }
  return write_inputs(inputs, opt);
}

namespace {

OwnReport write_inputs(const std::vector<Input>& inputs, const OwnOptions& opt) {
  OwnReport rep;
  // every input's first frame, before anything is written: one image size, a crop that fits
  int w0 = 0, h0 = 0;
  std::string first_where;
  for (const auto& in : inputs) {
    auto src = in.open();
    cv::Mat img;
    SFM_CHECK(src->next(img), "prepare: ", in.video ? "video " : "frame folder ", in.path,
              ": no frame could be decoded (corrupt or empty?)");
    if (w0 == 0) {
      w0 = img.cols;
      h0 = img.rows;
      first_where = src->where();
    }
    SFM_CHECK(img.cols == w0 && img.rows == h0, "prepare: ", src->where(), " is ", img.cols, "x", img.rows, ", but ",
              first_where, " is ", w0, "x", h0, " (one camera, one image size)");
  }
  Crop c = opt.crop;
  c.bottom += (int)(h0 * opt.crop_bottom_fraction);  // truncated, as SfMLearner's int(h * 0.75) rows kept
  SFM_CHECK(c.left + c.right + 8 <= w0 && c.top + c.bottom + 8 <= h0, "prepare: --crop ", c.top, ",", c.bottom, ",",
            c.left, ",", c.right, " leaves less than 8x8 of the ", w0, "x", h0, " input ", first_where);

  prep::StagedFolder staged(opt.out);
  const fs::path& tmp = staged.path();
  std::vector<std::string> names;
  Progress prog("prepare", -1, "frames", opt.progress);
  for (const auto& in : inputs) {
    const Eigen::Matrix3d K = crop_resize_intrinsics(in.K0, c, w0, h0, opt.width, opt.height);
    std::unique_ptr<FrameSource> src = in.open();
    cv::Mat map1, map2;  // undistortion: the pinhole camera K0 sees what the distorted one saw
    if (!in.dist.empty()) {
      cv::Mat Kc(3, 3, CV_64F), Dc(1, (int)in.dist.size(), CV_64F, const_cast<double*>(in.dist.data()));
      for (int i = 0; i < 9; ++i) Kc.at<double>(i / 3, i % 3) = in.K0(i / 3, i % 3);
      cv::initUndistortRectifyMap(Kc, Dc, cv::Mat(), Kc, cv::Size(w0, h0), CV_32FC1, map1, map2);
    }
    fs::path sdir = tmp / in.scene;
    fs::create_directories(sdir);
    cv::Mat last_sig;
    int64_t index = -1, written = 0;
    std::vector<std::pair<cv::Mat, std::string>> batch;  // cropped frames and their output files
    auto flush = [&] {
      prep::parallel_items((int64_t)batch.size(), opt.threads, [&](int64_t i) {
        cv::Mat small = resize_image_area(batch[i].first, opt.width, opt.height);
        SFM_CHECK(cv::imwrite(batch[i].second, small, {cv::IMWRITE_JPEG_QUALITY, opt.jpeg_quality}),
                  "prepare: cannot write ", batch[i].second);
        prog.advance();
      });
      batch.clear();
    };
    cv::Mat img;
    while (src->next(img)) {
      ++index;
      ++rep.frames_read;
      SFM_CHECK(img.cols == w0 && img.rows == h0, "prepare: ", src->where(), " is ", img.cols, "x", img.rows,
                ", but ", first_where, " is ", w0, "x", h0, " (one camera, one image size)");
      if (index % opt.stride != 0) {
        ++rep.stride_skipped;
        continue;
      }
      if (!map1.empty()) {
        cv::Mat und;
        cv::remap(img, und, map1, map2, cv::INTER_LINEAR, cv::BORDER_CONSTANT);
        img = und;
      }
      cv::Mat cropped = img(cv::Rect(c.left, c.top, w0 - c.left - c.right, h0 - c.top - c.bottom)).clone();
      cv::Mat sig = motion_signature(cropped);
      if (!last_sig.empty() && motion_difference(sig, last_sig) < opt.min_motion) {
        ++rep.motion_dropped;
        continue;
      }
      last_sig = sig;
      batch.push_back({cropped, (sdir / (frame_id(index) + ".jpg")).string()});
      ++written;
      if ((int)batch.size() >= 4 * opt.threads) flush();
    }
    flush();
    // A stream that stops early (truncated or corrupt) ends like a complete one; the container's
    // frame count (an estimate for some formats: 1 frame of slack) tells them apart.
    const int64_t expected = src->expected_frames();
    if (expected > 0 && index + 1 < expected - 1)
      std::fprintf(stderr, "prepare: warning: %s: decoding stopped after %lld of the %lld frames the file declares "
                           "(truncated or corrupt?)\n", in.path.c_str(), (long long)(index + 1), (long long)expected);
    SFM_CHECK(written >= opt.min_frames, "prepare: ", in.path, " gives ", written, " frame(s) (", index + 1,
              " read, --stride ", opt.stride, ", --min-motion ", opt.min_motion, "), fewer than --min-frames ",
              opt.min_frames);
    prep::write_cam_txt(sdir / "cam.txt", K);
    rep.frames += written;
    ++rep.scenes;
    names.push_back(in.scene);
  }
  prog.finish();
  split_drives(names, opt.val_fraction, opt.seed, rep.train_scenes, rep.val_scenes);
  prep::write_lines(tmp / "train.txt", rep.train_scenes);
  prep::write_lines(tmp / "val.txt", rep.val_scenes);
  staged.commit();
  return rep;
}

}  // namespace

}  // namespace sfm::own
