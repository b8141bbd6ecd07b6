#include "train/data/dataset.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "boundary/error.h"
#include "engine/npy.h"
#include "eval/image_bytes.h"

namespace sfm {
namespace fs = std::filesystem;

const char* layout_name(DataLayout l) { return l == DataLayout::Formatted ? "formatted" : "tensorflow"; }

// ------------------------------------------------------------------ small file helpers
namespace {

std::vector<std::string> read_lines(const std::string& path) {
  return split_list_lines(read_text_file(path, "dataset", "split file "));
}

Eigen::Matrix3d K_from(const std::vector<double>& v) {
  Eigen::Matrix3d K;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) K(r, c) = v[r * 3 + c];
  return K;
}

uint32_t be32(const unsigned char* p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
uint32_t be16(const unsigned char* p) { return (uint32_t)p[0] << 8 | p[1]; }

}  // namespace

bool read_image_size(const std::string& path, int& width, int& height) {
  std::ifstream f(path, std::ios::binary);
  if (!f.good()) return false;
  unsigned char h[24];
  f.read(reinterpret_cast<char*>(h), 24);
  if (f.gcount() < 4) return false;
  static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (f.gcount() == 24 && std::equal(png_sig, png_sig + 8, h) && std::equal(h + 12, h + 16, "IHDR")) {
    width = (int)be32(h + 16);
    height = (int)be32(h + 20);
    return width > 0 && height > 0;
  }
  if (h[0] != 0xFF || h[1] != 0xD8) return false;
  // JPEG: walk the marker segments up to the first start-of-frame.
  f.clear();
  f.seekg(2);
  for (int guard = 0; guard < 10000; ++guard) {
    int c = f.get();
    if (c == EOF) return false;
    if (c != 0xFF) return false;
    int marker = f.get();
    while (marker == 0xFF) marker = f.get();  // fill bytes
    if (marker == EOF) return false;
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length
    if (marker == 0xD9 || marker == 0xDA) return false;  // end of image / scan before any frame header
    unsigned char lb[2];
    f.read(reinterpret_cast<char*>(lb), 2);
    if (f.gcount() != 2) return false;
    uint32_t len = be16(lb);
    if (len < 2) return false;
    bool sof = (marker >= 0xC0 && marker <= 0xCF) && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      unsigned char s[5];
      f.read(reinterpret_cast<char*>(s), 5);
      if (f.gcount() != 5) return false;
      height = (int)be16(s + 1);
      width = (int)be16(s + 3);
      return width > 0 && height > 0;
    }
    f.seekg(len - 2, std::ios::cur);
  }
  return false;
}

// ------------------------------------------------------------------ Dataset
DataLayout Dataset::detect_layout(const std::string& root, const std::string& split) {
  std::string list = split_list_path(root, split);
  for (const auto& l : read_lines(list)) {
    auto t = tokens(l);
    if (t.empty()) continue;
    SFM_CHECK(t.size() <= 2, "dataset: ", list, ": line '", l,
              "' has more than two fields (expected '<scene>' or '<folder> <frame>')");
    return t.size() == 1 ? DataLayout::Formatted : DataLayout::TensorFlow;
  }
  fail("dataset: ", list, " lists no scene");
}

Dataset::Dataset(const std::string& root, const DatasetOptions& opt) : root_(root), opt_(opt) {
  SFM_CHECK(opt_.seq_length >= 3 && opt_.seq_length % 2 == 1, "dataset: seq_length must be odd and >= 3, got ",
            opt_.seq_length);
  SFM_CHECK(fs::is_directory(root_), "dataset: data root ", root_, " is not a directory");
  std::string list = split_list_path(root_, opt_.split);
  layout_ = detect_layout(root_, opt_.split);
  if (layout_ == DataLayout::Formatted)
    scan_formatted(list);
  else
    scan_tensorflow(read_lines(list), list);

  has_poses_ = !scenes_.empty();
  for (const auto& s : scenes_) {
    if (s.poses.empty()) has_poses_ = false;
    for (const auto& f : s.frames)
      if (!f.depth_path.empty()) has_depth_ = true;
  }
  // Snippets, dropping those that contain a bad frame.
  const int L = opt_.seq_length;
  for (size_t si = 0; si < scenes_.size(); ++si) {
    const auto& fr = scenes_[si].frames;
    for (int first = 0; first + L <= (int)fr.size(); ++first) {
      bool ok = true;
      for (int k = 0; k < L; ++k) ok = ok && !fr[first + k].bad;
      if (ok) snippets_.push_back({(int)si, first});
    }
  }
  if (!problems_.empty() && !opt_.quiet) {
    size_t shown = std::min<size_t>(problems_.size(), 20);
    for (size_t i = 0; i < shown; ++i) std::fprintf(stderr, "warning: skipped: %s\n", problems_[i].c_str());
    if (problems_.size() > shown)
      std::fprintf(stderr, "warning: ... and %zu more skipped items\n", problems_.size() - shown);
  }
  SFM_CHECK(!snippets_.empty(), "dataset: ", list, " yields no snippet of ", L, " frames",
            problems_.empty() ? "" : " (every scene was skipped as bad; see the warnings)");
}

