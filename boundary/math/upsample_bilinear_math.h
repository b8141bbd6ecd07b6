#pragma once
// Per-axis taps of upsample_bilinear (bilinear resize to any size, align_corners=False, as
// PyTorch's F.interpolate(size=...)), shared by the CPU loops (cpu/upsample_bilinear.h)
// and the CUDA kernels (kernels/upsample_bilinear_kernels.h). 2-d resizing is separable: the
// output (oy, ox) reads rows y0, y1 and columns x0, x1 with weights wy * wx.
#include <cstdint>

#include "boundary/host_device.h"

namespace sfm::math {

// Output o of n_out samples the input (n_in) at src = scale (o + 0.5) - 0.5, scale = n_in / n_out
// (PyTorch's area_pixel_compute_scale without a scale factor: the ratio of the sizes, in T),
// clamped below at 0 (area_pixel_compute_source_index), between i0 = floor(src) (at most the last
// pixel) and i1 = i0 + 1 (i0 itself at the last pixel), weights w0 = 1 - (src - i0), w1 = src - i0.
template <class T>
SFM_HD void resize_bilinear_taps(int64_t o, int64_t n_in, int64_t n_out, int64_t& i0, int64_t& i1, T& w0, T& w1) {
  const T scale = T(n_in) / T(n_out);
  T src = scale * (T(o) + T(0.5)) - T(0.5);
  if (src < T(0)) src = T(0);
  i0 = int64_t(src);  // src >= 0: truncation is floor
  if (i0 > n_in - 1) i0 = n_in - 1;
  i1 = i0 < n_in - 1 ? i0 + 1 : i0;
  T l = src - T(i0);
  if (l > T(1)) l = T(1);  // (src < n_in - 0.5 always; kept as PyTorch's guard)
  w1 = l;
  w0 = T(1) - l;
}

// The weight with which output o reads input i (both taps when they coincide at the last pixel).
template <class T>
SFM_HD T resize_bilinear_weight(int64_t o, int64_t i, int64_t n_in, int64_t n_out) {
  int64_t i0, i1;
  T w0, w1;
  resize_bilinear_taps(o, n_in, n_out, i0, i1, w0, w1);
  return (i0 == i ? w0 : T(0)) + (i1 == i ? w1 : T(0));
}

namespace resize_detail {
SFM_HD int64_t floor_div(int64_t a, int64_t b) {  // b > 0
  const int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}
}  // namespace resize_detail

// The outputs [lo, hi) that may read input i: a superset, in exact integer arithmetic, of those
// with i - 1 <= src(o) < i + 1, i.e. (i - 0.5) n_out / n_in - 0.5 <= o < (i + 1.5) n_out / n_in - 0.5,
// widened by one output on each side for the rounding of src in T. Weights outside are 0.
SFM_HD void resize_bilinear_readers(int64_t i, int64_t n_in, int64_t n_out, int64_t& lo, int64_t& hi) {
  lo = resize_detail::floor_div((2 * i - 1) * n_out - n_in, 2 * n_in) - 1;
  hi = resize_detail::floor_div((2 * i + 3) * n_out - n_in, 2 * n_in) + 2;
  if (lo < 0) lo = 0;
  if (hi > n_out) hi = n_out;
  if (hi < lo) hi = lo;
}

}  // namespace sfm::math
