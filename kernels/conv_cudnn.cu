// cuDNN convolution path: FP32 with FMA math (no TF32), deterministic GEMM-type algorithms
// only. For each shape and direction the algorithm is chosen once from cuDNN's heuristics
// (cudnnGet*Algorithm_v7: the first deterministic GEMM-type FP32 algorithm, in the
// heuristic's order, whose workspace fits in 1 GiB) and cached with the shape's descriptors;
// the workspace comes from the caching allocator. The heuristic is a function of the shape,
// the GPU and the cuDNN version only, so every process picks the same algorithm and gets the
// same bits. cudnnFind* was used before: it times the candidates, and timing noise made two
// processes pick different algorithms for the same shape (different summation orders, so
// results differed in the last bits between runs).
#if SFM_WITH_CUDNN

#include <cudnn.h>

#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "kernels/conv_library.h"
#include "kernels/cuda_check.h"
#include "kernels/runtime.h"

namespace sfm::cuda::lib {

namespace {

constexpr size_t kMaxWorkspace = size_t(1) << 30;
constexpr int kMaxAlgos = 16;

struct Descs {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  // Chosen algorithms (-1: not chosen yet) and their workspace sizes.
  int fwd = -1, bwd_data = -1, bwd_filter = -1;
  size_t fwd_ws = 0, bwd_data_ws = 0, bwd_filter_ws = 0;

  explicit Descs(const ConvGeom& g) {
    SFM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    SFM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    SFM_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    SFM_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    SFM_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, (int)g.N, (int)g.C, (int)g.H,
                                               (int)g.W));
    SFM_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, (int)g.N, (int)g.O, (int)g.Ho,
                                               (int)g.Wo));
    SFM_CUDNN_CHECK(
        cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, (int)g.O, (int)g.C, (int)g.k, (int)g.k));
    SFM_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, g.p, g.p, g.s, g.s, 1, 1,
                                                    CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    SFM_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, CUDNN_FMA_MATH));
    int n = 0, c = 0, h = 0, ww = 0;
    SFM_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(conv, x, w, &n, &c, &h, &ww));
    SFM_CHECK(n == g.N && c == g.O && h == g.Ho && ww == g.Wo, "cuDNN convolution: output [", n, ", ", c, ", ", h, ", ",
              ww, "] differs from the expected [", g.N, ", ", g.O, ", ", g.Ho, ", ", g.Wo, "]");
  }
  ~Descs() {
    cudnnDestroyConvolutionDescriptor(conv);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(x);
  }
  Descs(const Descs&) = delete;
  Descs& operator=(const Descs&) = delete;
};

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;

std::mutex g_mu;
std::map<Key, std::unique_ptr<Descs>>& cache() {
  static auto* m = new std::map<Key, std::unique_ptr<Descs>>;  // never destroyed (the library may be gone at exit)
  return *m;
}

Descs& descs_for(const ConvGeom& g) {
  Key key{g.N, g.C, g.H, g.W, g.O, g.k, g.s, g.p};
  auto& c = cache();
  auto it = c.find(key);
  if (it == c.end()) it = c.emplace(key, std::make_unique<Descs>(g)).first;
  return *it->second;
}

// GEMM-type algorithms only: FFT and Winograd change the arithmetic (transforms with their
// own rounding, errors ~1e-5..1e-4 relative), which would put cuDNN outside the FP32
// tolerance every other implementation meets.
bool gemm_type(cudnnConvolutionFwdAlgo_t a) {
  return a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM || a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_GEMM || a == CUDNN_CONVOLUTION_FWD_ALGO_DIRECT;
}
bool gemm_type(cudnnConvolutionBwdDataAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_0 || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
}
bool gemm_type(cudnnConvolutionBwdFilterAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1 ||
         a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3;
}

