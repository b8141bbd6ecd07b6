#pragma once
// Tensor comparisons the op tests share (in float64 whatever the tensors' dtype): the largest
// magnitude, the largest elementwise difference, and L2 norms. The tolerance rules themselves
// live in lab/ops/compare.h; these are the raw measures the tests print and bound.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/tensor.h"

namespace sfm::test {

inline double max_abs(const Tensor& a) {
  double m = 0;
  for (double v : a.to_vector_f64()) m = std::max(m, std::fabs(v));
  return m;
}
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const std::vector<double> x = a.to_vector_f64(), y = b.to_vector_f64();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::fabs(x[i] - y[i]));
  return m;
}
inline double l2(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}
inline double l2_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::vector<double> x = a.to_vector_f64();
  const std::vector<double> y = b.to_vector_f64();
  for (size_t i = 0; i < x.size(); ++i) x[i] -= y[i];
  return l2(x);
}

}  // namespace sfm::test
