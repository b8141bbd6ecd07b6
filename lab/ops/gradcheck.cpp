// The one gradient checker (gradcheck.h): the function form gradcheck() at the end of this file,
// and `sfm selftest --mode gradcheck` (selftest.h), the op table's float64 gradient check, here:
//
// A row with a backward names its tensors' roles (op_cases.h: forward outputs y_k with their
// upstream inputs g_k, gradients with their leaves). Its run on the CPU in float64 returns
// the analytic gradients of L = sum_k <y_k, g_k>, since the run seeds each y_k's backward
// with g_k. For each leaf x, a seeded sample of its elements (the first, the last, then
// random ones: up to fd_samples in all, every element of a smaller leaf) is perturbed to
// x_i +- h and the row run forward only (no tape) at each:
//
//   numeric_i = sum_k <y_k(x + h e_i) - y_k(x - h e_i), g_k> / ((x_i + h) - (x_i - h))
//
// The outputs are differenced before the dot product: an output element x_i does not reach
// is computed from the same numbers in the same order at both points, so it cancels exactly,
// and only the elements it reaches carry float64 rounding into the quotient. A leaf's error is
// the table's one rule (lab/ops/compare.h) over its sampled elements:
// max_i |analytic_i - numeric_i| / max_i |numeric_i|, against gradcheck_tolerance().
//
// The rounding floor. A scalar loss that averages n terms (the SfMLearner-shape rows: n up to
// 6.8M) changes by ~2h/n when one element moves, while its float64 sum (chunks of 4096, then
// the chunk sums in order) rounds at ~1e-16 of its partial sums: measured, the quotient then
// errs by 1e-6..7e-5 of the gradient (explainability_loss_softmax at [4,4,128,416]), a
// property of evaluating the op in float64, not of its gradient. So each element is also
// differenced at h/2 (a smaller step, so no kink margin is used up further): numeric(h) and
// numeric(h/2) differ by their rounding (their truncation terms, h^2 f'''/6 and h^2 f'''/24, are
// <= 1e-10 relative: gradcheck_step()), and the leaf's bound becomes
// tolerance + 4 max_i |numeric_i(h) - numeric_i(h/2)| / max_i |numeric_i|: the
// measured noise, independent of the analytic side, so a wrong gradient larger than it still
// fails. Where that floor exceeds 1e-3 the finite differences cannot check the gradient, and the
// row FAILs saying so instead of passing loosely.
//
// Kinks: the rows' inputs keep every element away from a jump of a value or a derivative by far
// more than h (the top of op_cases.cpp); elements placed on one on purpose are listed by the
// row (OpCase::kink_elements) and not perturbed.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <sstream>

#include "engine/autograd.h"
#include "boundary/error.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "lab/ops/compare.h"
#include "lab/ops/gradcheck.h"
#include "lab/ops/selftest.h"

