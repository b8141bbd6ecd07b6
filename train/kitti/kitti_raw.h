#pragma once
// KITTI raw data: calibration files, OXTS packets, velodyne scans, and the geometry that
// ties them together (OXTS -> metric pose as the KITTI devkit does it; velodyne -> depth
// map). Reusable by preparation, evaluation and tests; no OpenCV here.
//
// Layout of a KITTI raw date folder (what these functions read):
//   <date>/calib_cam_to_cam.txt    "key: numbers" lines: S_0X, K_0X, D_0X, R_0X, T_0X,
//                                  S_rect_0X, R_rect_0X, P_rect_0X for X = 0..3
//   <date>/calib_velo_to_cam.txt   R: (9 numbers), T: (3)  velodyne -> camera 00 (unrectified)
//   <date>/calib_imu_to_velo.txt   R: (9), T: (3)          IMU -> velodyne
//   <date>/<date>_drive_NNNN_sync/image_0X/data/NNNNNNNNNN.png
//   <date>/<date>_drive_NNNN_sync/velodyne_points/data/NNNNNNNNNN.bin  (float32 x,y,z,reflectance)
//   <date>/<date>_drive_NNNN_sync/oxts/data/NNNNNNNNNN.txt             (30 numbers, one line)
#include <array>
#include <map>
#include <string>
#include <vector>

#include <Eigen/Dense>

namespace sfm::kitti {

using Mat34 = Eigen::Matrix<double, 3, 4>;

// Every "key: n1 n2 ..." line whose values are all numbers (lines such as "calib_time:
// 09-Jan-2012 13:57:47" are skipped). Throws sfm::Error naming the file when it cannot be
// opened or holds no numeric key at all.
std::map<std::string, std::vector<double>> read_calib_file(const std::string& path);
// The same from the file's text (`path` names it in errors).
std::map<std::string, std::vector<double>> parse_calib_text(const std::string& text, const std::string& path);
// The values of `key`, which must have exactly `count` numbers (error names file and key).
std::vector<double> calib_values(const std::map<std::string, std::vector<double>>& calib,
                                 const std::string& key, size_t count, const std::string& path);

struct CamToCam {
  std::array<Mat34, 4> P_rect;          // P_rect_00 .. P_rect_03 (rectified projections)
  Eigen::Matrix3d R_rect_00 = Eigen::Matrix3d::Identity();
  std::array<Eigen::Vector2i, 4> S_rect;  // rectified image size (width, height), (0,0) if absent
};
CamToCam read_cam_to_cam(const std::string& path);
// A rigid-transform file with keys R (9, row-major) and T (3): returns the 4x4 [R T; 0 1].
Eigen::Matrix4d read_rigid_calib(const std::string& path);

// Camera index from its folder suffix: "02" -> 2 (accepts "00".."03" and "image_02").
int camera_index(const std::string& cam);
// 3x3 intrinsics of rectified camera `cam` (left 3x3 block of P_rect_0cam).
Eigen::Matrix3d rect_intrinsics(const CamToCam& c, int cam);
// Transform taking IMU coordinates to rectified-camera-`cam` coordinates:
//   T(cam <- rect0) * R_rect_00 * velo_to_cam * imu_to_velo, where rectified camera `cam`
//   is rectified camera 0 shifted by K^-1 * P_rect_0cam[:,3].
Eigen::Matrix4d imu_to_rect_cam(const CamToCam& c, const Eigen::Matrix4d& velo_to_cam,
                                const Eigen::Matrix4d& imu_to_velo, int cam);
// Velodyne -> rectified camera `cam` (same chain without the IMU step).
Eigen::Matrix4d velo_to_rect_cam(const CamToCam& c, const Eigen::Matrix4d& velo_to_cam, int cam);

// One OXTS packet (the 30 values of the KITTI raw readme, in order).
struct Oxts {
  std::array<double, 30> v{};
  double lat() const { return v[0]; }   // degrees
  double lon() const { return v[1]; }   // degrees
  double alt() const { return v[2]; }   // metres
  double roll() const { return v[3]; }  // radians
  double pitch() const { return v[4]; }
  double yaw() const { return v[5]; }
  double vn() const { return v[6]; }    // velocity north, east, forward, left, up (m/s)
  double ve() const { return v[7]; }
  double vf() const { return v[8]; }
  double vl() const { return v[9]; }
  double vu() const { return v[10]; }
  // Horizontal speed in the vehicle frame, sqrt(vf^2 + vl^2) (m/s).
  double speed() const;
};
// Reads one oxts/data/NNNNNNNNNN.txt; exactly 30 numbers or an error naming the file.
Oxts read_oxts(const std::string& path);
// The same from the file's text; every value must also be finite.
Oxts parse_oxts_text(const std::string& text, const std::string& path);

// KITTI devkit convertOxtsToPose: Mercator coordinates with the scale cos(lat0) of the
// first packet (x = scale*er*lon*pi/180, y = scale*er*log(tan((90+lat)*pi/360)),
// er = 6378137 m, z = altitude), rotation R = Rz(yaw)*Ry(pitch)*Rx(roll); the returned
// poses are IMU-to-world with the world = the first packet's IMU frame (pose[0] = I).
std::vector<Eigen::Matrix4d> oxts_to_poses(const std::vector<Oxts>& packets);
// The unnormalised pose of one packet for a given Mercator scale.
Eigen::Matrix4d oxts_pose(const Oxts& o, double scale);

// Velodyne scan: N points x 4 floats (x, y, z, reflectance). The file size must be a
// multiple of 16 bytes (error names the file otherwise).
std::vector<float> read_velodyne(const std::string& path);
// The same from the file's bytes.
std::vector<float> parse_velodyne_bytes(const void* data, size_t n, const std::string& path);

// Sparse depth map (row-major HxW, metres, 0 = unknown) of a velodyne scan seen by a camera
// with intrinsics K (for the output resolution) and velodyne->camera transform velo_to_cam
// (e.g. velo_to_rect_cam(); the depth is the camera z): points with velodyne x < 0 (behind
// the car) or camera z <= 0 are dropped; a point goes to the pixel (round(u), round(v)) of
// (u, v) = K X / z with integer pixel centres; the nearest point of a pixel wins. This is
// P_rect_0X * R_rect_00 * velo_to_cam of the KITTI devkit with P_rect scaled to the output.
std::vector<float> velodyne_depth(const std::vector<float>& points, const Eigen::Matrix3d& K,
                                  const Eigen::Matrix4d& velo_to_cam, int height, int width);

// Intrinsics of an image resized from (w0,h0) to (w,h) with integer pixel centres (the
// convention of cv::resize and of the warp): u' = (u + 0.5) * w/w0 - 0.5.
Eigen::Matrix3d scale_intrinsics(const Eigen::Matrix3d& K, int w0, int h0, int w, int h);
// The same mapping as a 3x3 pixel transform (apply to the rows of a projection matrix).
Eigen::Matrix3d resize_transform(int w0, int h0, int w, int h);

}  // namespace sfm::kitti
