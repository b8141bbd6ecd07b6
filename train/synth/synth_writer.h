#pragma once
// Writers of the synthetic data sets (see synth_world.h for the world and docs/data.md for
// the layouts), and the KITTI conventions of the kitti-raw layout, exposed so tests and tools
// can check the files against the true geometry.
//
// kitti-raw rig (KITTI's conventions, values close to the real car's):
//   * cam0 = the rectified reference camera = the drive's camera (SynthWorld::camera_pose);
//     R_rect_00 = I. Camera i sees X_i = X_0 + (b_i, 0, 0) with b = {0, -0.54, 0.06, -0.48}:
//     cam1 0.54 m right of cam0, cam2 0.06 m left, cam3 0.48 m right (cam2-cam3 baseline
//     0.54 m); P_rect_0i = K [I | (b_i, 0, 0)], so P_rect_02[0][3] = +0.06 fx.
//   * velodyne: x forward, y left, z up, 0.08 m above and 0.27 m behind cam0 (1.73 m above
//     the road): velo_to_cam = [R | T] with R = [[0,-1,0],[0,0,-1],[1,0,0]], T = (0,-0.08,-0.27).
//   * IMU (OXTS): x forward, y left, z up; imu_to_velo = [I | (-0.81, 0.32, -0.80)].
//   * OXTS world: east-north-up, Mercator coordinates of the KITTI devkit with scale
//     cos(lat0) of the first packet; yaw 0 = east, counter-clockwise; R = Rz(yaw) Ry(pitch)
//     Rx(roll) maps IMU axes to east-north-up. Frames at 10 Hz.
#include <array>
#include <filesystem>
#include <vector>
#include <string>

#include <Eigen/Core>

#include "train/synth/synth_world.h"

namespace sfm::synth {

constexpr double kFrameRate = 10.0;  // Hz (timestamps, OXTS velocities)
constexpr const char* kKittiDate = "2031_01_01";

// b_i of camera i (0..3): X_i = X_0 + (b_i, 0, 0).
double kitti_camera_offset(int cam);
// 4x4 transforms in KITTI's sense ("a_to_b" maps a-coordinates to b-coordinates).
Eigen::Matrix4d kitti_velo_to_cam0();
Eigen::Matrix4d kitti_imu_to_velo();
// Camera-to-world pose of camera `cam` of the rig at time t (frames).
Eigen::Matrix4d kitti_camera_pose(const SynthWorld& w, int cam, double t);
// Sensor-to-world pose of the velodyne / the IMU at time t.
Eigen::Matrix4d kitti_velo_pose(const SynthWorld& w, double t);
Eigen::Matrix4d kitti_imu_pose(const SynthWorld& w, double t);

// Text of the three calibration files for images of K's size.
std::string kitti_cam_to_cam_text(const Intrinsics& K);
std::string kitti_velo_to_cam_text();
std::string kitti_imu_to_velo_text();

// Where a drive's world sits on the earth: the first packet's IMU position and the heading
// of the world's +z axis (radians from east, counter-clockwise).
struct GeoAnchor {
  double lat0 = 49.0, lon0 = 8.4, alt0 = 115.0, heading = 0.0;
};
GeoAnchor drive_anchor(uint64_t seed, int drive);
// World (scene frame) -> east-north-up metres (origin: the IMU at time 0, at altitude alt0).
Eigen::Matrix4d world_to_enu(const SynthWorld& w, const GeoAnchor& a);
// The 30 OXTS values of the IMU at time t (frames): lat lon alt roll pitch yaw vn ve vf vl vu
// ax ay az af al au wx wy wz wf wl wu posacc velacc navstat numsats posmode velmode orimode.
// Velocities and rates are derivatives of the true trajectory (central differences); the
// accelerations are specific forces (gravity reaction included: az ~ +9.81 when level).
std::array<double, 30> oxts_packet(const SynthWorld& w, const GeoAnchor& a, double t);
std::string oxts_line(const std::array<double, 30>& v);
// Mercator helpers of the KITTI devkit (er = 6378137 m).
void latlon_to_mercator(double lat, double lon, double scale, double& mx, double& my);
void mercator_to_latlon(double mx, double my, double scale, double& lat, double& lon);

// "YYYY-MM-DD HH:MM:SS.nnnnnnnnn" of frame k of drive d (10 Hz).
std::string kitti_timestamp(int drive, int frame, double offset_s = 0.0);

// Name of scene i's folder in the formatted layout ("synth_0000") and of drive i in the
// kitti-raw layout ("2031_01_01_drive_0001_sync", numbered from 1).
std::string formatted_scene_name(int i);
std::string kitti_drive_name(int i);
// Scenes listed in val.txt: the last round(val_fraction * scenes) ones, at least one when
// scenes >= 2, never all of them.
// SIGINT/SIGTERM/SIGHUP during write_synthetic_dataset: the frames in progress finish, then it throws
// (exit 1) after removing OUT.tmp-*; request_synth_stop() is what the handlers call.
void install_synth_stop_handlers();
void request_synth_stop();
int num_val_scenes(int scenes, double val_fraction);

// Camera sources (layouts "video" and "frames"), the raw input of `sfm prepare --video /
// --frames`: ROOT/cam.txt (K of the images, KITTI-like, in their pixels), per scene i
// (formatted_scene_name(i)) ROOT/<scene>.avi (MJPG, kFrameRate fps) or ROOT/<scene>/NNNNNNNNNN.png,
// and ROOT/poses/<scene>.txt (camera-to-world of every frame relative to frame 0, 12 numbers a
// line). Implemented in synth_sources.cpp.
void write_camera_sources(const std::filesystem::path& root, const SynthOptions& opt,
                          const std::vector<SynthWorld>& worlds, const Intrinsics& K, int threads);

// Layout "kitti-odometry" (KITTI's odometry benchmark, input of `sfm prepare --kitti-odometry`):
// scene i is sequence NN = i (two digits): ROOT/sequences/NN/image_2|image_3/NNNNNN.png (the
// rig's cameras 2 and 3), calib.txt (P0..P3 = K [I | (fx b_i, 0, 0)], Tr), times.txt, and
// ROOT/poses/NN.txt (camera 0's camera-to-world pose relative to frame 0). In synth_sources.cpp.
void write_kitti_odometry(const std::filesystem::path& root, const SynthOptions& opt,
                          const std::vector<SynthWorld>& worlds, const Intrinsics& K, int threads);

// Layout "cityscapes" (input of `sfm prepare --cityscapes`): scene i is the snippet
// synthcity_<i:06d>: ROOT/leftImg8bit_sequence/train/synthcity/synthcity_<i>_<k:06d>_leftImg8bit.png,
// one ROOT/camera/train/synthcity/synthcity_<i>_<frames/2>_camera.json (intrinsic fx fy u0 v0),
// ROOT/poses/<scene>.txt (true poses relative to frame 0). No car hood is drawn. In synth_sources.cpp.
void write_cityscapes(const std::filesystem::path& root, const SynthOptions& opt, const std::vector<SynthWorld>& worlds,
                      const Intrinsics& K, int threads);

// Checks the options; throws sfm::Error naming the bad one.
void validate(const SynthOptions& opt);

}  // namespace sfm::synth
