// The synthetic street world, part 1: intrinsics, the world builder (road, buildings, cars,
// trees, poles, movers) and the trajectories. Rendering and lidar: render.cpp. See synth_world.h
// for the conventions and docs/data.md for pictures.
#include "train/synth/synth_world.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "boundary/error.h"
#include "cpu/parallel.h"
#include "engine/rng.h"
#include "train/synth/basics.h"
#include "train/synth/intersect.h"
#include "train/synth/noise.h"

namespace sfm::synth {

using namespace detail;

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

}  // namespace sfm::synth