void Dataset::problem(const std::string& msg) {
  if (!opt_.skip_bad) throw Error(msg);
  problems_.push_back(msg);
}

const FrameRef& Dataset::frame(size_t snippet, int k) const {
  const auto& sn = snippets_.at(snippet);
  return scenes_[sn.scene].frames.at(sn.first + k);
}

std::string Dataset::snippet_id(size_t i) const {
  const auto& sn = snippets_.at(i);
  return scenes_[sn.scene].name + "/" + target(i).name;
}

void Dataset::add_scene(SceneInfo s) { scenes_.push_back(std::move(s)); }

bool Dataset::read_intrinsics(const std::string& cam, Eigen::Matrix3d& K) {
  try {
    K = K_from(read_intrinsics_file(cam, "dataset"));
    return true;
  } catch (const Error& e) {
    problem(e.what());
    return false;
  }
}

void Dataset::scan_formatted(const std::string& list_path) {
  for (const SceneListEntry& e : read_scene_list(root_, list_path, "dataset", [this](const std::string& m) { problem(m); })) {
    SceneInfo s;
    s.name = e.name;
    s.dir = e.dir;
    std::vector<std::string> files = list_scene_frames(s.dir);
    // cam.txt
    std::string cam = scene_cam_file(s.dir);
    if (!fs::exists(cam)) {
      problem("dataset: scene " + s.dir + " has no cam.txt");
      continue;
    }
    if (!read_intrinsics(cam, s.K)) continue;
    if ((int)files.size() < opt_.seq_length) {
      problem("dataset: scene " + s.dir + " has " + std::to_string(files.size()) +
              " frames, fewer than the snippet length " + std::to_string(opt_.seq_length));
      continue;
    }
    // Frames and their sizes (headers only).
    bool scene_ok = true;
    std::string first_path;
    for (const auto& p : files) {
      FrameRef f;
      f.path = p;
      f.name = frame_name(p);
      f.depth_path = depth_map_path(p);
      int w = 0, h = 0;
      if (!read_image_size(f.path, w, h)) {
        problem("dataset: cannot read image " + f.path + " (missing, unreadable or not a PNG/JPEG file)");
        f.bad = true;
      } else if (s.width == 0) {
        s.width = w;
        s.height = h;
        first_path = f.path;
      } else if (w != s.width || h != s.height) {
        problem("dataset: mixed image sizes within scene " + s.dir + ": " + f.path + " is " + std::to_string(w) +
                "x" + std::to_string(h) + " but " + first_path + " is " + std::to_string(s.width) + "x" +
                std::to_string(s.height));
        scene_ok = false;
        break;
      }
      s.frames.push_back(std::move(f));
    }
    if (!scene_ok) continue;
    if (s.width == 0) {
      problem("dataset: no readable frame in scene " + s.dir);
      continue;
    }
    // poses.txt
    std::string poses = scene_poses_file(s.dir);
    if (fs::exists(poses)) {
      std::vector<Pose34> ps;
      std::string why;
      try {
        ps = read_poses_file(poses, "dataset");
        if (ps.size() != s.frames.size())
          why = "dataset: " + poses + ": " + std::to_string(ps.size()) + " poses for " + std::to_string(s.frames.size()) +
                " frames";
      } catch (const Error& e) {
        why = e.what();
      }
      if (!why.empty()) {
        problem(why);
        continue;
      }
      s.poses = std::move(ps);
    }
    add_scene(std::move(s));
  }
}

