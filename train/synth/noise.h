#pragma once
// Procedural noise: integer hashing, so the textures are identical on every machine and thread.
// Internal to train/synth/ (world.cpp, render.cpp); not part of the generator's interface.
#include <cmath>
#include <cstdint>

#include "train/synth/basics.h"

namespace sfm::synth::detail {

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


}  // namespace sfm::synth::detail
