// sfm selftest (lab/ops/selftest.h): the CPU quick form passes and covers every op
// family; defects planted in copies of real rows (an unwritten element, a small perturbation,
// a missing gradient, a run-to-run difference, a throwing kernel) are reported as failures; on
// a GPU the CUDA quick form passes. The gradient-check mode passes the quick CPU rows and
// reports planted wrong gradients and wrong roles; the timing mode times rows (lab/ops/timing.h),
// and `sfm bench ops`'s families (lab/ops/op_bench.h) all have rows.
#include <catch2/catch.hpp>

#include "tests/test_support.h"

#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "boundary/device_runtime.h"
#include "lab/ops/op_bench.h"
#include "lab/ops/selftest.h"
#include "lab/ops/timing.h"
#include "models/sfm_layers.h"

using namespace sfm;
using namespace sfm::lab;

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

TEST_CASE("selftest: --filter keeps, --exclude leaves out rows by name", "[selftest]") {
  // The sanitizer runs of tests/gpu/first_contact.sh leave the library rows out this way.
  SelftestOptions o = quiet(Device::CPU, 7);
  o.filter = "conv";
  const SelftestReport all_conv = run_selftest(o);
  o.exclude = "conv_transpose2d,nothing-has-this";
  const SelftestReport some = run_selftest(o);
  REQUIRE(all_conv.rows.size() > some.rows.size());
  REQUIRE(!some.rows.empty());
  size_t transposed = 0;
  for (const SelftestRow& row : all_conv.rows) transposed += row.op == "conv_transpose2d";
  CHECK(transposed > 0);
  CHECK(some.rows.size() == all_conv.rows.size() - transposed);
  for (const SelftestRow& row : some.rows) CHECK(row.op != "conv_transpose2d");
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
#if SFM_EMULATED_CUDA
    if (row.verdict == "SKIPPED") CHECK((row.impl == "cudnn" || row.impl == "cublas"));  // not in the emulated build
#else
    if (row.verdict == "SKIPPED") CHECK((row.impl == "tf32" || row.impl == "cudnn"));
#endif
}

// ---------------------------------------------------------------- gradient-check mode

namespace {

// A copy of `base` whose analytic (full, not forward-only) float64 runs pass their outputs
// through `defect`: the finite differences see the true op, the analytic side the defect.
OpCase planted_gradient(const OpCase& base, const std::string& what, std::function<void(std::vector<CaseTensor>&)> defect) {
  OpCase c = base;
  c.op = base.op + " [planted: " + what + "]";
  c.key = base.key + "/planted " + what;
  auto run = base.run;
  c.run = [run, defect](const CaseInputs& in, const CaseContext& ctx) {
    std::vector<CaseTensor> out = run(in, ctx);
    if (!ctx.forward_only) defect(out);
    return out;
  };
  return c;
}

Tensor scaled(const Tensor& t, double factor) {
  std::vector<double> v = t.to_vector_f64();
  for (double& x : v) x *= factor;
  return Tensor::from_vector(v, t.shape(), t.device());
}
Tensor perturb_one_f64(const Tensor& t, int64_t i, double rel) {
  std::vector<double> v = t.to_vector_f64();
  v[i] *= 1 + rel;
  return Tensor::from_vector(v, t.shape(), t.device());
}

SelftestOptions quiet_gradcheck(uint64_t seed) {
  SelftestOptions o = quiet(Device::CPU, seed);
  o.mode = SelftestMode::Gradcheck;
  return o;
}

}  // namespace