namespace sfm::lab {

// h = 1e-6 max(1, |x|). Central differences err by (h^2 / 6) f''' (truncation) plus the
// rounding of the two evaluations over 2h. Truncation: the inputs' smallest magnitudes are
// 0.05..0.1 (reciprocal and log on [0.1, 2]: f'''/f' = 6/x^2 <= 600), so h^2/6 * 600 = 1e-10
// relative at most. Rounding: an output element reached by x_i carries a few float64
// roundings, ~1e-15 of its size; over 2h = 2e-6 that is ~1e-9 relative, and more where one
// element reaches a long float64 sum (a mean over millions of pixels, chunked in 4096s): see
// gradcheck_tolerance(). h relative to |x| keeps the step above the rounding of x itself
// (depths up to 20). The perturbation moves a projected coordinate by at most ~3e-4 px (depth 1 with |t| 0.5 at 416 px: du/dd ~ 225 px) against the
// 2e-3 px the warp scenes keep from any cell edge, and a ReLU pre-activation by ~1e-6 against
// the 1% of its range kept from 0.
double gradcheck_step(double x) { return 1e-6 * std::max(1.0, std::fabs(x)); }

// max |analytic - numeric| / max |numeric| over a leaf's sampled elements <= 1e-6, plus the
// leaf's measured rounding floor (top of the file). The float64 analytic gradient is exact up to
// rounding (~1e-15); the numeric one errs by the truncation and rounding above: measured <= 6e-8
// on every quick row (photometric_loss's depth gradient the largest), so 1e-6 is >= 15x that,
// while a wrong gradient (a missed term, a wrong factor, a swapped index) is off by >= 1e-4 and
// mostly O(1).
double gradcheck_tolerance() { return 1e-6; }

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

const CaseTensor* find_tensor(const std::vector<CaseTensor>& out, const std::string& name) {
  for (const CaseTensor& t : out)
    if (t.name == name) return &t;
  return nullptr;
}

// "" when the row's roles match what its run returned and its inputs; else what is wrong.
std::string check_roles(const OpCase& c, const CaseInputs& in, const std::vector<CaseTensor>& out) {
  std::set<std::string> named;
  auto input = [&](const std::string& name) -> const Tensor* {
    auto it = in.find(name);
    return it == in.end() ? nullptr : &it->second;
  };
  for (const ForwardOutput& f : c.forward) {
    named.insert(f.output);
    const CaseTensor* y = find_tensor(out, f.output);
    if (!y) return "roles: forward output '" + f.output + "' is not among the returned tensors";
    if (f.upstream.empty()) continue;
    const Tensor* g = input(f.upstream);
    if (!g) return "roles: upstream '" + f.upstream + "' of '" + f.output + "' is not an input";
    if (!y->value.defined() || g->shape() != y->value.shape())
      return "roles: upstream '" + f.upstream + "' " + g->shape().str() + " does not match '" + f.output + "' " +
             (y->value.defined() ? y->value.shape().str() : std::string("(undefined)"));
  }
  for (const GradientOf& gr : c.gradients) {
    if (!named.insert(gr.gradient).second) return "roles: '" + gr.gradient + "' is named twice";
    const CaseTensor* g = find_tensor(out, gr.gradient);
    if (!g) return "roles: gradient '" + gr.gradient + "' is not among the returned tensors";
    const Tensor* x = input(gr.leaf);
    if (!x) return "roles: leaf '" + gr.leaf + "' of '" + gr.gradient + "' is not an input";
    if (!g->value.defined()) return gr.gradient + ": missing (the run returned no gradient for '" + gr.leaf + "')";
    if (g->value.shape() != x->shape())
      return gr.gradient + ": shape " + g->value.shape().str() + ", leaf '" + gr.leaf + "' is " + x->shape().str();
  }
  for (const CaseTensor& t : out)
    if (!named.count(t.name)) return "roles: returned tensor '" + t.name + "' is neither a forward output nor a gradient";
  return "";
}

// The elements of a leaf of n to perturb: the first, the last, then seeded random ones, none
// of them a listed kink element.
std::vector<int64_t> sample_elements(int64_t n, int samples, const std::vector<int64_t>& kinks, uint64_t seed) {
  const std::set<int64_t> skip(kinks.begin(), kinks.end());
  std::vector<int64_t> out;
  if (n - (int64_t)skip.size() <= samples) {
    for (int64_t i = 0; i < n; ++i)
      if (!skip.count(i)) out.push_back(i);
    return out;
  }
  std::set<int64_t> chosen;
  auto take = [&](int64_t i) {
    if (!skip.count(i) && chosen.insert(i).second) out.push_back(i);
  };
  take(0);
  take(n - 1);
  Rng rng(seed);
  while ((int)out.size() < samples) take(rng.randint(n));
  return out;
}

// L(x + h e_i) - L(x - h e_i) as sum_k <y_k+ - y_k-, g_k> (see the top of this file).
double loss_difference(const OpCase& c, const CaseInputs& in, const std::vector<CaseTensor>& plus,
                       const std::vector<CaseTensor>& minus) {
  double d = 0;
  for (const ForwardOutput& f : c.forward) {
    if (f.upstream.empty()) continue;
    const CaseTensor *p = find_tensor(plus, f.output), *m = find_tensor(minus, f.output);
    SFM_CHECK(p && m && p->value.defined() && m->value.defined(), "gradcheck: forward output '", f.output,
              "' missing from a forward-only run");
    const std::vector<double> yp = p->value.to_vector_f64(), ym = m->value.to_vector_f64(),
                              g = in.at(f.upstream).to_vector_f64();
    SFM_CHECK(yp.size() == g.size() && ym.size() == g.size(), "gradcheck: '", f.output, "' changed size");
    for (size_t j = 0; j < g.size(); ++j) d += (yp[j] - ym[j]) * g[j];
  }
  return d;
}

void check_row(const OpCase& c, const SelftestOptions& opt, SelftestRow& row) {
  const CaseInputs inputs = c.make_inputs(case_seed(opt.seed, c.key));
  CaseContext full;
  full.dtype = DType::F64;
  full.device = Device::CPU;
  full.impl = c.impl;
  const std::vector<CaseTensor> base = c.run(inputs, full);
  const std::string bad_roles = check_roles(c, inputs, base);
  if (!bad_roles.empty()) {
    row.verdict = "FAIL";
    row.note = bad_roles;
    return;
  }
  CaseContext fwd = full;
  fwd.forward_only = true;
  const double bound = gradcheck_tolerance();
  double worst_ratio = -1;
  int64_t perturbed = 0;
  bool bad = false;
  for (const GradientOf& gr : c.gradients) {
    const Tensor& leaf = inputs.at(gr.leaf);
    SFM_CHECK(leaf.dtype() == DType::F64 && leaf.device() == Device::CPU, "gradcheck: input '", gr.leaf,
              "' is not a CPU float64 tensor");
    auto kinks = c.kink_elements.find(gr.leaf);
    const std::vector<int64_t> idx =
        sample_elements(leaf.numel(), opt.fd_samples, kinks == c.kink_elements.end() ? std::vector<int64_t>{} : kinks->second,
                        case_seed(opt.seed, c.key + "/gradcheck/" + gr.leaf));
    const std::vector<double> grad = find_tensor(base, gr.gradient)->value.to_vector_f64();
    CaseInputs moved = inputs;     // shares every tensor but the leaf
    Tensor x = leaf.clone();
    moved[gr.leaf] = x;
    double* xp = x.data<double>();
    std::vector<double> analytic, numeric;
    double noise = 0, scale = 0;
    auto central = [&](int64_t i, double x0, double h) {
      const double hi = x0 + h, lo = x0 - h;
      xp[i] = hi;
      const std::vector<CaseTensor> plus = c.run(moved, fwd);
      xp[i] = lo;
      const std::vector<CaseTensor> minus = c.run(moved, fwd);
      xp[i] = x0;
      return loss_difference(c, inputs, plus, minus) / (hi - lo);
    };
    for (int64_t i : idx) {
      const double x0 = xp[i], h = gradcheck_step(x0);
      const double n1 = central(i, x0, h), n2 = central(i, x0, h / 2);
      numeric.push_back(n1);
      analytic.push_back(grad[(size_t)i]);
      noise = std::max(noise, std::fabs(n1 - n2));
      scale = std::max(scale, std::fabs(n1));
    }
    perturbed += (int64_t)idx.size();
    // max |a - n| / max |n| against the bound plus the measured rounding floor (top of the file).
    const double floor_rel = scale > 0 ? 4 * noise / scale : 4 * noise;
    const double e = max_rel_err(analytic, numeric);
    const bool too_noisy = !(floor_rel <= 1e-3);
    const double leaf_bound = bound + floor_rel;
    const bool fail = too_noisy || !(e <= leaf_bound);
    const double ratio = fail ? std::numeric_limits<double>::infinity() : e / leaf_bound;
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      row.worst = gr.gradient, row.max_rel_err = e, row.bound = leaf_bound;
      if (too_noisy) {
        row.note = gr.leaf + ": finite differences too noisy to check (rounding floor " + format_error(floor_rel) +
                   " of the gradient)";
      } else if (fail) {
        // The worst element, so a failure says where.
        size_t w = 0;
        for (size_t k = 0; k < idx.size(); ++k)
          if (!(std::fabs(analytic[k] - numeric[k]) <= std::fabs(analytic[w] - numeric[w]))) w = k;
        std::ostringstream os;
        os.precision(9);
        os << gr.leaf << "[" << idx[w] << "]: analytic " << analytic[w] << ", finite difference " << numeric[w];
        row.note = os.str();
      }
    }
    bad = bad || fail;
  }
  row.verdict = bad ? "FAIL" : "PASS";
  if (!bad) row.note = std::to_string(perturbed) + " elements perturbed";
}

}  // namespace