void Dataset::scan_tensorflow(const std::vector<std::string>& lines, const std::string& list_path) {
  const int tiles = opt_.tf_seq_length > 0 ? opt_.tf_seq_length : opt_.seq_length;
  for (size_t ln = 0; ln < lines.size(); ++ln) {
    auto t = tokens(lines[ln]);
    if (t.empty()) continue;
    std::string where = list_path + " line " + std::to_string(ln + 1);
    if (t.size() != 2) {
      problem("dataset: " + where + ": '" + lines[ln] + "' is not '<folder> <frame>' (TensorFlow layout)");
      continue;
    }
    SceneInfo s;
    s.name = t[0];  // snippet id: "<folder>/<frame>"
    s.dir = (fs::path(root_) / t[0]).string();
    if (!fs::is_directory(s.dir)) {
      problem("dataset: " + where + " names folder '" + t[0] + "', but " + s.dir + " does not exist");
      continue;
    }
    std::string img;
    for (const char* ext : {".jpg", ".png", ".jpeg"}) {
      std::string p = (fs::path(s.dir) / (t[1] + ext)).string();
      if (fs::exists(p)) {
        img = p;
        break;
      }
    }
    if (img.empty()) {
      problem("dataset: " + where + " names frame '" + t[1] + "', but " +
              (fs::path(s.dir) / (t[1] + ".jpg")).string() + " does not exist");
      continue;
    }
    std::string cam = (fs::path(s.dir) / (t[1] + "_cam.txt")).string();
    if (!read_intrinsics(cam, s.K)) continue;
    int w = 0, h = 0;
    if (!read_image_size(img, w, h)) {
      problem("dataset: cannot read image " + img + " (unreadable or not a PNG/JPEG file)");
      continue;
    }
    if (w % tiles != 0) {
      problem("dataset: " + img + " is " + std::to_string(w) + " pixels wide, not a multiple of the " +
              std::to_string(tiles) + " concatenated frames (set tf_seq_length to the prepared sequence length)");
      continue;
    }
    if (tiles < opt_.seq_length) {
      problem("dataset: " + img + " holds " + std::to_string(tiles) + " frames, fewer than the snippet length " +
              std::to_string(opt_.seq_length));
      continue;
    }
    s.width = w / tiles;
    s.height = h;
    for (int k = 0; k < tiles; ++k) {
      FrameRef f;
      f.path = img;
      f.name = t[1];
      if (tiles > opt_.seq_length) f.name.append("#").append(std::to_string(k));
      f.tile = k;
      f.tiles = tiles;
      s.frames.push_back(f);
    }
    if (tiles == opt_.seq_length)
      for (auto& f : s.frames) f.name = t[1];
    add_scene(std::move(s));
  }
}

// ------------------------------------------------------------------ decoding
cv::Mat decode_image_bgr(const std::string& path) {
  // A truncated file would decode partially (libjpeg only warns): refuse it, naming the file.
  std::string bytes = read_image_file_checked(path, "loader");
  cv::Mat buf(1, (int)bytes.size(), CV_8U, bytes.data());
  cv::Mat bgr = bytes.empty() ? cv::Mat() : cv::imdecode(buf, cv::IMREAD_COLOR);
  SFM_CHECK(!bgr.empty(), "loader: cannot decode image ", path, " (missing, truncated or not an image)");
  return bgr;
}

cv::Mat frame_rgb_from(const cv::Mat& bgr, const SceneInfo& s, const FrameRef& f) {
  const int full_w = s.width * f.tiles;
  SFM_CHECK(bgr.cols == full_w && bgr.rows == s.height, "loader: ", f.path, " decodes to ", bgr.cols, "x", bgr.rows,
            ", expected ", full_w, "x", s.height, " (mixed image sizes within scene ", s.dir, ")");
  cv::Mat tile = f.tiles > 1 ? bgr(cv::Rect(f.tile * s.width, 0, s.width, s.height)) : bgr;
  cv::Mat rgb;
  cv::cvtColor(tile, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

cv::Mat read_frame_rgb(const SceneInfo& s, const FrameRef& f) { return frame_rgb_from(decode_image_bgr(f.path), s, f); }

cv::Mat read_frame_depth(const SceneInfo& s, const FrameRef& f) {
  if (f.depth_path.empty()) return cv::Mat();
  NpyArray a = load_npy(f.depth_path);
  std::vector<int64_t> sh = a.shape;
  if (sh.size() == 3 && sh[0] == 1) sh.erase(sh.begin());
  SFM_CHECK(sh.size() == 2 && sh[0] == s.height && sh[1] == s.width, "loader: depth map ", f.depth_path,
            " has shape ", sh.size() == 2 ? std::to_string(sh[0]) + "x" + std::to_string(sh[1]) : "of rank " + std::to_string(a.shape.size()),
            ", expected ", s.height, "x", s.width, " (HxW of its frame)");
  cv::Mat d(s.height, s.width, CV_32F);
  std::copy(a.data.begin(), a.data.end(), d.ptr<float>());
  return d;
}

}  // namespace sfm
