// CPU loops of the geometry ops; the arithmetic is boundary/math/warp_math.h.
#include "cpu/warp.h"

#include <vector>

#include "boundary/math/warp_math.h"
#include "cpu/parallel.h"

namespace sfm::cpu {

namespace {

// parallel_for runs serially below its grain: small problems stay on one thread.
int64_t grain_for(int64_t items, int64_t work) { return work < kParallelGrain ? items + 1 : 1; }

// M (9) and m (3) for each of n (pose, K) pairs; pose i uses K[i / per_K].
template <class T>
std::vector<T> setup_all(const T* pose, const T* K, int64_t n, int64_t per_K, RotationMode mode) {
  std::vector<T> Mm(n * 12);
  for (int64_t i = 0; i < n; ++i) math::warp_setup(mode, pose + 6 * i, K + 9 * (i / per_K), &Mm[12 * i], &Mm[12 * i + 9]);
  return Mm;
}

// dL/dpose (6) of pose i from its 12 accumulators, in double whatever T is.
template <class T>
void pose_grad(RotationMode mode, const T* pose, const T* K, const double* acc, T* gpose) {
  double p[6], k[9], g[6];
  for (int i = 0; i < 6; ++i) p[i] = pose[i];
  for (int i = 0; i < 9; ++i) k[i] = K[i];
  math::warp_pose_backward(mode, p, k, acc, g);
  for (int i = 0; i < 6; ++i) gpose[i] = T(g[i]);
}

}  // namespace

template <class T> void pose_vec2mat_forward(const T* pose, int64_t B, RotationMode mode, T* Rt) {
  for (int64_t b = 0; b < B; ++b) math::pose_vec2mat_forward(mode, pose + 6 * b, Rt + 12 * b);
}
template <class T> void pose_vec2mat_backward(const T* pose, const T* gRt, int64_t B, RotationMode mode, T* gpose) {
  for (int64_t b = 0; b < B; ++b) math::pose_vec2mat_backward(mode, pose + 6 * b, gRt + 12 * b, gpose + 6 * b);
}

template <class T>
void inverse_warp_forward(const T* src, const T* depth, const T* pose, const T* K, WarpDims d, Padding padding,
                          RotationMode mode, T* out, T* valid) {
  const int64_t plane = d.H * d.W, items = d.B * d.H;
  std::vector<T> Mm = setup_all(pose, K, d.B, 1, mode);
  parallel_for(items, [&](int64_t it) {
    const int64_t b = it / d.H;
    const int y = (int)(it % d.H);
    math::WarpView<T> wv{&Mm[12 * b], &Mm[12 * b + 9], src + b * d.C * plane, (int)d.C, (int)d.H, (int)d.W, padding};
    T* ob = out + b * d.C * plane;
    const T* drow = depth + b * plane + (int64_t)y * d.W;
    T* vrow = valid ? valid + b * plane + (int64_t)y * d.W : nullptr;
    for (int x = 0; x < (int)d.W; ++x) {
      bool in_view = math::inverse_warp_pixel_forward(wv, x, y, drow[x], ob);
      if (vrow) vrow[x] = in_view ? T(1) : T(0);
    }
  }, grain_for(items, d.B * d.C * plane));
}

template <class T>
void inverse_warp_backward(const T* src, const T* depth, const T* pose, const T* K, WarpDims d, Padding padding,
                           RotationMode mode, const T* gout, T* gsrc, T* gdepth, T* gpose) {
  const int64_t plane = d.H * d.W;
  std::vector<T> Mm = setup_all(pose, K, d.B, 1, mode);
  if (gdepth || gpose) {
    const int64_t items = d.B * d.H;
    std::vector<double> acc(items * math::kWarpAcc, 0.0);  // per (b, row) partial dL/dM, dL/dm
    parallel_for(items, [&](int64_t it) {
      const int64_t b = it / d.H;
      const int y = (int)(it % d.H);
      math::WarpView<T> wv{&Mm[12 * b], &Mm[12 * b + 9], src + b * d.C * plane, (int)d.C, (int)d.H, (int)d.W,
                           padding};
      const T* gb = gout + b * d.C * plane;
      const T* drow = depth + b * plane + (int64_t)y * d.W;
      double a[math::kWarpAcc] = {};  // local: kept in registers across the row
      for (int x = 0; x < (int)d.W; ++x) {
        T gd = math::inverse_warp_pixel_backward(wv, x, y, drow[x], gb, a);
        if (gdepth) gdepth[b * plane + (int64_t)y * d.W + x] = gd;
      }
      for (int k = 0; k < math::kWarpAcc; ++k) acc[it * math::kWarpAcc + k] = a[k];
    }, grain_for(items, d.B * d.C * plane));
    if (gpose) {
      for (int64_t b = 0; b < d.B; ++b) {
        double s[math::kWarpAcc] = {};
        for (int64_t y = 0; y < d.H; ++y)  // fixed order
          for (int k = 0; k < math::kWarpAcc; ++k) s[k] += acc[(b * d.H + y) * math::kWarpAcc + k];
        pose_grad(mode, pose + 6 * b, K + 9 * b, s, gpose + 6 * b);
      }
    }
  }
  if (gsrc) {
    // Scatter into the source. Each (b, c) plane receives its pixels' contributions in raster
    // order, serially (no races, no atomics), so the result is the same whichever way the
    // work is split: one item per batch entry (the taps computed once for all C channels)
    // when that keeps every thread busy, else one item per (b, c) plane.
    const bool per_batch = d.C == 1 || d.B >= cpu_threads();
    const int64_t items = per_batch ? d.B : d.B * d.C;
    const int64_t cpi = per_batch ? d.C : 1;  // channels per item
    parallel_for(items, [&](int64_t it) {
      const int64_t b = per_batch ? it : it / d.C, c0 = per_batch ? 0 : it % d.C;
      const T* M = &Mm[12 * b];
      const T* m = &Mm[12 * b + 9];
      T* gp = gsrc + (b * d.C + c0) * plane;
      const T* go = gout + (b * d.C + c0) * plane;
      for (int64_t i = 0; i < cpi * plane; ++i) gp[i] = T(0);
      for (int y = 0; y < (int)d.H; ++y) {
        const T* drow = depth + b * plane + (int64_t)y * d.W;
        for (int x = 0; x < (int)d.W; ++x) {
          math::Projected<T> p = math::project_pixel(M, m, T(x), T(y), drow[x]);
          math::BilinearTaps<T> tb = math::bilinear_setup(p.u, p.v, (int)d.W, (int)d.H, padding);
          const int64_t pix = (int64_t)y * d.W + x;
          for (int64_t c = 0; c < cpi; ++c) {
            const T g = go[c * plane + pix];
            T* gc = gp + c * plane;
            for (int k = 0; k < 4; ++k) gc[tb.idx[k]] += g * tb.w[k];
          }
        }
      }
    }, grain_for(items, d.B * d.C * plane));
  }
}

template <class T>
double photometric_forward(const T* tgt, const T* srcs, const T* depth, const T* poses, const T* K, const T* mask,
                           PhotometricDims d, const PhotometricOptions& opt, T* warped) {
  const int64_t plane = d.H * d.W, items = d.B * d.H;
  std::vector<T> Mm = setup_all(poses, K, d.B * d.S, d.S, opt.rotation);
  std::vector<double> part(items, 0.0);
  parallel_for(items, [&](int64_t it) {
    const int64_t b = it / d.H;
    const int y = (int)(it % d.H);
    const T* drow = depth + b * plane + (int64_t)y * d.W;
    double row = 0;
    for (int64_t s = 0; s < d.S; ++s) {
      const int64_t bs = b * d.S + s;
      math::PhotometricView<T> pv{&Mm[12 * bs], &Mm[12 * bs + 9], tgt + b * d.C * plane, srcs + bs * d.C * plane,
                                  (int)d.C, (int)d.H, (int)d.W, opt.padding, opt.keep_out_of_view};
      const T* mrow = mask ? mask + bs * plane + (int64_t)y * d.W : nullptr;
      T* wb = warped ? warped + bs * d.C * plane : nullptr;
      for (int x = 0; x < (int)d.W; ++x)
        row += (double)math::photometric_pixel_forward(pv, x, y, drow[x], mrow ? mrow[x] : T(1), wb);
    }
    part[it] = row;
  }, grain_for(items, d.B * d.S * d.C * plane));
  double total = 0;
  for (double p : part) total += p;  // fixed order
  return total / (double)(d.B * d.C * plane);
}

template <class T>
void photometric_backward(const T* tgt, const T* srcs, const T* depth, const T* poses, const T* K, const T* mask,
                          PhotometricDims d, const PhotometricOptions& opt, T gscale, T* gdepth, T* gposes,
                          T* gmask) {
  const int64_t plane = d.H * d.W, items = d.B * d.H;
  const T g = T((double)gscale / (double)(d.B * d.C * plane));
  std::vector<T> Mm = setup_all(poses, K, d.B * d.S, d.S, opt.rotation);
  // Per (b, row, s) partial dL/dM, dL/dm (only when the poses want a gradient).
  std::vector<double> acc(gposes ? items * d.S * math::kWarpAcc : 0, 0.0);
  parallel_for(items, [&](int64_t it) {
    const int64_t b = it / d.H;
    const int y = (int)(it % d.H);
    const T* drow = depth + b * plane + (int64_t)y * d.W;
    T* gdrow = gdepth ? gdepth + b * plane + (int64_t)y * d.W : nullptr;
    if (gdrow)
      for (int x = 0; x < (int)d.W; ++x) gdrow[x] = T(0);
    for (int64_t s = 0; s < d.S; ++s) {
      const int64_t bs = b * d.S + s;
      math::PhotometricView<T> pv{&Mm[12 * bs], &Mm[12 * bs + 9], tgt + b * d.C * plane, srcs + bs * d.C * plane,
                                  (int)d.C, (int)d.H, (int)d.W, opt.padding, opt.keep_out_of_view};
      const T* mrow = mask ? mask + bs * plane + (int64_t)y * d.W : nullptr;
      T* gmrow = gmask ? gmask + bs * plane + (int64_t)y * d.W : nullptr;
      double a[math::kWarpAcc] = {};  // local: kept in registers across the row
      for (int x = 0; x < (int)d.W; ++x) {
        T gm;
        T gd = math::photometric_pixel_backward(pv, x, y, drow[x], mrow ? mrow[x] : T(1), g, &gm, a);
        if (gdrow) gdrow[x] += gd;
        if (gmrow) gmrow[x] = gm;
      }
      if (gposes)
        for (int k = 0; k < math::kWarpAcc; ++k) acc[(it * d.S + s) * math::kWarpAcc + k] = a[k];
    }
  }, grain_for(items, d.B * d.S * d.C * plane));
  if (gposes) {
    for (int64_t b = 0; b < d.B; ++b)
      for (int64_t s = 0; s < d.S; ++s) {
        double sum[math::kWarpAcc] = {};
        for (int64_t y = 0; y < d.H; ++y)  // fixed order
          for (int k = 0; k < math::kWarpAcc; ++k) sum[k] += acc[((b * d.H + y) * d.S + s) * math::kWarpAcc + k];
        pose_grad(opt.rotation, poses + 6 * (b * d.S + s), K + 9 * b, sum, gposes + 6 * (b * d.S + s));
      }
  }
}

#define SFM_INSTANTIATE_WARP(T)                                                                                   \
  template void pose_vec2mat_forward<T>(const T*, int64_t, RotationMode, T*);                                     \
  template void pose_vec2mat_backward<T>(const T*, const T*, int64_t, RotationMode, T*);                          \
  template void inverse_warp_forward<T>(const T*, const T*, const T*, const T*, WarpDims, Padding, RotationMode, T*, \
                                        T*);                                                                      \
  template void inverse_warp_backward<T>(const T*, const T*, const T*, const T*, WarpDims, Padding, RotationMode,  \
                                         const T*, T*, T*, T*);                                                   \
  template double photometric_forward<T>(const T*, const T*, const T*, const T*, const T*, const T*,              \
                                         PhotometricDims, const PhotometricOptions&, T*);                         \
  template void photometric_backward<T>(const T*, const T*, const T*, const T*, const T*, const T*,               \
                                        PhotometricDims, const PhotometricOptions&, T, T*, T*, T*);
SFM_INSTANTIATE_WARP(float)
SFM_INSTANTIATE_WARP(double)
#undef SFM_INSTANTIATE_WARP

}  // namespace sfm::cpu
