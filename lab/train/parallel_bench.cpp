// `sfm bench train` under a launcher (lab/train/parallel_bench.h).
#include "lab/train/parallel_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>

#include "engine/collective.h"
#include "engine/device_runtime.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/stopwatch.h"
#include "lab/train/random_batch.h"
#include "models/sfmlearner_parallel.h"

namespace sfm {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// Each rank's own batch: the single-process benchmark's for rank 0, seeded by rank otherwise.
SfMBatch rank_batch(const TrainBenchSettings& s, int rank) {
  return normalized(random_batch(s.batch, s.height, s.width, s.sources(), 12345 + (uint64_t)rank, s.dev));
}

ParallelBenchRun run_impl(const TrainBenchSettings& s, const TrainBenchOptions& o, const std::string& impl,
                          Collective& comm) {
  const int rank = comm.rank(), ranks = comm.size();
  auto progress = [&](const std::string& line) {
    if (o.progress && rank == 0) o.progress(line);
  };
  ParallelBenchRun r;
  r.impl = impl;
  r.precision = impl == "tf32" ? "tf32" : "fp32";
  if (s.dev == Device::CUDA) set_conv_impl(parse_conv_impl(impl));
  const SfMBatch in = rank_batch(s, rank);

  // One rank alone (its own model: the job's below starts from the initial weights).
  comm.barrier();
  if (rank == 0) {
    SfMLearner alone(sfmlearner_defaults(s.dev, s.seq_length, s.mask_weight));
    for (int i = 0; i < s.warmup; ++i) train_bench_step(alone, in);
    cuda_synchronize();
    for (int i = 0; i < s.iters; ++i) {
      auto t0 = Clock::now();
      train_bench_step(alone, in);
      cuda_synchronize();
      r.one_rank_ms.push_back(ms_since(t0));
      char line[160];
      std::snprintf(line, sizeof line, "  [%s] one rank alone, step %d/%d: %.2f ms", impl.c_str(), i + 1, s.iters,
                    r.one_rank_ms.back());
      progress(line);
    }
  }
  comm.barrier();

  // The job: the trainer's data-parallel step on every rank.
  SfMLearner m(sfmlearner_defaults(s.dev, s.seq_length, s.mask_weight));
  DataParallelStep parallel(comm, s.dev);
  std::vector<double> step_ms, reduce_ms;
  Tensor last;
  for (int i = 0; i < s.warmup + s.iters; ++i) {
    comm.barrier();
    auto t0 = Clock::now();
    last = train_bench_step(m, in, nullptr, &parallel).total;
    cuda_synchronize();
    const double ms = ms_since(t0);
    if (i < s.warmup) continue;
    step_ms.push_back(ms);
    reduce_ms.push_back(1e3 * parallel.reduce_seconds());
    char line[160];
    std::snprintf(line, sizeof line, "  [%s] %d ranks, step %d/%d: rank 0 %.2f ms, of which gradient all-reduce %.2f ms",
                  impl.c_str(), ranks, i - s.warmup + 1, s.iters, ms, reduce_ms.back());
    progress(line);
  }
  r.gradient_floats = parallel.gradient_floats();

  // Rank 0's weights against everyone's.
  uint64_t h = sfmlearner_weights_hash(m), h0 = h;
  comm.broadcast(&h0, sizeof h0, 0);

  // Every rank's figures to every rank: 4 values per rank, the others' slots zero.
  std::vector<double> v(4 * (size_t)ranks, 0.0);
  v[4 * rank + 0] = bench_median(step_ms);
  v[4 * rank + 1] = bench_median(reduce_ms);
  v[4 * rank + 2] = last.item();
  v[4 * rank + 3] = h == h0 ? 0.0 : 1.0;
  comm.all_reduce_sum(v.data(), v.size());
  r.one_rank_ms.resize(s.iters);
  comm.broadcast(r.one_rank_ms.data(), r.one_rank_ms.size() * sizeof(double), 0);
  double mismatches = 0;
  for (int k = 0; k < ranks; ++k) {
    r.step_ms_median.push_back(v[4 * k + 0]);
    r.allreduce_ms_median.push_back(v[4 * k + 1]);
    r.loss_last.push_back(v[4 * k + 2]);
    mismatches += v[4 * k + 3];
  }
  r.job_step_ms = *std::max_element(r.step_ms_median.begin(), r.step_ms_median.end());
  r.weights_identical = mismatches == 0;
  return r;
}

}  // namespace

double ParallelBenchRun::one_rank_images_per_s(int batch) const { return 1e3 * batch / bench_median(one_rank_ms); }
double ParallelBenchRun::job_images_per_s(int batch) const {
  return 1e3 * batch * (double)step_ms_median.size() / job_step_ms;
}
double ParallelBenchRun::scaling_efficiency(int batch) const {
  return job_images_per_s(batch) / ((double)step_ms_median.size() * one_rank_images_per_s(batch));
}

ParallelBenchResult run_train_bench_parallel(const TrainBenchSettings& s, const TrainBenchOptions& o) {
  Collective& comm = world();
  SFM_CHECK(comm.size() > 1, "sfm bench train: the data-parallel benchmark needs a job of several ranks (mpirun -np N)");
  SFM_CHECK(!o.impls.empty(), "sfm bench train: no convolution implementation to run");
  ParallelBenchResult res;
  res.ranks = comm.size();
  res.communicator = (s.dev == Device::CUDA ? device_world() : comm).name();
  json& report = res.report;
  json settings = train_bench_settings_json(s);
  settings["batch_per_rank"] = s.batch;
  settings["global_batch"] = s.batch * res.ranks;
  settings["input"] = "seeded smooth random images (lab/train/random_batch.h random_batch, seed 12345 + rank), normalised";
  report = json{{"tool", "sfm bench train"}, {"mode", "data_parallel"}, {"settings", settings}};
  report["device_name"] = o.device_description;
  report["threads_per_rank"] = cpu_threads();
  report["ranks"] = res.ranks;
  report["launcher"] = comm.name();
  report["gradient_communicator"] = res.communicator;
  report["one_rank_note"] =
      "rank 0 alone, the other ranks waiting at a barrier (an Open MPI barrier polls: on an oversubscribed machine "
      "the waiting ranks still take CPU time)";
  json runs = json::array();
  for (const std::string& impl : o.impls) {
    res.runs.push_back(run_impl(s, o, impl, comm));
    const ParallelBenchRun& r = res.runs.back();
    json per_rank = json::array();
    for (int k = 0; k < res.ranks; ++k)
      per_rank.push_back({{"rank", k},
                          {"step_ms_median", r.step_ms_median[k]},
                          {"allreduce_ms_median", r.allreduce_ms_median[k]},
                          {"allreduce_share", r.allreduce_ms_median[k] / r.step_ms_median[k]},
                          {"loss_last", r.loss_last[k]}});
    runs.push_back({{"conv_impl", r.impl},
                    {"precision", r.precision},
                    {"one_rank", {{"ms_all", r.one_rank_ms},
                                  {"ms_median", bench_median(r.one_rank_ms)},
                                  {"images_per_s", r.one_rank_images_per_s(s.batch)}}},
                    {"job", {{"step_ms", r.job_step_ms}, {"images_per_s", r.job_images_per_s(s.batch)}}},
                    {"per_rank", per_rank},
                    {"scaling_efficiency", r.scaling_efficiency(s.batch)},
                    {"gradient_floats", r.gradient_floats},
                    {"gradient_bytes_per_step", 4 * r.gradient_floats},
                    {"weights_identical_across_ranks", r.weights_identical}});
  }
  report["runs"] = runs;
  return res;
}

}  // namespace sfm
