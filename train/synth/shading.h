#pragma once
// Shading: materials, procedural textures box-filtered by the sample footprint, Lambert under a fixed sun.
// Internal to train/synth/ (world.cpp, render.cpp); not part of the generator's interface.
#include <algorithm>
#include <cmath>

#include "train/synth/basics.h"
#include "train/synth/intersect.h"
#include "train/synth/noise.h"

namespace sfm::synth::detail {

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

}  // namespace sfm::synth::detail
