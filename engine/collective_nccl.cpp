// The NCCL communicator (CUDA builds with NCCL: SFM_WITH_NCCL): device-buffer all-reduces on
// NCCL; everything else (host reductions, broadcast, barrier, abort) on the bootstrap
// communicator (MPI, or the single process for a one-rank NCCL job, SFM_FORCE_NCCL=1).
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/collective.h"
#include "boundary/error.h"
#include "kernels/nccl.h"
#include "kernels/runtime.h"

namespace sfm::detail {

namespace {

class NcclWorld final : public Collective {
 public:
  explicit NcclWorld(Collective& boot) : boot_(boot) {
    // Each rank takes the GPU of its local rank unless SFM_CUDA_DEVICE chose one.
    const char* chosen = std::getenv("SFM_CUDA_DEVICE");
    if (!(chosen && *chosen)) cuda::set_device(boot.local_rank());
    std::vector<unsigned char> id(nccl::kUniqueIdBytes);
    if (boot.rank() == 0) nccl::unique_id(id.data());
    boot.broadcast(id.data(), id.size(), 0);
    comm_ = nccl::create(id.data(), boot.size(), boot.rank());
  }
  int rank() const override { return boot_.rank(); }
  int size() const override { return boot_.size(); }
  int local_rank() const override { return boot_.local_rank(); }
  void all_reduce_sum(float* d, size_t n) override { boot_.all_reduce_sum(d, n); }
  void all_reduce_sum(double* d, size_t n) override { boot_.all_reduce_sum(d, n); }
  void all_reduce_sum_device(float* device_data, size_t n) override { nccl::all_reduce_sum(comm_, device_data, n); }
  void broadcast(void* data, size_t bytes, int root) override { boot_.broadcast(data, bytes, root); }
  void barrier() override { boot_.barrier(); }
  [[noreturn]] void abort(int code, const std::string& why) override { boot_.abort(code, why); }
  std::string name() const override { return nccl::version() + " over " + boot_.name(); }
  void shutdown() {
    nccl::destroy(comm_);
    comm_ = nullptr;
  }

 private:
  Collective& boot_;
  nccl::Comm* comm_ = nullptr;
};

NcclWorld* g_nccl = nullptr;

}  // namespace

Collective* nccl_world(Collective& bootstrap) {
  if (!g_nccl) g_nccl = new NcclWorld(bootstrap);
  return g_nccl;
}

void nccl_shutdown() {
  if (g_nccl) g_nccl->shutdown();
}

}  // namespace sfm::detail
