#pragma once
// `sfm bench train` under a launcher (mpirun -np N, srun): the throughput of a data-parallel job
// running the trainer's step (SfMLearner::step with DataParallelStep's hooks,
// models/sfmlearner_parallel.h), and what the gradient all-reduce costs. In one job, on the
// same machine, per convolution implementation:
//   * one rank alone: rank 0 runs `warmup` + `iters` steps of its own batch without any
//     communication while the other ranks wait at a barrier (the single-process reference);
//   * the job: every rank runs `warmup` + `iters` data-parallel steps of its own batch (seeded
//     per rank); each timed step starts at a barrier, so a rank's step time is the job's step
//     time as that rank saw it, and the gradient averaging is timed inside it;
//   * the report: the job's images/s (N * batch over the slowest rank's median step), each
//     rank's median step and all-reduce time and the all-reduce's share of its step, the
//     scaling efficiency (job images/s over N times one rank's), and whether the weights are
//     bit-identical on every rank after the job's steps (they must be: same start, same
//     averaged gradient, same Adam step).
// The batch is per rank (the global batch is N * batch). The loader-fed run, the PyTorch
// comparison, the CUDA graph and the roofline are single-process measurements (sfm bench
// train without a launcher). OpenCV-free.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lab/train/step_bench.h"

namespace sfm {

struct ParallelBenchRun {
  std::string impl, precision;
  std::vector<double> one_rank_ms;                 // rank 0 alone, per timed step
  std::vector<double> step_ms_median, allreduce_ms_median;  // per rank, in rank order
  std::vector<double> loss_last;                   // per rank: each rank's own batch
  double job_step_ms = 0;                          // the slowest rank's median step
  size_t gradient_floats = 0;                      // floats averaged per step
  bool weights_identical = false;                  // on every rank after the job's steps
  double one_rank_images_per_s(int batch) const;
  double job_images_per_s(int batch) const;
  double scaling_efficiency(int batch) const;      // job / (ranks * one rank)
};

struct ParallelBenchResult {
  int ranks = 1;
  std::string communicator;  // the gradient all-reduce's: Collective::name()
  std::vector<ParallelBenchRun> runs;  // on every rank (the per-rank vectors are the job's)
  nlohmann::json report;
};

// Call on every rank of a job of several ranks (world().size() > 1); every rank returns the
// same result. o.loader and o.data_root are not used.
ParallelBenchResult run_train_bench_parallel(const TrainBenchSettings& s, const TrainBenchOptions& o);

}  // namespace sfm
