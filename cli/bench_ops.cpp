// `sfm bench ops`: options and the --table path; the rows and their timing live in lab/ops/.
//
// Its own rows (lab/ops/op_bench_<family>.cpp, run by lab/ops/op_bench.cpp) stay beside the op
// table's (lab/ops/op_cases.h) because they measure what the table's rows do not: forward and
// backward apart, the backward without the tape (the autograd node's own function), at any
// --batch/--height/--width and at the loss's four scales. `--table` times the table's rows of
// the same families instead (forward + backward through the tape, the table's SfMLearner shapes:
// the timing mode of `sfm selftest`, lab/ops/timing_mode.cpp), and `--list` names the rows either way.
#include <cstdio>

#include "cli/args.h"
#include "cli/command.h"
#include "boundary/device_runtime.h"
#include "cpu/parallel.h"
#include "lab/ops/op_bench.h"
#include "lab/ops/selftest.h"

namespace sfm::cli {

// The op table's families that this benchmark's own rows cover.
static bool bench_covers(const std::string& table_family) {
  return table_family == "conv" || table_family == "resample" || table_family == "geometry" || table_family == "loss";
}

// --table: the op table's SfMLearner-shape rows of the covered families, timed by the selftest's
// timing mode (same rows, same cost columns, the selftest's JSON with "mode": "time").
static int bench_table(const lab::BenchContext& ctx, int reps, const std::string& filter, bool list, const std::string& json) {
  SFM_CHECK(ctx.batch == 4 && ctx.height == 128 && ctx.width == 416,
            "sfm bench ops --table: the table's shapes are fixed (batch 4 at 128x416); --batch, --height and --width "
            "apply to the benchmark's own rows");
  const uint64_t seed = 1;  // SfMLearner shapes only: the seed picks no shape, only input values
  std::vector<lab::OpCase> rows;
  for (lab::OpCase& c : lab::op_cases(ctx.device, seed)) {
    if (!bench_covers(c.family) || c.shape_class != lab::ShapeClass::SfMLearner) continue;
    if (!filter.empty() && (c.family + "/" + c.op + "/" + c.impl + "/" + c.shape).find(filter) == std::string::npos) continue;
    rows.push_back(std::move(c));
  }
  if (list) {
    for (const lab::OpCase& c : rows)
      std::printf("%-8s %-18s %-13s %s\n", c.family.c_str(), c.op.c_str(), c.impl.c_str(), c.shape.c_str());
    return 0;
  }
  SFM_CHECK(!rows.empty(), "sfm bench ops --table: no table row matches --filter '", filter, "'");
  lab::SelftestOptions o;
  o.mode = lab::SelftestMode::Time;
  o.device = ctx.device;
  o.seed = seed;
  o.reps = reps;
  o.json_path = json;
  const lab::SelftestReport r = lab::run_timing(o, rows);
  if (!json.empty()) std::printf("wrote %s\n", json.c_str());
  return r.ok() ? 0 : 1;
}

static int bench_ops(const std::vector<std::string>& argv) {
  Args a("bench ops", "Times each SfMLearner op at the training shapes (median of repeated calls).");
  a.option("device", "cpu or cuda", "cpu")
      .option("batch", "batch size", "4")
      .option("height", "image height", "128")
      .option("width", "image width", "416")
      .option("filter", "only rows whose op or shape contains this text", "")
      .option("reps", "timed calls per row (CPU default 5, CUDA 50)", "")
      .option("json", "also write the results as JSON to this file", "")
      .option("threads", "CPU threads (default: all)", "0")
      .flag("table",
            "time the op table's rows of these families instead (conv, resample, geometry, loss at the table's "
            "SfMLearner shapes, batch 4 at 128x416: forward + backward through the tape, as sfm selftest --mode time)")
      .flag("list", "print the rows that would run, without timing them");
  if (!a.parse(argv)) return 0;
  lab::BenchContext ctx;
  std::string dev = a.get("device");
  SFM_CHECK(dev == "cpu" || dev == "cuda", "sfm bench ops: --device must be cpu or cuda, got '", dev, "'");
  ctx.device = dev == "cpu" ? Device::CPU : Device::CUDA;
  if (ctx.device == Device::CUDA) SFM_CHECK(cuda_available(), "sfm bench ops: --device cuda but no CUDA device is available");
  ctx.batch = a.get_int("batch");
  ctx.height = a.get_int("height");
  ctx.width = a.get_int("width");
  if (a.get_int("threads") > 0) set_cpu_threads(a.get_int("threads"));
  int reps = a.has("reps") ? a.get_int("reps") : (ctx.device == Device::CPU ? 5 : 50);
  SFM_CHECK(reps >= 1, "sfm bench ops: --reps must be >= 1, got ", reps);
  SFM_CHECK(ctx.batch >= 1 && ctx.height >= 1 && ctx.width >= 1, "sfm bench ops: --batch, --height and --width must be >= 1");
  std::string filter = a.get("filter");
  if (a.get_flag("table")) return bench_table(ctx, reps, filter, a.get_flag("list"), a.has("json") ? a.get("json") : "");
  lab::OpBenchOptions o;
  o.ctx = ctx;
  o.reps = reps;
  o.filter = filter;
  o.json = a.has("json") ? a.get("json") : "";
  if (a.get_flag("list"))
    lab::list_op_bench(o);
  else
    lab::run_op_bench(o);
  return 0;
}

SFM_COMMAND("bench ops", "time each op at the SfMLearner training shapes", bench_ops);

}  // namespace sfm::cli
