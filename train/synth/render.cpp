// The synthetic street world, part 2: ray casting (camera and lidar) over binned candidates.
// Scene generation: world.cpp; textures: shading.h. See synth_world.h for the conventions and docs/data.md for pictures.
//
// Acceleration: per rendered view, the primitives (a few hundred) are moved to the view's time,
// culled, and binned -- for a camera into 8x8-pixel screen tiles by the bounding rectangle of
// their near-plane-clipped projection, for a lidar into 1-degree azimuth sectors. Each bin's
// list is sorted by a lower bound of the ray parameter (camera z, or horizontal distance), so
// a ray stops testing once the nearest hit so far is closer than the next candidate can be.
// The road is the analytic plane y = 0. Shading is view-independent (Lambert under a fixed sun,
// textures box-filtered by the sample footprint), so a surface point has the same colour in
// every frame up to that filtering.
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
#include "train/synth/shading.h"

namespace sfm::synth {

using namespace detail;

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
