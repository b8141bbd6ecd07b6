#pragma once
// Allocators hand out raw device memory and keep current/peak byte counts. The CPU one is a
// thin aligned malloc; the CUDA one (kernels/cuda_allocator.cu) caches freed blocks so a
// steady-state training step never calls cudaMalloc.
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace sfm {

enum class Device : uint8_t { CPU, CUDA };
const char* device_name(Device d);

struct MemoryStats {
  size_t current_bytes = 0;   // bytes handed out and not yet returned
  size_t peak_bytes = 0;      // high-water mark of current_bytes
  size_t reserved_bytes = 0;  // bytes held from the system (>= current for a caching allocator)
  size_t alloc_calls = 0;     // allocate() calls
  size_t system_allocs = 0;   // calls that reached the system allocator (malloc/cudaMalloc)
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* p, size_t bytes) = 0;
  virtual MemoryStats stats() const = 0;
  virtual void reset_peak() = 0;
  // Return cached blocks to the system (no-op for the CPU allocator).
  virtual void release_cached() {}
};

// The allocator for a device. CUDA throws when the build has no CUDA backend.
Allocator& allocator_for(Device d);

// Poisoning: while on, every block the CPU and CUDA allocators hand out is first filled with
// 0xFF bytes (NaN as float32 and float64), so an output element that an op never writes
// shows as NaN in a comparison (sfm selftest and the GPU tests turn it on). Off by default:
// it costs one fill per allocation. SFM_POISON_ALLOC=1 in the environment turns it on at start.
void set_poison_allocations(bool on);
bool poison_allocations();

}  // namespace sfm
