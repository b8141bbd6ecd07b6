#pragma once
// The processes of one data-parallel job and what they do together: rank and size, sum
// all-reduces, broadcast, barrier, and ending the whole job. Three implementations:
//   single process (this file's default: rank 0 of 1, every call a no-op or a copy),
//   MPI (engine/collective_mpi.cpp, linked into `sfm` and `sfm_tests` when CMake finds MPI, and
//     never into the GPU bundle's binaries: a bare GPU image has no libmpi) for host buffers,
//   NCCL (kernels/nccl_collective.cu, CUDA builds with NCCL: SFM_WITH_NCCL) for device buffers,
//     bootstrapped over MPI.
// world() is the process's communicator: MPI when the build has it and the process was started
// by a launcher (mpirun, srun: one of OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_SIZE is set), the
// single process otherwise, so a program that is not launched by mpirun behaves as without MPI.
#include <cstddef>
#include <cstdint>
#include <string>

namespace sfm {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // The rank among the processes of this machine (the GPU a rank takes).
  virtual int local_rank() const = 0;
  // In-place sums over every rank of n host values; each rank ends with the same result.
  virtual void all_reduce_sum(float* data, size_t n) = 0;
  virtual void all_reduce_sum(double* data, size_t n) = 0;
  // In-place sum of n floats in device memory (CUDA builds). The default copies to the host,
  // reduces there and copies back; the NCCL communicator reduces on the devices.
  virtual void all_reduce_sum_device(float* device_data, size_t n);
  // Root's bytes to every rank.
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // Ends every process of the job with exit code `code` after printing `why` (on stderr,
  // prefixed with this rank). Never returns.
  [[noreturn]] virtual void abort(int code, const std::string& why) = 0;
  virtual std::string name() const = 0;  // "single process", "MPI (Open MPI ...)", "NCCL ..."
};

// The process's communicator (created on first use; see the header comment).
Collective& world();
// True when this executable has MPI linked in (whether or not it runs under a launcher).
bool collective_mpi_built();
// Finalises MPI when world() started it (the end of main; a no-op otherwise).
void shutdown_collective();

// The communicator for device buffers of this job: NCCL when the build has it and the job has
// more than one rank or SFM_FORCE_NCCL=1, else world() itself (which copies through the host).
// Chooses the CUDA device of the local rank first (CUDA builds). Created on first use.
Collective& device_world();
bool collective_nccl_built();

// A job of several ranks on CUDA: each rank takes the GPU of its local rank, by setting
// SFM_CUDA_DEVICE (read when the CUDA runtime starts) unless the user set it. Call before the
// first CUDA call; a no-op for a single process.
void use_local_rank_cuda_device();
// `s` of rank `root` on every rank.
std::string broadcast_string(Collective& c, const std::string& s, int root);

namespace detail {
// The launcher's environment says this process is one of a job's ranks.
bool launched_by_mpi();
Collective& single_process();
// MPI is linked per executable (the object library sfm_mpi): engine/collective_mpi.cpp
// registers these before main runs; without it world() is always the single process.
struct MpiHooks {
  Collective* (*world)() = nullptr;  // initialises MPI on first call
  void (*shutdown)() = nullptr;
};
void register_mpi(const MpiHooks& hooks);
}  // namespace detail

}  // namespace sfm
