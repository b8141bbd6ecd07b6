#pragma once
// KITTI raw ground truth for the Eigen split: calibration files, velodyne scans, and their
// projection into the rectified colour camera (the protocol of the original SfMLearner, which
// Monodepth and Monodepth2 share):
//   P = P_rect_0c * R_rect_00 * [R | T]        (c = 2 for 'l', 3 for 'r')
//   points with velodyne x < 0 are dropped; (u, v, z) = P [x y z 1]^T, u /= z, v /= z;
//   pixel (col, row) = (round(u) - 1, round(v) - 1) (numpy's round: halves to even; "minus one"
//   to match KITTI's MATLAB devkit), kept when inside the image;
//   the depth stored is the velodyne x (VeloDepth::X: the original and Monodepth2) or the
//   projected z (VeloDepth::Z: the PyTorch port); where several points land on one pixel the
//   nearest (smallest depth) is kept; negative depths become 0 (unknown).
// Differences from the reference code, none of which changes a score: its duplicate detection
// uses a faulty linear index (row*(W-1)+col-1) that also merges the last column of a row with
// the first of the next; here duplicates are exactly the points of the same pixel. (Both
// columns lie outside the Garg crop.)
#include <array>
#include <map>
#include <string>
#include <vector>

namespace sfm::eval {

// A KITTI calibration text file: "key: v1 v2 ..." per line. Numeric lines are parsed; others
// (calib_time) are kept as text.
struct CalibFile {
  std::string path;
  std::map<std::string, std::vector<double>> values;
  std::map<std::string, std::string> text;
  // The numbers of key; throws an sfm::Error naming the file and key when it is missing or
  // does not hold exactly n numbers (n = 0: any count).
  const std::vector<double>& get(const std::string& key, size_t n = 0) const;
  bool has(const std::string& key) const { return values.count(key) > 0; }
};
CalibFile read_calib_file(const std::string& path);
// The same from the file's text (`path` names it in errors).
CalibFile parse_calib_text(const std::string& text, const std::string& path);

using Mat34 = std::array<double, 12>;  // row-major 3x4

// P_rect_0{cam} * R_rect_00 * [R|T] from calib_cam_to_cam and calib_velo_to_cam.
Mat34 velo_to_image_matrix(const CalibFile& cam_to_cam, const CalibFile& velo_to_cam, int cam);
// The same from a date folder holding calib_cam_to_cam.txt and calib_velo_to_cam.txt.
Mat34 velo_to_image_matrix(const std::string& calib_dir, int cam);

// A velodyne scan (.bin): float32 (x, y, z, reflectance) per point. Throws naming the file when
// it is missing or its size is not a multiple of 16 bytes.
std::vector<float> load_velodyne_points(const std::string& path);

enum class VeloDepth { X, Z };
VeloDepth parse_velo_depth(const std::string& s);  // "velodyne-x" | "velodyne-z"
const char* velo_depth_name(VeloDepth d);

// Sparse depth H x W (row-major, 0 where no point) from points (4 floats each).
std::vector<float> project_velodyne(const std::vector<float>& points, const Mat34& P, int H, int W, VeloDepth mode);

// One line of a split file: "2011_09_26/2011_09_26_drive_0002_sync 0000000069 l".
struct KittiSplitEntry {
  std::string drive_dir;  // "2011_09_26/2011_09_26_drive_0002_sync"
  std::string frame;      // "0000000069"
  char side = 'l';        // 'l' -> image_02 / P_rect_02, 'r' -> image_03 / P_rect_03
  int line = 0;           // 1-based line number in the split file
  std::string date() const;  // "2011_09_26"
  int cam() const { return side == 'r' ? 3 : 2; }
};
// Throws naming the file and line on a malformed line. Empty lines are skipped.
std::vector<KittiSplitEntry> read_kitti_split(const std::string& path);
// data/eigen_test_files.txt of this source tree (697 lines), looked up from the source path
// this file was compiled from, next to the executable, and from the working directory.
std::string default_eigen_split_path();

struct KittiFramePaths {
  std::string image;     // ROOT/drive/image_0c/data/frame.png (or .jpg when only that exists)
  std::string velodyne;  // ROOT/drive/velodyne_points/data/frame.bin
  std::string calib_dir; // ROOT/date
};
KittiFramePaths kitti_frame_paths(const std::string& root, const KittiSplitEntry& e);

// Image size (H, W) from S_rect_0{cam} of calib_cam_to_cam (for when the image is not read).
std::array<int, 2> rectified_image_size(const CalibFile& cam_to_cam, int cam);

}  // namespace sfm::eval
