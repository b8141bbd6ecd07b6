#pragma once
// A synthetic driving world with exact ground truth, for `sfm synth`, the demo and tests.
//
// A SynthWorld is one procedurally built street (a curving textured road with lane markings,
// sidewalks, building facades and walls at varying distances on both sides, parked cars,
// poles, trees, a far skyline and hills, a sky with clouds) and one smooth drive through it:
// a camera 1.65 m above the road, moving forward 0.5..1.5 m per frame with gentle turns and a
// little pitch/roll. Some worlds hold independently moving cars (a lead car in the camera's
// lane, oncoming or overtaking traffic). Images are ray cast on the CPU (SxS supersampled);
// depth is exact.
//
// Conventions (see docs/data.md):
//   * World ("scene") frame: x right, y down, z forward at the start of the drive; the road
//     surface is the plane y = 0 (points above the road have y < 0). Metres.
//   * Camera frame: x right, y down, z forward (OpenCV/KITTI). Poses are 4x4 camera-to-world.
//   * Pixels: integer pixel centres, u = fx*X/Z + cx, v = fy*Y/Z + cy; pixel (0,0) is the
//     top-left pixel's centre. Depth = Z (along the camera's optical axis), 0 where the ray
//     sees only sky.
//   * Time is measured in frames (frame k is at time k); the OXTS/timestamp writer uses 10 Hz.
//
// Everything here is deterministic: the same seed and options give the same bytes whatever
// the number of threads (each pixel is a pure function of the world and the camera).
#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

namespace sfm::synth {

// Pinhole intrinsics for an image of height x width.
struct Intrinsics {
  int height = 128, width = 416;
  double fx = 241.7, fy = 241.7, cx = 204.2, cy = 59.0;
  Eigen::Matrix3d K() const;
};
// KITTI's colour camera at 128x416 (fx = fy = 241.7, cx = 204.2, cy = 59.0), scaled to the
// size: fx, cx by width/416, fy, cy by height/128 (rounded to 1e-6 px so text files hold them
// exactly).
Intrinsics kitti_intrinsics(int height, int width);

// One world's drive.
struct WorldConfig {
  int frames = 30;          // frames of the drive (time 0 .. frames-1)
  int moving_objects = 2;   // independently moving cars (0: a fully static world)
};

// Shape primitives the world is built from (exposed read-only for tests and tools).
struct Prim {
  enum Shape : uint8_t { Box = 0, Cylinder = 1, Ellipsoid = 2 };
  uint8_t shape = Box;
  uint8_t material = 0;
  int16_t mover = -1;          // index of the moving object it belongs to, -1 = static
  double x = 0, y = 0, z = 0;  // centre (y down)
  double yaw = 0;              // rotation about the world y axis: local +z = (sin yaw, 0, cos yaw)
  double hx = 0, hy = 0, hz = 0;  // half extents (box); cylinder: radius hx, half height hy;
                                  // ellipsoid: radii hx (= hz) and hy
  float color[3] = {0.5f, 0.5f, 0.5f}, color2[3] = {0.2f, 0.2f, 0.2f};
  float param[4] = {0, 0, 0, 0};  // material parameters
  uint32_t seed = 0;              // texture seed
  // cached by the renderer: cos/sin of yaw
  double cyaw = 1, syaw = 0;
};

struct RenderOptions {
  int supersample = 2;   // SxS samples per pixel (box filter); 1 = no anti-aliasing
  int threads = 0;       // rows in parallel: 0 = sfm::cpu_threads(), 1 = this thread only
};

// An 8-bit RGB image (row-major HxWx3, R first) and its depth (row-major HxW, metres, 0 = sky).
struct RenderedFrame {
  int height = 0, width = 0;
  std::vector<uint8_t> rgb;
  std::vector<float> depth;
};

struct RayHit {
  double t = 0;            // ray parameter (the distance when the direction is a unit vector)
  bool hit = false;        // false: sky
  float reflectance = 0;   // diffuse albedo (luminance, 0..1) at the hit, for lidar returns
  int prim = -1;           // index into prims() or -1 for the road surface / sky
};

class SynthWorld {
 public:
  // Builds world number `index` of a data set with seed `seed` (worlds of a data set are
  // independent: world i depends only on (seed, i)).
  static SynthWorld generate(uint64_t seed, int index, const WorldConfig& cfg);

