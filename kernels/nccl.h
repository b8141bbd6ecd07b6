#pragma once
// NCCL for the data-parallel gradient all-reduce (CUDA builds where CMake finds NCCL:
// SFM_WITH_NCCL). A thin checked wrapper: engine/collective_nccl.cpp bootstraps it over MPI
// (the unique id broadcast from rank 0) and puts it behind the engine's Collective interface.
// Every call is enqueued on the engine's compute stream (kernels/runtime.h), so it is ordered
// with the kernels before and after it.
#include <cstddef>
#include <string>

namespace sfm::nccl {

constexpr size_t kUniqueIdBytes = 128;  // sizeof(ncclUniqueId) (checked in nccl.cu)

struct Comm;
// A fresh id (on one rank; the others receive it).
void unique_id(unsigned char* out);
// This rank's communicator over `nranks` ranks on the current device (cuda::set_device first).
Comm* create(const unsigned char* id, int nranks, int rank);
// In-place sum of n floats in device memory over every rank.
void all_reduce_sum(Comm* c, float* device_data, size_t n);
void destroy(Comm* c);
std::string version();  // "NCCL 2.27.3"

}  // namespace sfm::nccl
