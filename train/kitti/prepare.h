#pragma once
// `sfm prepare`: KITTI raw -> the formatted training layout (docs/data.md, "The formatted layout").
//
// For every drive <date>/<date>_drive_NNNN_sync of the KITTI raw tree that is not an Eigen
// test scene, and every requested camera (02 and 03 by default), one scene folder
// "<date>_drive_NNNN_sync_<cam>" with:
//   NNNNNNNNNN.jpg   the non-static frames, resized to HxW (INTER_AREA), original frame ids
//   cam.txt          K of P_rect_0<cam> (left 3x3) scaled to HxW, integer pixel centres:
//                    fx*sx, fy*sy, cx' = (cx+0.5)*sx - 0.5, cy' = (cy+0.5)*sy - 0.5
//   NNNNNNNNNN.npy   (--with-depth) velodyne depth at HxW, metres, 0 = no return; a scan that
//                    gives no depth at all (empty, or no point inside the image) is written all
//                    zeros with a warning on stderr naming the scan, and counted in empty_depth
//   poses.txt        (--with-pose) per frame the 3x4 camera-to-world matrix of the rectified
//                    camera, world = that camera at the scene's first written frame (KITTI
//                    odometry style), from the OXTS packets (devkit convention, see kitti_raw.h)
// plus train.txt / val.txt, split by drive (all cameras of a drive on the same side).
// Static frames are dropped: from a static-frames list (SfMLearner's data/static_frames.txt,
// lines "<date> <drive folder> <frame id>") when given, else when the OXTS horizontal speed
// sqrt(vf^2 + vl^2) is below min_speed. Everything is written under OUT.tmp-<random> and
// renamed to OUT at the end, so OUT is either complete or absent.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace sfm {

struct PrepareOptions {
  std::string kitti_raw;          // root holding the <date> folders
  std::string out;                // must not exist
  int height = 128, width = 416;
  std::string static_frames;      // list file; empty: OXTS speed criterion
  std::string test_scenes;        // empty: data/test_scenes_eigen.txt; "none": exclude nothing
  bool with_depth = false, with_pose = false;
  std::vector<std::string> cameras{"02", "03"};
  double min_speed = 0.5;         // m/s, speed criterion for static frames
  int min_frames = 5;             // scenes with fewer kept frames are not written
  double val_fraction = 0.1;      // of the drives (at least one each side when >= 2 drives)
  uint64_t seed = 0;              // for the train/val split
  int threads = 2;
  int jpeg_quality = 95;
  bool progress = true;
};

struct PrepareReport {
  int dates = 0, drives_found = 0, drives_test = 0, drives_short = 0, drives_used = 0;
  int scenes = 0;                 // written scene folders
  int64_t frames = 0;             // written images (all cameras)
  int64_t static_dropped = 0;     // frames dropped as static (per drive, not per camera)
  std::vector<std::string> train_scenes, val_scenes;
  std::string static_source;      // "list <file>" or "oxts speed < X m/s"
  int64_t empty_depth = 0;        // --with-depth maps with no depth at all (a warning names each scan)
};

PrepareReport prepare_kitti_raw(const PrepareOptions& opt);

// "date_drive_NNNN" of a drive folder name ("2011_09_26_drive_0001_sync" -> "2011_09_26_drive_0001").
std::string drive_key(const std::string& drive_folder);
// Lines of a test-scene list ("2011_09_26_drive_0060"), comments (#) and blanks ignored.
std::set<std::string> read_scene_list(const std::string& path);
// Static-frames list: entries "<drive folder> <frame id>" (the <date> column is dropped).
std::set<std::string> read_static_frames(const std::string& path);
// The deterministic drive split: the drives sorted by a seeded hash of their name; the
// first round(n * val_fraction) (clamped to [1, n-1] when n >= 2) are validation.
void split_drives(const std::vector<std::string>& drives, double val_fraction, uint64_t seed,
                  std::vector<std::string>& train, std::vector<std::string>& val);
// Finds a file of the source tree's data/ folder (e.g. "test_scenes_eigen.txt"): next to the
// build tree's CMake source directory, then in data/ folders above the executable, then in
// ./data. Throws naming the places it looked.
std::string find_data_file(const std::string& name);

}  // namespace sfm
