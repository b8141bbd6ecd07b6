#include "engine/allocator.h"

#include <cstdlib>
#include <mutex>
#include <new>

#include "engine/error.h"

namespace sfm {

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

namespace {

class CpuAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes) override {
    // 64-byte alignment for AVX loads; round up because aligned_alloc requires a multiple.
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded == 0) rounded = 64;
    void* p = std::aligned_alloc(64, rounded);
    if (!p) fail("cpu allocator: out of memory allocating ", bytes, " bytes");
    std::lock_guard<std::mutex> g(m_);
    s_.current_bytes += bytes;
    s_.reserved_bytes = s_.current_bytes;
    if (s_.current_bytes > s_.peak_bytes) s_.peak_bytes = s_.current_bytes;
    ++s_.alloc_calls;
    ++s_.system_allocs;
    return p;
  }
  void deallocate(void* p, size_t bytes) override {
    std::free(p);
    std::lock_guard<std::mutex> g(m_);
    s_.current_bytes -= bytes;
    s_.reserved_bytes = s_.current_bytes;
  }
  MemoryStats stats() const override {
    std::lock_guard<std::mutex> g(m_);
    return s_;
  }
  void reset_peak() override {
    std::lock_guard<std::mutex> g(m_);
    s_.peak_bytes = s_.current_bytes;
  }

 private:
  mutable std::mutex m_;
  MemoryStats s_;
};

}  // namespace

Allocator& cuda_allocator();  // kernels/cuda_allocator.cu, or engine/cuda_stub.cpp

Allocator& allocator_for(Device d) {
  static CpuAllocator cpu;
  if (d == Device::CPU) return cpu;
  return cuda_allocator();
}

}  // namespace sfm
