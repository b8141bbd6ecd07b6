#pragma once
// The formatted data layout (docs/data.md; what `sfm prepare` and `sfm synth` write) and its
// text formats: the one reader of scene lists, frame names, cam.txt, poses.txt and times.txt,
// used by the training Dataset (train/data/dataset.cpp) and by the evaluation
// (eval/depth_eval.cpp, eval/pose_eval.cpp). It lives in eval/ because train/ links eval/ and
// eval/ may not include train/. No OpenCV: the text parsers take memory, so the fuzz targets of
// tests/fuzz/ run them on arbitrary bytes. (The completeness check of an image file's bytes is
// eval/image_bytes.h.)
//
//   ROOT/<split>.txt            one scene folder per line
//   ROOT/<scene>/NNNNNNNNNN.jpg (or .png), time order = file-name order
//   ROOT/<scene>/cam.txt        3x3 intrinsics for the files' resolution (9 numbers)
//   ROOT/<scene>/poses.txt      optional, 12 numbers per frame: 3x4 camera-to-world
//   ROOT/<scene>/times.txt      optional, one timestamp per frame
//   ROOT/<scene>/NNNNNNNNNN.npy optional depth (float32 metres, 0 = unknown), frame size
#include <Eigen/Dense>
#include <functional>
#include <string>
#include <vector>

namespace sfm {

// A camera pose as the data stores it: camera-to-world [R | t], one line of poses.txt.
using Pose34 = Eigen::Matrix<double, 3, 4>;

// ---------------------------------------------------------------- text formats (from memory)
// The whitespace-separated words of a line.
std::vector<std::string> tokens(const std::string& s);

// Numbers separated by whitespace or commas. Throws sfm::Error "<where>: '<tok>' is not a
// number" for a token that is not one (or overflows).
std::vector<double> parse_numbers_text(const std::string& text, const std::string& where);

// What is wrong with a cam.txt's numbers as 3x3 intrinsics (row-major), or "" when nothing:
// 9 numbers, all finite, fx = K[0][0] > 0, fy = K[1][1] > 0, the last row 0 0 1.
std::string intrinsics_problem(const std::vector<double>& k);

// poses.txt: one line of 12 finite numbers (a row-major 3x4 camera-to-world matrix) per
// frame, blank lines ignored. Throws sfm::Error "<where>: line N ..." naming the line, also when
// the left 3x3 is no rotation (rotation_problem of eval/kitti_trajectory.h: R^T R off the
// identity by more than kRigidTolerance = 1e-3, or det R <= 0).
std::vector<Pose34> parse_poses_text(const std::string& text, const std::string& where);

// A split list (train.txt, val.txt): its lines, with surrounding whitespace (and \r) removed.
std::vector<std::string> split_list_lines(const std::string& text);

// ---------------------------------------------------------------- files of the layout
// The whole file, without a leading UTF-8 byte-order mark; throws "<who>: cannot open <what><path>".
std::string read_text_file(const std::string& path, const std::string& who, const std::string& what = "");

// ROOT/<split>.txt.
std::string split_list_path(const std::string& root, const std::string& split);
// The evaluation's --split: `split` itself when it names an existing file, else
// ROOT/<split>.txt. Throws "--data: folder ROOT does not exist".
std::string split_list_path_or_file(const std::string& root, const std::string& split);

struct SceneListEntry {
  std::string name;  // the line's folder name
  std::string dir;   // ROOT/<name>
  int line = 0;      // 1-based line of the list
};
// The scene folders a list names, in list order (blank lines skipped). A line that is not one
// word, or names a folder that does not exist, is reported as "<who>: <list> line N ..." to
// `bad` (which may throw) and left out; without `bad` it throws.
using BadItem = std::function<void(const std::string& message)>;
std::vector<SceneListEntry> read_scene_list(const std::string& root, const std::string& list_path,
                                            const std::string& who, const BadItem& bad = nullptr);

// The frames of a scene folder (.jpg .jpeg .png, any case) in time order: file-name order,
// all-digit stems compared as numbers ("9" < "10"). Throws naming the folder when it cannot be
// listed.
std::vector<std::string> list_scene_frames(const std::string& dir);
// A frame's name: its file stem ("0000000005").
std::string frame_name(const std::string& frame_path);
// The depth map "<stem>.npy" beside a frame, or "" when there is none.
std::string depth_map_path(const std::string& frame_path);

std::string scene_cam_file(const std::string& scene_dir);    // <scene>/cam.txt
std::string scene_poses_file(const std::string& scene_dir);  // <scene>/poses.txt
std::string scene_times_file(const std::string& scene_dir);  // <scene>/times.txt

// Numbers of a small text file (separators: whitespace and commas), as cam.txt and the
// TensorFlow layout's <frame>_cam.txt hold them; errors name "<who>: <path>".
std::vector<double> read_numbers(const std::string& path, const std::string& who = "dataset");
// cam.txt (or <frame>_cam.txt): 9 numbers that pass intrinsics_problem; errors name "<who>: <path>".
std::vector<double> read_intrinsics_file(const std::string& path, const std::string& who);
// poses.txt (parse_poses_text); errors name "<who>: <path>".
std::vector<Pose34> read_poses_file(const std::string& path, const std::string& who);
// times.txt: exactly `frames` numbers; errors name "<who>: <path>" and both counts.
std::vector<double> read_times_file(const std::string& path, size_t frames, const std::string& who);

}  // namespace sfm
