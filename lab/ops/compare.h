#pragma once
// The one comparison rule of the tests, `sfm selftest` and the benchmarks' error columns.
//
//   max_rel_err(got, ref) = max_i |got_i - ref_i| / max_i |ref_i|   (absolute when ref is all 0)
//   l2_rel_err(got, ref)  = ||got - ref||_2 / ||ref||_2              (absolute when ref is all 0)
//
// Both are NaN when the sizes differ or any element of got or ref is not finite, so a
// NaN-poisoned element that an op never wrote fails every bound (NaN <= tol is false).
// max_rel_err is the per-element rule (one wrong element shows at its own size); l2_rel_err
// is for sums over many tensors whose individual elements are not smooth functions of the
// rounding (model gradients, see tests/model_parity.h). Tolerances are stated where each
// comparison is made, with the reason for each.
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "engine/tensor.h"

namespace sfm::lab {

template <class G, class R>
double max_rel_err(const G* got, const R* ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    const double g = (double)got[i], r = (double)ref[i];
    if (!std::isfinite(g) || !std::isfinite(r)) return std::numeric_limits<double>::quiet_NaN();
    num = std::max(num, std::fabs(g - r));
    den = std::max(den, std::fabs(r));
  }
  return den > 0 ? num / den : num;
}
template <class G, class R>
double l2_rel_err(const G* got, const R* ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    const double g = (double)got[i], r = (double)ref[i];
    if (!std::isfinite(g) || !std::isfinite(r)) return std::numeric_limits<double>::quiet_NaN();
    num += (g - r) * (g - r);
    den += r * r;
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

template <class G, class R>
double max_rel_err(const std::vector<G>& got, const std::vector<R>& ref) {
  if (got.size() != ref.size()) return std::numeric_limits<double>::quiet_NaN();
  return max_rel_err(got.data(), ref.data(), got.size());
}
template <class G, class R>
double l2_rel_err(const std::vector<G>& got, const std::vector<R>& ref) {
  if (got.size() != ref.size()) return std::numeric_limits<double>::quiet_NaN();
  return l2_rel_err(got.data(), ref.data(), got.size());
}
// Tensors on any device and of either float type (copied to the host in float64); NaN when
// either is undefined or their element counts differ.
inline double max_rel_err(const Tensor& got, const Tensor& ref) {
  if (!got.defined() || !ref.defined()) return std::numeric_limits<double>::quiet_NaN();
  return max_rel_err(got.to_vector_f64(), ref.to_vector_f64());
}
template <class R>
double max_rel_err(const Tensor& got, const std::vector<R>& ref) {
  if (!got.defined()) return std::numeric_limits<double>::quiet_NaN();
  return max_rel_err(got.to_vector_f64(), ref);
}
inline double l2_rel_err(const Tensor& got, const Tensor& ref) {
  if (!got.defined() || !ref.defined()) return std::numeric_limits<double>::quiet_NaN();
  return l2_rel_err(got.to_vector_f64(), ref.to_vector_f64());
}

}  // namespace sfm::lab
