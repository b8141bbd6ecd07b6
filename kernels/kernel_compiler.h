#pragma once
// What kernel code needs from its compiler, in two forms: the real one under nvcc, and the
// host emulation of kernels/emu_execution.h under a plain C++ compiler (tests/test_gpu_emulated.cpp
// compiles the kernels' headers that way, so their indexing, tiling, fragment layouts,
// split-K planning and epilogues are exercised on machines without a GPU).
//
// Kernel headers put their code between SFM_KERNEL_NS_BEGIN / SFM_KERNEL_NS_END inside
// namespace sfm::cuda: under emulation that is an inline namespace `emulated`, so the emulated
// copies never collide with the library's real functions.
//
// The emulated device build (-DSFM_EMULATED_CUDA=ON, SFM_WITH_CUDA=1 without nvcc) is a third
// form: kernels run under kernels/emu_execution.h as in the tests, but scratch memory, zeroing and
// copies go through the library's runtime (kernels/runtime.h, the caching allocator) over
// the host emulation of the CUDA runtime API (kernels/emu_runtime_api.h), as in a CUDA build.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "boundary/error.h"
#include "boundary/host_device.h"

namespace sfm::cuda {
// Elementwise kernels index with 32-bit integers (FastDiv): a launcher refuses a larger tensor
// by name instead of wrapping around.
inline void check32(const char* op, int64_t n) {
  SFM_CHECK(n >= 0 && n < (int64_t(1) << 31), op, ": ", n, " elements is too many for 32-bit indexing");
}
}  // namespace sfm::cuda

#if defined(__CUDACC__) || SFM_EMULATED_CUDA
#include "kernels/cuda_check.h"
#include "kernels/runtime.h"

namespace sfm::cuda {
// A device-to-device copy on the compute stream.
inline void copy_async(void* dst, const void* src, size_t bytes) {
  if (bytes) SFM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()));
}
}  // namespace sfm::cuda
#endif

#if defined(__CUDACC__)

