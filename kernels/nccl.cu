#include "kernels/nccl.h"

#include <nccl.h>

#include <string>

#include "kernels/cuda_check.h"
#include "kernels/runtime.h"

namespace sfm::nccl {

static_assert(sizeof(ncclUniqueId) == kUniqueIdBytes, "kernels/nccl.h: kUniqueIdBytes != sizeof(ncclUniqueId)");

struct Comm {
  ncclComm_t comm = nullptr;
};

#define SFM_NCCL_CHECK(expr)                                                                         \
  do {                                                                                               \
    ncclResult_t sfm_r_ = (expr);                                                                    \
    if (sfm_r_ != ncclSuccess)                                                                       \
      ::sfm::fail(#expr, " failed at ", __FILE__, ":", __LINE__, ": ", ncclGetErrorString(sfm_r_),   \
                  " (", ncclGetLastError(nullptr), ")");                                             \
  } while (0)

void unique_id(unsigned char* out) {
  ncclUniqueId id;
  SFM_NCCL_CHECK(ncclGetUniqueId(&id));
  for (size_t i = 0; i < kUniqueIdBytes; ++i) out[i] = (unsigned char)id.internal[i];
}

Comm* create(const unsigned char* id_bytes, int nranks, int rank) {
  ncclUniqueId id;
  for (size_t i = 0; i < kUniqueIdBytes; ++i) id.internal[i] = (char)id_bytes[i];
  (void)cuda::device();  // initialise the runtime on the chosen device first
  Comm* c = new Comm;
  ncclResult_t r = ncclCommInitRank(&c->comm, nranks, id, rank);
  if (r != ncclSuccess) {
    delete c;
    fail("ncclCommInitRank (rank ", rank, " of ", nranks, ", device ", cuda::device(), ") failed: ",
         ncclGetErrorString(r), " (", ncclGetLastError(nullptr), ")");
  }
  return c;
}

void all_reduce_sum(Comm* c, float* device_data, size_t n) {
  if (n == 0) return;
  SFM_NCCL_CHECK(ncclAllReduce(device_data, device_data, n, ncclFloat32, ncclSum, c->comm, cuda::stream()));
}

void destroy(Comm* c) {
  if (!c) return;
  ncclCommDestroy(c->comm);
  delete c;
}

std::string version() {
  int v = 0;
  ncclGetVersion(&v);
  // NCCL_VERSION_CODE: major*10000 + minor*100 + patch (2.9 and later)
  return "NCCL " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

}  // namespace sfm::nccl
