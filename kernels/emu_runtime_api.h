#pragma once
// The part of the CUDA runtime API (and the cuBLAS handle API) that the library calls, on the
// host, for the emulated device build (-DSFM_EMULATED_CUDA=ON). There the whole CUDA backend
// (engine dispatch, kernels/*.cu launchers, runtime, caching allocator) is compiled as C++
// and its kernels run under kernels/emu_execution.h; this header stands in for <cuda_runtime.h> and
// <cublas_v2.h> (kernels/emu_include/ forwards both names here, for the files that include
// them directly).
//
// The emulated device:
//  - one device, "sfm emulated device", compute capability 9.0 (the TF32 mma.sync path runs
//    through its emulation), multiprocessor count kernels/emu_execution.h num_sms() (SFM_EMU_SMS,
//    default 4: the split-K planners then split small problems too);
//  - device memory is host memory from cudaMalloc, filled with 0xFF bytes (NaN as float) so
//    an output element no kernel writes shows; every allocation is recorded, and a
//    host<->device copy whose device side is not inside one allocation, or whose host side
//    is device memory, fails with cudaErrorInvalidValue (a wrong Device tag on a pointer);
//    capacity SFM_EMU_DEVICE_MEM_MB (default 16384), beyond which cudaMalloc returns
//    cudaErrorMemoryAllocation as a full GPU does;
//  - everything is synchronous: a kernel runs to completion inside its launch, copies and
//    memsets happen at the call, so stream order holds trivially and events measure host
//    time (meaningless as GPU timing);
//  - not here: CUDA graphs (capture returns cudaErrorNotSupported) and cuBLAS/cuDNN (every
//    cuBLAS call returns CUBLAS_STATUS_NOT_SUPPORTED; kernels/emu_conv_library.cpp replaces the
//    library convolution paths with a clear error).
#if !SFM_EMULATED_CUDA
#error "kernels/emu_runtime_api.h belongs to the emulated device build (-DSFM_EMULATED_CUDA=ON) only"
#endif

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>

#include "kernels/emu_execution.h"

#define CUDART_VERSION 13000

// ---------------------------------------------------------------- errors
enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotSupported = 801,
};
typedef enum cudaError cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2,
};
#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  int warpSize;
  int maxThreadsPerBlock;
  int maxGridSize[3];
  int major, minor;
  int multiProcessorCount;
};

typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;
typedef struct CUgraph_st* cudaGraph_t;
typedef struct CUgraphNode_st* cudaGraphNode_t;
typedef struct CUgraphExec_st* cudaGraphExec_t;

struct CUstream_st {
  unsigned flags = 0;
};
struct CUevent_st {
  std::chrono::steady_clock::time_point t{};
  bool recorded = false;
};

namespace sfm::emu {

// The emulated device's state: its allocations (start -> bytes), the bytes held, the
// capacity, and the thread's last error (sticky until cudaGetLastError, as in CUDA).
struct DeviceState {
  std::mutex m;
  std::map<uintptr_t, size_t> allocs;
  size_t used = 0;
  size_t capacity = 0;
  DeviceState() {
    const char* v = std::getenv("SFM_EMU_DEVICE_MEM_MB");
    const long long mb = v && *v ? std::atoll(v) : 16384;
    capacity = (size_t)(mb > 0 ? mb : 16384) << 20;
  }
};
inline DeviceState& device_state() {
  static DeviceState* s = new DeviceState;  // never destroyed: tensors may be freed at exit
  return *s;
}
inline cudaError_t& last_error() {
  thread_local cudaError_t e = cudaSuccess;
  return e;
}
inline cudaError_t record_error(cudaError_t e) {
  if (e != cudaSuccess) last_error() = e;
  return e;
}
// True when [p, p + bytes) lies inside one device allocation.
inline bool in_device_allocation(const void* p, size_t bytes) {
  DeviceState& s = device_state();
  std::lock_guard<std::mutex> g(s.m);
  const uintptr_t a = (uintptr_t)p;
  auto it = s.allocs.upper_bound(a);
  if (it == s.allocs.begin()) return false;
  --it;
  return a >= it->first && a + bytes <= it->first + it->second && a + bytes >= a;
}
// True when [p, p + bytes) overlaps any device allocation.
inline bool overlaps_device_memory(const void* p, size_t bytes) {
  DeviceState& s = device_state();
  std::lock_guard<std::mutex> g(s.m);
  const uintptr_t a = (uintptr_t)p, e = a + (bytes ? bytes : 1);
  auto it = s.allocs.upper_bound(a);
  if (it != s.allocs.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second > a) return true;
  }
  return it != s.allocs.end() && it->first < e;
}

}  // namespace sfm::emu

