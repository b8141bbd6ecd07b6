#pragma once
// Ray/primitive intersections and the bounding geometry used for culling.
// Internal to train/synth/ (world.cpp, render.cpp); not part of the generator's interface.
#include <algorithm>
#include <cmath>

#include "train/synth/basics.h"

namespace sfm::synth::detail {

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


}  // namespace sfm::synth::detail
