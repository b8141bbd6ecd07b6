// CPU loops of min_reprojection_loss; the arithmetic is boundary/math/min_reprojection_math.h.
#include "cpu/min_reprojection.h"

#include <vector>

#include "boundary/math/min_reprojection_math.h"
#include "cpu/parallel.h"

namespace sfm::cpu {

namespace {

// parallel_for runs serially below its grain: small problems stay on one thread. Each pixel
// costs about 9 S projections and 9 S C samples (more in the backward), so count that work.
int64_t grain_for(int64_t items, int64_t work) { return work < kParallelGrain ? items + 1 : 1; }

// (M, m) of every (b, s) pair: pose b*S + s with K[b].
template <class T> std::vector<T> setup_pairs(const T* poses, const T* K, int64_t B, int64_t S, RotationMode mode) {
  std::vector<T> Mm(B * S * 12);
  for (int64_t i = 0; i < B * S; ++i) math::warp_setup(mode, poses + 6 * i, K + 9 * (i / S), &Mm[12 * i], &Mm[12 * i + 9]);
  return Mm;
}

template <class T>
math::ReprojectionView<T> view_of(const T* tgt, const T* srcs, const T* depth, const std::vector<T>& Mm,
                                  MinReprojectionDims d, const MinReprojectionOptions& opt, int64_t b) {
  const int64_t plane = d.H * d.W;
  return math::ReprojectionView<T>{&Mm[12 * b * d.S], tgt + b * d.C * plane, srcs + b * d.S * d.C * plane,
                                   depth + b * plane, (int)d.S, (int)d.C, (int)d.H, (int)d.W, b, opt};
}

}  // namespace

template <class T>
void min_reprojection_forward(const T* tgt, const T* srcs, const T* depth, const T* poses, const T* K,
                              MinReprojectionDims d, const MinReprojectionOptions& opt, T* loss, T* chosen,
                              T* warped) {
  const int64_t plane = d.H * d.W, items = d.B * d.H;
  std::vector<T> Mm = setup_pairs(poses, K, d.B, d.S, opt.rotation);
  std::vector<double> part(items, 0.0);
  parallel_for(items, [&](int64_t it) {
    const int64_t b = it / d.H;
    const int y = (int)(it % d.H);
    const math::ReprojectionView<T> v = view_of(tgt, srcs, depth, Mm, d, opt, b);
    T* crow = chosen + b * plane + (int64_t)y * d.W;
    T* wb = warped ? warped + b * d.S * d.C * plane : nullptr;
    double row = 0;
    for (int x = 0; x < (int)d.W; ++x) row += (double)math::min_reprojection_pixel_forward(v, x, y, crow + x, wb);
    part[it] = row;
  }, grain_for(items, 10 * d.B * d.S * d.C * plane));
  double total = 0;
  for (double p : part) total += p;  // fixed order
  loss[0] = T(total / (double)(d.B * plane));
}

template <class T>
void min_reprojection_backward(const T* tgt, const T* srcs, const T* depth, const T* poses, const T* K,
                               const T* chosen, MinReprojectionDims d, const MinReprojectionOptions& opt,
                               const T* gscale, T* gdepth, T* gposes) {
  if (!gdepth && !gposes) return;
  const int64_t plane = d.H * d.W, items = d.B * d.H;
  const T g = T((double)gscale[0] / (double)(d.B * plane));
  std::vector<T> Mm = setup_pairs(poses, K, d.B, d.S, opt.rotation);
  std::vector<double> acc(gposes ? items * d.S * math::kWarpAcc : 0, 0.0);  // per (b, row, s)
  parallel_for(items, [&](int64_t it) {
    const int64_t b = it / d.H;
    const int y = (int)(it % d.H);
    const math::ReprojectionView<T> v = view_of(tgt, srcs, depth, Mm, d, opt, b);
    const T* cb = chosen + b * plane;
    T* gdrow = gdepth ? gdepth + b * plane + (int64_t)y * d.W : nullptr;
    if (gdrow)
      for (int x = 0; x < (int)d.W; ++x) gdrow[x] = T(0);
    for (int s = 0; s < (int)d.S; ++s) {
      double a[math::kWarpAcc] = {};
      for (int x = 0; x < (int)d.W; ++x) {
        const T gd = math::min_reprojection_pixel_backward(v, s, x, y, cb, g, a);
        if (gdrow) gdrow[x] += gd;
      }
      if (gposes)
        for (int k = 0; k < math::kWarpAcc; ++k) acc[(it * d.S + s) * math::kWarpAcc + k] = a[k];
    }
  }, grain_for(items, 40 * d.B * d.S * d.C * plane));
  if (!gposes) return;
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t s = 0; s < d.S; ++s) {
      double sum[math::kWarpAcc] = {};
      for (int64_t y = 0; y < d.H; ++y)  // fixed order
        for (int k = 0; k < math::kWarpAcc; ++k) sum[k] += acc[((b * d.H + y) * d.S + s) * math::kWarpAcc + k];
      const int64_t i = b * d.S + s;
      double p[6], k9[9], gp[6];
      for (int j = 0; j < 6; ++j) p[j] = poses[6 * i + j];
      for (int j = 0; j < 9; ++j) k9[j] = K[9 * b + j];
      math::warp_pose_backward(opt.rotation, p, k9, sum, gp);
      for (int j = 0; j < 6; ++j) gposes[6 * i + j] = T(gp[j]);
    }
}

#define SFM_INSTANTIATE_MIN_REPROJECTION(T)                                                                      \
  template void min_reprojection_forward<T>(const T*, const T*, const T*, const T*, const T*, MinReprojectionDims, \
                                            const MinReprojectionOptions&, T*, T*, T*);                          \
  template void min_reprojection_backward<T>(const T*, const T*, const T*, const T*, const T*, const T*,          \
                                             MinReprojectionDims, const MinReprojectionOptions&, const T*, T*, T*);
SFM_INSTANTIATE_MIN_REPROJECTION(float)
SFM_INSTANTIATE_MIN_REPROJECTION(double)
#undef SFM_INSTANTIATE_MIN_REPROJECTION

}  // namespace sfm::cpu