TEST_CASE("selftest gradcheck: every quick CPU row with a backward passes", "[selftest][gradcheck]") {
  const SelftestReport r = run_selftest(quiet_gradcheck(20240601));
  INFO("failures: " << r.failure_summary());
  CHECK(r.mode == SelftestMode::Gradcheck);
  CHECK(r.failed == 0);
  CHECK(r.passed >= 80);
  std::set<std::string> families;
  for (const SelftestRow& row : r.rows) {
    if (row.verdict == "SKIPPED") {
      CHECK(row.op == "adam");  // the only op without a backward
      continue;
    }
    CHECK(row.verdict == "PASS");
    CHECK(row.max_rel_err <= row.bound);
    families.insert(row.family);
  }
  CHECK(r.skipped == 1);  // the quick adam row
  CHECK(families == std::set<std::string>{"conv", "elementwise", "geometry", "loss", "reduce", "resample", "shape"});
}

TEST_CASE("selftest gradcheck: every row states its tensor roles and its cost", "[selftest][gradcheck]") {
  for (Device d : {Device::CPU, Device::CUDA}) {  // the CUDA table is built without a device (rows only)
    const std::vector<OpCase> table = op_cases(d, 7);
    REQUIRE(table.size() > 100);
    for (const OpCase& c : table) {
      INFO(c.family << "/" << c.op << "/" << c.impl << " " << c.shape);
      CHECK(c.bytes > 0);
      if (c.family == "conv") CHECK(c.flops > 0);
      if (c.op == "adam") {
        CHECK(c.gradients.empty());
        CHECK(c.forward.empty());
        continue;
      }
      CHECK_FALSE(c.gradients.empty());
      CHECK_FALSE(c.forward.empty());
      std::set<std::string> leaves;
      for (const GradientOf& g : c.gradients) CHECK(leaves.insert(g.leaf).second);  // one gradient per leaf
      int differentiated = 0;
      for (const ForwardOutput& f : c.forward) differentiated += !f.upstream.empty();
      CHECK(differentiated >= 1);
    }
  }
}

TEST_CASE("selftest gradcheck: planted wrong gradients and wrong roles are reported as failures", "[selftest][gradcheck]") {
  const uint64_t seed = 99;
  const std::vector<OpCase> table = op_cases(Device::CPU, seed);
  const OpCase& conv = find_row(table, "conv2d", ShapeClass::Edge);
  const OpCase& warp = find_row(table, "inverse_warp", ShapeClass::Edge);
  const OpCase& up = find_row(table, "upsample_bilinear2x", ShapeClass::Edge);
  const OpCase& sub = find_row(table, "sub", ShapeClass::Edge);
  const OpCase& adam = find_row(table, "adam", ShapeClass::Edge);

  OpCase wrong_leaf = conv;  // the roles say grad w is the gradient of x
  wrong_leaf.op += " [planted: grad w attributed to x]";
  wrong_leaf.gradients = {{"grad x", "x"}, {"grad w", "x"}, {"grad b", "b"}};
  OpCase unnamed = up;  // a returned tensor with no role
  unnamed.op += " [planted: grad x has no role]";
  unnamed.gradients.clear();
  unnamed.gradients.push_back({"grad y", "x"});

  std::vector<OpCase> rows{
      conv,  // untouched: passes, so the failures below are the defects' doing
      planted_gradient(conv, "grad w 1e-4 too large",
                       [](std::vector<CaseTensor>& o) { named(o, "grad w").value = scaled(named(o, "grad w").value, 1 + 1e-4); }),
      planted_gradient(warp, "grad pose element 0 off by 1e-3",  // element 0 is always perturbed
                       [](std::vector<CaseTensor>& o) {
                         named(o, "grad pose").value = perturb_one_f64(named(o, "grad pose").value, 0, 1e-3);
                       }),
      planted_gradient(sub, "grad a and grad b swapped",
                       [](std::vector<CaseTensor>& o) { std::swap(named(o, "grad a").value, named(o, "grad b").value); }),
      planted_gradient(up, "gradient missing", [](std::vector<CaseTensor>& o) { named(o, "grad x").value = Tensor(); }),
      wrong_leaf,
      unnamed,
      adam,
  };
  const SelftestReport r = run_selftest(quiet_gradcheck(seed), rows);
  REQUIRE(r.rows.size() == rows.size());
  std::string verdicts;
  for (const SelftestRow& row : r.rows) verdicts += row.op + ": " + row.verdict + " " + row.worst + " " + row.note + "\n";
  INFO(verdicts);
  CHECK(r.rows[0].verdict == "PASS");
  CHECK(r.rows[1].verdict == "FAIL");
  CHECK(r.rows[1].worst == "grad w");
  CHECK(r.rows[1].max_rel_err > r.rows[1].bound);
  CHECK(r.rows[1].note.find("w[") != std::string::npos);  // names the leaf element
  CHECK(r.rows[2].verdict == "FAIL");
  CHECK(r.rows[2].worst == "grad pose");
  CHECK(r.rows[2].note.find("pose[0]") != std::string::npos);
  CHECK(r.rows[3].verdict == "FAIL");
  CHECK(r.rows[3].max_rel_err > 1);  // -g against g
  CHECK(r.rows[4].verdict == "FAIL");
  CHECK(r.rows[4].note.find("missing") != std::string::npos);
  CHECK(r.rows[5].verdict == "FAIL");  // grad w [O,C,k,k] is not x's shape
  CHECK(r.rows[5].note.find("grad w: shape") != std::string::npos);
  CHECK(r.rows[6].verdict == "FAIL");
  CHECK(r.rows[6].note.find("roles:") != std::string::npos);
  CHECK(r.rows[7].verdict == "SKIPPED");
  CHECK(r.passed == 1);
  CHECK(r.failed == 6);
  CHECK(r.skipped == 1);
  CHECK_FALSE(r.ok());
  CHECK(r.failure_summary().find("sub [planted: grad a and grad b swapped]") != std::string::npos);
}

