// sfm selftest (engine/testing/selftest.h): the CPU quick form passes and covers every op
// family; defects planted in copies of real rows (an unwritten element, a small perturbation,
// a missing gradient, a run-to-run difference, a throwing kernel) are reported as failures; on
// a GPU the CUDA quick form passes.
#include <catch2/catch.hpp>

#include "tests/test_support.h"

#include <cstring>
#include <memory>
#include <set>
#include <string>

#include "engine/device_runtime.h"
#include "engine/testing/selftest.h"

using namespace sfm;
using namespace sfm::testing;

namespace {

SelftestOptions quiet(Device d, uint64_t seed) {
  SelftestOptions o;
  o.device = d;
  o.quick = true;
  o.seed = seed;
  o.out = nullptr;
  return o;
}

const OpCase& find_row(const std::vector<OpCase>& rows, const std::string& op, ShapeClass sc) {
  for (const OpCase& c : rows)
    if (c.op == op && c.shape_class == sc && c.quick) return c;
  FAIL("no quick row for " << op);
  return rows.front();
}

// A copy of `base` whose float32 runs pass their outputs through `defect` (the float64
// reference is left alone). The key changes so the defect's row builds its own reference.
OpCase planted(const OpCase& base, const std::string& what,
               std::function<void(std::vector<CaseTensor>&, int call)> defect) {
  OpCase c = base;
  c.op = base.op + " [planted: " + what + "]";
  c.key = base.key + "/planted " + what;
  auto calls = std::make_shared<int>(0);
  auto run = base.run;
  c.run = [run, defect, calls](const CaseInputs& in, const CaseContext& ctx) {
    std::vector<CaseTensor> out = run(in, ctx);
    if (ctx.dtype == DType::F32) defect(out, (*calls)++);
    return out;
  };
  return c;
}

// A fresh tensor like t with all but its last element copied: the last one is whatever the
// allocator handed out (NaN under poisoning), as from a kernel that misses one element.
Tensor drop_last_element(const Tensor& t) {
  Tensor out = Tensor::empty(t.shape(), t.dtype(), t.device());
  copy_bytes(out.raw_data(), out.device(), t.raw_data(), t.device(), (t.numel() - 1) * dtype_size(t.dtype()));
  return out;
}

Tensor perturb_one(const Tensor& t, int64_t i, double rel) {
  std::vector<float> v = t.to_vector();
  v[i] = (float)(v[i] * (1 + rel));
  return Tensor::from_vector(v, t.shape(), t.device());
}

CaseTensor& named(std::vector<CaseTensor>& out, const std::string& name) {
  for (CaseTensor& t : out)
    if (t.name == name) return t;
  FAIL("no tensor named " << name);
  return out.front();
}

}  // namespace

TEST_CASE("selftest: the CPU quick form passes every row and covers every op family", "[selftest]") {
  const SelftestReport r = run_selftest(quiet(Device::CPU, 20240601));
  INFO("failures: " << r.failure_summary());
  CHECK(r.failed == 0);
  CHECK(r.skipped == 0);  // the CPU has one implementation of everything
  CHECK(r.passed >= 80);
  std::set<std::string> families, ops;
  for (const SelftestRow& row : r.rows) {
    CHECK(row.verdict == "PASS");
    families.insert(row.family);
    ops.insert(row.op);
  }
  CHECK(families == std::set<std::string>{"conv", "elementwise", "geometry", "loss", "optim", "reduce", "resample", "shape"});
  for (const char* op : {"conv2d", "conv_transpose2d", "inverse_warp", "photometric_loss", "smoothness_loss",
                         "explainability_loss", "explainability_loss_softmax", "adam", "resize_area", "mean_hw"})
    CHECK(ops.count(op) == 1);
}