  int num_frames() const { return cfg_.frames; }
  const WorldConfig& config() const { return cfg_; }
  bool has_moving_objects() const { return !movers_.empty(); }
  int num_movers() const { return (int)movers_.size(); }
  const std::vector<Prim>& prims() const { return prims_; }  // static and moving (at their t=0 pose)

  // Pose (camera-to-world) of the drive's camera at time t (frames; fractional allowed). In
  // the kitti-raw layout this is the rectified reference camera cam0.
  Eigen::Matrix4d camera_pose(double t) const;
  // Road centre line: lateral position x = road_x(z) and its slope dx/dz.
  double road_x(double z) const;
  double road_slope(double z) const;

  // Renders the view of a camera (camera-to-world pose) at time t (frames).
  RenderedFrame render(const Eigen::Matrix4d& cam_to_world, const Intrinsics& K, double t,
                       const RenderOptions& opt = {}) const;
  // The exact depth map only (one ray per pixel centre), row-major HxW, 0 = sky.
  std::vector<float> render_depth(const Eigen::Matrix4d& cam_to_world, const Intrinsics& K, double t,
                                  int threads = 0) const;

  // One ray from `origin` along `dir` (world frame) at time t: the nearest surface with
  // parameter t in (0, max_t]. Unaccelerated (tests every primitive): for tests and few rays.
  RayHit cast(const Eigen::Vector3d& origin, const Eigen::Vector3d& dir, double t, double max_t = 1e30) const;

  // A spinning-lidar scan from a sensor with pose sensor_to_world (sensor frame: x forward,
  // y left, z up) at time t: `rings` beams evenly spaced in elevation from elev_max_deg (ring 0)
  // down to elev_min_deg, `azimuth_steps` directions per ring over 360 degrees starting
  // straight ahead and turning left (counter-clockwise seen from above). Returns the hits
  // within max_range as float32 quadruples (x, y, z, reflectance) in the sensor frame, ring
  // by ring.
  struct LidarSpec {
    int rings = 64;
    int azimuth_steps = 2000;
    double elev_max_deg = 2.0, elev_min_deg = -24.9;
    double max_range = 120.0;
  };
  std::vector<float> lidar_scan(const Eigen::Matrix4d& sensor_to_world, double t, const LidarSpec& spec,
                                int threads = 0) const;

  // --- internals shared with the renderer (public for the implementation's helpers) ---
  struct Mover {
    int kind = 0;          // 0 lead car (camera's lane), 1 oncoming, 2 overtaking
    double lane_d = 0;     // lateral offset of its lane from the road centre line
    double p0 = 0, p1 = 0, p2 = 0, p3 = 0;  // trajectory parameters (see mover_z)
  };
  struct Road {
    double a1 = 0, l1 = 300, ph1 = 0, a2 = 0, l2 = 150, ph2 = 0, x0 = 0;  // centre line x(z)
    int lanes = 1;            // lanes per direction
    double lane_w = 3.5, parking_w = 0, sidewalk_w = 3, half_w = 3.5;  // half_w: kerb offset
    double cam_d = 1.75;      // the drive's lane (lateral offset of the camera)
    float asphalt[3] = {0.3f, 0.3f, 0.3f}, sidewalk[3] = {0.5f, 0.5f, 0.5f}, verge[3] = {0.3f, 0.35f, 0.2f};
    uint32_t seed = 0;
    int verge_kind = 0;       // 0 grass, 1 gravel
  };
  struct Drive {
    double v0 = 1, av = 0, wv = 0.1, phv = 0;        // z(t) = v0 t + av/wv (cos phv - cos(wv t + phv))
    double pitch_a = 0, pitch_w = 0.3, pitch_ph = 0;  // pitch(t) = pitch_a sin(pitch_w t + pitch_ph)
    double roll_a = 0, roll_w = 0.2, roll_ph = 0;
    double height = 1.65, h_a = 0, h_w = 0.5, h_ph = 0;
  };
  struct Sky {
    double sun[3] = {0.3, -0.8, 0.5};  // unit vector towards the sun (y down: sun[1] < 0)
    float horizon[3] = {0.75f, 0.8f, 0.85f}, zenith[3] = {0.3f, 0.45f, 0.75f}, sun_col[3] = {1, 1, 1};
    double ambient = 0.45, cloud_cover = 0.5;
    uint32_t seed = 0;
  };

