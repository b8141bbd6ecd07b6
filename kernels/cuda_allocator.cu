// The caching CUDA allocator. Requests are rounded up to a size class; a freed block goes
// onto its class's free list and the next request of that class takes it back, so once a
// training step has run, the following steps (same shapes, same sizes) never reach
// cudaMalloc. Classes: multiples of 512 bytes up to 1 MiB, then four classes per power of
// two (at most 25% rounding waste). When cudaMalloc fails the cache is returned to the
// system and the call retried once before the error is reported with the allocator's
// figures.
//
// SFM_CUDA_ALLOC=direct bypasses the cache: every tensor gets exactly its own cudaMalloc of
// the requested size and cudaFree on release, so compute-sanitizer's memcheck sees an access
// one element past a tensor (the cache's rounding and reuse would hide it).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "boundary/allocator.h"
#include "boundary/device_runtime.h"
#include "kernels/cuda_check.h"
#include "kernels/runtime.h"

namespace sfm {

namespace {

#if SFM_EMULATED_CUDA
constexpr bool kEmulatedDevice = true;  // the emulated device build (kernels/emu_runtime_api.h)
#else
constexpr bool kEmulatedDevice = false;
#endif

size_t size_class(size_t bytes) {
  constexpr size_t kSmallStep = 512, kSmallMax = size_t(1) << 20;
  if (bytes <= kSmallMax) return (bytes + kSmallStep - 1) / kSmallStep * kSmallStep;
  size_t p = kSmallMax;
  while (p * 2 <= bytes) p *= 2;  // p: the largest power of two <= bytes
  size_t step = p / 4;
  return (bytes + step - 1) / step * step;
}

bool direct_mode_from_env() {
  const char* v = std::getenv("SFM_CUDA_ALLOC");
  if (!v || !*v || std::strcmp(v, "cached") == 0) return false;
  if (std::strcmp(v, "direct") == 0) return true;
  fail("SFM_CUDA_ALLOC='", v, "': expected 'cached' (the default) or 'direct'");
}

class CudaCachingAllocator final : public Allocator {
 public:
  explicit CudaCachingAllocator(bool direct) : direct_(direct) {}

  void* allocate(size_t bytes) override {
    void* p = allocate_unpoisoned(bytes);
    // Stream-ordered, like every later use of the block. The emulated device poisons always
    // (a block from the cache then reads as NaN too, not as what its last user left).
    if (p && (poison_allocations() || kEmulatedDevice)) SFM_CUDA_CHECK(cudaMemsetAsync(p, 0xFF, bytes, cuda::stream()));
    return p;
  }

  void* allocate_unpoisoned(size_t bytes) {
    if (bytes == 0) return nullptr;
    size_t cls = direct_ ? bytes : size_class(bytes);
    std::lock_guard<std::mutex> g(m_);
    ++s_.alloc_calls;
    void* p = nullptr;
    auto it = direct_ ? free_.end() : free_.find(cls);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      cached_bytes_ -= cls;
    } else {
      cuda::device();  // initialise the runtime (device selection) before the first cudaMalloc
      cudaError_t e = cudaMalloc(&p, cls);
      if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        release_cached_locked();
        e = cudaMalloc(&p, cls);
      }
      if (e != cudaSuccess) {
        cudaGetLastError();
        fail("CUDA allocator: cudaMalloc of ", cls, " bytes (request ", bytes, ") failed: ", cudaGetErrorString(e),
             "; in use ", s_.current_bytes, " bytes, reserved ", s_.reserved_bytes, " bytes, peak ", s_.peak_bytes);
      }
      ++s_.system_allocs;
      s_.reserved_bytes += cls;
    }
    live_[p] = cls;
    s_.current_bytes += bytes;
    if (s_.current_bytes > s_.peak_bytes) s_.peak_bytes = s_.current_bytes;
    return p;
  }

  void deallocate(void* p, size_t bytes) override {
    if (!p) return;
    std::lock_guard<std::mutex> g(m_);
    auto it = live_.find(p);
    if (it == live_.end()) {
      // Called from destructors: report, never throw.
      std::fprintf(stderr, "sfm: CUDA allocator: free of unknown pointer %p (%zu bytes) ignored\n", p, bytes);
      return;
    }
    size_t cls = it->second;
    live_.erase(it);
    s_.current_bytes -= bytes;
    if (direct_) {
      // Kernels queued on the stream may still use the block: wait for them first (cudaFree
      // alone does not wait for work on a non-default stream). Never throw from here.
      cudaError_t e = cudaStreamSynchronize(cuda::stream());
      if (e == cudaSuccess) e = cudaFree(p);
      if (e != cudaSuccess) std::fprintf(stderr, "sfm: CUDA allocator (direct): free failed: %s\n", cudaGetErrorString(e));
      s_.reserved_bytes -= cls;
      return;
    }
    free_[cls].push_back(p);
    cached_bytes_ += cls;
  }

  MemoryStats stats() const override {
    std::lock_guard<std::mutex> g(m_);
    return s_;
  }
  void reset_peak() override {
    std::lock_guard<std::mutex> g(m_);
    s_.peak_bytes = s_.current_bytes;
  }
  void release_cached() override {
    std::lock_guard<std::mutex> g(m_);
    release_cached_locked();
  }

 private:
  void release_cached_locked() {
    if (cached_bytes_ == 0) return;
    // A cached block may still be read or written by kernels queued on the compute stream
    // (stream order is what made handing it out again safe). cudaFree does not wait for work
    // on a non-default (blocking or not) stream in every case, so wait for the stream first.
    SFM_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
    for (auto& [cls, list] : free_) {
      for (void* p : list) {
        SFM_CUDA_CHECK(cudaFree(p));
        s_.reserved_bytes -= cls;
      }
      list.clear();
    }
    cached_bytes_ = 0;
  }

  const bool direct_;
  mutable std::mutex m_;
  std::unordered_map<size_t, std::vector<void*>> free_;  // size class -> free blocks
  std::unordered_map<void*, size_t> live_;               // block -> its size class
  size_t cached_bytes_ = 0;
  MemoryStats s_;
};

}  // namespace

Allocator& cuda_allocator() {
  SFM_CHECK(cuda_available(), "CUDA allocator: no CUDA device is available");
  // Never destroyed: tensors with static lifetime may free into it during exit, after which
  // the driver may already be unloaded.
  static CudaCachingAllocator* a = new CudaCachingAllocator(direct_mode_from_env());
  return *a;
}

}  // namespace sfm
