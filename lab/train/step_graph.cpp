#include "lab/train/step_graph.h"

#include "engine/device_runtime.h"
#include "engine/error.h"
#include "engine/ops.h"

namespace sfm {

StepControl graph_step_control() {
  StepControl c;
  c.check_inputs = false;
  c.skip_non_finite = false;
  return c;
}

SfMLearnerGraph::SfMLearnerGraph(SfMLearner& m, const SfMBatch& example) : m_(m) {
  const SfMBatch n = normalized(example.to(m.device()));
  in_ = SfMBatch{n.tgt.clone(), n.srcs.clone(), n.K.clone(), SfMBatch::Range::Normalized};
}

bool SfMLearnerGraph::capture(std::string* why, int warm_steps) {
  if (m_.device() != Device::CUDA) {
    *why = "CUDA graphs need a unit on the CUDA device";
    return false;
  }
  const std::string unavailable = CapturedGraph::unavailable_reason();
  if (!unavailable.empty()) {
    *why = "CUDA graphs are not available: " + unavailable;
    return false;
  }
  for (int i = 0; i < warm_steps; ++i) m_.step(in_, graph_step_control());  // allocator in steady state
  cuda_synchronize();
  Allocator& a = allocator_for(Device::CUDA);
  const size_t system_allocs = a.stats().system_allocs;
  Tensor loss;
  if (!graph_.capture([&] { loss = m_.step(in_, graph_step_control()).total; }, why)) return false;
  loss_ = loss;
  capture_mallocs_ = a.stats().system_allocs - system_allocs;
  alloc_calls_ = a.stats().alloc_calls;
  return true;
}

void SfMLearnerGraph::set_inputs(const SfMBatch& b) {
  SFM_CHECK(b.tgt.device() == Device::CPU && b.srcs.device() == Device::CPU && b.K.device() == Device::CPU,
            "SfMLearnerGraph::set_inputs: the batch must be on the CPU (it is checked there)");
  const SfMBatch n = normalized(b);
  const std::pair<const char*, const Tensor*> parts[] = {{"tgt", &n.tgt}, {"srcs", &n.srcs}, {"K", &n.K}};
  for (const auto& [name, t] : parts) SFM_CHECK(all_finite(*t), "SfMLearnerGraph::set_inputs: ", name, " holds NaN or Inf");
  in_.tgt.copy_(n.tgt);
  in_.srcs.copy_(n.srcs);
  in_.K.copy_(n.K);
}

void SfMLearnerGraph::replay() {
  SFM_CHECK(graph_.captured(), "SfMLearnerGraph::replay: nothing was captured");
  SFM_CHECK(allocator_for(Device::CUDA).stats().alloc_calls == alloc_calls_,
            "SfMLearnerGraph::replay: CUDA memory was allocated between graph replays (the graph may overwrite it)");
  graph_.launch();
}

}  // namespace sfm
