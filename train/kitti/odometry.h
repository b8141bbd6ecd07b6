#pragma once
// `sfm prepare --kitti-odometry ROOT`: the KITTI odometry benchmark -> the formatted layout.
//
// Reads (the layout of data_odometry_color + data_odometry_calib + data_odometry_poses):
//   ROOT/sequences/NN/image_2/NNNNNN.png, image_3/NNNNNN.png   rectified colour frames
//   ROOT/sequences/NN/calib.txt   "P0: ..." .. "P3: ..." (3x4 rectified projections, 12 numbers)
//   ROOT/poses/NN.txt             per frame 12 numbers: camera 0's 3x4 camera-to-world pose
// Writes one scene folder "NN_0C" per sequence and camera C (02, 03 by default) with the frames
// resized to HxW (INTER_AREA) as NNNNNNNNNN.jpg, cam.txt (K = left 3x3 of PC, scaled with
// integer pixel centres as in prepare.h), and poses.txt when ROOT/poses/NN.txt exists: camera
// C's camera-to-world pose relative to its first frame, T_C(k) = S^-1 T_0(0)^-1 T_0(k) S with
// S = [I | -t], t = K^-1 PC[:,3] (camera C sees X_C = X_0 + t).
// The odometry split of SfMLearner's TF code, its PyTorch port and SC-SfMLearner: sequences
// 00-08 are training data (split by sequence into train.txt / val.txt, both cameras on one
// side), 09 and 10 are the test sequences: written as scenes too (with poses.txt, for
// `sfm eval pose`) but listed only in test.txt, never in train.txt / val.txt. Sequences 11-21
// (no public poses) are not used. Output under OUT.tmp-*, renamed when complete.
#include <cstdint>
#include <string>
#include <vector>

namespace sfm::kitti {

struct OdometryOptions {
  std::string root, out;
  int height = 128, width = 416;
  std::vector<std::string> cameras{"02", "03"};
  std::vector<std::string> train_sequences{"00", "01", "02", "03", "04", "05", "06", "07", "08"};
  std::vector<std::string> test_sequences{"09", "10"};
  double val_fraction = 0.1;
  uint64_t seed = 0;
  int threads = 2;
  int jpeg_quality = 95;
  bool progress = true;
};

struct OdometryReport {
  int sequences = 0, scenes = 0;
  int64_t frames = 0;
  std::vector<std::string> missing;  // listed sequences not found under ROOT/sequences
  std::vector<std::string> train_scenes, val_scenes, test_scenes;
};

OdometryReport prepare_kitti_odometry(const OdometryOptions& opt);

}  // namespace sfm::kitti
