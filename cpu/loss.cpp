// CPU loops of the regularisers; the arithmetic is boundary/math/loss_math.h.
#include "cpu/loss.h"

#include <vector>

#include "boundary/math/loss_math.h"
#include "cpu/parallel.h"

namespace sfm::cpu {

namespace {

constexpr int64_t kChunk = 4096;

int64_t grain_for(int64_t items, int64_t work) { return work < kParallelGrain ? items + 1 : 1; }

// Deterministic sum of f(i) over [0, n): fixed chunks in double, chunk sums added in order.
template <class F> double chunked_sum(int64_t n, F f) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(chunks, 0.0);
  parallel_for(chunks, [&](int64_t c) {
    const int64_t b = c * kChunk, e = b + kChunk < n ? b + kChunk : n;
    double s = 0;
    for (int64_t i = b; i < e; ++i) s += f(i);
    part[c] = s;
  }, grain_for(chunks, n));
  double s = 0;
  for (double p : part) s += p;
  return s;
}

}  // namespace

template <class T> void smoothness_forward(const T* x, int64_t planes, int64_t H, int64_t W, double sums[4]) {
  const int64_t items = planes * H;
  std::vector<double> part(items * math::kSmoothTerms, 0.0);
  parallel_for(items, [&](int64_t it) {
    const int64_t pl = it / H;
    const int y = (int)(it % H);
    double* s = &part[it * math::kSmoothTerms];
    const T* p = x + pl * H * W;
    for (int xx = 0; xx < (int)W; ++xx) math::smooth_forward_at(p, (int)H, (int)W, y, xx, s);
  }, grain_for(items, planes * H * W));
  for (int k = 0; k < math::kSmoothTerms; ++k) sums[k] = 0;
  for (int64_t it = 0; it < items; ++it)  // fixed order
    for (int k = 0; k < math::kSmoothTerms; ++k) sums[k] += part[it * math::kSmoothTerms + k];
}

template <class T>
void smoothness_backward(const T* x, int64_t planes, int64_t H, int64_t W, const double coef[4], T* gx) {
  const T c[4] = {T(coef[0]), T(coef[1]), T(coef[2]), T(coef[3])};
  const int64_t items = planes * H;
  parallel_for(items, [&](int64_t it) {
    const int64_t pl = it / H;
    const int y = (int)(it % H);
    const T* p = x + pl * H * W;
    T* g = gx + pl * H * W + (int64_t)y * W;
    for (int xx = 0; xx < (int)W; ++xx) g[xx] = math::smooth_backward_at(p, (int)H, (int)W, y, xx, c);
  }, grain_for(items, planes * H * W));
}

template <class T> double explainability_forward(const T* m, int64_t n) {
  return chunked_sum(n, [&](int64_t i) { return (double)math::bce_ones(m[i]); });
}
template <class T> void explainability_backward(const T* m, int64_t n, T g, T* gm) {
  parallel_for(n, [&](int64_t i) { gm[i] = g * math::bce_ones_grad(m[i]); });
}

template <class T> double softmax_ce_forward(const T* logits, int64_t B, int64_t S, int64_t hw) {
  // element i of the [B, S, hw] pair grid: l0 at (b, 2s, p), l1 at (b, 2s+1, p).
  return chunked_sum(B * S * hw, [&](int64_t i) {
    const int64_t bs = i / hw, p = i % hw;
    const T* l0 = logits + 2 * bs * hw;
    return (double)math::pair_ce(l0[p], l0[hw + p]);
  });
}
template <class T> void softmax_ce_backward(const T* logits, int64_t B, int64_t S, int64_t hw, T g, T* gl) {
  parallel_for(B * S * hw, [&](int64_t i) {
    const int64_t bs = i / hw, p = i % hw;
    const T* l0 = logits + 2 * bs * hw;
    T* g0 = gl + 2 * bs * hw;
    math::pair_ce_grad(l0[p], l0[hw + p], g, g0[p], g0[hw + p]);
  });
}
template <class T> void pairs_mask_forward(const T* logits, int64_t B, int64_t S, int64_t hw, T* mask) {
  parallel_for(B * S * hw, [&](int64_t i) {
    const int64_t bs = i / hw, p = i % hw;
    const T* l0 = logits + 2 * bs * hw;
    mask[i] = math::pair_mask(l0[p], l0[hw + p]);
  });
}
template <class T> void pairs_mask_backward(const T* y, const T* gy, int64_t B, int64_t S, int64_t hw, T* gl) {
  parallel_for(B * S * hw, [&](int64_t i) {
    const int64_t bs = i / hw, p = i % hw;
    T* g0 = gl + 2 * bs * hw;
    math::pair_mask_grad(y[i], gy[i], g0[p], g0[hw + p]);
  });
}

#define SFM_INSTANTIATE_LOSS(T)                                                                       \
  template void smoothness_forward<T>(const T*, int64_t, int64_t, int64_t, double*);                  \
  template void smoothness_backward<T>(const T*, int64_t, int64_t, int64_t, const double*, T*);       \
  template double explainability_forward<T>(const T*, int64_t);                                       \
  template void explainability_backward<T>(const T*, int64_t, T, T*);                                 \
  template double softmax_ce_forward<T>(const T*, int64_t, int64_t, int64_t);                         \
  template void softmax_ce_backward<T>(const T*, int64_t, int64_t, int64_t, T, T*);                   \
  template void pairs_mask_forward<T>(const T*, int64_t, int64_t, int64_t, T*);                       \
  template void pairs_mask_backward<T>(const T*, const T*, int64_t, int64_t, int64_t, T*);
SFM_INSTANTIATE_LOSS(float)
SFM_INSTANTIATE_LOSS(double)
#undef SFM_INSTANTIATE_LOSS

}  // namespace sfm::cpu
