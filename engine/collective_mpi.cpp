// The MPI communicator (the object library sfm_mpi, linked into `sfm` and `sfm_tests` when CMake
// finds MPI; it registers itself with engine/collective.cpp before main). Only the main thread calls
// MPI (MPI_THREAD_FUNNELED): the data loader's threads never do.
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "engine/collective.h"
#include "boundary/error.h"

namespace sfm::detail {

namespace {

class MpiWorld final : public Collective {
 public:
  MpiWorld() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      owns_init_ = true;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    // The ranks sharing this machine's memory: their order is the local rank (the GPU index).
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &local_rank_);
    MPI_Comm_free(&node);
    char version[MPI_MAX_LIBRARY_VERSION_STRING] = {0};
    int len = 0;
    MPI_Get_library_version(version, &len);
    library_ = std::string(version, (size_t)len);
    if (auto nl = library_.find_first_of(",\n"); nl != std::string::npos) library_.resize(nl);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  void all_reduce_sum(float* data, size_t n) override { reduce(data, n, MPI_FLOAT); }
  void all_reduce_sum(double* data, size_t n) override { reduce(data, n, MPI_DOUBLE); }
  void broadcast(void* data, size_t bytes, int root) override {
    SFM_CHECK(root >= 0 && root < size_, "collective: broadcast from rank ", root, " of ", size_);
    for (size_t off = 0; off < bytes;) {
      const int chunk = (int)std::min<size_t>(bytes - off, kMaxCount);
      MPI_Bcast(static_cast<char*>(data) + off, chunk, MPI_BYTE, root, MPI_COMM_WORLD);
      off += (size_t)chunk;
    }
  }
  void barrier() override { MPI_Barrier(MPI_COMM_WORLD); }
  [[noreturn]] void abort(int code, const std::string& why) override {
    std::fprintf(stderr, "%s\n", why.c_str());
    std::fflush(stderr);
    std::fflush(stdout);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; in case an implementation's does
  }
  std::string name() const override { return "MPI (" + library_ + ")"; }
  void finalize() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owns_init_ && !finalized) MPI_Finalize();
  }

 private:
  static constexpr size_t kMaxCount = 1u << 30;  // MPI counts are ints
  void reduce(void* data, size_t n, MPI_Datatype t) {
    const int bytes = t == MPI_FLOAT ? 4 : 8;
    for (size_t off = 0; off < n;) {
      const int chunk = (int)std::min<size_t>(n - off, kMaxCount);
      MPI_Allreduce(MPI_IN_PLACE, static_cast<char*>(data) + off * (size_t)bytes, chunk, t, MPI_SUM, MPI_COMM_WORLD);
      off += (size_t)chunk;
    }
  }
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  bool owns_init_ = false;
  std::string library_;
};

MpiWorld* g_world = nullptr;

Collective* mpi_world() {
  if (!g_world) g_world = new MpiWorld();  // lives until mpi_shutdown (no static destructor order)
  return g_world;
}

void mpi_shutdown() {
  if (g_world) g_world->finalize();
}

[[maybe_unused]] const bool g_registered = (register_mpi(MpiHooks{&mpi_world, &mpi_shutdown}), true);

}  // namespace

}  // namespace sfm::detail
