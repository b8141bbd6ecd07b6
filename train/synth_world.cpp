// The synthetic street world: scene generation, ray casting (camera and lidar) and the
// procedural textures. See synth_world.h for the conventions and docs/data.md for pictures.
//
// Acceleration: per rendered view, the primitives (a few hundred) are moved to the view's time,
// culled, and binned -- for a camera into 8x8-pixel screen tiles by the bounding rectangle of
// their near-plane-clipped projection, for a lidar into 1-degree azimuth sectors. Each bin's
// list is sorted by a lower bound of the ray parameter (camera z, or horizontal distance), so
// a ray stops testing once the nearest hit so far is closer than the next candidate can be.
// The road is the analytic plane y = 0. Shading is view-independent (Lambert under a fixed sun,
// textures box-filtered by the sample footprint), so a surface point has the same colour in
// every frame up to that filtering.
#include "train/synth_world.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/error.h"
#include "engine/parallel.h"
#include "engine/rng.h"

namespace sfm::synth {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kRoadStep = 0.5;       // road table spacing (m)
constexpr double kRoadMargin = 2000.0;  // road table reaches this far beyond the objects
constexpr double kCullRange = 2500.0;   // primitives farther than this from a sensor are skipped
constexpr double kEps = 1e-7;
constexpr double kGroundHalf = 1e5;  // the road plane is the square |x|, |z| < 100 km

enum Material : uint8_t {
  M_FACADE = 0,
  M_WALL,
  M_HEDGE,
  M_CAR_BODY,
  M_CAR_SKIRT,
  M_CAR_CABIN,
  M_POLE,
  M_LAMP,
  M_TRUNK,
  M_FOLIAGE,
  M_SKYLINE,
  M_HILL,
  M_SHED,
};

// ---------------------------------------------------------------------------------------------
// small vector type for the hot loops (Eigen stays out of them so debug/ASan builds stay fast)
struct V3 {
  double x, y, z;
};
inline V3 operator+(V3 a, V3 b) { return {a.x + b.x, a.y + b.y, a.z + b.z}; }
inline V3 operator-(V3 a, V3 b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
inline V3 operator*(V3 a, double s) { return {a.x * s, a.y * s, a.z * s}; }
inline double dot(V3 a, V3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
inline double norm(V3 a) { return std::sqrt(dot(a, a)); }
inline V3 normalized(V3 a) { return a * (1.0 / norm(a)); }

struct Rgb {
  double r, g, b;
};
inline Rgb operator+(Rgb a, Rgb b) { return {a.r + b.r, a.g + b.g, a.b + b.b}; }
inline Rgb operator*(Rgb a, double s) { return {a.r * s, a.g * s, a.b * s}; }
inline Rgb operator*(Rgb a, Rgb b) { return {a.r * b.r, a.g * b.g, a.b * b.b}; }
inline Rgb mix(Rgb a, Rgb b, double t) { return {a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t}; }
inline Rgb rgb(const float* c) { return {c[0], c[1], c[2]}; }
inline double luminance(Rgb c) { return 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b; }

inline double clamp01(double v) { return v < 0 ? 0 : (v > 1 ? 1 : v); }
inline double smoothstep(double a, double b, double x) {
  double t = clamp01((x - a) / (b - a));
  return t * t * (3 - 2 * t);
}

// ---------------------------------------------------------------------------------------------
// procedural noise (integer hashing: identical on every machine and thread)
inline uint32_t hash2(int32_t x, int32_t y, uint32_t s) {
  uint32_t h = s * 0x9E3779B1u ^ (uint32_t)x * 0x85EBCA77u ^ (uint32_t)y * 0xC2B2AE3Du;
  h ^= h >> 15;
  h *= 0x2C1B3C6Du;
  h ^= h >> 12;
  h *= 0x297A2D39u;
  h ^= h >> 15;
  return h;
}
inline uint32_t hash3(int32_t x, int32_t y, int32_t z, uint32_t s) { return hash2(x, y, s ^ ((uint32_t)z * 0x27D4EB2Fu)); }
inline double u01(uint32_t h) { return h * (1.0 / 4294967296.0); }

// value noise in [0, 1), smooth (C1), one feature per unit
inline double vnoise(double x, double y, uint32_t s) {
  double fx = std::floor(x), fy = std::floor(y);
  int32_t ix = (int32_t)fx, iy = (int32_t)fy;
  double tx = x - fx, ty = y - fy;
  tx = tx * tx * (3 - 2 * tx);
  ty = ty * ty * (3 - 2 * ty);
  double a = u01(hash2(ix, iy, s)), b = u01(hash2(ix + 1, iy, s));
  double c = u01(hash2(ix, iy + 1, s)), d = u01(hash2(ix + 1, iy + 1, s));
  return a + (b - a) * tx + (c - a) * ty + (a - b - c + d) * tx * ty;
}
inline double vnoise3(double x, double y, double z, uint32_t s) {
  double fx = std::floor(x), fy = std::floor(y), fz = std::floor(z);
  int32_t ix = (int32_t)fx, iy = (int32_t)fy, iz = (int32_t)fz;
  double tx = x - fx, ty = y - fy, tz = z - fz;
  tx = tx * tx * (3 - 2 * tx);
  ty = ty * ty * (3 - 2 * ty);
  tz = tz * tz * (3 - 2 * tz);
  double v[2];
  for (int k = 0; k < 2; ++k) {
    double a = u01(hash3(ix, iy, iz + k, s)), b = u01(hash3(ix + 1, iy, iz + k, s));
    double c = u01(hash3(ix, iy + 1, iz + k, s)), d = u01(hash3(ix + 1, iy + 1, iz + k, s));
    v[k] = a + (b - a) * tx + (c - a) * ty + (a - b - c + d) * tx * ty;
  }
  return v[0] + (v[1] - v[0]) * tz;
}
// Octave weight: features of size 1/freq fade out as the sample footprint fw approaches them
// (a cheap pre-filter: what supersampling cannot resolve is replaced by its mean).
inline double octave_weight(double freq, double fw) { return 1.0 - smoothstep(0.3, 0.7, freq * fw); }
// fractal noise, zero mean, roughly in [-0.5, 0.5]; fw = sample footprint in the same units
inline double fbm(double x, double y, uint32_t s, int octaves, double fw) {
  double sum = 0, amp = 0.5, freq = 1;
  for (int o = 0; o < octaves; ++o) {
    double w = octave_weight(freq, fw);
    if (w <= 0) break;
    sum += w * amp * (vnoise(x * freq, y * freq, s + (uint32_t)o * 1013u) - 0.5);
    freq *= 2.03;
    amp *= 0.5;
  }
  return sum * 1.6;
}
inline double fbm3(double x, double y, double z, uint32_t s, int octaves, double fw) {
  double sum = 0, amp = 0.5, freq = 1;
  for (int o = 0; o < octaves; ++o) {
    double w = octave_weight(freq, fw);
    if (w <= 0) break;
    sum += w * amp * (vnoise3(x * freq, y * freq, z * freq, s + (uint32_t)o * 1013u) - 0.5);
    freq *= 2.03;
    amp *= 0.5;
  }
  return sum * 1.6;
}
// Box-filtered band [a, b] sampled with footprint fw at x: the fraction of [x-fw/2, x+fw/2]
// inside the band.
inline double band(double x, double fw, double a, double b) {
  if (fw < 1e-9) return (x >= a && x < b) ? 1.0 : 0.0;
  double lo = std::max(a, x - 0.5 * fw), hi = std::min(b, x + 0.5 * fw);
  return hi > lo ? (hi - lo) / fw : 0.0;
}
// The same for the periodic band [a, b] + k*period (0 <= a < b <= period), exactly.
inline double pulse_integral(double x, double period, double a, double b) {
  double k = std::floor(x / period);
  double r = x - k * period;
  return k * (b - a) + std::min(std::max(r - a, 0.0), b - a);
}
inline double pulse(double x, double fw, double period, double a, double b) {
  if (fw < 1e-9) {
    double r = x - std::floor(x / period) * period;
    return (r >= a && r < b) ? 1.0 : 0.0;
  }
  if (fw > 4 * period) return (b - a) / period;
  return (pulse_integral(x + 0.5 * fw, period, a, b) - pulse_integral(x - 0.5 * fw, period, a, b)) / fw;
}

// ---------------------------------------------------------------------------------------------
// ray / primitive intersections. All return the entry parameter in (kEps, tmax) or false.

// The road plane y = 0 (bounded, so that grazing rays end in the sky, not at 1e15 m).
inline bool hit_ground(V3 o, V3 d, double& t) {
  if (!(d.y > 1e-15 && o.y < 0)) return false;
  t = -o.y / d.y;
  return std::fabs(o.x + t * d.x) < kGroundHalf && std::fabs(o.z + t * d.z) < kGroundHalf;
}

inline void prim_axes(const Prim& p, V3& ex, V3& ez) {
  ex = {p.cyaw, 0, -p.syaw};
  ez = {p.syaw, 0, p.cyaw};
}

inline bool hit_box(const Prim& p, V3 o, V3 d, double tmax, double& t_out, int& face) {
  V3 rel = {o.x - p.x, o.y - p.y, o.z - p.z};
  double ol[3] = {rel.x * p.cyaw - rel.z * p.syaw, rel.y, rel.x * p.syaw + rel.z * p.cyaw};
  double dl[3] = {d.x * p.cyaw - d.z * p.syaw, d.y, d.x * p.syaw + d.z * p.cyaw};
  double h[3] = {p.hx, p.hy, p.hz};
  double tn = -1e300, tf = 1e300;
  int fn = 0;
  for (int a = 0; a < 3; ++a) {
    if (std::fabs(dl[a]) < 1e-15) {
      if (ol[a] < -h[a] || ol[a] > h[a]) return false;
      continue;
    }
    double inv = 1.0 / dl[a];
    double t1 = (-h[a] - ol[a]) * inv, t2 = (h[a] - ol[a]) * inv;
    int f1 = 2 * a;  // face (-axis) entered when dl > 0
    if (t1 > t2) {
      std::swap(t1, t2);
      f1 = 2 * a + 1;  // entered through the +axis face
    }
    if (t1 > tn) {
      tn = t1;
      fn = f1;
    }
    if (t2 < tf) tf = t2;
    if (tn > tf) return false;
  }
  if (tn <= kEps || tn >= tmax) return false;
  t_out = tn;
  face = fn;
  return true;
}

inline bool hit_cylinder(const Prim& p, V3 o, V3 d, double tmax, double& t_out, int& face) {
  double ox = o.x - p.x, oz = o.z - p.z;
  double a = d.x * d.x + d.z * d.z;
  double ytop = p.y - p.hy, ybot = p.y + p.hy;
  double best = tmax;
  bool found = false;
  if (a > 1e-18) {
    double b = ox * d.x + oz * d.z, c = ox * ox + oz * oz - p.hx * p.hx;
    double disc = b * b - a * c;
    if (disc < 0) return false;
    double t = (-b - std::sqrt(disc)) / a;
    if (t > kEps && t < best) {
      double y = o.y + t * d.y;
      if (y >= ytop && y <= ybot) {
        best = t;
        face = 0;
        found = true;
      }
    }
  }
  // caps
  if (std::fabs(d.y) > 1e-15) {
    double yc = d.y > 0 ? ytop : ybot;
    double t = (yc - o.y) / d.y;
    if (t > kEps && t < best) {
      double x = ox + t * d.x, z = oz + t * d.z;
      if (x * x + z * z <= p.hx * p.hx) {
        best = t;
        face = d.y > 0 ? 1 : 2;
        found = true;
      }
    }
  }
  if (found) t_out = best;
  return found;
}

inline bool hit_ellipsoid(const Prim& p, V3 o, V3 d, double tmax, double& t_out, int& face) {
  double irx = 1.0 / p.hx, iry = 1.0 / p.hy;
  V3 ol = {(o.x - p.x) * irx, (o.y - p.y) * iry, (o.z - p.z) * irx};
  V3 dl = {d.x * irx, d.y * iry, d.z * irx};
  double a = dot(dl, dl), b = dot(ol, dl), c = dot(ol, ol) - 1.0;
  double disc = b * b - a * c;
  if (disc < 0) return false;
  double t = (-b - std::sqrt(disc)) / a;
  if (t <= kEps || t >= tmax) return false;
  t_out = t;
  face = 0;
  return true;
}

inline bool hit_prim(const Prim& p, V3 o, V3 d, double tmax, double& t, int& face) {
  switch (p.shape) {
    case Prim::Box: return hit_box(p, o, d, tmax, t, face);
    case Prim::Cylinder: return hit_cylinder(p, o, d, tmax, t, face);
    default: return hit_ellipsoid(p, o, d, tmax, t, face);
  }
}

// outward normal at the hit point P
inline V3 prim_normal(const Prim& p, V3 P, int face) {
  V3 ex, ez;
  prim_axes(p, ex, ez);
  if (p.shape == Prim::Box) {
    int axis = face / 2;
    double sgn = (face % 2) ? 1.0 : -1.0;
    if (axis == 0) return ex * sgn;
    if (axis == 1) return V3{0, sgn, 0};
    return ez * sgn;
  }
  if (p.shape == Prim::Cylinder) {
    if (face == 1) return {0, -1, 0};
    if (face == 2) return {0, 1, 0};
    return normalized(V3{P.x - p.x, 0, P.z - p.z});
  }
  return normalized(V3{(P.x - p.x) / (p.hx * p.hx), (P.y - p.y) / (p.hy * p.hy), (P.z - p.z) / (p.hx * p.hx)});
}

// ---------------------------------------------------------------------------------------------
// bounding geometry used for culling
inline void prim_corners(const Prim& p, V3 out[8]) {
  V3 ex, ez;
  prim_axes(p, ex, ez);
  double hx = p.hx, hz = p.shape == Prim::Box ? p.hz : p.hx;
  int k = 0;
  for (int sy = -1; sy <= 1; sy += 2)
    for (int sz = -1; sz <= 1; sz += 2)
      for (int sx = -1; sx <= 1; sx += 2) {
        V3 c = {p.x, p.y + sy * p.hy, p.z};
        out[k++] = c + ex * (sx * hx) + ez * (sz * hz);
      }
}
// horizontal distance from (x, z) to the footprint of p (0 inside)
inline double footprint_distance(const Prim& p, double x, double z) {
  double rx = x - p.x, rz = z - p.z;
  if (p.shape != Prim::Box) return std::max(0.0, std::sqrt(rx * rx + rz * rz) - p.hx);
  double lx = rx * p.cyaw - rz * p.syaw, lz = rx * p.syaw + rz * p.cyaw;
  double dx = std::max(0.0, std::fabs(lx) - p.hx), dz = std::max(0.0, std::fabs(lz) - p.hz);
  return std::sqrt(dx * dx + dz * dz);
}
inline double bounding_radius(const Prim& p) {
  double hz = p.shape == Prim::Box ? p.hz : p.hx;
  return std::sqrt(p.hx * p.hx + p.hy * p.hy + hz * hz);
}

}  // namespace

// =============================================================================================
// intrinsics
Eigen::Matrix3d Intrinsics::K() const {
  Eigen::Matrix3d k;
  k << fx, 0, cx, 0, fy, cy, 0, 0, 1;
  return k;
}

Intrinsics kitti_intrinsics(int height, int width) {
  SFM_CHECK(height >= 8 && width >= 8 && height <= 8192 && width <= 8192, "synth: image size ", height, "x", width,
            " out of range (8..8192)");
  auto r6 = [](double v) { return std::round(v * 1e6) / 1e6; };
  Intrinsics k;
  k.height = height;
  k.width = width;
  k.fx = r6(241.7 * width / 416.0);
  k.fy = r6(241.7 * height / 128.0);
  k.cx = r6(204.2 * width / 416.0);
  k.cy = r6(59.0 * height / 128.0);
  return k;
}

// =============================================================================================
// world generation
struct WorldBuilder {
  SynthWorld& w;
  Rng rng;
  WorldBuilder(SynthWorld& world, uint64_t seed) : w(world), rng(seed) {}

  double U(double a, double b) { return rng.uniform(a, b); }
  bool chance(double p) { return rng.uniform() < p; }
  uint32_t seed32() { return (uint32_t)(rng.next_u64() >> 32); }

  static void set_color(float* c, double r, double g, double b) {
    c[0] = (float)clamp01(r);
    c[1] = (float)clamp01(g);
    c[2] = (float)clamp01(b);
  }
  // NB: every random draw is its own statement -- the evaluation order of function arguments
  // and operands is unspecified in C++, and the worlds must not depend on the compiler.
  // a muted random colour around a base (building plaster, paint...)
  void tint(float* c, double r, double g, double b, double var) {
    double l = U(1 - var, 1 + var);
    double fr = U(0.9, 1.1);
    double fg = U(0.9, 1.1);
    double fb = U(0.9, 1.1);
    set_color(c, r * l * fr, g * l * fg, b * l * fb);
  }
  // a colour with channels drawn uniformly from [r0,r1], [g0,g1], [b0,b1] (in this order)
  void rand_color(float* c, double r0, double r1, double g0, double g1, double b0, double b1) {
    double r = U(r0, r1);
    double g = U(g0, g1);
    double b = U(b0, b1);
    set_color(c, r, g, b);
  }

  // A box standing on the road plane at path coordinate zc, lateral offset d (from the centre
  // line, right positive, measured along the road normal), aligned with the road.
  Prim box_on_path(double zc, double d, double len, double depth, double height, uint8_t mat) {
    double slope = w.road_slope(zc);
    double yaw = std::atan(slope);
    Prim p;
    p.shape = Prim::Box;
    p.material = mat;
    p.yaw = yaw;
    p.cyaw = std::cos(yaw);
    p.syaw = std::sin(yaw);
    p.x = w.road_x(zc) + d * p.cyaw;
    p.z = zc - d * p.syaw;
    p.hx = 0.5 * depth;
    p.hz = 0.5 * len;
    p.hy = 0.5 * height;
    p.y = -0.5 * height;
    p.seed = seed32();
    return p;
  }
  Prim round_on_path(uint8_t shape, double zc, double d, double radius, double y_centre, double half_h,
                     uint8_t mat) {
    Prim p = box_on_path(zc, d, 0, 0, 0, mat);
    p.shape = shape;
    p.hx = p.hz = radius;
    p.hy = half_h;
    p.y = y_centre;
    return p;
  }
  void add(const Prim& p) { w.prims_.push_back(p); }

  void facade(double zc, double d_front, int side, double len, double depth, double height, bool brick) {
    Prim p = box_on_path(zc, side * (d_front + 0.5 * depth), len, depth, height, M_FACADE);
    static const double palette[][3] = {{0.72, 0.66, 0.58}, {0.62, 0.45, 0.36}, {0.78, 0.74, 0.68}, {0.55, 0.55, 0.56},
                                        {0.70, 0.58, 0.42}, {0.52, 0.38, 0.32}, {0.80, 0.78, 0.72}, {0.60, 0.62, 0.55},
                                        {0.66, 0.52, 0.48}, {0.45, 0.47, 0.52}};
    const double* c = palette[rng.randint(10)];
    tint(p.color, c[0], c[1], c[2], 0.12);
    rand_color(p.color2, 0.08, 0.16, 0.1, 0.18, 0.13, 0.24);  // glass
    p.param[0] = (float)U(2.4, 4.0);                          // window period
    p.param[1] = (float)(p.param[0] * U(0.35, 0.6));          // window width
    p.param[2] = (float)U(2.9, 3.5);                          // floor height
    p.param[3] = (float)(p.param[2] * U(0.4, 0.6));           // window height
    p.seed = (p.seed & ~3u) | (brick ? 1u : 0u) | (chance(0.5) ? 2u : 0u);  // bit0 brick, bit1 shop front
    add(p);
  }
  void wall(double zc, double d, double len, double thick, double height, bool hedge) {
    Prim p = box_on_path(zc, d, len, thick, height, hedge ? M_HEDGE : M_WALL);
    if (hedge) {
      rand_color(p.color, 0.12, 0.2, 0.25, 0.38, 0.08, 0.14);
      rand_color(p.color2, 0.2, 0.3, 0.35, 0.45, 0.1, 0.18);
    } else {
      double g = U(0.45, 0.7);
      double fg = U(0.95, 1.02);
      double fb = U(0.9, 1.0);
      tint(p.color, g, g * fg, g * fb, 0.05);
      static const double graffiti[][3] = {{0.8, 0.15, 0.1}, {0.15, 0.35, 0.8}, {0.9, 0.75, 0.1}, {0.2, 0.65, 0.3}, {0.6, 0.2, 0.7}};
      const double* gc = graffiti[rng.randint(5)];
      set_color(p.color2, gc[0], gc[1], gc[2]);
      p.param[0] = (float)U(1.5, 3.0);                // panel width
      p.param[1] = (float)(chance(0.5) ? U(0.6, 0.75) : 2.0);  // graffiti threshold (2 = none)
    }
    add(p);
  }
  void shed(double zc, double d, double len, double depth, double height) {
    Prim p = box_on_path(zc, d, len, depth, height, M_SHED);
    static const double cols[][3] = {{0.55, 0.2, 0.15}, {0.2, 0.35, 0.55}, {0.6, 0.6, 0.58}, {0.3, 0.45, 0.3}, {0.7, 0.5, 0.2}};
    const double* c = cols[rng.randint(5)];
    tint(p.color, c[0], c[1], c[2], 0.1);
    p.param[0] = (float)U(0.2, 0.35);  // corrugation period
    add(p);
  }
  // A tree; street trees (overhanging the road) get a trunk of at least 2.6 m so that the crown
  // clears the cars and the camera rig.
  void tree(double zc, double d, bool street = false) {
    double trunk_h = street ? U(2.6, 3.4) : U(1.8, 3.2), r = U(1.3, 2.8), rv = r * U(0.9, 1.4);
    Prim t = round_on_path(Prim::Cylinder, zc, d, U(0.12, 0.25), -0.5 * (trunk_h + 0.6 * rv), 0.5 * (trunk_h + 0.6 * rv),
                           M_TRUNK);
    tint(t.color, 0.28, 0.2, 0.13, 0.15);
    add(t);
    Prim c = round_on_path(Prim::Ellipsoid, zc, d, r, -(trunk_h + rv), rv, M_FOLIAGE);
    rand_color(c.color, 0.08, 0.16, 0.2, 0.34, 0.05, 0.1);
    rand_color(c.color2, 0.2, 0.35, 0.35, 0.5, 0.08, 0.16);
    add(c);
  }
  void pole(double zc, double d, int side) {
    double h = U(5.5, 8.5);
    Prim p = round_on_path(Prim::Cylinder, zc, d, U(0.07, 0.12), -0.5 * h, 0.5 * h, M_POLE);
    double g = U(0.35, 0.55);
    tint(p.color, g, g, g * 1.03, 0.05);
    add(p);
    Prim lamp = box_on_path(zc, d - side * 0.7, 0.35, 1.4, 0.18, M_LAMP);
    lamp.y = -(h - 0.1);
    set_color(lamp.color, 0.2, 0.2, 0.22);
    add(lamp);
  }
  // A car whose centre is at (zc, d) facing along the road (+1) or against it (-1); returns the
  // primitives' local centres when it is a mover.
  void car(double zc, double d, double dir, int mover) {
    double len = U(3.9, 4.9), wid = U(1.68, 1.85), h_body = U(0.95, 1.15), h_cab = U(0.42, 0.55);
    static const double paints[][3] = {{0.75, 0.75, 0.76}, {0.1, 0.1, 0.11}, {0.6, 0.08, 0.06}, {0.12, 0.2, 0.5},
                                       {0.85, 0.85, 0.83}, {0.35, 0.36, 0.38}, {0.15, 0.35, 0.2}, {0.8, 0.55, 0.1}};
    const double* pc = paints[rng.randint(8)];
    float paint[3];
    tint(paint, pc[0], pc[1], pc[2], 0.08);
    struct Part {
      uint8_t mat;
      double lx, y, lz, hx, hy, hz;
    } parts[3] = {
        {M_CAR_SKIRT, 0, -0.19, 0, 0.5 * wid - 0.06, 0.19, 0.5 * len - 0.25},
        {M_CAR_BODY, 0, -(0.38 + 0.5 * (h_body - 0.38)), 0, 0.5 * wid, 0.5 * (h_body - 0.38), 0.5 * len},
        {M_CAR_CABIN, 0, -(h_body + 0.5 * h_cab), -0.08 * len * dir, 0.5 * wid - 0.1, 0.5 * h_cab, 0.28 * len},
    };
    double slope = w.road_slope(zc), yaw = std::atan(slope) + (dir < 0 ? kPi : 0.0);
    double cy = std::cos(std::atan(slope)), sy = std::sin(std::atan(slope));
    double bx = w.road_x(zc) + d * cy, bz = zc - d * sy;
    uint32_t s = seed32();
    for (const Part& q : parts) {
      Prim p;
      p.shape = Prim::Box;
      p.material = q.mat;
      p.mover = (int16_t)mover;
      p.yaw = yaw;
      p.cyaw = std::cos(yaw);
      p.syaw = std::sin(yaw);
      p.x = bx + q.lx * p.cyaw + q.lz * p.syaw;
      p.z = bz - q.lx * p.syaw + q.lz * p.cyaw;
      p.y = q.y;
      p.hx = q.hx;
      p.hy = q.hy;
      p.hz = q.hz;
      std::copy(paint, paint + 3, p.color);
      set_color(p.color2, 0.07, 0.09, 0.12);
      if (q.mat == M_CAR_SKIRT) set_color(p.color, 0.05, 0.05, 0.055);
      p.seed = s;
      w.prims_.push_back(p);
      w.mover_local_.push_back(Eigen::Vector3d(q.lx, q.y, q.lz));
    }
  }

  void build_road() {
    SynthWorld::Road& r = w.road_;
    r.lanes = chance(0.7) ? 1 : 2;
    r.lane_w = U(3.2, 3.7);
    r.parking_w = chance(0.6) ? U(2.1, 2.5) : 0.0;
    r.sidewalk_w = U(1.8, 4.0);
    r.half_w = r.lanes * r.lane_w + r.parking_w;
    int lane = r.lanes == 1 ? 0 : (int)rng.randint(2);
    r.cam_d = (lane + 0.5) * r.lane_w;
    double style = U(0, 1);
    if (style < 0.25) {
      r.a1 = r.a2 = 0;  // straight
    } else {
      r.l1 = U(200, 500);
      r.l2 = U(80, 200);
      r.a1 = U(0, 1) * 0.25 * r.l1 / (2 * kPi);
      r.a2 = U(0, 1) * 0.10 * r.l2 / (2 * kPi);
    }
    r.ph1 = U(0, 2 * kPi);
    r.ph2 = U(0, 2 * kPi);
    r.x0 = 0;
    r.x0 = w.road_x(0.0);  // the centre line passes x = 0 at z = 0
    double g = U(0.22, 0.36);
    double ag = U(0.98, 1.02);
    double ab = U(1.0, 1.06);
    set_color(r.asphalt, g, g * ag, g * ab);
    double s = U(0.45, 0.65);
    if (chance(0.3))
      set_color(r.sidewalk, s * 1.05, s * 0.8, s * 0.7);  // red pavers
    else
      set_color(r.sidewalk, s, s, s * U(0.95, 1.02));
    r.verge_kind = chance(0.7) ? 0 : 1;
    if (r.verge_kind == 0)
      rand_color(r.verge, 0.18, 0.3, 0.28, 0.4, 0.1, 0.16);
    else
      rand_color(r.verge, 0.4, 0.5, 0.37, 0.45, 0.3, 0.38);
    r.seed = seed32();
  }

  void build_drive(int frames) {
    SynthWorld::Drive& d = w.drive_;
    d.v0 = U(0.62, 1.28);
    d.av = U(0, std::min({0.12, d.v0 - 0.5, 1.415 - d.v0}));
    d.wv = U(0.03, 0.12);
    d.phv = U(0, 2 * kPi);
    d.pitch_a = U(0, 0.4) * kPi / 180;
    d.pitch_w = U(0.2, 0.6);
    d.pitch_ph = U(0, 2 * kPi);
    d.roll_a = U(0, 0.3) * kPi / 180;
    d.roll_w = U(0.1, 0.4);
    d.roll_ph = U(0, 2 * kPi);
    d.height = 1.65;
    d.h_a = U(0, 0.015);
    d.h_w = U(0.3, 0.9);
    d.h_ph = U(0, 2 * kPi);
    (void)frames;
  }

  void build_sky() {
    SynthWorld::Sky& s = w.sky_;
    double el = U(25, 60) * kPi / 180, az = U(0, 2 * kPi);
    s.sun[0] = std::cos(el) * std::sin(az);
    s.sun[1] = -std::sin(el);
    s.sun[2] = std::cos(el) * std::cos(az);
    s.ambient = U(0.35, 0.55);
    double h = U(0.7, 0.85);
    rand_color(s.horizon, h * 0.95, h * 1.0, h * 0.98, h * 1.02, h * 1.0, h * 1.08);
    rand_color(s.zenith, 0.2, 0.35, 0.35, 0.5, 0.65, 0.85);
    rand_color(s.sun_col, 1.0, 1.0, 0.95, 1.0, 0.85, 0.95);
    s.cloud_cover = U(0.2, 0.8);
    s.seed = seed32();
  }

  // One side of the street (side = +1 right, -1 left), from z0 to z1.
  void build_side(int side, double z0, double z1, double urban) {
    const SynthWorld::Road& r = w.road_;
    double kerb = r.half_w + 0.25;        // the kerb strip is 0.25 m wide
    double front = kerb + r.sidewalk_w;   // back of the sidewalk
    double z = z0;
    while (z < z1) {
      double u = U(0, 1);
      double block = U(30, 120), zend = std::min(z + block, z1 + 40);
      if (u < urban) {
        // a row of buildings
        double base = U(0.2, 3.0);
        bool brick_row = chance(0.4);
        bool street_trees = chance(0.35);
        double zc = z;
        while (zc < zend) {
          double len = U(8, 25), depth = U(8, 16), height = U(6, 24);
          double setback = base + U(0, 1.2);
          facade(zc + 0.5 * len, front + setback, side, len, depth, height, brick_row ? chance(0.8) : chance(0.2));
          if (chance(0.3)) {  // a taller building behind
            double l2 = U(12, 30);
            double shift = U(-4, 4);
            double back = U(3, 12);
            double depth2 = U(10, 20);
            double extra = U(4, 20);
            bool brick2 = chance(0.3);
            facade(zc + 0.5 * len + shift, front + setback + depth + back, side, l2, depth2, height + extra, brick2);
          }
          zc += len + (chance(0.7) ? U(0.0, 0.6) : U(2.5, 9.0));
        }
        if (street_trees)
          for (double zt = z + U(2, 8); zt < zend; zt += U(8, 14)) tree(zt, side * (kerb + 0.8), true);
      } else if (u < urban + 0.3 * (1 - urban)) {
        // houses with front walls or hedges, trees in the yards
        double zc = z;
        bool hedges = chance(0.5);
        while (zc < zend) {
          double len = U(7, 12), setback = U(3, 8), gap = U(3, 9);
          double depth = U(7, 11);
          double height = U(4.5, 9);
          bool brick = chance(0.3);
          facade(zc + 0.5 * len, front + setback, side, len, depth, height, brick);
          if (chance(0.6)) wall(zc + 0.5 * (len + gap), side * (front + 0.4), len + gap - 0.4, hedges ? 0.8 : 0.25,
                                hedges ? U(1.0, 1.8) : U(0.8, 1.5), hedges);
          if (chance(0.4)) tree(zc + len + 0.5 * gap, side * (front + U(1.5, setback)));
          zc += len + gap;
        }
      } else if (u < urban + 0.65 * (1 - urban)) {
        // walls, with sheds and buildings farther back
        double zc = z, setback = U(0.3, 2.0), height = U(1.2, 3.0);
        while (zc < zend) {
          double len = U(6, 20);
          double shorter = U(0, 0.4);
          double dh = U(-0.2, 0.2);
          wall(zc + 0.5 * len, side * (front + setback + 0.15), len - shorter, 0.3, height + dh, false);
          zc += len;
        }
        for (double zs = z + U(0, 15); zs < zend; zs += U(12, 35)) {
          if (chance(0.5)) {
            double back = U(6, 25);
            double len = U(5, 14);
            double depth = U(4, 10);
            double h = U(2.5, 5);
            shed(zs, side * (front + setback + back), len, depth, h);
          } else {
            double back = U(12, 35);
            double len = U(10, 30);
            double depth = U(10, 20);
            double h = U(6, 18);
            bool brick = chance(0.3);
            facade(zs, front + setback + back, side, len, depth, h, brick);
          }
        }
      } else {
        // open verge with trees and the odd shed
        for (double zt = z + U(1, 6); zt < zend; zt += U(5, 12)) tree(zt, side * (front + U(0.5, 7)));
        if (chance(0.5)) {
          double at = U(0, block);
          double back = U(5, 20);
          double len = U(5, 12);
          double depth = U(4, 8);
          double h = U(2.5, 4.5);
          shed(z + at, side * (front + back), len, depth, h);
        }
      }
      z = zend + (chance(0.6) ? U(0, 3) : U(5, 20));
    }
    // street lights
    for (double zp = z0 + U(0, 20); zp < z1; zp += U(18, 40)) pole(zp, side * (kerb + 0.35), side);
    // parked cars
    if (r.parking_w > 0) {
      double zc = z0;
      while (zc < z1) {
        if (chance(0.2)) {
          zc += U(5, 25);
          continue;
        }
        double len = 4.5;
        car(zc + 0.5 * len, side * (r.lanes * r.lane_w + 0.5 * r.parking_w), side > 0 ? 1.0 : -1.0, -1);
        zc += len + U(0.8, 6.0);
      }
    }
  }

  void build_background(double z0, double z1) {
    for (int side = -1; side <= 1; side += 2) {
      for (double z = z0 + U(0, 30); z < z1; z += U(25, 70)) {
        double d = U(60, 220), wd = U(15, 50), dp = U(15, 40), h = U(12, 55);
        Prim p = box_on_path(z, side * d, wd, dp, h, M_SKYLINE);
        double g = U(0.45, 0.7);
        double fg = U(0.95, 1.02);
        double fb = U(0.95, 1.08);
        tint(p.color, g, g * fg, g * fb, 0.05);
        set_color(p.color2, 0.18, 0.2, 0.26);
        p.param[0] = (float)clamp01(0.25 + d / 400.0);  // haze
        p.param[1] = (float)U(3, 5);                     // window period
        add(p);
      }
      for (double z = z0 + U(0, 200); z < z1 + 400; z += U(150, 400)) {
        double d = U(400, 900), rad = U(200, 500), hy = U(40, 120);
        Prim p = round_on_path(Prim::Ellipsoid, z, side * d, rad, hy * U(0.3, 0.7), hy, M_HILL);
        rand_color(p.color, 0.15, 0.3, 0.25, 0.35, 0.1, 0.18);
        rand_color(p.color2, 0.3, 0.4, 0.3, 0.38, 0.2, 0.28);
        p.param[0] = (float)U(0.5, 0.75);  // haze
        add(p);
      }
    }
    // hills far ahead close the horizon over the road
    for (int i = 0; i < 3; ++i) {
      double rad = U(250, 600), hy = U(40, 120);
      double ahead = U(300, 900);
      double lateral = U(-500, 500);
      double sink = U(0.3, 0.7);
      Prim p = round_on_path(Prim::Ellipsoid, z1 + ahead, lateral, rad, hy * sink, hy, M_HILL);
      rand_color(p.color, 0.15, 0.3, 0.25, 0.35, 0.1, 0.18);
      rand_color(p.color2, 0.3, 0.4, 0.3, 0.38, 0.2, 0.28);
      p.param[0] = (float)U(0.6, 0.8);
      add(p);
    }
  }

  // Independently moving cars.
  void build_movers(int count) {
    const SynthWorld::Road& r = w.road_;
    int frames = w.cfg_.frames;
    double v_oncoming = U(0.6, 1.6);
    std::vector<double> oncoming_pass;
    bool have_lead = false;
    for (int m = 0; m < count; ++m) {
      SynthWorld::Mover mv;
      double u = U(0, 1);
      if (!have_lead && (m == 0 ? u < 0.5 : u < 0.25)) {
        mv.kind = 0;
        have_lead = true;
        mv.lane_d = r.cam_d;
        mv.p0 = U(11, 25);       // mean gap (m)
        mv.p1 = U(0, 4);         // gap oscillation
        mv.p2 = U(0.03, 0.15);   // its frequency
        mv.p3 = U(0, 2 * kPi);
      } else if (r.lanes >= 2 && u < 0.6) {
        mv.kind = 2;  // overtaking in the other lane of the camera's direction
        int cam_lane = (int)std::lround(r.cam_d / r.lane_w - 0.5);
        mv.lane_d = ((1 - cam_lane) + 0.5) * r.lane_w;
        mv.p1 = U(0.15, 0.5);                     // relative speed (m/frame)
        double pass = U(0.1, 0.9);
        double margin = U(2, 8);
        mv.p0 = -mv.p1 * pass * frames - margin;  // gap at t = 0 (behind: passes later)
      } else {
        mv.kind = 1;  // oncoming
        int lane = r.lanes >= 2 ? (int)rng.randint(2) : 0;
        mv.lane_d = -(lane + 0.5) * r.lane_w;
        double pass = U(0.15, 1.2) * std::max(frames - 1, 1);
        for (double q : oncoming_pass)
          if (std::fabs(q - pass) * v_oncoming < 10) pass = q + 12.0 / v_oncoming;
        oncoming_pass.push_back(pass);
        mv.p0 = pass;
        mv.p1 = v_oncoming;
      }
      w.movers_.push_back(mv);
      double z0, x0, yaw0;
      w.mover_pose((int)w.movers_.size() - 1, 0.0, x0, z0, yaw0);
      // build the car at its t = 0 pose (prims_at() moves it)
      car(z0, mv.lane_d, mv.kind == 1 ? -1.0 : 1.0, (int)w.movers_.size() - 1);
    }
  }

  // Drops static primitives that come within 2 m (horizontally) of the drive, unless they are
  // entirely more than 2.5 m above the road (crowns, lamp heads): the camera must never be
  // inside or touching anything (the kitti-raw rig spans -0.06..0.48 m across, 1.1 m back).
  void clear_drive() {
    std::vector<V3> cams;  // z increases with t (the drive always moves forward)
    for (double t = -1; t <= w.cfg_.frames; t += 0.5) {
      Eigen::Matrix4d T = w.camera_pose(t);
      cams.push_back({T(0, 3), T(1, 3), T(2, 3)});
    }
    auto by_z = [](const V3& a, double z) { return a.z < z; };
    std::vector<Prim> kept;
    std::vector<Eigen::Vector3d> kept_local;
    size_t li = 0;
    for (const Prim& p : w.prims_) {
      bool ok = true;
      double bottom = -(p.y + p.hy);  // height of the lowest point above the road
      if (p.mover < 0 && bottom < 2.5) {
        double reach = bounding_radius(p) + 3.0;
        auto it = std::lower_bound(cams.begin(), cams.end(), p.z - reach, by_z);
        for (; it != cams.end() && it->z <= p.z + reach; ++it) {
          const V3& c = *it;
          if (footprint_distance(p, c.x, c.z) < 2.0) {
            ok = false;
            break;
          }
        }
      }
      if (ok) kept.push_back(p);
      if (p.mover >= 0) {
        if (ok) kept_local.push_back(w.mover_local_[li]);
        ++li;
      }
    }
    w.prims_ = std::move(kept);
    w.mover_local_ = std::move(kept_local);
  }
};

// =============================================================================================
// SynthWorld
double SynthWorld::road_x(double z) const {
  const Road& r = road_;
  return r.a1 * std::sin(2 * kPi * z / r.l1 + r.ph1) + r.a2 * std::sin(2 * kPi * z / r.l2 + r.ph2) - r.x0;
}
double SynthWorld::road_slope(double z) const {
  const Road& r = road_;
  return r.a1 * 2 * kPi / r.l1 * std::cos(2 * kPi * z / r.l1 + r.ph1) +
         r.a2 * 2 * kPi / r.l2 * std::cos(2 * kPi * z / r.l2 + r.ph2);
}
double SynthWorld::drive_z(double t) const {
  const Drive& d = drive_;
  double z = d.v0 * t;
  if (d.av > 0) z += d.av / d.wv * (std::cos(d.phv) - std::cos(d.wv * t + d.phv));
  return z;
}

Eigen::Matrix4d SynthWorld::camera_pose(double t) const {
  const Drive& d = drive_;
  double z = drive_z(t);
  double yaw = std::atan(road_slope(z));
  double pitch = d.pitch_a * std::sin(d.pitch_w * t + d.pitch_ph);
  double roll = d.roll_a * std::sin(d.roll_w * t + d.roll_ph);
  double h = d.height + d.h_a * std::sin(d.h_w * t + d.h_ph);
  Eigen::Matrix3d Ry, Rx, Rz;
  double cy = std::cos(yaw), sy = std::sin(yaw), cp = std::cos(pitch), sp = std::sin(pitch), cr = std::cos(roll),
         sr = std::sin(roll);
  Ry << cy, 0, sy, 0, 1, 0, -sy, 0, cy;
  Rx << 1, 0, 0, 0, cp, -sp, 0, sp, cp;
  Rz << cr, -sr, 0, sr, cr, 0, 0, 0, 1;
  Eigen::Matrix4d T = Eigen::Matrix4d::Identity();
  T.topLeftCorner<3, 3>() = Ry * Rx * Rz;
  T(0, 3) = road_x(z) + road_.cam_d * cy;
  T(1, 3) = -h;
  T(2, 3) = z - road_.cam_d * sy;
  return T;
}

void SynthWorld::mover_pose(int m, double t, double& x, double& z, double& yaw) const {
  const Mover& mv = movers_.at(m);
  double zc = 0;
  switch (mv.kind) {
    case 0: zc = drive_z(t) + mv.p0 + mv.p1 * std::sin(mv.p2 * t + mv.p3); break;
    case 2: zc = drive_z(t) + mv.p0 + mv.p1 * t; break;
    default: zc = drive_z(mv.p0) + mv.p1 * (mv.p0 - t); break;
  }
  double a = std::atan(road_slope(zc));
  x = road_x(zc) + mv.lane_d * std::cos(a);
  z = zc - mv.lane_d * std::sin(a);
  yaw = a + (mv.kind == 1 ? kPi : 0.0);
}

std::vector<Prim> SynthWorld::prims_at(double t) const {
  std::vector<Prim> out = prims_;
  std::vector<double> mx(movers_.size()), mz(movers_.size()), myaw(movers_.size());
  for (size_t m = 0; m < movers_.size(); ++m) mover_pose((int)m, t, mx[m], mz[m], myaw[m]);
  size_t li = 0;
  for (Prim& p : out) {
    if (p.mover >= 0) {
      const Eigen::Vector3d& l = mover_local_[li++];
      double yaw = myaw[p.mover], c = std::cos(yaw), s = std::sin(yaw);
      p.yaw = yaw;
      p.x = mx[p.mover] + l.x() * c + l.z() * s;
      p.z = mz[p.mover] - l.x() * s + l.z() * c;
      p.y = l.y();
    }
    p.cyaw = std::cos(p.yaw);
    p.syaw = std::sin(p.yaw);
  }
  return out;
}

SynthWorld SynthWorld::generate(uint64_t seed, int index, const WorldConfig& cfg) {
  SFM_CHECK(cfg.frames >= 1 && cfg.frames <= 1000000, "synth: frames per scene must be 1..1000000, got ", cfg.frames);
  SFM_CHECK(cfg.moving_objects >= 0 && cfg.moving_objects <= 64, "synth: moving objects per scene must be 0..64, got ",
            cfg.moving_objects);
  SynthWorld w;
  w.cfg_ = cfg;
  uint64_t s = seed * 0x9E3779B97F4A7C15ull ^ (0xD1B54A32D192ED03ull * (uint64_t)(index + 1));
  WorldBuilder b(w, s);
  b.build_road();
  b.build_drive(cfg.frames);
  b.build_sky();
  double z_end = w.drive_z(std::max(cfg.frames - 1, 0));
  w.z_min_ = -140.0;
  w.z_max_ = z_end + 380.0;
  double urban = b.U(0.35, 0.85);
  b.build_side(+1, w.z_min_, w.z_max_, urban);
  b.build_side(-1, w.z_min_, w.z_max_, urban);
  b.build_background(w.z_min_ - 300, w.z_max_ + 300);
  b.build_movers(cfg.moving_objects);
  b.clear_drive();
  // road table: x, slope, 1/sqrt(1+slope^2) every kRoadStep metres
  w.table_z0_ = w.z_min_ - kRoadMargin;
  int n = (int)((w.z_max_ + kRoadMargin - w.table_z0_) / kRoadStep) + 2;
  w.road_table_.resize(3 * (size_t)n);
  for (int i = 0; i < n; ++i) {
    double z = w.table_z0_ + i * kRoadStep, sl = w.road_slope(z);
    w.road_table_[3 * i] = w.road_x(z);
    w.road_table_[3 * i + 1] = sl;
    w.road_table_[3 * i + 2] = 1.0 / std::sqrt(1 + sl * sl);
  }
  for (Prim& p : w.prims_) {
    p.cyaw = std::cos(p.yaw);
    p.syaw = std::sin(p.yaw);
  }
  return w;
}

// =============================================================================================
// shading
namespace {

struct Shader {
  const SynthWorld& w;
  Rgb sun_col, horizon, zenith;
  V3 sun;
  double ambient;

  explicit Shader(const SynthWorld& world) : w(world) {
    const SynthWorld::Sky& s = w.sky();
    sun_col = rgb(s.sun_col);
    horizon = rgb(s.horizon);
    zenith = rgb(s.zenith);
    sun = {s.sun[0], s.sun[1], s.sun[2]};
    ambient = s.ambient;
  }

  // lateral offset from the road centre line (along the road normal) and along-road coordinate
  void road_coords(double x, double z, double& d, double& s) const {
    const auto& tab = w_table();
    double f = (z - tz0()) / kRoadStep;
    int n = (int)(tab.size() / 3);
    double rx, inv;
    if (f <= 0) {
      rx = tab[0];
      inv = tab[2];
    } else if (f >= n - 1) {
      rx = tab[3 * (n - 1)];
      inv = tab[3 * (n - 1) + 2];
    } else {
      int i = (int)f;
      double a = f - i;
      rx = tab[3 * i] + a * (tab[3 * i + 3] - tab[3 * i]);
      inv = tab[3 * i + 2] + a * (tab[3 * i + 5] - tab[3 * i + 2]);
    }
    d = (x - rx) * inv;
    s = z;
  }
  const std::vector<double>& w_table() const { return w.road_table(); }
  double tz0() const { return w.road_table_z0(); }

  Rgb sky_color(V3 d, double pix) const {
    V3 u = normalized(d);
    double e = -u.y;  // elevation sine
    Rgb c = mix(horizon, zenith, std::pow(clamp01(e), 0.6));
    double sd = std::max(0.0, dot(u, sun));
    c = c + sun_col * (0.35 * std::pow(sd, 60.0));
    if (e > 0.01) {
      const SynthWorld::Sky& s = w.sky();
      double k = 1.0 / (e + 0.08);
      double cx = u.x * k * 0.8, cz = u.z * k * 0.8;
      double fw = pix * k * k * 0.8;
      double n = fbm(cx, cz, s.seed, 5, fw) + 0.5;
      double cover = smoothstep(1.05 - s.cloud_cover, 1.25 - s.cloud_cover, n) * smoothstep(0.01, 0.12, e);
      double shade = 0.85 + 0.15 * (fbm(cx * 2.1 + 3.7, cz * 2.1, s.seed + 77, 3, fw * 2.1));
      c = mix(c, Rgb{0.96, 0.96, 0.97} * shade, cover * 0.9);
    }
    return c;
  }

  Rgb ground_albedo(double x, double z, double fw) const {
    const SynthWorld::Road& r = w.road();
    double d, s;
    road_coords(x, z, d, s);
    double ad = std::fabs(d);
    uint32_t sd = r.seed;
    if (ad < r.half_w) {
      double n = 0.30 * fbm(x * 1.3, z * 1.3, sd, 4, fw * 1.3) +
                 0.22 * (vnoise(x * 0.12, z * 0.12, sd + 5) - 0.5) +
                 0.22 * octave_weight(10, fw) * (vnoise(x * 10, z * 10, sd + 9) - 0.5);
      // darker tyre tracks along the lanes
      double lane_pos = std::fmod(ad, r.lane_w) / r.lane_w;
      double tracks = (ad < r.lanes * r.lane_w) ? 0.06 * (band(lane_pos, fw / r.lane_w, 0.18, 0.36) +
                                                          band(lane_pos, fw / r.lane_w, 0.64, 0.82))
                                                : 0.0;
      Rgb c = rgb(r.asphalt) * (1 + n - tracks);
      if (ad > r.lanes * r.lane_w) c = c * 1.06;  // parking strip: a different patch of asphalt
      // markings
      double m = 0;
      if (r.lanes == 1) {
        m = band(d, fw, -0.06, 0.06) * pulse(s, fw, 9.0, 0.0, 3.0);
      } else {
        m = band(d, fw, -0.19, -0.07) + band(d, fw, 0.07, 0.19);  // double centre line
        m += (band(ad, fw, r.lane_w - 0.06, r.lane_w + 0.06)) * pulse(s, fw, 12.0, 0.0, 4.0);
      }
      double edge = r.lanes * r.lane_w;
      m += band(ad, fw, edge - 0.08, edge + 0.08);
      if (r.parking_w > 0) m += 0.8 * band(ad, fw, edge, r.half_w - 0.3) * pulse(s, fw, 5.5, 0.0, 0.1);
      m = clamp01(m);
      if (m > 0) {
        double wear = 0.75 + 0.5 * fbm(x * 3, z * 3, sd + 21, 2, fw * 3);
        Rgb paint = (r.lanes >= 2 && ad < 0.3) ? Rgb{0.85, 0.7, 0.2} : Rgb{0.88, 0.88, 0.86};
        c = mix(c, paint * wear, m * 0.92);
      }
      return c;
    }
    if (ad < r.half_w + 0.25) {  // kerb
      double n = 0.15 * fbm(x * 2, z * 2, sd + 31, 3, fw * 2);
      double joints = pulse(s, fw, 1.0, 0.0, 0.02);
      return Rgb{0.62, 0.62, 0.6} * (1 + n - 0.3 * joints);
    }
    if (ad < r.half_w + 0.25 + r.sidewalk_w) {  // paving slabs
      double u = ad - r.half_w - 0.25;
      double ts = 0.5;
      double joint = clamp01(pulse(u, fw, ts, 0.0, 0.025) + pulse(s, fw, ts, 0.0, 0.025));
      int ti = (int)std::floor(u / ts), tj = (int)std::floor(s / ts);
      double tile = 0.12 * (u01(hash2(ti, tj, sd + 41)) - 0.5) * octave_weight(1.0 / ts, fw);
      double n = 0.18 * fbm(x * 1.7, z * 1.7, sd + 43, 4, fw * 1.7);
      return rgb(r.sidewalk) * (1 + tile + n - 0.35 * joint);
    }
    // verge
    if (r.verge_kind == 0) {
      double n = fbm(x * 0.9, z * 0.9, sd + 51, 5, fw * 0.9);
      double blades = 0.25 * octave_weight(8, fw) * (vnoise(x * 8, z * 8, sd + 53) - 0.5);
      return rgb(r.verge) * (1 + 0.8 * n + blades);
    }
    double n = fbm(x * 2.5, z * 2.5, sd + 61, 5, fw * 2.5);
    return rgb(r.verge) * (1 + 0.6 * n);
  }

  // box face coordinates: u along the face, h = height above the road, face length
  static void box_face_uv(const Prim& p, V3 P, int face, double& u, double& h, double& len) {
    double rx = P.x - p.x, rz = P.z - p.z;
    double lx = rx * p.cyaw - rz * p.syaw, lz = rx * p.syaw + rz * p.cyaw;
    h = -P.y;
    int axis = face / 2;
    if (axis == 0) {
      u = (face % 2 ? lz : -lz) + p.hz;
      len = 2 * p.hz;
    } else if (axis == 2) {
      u = (face % 2 ? -lx : lx) + p.hx;
      len = 2 * p.hx;
    } else {  // top / bottom
      u = lx + p.hx;
      h = lz + p.hz;
      len = 2 * p.hx;
    }
  }

  Rgb facade_albedo(const Prim& p, V3 P, int face, double fw) const {
    double u, h, len;
    box_face_uv(p, P, face, u, h, len);
    uint32_t s = p.seed;
    if (face / 2 == 1) {  // roof
      return Rgb{0.3, 0.29, 0.28} * (1 + 0.3 * fbm(u * 0.7, h * 0.7, s, 4, fw * 0.7));
    }
    Rgb wallc = rgb(p.color) * (1 + 0.28 * fbm(u * 0.6, h * 0.6, s, 4, fw * 0.6) +
                                0.16 * octave_weight(5, fw) * (vnoise(u * 5, h * 5, s + 3) - 0.5));
    if (s & 1u) {  // brick courses
      double course = 0.3;
      int row = (int)std::floor(h / course);
      double mortar = clamp01(pulse(h, fw, course, 0.0, 0.03) + pulse(u + (row & 1) * 0.3, fw, 0.6, 0.0, 0.03));
      double brick = 0.1 * (u01(hash2((int)std::floor((u + (row & 1) * 0.3) / 0.6), row, s + 5)) - 0.5) *
                     octave_weight(1 / 0.3, fw);
      wallc = mix(wallc * (1 + brick), Rgb{0.75, 0.73, 0.7}, 0.7 * mortar);
    }
    double pw = p.param[0], ww = p.param[1], ph = p.param[2], wh = p.param[3];
    double top = 2 * p.hy;
    double gf = ph * 1.15;  // ground floor height
    double margin = 0.7;
    Rgb c = wallc;
    double inside_u = band(u, fw, margin, len - margin);
    if (h < gf) {
      if (s & 2u) {  // shop front: large windows and a fascia
        double win = pulse(u - margin, fw, 2 * pw, 0.25 * pw, 1.75 * pw) * band(h, fw, 0.45, gf - 0.7) * inside_u;
        int cell = (int)std::floor((u - margin) / (2 * pw));
        Rgb glass = rgb(p.color2) * (0.8 + 0.8 * u01(hash2(cell, 0, s + 9)));
        glass = glass * (1 + 0.3 * fbm(u * 0.8, h * 2.0, s + 11, 3, fw));
        c = mix(c, glass, win);
        c = mix(c, Rgb{0.25, 0.22, 0.2}, band(h, fw, gf - 0.6, gf - 0.2) * inside_u * 0.8);
      } else {
        c = c * (1 - 0.15 * band(h, fw, 0, 0.5));  // plinth
      }
      return c;
    }
    double hh = h - gf;
    double sill = 0.5 * (ph - wh);
    double win = pulse(u - margin, fw, pw, 0.5 * (pw - ww), 0.5 * (pw + ww)) * pulse(hh, fw, ph, sill, sill + wh) *
                 inside_u * band(h, fw, 0, top - 0.6);
    if (win > 0) {
      int ci = (int)std::floor((u - margin) / pw), cj = (int)std::floor(hh / ph);
      double r = u01(hash2(ci, cj, s + 13));
      Rgb glass = rgb(p.color2) * (0.6 + 1.2 * r);
      if (r > 0.85) glass = Rgb{0.55, 0.5, 0.4} * (0.7 + r * 0.4);  // lit room / curtains
      double reflect = 0.25 * (hh - std::floor(hh / ph) * ph - sill) / wh;
      glass = glass * (1 + reflect);
      c = mix(c, glass, win);
    }
    double ledge = pulse(hh, fw, ph, 0.0, 0.18) * inside_u;
    c = mix(c, rgb(p.color) * 1.25, 0.6 * ledge);
    c = mix(c, Rgb{0.35, 0.33, 0.32}, band(h, fw, top - 0.35, top + 1));  // cornice
    return c;
  }

  Rgb wall_albedo(const Prim& p, V3 P, int face, double fw) const {
    double u, h, len;
    box_face_uv(p, P, face, u, h, len);
    uint32_t s = p.seed;
    double stain = 0.25 * fbm(u * 0.5, h * 2.5, s, 4, fw * 2.5);
    Rgb c = rgb(p.color) * (1 + stain + 0.15 * octave_weight(6, fw) * (vnoise(u * 6, h * 6, s + 2) - 0.5));
    double joint = pulse(u, fw, p.param[0], 0.0, 0.04);
    c = c * (1 - 0.35 * joint);
    if (p.param[1] < 1.5) {
      double g = vnoise(u * 0.6, h * 1.1, s + 4) * 0.7 + vnoise(u * 2.5, h * 3.0, s + 5) * 0.3;
      double m = smoothstep(p.param[1], p.param[1] + 0.04 + fw, g) * band(h, fw, 0.2, 2 * p.hy - 0.2);
      c = mix(c, rgb(p.color2) * (0.8 + 0.4 * vnoise(u * 3, h * 3, s + 6)), m);
    }
    return c;
  }

  Rgb foliage_albedo(const Prim& p, V3 P, double fw, double scale) const {
    double n = fbm3(P.x * scale, P.y * scale, P.z * scale, p.seed, 5, fw * scale);
    double leaves = 0.5 * octave_weight(scale * 6, fw) * (vnoise3(P.x * scale * 6, P.y * scale * 6, P.z * scale * 6, p.seed + 3) - 0.5);
    Rgb c = mix(rgb(p.color), rgb(p.color2), clamp01(0.5 + 1.2 * n));
    return c * (1 + leaves);
  }

  Rgb car_albedo(const Prim& p, V3 P, int face, double fw) const {
    double u, h, len;
    box_face_uv(p, P, face, u, h, len);
    uint32_t s = p.seed;
    Rgb paint = rgb(p.color) * (1 + 0.06 * fbm(u * 1.5, h * 1.5, s, 3, fw * 1.5));
    if (p.material == M_CAR_SKIRT) {
      // wheels: dark discs with light rims seen on the sides
      double r = 0;
      if (face / 2 == 0) {
        double wb = 0.36;
        for (double wc : {0.75, len - 0.75}) {
          double dd = std::hypot(u - wc, h - wb);
          r = std::max(r, band(dd, fw, 0.12, 0.2));
        }
      }
      return mix(rgb(p.color) * (1 + 0.2 * fbm(u * 4, h * 4, s + 1, 2, fw * 4)), Rgb{0.55, 0.55, 0.55}, r);
    }
    if (p.material == M_CAR_CABIN) {
      if (face / 2 == 1) return paint;  // roof
      double h0 = -(p.y + p.hy), h1 = -(p.y - p.hy);  // bottom and top heights of the cabin
      double glass = band(u, fw, 0.12, len - 0.12) * band(h, fw, h0 + 0.05, h1 - 0.07);
      if (face / 2 == 0) glass *= 1 - band(u, fw, 0.5 * len - 0.06, 0.5 * len + 0.06);  // B pillar
      Rgb g = rgb(p.color2) * (1 + 0.6 * (h - h0) / (h1 - h0) + 0.2 * fbm(u * 2, h * 2, s + 3, 2, fw * 2));
      return mix(paint, g, glass);
    }
    // body: lights on the front/back faces, a dark bumper strip
    Rgb c = paint;
    double h0 = -(p.y + p.hy);
    c = mix(c, Rgb{0.08, 0.08, 0.08}, band(h, fw, h0, h0 + 0.12));
    if (face / 2 == 2) {
      double lights = (band(u, fw, 0.12, 0.45) + band(u, fw, len - 0.45, len - 0.12)) * band(h, fw, h0 + 0.3, h0 + 0.5);
      bool back = (face % 2) == 1;
      c = mix(c, back ? Rgb{0.7, 0.08, 0.05} : Rgb{0.9, 0.9, 0.85}, lights);
      c = mix(c, Rgb{0.9, 0.9, 0.9}, band(u, fw, 0.5 * len - 0.25, 0.5 * len + 0.25) * band(h, fw, h0 + 0.15, h0 + 0.27));
    }
    return c;
  }

  Rgb skyline_albedo(const Prim& p, V3 P, int face, double fw) const {
    double u, h, len;
    box_face_uv(p, P, face, u, h, len);
    Rgb c = rgb(p.color) * (1 + 0.15 * fbm(u * 0.2, h * 0.2, p.seed, 3, fw * 0.2));
    if (face / 2 != 1) {
      double pw = p.param[1];
      double win = pulse(u, fw, pw, 0.3 * pw, 0.7 * pw) * pulse(h, fw, 3.2, 1.0, 2.4) * band(h, fw, 2, 2 * p.hy - 1);
      c = mix(c, rgb(p.color2), 0.7 * win);
    }
    return c;
  }

  Rgb albedo(const Prim& p, V3 P, int face, double fw) const {
    switch (p.material) {
      case M_FACADE: return facade_albedo(p, P, face, fw);
      case M_WALL: return wall_albedo(p, P, face, fw);
      case M_HEDGE: return foliage_albedo(p, P, fw, 2.0);
      case M_CAR_BODY:
      case M_CAR_SKIRT:
      case M_CAR_CABIN: return car_albedo(p, P, face, fw);
      case M_POLE: {
        double a = std::atan2(P.x - p.x, P.z - p.z) * p.hx;
        return rgb(p.color) * (1 + 0.25 * fbm(a * 8, P.y * 0.7, p.seed, 3, fw * 8) - 0.3 * pulse(-P.y, fw, 2.5, 0, 0.08));
      }
      case M_LAMP: return rgb(p.color) * (1 + 0.2 * fbm(P.x * 3, P.z * 3, p.seed, 2, fw * 3));
      case M_TRUNK: {
        double a = std::atan2(P.x - p.x, P.z - p.z) * p.hx;
        return rgb(p.color) * (1 + 0.5 * fbm(a * 6, P.y * 1.5, p.seed, 4, fw * 6));
      }
      case M_FOLIAGE: return foliage_albedo(p, P, fw, 1.2);
      case M_SKYLINE: return skyline_albedo(p, P, face, fw);
      case M_HILL: {
        double n = fbm3(P.x * 0.01, P.y * 0.01, P.z * 0.01, p.seed, 5, fw * 0.01);
        return mix(rgb(p.color), rgb(p.color2), clamp01(0.5 + 1.5 * n));
      }
      case M_SHED: {
        double u, h, len;
        box_face_uv(p, P, face, u, h, len);
        double ridge = pulse(u, fw, p.param[0], 0, 0.5 * p.param[0]);
        return rgb(p.color) * (1 + 0.25 * fbm(u * 0.8, h * 0.8, p.seed, 4, fw * 0.8) - 0.18 * ridge);
      }
      default: return rgb(p.color);
    }
  }

  Rgb light(Rgb alb, V3 n) const {
    double sky = ambient * (0.78 + 0.22 * std::max(0.0, -n.y));
    double diff = (1 - ambient) * std::max(0.0, dot(n, sun));
    return alb * sun_col * (sky + diff);
  }

  // Colour of a hit (p = nullptr: the road plane); fw = the sample footprint (m) across the
  // ray at the hit, widened for oblique surfaces (the geometric mean of the footprint's axes).
  Rgb shade_hit(const Prim* p, V3 P, int face, double fw, V3 d) const {
    V3 n = p ? prim_normal(*p, P, face) : V3{0, -1, 0};
    double cosi = std::fabs(dot(n, d)) / norm(d);
    double fwa = fw / std::sqrt(std::max(cosi, 0.05));
    if (!p) return light(ground_albedo(P.x, P.z, fwa), n);
    Rgb c = light(albedo(*p, P, face, fwa), n);
    if (p->material == M_SKYLINE || p->material == M_HILL) c = mix(c, horizon, p->param[0]);
    return c;
  }
  // Diffuse albedo (luminance) at a hit, for lidar reflectance.
  double reflectance(const Prim* p, V3 P, int face, double fw) const {
    Rgb a = p ? albedo(*p, P, face, fw) : ground_albedo(P.x, P.z, fw);
    return clamp01(luminance(a));
  }
};

}  // namespace

// =============================================================================================
// ray tracing over binned candidates
namespace {

constexpr double kNear = 1e-3;  // camera near plane for culling (m)

// Nearest hit along o + t d among the road plane and the candidates [it, end), which are sorted
// by a lower bound lb[] of their ray parameter. Returns t (< 0: nothing, i.e. sky); prim = -1
// for the road.
inline double trace(const Prim* prims, const double* lb, const int* it, const int* end, V3 o, V3 d, int& prim,
                    int& face) {
  double best = 1e300;
  bool hit = false;
  prim = -1;
  face = 0;
  if (hit_ground(o, d, best)) {
    hit = true;
  } else {
    best = 1e300;
  }
  for (; it != end; ++it) {
    int i = *it;
    if (lb[i] >= best) break;
    double t;
    int f;
    if (hit_prim(prims[i], o, d, best, t, f)) {
      best = t;
      prim = i;
      face = f;
      hit = true;
    }
  }
  return hit ? best : -1.0;
}

// Candidates of a view, in bins, each bin's list sorted by the lower bound.
struct Bins {
  std::vector<Prim> prims;  // the view's primitives, ordered by lower bound
  std::vector<double> lb;
  std::vector<int> start, items;
  const int* begin(int b) const { return items.data() + start[b]; }
  const int* end(int b) const { return items.data() + start[b + 1]; }
};

struct Binned {
  int idx;
  double lb;
  int b0, b1, c0, c1;  // bin rectangle (inclusive); for lidar c0..c1 unused, b0 > b1 wraps around
};

// Fills bins from entries (bins laid out as nb_x x nb_y, row-major; wrap_x: b0 > b1 wraps).
Bins make_bins(const std::vector<Prim>& all, std::vector<Binned>& entries, int nbx, int nby) {
  std::sort(entries.begin(), entries.end(),
            [](const Binned& a, const Binned& b) { return a.lb < b.lb || (a.lb == b.lb && a.idx < b.idx); });
  Bins B;
  B.prims.reserve(entries.size());
  B.lb.reserve(entries.size());
  for (const Binned& e : entries) {
    B.prims.push_back(all[e.idx]);
    B.lb.push_back(e.lb);
  }
  int nb = nbx * nby;
  std::vector<int> count(nb + 1, 0);
  auto for_each_bin = [&](const Binned& e, auto&& fn) {
    for (int y = e.c0; y <= e.c1; ++y) {
      if (e.b0 <= e.b1) {
        for (int x = e.b0; x <= e.b1; ++x) fn(y * nbx + x);
      } else {
        for (int x = e.b0; x < nbx; ++x) fn(y * nbx + x);
        for (int x = 0; x <= e.b1; ++x) fn(y * nbx + x);
      }
    }
  };
  for (const Binned& e : entries) for_each_bin(e, [&](int b) { ++count[b + 1]; });
  for (int b = 0; b < nb; ++b) count[b + 1] += count[b];
  B.start = count;
  B.items.resize(count[nb]);
  std::vector<int> fill(count.begin(), count.end() - 1);
  for (size_t k = 0; k < entries.size(); ++k) for_each_bin(entries[k], [&](int b) { B.items[fill[b]++] = (int)k; });
  return B;
}

constexpr int kTile = 8;

// Screen-tile bins for a camera: each primitive's bounding box is clipped to the near plane and
// projected; lower bound = the smallest camera z of the clipped box.
Bins camera_bins(const std::vector<Prim>& all, const Eigen::Matrix4d& T, const Intrinsics& K) {
  Eigen::Matrix3d R = T.topLeftCorner<3, 3>();
  V3 C = {T(0, 3), T(1, 3), T(2, 3)};
  int ntx = (K.width + kTile - 1) / kTile, nty = (K.height + kTile - 1) / kTile;
  std::vector<Binned> entries;
  for (size_t i = 0; i < all.size(); ++i) {
    const Prim& p = all[i];
    V3 rel = {p.x - C.x, p.y - C.y, p.z - C.z};
    if (norm(rel) - bounding_radius(p) > kCullRange) continue;
    V3 wc[8];
    prim_corners(p, wc);
    double cz[8], cxs[8], cys[8];
    for (int k = 0; k < 8; ++k) {
      V3 r = wc[k] - C;
      cxs[k] = R(0, 0) * r.x + R(1, 0) * r.y + R(2, 0) * r.z;
      cys[k] = R(0, 1) * r.x + R(1, 1) * r.y + R(2, 1) * r.z;
      cz[k] = R(0, 2) * r.x + R(1, 2) * r.y + R(2, 2) * r.z;
    }
    double umin = 1e300, umax = -1e300, vmin = 1e300, vmax = -1e300, zmin = 1e300;
    bool any = false;
    auto addp = [&](double x, double y, double z) {
      double u = K.fx * x / z + K.cx, v = K.fy * y / z + K.cy;
      umin = std::min(umin, u);
      umax = std::max(umax, u);
      vmin = std::min(vmin, v);
      vmax = std::max(vmax, v);
      zmin = std::min(zmin, z);
      any = true;
    };
    for (int k = 0; k < 8; ++k)
      if (cz[k] >= kNear) addp(cxs[k], cys[k], cz[k]);
    for (int k = 0; k < 8; ++k)
      for (int bit = 1; bit < 8; bit <<= 1) {
        int j = k | bit;
        if (j == k) continue;
        if ((cz[k] - kNear) * (cz[j] - kNear) < 0) {
          double a = (kNear - cz[k]) / (cz[j] - cz[k]);
          addp(cxs[k] + a * (cxs[j] - cxs[k]), cys[k] + a * (cys[j] - cys[k]), kNear);
        }
      }
    if (!any) continue;
    // pixels whose samples (within +-0.5 px of the centre) may see it
    double px0 = std::floor(umin - 0.5), px1 = std::ceil(umax + 0.5);
    double py0 = std::floor(vmin - 0.5), py1 = std::ceil(vmax + 0.5);
    if (px1 < 0 || py1 < 0 || px0 > K.width - 1 || py0 > K.height - 1) continue;
    int x0 = (int)std::max(0.0, px0), x1 = (int)std::min<double>(K.width - 1, px1);
    int y0 = (int)std::max(0.0, py0), y1 = (int)std::min<double>(K.height - 1, py1);
    entries.push_back({(int)i, std::max(zmin, 0.0), x0 / kTile, x1 / kTile, y0 / kTile, y1 / kTile});
  }
  return make_bins(all, entries, ntx, nty);
}

constexpr int kAzBins = 720;
inline int az_bin(double dx, double dz) {
  double a = std::atan2(dx, dz);  // (-pi, pi]
  int b = (int)std::floor((a + kPi) * (kAzBins / (2 * kPi)));
  return b < 0 ? 0 : (b >= kAzBins ? kAzBins - 1 : b);
}

// Azimuth-sector bins around a sensor at O (for rays in every direction): the sectors spanned by
// the primitive's bounding footprint; lower bound = horizontal distance to its footprint.
Bins azimuth_bins(const std::vector<Prim>& all, V3 O, double max_range) {
  std::vector<Binned> entries;
  for (size_t i = 0; i < all.size(); ++i) {
    const Prim& p = all[i];
    double lb = footprint_distance(p, O.x, O.z);
    if (lb > max_range) continue;
    double hz = p.shape == Prim::Box ? p.hz : p.hx;
    // is O inside the bounding rectangle (then every direction may see it)?
    double rx = O.x - p.x, rz = O.z - p.z;
    double lx = rx * p.cyaw - rz * p.syaw, lz = rx * p.syaw + rz * p.cyaw;
    if (std::fabs(lx) <= p.hx + 1e-6 && std::fabs(lz) <= hz + 1e-6) {
      entries.push_back({(int)i, 0.0, 0, kAzBins - 1, 0, 0});
      continue;
    }
    double a0 = 0, lo = 0, hi = 0;
    int k = 0;
    for (int sx = -1; sx <= 1; sx += 2)
      for (int sz = -1; sz <= 1; sz += 2) {
        double cx = p.x + sx * p.hx * p.cyaw + sz * hz * p.syaw;
        double cz = p.z - sx * p.hx * p.syaw + sz * hz * p.cyaw;
        double a = std::atan2(cx - O.x, cz - O.z);
        if (k++ == 0) {
          a0 = a;
          continue;
        }
        double r = a - a0;
        while (r > kPi) r -= 2 * kPi;
        while (r <= -kPi) r += 2 * kPi;
        lo = std::min(lo, r);
        hi = std::max(hi, r);
      }
    auto bin_of = [](double a) {
      double f = (a + kPi) * (kAzBins / (2 * kPi));
      int b = (int)std::floor(f);
      return ((b % kAzBins) + kAzBins) % kAzBins;
    };
    int b0 = bin_of(a0 + lo) - 1, b1 = bin_of(a0 + hi) + 1;  // one sector of slack each side
    b0 = (b0 + kAzBins) % kAzBins;
    b1 = b1 % kAzBins;
    entries.push_back({(int)i, lb, b0, b1, 0, 0});
  }
  return make_bins(all, entries, kAzBins, 1);
}

inline uint8_t to_srgb8(double c) {
  c = clamp01(c);
  return (uint8_t)std::lround(255.0 * std::pow(c, 1.0 / 2.2));
}

int resolve_threads(int threads) { return threads > 0 ? threads : cpu_threads(); }

}  // namespace

RenderedFrame SynthWorld::render(const Eigen::Matrix4d& T, const Intrinsics& K, double t,
                                 const RenderOptions& opt) const {
  SFM_CHECK(K.height >= 1 && K.width >= 1, "synth render: bad image size ", K.height, "x", K.width);
  SFM_CHECK(opt.supersample >= 1 && opt.supersample <= 8, "synth render: supersample must be 1..8, got ",
            opt.supersample);
  std::vector<Prim> prims = prims_at(t);
  Bins B = camera_bins(prims, T, K);
  Shader sh(*this);
  const int S = opt.supersample, H = K.height, W = K.width;
  const double pix = 1.0 / (std::max(K.fx, K.fy) * S);  // angular size of a sample
  const int ntx = (W + kTile - 1) / kTile;
  Eigen::Matrix3d R = T.topLeftCorner<3, 3>();
  const V3 C = {T(0, 3), T(1, 3), T(2, 3)};
  const V3 r0 = {R(0, 0), R(1, 0), R(2, 0)}, r1 = {R(0, 1), R(1, 1), R(2, 1)}, r2 = {R(0, 2), R(1, 2), R(2, 2)};
  RenderedFrame out;
  out.height = H;
  out.width = W;
  out.rgb.assign((size_t)H * W * 3, 0);
  out.depth.assign((size_t)H * W, 0.0f);
  const Prim* P = B.prims.data();
  const double* LB = B.lb.data();
  const int nt = resolve_threads(opt.threads);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1)
  for (int py = 0; py < H; ++py) {
    for (int px = 0; px < W; ++px) {
      int tb = (py / kTile) * ntx + px / kTile;
      const int *ib = B.begin(tb), *ie = B.end(tb);
      Rgb acc = {0, 0, 0};
      double depth = 0;
      for (int sy = 0; sy < S; ++sy)
        for (int sx = 0; sx < S; ++sx) {
          double xn = (px + (sx + 0.5) / S - 0.5 - K.cx) / K.fx, yn = (py + (sy + 0.5) / S - 0.5 - K.cy) / K.fy;
          V3 d = r0 * xn + r1 * yn + r2;
          int pi, face;
          double tt = trace(P, LB, ib, ie, C, d, pi, face);
          if (tt < 0) {
            acc = acc + sh.sky_color(d, pix);
          } else {
            V3 X = C + d * tt;
            acc = acc + sh.shade_hit(pi >= 0 ? &P[pi] : nullptr, X, face, tt * norm(d) * pix, d);
          }
          if ((S & 1) && sx == S / 2 && sy == S / 2) depth = tt > 0 ? tt : 0.0;
        }
      if (!(S & 1)) {
        double xn = (px - K.cx) / K.fx, yn = (py - K.cy) / K.fy;
        int pi, face;
        double tt = trace(P, LB, ib, ie, C, r0 * xn + r1 * yn + r2, pi, face);
        depth = tt > 0 ? tt : 0.0;
      }
      size_t o = (size_t)py * W + px;
      double inv = 1.0 / (S * S);
      out.rgb[3 * o] = to_srgb8(acc.r * inv);
      out.rgb[3 * o + 1] = to_srgb8(acc.g * inv);
      out.rgb[3 * o + 2] = to_srgb8(acc.b * inv);
      out.depth[o] = (float)depth;
    }
  }
  return out;
}

std::vector<float> SynthWorld::render_depth(const Eigen::Matrix4d& T, const Intrinsics& K, double t,
                                            int threads) const {
  std::vector<Prim> prims = prims_at(t);
  Bins B = camera_bins(prims, T, K);
  const int H = K.height, W = K.width, ntx = (W + kTile - 1) / kTile;
  Eigen::Matrix3d R = T.topLeftCorner<3, 3>();
  const V3 C = {T(0, 3), T(1, 3), T(2, 3)};
  const V3 r0 = {R(0, 0), R(1, 0), R(2, 0)}, r1 = {R(0, 1), R(1, 1), R(2, 1)}, r2 = {R(0, 2), R(1, 2), R(2, 2)};
  std::vector<float> depth((size_t)H * W, 0.0f);
  const int nt = resolve_threads(threads);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1)
  for (int py = 0; py < H; ++py)
    for (int px = 0; px < W; ++px) {
      int tb = (py / kTile) * ntx + px / kTile;
      int pi, face;
      double xn = (px - K.cx) / K.fx, yn = (py - K.cy) / K.fy;
      double tt = trace(B.prims.data(), B.lb.data(), B.begin(tb), B.end(tb), C, r0 * xn + r1 * yn + r2, pi, face);
      depth[(size_t)py * W + px] = tt > 0 ? (float)tt : 0.0f;
    }
  return depth;
}

