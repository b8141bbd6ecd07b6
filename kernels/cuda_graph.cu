// CUDA graph capture on the compute stream (kernels/cuda_graph.h).
#include "kernels/cuda_graph.h"

#include "kernels/cuda_check.h"
#include "kernels/runtime.h"

namespace sfm::cuda {

std::string graph_capture_unsupported_reason() {
#if SFM_EMULATED_CUDA
  return "the emulated CUDA device does not record graphs";
#else
  return "";
#endif
}

void begin_capture() { SFM_CUDA_CHECK(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeThreadLocal)); }

std::string end_capture(GraphHandles* h) {
  *h = GraphHandles{};
  cudaGraph_t graph = nullptr;
  cudaError_t e = cudaStreamEndCapture(stream(), &graph);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (graph) cudaGraphDestroy(graph);
    return std::string("cudaStreamEndCapture: ") + cudaGetErrorString(e);
  }
  cudaGraphExec_t exec = nullptr;
#if CUDART_VERSION >= 12000
  e = cudaGraphInstantiate(&exec, graph, 0);
#else
  e = cudaGraphInstantiate(&exec, graph, nullptr, nullptr, 0);
#endif
  if (e != cudaSuccess) {
    cudaGetLastError();
    cudaGraphDestroy(graph);
    return std::string("cudaGraphInstantiate: ") + cudaGetErrorString(e);
  }
  size_t nodes = 0;
  e = cudaGraphGetNodes(graph, nullptr, &nodes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    return std::string("cudaGraphGetNodes: ") + cudaGetErrorString(e);
  }
  h->graph = graph;
  h->exec = exec;
  h->nodes = nodes;
  return "";
}

void abandon_capture() {
  cudaGraph_t graph = nullptr;
  cudaStreamEndCapture(stream(), &graph);
  if (graph) cudaGraphDestroy(graph);
  cudaGetLastError();
}

void launch_graph(const GraphHandles& h) {
  SFM_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(h.exec), stream()));
}

void destroy_graph(GraphHandles* h) {
  if (h->exec) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(h->exec));
  if (h->graph) cudaGraphDestroy(static_cast<cudaGraph_t>(h->graph));
  *h = GraphHandles{};
}

}  // namespace sfm::cuda
