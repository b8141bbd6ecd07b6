#pragma once
// CPU resampling loops over planes (the N*C images of an NCHW tensor). Weights come from
// boundary/math/resample_math.h. The backward passes are separable gathers (along x into a
// temporary, then along y), so every gradient element is written by one thread in a fixed order.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "boundary/math/resample_math.h"
#include "cpu/parallel.h"

namespace sfm::cpu {

namespace detail {
// parallel_for over `rows` rows of `row_len` elements; one thread when the whole job is small.
template <class F>
void for_rows(int64_t rows, int64_t row_len, F&& f) {
  parallel_for(rows, f, rows * row_len < kParallelGrain ? rows + 1 : 1);
}

// One axis of a linear resampling, stored for the adjoint: input i is read by outputs
// [lo[i], hi[i]) with weights w[i * span + (o - lo[i])] = weight(o, i).
template <class T>
struct Axis {
  int64_t n_in, n_out;
  std::vector<int64_t> lo, hi;  // readers of each input
  std::vector<T> w;             // w[i * span + (o - lo[i])]
  int64_t span = 0;
  template <class Readers, class Weight>
  Axis(int64_t n_in_, int64_t n_out_, Readers readers, Weight weight) : n_in(n_in_), n_out(n_out_), lo(n_in_), hi(n_in_) {
    for (int64_t i = 0; i < n_in; ++i) {
      readers(i, lo[i], hi[i]);
      span = std::max(span, hi[i] - lo[i]);
    }
    w.assign(n_in * span, T(0));
    for (int64_t i = 0; i < n_in; ++i)
      for (int64_t o = lo[i]; o < hi[i]; ++o) w[i * span + (o - lo[i])] = weight(o, i);
  }
};

// Adjoint of a separable resampling of `planes` planes [H,W] -> [h,w]: gx = Ay^T g Ax.
template <class T>
void separable_adjoint(const T* g, T* gx, int64_t planes, const Axis<T>& ay, const Axis<T>& ax) {
  const int64_t H = ay.n_in, h = ay.n_out, W = ax.n_in, w = ax.n_out;
  std::unique_ptr<T[]> t(new T[planes * h * W]);
  T* tp = t.get();
  for_rows(planes * h, W + w, [&](int64_t r) {  // along x: t[p,oy,:] = Ax^T g[p,oy,:]
    const T* gr = g + r * w;
    T* tr = tp + r * W;
    for (int64_t ix = 0; ix < W; ++ix) {
      const T* wi = ax.w.data() + ix * ax.span;  // wi[j]: output lo + j
      const int64_t lo = ax.lo[ix], n = ax.hi[ix] - lo;
      T acc = T(0);
      for (int64_t j = 0; j < n; ++j) acc += wi[j] * gr[lo + j];
      tr[ix] = acc;
    }
  });
  for_rows(planes * H, W * 4, [&](int64_t r) {  // along y: gx[p,iy,:] = sum_oy Ay[oy,iy] t[p,oy,:]
    const int64_t p = r / H, iy = r % H;
    T* out = gx + r * W;
    std::fill(out, out + W, T(0));
    const T* wi = ay.w.data() + iy * ay.span;
    for (int64_t oy = ay.lo[iy]; oy < ay.hi[iy]; ++oy) {
      const T wv = wi[oy - ay.lo[iy]];
      if (wv == T(0)) continue;
      const T* tr = tp + (p * h + oy) * W;
      for (int64_t ix = 0; ix < W; ++ix) out[ix] += wv * tr[ix];
    }
  });
}

template <class T>
Axis<T> upsample2x_axis(int64_t n) {
  return Axis<T>(n, 2 * n, [n](int64_t i, int64_t& lo, int64_t& hi) { math::upsample2x_readers(i, n, lo, hi); },
                 [n](int64_t o, int64_t i) { return math::upsample2x_weight<T>(o, i, n); });
}
template <class T>
Axis<T> area_axis(int64_t n, int64_t m) {
  return Axis<T>(n, m, [n, m](int64_t i, int64_t& lo, int64_t& hi) { math::area_readers(i, n, m, lo, hi); },
                 [n, m](int64_t o, int64_t i) { return math::area_weight<T>(o, i, n, m); });
}
}  // namespace detail

// y [planes, 2H, 2W] = bilinear x2 upsampling (align_corners=False) of x [planes, H, W].
template <class T>
void upsample2x_forward(const T* x, T* y, int64_t planes, int64_t H, int64_t W) {
  const int64_t Ho = 2 * H, Wo = 2 * W;
  std::vector<int64_t> xi0(Wo), xi1(Wo);
  std::vector<T> xw0(Wo), xw1(Wo);
  for (int64_t ox = 0; ox < Wo; ++ox) math::upsample2x_taps(ox, W, xi0[ox], xi1[ox], xw0[ox], xw1[ox]);
  detail::for_rows(planes * Ho, Wo, [&](int64_t r) {
    const int64_t p = r / Ho, oy = r % Ho;
    int64_t y0, y1;
    T wy0, wy1;
    math::upsample2x_taps(oy, H, y0, y1, wy0, wy1);
    const T* r0 = x + (p * H + y0) * W;
    const T* r1 = x + (p * H + y1) * W;
    T* out = y + r * Wo;
    for (int64_t ox = 0; ox < Wo; ++ox)
      out[ox] = wy0 * (xw0[ox] * r0[xi0[ox]] + xw1[ox] * r0[xi1[ox]]) +
                wy1 * (xw0[ox] * r1[xi0[ox]] + xw1[ox] * r1[xi1[ox]]);
  });
}
// gx [planes, H, W] = adjoint of upsample2x_forward applied to g [planes, 2H, 2W].
template <class T>
void upsample2x_backward(const T* g, T* gx, int64_t planes, int64_t H, int64_t W) {
  detail::separable_adjoint(g, gx, planes, detail::upsample2x_axis<T>(H), detail::upsample2x_axis<T>(W));
}

// y [planes, h, w]: each output the mean of its adaptive-average-pool bin of x [planes, H, W].
template <class T>
void area_forward(const T* x, T* y, int64_t planes, int64_t H, int64_t W, int64_t h, int64_t w) {
  if (H % h == 0 && W % w == 0) {  // integer factors: sum fy input rows, then groups of fx (vectorised)
    const int64_t fy = H / h, fx = W / w;
    const T area = T(fy * fx);
    detail::for_rows(planes * h, W * fy, [&](int64_t r) {
      thread_local std::vector<T> acc;
      acc.assign(W, T(0));
      const T* xr = x + ((r / h) * H + (r % h) * fy) * W;
      for (int64_t i = 0; i < fy; ++i)
        for (int64_t ix = 0; ix < W; ++ix) acc[ix] += xr[i * W + ix];
      T* out = y + r * w;
      for (int64_t ox = 0; ox < w; ++ox) {
        T v = T(0);
        for (int64_t j = 0; j < fx; ++j) v += acc[ox * fx + j];
        out[ox] = v / area;
      }
    });
    return;
  }
  std::vector<int64_t> xs(w), xe(w);
  for (int64_t ox = 0; ox < w; ++ox) {
    xs[ox] = math::area_start(ox, W, w);
    xe[ox] = math::area_end(ox, W, w);
  }
  detail::for_rows(planes * h, W * ((H + h - 1) / h), [&](int64_t r) {
    const int64_t p = r / h, oy = r % h;
    const int64_t y0 = math::area_start(oy, H, h), y1 = math::area_end(oy, H, h);
    const T* xp = x + p * H * W;
    T* out = y + r * w;
    for (int64_t ox = 0; ox < w; ++ox) {
      const int64_t x0 = xs[ox], x1 = xe[ox];
      T acc = T(0);
      for (int64_t iy = y0; iy < y1; ++iy)
        for (int64_t ix = x0; ix < x1; ++ix) acc += xp[iy * W + ix];
      out[ox] = acc / T((y1 - y0) * (x1 - x0));
    }
  });
}
// gx [planes, H, W] = adjoint of area_forward applied to g [planes, h, w].
template <class T>
void area_backward(const T* g, T* gx, int64_t planes, int64_t H, int64_t W, int64_t h, int64_t w) {
  detail::separable_adjoint(g, gx, planes, detail::area_axis<T>(H, h), detail::area_axis<T>(W, w));
}

}  // namespace sfm::cpu
