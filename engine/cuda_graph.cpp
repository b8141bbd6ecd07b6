// CapturedGraph (engine/cuda_graph.h): over kernels/cuda_graph.h in CUDA and emulated builds;
// in the CPU-only build every capture reports that there is no CUDA backend.
#include "engine/cuda_graph.h"

#include <exception>

#include "boundary/device_runtime.h"
#include "boundary/error.h"
#if SFM_WITH_CUDA
#include "kernels/cuda_graph.h"
#endif

namespace sfm {

CapturedGraph::~CapturedGraph() { release(); }

std::string CapturedGraph::unavailable_reason() {
#if SFM_WITH_CUDA
  const std::string why = cuda::graph_capture_unsupported_reason();
  if (!why.empty()) return why;
  if (!cuda_available()) return "no CUDA device";
  return "";
#else
  return "this build has no CUDA backend";
#endif
}

bool CapturedGraph::capture(const std::function<void()>& work, std::string* why) {
  release();
  const std::string unavailable = unavailable_reason();
  if (!unavailable.empty()) {
    *why = "CUDA graphs are not available: " + unavailable;
    return false;
  }
#if SFM_WITH_CUDA
  cuda_synchronize();
  try {
    cuda::begin_capture();
  } catch (const std::exception& e) {
    *why = e.what();
    return false;
  }
  try {
    work();
  } catch (const std::exception& e) {
    cuda::abandon_capture();
    *why = std::string("capture failed: ") + e.what();
    return false;
  }
  cuda::GraphHandles h;
  const std::string err = cuda::end_capture(&h);
  if (!err.empty()) {
    *why = err;
    return false;
  }
  graph_ = h.graph;
  exec_ = h.exec;
  nodes_ = h.nodes;
  return true;
#else
  return false;  // unreachable: unavailable_reason() is never empty here
#endif
}

void CapturedGraph::launch() {
  SFM_CHECK(captured(), "CapturedGraph::launch: nothing was captured");
#if SFM_WITH_CUDA
  cuda::launch_graph(cuda::GraphHandles{graph_, exec_, nodes_});
#endif
}

void CapturedGraph::release() {
#if SFM_WITH_CUDA
  cuda::GraphHandles h{graph_, exec_, nodes_};
  cuda::destroy_graph(&h);
#endif
  graph_ = exec_ = nullptr;
  nodes_ = 0;
}

}  // namespace sfm
