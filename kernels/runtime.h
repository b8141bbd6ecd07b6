#pragma once
// The CUDA runtime of the engine (CUDA builds only): one device, one compute stream on which
// every kernel, copy and library call is issued in order, the cuBLAS and cuDNN handles
// (created once, bound to that stream), and scratch memory from the caching allocator.
//
// Device selection: the environment variable SFM_CUDA_DEVICE (default 0), or set_device()
// before the first CUDA call. Everything is single-stream, so a buffer freed on the host
// side can be handed to the next allocation at once: later work on the stream runs after
// the work that used it.
#include <cstddef>
#include <string>

#include "kernels/cuda_check.h"

typedef struct cublasContext* cublasHandle_t;
#if SFM_WITH_CUDNN
typedef struct cudnnContext* cudnnHandle_t;
#endif

namespace sfm::cuda {

// Chooses the device (before the first CUDA call; throws if called later with another id).
void set_device(int id);
int device();             // the device in use (initialises the runtime on first call)
int sm_count();           // multiprocessors of the device
int compute_capability(); // major*10 + minor, e.g. 90
cudaStream_t stream();    // the compute stream
cublasHandle_t cublas_handle();
#if SFM_WITH_CUDNN
cudnnHandle_t cudnn_handle();
#endif

// Temporary device memory for one launch sequence, from the caching allocator: released
// (to the cache, not the system) when it goes out of scope. Stream order makes the reuse
// safe: the next user's kernels run after the kernels that used it.
class Scratch {
 public:
  Scratch() = default;
  explicit Scratch(size_t bytes);
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  Scratch(Scratch&& o) noexcept : p_(o.p_), bytes_(o.bytes_) { o.p_ = nullptr; o.bytes_ = 0; }
  void* get() const { return p_; }
  float* f() const { return static_cast<float*>(p_); }
  size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

// Zeroes n floats on the stream.
void zero_async(float* p, size_t n);

}  // namespace sfm::cuda
