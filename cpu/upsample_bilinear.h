#pragma once
// CPU loops of upsample_bilinear (bilinear resize to any size, align_corners=False) over the
// planes of an NCHW tensor. Taps: boundary/math/upsample_bilinear_math.h. The backward is the
// separable gather of cpu/resample.h (along x into a temporary, then along y), so every
// gradient element is written by one thread, in a fixed order. Same signatures as the CUDA
// launchers (kernels/upsample_bilinear.h).
#include <cstdint>
#include <vector>

#include "cpu/resample.h"
#include "boundary/math/upsample_bilinear_math.h"

namespace sfm::cpu {

namespace detail {
template <class T>
Axis<T> resize_bilinear_axis(int64_t n_in, int64_t n_out) {
  return Axis<T>(
      n_in, n_out, [n_in, n_out](int64_t i, int64_t& lo, int64_t& hi) { math::resize_bilinear_readers(i, n_in, n_out, lo, hi); },
      [n_in, n_out](int64_t o, int64_t i) { return math::resize_bilinear_weight<T>(o, i, n_in, n_out); });
}
}  // namespace detail

// y [planes, Ho, Wo] = bilinear resize of x [planes, H, W].
template <class T>
void upsample_bilinear_forward(const T* x, T* y, int64_t planes, int64_t H, int64_t W, int64_t Ho, int64_t Wo) {
  std::vector<int64_t> xi0(Wo), xi1(Wo);
  std::vector<T> xw0(Wo), xw1(Wo);
  for (int64_t ox = 0; ox < Wo; ++ox) math::resize_bilinear_taps(ox, W, Wo, xi0[ox], xi1[ox], xw0[ox], xw1[ox]);
  detail::for_rows(planes * Ho, Wo, [&](int64_t r) {
    const int64_t p = r / Ho, oy = r % Ho;
    int64_t y0, y1;
    T wy0, wy1;
    math::resize_bilinear_taps(oy, H, Ho, y0, y1, wy0, wy1);
    const T* r0 = x + (p * H + y0) * W;
    const T* r1 = x + (p * H + y1) * W;
    T* out = y + r * Wo;
    for (int64_t ox = 0; ox < Wo; ++ox)
      out[ox] = wy0 * (xw0[ox] * r0[xi0[ox]] + xw1[ox] * r0[xi1[ox]]) +
                wy1 * (xw0[ox] * r1[xi0[ox]] + xw1[ox] * r1[xi1[ox]]);
  });
}

// gx [planes, H, W] = the adjoint of upsample_bilinear_forward applied to g [planes, Ho, Wo].
template <class T>
void upsample_bilinear_backward(const T* g, T* gx, int64_t planes, int64_t H, int64_t W, int64_t Ho, int64_t Wo) {
  detail::separable_adjoint(g, gx, planes, detail::resize_bilinear_axis<T>(H, Ho), detail::resize_bilinear_axis<T>(W, Wo));
}

}  // namespace sfm::cpu