SelftestReport run_gradcheck(const SelftestOptions& opt, const std::vector<OpCase>& rows) {
  SFM_CHECK(opt.device == Device::CPU, "sfm selftest: --mode gradcheck runs on the CPU in float64 (use --device cpu)");
  SFM_CHECK(opt.fd_samples >= 1, "sfm selftest: --samples must be >= 1, got ", opt.fd_samples);
  const auto t0 = Clock::now();
  SelftestReport rep;
  rep.mode = SelftestMode::Gradcheck;
  rep.seed = opt.seed;
  rep.device = Device::CPU;
  rep.quick = opt.quick;
  std::FILE* f = opt.out;
  if (f) {
    std::fprintf(f,
                 "sfm selftest --mode gradcheck: float64 central differences (h = 1e-6 max(1,|x|), up to %d elements per "
                 "leaf) against each row's analytic gradient, bound %s, %s form, seed %llu (--seed %llu repeats it)\n",
                 opt.fd_samples, format_error(gradcheck_tolerance()).c_str(), opt.quick ? "quick" : "full",
                 (unsigned long long)opt.seed, (unsigned long long)opt.seed);
    print_selftest_header(f);
  }
  for (const OpCase& c : rows) {
    const auto r0 = Clock::now();
    SelftestRow row = begin_selftest_row(c);
    if (row.verdict == "SKIPPED") {
      // not available here (begin_selftest_row gave the reason)
    } else if (c.gradients.empty()) {
      row.verdict = "SKIPPED";
      row.note = "no backward (no gradient roles)";
    } else {
      try {
        check_row(c, opt, row);
      } catch (const std::exception& e) {
        row.verdict = "FAIL";
        row.note = e.what();
      }
    }
    keep_selftest_row(rep, std::move(row), since(r0), "PASS");
    if (f && (!opt.only_failures || rep.rows.back().failed())) print_selftest_row(f, rep.rows.back());
  }
  rep.seconds = since(t0);
  if (f)
    std::fprintf(f, "sfm selftest --mode gradcheck (cpu, %s): %d passed, %d failed, %d skipped in %.1f s (seed %llu)\n",
                 opt.quick ? "quick" : "full", rep.passed, rep.failed, rep.skipped, rep.seconds,
                 (unsigned long long)rep.seed);
  if (!opt.json_path.empty()) write_selftest_json(rep, opt.json_path);
  return rep;
}

// ---------------------------------------------------------------- the function form (gradcheck.h)
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, std::vector<Tensor> inputs,
                          double eps, double rtol, double atol) {
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

Tensor grad_input(const Shape& s, Rng& rng, double lo, double hi) {
  return rand_uniform(s, rng, lo, hi, DType::F64).set_requires_grad(true);
}

}  // namespace sfm::lab
