#include "engine/collective.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "boundary/device_runtime.h"
#include "boundary/error.h"

namespace sfm {

void Collective::all_reduce_sum_device(float* device_data, size_t n) {
  if (n == 0) return;
  std::vector<float> host(n);
  cuda_memcpy(host.data(), Device::CPU, device_data, Device::CUDA, n * sizeof(float));
  all_reduce_sum(host.data(), n);
  cuda_memcpy(device_data, Device::CUDA, host.data(), Device::CPU, n * sizeof(float));
}

namespace {

class SingleProcess final : public Collective {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  void all_reduce_sum(float*, size_t) override {}
  void all_reduce_sum(double*, size_t) override {}
  void all_reduce_sum_device(float*, size_t) override {}
  void broadcast(void*, size_t, int root) override {
    SFM_CHECK(root == 0, "collective: broadcast from rank ", root, " in a single-process job");
  }
  void barrier() override {}
  [[noreturn]] void abort(int code, const std::string& why) override {
    std::fprintf(stderr, "%s\n", why.c_str());
    std::fflush(stderr);
    std::_Exit(code);
  }
  std::string name() const override { return "single process"; }
};

}  // namespace

namespace detail {

bool launched_by_mpi() {
  // Open MPI's mpirun, PMIx (Open MPI 4+, Slurm's srun --mpi=pmix), PMI-1/2 (MPICH, srun --mpi=pmi2).
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"}) {
    const char* e = std::getenv(v);
    if (e && *e) return true;
  }
  return false;
}

Collective& single_process() {
  static SingleProcess s;
  return s;
}

namespace {
// Empty until engine/collective_mpi.cpp, linked into the executable, registers itself (before
// main). Zero-initialised, so it does not depend on the order of static initialisers.
MpiHooks g_mpi;
}  // namespace

void register_mpi(const MpiHooks& hooks) { g_mpi = hooks; }

#if SFM_WITH_NCCL
Collective* nccl_world(Collective& bootstrap);  // engine/collective_nccl.cpp
void nccl_shutdown();
#endif

}  // namespace detail

bool collective_mpi_built() { return detail::g_mpi.world != nullptr; }
#if SFM_WITH_NCCL
bool collective_nccl_built() { return true; }
#else
bool collective_nccl_built() { return false; }
#endif

Collective& world() {
  static Collective* w =
      detail::g_mpi.world && detail::launched_by_mpi() ? detail::g_mpi.world() : &detail::single_process();
  return *w;
}

Collective& device_world() {
#if SFM_WITH_NCCL
  static Collective* d = [] {
    Collective& w = world();
    const char* force = std::getenv("SFM_FORCE_NCCL");
    if (w.size() > 1 || (force && std::strcmp(force, "1") == 0)) return detail::nccl_world(w);
    return &w;
  }();
  return *d;
#else
  return world();
#endif
}

void use_local_rank_cuda_device() {
  Collective& w = world();
  const char* chosen = std::getenv("SFM_CUDA_DEVICE");
  if (w.size() > 1 && !(chosen && *chosen)) setenv("SFM_CUDA_DEVICE", std::to_string(w.local_rank()).c_str(), 1);
}

std::string broadcast_string(Collective& c, const std::string& s, int root) {
  uint64_t n = s.size();
  c.broadcast(&n, sizeof n, root);
  std::string out = c.rank() == root ? s : std::string((size_t)n, '\0');
  if (n) c.broadcast(out.data(), (size_t)n, root);
  return out;
}

void shutdown_collective() {
#if SFM_WITH_NCCL
  detail::nccl_shutdown();
#endif
  if (detail::g_mpi.shutdown && detail::launched_by_mpi()) detail::g_mpi.shutdown();
}

}  // namespace sfm
