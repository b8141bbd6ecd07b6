#pragma once
// CUDA graphs of the engine's work: everything a function issues on the compute stream is
// recorded once and then replayed with one launch, without the host work of each op
// (dispatch, the tape, the allocator, cudaLaunchKernel). Implemented over kernels/cuda_graph.h
// in CUDA builds; the CPU-only build and the emulated device say that graphs are not available.
//
// What the recorded work must respect (the caller's part; SfMLearnerGraph in
// lab/train/step_graph.h is the example):
//  * no host synchronisation and no device-to-host read while recording (a loss read back, a
//    finiteness check): the capture fails, or records a copy whose host side is never updated;
//  * the graph replays the recorded addresses, so its inputs must live in tensors that outlive
//    it (new data is copied into them), and blocks that the work allocated and freed while
//    recording must not be handed to anyone else while the graph lives.
#include <cstddef>
#include <functional>
#include <string>

namespace sfm {

class CapturedGraph {
 public:
  CapturedGraph() = default;
  ~CapturedGraph();
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;

  // "" when this process can capture graphs; otherwise why not: "this build has no CUDA
  // backend", "the emulated CUDA device does not record graphs", "no CUDA device".
  static std::string unavailable_reason();

  // Waits for the work already queued, then records what `work` issues on the compute stream
  // and instantiates it (replacing an earlier capture). Returns false and says why in *why
  // when graphs are unavailable (`work` is then not called), when `work` throws ("capture
  // failed: ..."), or when CUDA refuses the recording; the stream has left capture mode either
  // way. Recording executes nothing: the work runs at the first launch().
  bool capture(const std::function<void()>& work, std::string* why);
  bool captured() const { return exec_ != nullptr; }
  // Enqueues one replay on the compute stream (asynchronous: cuda_synchronize() waits for it).
  void launch();
  size_t nodes() const { return nodes_; }  // nodes of the captured graph (0: none)

 private:
  void release();
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
  size_t nodes_ = 0;
};

}  // namespace sfm