  const Road& road() const { return road_; }
  const Drive& drive() const { return drive_; }
  const Sky& sky() const { return sky_; }
  const std::vector<Mover>& movers() const { return movers_; }
  double z_min() const { return z_min_; }
  double z_max() const { return z_max_; }
  double drive_z(double t) const;  // the camera's z at time t
  // Pose of a mover at time t: centre x, z on the road and heading yaw.
  void mover_pose(int m, double t, double& x, double& z, double& yaw) const;
  // Primitives as they are at time t (movers moved), yaw cos/sin cached.
  std::vector<Prim> prims_at(double t) const;
  // The road centre line tabulated every 0.5 m from road_table_z0(): triples
  // (x, slope, 1/sqrt(1+slope^2)); the renderer interpolates it.
  const std::vector<double>& road_table() const { return road_table_; }
  double road_table_z0() const { return table_z0_; }

 private:
  WorldConfig cfg_;
  Road road_;
  Drive drive_;
  Sky sky_;
  std::vector<Prim> prims_;
  std::vector<Mover> movers_;
  std::vector<Eigen::Vector3d> mover_local_;  // per prim of a mover: its centre in the mover's frame
  std::vector<double> road_table_;            // road_x sampled every kRoadStep metres from z_min_ - margin
  double table_z0_ = 0;
  double z_min_ = 0, z_max_ = 0;
  friend struct WorldBuilder;
};

// ---- data sets ------------------------------------------------------------------------------
struct SynthOptions {
  int scenes = 10;                 // worlds (scene folders / drives)
  int frames = 30;                 // frames per scene
  int height = 128, width = 416;   // image size
  uint64_t seed = 1;
  int moving_objects = 2;          // at most this many moving cars per scene: scene i draws
                                   // its count from 0..K (own random stream), 0 = all static
  std::string layout = "formatted";  // "formatted", "kitti-raw", "kitti-odometry", "cityscapes", "video", "frames"
  std::string image_format = "jpg";  // formatted layout: "jpg" or "png" (kitti-raw is png)
  int jpeg_quality = 95;
  int supersample = 2;             // SxS anti-aliasing samples per pixel
  double val_fraction = 0.2;       // formatted: share of scenes listed in val.txt
  int lidar_azimuth_steps = 2000;  // kitti-raw: velodyne directions per ring (64 rings)
  bool force = false;              // replace an existing output folder
  bool progress = true;            // progress bar / lines on stderr
  int threads = 0;                 // 0 = sfm::cpu_threads()
};

// Generates the whole data set into a temporary sibling folder (out_dir + ".tmp-XXXXXX") and
// renames it to out_dir at the end. Throws sfm::Error (naming the folder) when out_dir exists
// and opt.force is false, or on bad options. Implemented in synth_writer.cpp.
void write_synthetic_dataset(const std::string& out_dir, const SynthOptions& opt);

// World i of a data set generated with these options (what write_synthetic_dataset renders:
// the formatted layout's scene i, the kitti-raw layout's drive i+1).
SynthWorld synth_world(const SynthOptions& opt, int scene_index);

}  // namespace sfm::synth
