#pragma once
// The synthetic world's constants, materials and small vector and colour types.
// Internal to train/synth/ (world.cpp, render.cpp); not part of the generator's interface.
#include <cmath>
#include <cstdint>

#include "train/synth/synth_world.h"

namespace sfm::synth::detail {

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


}  // namespace sfm::synth::detail
