// The CUDA runtime of the engine: device selection, the compute stream, library handles,
// checked-call error reporting, and the device services of boundary/device_runtime.h.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "boundary/device_runtime.h"
#include "kernels/cuda_check.h"
#include "kernels/elementwise_kernels.h"
#include "kernels/runtime.h"

namespace sfm::cuda {

// ---------------------------------------------------------------- errors
void throw_cuda_error(cudaError_t e, const char* expr, const char* file, int line) {
  fail("CUDA error at ", file, ":", line, ": ", expr, " failed: ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
}
void throw_cublas_error(cublasStatus_t s, const char* expr, const char* file, int line) {
  fail("cuBLAS error at ", file, ":", line, ": ", expr, " failed: ", cublasGetStatusName(s), " (",
       cublasGetStatusString(s), ")");
}
#if SFM_WITH_CUDNN
void throw_cudnn_error(cudnnStatus_t s, const char* expr, const char* file, int line) {
  fail("cuDNN error at ", file, ":", line, ": ", expr, " failed: ", cudnnGetErrorString(s));
}
#endif

static bool sync_after_launch() {
  static const bool on = [] {
    const char* v = std::getenv("SFM_CUDA_SYNC");
    return v && std::strcmp(v, "0") != 0 && v[0] != '\0';
  }();
  return on;
}

void check_launch(const char* kernel, const char* file, int line) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    fail("CUDA error at ", file, ":", line, ": launch of ", kernel, " failed: ", cudaGetErrorName(e), " (",
         cudaGetErrorString(e), ")");
  if (sync_after_launch()) {
    e = cudaStreamSynchronize(stream());
    if (e != cudaSuccess)
      fail("CUDA error at ", file, ":", line, ": kernel ", kernel, " failed while running: ", cudaGetErrorName(e),
           " (", cudaGetErrorString(e), ")");
  }
}

// ---------------------------------------------------------------- device and stream
namespace {

struct Runtime {
  int device = 0;
  int sms = 0;
  int cc = 0;
  cudaStream_t stream = nullptr;
};

int g_requested_device = -1;
std::once_flag g_init_once;
Runtime* g_rt = nullptr;  // created once, never destroyed (the driver may be gone at exit)

int requested_device() {
  if (g_requested_device >= 0) return g_requested_device;
  const char* v = std::getenv("SFM_CUDA_DEVICE");
  if (v && *v) {
    char* end = nullptr;
    long id = std::strtol(v, &end, 10);
    SFM_CHECK(end && *end == '\0' && id >= 0, "SFM_CUDA_DEVICE='", v, "' is not a device number");
    return (int)id;
  }
  return 0;
}

Runtime& rt() {
  std::call_once(g_init_once, [] {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
      cudaGetLastError();
      fail("no CUDA device is available (", e == cudaSuccess ? "no device" : cudaGetErrorString(e), ")");
    }
    auto* r = new Runtime;
    r->device = requested_device();
    SFM_CHECK(r->device < n, "CUDA device ", r->device, " requested but only ", n, " present");
    SFM_CUDA_CHECK(cudaSetDevice(r->device));
    cudaDeviceProp p{};
    SFM_CUDA_CHECK(cudaGetDeviceProperties(&p, r->device));
    r->sms = p.multiProcessorCount;
    r->cc = p.major * 10 + p.minor;
    SFM_CUDA_CHECK(cudaStreamCreateWithFlags(&r->stream, cudaStreamNonBlocking));
    g_rt = r;
  });
  SFM_CHECK(g_rt != nullptr, "the CUDA runtime failed to initialise earlier");
  return *g_rt;
}

}  // namespace

void set_device(int id) {
  SFM_CHECK(id >= 0, "set_device: bad device id ", id);
  if (g_rt) {
    SFM_CHECK(g_rt->device == id, "set_device(", id, "): device ", g_rt->device, " is already in use");
    return;
  }
  g_requested_device = id;
}
int device() { return rt().device; }
int sm_count() { return rt().sms; }
int compute_capability() { return rt().cc; }
cudaStream_t stream() { return rt().stream; }

cublasHandle_t cublas_handle() {
  static cublasHandle_t h = [] {
    rt();
    cublasHandle_t c = nullptr;
    SFM_CUBLAS_CHECK(cublasCreate(&c));
    SFM_CUBLAS_CHECK(cublasSetStream(c, stream()));
    // A workspace of our own, so cuBLAS never allocates during a step (and graphs can be
    // captured): 32 MiB, the size NVIDIA recommends for Hopper. Held for the process.
    static Scratch ws(32u << 20);
    SFM_CUBLAS_CHECK(cublasSetWorkspace(c, ws.get(), ws.bytes()));
    // Plain FP32 unless a caller asks otherwise (no silent TF32).
    SFM_CUBLAS_CHECK(cublasSetMathMode(c, CUBLAS_PEDANTIC_MATH));
    return c;
  }();
  return h;
}

#if SFM_WITH_CUDNN
cudnnHandle_t cudnn_handle() {
  static cudnnHandle_t h = [] {
    rt();
    cudnnHandle_t c = nullptr;
    SFM_CUDNN_CHECK(cudnnCreate(&c));
    SFM_CUDNN_CHECK(cudnnSetStream(c, stream()));
    return c;
  }();
  return h;
}
#endif

Scratch::Scratch(size_t bytes) : bytes_(bytes) {
  if (bytes) p_ = cuda_allocator().allocate(bytes);
}
Scratch::~Scratch() {
  if (p_) cuda_allocator().deallocate(p_, bytes_);
}

void zero_async(float* p, size_t n) {
  if (n) SFM_CUDA_CHECK(cudaMemsetAsync(p, 0, n * sizeof(float), stream()));
}

}  // namespace sfm::cuda

// ---------------------------------------------------------------- boundary/device_runtime.h
namespace sfm {

bool cuda_available() {
  static const bool avail = [] {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "no device / no driver" error
      return false;
    }
    return n > 0;
  }();
  return avail;
}

std::string cuda_device_name() {
  if (!cuda_available()) return "";
  cudaDeviceProp p{};
  SFM_CUDA_CHECK(cudaGetDeviceProperties(&p, cuda::device()));
  char buf[96];
  std::snprintf(buf, sizeof buf, " (sm_%d%d, %d SMs, %.1f GiB)", p.major, p.minor, p.multiProcessorCount,
                (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
  return std::string(p.name) + buf;
}

void cuda_memcpy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
  if (bytes == 0) return;
  if (dst_dev == Device::CPU && src_dev == Device::CPU) {
    std::memcpy(dst, src, bytes);
    return;
  }
  cudaMemcpyKind kind = dst_dev == Device::CUDA ? (src_dev == Device::CUDA ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                                : cudaMemcpyDeviceToHost;
  SFM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, cuda::stream()));
  // Device-to-device copies stay stream-ordered (every reader is on the same stream); a copy
  // that involves host memory completes before returning.
  if (kind != cudaMemcpyDeviceToDevice) SFM_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
}

void cuda_fill_f32(float* p, size_t n, float value) {
  if (n == 0) return;
  if (value == 0.0f && !std::signbit(value)) {
    cuda::zero_async(p, n);
    return;
  }
  cuda::elem::launch_fill(p, n, value);  // kernels/elementwise_kernels.h
}

void cuda_synchronize() {
  // Nothing to wait for when the runtime was never started (e.g. CPU benchmarks in a CUDA build).
  if (!cuda::g_rt) return;
  SFM_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
}

}  // namespace sfm
