#pragma once
// The one gradient checker (lab/ops/gradcheck.cpp): float64 central finite differences against
// the analytic gradients of the autograd tape, in two forms over the same step rule and file.
//   * gradcheck(f, inputs): a function of tensors (the unit tests, through tests/gradcheck.h's
//     REQUIRE_GRADCHECK): every element of every input that requires grad is perturbed by
//     +-eps and the quotient compared per element, |numeric - analytic| <= atol + rtol |numeric|.
//     A non-scalar output is reduced to a scalar by a fixed random weighting, so every output
//     element's gradient path is exercised.
//   * run_gradcheck(opt, rows) (`sfm selftest --mode gradcheck`, declared in lab/ops/selftest.h):
//     the op table's rows by their tensor roles, a seeded sample of each leaf's elements, the
//     bound gradcheck_tolerance() plus each leaf's measured rounding floor.
#include <functional>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "engine/tensor.h"

namespace sfm::lab {

// The table mode's step for an element of value x, h = 1e-6 max(1, |x|), and its bound on
// max |analytic - numeric| / max |numeric| over a leaf's sampled elements (reasons: gradcheck.cpp).
double gradcheck_step(double x);
double gradcheck_tolerance();

struct GradcheckResult {
  bool ok = true;
  double max_abs_err = 0, max_rel_err = 0;
  std::string report;  // the worst element per input
};

// Tolerance: float64 central differences with eps=1e-6 are accurate to ~1e-9 relative on
// smooth functions; rtol 1e-6 leaves room for the O(eps^2) truncation term times curvature.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, std::vector<Tensor> inputs,
                          double eps = 1e-6, double rtol = 1e-6, double atol = 1e-8);

// Random float64 input in [lo, hi) that takes gradients.
Tensor grad_input(const Shape& s, Rng& rng, double lo = -1.0, double hi = 1.0);

}  // namespace sfm::lab