#define SFM_KERNEL_NS_BEGIN
#define SFM_KERNEL_NS_END
#define SFM_DEV __device__ __forceinline__
#define SFM_GLOBAL static __global__
#define SFM_LAUNCH_BOUNDS(n) __launch_bounds__(n)
// A __shared__ array (dims: its bracketed extents, e.g. [2][16][72]; empty for a scalar).
#define SFM_SHARED_ARRAY(T, name, dims) __shared__ T name dims
#define SFM_SHARED_ARRAY_ALIGN16(T, name, dims) __shared__ __align__(16) T name dims
#define SFM_UNROLL _Pragma("unroll")
#define sfm_syncthreads() __syncthreads()
// kernel: a __global__ function or a pointer to one (template kernels: take their address first).
#define SFM_LAUNCH(kernel, grid, block, ...)                                        \
  do {                                                                              \
    kernel<<<(grid), (block), 0, ::sfm::cuda::stream()>>>(__VA_ARGS__);             \
    SFM_CUDA_CHECK_LAUNCH(#kernel);                                                 \
  } while (0)

namespace sfm::cuda {
inline int planner_sm_count() { return sm_count(); }
}  // namespace sfm::cuda

#else  // host emulation

#include "kernels/emu_execution.h"

#define SFM_KERNEL_NS_BEGIN inline namespace emulated {
#define SFM_KERNEL_NS_END }
#define SFM_DEV inline
#define SFM_GLOBAL static inline
#define SFM_LAUNCH_BOUNDS(n)
// A function static, registered with the running launch (size check, poison per block).
#define SFM_SHARED_ARRAY(T, name, dims) \
  static T name dims;                   \
  ::sfm::emu::shared_decl(&name, sizeof(name))
#define SFM_SHARED_ARRAY_ALIGN16(T, name, dims) \
  alignas(16) static T name dims;               \
  ::sfm::emu::shared_decl(&name, sizeof(name))
#define SFM_UNROLL
#define sfm_syncthreads() ::sfm::emu::sync_block()
#if SFM_EMULATED_CUDA
// (the launch check of a CUDA build too: cudaGetLastError, SFM_CUDA_SYNC)
#define SFM_EMU_AFTER_LAUNCH(name) SFM_CUDA_CHECK_LAUNCH(name)
#else
#define SFM_EMU_AFTER_LAUNCH(name) (void)0
#endif
#define SFM_LAUNCH(kernel, grid, block, ...)                           \
  do {                                                                 \
    ::sfm::emu::check_params(kernel, #kernel);                         \
    ::sfm::emu::launch((grid), (block), [&] { kernel(__VA_ARGS__); }); \
    SFM_EMU_AFTER_LAUNCH(#kernel);                                     \
  } while (0)

namespace sfm::cuda {
using ::sfm::emu::blockDim;
using ::sfm::emu::blockIdx;
using ::sfm::emu::dim3;
using ::sfm::emu::float4;
using ::sfm::emu::gridDim;
using ::sfm::emu::threadIdx;
inline namespace emulated {
// (the emulated device reports the same count: kernels/emu_runtime_api.h)
inline int planner_sm_count() { return ::sfm::emu::num_sms(); }

#if !SFM_EMULATED_CUDA
// Scratch memory and zeroing, on the host (8-byte aligned: it also holds double and
// 64-bit integer partials). Scratch starts poisoned (0xFF bytes: NaN as float), as the
// caching allocator's memory starts with whatever it held before.
class Scratch {
 public:
  Scratch() = default;
  explicit Scratch(size_t bytes) : v_((bytes + 7) / 8) {
    if (!v_.empty()) std::memset((void*)v_.data(), 0xFF, v_.size() * 8);
  }
  void* get() const { return v_.empty() ? nullptr : (void*)v_.data(); }
  float* f() const { return static_cast<float*>(get()); }
  size_t bytes() const { return v_.size() * 8; }

 private:
  std::vector<double> v_;
};
inline void zero_async(float* p, size_t n) {
  if (n) std::memset(p, 0, n * sizeof(float));
}
inline void copy_async(void* dst, const void* src, size_t bytes) {
  if (bytes) std::memmove(dst, src, bytes);
}
#endif  // !SFM_EMULATED_CUDA
}  // namespace emulated
}  // namespace sfm::cuda

#endif

namespace sfm::cuda {
SFM_KERNEL_NS_BEGIN

// ---- small device helpers shared by the kernels

SFM_DEV float4 lds4(const float* p) {
#if defined(__CUDACC__)
  return *reinterpret_cast<const float4*>(p);
#else
  ::sfm::emu::check_align16(p, "lds4");
  float4 r;
  r.x = p[0];
  r.y = p[1];
  r.z = p[2];
  r.w = p[3];
  return r;
#endif
}

// Round an FP32 value to TF32 (10 mantissa bits, nearest, ties away from zero), as
// cvt.rna.tf32.f32 does; returned as the 32-bit pattern the mma instruction takes.
SFM_DEV uint32_t to_tf32(float x) {
#if defined(__CUDACC__)
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
#else
  uint32_t b;
  std::memcpy(&b, &x, 4);
  if ((b & 0x7f800000u) != 0x7f800000u) {  // finite: round the magnitude, keep the sign
    b += 0x1000u;
    b &= 0xffffe000u;
  }
  return b;
#endif
}

SFM_DEV float bits_to_float(uint32_t b) {
#if defined(__CUDACC__)
  return __uint_as_float(b);
#else
  float f;
  std::memcpy(&f, &b, 4);
  return f;
#endif
}
SFM_DEV uint32_t float_to_bits(float f) {
#if defined(__CUDACC__)
  return __float_as_uint(f);
#else
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
#endif
}

// d += A * B for one warp: mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32.
// Fragments (PTX ISA, "Matrix Fragments for mma.m16n8k8", .tf32), with g = lane/4,
// t = lane%4: a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4) of the 16x8 A;
// b0 (k=t, n=g), b1 (k=t+4, n=g) of the 8x8 B; d0 (g, 2t), d1 (g, 2t+1), d2 (g+8, 2t),
// d3 (g+8, 2t+1) of the 16x8 accumulator.
SFM_DEV void mma_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDACC__)
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  __trap();  // the launchers refuse the TF32 path below sm_80
#endif
#else
  ::sfm::emu::mma_m16n8k8_tf32(d, a, b);
#endif
}

SFM_HD uint32_t umulhi32(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __umulhi(a, b);
#else
  return (uint32_t)(((uint64_t)a * b) >> 32);
#endif
}

// Division by a divisor fixed at launch, as a multiply and a shift (Granlund & Montgomery,
// "Division by invariant integers using multiplication", 1994): for 0 <= n < 2^31 and
// 1 <= d < 2^31, div(n) == n / d exactly. Indices in these kernels are below 2^31 (the
// launchers check).
struct FastDiv {
  uint32_t d = 1, m = 1, s = 0;
  FastDiv() = default;
  explicit FastDiv(uint32_t divisor) : d(divisor) {
    SFM_CHECK(divisor >= 1 && divisor < (1u << 31), "FastDiv: divisor ", divisor, " out of range");
    s = 0;
    while (s < 31 && (uint32_t(1) << s) < d) ++s;  // s = ceil(log2 d)
    uint64_t one = 1;
    m = (uint32_t)(((one << 32) * ((one << s) - d)) / d + 1);
  }
  SFM_HD uint32_t div(uint32_t n) const { return (umulhi32(m, n) + n) >> s; }
  // q = n / d and r = n - q*d.
  SFM_HD void divmod(uint32_t n, uint32_t& q, uint32_t& r) const {
    q = div(n);
    r = n - q * d;
  }
};

// Integer atomics (exact, so the result does not depend on the order of the additions).
SFM_DEV void atomic_add_u64(unsigned long long* p, unsigned long long v) {
#if defined(__CUDACC__)
  atomicAdd(p, v);
#else
  *p += v;  // the emulation runs one fiber at a time
#endif
}
SFM_DEV void atomic_max_u32(unsigned int* p, unsigned int v) {
#if defined(__CUDACC__)
  atomicMax(p, v);
#else
  if (v > *p) *p = v;
#endif
}
// Round to the nearest integer (ties to even), as llrint.
SFM_DEV long long round_ll(double x) {
#if defined(__CUDACC__)
  return __double2ll_rn(x);
#else
  return std::llrint(x);
#endif
}

SFM_HD int imin(int a, int b) { return a < b ? a : b; }
SFM_HD int imax(int a, int b) { return a > b ? a : b; }
SFM_HD int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

SFM_KERNEL_NS_END
}  // namespace sfm::cuda
