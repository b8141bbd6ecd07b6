#pragma once
// Training data on disk: scene reading and snippet indexing for the two layouts the loader
// accepts, plus the decoding of one frame (OpenCV).
//
// Formatted layout (docs/data.md; what `sfm prepare` and `sfm synth` write): read with
// eval/data_layout.h, the one reader of that layout, which the evaluation uses too.
// Original TensorFlow layout (SfMLearner's prepare_train_data.py):
//   ROOT/<split>.txt            lines "<folder> <frame>"
//   ROOT/<folder>/<frame>.jpg   the snippet's frames concatenated horizontally
//   ROOT/<folder>/<frame>_cam.txt  9 comma-separated intrinsics (of one frame)
// Each TF sample becomes its own scene of `tf_seq_length` frames (the tiles of the image).
//
// Snippets: seq_length (odd) consecutive frames of a scene with the target in the middle;
// a scene of n frames yields n - seq_length + 1 snippets, in scene order then time order.
//
// Bad input (missing split file or scene folder, cam file without 9 numbers, poses.txt with
// the wrong number of lines, scene shorter than a snippet, unreadable frame, mixed frame
// sizes within a scene) throws an sfm::Error naming the file; with skip_bad the scene (or,
// for an unreadable frame, the snippets that use it) is skipped and counted instead.
#include <string>
#include <vector>

#include <Eigen/Dense>
#include <opencv2/core.hpp>

#include "eval/data_layout.h"  // the layout's files and formats, Pose34, read_numbers

namespace sfm {

enum class DataLayout { Formatted, TensorFlow };
const char* layout_name(DataLayout l);

struct FrameRef {
  std::string path;        // image file
  std::string name;        // file stem ("0000000005"); TF: "<frame>", or "<frame>#<tile>" when
                           // the stored image holds more frames than a snippet
  std::string depth_path;  // "<stem>.npy" when it exists, else empty
  int tile = 0, tiles = 1; // horizontal tile of a concatenated image (TF layout)
  bool bad = false;        // unreadable (skip_bad): snippets using it are dropped
};

struct SceneInfo {
  std::string name;                  // "<scene>" (TF layout: "<folder>")
  std::string dir;                   // ROOT/<folder>
  int width = 0, height = 0;         // one frame in the files
  Eigen::Matrix3d K = Eigen::Matrix3d::Identity();  // intrinsics at that size
  std::vector<FrameRef> frames;      // time order
  std::vector<Pose34> poses;         // per frame (camera-to-world), empty when none
};

struct DatasetOptions {
  int seq_length = 3;          // 3 or 5 (any odd number >= 3 works)
  std::string split = "train"; // reads ROOT/<split>.txt
  bool skip_bad = false;
  int tf_seq_length = 0;       // TF layout: frames per concatenated image (0: seq_length)
  bool quiet = false;          // do not print skipped items to stderr
};

class Dataset {
 public:
  struct Snippet {
    int scene = 0;
    int first = 0;  // frames [first, first + seq_length) of the scene
  };

  Dataset(const std::string& root, const DatasetOptions& opt);

  DataLayout layout() const { return layout_; }
  const std::string& root() const { return root_; }
  int seq_length() const { return opt_.seq_length; }
  size_t size() const { return snippets_.size(); }  // snippets
  size_t num_scenes() const { return scenes_.size(); }
  const SceneInfo& scene(size_t i) const { return scenes_.at(i); }
  const Snippet& snippet(size_t i) const { return snippets_.at(i); }
  const FrameRef& frame(size_t snippet, int k) const;  // k-th frame (time order) of a snippet
  const FrameRef& target(size_t snippet) const { return frame(snippet, opt_.seq_length / 2); }
  std::string snippet_id(size_t i) const;  // "<scene>/<target frame name>"
  bool has_depth() const { return has_depth_; }  // some frame has a depth map
  bool has_poses() const { return has_poses_; }  // every scene has poses.txt
  int bad_count() const { return (int)problems_.size(); }
  const std::vector<std::string>& problems() const { return problems_; }

  // Detects the layout from the first non-empty line of ROOT/<split>.txt (1 token:
  // formatted, 2 tokens: TensorFlow).
  static DataLayout detect_layout(const std::string& root, const std::string& split);

 private:
  void problem(const std::string& msg);  // throws, or records when skip_bad
  void scan_formatted(const std::string& list_path);
  void scan_tensorflow(const std::vector<std::string>& lines, const std::string& list_path);
  void add_scene(SceneInfo s);
  // K from a cam.txt; false (the problem recorded) when the file is bad and skip_bad is set.
  bool read_intrinsics(const std::string& cam, Eigen::Matrix3d& K);

  std::string root_;
  DatasetOptions opt_;
  DataLayout layout_ = DataLayout::Formatted;
  std::vector<SceneInfo> scenes_;
  std::vector<Snippet> snippets_;
  bool has_depth_ = false, has_poses_ = false;
  std::vector<std::string> problems_;
};

// Width and height from a PNG or JPEG header without decoding; false when the file cannot
// be opened or is neither.
bool read_image_size(const std::string& path, int& width, int& height);

// Decodes frame f of scene s to RGB uint8 (CV_8UC3) at the files' resolution (the tile for
// the TF layout). Errors name the file: not decodable, or a size other than the scene's.
cv::Mat read_frame_rgb(const SceneInfo& s, const FrameRef& f);
// The two steps of read_frame_rgb, so that the tiles of one file are decoded once:
cv::Mat decode_image_bgr(const std::string& path);  // error names the file
cv::Mat frame_rgb_from(const cv::Mat& bgr, const SceneInfo& s, const FrameRef& f);
// Loads f's depth map (CV_32F, frame size); an empty Mat when f has none.
cv::Mat read_frame_depth(const SceneInfo& s, const FrameRef& f);

}  // namespace sfm