inline cudaError_t cudaGetLastError() {
  const cudaError_t e = sfm::emu::last_error();
  sfm::emu::last_error() = cudaSuccess;
  return e;
}
inline cudaError_t cudaPeekAtLastError() { return sfm::emu::last_error(); }

inline const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
  }
  return "cudaErrorUnknown";
}
inline const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory (the emulated device's SFM_EMU_DEVICE_MEM_MB)";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotSupported: return "operation not supported (not in the emulated device build)";
  }
  return "unknown error";
}

// ---------------------------------------------------------------- device
inline cudaError_t cudaGetDeviceCount(int* n) {
  if (!n) return sfm::emu::record_error(cudaErrorInvalidValue);
  *n = 1;
  return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : sfm::emu::record_error(cudaErrorInvalidDevice); }
inline cudaError_t cudaGetDevice(int* d) {
  if (!d) return sfm::emu::record_error(cudaErrorInvalidValue);
  *d = 0;
  return cudaSuccess;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d) {
  if (!p) return sfm::emu::record_error(cudaErrorInvalidValue);
  if (d != 0) return sfm::emu::record_error(cudaErrorInvalidDevice);
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof p->name, "sfm emulated device (host CPU, kernels/emu_execution.h)");
  p->totalGlobalMem = sfm::emu::device_state().capacity;
  p->sharedMemPerBlock = sfm::emu::kMaxStaticShared;
  p->warpSize = 32;
  p->maxThreadsPerBlock = (int)sfm::emu::kMaxBlockThreads;
  p->maxGridSize[0] = (int)sfm::emu::kMaxGridX;
  p->maxGridSize[1] = p->maxGridSize[2] = (int)sfm::emu::kMaxGridYZ;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = sfm::emu::num_sms();
  return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

// ---------------------------------------------------------------- streams and events
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags) {
  if (!s) return sfm::emu::record_error(cudaErrorInvalidValue);
  *s = new CUstream_st{flags};
  return cudaSuccess;
}
inline cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }
inline cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete s;
  return cudaSuccess;
}
// Every operation completed at its call: nothing to wait for.
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

inline cudaError_t cudaEventCreate(cudaEvent_t* e) {
  if (!e) return sfm::emu::record_error(cudaErrorInvalidValue);
  *e = new CUevent_st;
  return cudaSuccess;
}
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t = nullptr) {
  if (!e) return sfm::emu::record_error(cudaErrorInvalidResourceHandle);
  e->t = std::chrono::steady_clock::now();
  e->recorded = true;
  return cudaSuccess;
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  return e ? cudaSuccess : sfm::emu::record_error(cudaErrorInvalidResourceHandle);
}
// Host milliseconds between the two records (the emulation's time, not a GPU's).
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  if (!ms || !a || !b || !a->recorded || !b->recorded) return sfm::emu::record_error(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(b->t - a->t).count();
  return cudaSuccess;
}
inline cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}

// ---------------------------------------------------------------- memory
inline cudaError_t cudaMalloc(void** p, size_t bytes) {
  if (!p) return sfm::emu::record_error(cudaErrorInvalidValue);
  *p = nullptr;
  if (bytes == 0) return cudaSuccess;
  sfm::emu::DeviceState& s = sfm::emu::device_state();
  const size_t rounded = (bytes + 255) / 256 * 256;  // cudaMalloc's alignment
  {
    std::lock_guard<std::mutex> g(s.m);
    if (s.used + rounded > s.capacity) return sfm::emu::record_error(cudaErrorMemoryAllocation);
  }
  void* q = std::aligned_alloc(256, rounded);
  if (!q) return sfm::emu::record_error(cudaErrorMemoryAllocation);
  std::memset(q, 0xFF, rounded);  // fresh device memory reads as NaN
  std::lock_guard<std::mutex> g(s.m);
  s.allocs[(uintptr_t)q] = rounded;
  s.used += rounded;
  *p = q;
  return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  sfm::emu::DeviceState& s = sfm::emu::device_state();
  {
    std::lock_guard<std::mutex> g(s.m);
    auto it = s.allocs.find((uintptr_t)p);
    if (it == s.allocs.end()) return sfm::emu::record_error(cudaErrorInvalidValue);
    s.used -= it->second;
    s.allocs.erase(it);
  }
  std::free(p);
  return cudaSuccess;
}

