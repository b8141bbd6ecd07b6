#pragma once
// Gradient checking in float64: compares every input's analytic gradient (requires_grad
// inputs only) with central finite differences of f. A non-scalar output is reduced to a
// scalar by a fixed random weighting, so every output element's gradient path is exercised.
#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/rng.h"

namespace sfm::test {

struct GradcheckResult {
  bool ok = true;
  double max_abs_err = 0, max_rel_err = 0;
  std::string report;  // the worst element per input
};

// Tolerance: float64 central differences with eps=1e-6 are accurate to ~1e-9 relative on
// smooth functions; 1e-6 leaves room for the O(eps^2) truncation term times curvature.
inline GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                 std::vector<Tensor> inputs, double eps = 1e-6, double rtol = 1e-6,
                                 double atol = 1e-8) {
  GradcheckResult res;
  Rng rng(1234);
  Tensor weight;
  auto scalar = [&](const std::vector<Tensor>& in) -> Tensor {
    Tensor out = f(in);
    if (out.numel() == 1) return out;
    if (!weight.defined()) weight = rand_uniform(out.shape(), rng, 0.5, 1.5, DType::F64);
    return sum(mul(out, weight));
  };
  for (auto& t : inputs) {
    if (t.requires_grad()) t.zero_grad();
  }
  Tensor loss = scalar(inputs);
  loss.backward();
  std::ostringstream rep;
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    if (!x.requires_grad()) continue;
    Tensor g = x.grad();
    std::vector<double> analytic = g.defined() ? g.to_vector_f64() : std::vector<double>(x.numel(), 0.0);
    double* p = x.data<double>();
    double worst = 0;
    int64_t worst_i = -1;
    double worst_a = 0, worst_n = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      double orig = p[i];
      double lp, lm;
      {
        NoGradGuard ng;
        p[i] = orig + eps;
        lp = scalar(inputs).item();
        p[i] = orig - eps;
        lm = scalar(inputs).item();
        p[i] = orig;
      }
      double numeric = (lp - lm) / (2 * eps);
      double err = std::fabs(numeric - analytic[i]);
      double rel = err / (atol + rtol * std::fabs(numeric));
      res.max_abs_err = std::max(res.max_abs_err, err);
      res.max_rel_err = std::max(res.max_rel_err, err / std::max(1e-12, std::fabs(numeric)));
      if (rel > worst) {
        worst = rel;
        worst_i = i;
        worst_a = analytic[i];
        worst_n = numeric;
      }
    }
    if (worst > 1.0) res.ok = false;
    rep << "input " << k << " " << x.shape().str() << ": worst element " << worst_i << " analytic " << worst_a
        << " numeric " << worst_n << " (err/tol " << worst << ")\n";
  }
  res.report = rep.str();
  return res;
}

// Random float64 input that takes gradients.
inline Tensor grad_input(const Shape& s, Rng& rng, double lo = -1.0, double hi = 1.0) {
  return rand_uniform(s, rng, lo, hi, DType::F64).set_requires_grad(true);
}

}  // namespace sfm::test

#define REQUIRE_GRADCHECK(...)                        \
  do {                                                \
    auto _gc = ::sfm::test::gradcheck(__VA_ARGS__);   \
    INFO(_gc.report);                                 \
    REQUIRE(_gc.ok);                                  \
  } while (0)