TEST_CASE("selftest: planted defects are reported as failures", "[selftest]") {
  const uint64_t seed = 99;
  const std::vector<OpCase> table = op_cases(Device::CPU, seed);
  const OpCase& conv = find_row(table, "conv2d", ShapeClass::Edge);
  const OpCase& up = find_row(table, "upsample_bilinear2x", ShapeClass::Edge);
  const OpCase& warp = find_row(table, "inverse_warp", ShapeClass::Edge);

  std::vector<OpCase> rows{
      conv,  // the untouched row: passes, so the failures below are the defects' doing
      planted(conv, "last output element unwritten",
              [](std::vector<CaseTensor>& o, int) { named(o, "y").value = drop_last_element(named(o, "y").value); }),
      planted(conv, "grad w off by 1e-4 in one element",
              [](std::vector<CaseTensor>& o, int) { named(o, "grad w").value = perturb_one(named(o, "grad w").value, 3, 1e-4); }),
      planted(up, "gradient missing", [](std::vector<CaseTensor>& o, int) { named(o, "grad x").value = Tensor(); }),
      planted(warp, "second run differs by 1 ulp",
              [](std::vector<CaseTensor>& o, int call) {
                if (call % 2 == 1) {
                  Tensor& t = named(o, "warped").value;
                  std::vector<float> v = t.to_vector();
                  v[0] = std::nextafter(v[0], 2.f);
                  t = Tensor::from_vector(v, t.shape(), t.device());
                }
              }),
      planted(up, "kernel throws", [](std::vector<CaseTensor>&, int) { fail("planted launch failure"); }),
  };
  OpCase skipped = conv;
  skipped.impl = "unbuilt";
  skipped.unavailable = [] { return std::string("not in this build"); };
  rows.push_back(skipped);

  const SelftestReport r = run_selftest(quiet(Device::CPU, seed), rows);
  REQUIRE(r.rows.size() == rows.size());
  CHECK(r.rows[0].verdict == "PASS");
  CHECK(r.rows[1].verdict == "FAIL");
  CHECK(r.rows[1].worst == "y");
  CHECK(std::isnan(r.rows[1].max_rel_err));  // the poisoned element is NaN
  CHECK(r.rows[2].verdict == "FAIL");
  CHECK(r.rows[2].worst == "grad w");
  CHECK(r.rows[2].max_rel_err > r.rows[2].bound);
  CHECK(r.rows[3].verdict == "FAIL");
  CHECK(r.rows[3].note == "missing");
  CHECK(r.rows[4].verdict == "DETERMINISM FAIL");
  CHECK(r.rows[5].verdict == "FAIL");
  CHECK(r.rows[5].note.find("planted launch failure") != std::string::npos);
  CHECK(r.rows[6].verdict == "SKIPPED");
  CHECK(r.passed == 1);
  CHECK(r.failed == 5);
  CHECK(r.skipped == 1);
  CHECK_FALSE(r.ok());
  const std::string summary = r.failure_summary();
  CHECK(summary.find("conv2d [planted: last output element unwritten]/im2col+eigen") != std::string::npos);
  CHECK(summary.find("DETERMINISM FAIL") != std::string::npos);

  // Without poisoning the unwritten element would hold whatever memory had: the selftest turns
  // poisoning on for the runs under test and restores the setting afterwards.
  CHECK_FALSE(poison_allocations());
}

TEST_CASE("selftest: tolerance table", "[selftest]") {
  CHECK(tolerance(TolClass::ConvSum, "tf32", Device::CUDA, 0) == 3e-3);
  CHECK(tolerance(TolClass::ConvSum, "handwritten", Device::CUDA, 0) == 1e-5);
  CHECK(tolerance(TolClass::ConvSum, "tf32", Device::CPU, 0) == 1e-5);
  CHECK(tolerance(TolClass::Exact, "cuda", Device::CUDA, 0) == 0);
  CHECK(tolerance(TolClass::Warp, "cuda", Device::CUDA, 4) == 1e-5);
  CHECK(tolerance(TolClass::Warp, "cuda", Device::CUDA, 416) < 1e-3);
}

TEST_CASE("selftest: the CUDA quick form passes every row", "[gpu][selftest]") {
  if (!cuda_available()) {
    SFM_SKIP("no CUDA device");
    return;
  }
  SelftestOptions o = quiet(Device::CUDA, 20240601);
  o.out = stdout;
  o.only_failures = true;
  const SelftestReport r = run_selftest(o);
  INFO("failures: " << r.failure_summary());
  CHECK(r.failed == 0);
  CHECK(r.passed >= 90);  // 113 rows, of which up to 18 (TF32, cuDNN) may be SKIPPED
  for (const SelftestRow& row : r.rows)
    if (row.verdict == "SKIPPED") CHECK((row.impl == "tf32" || row.impl == "cudnn"));
}