TEST_CASE("selftest gradcheck: the step and the bound", "[selftest][gradcheck]") {
  CHECK(gradcheck_step(0.0) == 1e-6);
  CHECK(gradcheck_step(-0.5) == 1e-6);
  CHECK(gradcheck_step(20.0) == 1e-6 * 20.0);
  CHECK(gradcheck_tolerance() == 1e-6);
  SelftestOptions o = quiet_gradcheck(1);
  o.device = Device::CUDA;
  CHECK_THROWS_WITH(run_selftest(o, {}), Catch::Contains("runs on the CPU in float64"));
}

// ---------------------------------------------------------------- timing mode

TEST_CASE("selftest time: rows are timed with their cost, a throwing row fails, JSON has the rows", "[selftest][time]") {
  const std::vector<OpCase> table = op_cases(Device::CPU, 5);
  const OpCase& conv = find_row(table, "conv2d", ShapeClass::Edge);
  const OpCase& adam = find_row(table, "adam", ShapeClass::Edge);
  OpCase throws = find_row(table, "relu", ShapeClass::Edge);
  throws.op += " [planted: throws]";
  throws.run = [](const CaseInputs&, const CaseContext&) -> std::vector<CaseTensor> { fail("planted launch failure"); };
  SelftestOptions o = quiet(Device::CPU, 5);
  o.mode = SelftestMode::Time;
  o.reps = 3;
  o.json_path = std::string(SFM_BINARY_DIR) + "/test_selftest_time.json";
  const SelftestReport r = run_selftest(o, {conv, adam, throws});
  REQUIRE(r.rows.size() == 3);
  for (int i : {0, 1}) {
    const SelftestRow& row = r.rows[i];
    INFO(row.op << " " << row.note);
    CHECK(row.verdict == "TIMED");
    CHECK(row.reps == 3);
    CHECK(row.ms_min > 0);
    CHECK(row.ms_min <= row.ms_median);
    CHECK(row.ms_median <= row.ms_max);
    CHECK(row.bytes > 0);
  }
  CHECK(r.rows[0].flops == conv.flops);
  CHECK(r.rows[2].verdict == "FAIL");
  CHECK(r.rows[2].note.find("planted launch failure") != std::string::npos);
  CHECK(r.passed == 2);
  CHECK(r.failed == 1);
  std::ifstream f(o.json_path);
  const nlohmann::json j = nlohmann::json::parse(f);
  CHECK(j["mode"] == "time");
  REQUIRE(j["rows"].size() == 3);
  CHECK(j["rows"][0]["ms_median"].get<double>() == r.rows[0].ms_median);
  CHECK(j["rows"][0]["gflops"].get<double>() > 0);
}

