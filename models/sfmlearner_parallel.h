#pragma once
// The data-parallel half of a training step (docs/training.md "Several GPUs or machines"),
// shared by `sfm train` (train/trainer.cpp) and `sfm bench train` under mpirun
// (lab/train/parallel_bench.h), so that the benchmark times the trainer's step: after
// the loss the ranks agree whether every rank's loss is finite (all update or none does), and
// after backward the gradients are averaged over the ranks (engine/collective_gradients.h:
// NCCL on CUDA where the build has it, MPI through the host otherwise) before Adam.
#include <cstddef>
#include <memory>

#include "engine/collective.h"
#include "engine/collective_gradients.h"
#include "models/sfmlearner.h"

namespace sfm {

class DataParallelStep {
 public:
  // comm: the job (world()); on CUDA the gradients go through device_world().
  DataParallelStep(Collective& comm, Device dev);
  int ranks() const { return comm_.size(); }
  // This step's hooks: fills c.all_finite and c.average_gradients (nothing for one rank) and
  // resets agreed() and reduce_seconds().
  void attach(StepControl& c);
  // Every rank has passed this step's agreement: from there on the others wait in the gradient
  // all-reduce, so a rank that fails can only end the job (Collective::abort).
  bool agreed() const { return agreed_; }
  // This rank's step failed before the agreement: take part in it with "not finite", so every
  // rank skips the update and the job can stop in step.
  void fail_before_agreement();
  double reduce_seconds() const { return reduce_s_; }  // this step's gradient averaging (0: none yet)
  size_t gradient_floats() const { return averager_ ? averager_->last_floats() : 0; }

 private:
  bool agree(bool finite);
  Collective& comm_;
  std::unique_ptr<GradientAverager> averager_;
  bool agreed_ = false;
  double reduce_s_ = 0;
};

}  // namespace sfm
