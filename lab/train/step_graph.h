#pragma once
// One SfMLearner training step captured into a CUDA graph (engine/cuda_graph.h) and replayed:
// what `sfm bench train --cuda-graph` times. Experimental: never run on a GPU at the time of
// writing.
//
// The captured step is SfMLearner::step (models/sfmlearner.h) with graph_step_control(): no
// finiteness check of the inputs and no read-back of the loss, host round trips that a graph
// cannot hold; a batch is checked on the host before it is copied into the graph's static
// inputs (set_inputs).
//
// Memory: every block the captured step allocates comes from the caching allocator, which
// eager steps of the same form bring to a steady state first, so the capture normally makes
// no cudaMalloc (capture_mallocs() counts them). Blocks freed during the capture go back to the
// allocator's free lists although the graph keeps using them on every replay, so nothing may
// allocate CUDA memory between replays while the graph lives: replay() checks the allocator's
// call count and throws if anything did.
//
// Adam's bias corrections (1 - beta^t) are kernel arguments, and its host-side step count
// advances once, at the capture: every replay applies the captured step's corrections. The
// first replay is exactly the next eager step; later ones are the same work, not the same
// optimiser (a training loop on graphs would need the step count on the device).
#include <cstddef>
#include <string>

#include "engine/cuda_graph.h"
#include "models/sfmlearner.h"

namespace sfm {

// The captured step's control: check_inputs and skip_non_finite off, no phase timing.
StepControl graph_step_control();

class SfMLearnerGraph {
 public:
  // The graph's static inputs: a normalised copy of `example` on the unit's device, which
  // every replay reads. The unit must outlive the graph.
  SfMLearnerGraph(SfMLearner& m, const SfMBatch& example);
  SfMLearnerGraph(const SfMLearnerGraph&) = delete;
  SfMLearnerGraph& operator=(const SfMLearnerGraph&) = delete;

  // `warm_steps` eager steps of the captured form on the static inputs (they update the unit),
  // then the capture. Returns false and says why when the unit is not on CUDA, graphs are not
  // available (CapturedGraph::unavailable_reason) or the capture fails.
  bool capture(std::string* why, int warm_steps = 2);
  // Copies a CPU batch of the static inputs' shapes into them (normalised first when it is
  // Raw255); throws naming the tensor when it holds NaN or Inf, is not on the CPU (checking a
  // device batch would allocate device memory) or its shape differs.
  void set_inputs(const SfMBatch& b);
  // One replay, asynchronous; throws when CUDA memory was allocated since the capture.
  void replay();
  // The total loss of the last replay (a device scalar, valid after a synchronisation).
  const Tensor& loss() const { return loss_; }
  size_t nodes() const { return graph_.nodes(); }
  size_t capture_mallocs() const { return capture_mallocs_; }  // cudaMalloc calls during the capture

 private:
  SfMLearner& m_;
  SfMBatch in_;  // the static inputs (normalised, on the unit's device)
  CapturedGraph graph_;
  Tensor loss_;
  size_t capture_mallocs_ = 0, alloc_calls_ = 0;
};

}  // namespace sfm