RayHit SynthWorld::cast(const Eigen::Vector3d& origin, const Eigen::Vector3d& dir, double t, double max_t) const {
  std::vector<Prim> prims = prims_at(t);
  V3 o = {origin.x(), origin.y(), origin.z()}, d = {dir.x(), dir.y(), dir.z()};
  RayHit h;
  double best = max_t;
  int face = 0;
  double tg;
  if (hit_ground(o, d, tg) && tg < best) {
    best = tg;
    h.hit = true;
  }
  for (size_t i = 0; i < prims.size(); ++i) {
    double tt;
    int f;
    if (hit_prim(prims[i], o, d, best, tt, f)) {
      best = tt;
      h.prim = (int)i;
      face = f;
      h.hit = true;
    }
  }
  if (h.hit) {
    h.t = best;
    Shader sh(*this);
    h.reflectance = (float)sh.reflectance(h.prim >= 0 ? &prims[h.prim] : nullptr, o + d * best, face, 0.0);
  }
  return h;
}

std::vector<float> SynthWorld::lidar_scan(const Eigen::Matrix4d& T, double t, const LidarSpec& spec,
                                          int threads) const {
  SFM_CHECK(spec.rings >= 1 && spec.azimuth_steps >= 1 && spec.max_range > 0, "synth lidar: bad spec (rings ",
            spec.rings, ", azimuth steps ", spec.azimuth_steps, ", max range ", spec.max_range, ")");
  std::vector<Prim> prims = prims_at(t);
  const V3 O = {T(0, 3), T(1, 3), T(2, 3)};
  Bins B = azimuth_bins(prims, O, spec.max_range);
  Shader sh(*this);
  Eigen::Matrix3d R = T.topLeftCorner<3, 3>();
  std::vector<std::vector<float>> rings(spec.rings);
  const int nt = resolve_threads(threads);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1)
  for (int r = 0; r < spec.rings; ++r) {
    double el = (spec.rings == 1 ? spec.elev_max_deg
                                 : spec.elev_max_deg + (spec.elev_min_deg - spec.elev_max_deg) * r / (spec.rings - 1)) *
                kPi / 180;
    std::vector<float>& pts = rings[r];
    pts.reserve((size_t)spec.azimuth_steps * 4);
    for (int a = 0; a < spec.azimuth_steps; ++a) {
      double az = 2 * kPi * a / spec.azimuth_steps;
      double ls[3] = {std::cos(el) * std::cos(az), std::cos(el) * std::sin(az), std::sin(el)};
      V3 d = {R(0, 0) * ls[0] + R(0, 1) * ls[1] + R(0, 2) * ls[2], R(1, 0) * ls[0] + R(1, 1) * ls[1] + R(1, 2) * ls[2],
              R(2, 0) * ls[0] + R(2, 1) * ls[1] + R(2, 2) * ls[2]};
      int b = az_bin(d.x, d.z);
      int pi, face;
      double tt = trace(B.prims.data(), B.lb.data(), B.begin(b), B.end(b), O, d, pi, face);
      if (tt <= 0 || tt > spec.max_range) continue;
      double refl = sh.reflectance(pi >= 0 ? &B.prims[pi] : nullptr, O + d * tt, face, tt * 0.003);
      pts.push_back((float)(ls[0] * tt));
      pts.push_back((float)(ls[1] * tt));
      pts.push_back((float)(ls[2] * tt));
      pts.push_back((float)refl);
    }
  }
  std::vector<float> out;
  size_t n = 0;
  for (auto& v : rings) n += v.size();
  out.reserve(n);
  for (auto& v : rings) out.insert(out.end(), v.begin(), v.end());
  return out;
}

SynthWorld synth_world(const SynthOptions& opt, int scene_index) {
  WorldConfig cfg;
  cfg.frames = opt.frames;
  // each scene has between 0 and K independently moving cars (drawn from its own stream)
  Rng r(opt.seed * 0xBF58476D1CE4E5B9ull + 0x94D049BB133111EBull * (uint64_t)(scene_index + 1));
  cfg.moving_objects = opt.moving_objects > 0 ? (int)r.randint(opt.moving_objects + 1) : 0;
  return SynthWorld::generate(opt.seed, scene_index, cfg);
}

}  // namespace sfm::synth
