#pragma once
// Data-parallel gradient averaging: after backward, every parameter's gradient is packed into
// one flat buffer on the parameters' device, summed over the ranks bucket by bucket (the
// device communicator: NCCL on CUDA where the build has it, MPI through the host otherwise),
// divided by the number of ranks and copied back. Each rank then holds the gradient of the
// mean loss over the global batch, so the Adam step that follows is identical on every rank.
// Buckets bound the size of one message (MPI counts are ints; NCCL chunks anyway); they are
// reduced one after the other once backward has finished (the backward pass is one call, so
// there is nothing here for a bucket's reduction to overlap with).
#include <cstddef>
#include <vector>

#include "engine/collective.h"
#include "engine/tensor.h"

namespace sfm {

class GradientAverager {
 public:
  explicit GradientAverager(Collective& comm, size_t bucket_bytes = 25u << 20);
  // Averages the gradients of `params` over the ranks (parameters without a gradient are left
  // out: every rank runs the same graph, so the same ones lack it everywhere).
  void average(const std::vector<Tensor>& params);
  // Seconds of the latest average(): all of it, and the reductions alone.
  double last_seconds() const { return last_total_s_; }
  double last_reduce_seconds() const { return last_reduce_s_; }
  size_t last_floats() const { return last_floats_; }

 private:
  Collective& comm_;
  size_t bucket_floats_;
  Tensor flat_;
  double last_total_s_ = 0, last_reduce_s_ = 0;
  size_t last_floats_ = 0;
};

}  // namespace sfm
