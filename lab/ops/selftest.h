#pragma once
// `sfm selftest`: the rows of the op case table (lab/ops/op_cases.h) in one of three modes.
//   compare (default; selftest.cpp): each row on the device under test in float32 against the
//     same op on the CPU in float64, with poisoned allocations (an unwritten element shows as
//     NaN) and twice (the two runs must agree bit for bit).
//       --device cuda: the CUDA kernels (every convolution implementation) against the CPU in float64;
//       --device cpu:  the CPU in float32 against the CPU in float64.
//     Error of a tensor: max |got - ref| / max |ref|; the bounds and their reasons are in
//     selftest.cpp, tolerance().
//   gradcheck (gradcheck.cpp): each CPU row with a backward, in float64: central finite
//     differences of L = sum_k <y_k, g_k> at a seeded sample of each leaf's elements against the
//     row's analytic gradients; step and bound and their reasons: gradcheck.cpp.
//   time (timing_mode.cpp): each row's forward + backward on the device in float32, median of
//     repeated calls after warm-up, with GFLOP/s and GB/s where the row states its cost.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "lab/ops/gradcheck.h"
#include "lab/ops/op_cases.h"

namespace sfm::lab {

enum class SelftestMode { Compare, Gradcheck, Time };
const char* selftest_mode_name(SelftestMode m);  // "compare", "gradcheck", "time"
SelftestMode parse_selftest_mode(const std::string& s);  // throws naming the valid modes

struct SelftestOptions {
  SelftestMode mode = SelftestMode::Compare;
  Device device = Device::CPU;
  bool quick = false;         // the quick selection (small shapes; seconds on the CPU)
  uint64_t seed = 0;          // 0: from the clock
  std::string filter;         // run only rows whose "family/op/impl/shape" contains this
  std::string exclude;        // and leave out rows containing any of these (comma-separated)
  std::string classes;        // run only these shape classes ("edge,random"; "" = all)
  std::string json_path;      // write the rows there ("" = no file)
  std::FILE* out = stdout;    // the table (nullptr = print nothing)
  bool only_failures = false; // print failing rows and the summary only
  int fd_samples = 24;        // gradcheck: elements perturbed per leaf (all of a smaller leaf)
  int warmup = 1;             // time: untimed calls per row first
  int reps = 0;               // time: timed calls per row (0: 3 on the CPU, 20 on CUDA)
};

struct SelftestRow {
  std::string family, op, impl, shape_class, shape;
  std::string verdict;      // "PASS", "FAIL", "DETERMINISM FAIL", "SKIPPED"; time mode: "TIMED"
  std::string worst;        // the tensor with the largest error / bound, "" when skipped
  double max_rel_err = 0;   // of that tensor (NaN: not finite, missing, or wrong shape)
  double bound = 0;         // of that tensor
  std::string note;         // why skipped or failed (exception text, shape mismatch, ...)
  double seconds = 0;
  // time mode: milliseconds per forward + backward over the timed calls; the row's stated cost.
  int reps = 0;
  double ms_median = 0, ms_min = 0, ms_max = 0, flops = 0, bytes = 0;
  bool failed() const { return verdict == "FAIL" || verdict == "DETERMINISM FAIL"; }
};

struct SelftestReport {
  SelftestMode mode = SelftestMode::Compare;
  uint64_t seed = 0;
  Device device = Device::CPU;
  bool quick = false;
  std::vector<SelftestRow> rows;
  int passed = 0, failed = 0, skipped = 0;  // time mode: passed = rows timed
  double seconds = 0;
  bool ok() const { return failed == 0; }
  // "conv2d/cublas [..] (FAIL: grad w 3e-2 > 1e-5); ..." for every failed row ("" if none).
  std::string failure_summary() const;
};

// The bound of a tolerance class for an implementation on a device (scale: see CaseTensor).
double tolerance(TolClass c, const std::string& impl, Device device, double scale);

// Runs the table's rows for opt.device (the quick ones when opt.quick) in opt.mode.
SelftestReport run_selftest(const SelftestOptions& opt);
// Runs the given rows (all of them; opt.quick and the table are not consulted) in opt.mode: for tests.
SelftestReport run_selftest(const SelftestOptions& opt, const std::vector<OpCase>& rows);
// The modes on their own (run_selftest dispatches to them).
SelftestReport run_compare(const SelftestOptions& opt, const std::vector<OpCase>& rows);
SelftestReport run_gradcheck(const SelftestOptions& opt, const std::vector<OpCase>& rows);
SelftestReport run_timing(const SelftestOptions& opt, const std::vector<OpCase>& rows);

// The gradient check's step and bound (gradcheck_step, gradcheck_tolerance): lab/ops/gradcheck.h.

// Shared by the modes' tables: "1.23e-05", "nan"; the compare and gradcheck table's header and rows.
std::string format_error(double e);
void print_selftest_header(std::FILE* f);
void print_selftest_row(std::FILE* f, const SelftestRow& r);

void write_selftest_json(const SelftestReport& r, const std::string& path);

// Shared by the modes' loops: a row named after case c, already SKIPPED (with the reason) when c
// cannot run here; and the end of a row: its verdict counted (pass_verdict: "PASS", or "TIMED"
// in the time mode), its seconds set, the row kept in the report.
SelftestRow begin_selftest_row(const OpCase& c);
void keep_selftest_row(SelftestReport& rep, SelftestRow row, double seconds, const char* pass_verdict);

// The gate in front of training: on CUDA, runs the quick form and throws an sfm::Error naming
// every failing op/implementation (who: "sfm train"); does nothing on the CPU or without a
// CUDA device (the trainer reports that itself).
void require_selftest_pass(Device device, const std::string& who);

}  // namespace sfm::lab
