#pragma once
// Stream capture into CUDA graphs on the compute stream (kernels/runtime.h), behind opaque
// handles so that the engine's CapturedGraph (engine/cuda_graph.h), which is the interface to
// use, needs no CUDA header. CUDA and emulated builds only.
#include <cstddef>
#include <string>

namespace sfm::cuda {

struct GraphHandles {
  void* graph = nullptr;  // cudaGraph_t
  void* exec = nullptr;   // cudaGraphExec_t
  size_t nodes = 0;
};

// "" when this build can record graphs; otherwise why not (the emulated device cannot).
std::string graph_capture_unsupported_reason();
// Puts the compute stream into capture mode, thread-local: a synchronising call made by this
// thread during the capture fails it instead of corrupting it. Throws sfm::Error.
void begin_capture();
// Ends the capture begun by begin_capture and instantiates the graph. Returns "" and fills *h,
// or says why it failed (*h then stays empty). Either way the stream has left capture mode and
// CUDA's sticky error is cleared.
std::string end_capture(GraphHandles* h);
// Ends a capture that is being given up (the work recorded so far is discarded).
void abandon_capture();
// Enqueues one replay on the compute stream.
void launch_graph(const GraphHandles& h);
// Frees the graph and its executable form (nothing when empty); *h is empty afterwards.
void destroy_graph(GraphHandles* h);

}  // namespace sfm::cuda
