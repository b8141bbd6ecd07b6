#pragma once
// Per-pixel weights of the resampling ops, shared by the CPU loops (cpu/resample.h) and
// the CUDA kernels. Every function works on one axis; 2-d resampling is separable.
#include <cstdint>

#include "boundary/host_device.h"

namespace sfm::math {

// ---------------------------------------------------------------- bilinear x2, align_corners=False
// Output o (of 2 n_in) samples the input at src = (o + 0.5)/2 - 0.5, clamped below at 0 (as
// PyTorch's area_pixel_compute_source_index), between i0 = floor(src) and i1 = i0 + 1 (i0 at
// the last pixel) with weights w0 = 1 - (src - i0), w1 = src - i0.
template <class T>
SFM_HD void upsample2x_taps(int64_t o, int64_t n_in, int64_t& i0, int64_t& i1, T& w0, T& w1) {
  T src = (T(o) + T(0.5)) * T(0.5) - T(0.5);
  if (src < T(0)) src = T(0);
  i0 = int64_t(src);
  if (i0 > n_in - 1) i0 = n_in - 1;
  i1 = i0 < n_in - 1 ? i0 + 1 : i0;
  w1 = src - T(i0);
  w0 = T(1) - w1;
}
// The weight with which output o reads input i (both taps when they coincide at the edge).
template <class T>
SFM_HD T upsample2x_weight(int64_t o, int64_t i, int64_t n_in) {
  int64_t i0, i1;
  T w0, w1;
  upsample2x_taps(o, n_in, i0, i1, w0, w1);
  return (i0 == i ? w0 : T(0)) + (i1 == i ? w1 : T(0));
}
// The outputs [lo, hi) that may read input i (a superset; weights outside are 0).
SFM_HD void upsample2x_readers(int64_t i, int64_t n_in, int64_t& lo, int64_t& hi) {
  lo = 2 * i - 1 < 0 ? 0 : 2 * i - 1;
  hi = 2 * i + 3 > 2 * n_in ? 2 * n_in : 2 * i + 3;
}

// ---------------------------------------------------------------- area (adaptive average pooling)
// Output o of n_out averages inputs [floor(o n_in / n_out), ceil((o+1) n_in / n_out)).
SFM_HD int64_t area_start(int64_t o, int64_t n_in, int64_t n_out) { return (o * n_in) / n_out; }
SFM_HD int64_t area_end(int64_t o, int64_t n_in, int64_t n_out) { return ((o + 1) * n_in + n_out - 1) / n_out; }
// The outputs [lo, hi) whose bins contain input i: floor(i n_out / n_in) <= o < ceil((i+1) n_out / n_in).
SFM_HD void area_readers(int64_t i, int64_t n_in, int64_t n_out, int64_t& lo, int64_t& hi) {
  lo = (i * n_out) / n_in;
  hi = ((i + 1) * n_out + n_in - 1) / n_in;
  if (hi > n_out) hi = n_out;
}
// The weight with which output o reads input i: 1/len of its bin, 0 outside it.
template <class T>
SFM_HD T area_weight(int64_t o, int64_t i, int64_t n_in, int64_t n_out) {
  const int64_t b = area_start(o, n_in, n_out), e = area_end(o, n_in, n_out);
  return (i >= b && i < e) ? T(1) / T(e - b) : T(0);
}

}  // namespace sfm::math