// The first result (in the heuristic's order) that succeeded, is deterministic, uses no tensor-op math and
// fits the workspace limit (the descriptor's CUDNN_FMA_MATH keeps execution in plain FP32).
template <class Perf>
int pick(const Perf* r, int n, const char* what, const ConvGeom& g) {
  for (int i = 0; i < n; ++i)
    if (r[i].status == CUDNN_STATUS_SUCCESS && r[i].determinism == CUDNN_DETERMINISTIC && gemm_type(r[i].algo) &&
        r[i].mathType != CUDNN_TENSOR_OP_MATH && r[i].mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION &&
        r[i].memory <= kMaxWorkspace)
      return (int)r[i].algo;
  fail("cuDNN ", what, ": no deterministic FP32 algorithm for N=", g.N, " C=", g.C, " H=", g.H, " W=", g.W, " O=", g.O,
       " k=", g.k, " stride=", g.s, " pad=", g.p);
}

const float kOne = 1.0f, kZero = 0.0f;

}  // namespace

void cudnn_forward(const ConvGeom& g, const float* x, const float* w, float* y) {
  std::lock_guard<std::mutex> lock(g_mu);
  Descs& d = descs_for(g);
  cudnnHandle_t h = cudnn_handle();
  if (d.fwd < 0) {
    cudnnConvolutionFwdAlgoPerf_t perf[kMaxAlgos];
    int n = 0;
    SFM_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y, kMaxAlgos, &n, perf));
    d.fwd = pick(perf, n, "forward", g);
    SFM_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, d.x, d.w, d.conv, d.y, (cudnnConvolutionFwdAlgo_t)d.fwd,
                                                            &d.fwd_ws));
  }
  Scratch ws(d.fwd_ws);
  SFM_CUDNN_CHECK(cudnnConvolutionForward(h, &kOne, d.x, x, d.w, w, d.conv, (cudnnConvolutionFwdAlgo_t)d.fwd, ws.get(),
                                          d.fwd_ws, &kZero, d.y, y));
}

void cudnn_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx) {
  std::lock_guard<std::mutex> lock(g_mu);
  Descs& d = descs_for(g);
  cudnnHandle_t h = cudnn_handle();
  if (d.bwd_data < 0) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[kMaxAlgos];
    int n = 0;
    SFM_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.y, d.conv, d.x, kMaxAlgos, &n, perf));
    d.bwd_data = pick(perf, n, "backward-data", g);
    SFM_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
        h, d.w, d.y, d.conv, d.x, (cudnnConvolutionBwdDataAlgo_t)d.bwd_data, &d.bwd_data_ws));
  }
  Scratch ws(d.bwd_data_ws);
  SFM_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &kOne, d.w, w, d.y, dy, d.conv,
                                               (cudnnConvolutionBwdDataAlgo_t)d.bwd_data, ws.get(), d.bwd_data_ws,
                                               &kZero, d.x, dx));
}

void cudnn_backward_filter(const ConvGeom& g, const float* x, const float* dy, float* dw) {
  std::lock_guard<std::mutex> lock(g_mu);
  Descs& d = descs_for(g);
  cudnnHandle_t h = cudnn_handle();
  if (d.bwd_filter < 0) {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[kMaxAlgos];
    int n = 0;
    SFM_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x, d.y, d.conv, d.w, kMaxAlgos, &n, perf));
    d.bwd_filter = pick(perf, n, "backward-filter", g);
    SFM_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
        h, d.x, d.y, d.conv, d.w, (cudnnConvolutionBwdFilterAlgo_t)d.bwd_filter, &d.bwd_filter_ws));
  }
  Scratch ws(d.bwd_filter_ws);
  SFM_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &kOne, d.x, x, d.y, dy, d.conv,
                                                 (cudnnConvolutionBwdFilterAlgo_t)d.bwd_filter, ws.get(),
                                                 d.bwd_filter_ws, &kZero, d.w, dw));
}

void cudnn_clear_cache() {
  std::lock_guard<std::mutex> lock(g_mu);
  cache().clear();
}

}  // namespace sfm::cuda::lib

#endif  // SFM_WITH_CUDNN
