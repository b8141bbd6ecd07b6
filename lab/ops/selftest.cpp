#include "lab/ops/selftest.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "lab/ops/compare.h"
#include "boundary/device_runtime.h"
#include "boundary/error.h"

namespace sfm::lab {

// The tolerances, in one place. Each is a bound on max |got - ref| / max |ref| of one tensor,
// float32 on the device under test against float64 on the CPU (identical float32-valued
// inputs on both sides).
double tolerance(TolClass c, const std::string& impl, Device device, double scale) {
  constexpr double u = 0x1p-24;  // float32 unit roundoff
  switch (c) {
    case TolClass::Exact:
      // Copies, selections and 0/1 masks: the float32 result holds the very same values.
      return 0;
    case TolClass::Elementwise:
      // A handful of float32 roundings per element (<= ~8 u = 5e-7 of the element), device
      // transcendental functions within 2 ulp of the correctly rounded value, sums of such
      // terms (losses) and short chains (pose_vec2mat, Adam): 1e-5 is >= 20x that, while a wrong
      // formula, a missed element or a swapped index gives O(1).
      return 1e-5;
    case TolClass::Resample:
      // Bilinear x2: weights 1/4, 3/4 (products of at most 4 terms, ~3 roundings); area bins of
      // up to 64 values summed then divided: <= ~1e-6 measured against float64 in
      // tests/test_gpu_ops.cpp; 2e-6 leaves margin for the 8x8 bins of the pyramid.
      return 2e-6;
    case TolClass::Reduction:
      // Sums over millions of elements accumulated in double on every backend and rounded to
      // float32 once (u = 6e-8): 1e-6.
      return 1e-6;
    case TolClass::ConvSum:
      // Convolutions: every output is a sum of up to C k^2 (forward, backward-data; <= 9216 at
      // iconv7) or N Ho Wo (backward-weight; 53248 at conv1b) float32 products, summed in
      // another order than the float64 reference. Blocked/tiled sums keep the error near
      // sqrt(n) u of the largest |partial sum|: ~1e-6 of the largest output at these sizes;
      // 1e-5 leaves margin. TF32 rounds both operands to 10-bit mantissas (2^-11 each) before
      // the FP32-accumulated products: 3e-3.
      return device == Device::CUDA && impl == "tf32" ? 3e-3 : 1e-5;
    case TolClass::Warp:
      // Values reached through a projected pixel coordinate computed in float32: u and v (up to
      // max(H, W) = scale px) carry ~8 roundings of ~scale u each; a sample moves by the
      // coordinate error times the neighbour difference (<= the image range), a gradient
      // through the bilinear weights likewise. Bound: 16 u scale (7e-5 px at 416 px ... 4e-4
      // of the range), never below the float32 elementwise 1e-5 (small images).
      return std::max(1e-5, 16 * u * scale);
  }
  return 0;
}

std::string format_error(double e) {
  if (std::isnan(e)) return "nan";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2e", e);
  return buf;
}

const char* selftest_mode_name(SelftestMode m) {
  switch (m) {
    case SelftestMode::Compare: return "compare";
    case SelftestMode::Gradcheck: return "gradcheck";
    case SelftestMode::Time: return "time";
  }
  return "?";
}

SelftestMode parse_selftest_mode(const std::string& s) {
  if (s == "compare") return SelftestMode::Compare;
  if (s == "gradcheck") return SelftestMode::Gradcheck;
  if (s == "time") return SelftestMode::Time;
  fail("sfm selftest: --mode must be compare, gradcheck or time, got '", s, "'");
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct PoisonScope {
  bool saved = poison_allocations();
  explicit PoisonScope(bool on) { set_poison_allocations(on); }
  ~PoisonScope() { set_poison_allocations(saved); }
  PoisonScope(const PoisonScope&) = delete;
  PoisonScope& operator=(const PoisonScope&) = delete;
};

// max |got - ref| / max |ref| (absolute when ref is all 0); NaN if anything is not finite,
// missing or of another shape.
double rel_err(const Tensor& got, const Tensor& ref, std::string* why) {
  if (!got.defined()) {
    *why = "missing";
    return kNaN;
  }
  if (!ref.defined()) {
    *why = "missing in the reference";
    return kNaN;
  }
  if (got.shape() != ref.shape()) {
    *why = "shape " + got.shape().str() + ", expected " + ref.shape().str();
    return kNaN;
  }
  const std::vector<double> g = got.to_vector_f64(), r = ref.to_vector_f64();
  // The shared rule (lab/ops/compare.h); first say which element is not finite.
  for (size_t i = 0; i < g.size(); ++i) {
    if (!std::isfinite(r[i])) {
      *why = "reference not finite";
      return kNaN;
    }
    if (!std::isfinite(g[i])) {
      *why = "element " + std::to_string(i) + " not finite (unwritten?)";
      return kNaN;
    }
  }
  return lab::max_rel_err(g, r);
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined() || a.shape() != b.shape() || a.dtype() != b.dtype()) return a.defined() == b.defined();
  if (a.dtype() == DType::F32) {
    const std::vector<float> x = a.to_vector(), y = b.to_vector();
    return std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
  }
  const std::vector<double> x = a.to_vector_f64(), y = b.to_vector_f64();
  return std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0;
}

std::string fmt_err(double e) { return format_error(e); }

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

void print_selftest_header(std::FILE* f) {
  std::fprintf(f, "%-28s %-13s %-10s %-13s %-10s %-9s %-16s  %s\n", "op", "implementation", "shape", "tensor",
               "max rel err", "bound", "verdict", "case");
}
void print_selftest_row(std::FILE* f, const SelftestRow& r) {
  std::string verdict = r.verdict;
  std::fprintf(f, "%-28s %-13s %-10s %-13s %-10s %-9s %-16s  %s%s%s\n", r.op.c_str(), r.impl.c_str(),
               r.shape_class.c_str(), r.worst.c_str(), r.verdict == "SKIPPED" ? "-" : fmt_err(r.max_rel_err).c_str(),
               r.verdict == "SKIPPED" ? "-" : fmt_err(r.bound).c_str(), verdict.c_str(), r.shape.c_str(),
               r.note.empty() ? "" : "  -- ", r.note.c_str());
  std::fflush(f);
}

std::string SelftestReport::failure_summary() const {
  std::ostringstream os;
  for (const SelftestRow& r : rows)
    if (r.failed()) {
      if (os.tellp() > 0) os << "; ";
      os << r.op << "/" << r.impl << " " << r.shape << " (" << r.verdict;
      if (!r.worst.empty()) os << ": " << r.worst << " " << fmt_err(r.max_rel_err) << " vs bound " << fmt_err(r.bound);
      if (!r.note.empty()) os << ", " << r.note;
      os << ")";
    }
  return os.str();
}

SelftestRow begin_selftest_row(const OpCase& c) {
  SelftestRow row;
  row.family = c.family, row.op = c.op, row.impl = c.impl, row.shape_class = shape_class_name(c.shape_class);
  row.shape = c.shape;
  const std::string why_not = c.unavailable ? c.unavailable() : "";
  if (!why_not.empty()) {
    row.verdict = "SKIPPED";
    row.note = why_not;
  }
  return row;
}

void keep_selftest_row(SelftestReport& rep, SelftestRow row, double seconds, const char* pass_verdict) {
  row.seconds = seconds;
  if (row.verdict == pass_verdict) ++rep.passed;
  else if (row.verdict == "SKIPPED") ++rep.skipped;
  else ++rep.failed;
  rep.rows.push_back(std::move(row));
}

SelftestReport run_selftest(const SelftestOptions& opt, const std::vector<OpCase>& rows) {
  switch (opt.mode) {
    case SelftestMode::Gradcheck: return run_gradcheck(opt, rows);
    case SelftestMode::Time: return run_timing(opt, rows);
    case SelftestMode::Compare: break;
  }
  return run_compare(opt, rows);
}

SelftestReport run_compare(const SelftestOptions& opt, const std::vector<OpCase>& rows) {
  SFM_CHECK(opt.device == Device::CPU || cuda_available(), "sfm selftest: --device cuda but no CUDA device is available");
  const auto t0 = Clock::now();
  SelftestReport rep;
  rep.seed = opt.seed;
  rep.device = opt.device;
  rep.quick = opt.quick;
  std::FILE* f = opt.out;
  if (f) {
    std::fprintf(f, "sfm selftest: %s float32 against the CPU in float64, %s form, seed %llu (--seed %llu repeats it)\n",
                 device_name(opt.device), opt.quick ? "quick" : "full", (unsigned long long)opt.seed,
                 (unsigned long long)opt.seed);
    print_selftest_header(f);
  }
  std::string cur_key;
  CaseInputs inputs;
  std::vector<CaseTensor> ref;
  std::string ref_error;
  for (const OpCase& c : rows) {
    const auto r0 = Clock::now();
    SelftestRow row = begin_selftest_row(c);
    if (row.verdict != "SKIPPED") {
      if (c.key != cur_key || c.key.empty()) {  // new inputs and reference
        cur_key = c.key;
        inputs.clear();
        ref.clear();
        ref_error.clear();
        try {
          inputs = c.make_inputs(case_seed(opt.seed, c.key));
          CaseContext rc;
          rc.dtype = DType::F64;
          rc.device = Device::CPU;
          PoisonScope no_poison(false);
          ref = c.run(inputs, rc);
        } catch (const std::exception& e) {
          ref_error = std::string("reference failed: ") + e.what();
        }
      }
      if (!ref_error.empty()) {
        row.verdict = "FAIL";
        row.note = ref_error;
      } else {
        std::vector<CaseTensor> got[2];
        try {
          CaseContext dc;
          dc.dtype = DType::F32;
          dc.device = opt.device;
          dc.impl = c.impl;
          PoisonScope poison(true);
          for (int k = 0; k < 2; ++k) got[k] = c.run(inputs, dc);
        } catch (const std::exception& e) {
          row.verdict = "FAIL";
          row.note = e.what();
        }
        if (row.verdict.empty()) {
          bool bad = false, nondet = false;
          double worst_ratio = -1;
          if (got[0].size() != ref.size() || got[1].size() != ref.size()) {
            bad = true;
            row.note = "returned " + std::to_string(got[0].size()) + " tensors, the reference " + std::to_string(ref.size());
          }
          for (size_t i = 0; !bad && i < ref.size(); ++i) {
            const CaseTensor& g = got[0][i];
            const double bound = tolerance(ref[i].tol, c.impl, opt.device, ref[i].scale);
            std::string why;
            const double e = rel_err(g.value, ref[i].value, &why);
            const bool fail = !(e <= bound);
            const double ratio = fail ? std::numeric_limits<double>::infinity() : (bound > 0 ? e / bound : 0);
            if (ratio > worst_ratio) {
              worst_ratio = ratio;
              row.worst = ref[i].name, row.max_rel_err = e, row.bound = bound;
              if (fail) row.note = why;
            }
            if (fail) bad = true;
            if (!same_bits(got[0][i].value, got[1][i].value)) {
              if (!nondet && !bad) row.note = ref[i].name + ": two runs differ";
              nondet = true;
            }
          }
          row.verdict = bad ? "FAIL" : nondet ? "DETERMINISM FAIL" : "PASS";
        }
      }
    }
    keep_selftest_row(rep, std::move(row), since(r0), "PASS");
    if (f && (!opt.only_failures || rep.rows.back().failed())) print_selftest_row(f, rep.rows.back());
  }
  rep.seconds = since(t0);
  if (f)
    std::fprintf(f, "sfm selftest (%s, %s): %d passed, %d failed, %d skipped in %.1f s (seed %llu)\n",
                 device_name(opt.device), opt.quick ? "quick" : "full", rep.passed, rep.failed, rep.skipped, rep.seconds,
                 (unsigned long long)rep.seed);
  if (!opt.json_path.empty()) write_selftest_json(rep, opt.json_path);
  return rep;
}

SelftestReport run_selftest(const SelftestOptions& opt_in) {
  SFM_CHECK(opt_in.device == Device::CPU || cuda_available(), "sfm selftest: --device cuda but no CUDA device is available");
  SFM_CHECK(opt_in.mode != SelftestMode::Gradcheck || opt_in.device == Device::CPU,
            "sfm selftest: --mode gradcheck runs on the CPU in float64 (use --device cpu)");
  SelftestOptions opt = opt_in;
  {
    std::stringstream cs(opt.classes);
    for (std::string c; std::getline(cs, c, ',');)
      SFM_CHECK(c == "sfmlearner" || c == "edge" || c == "random", "sfm selftest: --classes takes sfmlearner, edge, random; got '", c,
                "'");
  }
  if (opt.seed == 0)
    opt.seed = (uint64_t)std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  std::vector<OpCase> rows;
  for (OpCase& c : op_cases(opt.device, opt.seed)) {
    if (opt.quick && !c.quick) continue;
    if (!opt.classes.empty() && ("," + opt.classes + ",").find("," + std::string(shape_class_name(c.shape_class)) + ",") ==
                                    std::string::npos)
      continue;
    const std::string name = c.family + "/" + c.op + "/" + c.impl + "/" + c.shape;
    if (!opt.filter.empty() && name.find(opt.filter) == std::string::npos) continue;
    bool excluded = false;
    for (size_t b = 0; b < opt.exclude.size() && !excluded;) {
      size_t e = opt.exclude.find(',', b);
      if (e == std::string::npos) e = opt.exclude.size();
      excluded = e > b && name.find(opt.exclude.substr(b, e - b)) != std::string::npos;
      b = e + 1;
    }
    if (excluded) continue;
    rows.push_back(std::move(c));
  }
  return run_selftest(opt, rows);
}

void write_selftest_json(const SelftestReport& r, const std::string& path) {
  nlohmann::json j;
  j["mode"] = selftest_mode_name(r.mode);
  j["device"] = device_name(r.device);
  if (r.mode == SelftestMode::Time)
    j["device_name"] = r.device == Device::CUDA ? cuda_device_name() : std::string("cpu");
  j["form"] = r.quick ? "quick" : "full";
  j["seed"] = r.seed;
  j["passed"] = r.passed;
  j["failed"] = r.failed;
  j["skipped"] = r.skipped;
  j["seconds"] = r.seconds;
  nlohmann::json rows = nlohmann::json::array();
  for (const SelftestRow& x : r.rows) {
    nlohmann::json o;
    o["family"] = x.family;
    o["op"] = x.op;
    o["implementation"] = x.impl;
    o["shape_class"] = x.shape_class;
    o["case"] = x.shape;
    o["verdict"] = x.verdict;
    if (r.mode != SelftestMode::Time) o["tensor"] = x.worst;  // the timing mode compares nothing
    if (r.mode == SelftestMode::Time) {
    } else if (x.verdict == "SKIPPED") {
      o["max_rel_err"] = nullptr;
      o["bound"] = nullptr;
    } else {
      o["max_rel_err"] = std::isfinite(x.max_rel_err) ? nlohmann::json(x.max_rel_err) : nlohmann::json(nullptr);
      o["bound"] = x.bound;
    }
    o["note"] = x.note;
    o["seconds"] = x.seconds;
    if (r.mode == SelftestMode::Time) {  // as the other benchmarks' rows (lab/ops/op_bench.cpp)
      o["reps"] = x.reps;
      o["ms_median"] = x.ms_median;
      o["ms_min"] = x.ms_min;
      o["ms_max"] = x.ms_max;
      o["flops"] = x.flops;
      o["bytes"] = x.bytes;
      o["gflops"] = x.flops > 0 && x.ms_median > 0 ? x.flops / (x.ms_median * 1e6) : 0.0;
      o["gbytes_per_s"] = x.bytes > 0 && x.ms_median > 0 ? x.bytes / (x.ms_median * 1e6) : 0.0;
    }
    rows.push_back(o);
  }
  j["rows"] = rows;
  std::ofstream os(path);
  SFM_CHECK(os.good(), "sfm selftest: cannot write ", path);
  os << j.dump(2) << "\n";
  SFM_CHECK(os.good(), "sfm selftest: writing ", path, " failed");
}

void require_selftest_pass(Device device, const std::string& who) {
  if (device != Device::CUDA || !cuda_available()) return;
  SelftestOptions opt;
  opt.device = device;
  opt.quick = true;
  opt.only_failures = true;
  std::printf("%s: checking the CUDA kernels first (sfm selftest --device cuda --quick; --skip-selftest skips it)\n",
              who.c_str());
  const SelftestReport r = run_selftest(opt);
  SFM_CHECK(r.ok(), who, ": refusing to train on failing kernels (sfm selftest --device cuda --quick --seed ", r.seed,
            " reproduces it): ", r.failure_summary());
}

}  // namespace sfm::lab
