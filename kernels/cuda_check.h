#pragma once
// Checked CUDA, cuBLAS and cuDNN calls. Every call into the CUDA runtime or a CUDA library
// goes through one of these macros; a failure throws sfm::Error naming the call, the file,
// the line and the library's own message. SFM_CUDA_CHECK_LAUNCH() follows every kernel
// launch: it reads cudaGetLastError() (bad configuration, missing kernel image) and, when
// the environment variable SFM_CUDA_SYNC=1 is set, synchronises the stream so that a fault
// inside the kernel is reported at its launch rather than at some later call.
#if SFM_EMULATED_CUDA
#include "kernels/emu_runtime_api.h"  // the host emulation of the runtime (the emulated device build)
#else
#include <cublas_v2.h>
#include <cuda_runtime.h>
#endif
#if SFM_WITH_CUDNN
#include <cudnn.h>
#endif

#include "boundary/error.h"

namespace sfm::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t e, const char* expr, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t s, const char* expr, const char* file, int line);
#if SFM_WITH_CUDNN
[[noreturn]] void throw_cudnn_error(cudnnStatus_t s, const char* expr, const char* file, int line);
#endif
// cudaGetLastError() after a launch (and a stream synchronisation when SFM_CUDA_SYNC=1).
void check_launch(const char* kernel, const char* file, int line);

}  // namespace sfm::cuda

#define SFM_CUDA_CHECK(expr)                                                        \
  do {                                                                              \
    cudaError_t sfm_e_ = (expr);                                                    \
    if (sfm_e_ != cudaSuccess) ::sfm::cuda::throw_cuda_error(sfm_e_, #expr, __FILE__, __LINE__); \
  } while (0)

#define SFM_CUBLAS_CHECK(expr)                                                        \
  do {                                                                                \
    cublasStatus_t sfm_s_ = (expr);                                                   \
    if (sfm_s_ != CUBLAS_STATUS_SUCCESS) ::sfm::cuda::throw_cublas_error(sfm_s_, #expr, __FILE__, __LINE__); \
  } while (0)

#if SFM_WITH_CUDNN
#define SFM_CUDNN_CHECK(expr)                                                       \
  do {                                                                              \
    cudnnStatus_t sfm_s_ = (expr);                                                  \
    if (sfm_s_ != CUDNN_STATUS_SUCCESS) ::sfm::cuda::throw_cudnn_error(sfm_s_, #expr, __FILE__, __LINE__); \
  } while (0)
#endif

#define SFM_CUDA_CHECK_LAUNCH(name) ::sfm::cuda::check_launch(name, __FILE__, __LINE__)