// Copies check that each side is on the device the kind names (device-to-device copies and
// memsets are not checked: the emulated kernel tests hand the launchers host vectors).
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t = nullptr) {
  using sfm::emu::in_device_allocation;
  using sfm::emu::overlaps_device_memory;
  if (bytes == 0) return cudaSuccess;
  if (!dst || !src) return sfm::emu::record_error(cudaErrorInvalidValue);
  bool ok = true;
  switch (kind) {
    case cudaMemcpyHostToDevice: ok = in_device_allocation(dst, bytes) && !overlaps_device_memory(src, bytes); break;
    case cudaMemcpyDeviceToHost: ok = in_device_allocation(src, bytes) && !overlaps_device_memory(dst, bytes); break;
    case cudaMemcpyHostToHost:
      ok = !overlaps_device_memory(src, bytes) && !overlaps_device_memory(dst, bytes);
      break;
    case cudaMemcpyDeviceToDevice:
    case cudaMemcpyDefault: break;
    default: ok = false;
  }
  if (!ok) return sfm::emu::record_error(cudaErrorInvalidValue);
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  return cudaMemcpyAsync(dst, src, bytes, kind, nullptr);
}
inline cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t = nullptr) {
  if (bytes == 0) return cudaSuccess;
  if (!p) return sfm::emu::record_error(cudaErrorInvalidValue);
  std::memset(p, value, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemset(void* p, int value, size_t bytes) { return cudaMemsetAsync(p, value, bytes, nullptr); }

// ---------------------------------------------------------------- graphs: not emulated
inline cudaError_t cudaStreamBeginCapture(cudaStream_t, cudaStreamCaptureMode) {
  return sfm::emu::record_error(cudaErrorNotSupported);
}
inline cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t* g) {
  if (g) *g = nullptr;
  return sfm::emu::record_error(cudaErrorNotSupported);
}
inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t, unsigned long long = 0) {
  if (e) *e = nullptr;
  return sfm::emu::record_error(cudaErrorNotSupported);
}
inline cudaError_t cudaGraphGetNodes(cudaGraph_t, cudaGraphNode_t*, size_t* n) {
  if (n) *n = 0;
  return sfm::emu::record_error(cudaErrorNotSupported);
}
inline cudaError_t cudaGraphLaunch(cudaGraphExec_t, cudaStream_t) { return sfm::emu::record_error(cudaErrorNotSupported); }
inline cudaError_t cudaGraphDestroy(cudaGraph_t) { return cudaSuccess; }
inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t) { return cudaSuccess; }

// ---------------------------------------------------------------- cuBLAS: not emulated
typedef struct cublasContext* cublasHandle_t;
enum cublasStatus_t {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_NOT_SUPPORTED = 15,
};
enum cublasOperation_t { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
enum cublasMath_t {
  CUBLAS_DEFAULT_MATH = 0,
  CUBLAS_PEDANTIC_MATH = 2,
  CUBLAS_TF32_TENSOR_OP_MATH = 3,
};
inline const char* cublasGetStatusName(cublasStatus_t s) {
  return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_NOT_SUPPORTED";
}
inline const char* cublasGetStatusString(cublasStatus_t s) {
  return s == CUBLAS_STATUS_SUCCESS ? "success" : "cuBLAS is not in the emulated device build";
}
inline cublasStatus_t cublasCreate(cublasHandle_t* h) {
  if (h) *h = nullptr;
  return CUBLAS_STATUS_NOT_SUPPORTED;
}
inline cublasStatus_t cublasDestroy(cublasHandle_t) { return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_NOT_SUPPORTED; }
inline cublasStatus_t cublasSetWorkspace(cublasHandle_t, void*, size_t) { return CUBLAS_STATUS_NOT_SUPPORTED; }
inline cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_NOT_SUPPORTED; }
inline cublasStatus_t cublasSgemm(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const float*,
                                  const float*, int, const float*, int, const float*, float*, int) {
  return CUBLAS_STATUS_NOT_SUPPORTED;
}