TEST_CASE("selftest: the training-shape conv rows are the networks' layer table", "[selftest]") {
  // lab/ops/op_cases_conv.cpp takes them from models/sfm_layers.h: one row per layer of DispNet
  // and PoseExpNet at batch 4 and 128x416, in the table's order, with the layer's cost.
  const std::vector<ConvLayer> layers = sfmlearner_conv_layers(4, 128, 416);
  const std::vector<OpCase> table = op_cases(Device::CPU, 1);
  std::vector<const OpCase*> rows;
  for (const OpCase& c : table)
    if (c.family == "conv" && c.shape_class == ShapeClass::SfMLearner) rows.push_back(&c);
  REQUIRE(rows.size() == layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    const ConvLayer& l = layers[i];
    INFO(l.spec.full_name() << ": " << rows[i]->shape);
    CHECK(rows[i]->op == (l.spec.transposed ? "conv_transpose2d" : "conv2d"));
    CHECK(rows[i]->shape.find("(" + l.spec.full_name() + ")") != std::string::npos);
    const Shape in = l.in_shape();  // the row's description starts with its input, "[N,C,H,W]"
    const std::string in_str = "[" + std::to_string(in[0]) + "," + std::to_string(in[1]) + "," + std::to_string(in[2]) +
                               "," + std::to_string(in[3]) + "]";
    CHECK(rows[i]->shape.rfind(in_str + " O=" + std::to_string(l.out_channels()) + " k" + std::to_string(l.spec.k), 0) == 0);
    CHECK(rows[i]->flops == 3 * l.flops());  // forward, backward-data, backward-weight
  }
}

TEST_CASE("time_calls: warm-up, reps and the clock outside after_each", "[selftest][time]") {
  int calls = 0, after = 0;
  const CallTimes t = time_calls([&] { ++calls; }, 2, 5, [&] {
    CHECK(after + 1 == calls);  // after each call, before the next
    ++after;
  });
  CHECK(calls == 7);
  CHECK(after == 7);
  CHECK(t.reps == 5);
  CHECK(t.ms_min >= 0);
  CHECK(t.ms_min <= t.ms_median);
  CHECK(t.ms_median <= t.ms_max);
  CHECK_THROWS(time_calls([] {}, 0, 0));
}

TEST_CASE("bench ops: every family has rows, each with a cost or a name", "[selftest][time]") {
  // lab/ops/op_bench.cpp's list of families at a small size: the rows `sfm bench ops --list` shows.
  BenchContext ctx;
  ctx.batch = 1, ctx.height = 32, ctx.width = 64;
  std::set<std::string> names;
  for (const BenchFamily& f : op_bench_families()) {
    const std::vector<BenchRow> rows = f.rows(ctx);
    INFO(f.family);
    CHECK(!rows.empty());
    for (const BenchRow& r : rows) {
      CHECK(!r.op.empty());
      CHECK(!r.shape.empty());
      CHECK(r.run);
      CHECK((r.flops > 0 || r.bytes > 0));
      names.insert(f.family);
    }
  }
  CHECK(names == std::set<std::string>{"conv", "resample", "min_reprojection", "warp"});
  // Every conv layer of the networks has a forward and a backward row.
  CHECK(conv_rows(ctx).size() == 2 * sfmlearner_conv_layers(1, 32, 64).size());
}
