// `sfm selftest --mode time` (selftest.h): each row's forward + backward timed on the device.
//
// A row's inputs are made once and converted to float32 on the device outside the timed
// region; the run then receives those tensors themselves (CaseContext::share_inputs), so a timed
// call is the op's forward, the tape and its backward, as training pays them, plus the
// detached handles the run returns. warmup untimed calls first (allocator pools, cuDNN's
// algorithm choice, lazily built plans), then reps calls each between device synchronisations
// (lab/ops/timing.h);
// the median, with min and max. GFLOP/s and GB/s from the row's stated cost (OpCase::flops,
// bytes: the fewest bytes a forward + backward can move, so GB/s is a lower bound of the traffic
// rate).
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "boundary/device_runtime.h"
#include "boundary/error.h"
#include "engine/stopwatch.h"
#include "lab/ops/selftest.h"
#include "lab/ops/timing.h"

namespace sfm::lab {

namespace {

using Clock = std::chrono::steady_clock;

void print_header(std::FILE* f) {
  std::fprintf(f, "%-28s %-13s %-10s %10s %10s %10s %9s %8s  %s\n", "op", "implementation", "shape", "ms", "min ms",
               "GFLOP/s", "GB/s", "verdict", "case");
}
void print_row(std::FILE* f, const SelftestRow& r) {
  auto rate = [](double amount, double ms) {
    char b[32];
    if (amount <= 0 || ms <= 0) return std::string("-");
    std::snprintf(b, sizeof b, "%.1f", amount / (ms * 1e6));
    return std::string(b);
  };
  if (r.verdict == "TIMED")
    std::fprintf(f, "%-28s %-13s %-10s %10.3f %10.3f %10s %9s %8s  %s\n", r.op.c_str(), r.impl.c_str(), r.shape_class.c_str(),
                 r.ms_median, r.ms_min, rate(r.flops, r.ms_median).c_str(), rate(r.bytes, r.ms_median).c_str(),
                 r.verdict.c_str(), r.shape.c_str());
  else
    std::fprintf(f, "%-28s %-13s %-10s %10s %10s %10s %9s %8s  %s  -- %s\n", r.op.c_str(), r.impl.c_str(),
                 r.shape_class.c_str(), "-", "-", "-", "-", r.verdict.c_str(), r.shape.c_str(), r.note.c_str());
  std::fflush(f);
}

void time_row(const OpCase& c, const SelftestOptions& opt, int reps, SelftestRow& row) {
  CaseContext ctx;
  ctx.dtype = DType::F32;
  ctx.device = opt.device;
  ctx.impl = c.impl;
  ctx.share_inputs = true;
  CaseInputs inputs = c.make_inputs(case_seed(opt.seed, c.key));
  for (auto& [name, t] : inputs) t = t.to(DType::F32).to(opt.device);
  std::vector<CaseTensor> out;  // freed after the clock stops (time_calls' after_each)
  const CallTimes t = time_calls([&] { out = c.run(inputs, ctx); }, opt.warmup, reps, [&] { out.clear(); });
  row.verdict = "TIMED";
  row.reps = t.reps;
  row.ms_median = t.ms_median, row.ms_min = t.ms_min, row.ms_max = t.ms_max;
  row.flops = c.flops, row.bytes = c.bytes;
}

}  // namespace

SelftestReport run_timing(const SelftestOptions& opt, const std::vector<OpCase>& rows) {
  SFM_CHECK(opt.device == Device::CPU || cuda_available(), "sfm selftest: --device cuda but no CUDA device is available");
  const int reps = opt.reps > 0 ? opt.reps : opt.device == Device::CUDA ? 20 : 3;
  SFM_CHECK(opt.warmup >= 0, "sfm selftest: --warmup must be >= 0, got ", opt.warmup);
  const auto t0 = Clock::now();
  SelftestReport rep;
  rep.mode = SelftestMode::Time;
  rep.seed = opt.seed;
  rep.device = opt.device;
  rep.quick = opt.quick;
  std::FILE* f = opt.out;
  if (f) {
    std::fprintf(f, "sfm selftest --mode time: %s (%s), float32 forward + backward, %d warm-up then median of %d calls, %s "
                    "form, seed %llu\n",
                 device_name(opt.device), opt.device == Device::CUDA ? cuda_device_name().c_str() : "cpu", opt.warmup, reps,
                 opt.quick ? "quick" : "full", (unsigned long long)opt.seed);
    print_header(f);
  }
  for (const OpCase& c : rows) {
    const auto r0 = Clock::now();
    SelftestRow row = begin_selftest_row(c);
    if (row.verdict != "SKIPPED") {
      try {
        time_row(c, opt, reps, row);
      } catch (const std::exception& e) {
        row.verdict = "FAIL";
        row.note = e.what();
      }
    }
    keep_selftest_row(rep, std::move(row), ms_since(r0) / 1e3, "TIMED");
    if (f && (!opt.only_failures || rep.rows.back().failed())) print_row(f, rep.rows.back());
  }
  rep.seconds = ms_since(t0) / 1e3;
  if (f)
    std::fprintf(f, "sfm selftest --mode time (%s, %s): %d timed, %d failed, %d skipped in %.1f s (seed %llu)\n",
                 device_name(opt.device), opt.quick ? "quick" : "full", rep.passed, rep.failed, rep.skipped, rep.seconds,
                 (unsigned long long)rep.seed);
  if (!opt.json_path.empty()) write_selftest_json(rep, opt.json_path);
  return rep;
}

}  // namespace sfm::lab
