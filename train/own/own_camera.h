#pragma once
// `sfm prepare --video FILE... | --frames DIR...`: your own camera's footage -> the formatted
// training layout (docs/data.md, "The formatted layout"), one scene folder per video or frame folder.
//
// Per input, in order: frames are read in time order (a video's decode order, a folder's
// image files sorted by name); every stride-th frame is considered (frames 0, N, 2N, ...);
// each considered frame is cropped (top, bottom, left, right input pixels), resized to HxW
// (INTER_AREA) and written as NNNNNNNNNN.jpg with NNNNNNNNNN = its index in the input, unless
// the motion filter drops it. cam.txt holds K after the crop and the resize (crop_resize_
// intrinsics below). Scenes are split into train.txt / val.txt by split_drives() (seeded hash
// of the scene name). Output goes to OUT.tmp-<random>, renamed to OUT when complete.
//
// Motion filter: a frame's signature is its cropped image in grayscale, area-resized to
// kMotionSigW x kMotionSigH; a considered frame is kept when the mean absolute difference
// (grey levels 0..255) between its signature and the signature of the last KEPT frame is at
// least min_motion (the first frame is always kept). min_motion = 0 keeps every frame.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <opencv2/core.hpp>

namespace sfm::own {

constexpr int kMotionSigW = 64, kMotionSigH = 32;
constexpr double kDefaultMinMotion = 1.0;  // grey levels (see docs/data.md "Your own camera")

struct Crop {
  int top = 0, bottom = 0, left = 0, right = 0;  // input pixels removed at each side
};

struct OwnOptions {
  std::vector<std::string> videos;      // one scene per video
  std::vector<std::string> frame_dirs;  // one scene per folder of images
  std::string intrinsics;               // "fx,fy,cx,cy" in the input's pixels
  std::string calib;                    // a cam.txt (3x3), or an OpenCV calibration .yml/.yaml/.xml
                                        // (camera_matrix, distortion_coefficients), input pixels
  bool undistort = false;               // undistort every frame (needs the YAML's coefficients)
  std::string out;
  int height = 128, width = 416;
  int stride = 1;
  Crop crop;
  double min_motion = kDefaultMinMotion;
  int min_frames = 3;                   // an input with fewer written frames is an error
  double val_fraction = 0.1;
  uint64_t seed = 0;
  int jpeg_quality = 95;
  int threads = 2;
  bool progress = true;
  double crop_bottom_fraction = 0;      // also crop int(h0 * this) rows at the bottom (Cityscapes: 0.25)
};

struct OwnReport {
  int scenes = 0;
  int64_t frames_read = 0;       // decoded frames, all inputs
  int64_t stride_skipped = 0;    // not considered because of --stride
  int64_t motion_dropped = 0;    // considered, dropped by the motion filter
  int64_t frames = 0;            // written
  std::vector<std::string> train_scenes, val_scenes;
};

// Parses "fx,fy,cx,cy" (all finite, fx, fy > 0); errors name `what` (e.g. "--intrinsics").
Eigen::Matrix3d parse_intrinsics(const std::string& s, const std::string& what);
// Parses "top,bottom,left,right" (non-negative integers).
Crop parse_crop(const std::string& s, const std::string& what);
// A cam.txt: 9 numbers (3 lines of 3), last row 0 0 1; errors name the file.
Eigen::Matrix3d read_cam_txt(const std::string& path);

// A camera: K and the distortion coefficients (OpenCV's k1 k2 p1 p2 [k3 ...]; empty: none).
struct Calibration {
  Eigen::Matrix3d K;
  std::vector<double> dist;
};
// --calib FILE: a .yml / .yaml / .xml is read with cv::FileStorage (the keys camera_matrix and
// distortion_coefficients that OpenCV's calibration sample writes); anything else as cam.txt.
// Errors name the file and the key.
Calibration read_calibration(const std::string& path);

// K of an image of w0 x h0 input pixels after the crop and a resize to w x h:
//   crop:   cx -= left, cy -= top
//   resize: sx = w / (w0 - left - right), sy = h / (h0 - top - bottom), integer pixel centres
//           (the convention of the KITTI preparation, cv::resize and the warp):
//           fx *= sx, fy *= sy, cx = (cx + 0.5) * sx - 0.5, cy = (cy + 0.5) * sy - 0.5
Eigen::Matrix3d crop_resize_intrinsics(const Eigen::Matrix3d& K, const Crop& c, int w0, int h0, int w, int h);

// The motion signature of a (cropped) BGR or grey frame, and the measure between two.
cv::Mat motion_signature(const cv::Mat& img);
double motion_difference(const cv::Mat& sig_a, const cv::Mat& sig_b);

// Checks every option (throws naming it) without touching any file.
void validate(const OwnOptions& opt);
// The same without the source options (videos, frame_dirs, intrinsics, calib).
void validate_output(const OwnOptions& opt);
OwnReport prepare_own(const OwnOptions& opt);

// An image sequence with its own K (input pixels): one scene. prepare_sequences() writes them
// as prepare_own() writes videos and folders (stride, crop, motion filter, resize, split); the
// videos / frame_dirs / intrinsics / calib of `opt` are ignored. Used by Cityscapes.
struct ImageSequence {
  std::string scene;
  std::vector<std::string> files;  // in time order
  Eigen::Matrix3d K;
};
OwnReport prepare_sequences(const std::vector<ImageSequence>& seqs, const OwnOptions& opt);

}  // namespace sfm::own
