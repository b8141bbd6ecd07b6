// CPU loops of edge_aware_smoothness; the arithmetic is boundary/math/edge_smoothness_math.h.
#include "cpu/edge_smoothness.h"

#include <vector>

#include "boundary/math/edge_smoothness_math.h"
#include "cpu/parallel.h"

namespace sfm::cpu {

namespace {
int64_t grain_for(int64_t items, int64_t work) { return work < kParallelGrain ? items + 1 : 1; }
}  // namespace

template <class T>
void edge_smoothness_forward(const T* disp, const T* img, int64_t B, int64_t C, int64_t H, int64_t W, T* stats,
                             T* loss) {
  const int64_t hw = H * W, rows = B * H;
  const int64_t grain = grain_for(rows, B * (C + 1) * hw);
  // Means: row sums in double, added in row order per entry, scaled by 1/hw (as the CUDA
  // segmented sum does), rounded to T once.
  std::vector<double> part(rows, 0.0);
  parallel_for(rows, [&](int64_t r) {
    const T* d = disp + r * W;
    double s = 0;
    for (int64_t x = 0; x < W; ++x) s += (double)d[x];
    part[r] = s;
  }, grain);
  for (int64_t b = 0; b < B; ++b) {
    double s = 0;
    for (int64_t y = 0; y < H; ++y) s += part[b * H + y];
    stats[b] = T(s * (1.0 / (double)hw));
  }
  // Edge terms: each row's x and y edges in double, rows in order.
  std::vector<double> px(rows, 0.0), py(rows, 0.0);
  parallel_for(rows, [&](int64_t r) {
    const int64_t b = r / H;
    const int y = (int)(r % H);
    const T den = math::edge_smooth_den(stats[b]);
    double sx = 0, sy = 0;
    for (int x = 0; x < (int)W; ++x) {
      T tx, ty;
      math::edge_smooth_terms_at(disp + b * hw, img + b * C * hw, C, (int)H, (int)W, y, x, den, tx, ty);
      sx += (double)tx;
      sy += (double)ty;
    }
    px[r] = sx;
    py[r] = sy;
  }, grain);
  double ax, ay;
  math::edge_smooth_inv_counts(B, H, W, ax, ay);
  double total = 0;
  for (int64_t b = 0; b < B; ++b) {
    double sx = 0, sy = 0;
    for (int64_t y = 0; y < H; ++y) sx += px[b * H + y], sy += py[b * H + y];
    const double Lb = ax * sx + ay * sy;
    stats[B + b] = T(Lb);
    total += Lb;
  }
  loss[0] = T(total);
}

template <class T>
void edge_smoothness_backward(const T* disp, const T* img, const T* stats, int64_t B, int64_t C, int64_t H, int64_t W,
                              const T* g, T* gdisp) {
  const int64_t hw = H * W, rows = B * H;
  double ax, ay;
  math::edge_smooth_inv_counts(B, H, W, ax, ay);
  const T tax = T(ax), tay = T(ay), gs = g[0];
  parallel_for(rows, [&](int64_t r) {
    const int64_t b = r / H;
    const int y = (int)(r % H);
    const T den = math::edge_smooth_den(stats[b]), Lb = stats[B + b];
    T* out = gdisp + r * W;
    for (int x = 0; x < (int)W; ++x)
      out[x] = math::edge_smooth_grad_at(disp + b * hw, img + b * C * hw, C, (int)H, (int)W, y, x, den, tax, tay, Lb, gs);
  }, grain_for(rows, B * (C + 1) * hw * 4));
}

#define SFM_INSTANTIATE_EDGE_SMOOTHNESS(T)                                                                         \
  template void edge_smoothness_forward<T>(const T*, const T*, int64_t, int64_t, int64_t, int64_t, T*, T*);         \
  template void edge_smoothness_backward<T>(const T*, const T*, const T*, int64_t, int64_t, int64_t, int64_t,       \
                                            const T*, T*);
SFM_INSTANTIATE_EDGE_SMOOTHNESS(float)
SFM_INSTANTIATE_EDGE_SMOOTHNESS(double)
#undef SFM_INSTANTIATE_EDGE_SMOOTHNESS

}  // namespace sfm::cpu
