#pragma once
// `sfm selftest`: every row of the op case table (engine/testing/op_cases.h) run on the device
// under test in float32 against the same op on the CPU in float64, with poisoned allocations
// (an unwritten element shows as NaN) and twice (the two runs must agree bit for bit).
//   --device cuda: the CUDA kernels (every convolution implementation) against the CPU in float64;
//   --device cpu:  the CPU in float32 against the CPU in float64.
// Error of a tensor: max |got - ref| / max |ref|; the bounds and their reasons are in
// selftest.cpp, tolerance().
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/testing/op_cases.h"

namespace sfm::testing {

struct SelftestOptions {
  Device device = Device::CPU;
  bool quick = false;         // the quick selection (small shapes; seconds on the CPU)
  uint64_t seed = 0;          // 0: from the clock
  std::string filter;         // run only rows whose "family/op/impl/shape" contains this
  std::string json_path;      // write the rows there ("" = no file)
  std::FILE* out = stdout;    // the table (nullptr = print nothing)
  bool only_failures = false; // print failing rows and the summary only
};

struct SelftestRow {
  std::string family, op, impl, shape_class, shape;
  std::string verdict;      // "PASS", "FAIL", "DETERMINISM FAIL", "SKIPPED"
  std::string worst;        // the tensor with the largest error / bound, "" when skipped
  double max_rel_err = 0;   // of that tensor (NaN: not finite, missing, or wrong shape)
  double bound = 0;         // of that tensor
  std::string note;         // why skipped or failed (exception text, shape mismatch, ...)
  double seconds = 0;
  bool failed() const { return verdict != "PASS" && verdict != "SKIPPED"; }
};

struct SelftestReport {
  uint64_t seed = 0;
  Device device = Device::CPU;
  bool quick = false;
  std::vector<SelftestRow> rows;
  int passed = 0, failed = 0, skipped = 0;
  double seconds = 0;
  bool ok() const { return failed == 0; }
  // "conv2d/cublas [..] (FAIL: grad w 3e-2 > 1e-5); ..." for every failed row ("" if none).
  std::string failure_summary() const;
};

// The bound of a tolerance class for an implementation on a device (scale: see CaseTensor).
double tolerance(TolClass c, const std::string& impl, Device device, double scale);

// Runs the table's rows for opt.device (the quick ones when opt.quick).
SelftestReport run_selftest(const SelftestOptions& opt);
// Runs the given rows (all of them; opt.quick and the table are not consulted): for tests.
SelftestReport run_selftest(const SelftestOptions& opt, const std::vector<OpCase>& rows);

void write_selftest_json(const SelftestReport& r, const std::string& path);

// The gate in front of training: on CUDA, runs the quick form and throws an sfm::Error naming
// every failing op/implementation (who: "sfm train"); does nothing on the CPU or without a
// CUDA device (the trainer reports that itself).
void require_selftest_pass(Device device, const std::string& who);

}  // namespace sfm::testing
