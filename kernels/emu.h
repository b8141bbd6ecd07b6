#pragma once
// A host emulation of the CUDA execution model, used only to test the kernels' own code on
// machines without a GPU (tests/test_gpu_emulated.cpp). Not part of any CUDA build's
// library: kernels/device_compat.h includes it when the compiler is not nvcc.
//
// What is emulated: a 1-d thread block runs as blockDim.x fibers (ucontext coroutines on the
// calling thread), blocks one after another; __shared__ arrays become function statics (one
// block at a time, so every fiber of the running block shares them); __syncthreads() parks
// the fiber until every fiber of the block that has not returned arrives; mma.sync m16n8k8
// (TF32) is a warp-wide rendezvous that rebuilds the 16x8 A, 8x8 B and 16x8 C tiles from
// the 32 lanes' registers with the fragment layout of the PTX ISA and gives each lane its
// four results. Fibers run round-robin in thread order, so a run is deterministic; a block
// whose fibers all wait on barriers that can never open (e.g. a __syncthreads() that only
// some threads reach after others returned) is reported as an error, not a hang.
// What is not emulated: timing, coalescing, bank conflicts, and races between threads that
// the round-robin order happens to hide.
#include <ucontext.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <vector>

#include "engine/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define SFM_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SFM_EMU_ASAN 1
#endif
#endif
#if SFM_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace sfm::emu {

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 {
  float x, y, z, w;
};

// The running fiber's coordinates (set by the scheduler before it resumes a fiber).
inline dim3 threadIdx;
inline dim3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;

// Multiprocessor count the launch planners see under emulation (small, so that the split-K
// paths run on small test problems).
inline int& num_sms() {
  static int n = 4;
  return n;
}

class Scheduler {
 public:
  enum State { Runnable, AtBlock, AtWarp, Done };
  static constexpr size_t kStack = 256 * 1024;

  struct Fiber {
    ucontext_t ctx;
    std::unique_ptr<char[]> stack;
    State st = Done;
    void* fake_stack = nullptr;  // ASan's fake-stack handle while suspended
  };
  struct WarpStage {
    uint32_t a[32][4];
    uint32_t b[32][2];
  };

  static Scheduler& get() {
    static Scheduler s;
    return s;
  }

  template <class F>
  void launch(dim3 grid, dim3 block, F& body) {
    SFM_CHECK(!running_, "emulated launch inside an emulated kernel");
    SFM_CHECK(block.y == 1 && block.z == 1 && block.x % 32 == 0 && block.x >= 32 && block.x <= 1024,
              "emulated launch: blocks must be 1-d and whole warps, got ", block.x, "x", block.y, "x", block.z);
    if ((uint64_t)grid.x * grid.y * grid.z == 0) return;
    gridDim = grid;
    blockDim = block;
    n_ = (int)block.x;
    while ((int)fibers_.size() < n_) {
      fibers_.emplace_back();
      fibers_.back().stack.reset(new char[kStack]);
    }
    stage_.resize(n_ / 32);
    warp_wait_.assign(n_ / 32, 0);
    warp_active_.assign(n_ / 32, 32);
    body_ = [](void* b) { (*static_cast<F*>(b))(); };
    body_arg_ = &body;
    err_ = nullptr;
    running_ = true;
    try {
      for (unsigned bz = 0; bz < grid.z && !err_; ++bz)
        for (unsigned by = 0; by < grid.y && !err_; ++by)
          for (unsigned bx = 0; bx < grid.x && !err_; ++bx) run_block(dim3(bx, by, bz));
    } catch (...) {
      running_ = false;
      throw;
    }
    running_ = false;
    if (err_) std::rethrow_exception(err_);
  }

  // __syncthreads()
  void sync_block() {
    Fiber& f = fibers_[cur_];
    f.st = AtBlock;
    if (++block_wait_ == active_) release_block();
    yield();
  }
  // the warp rendezvous of a warp-collective instruction
  void sync_warp() {
    const int w = cur_ / 32;
    fibers_[cur_].st = AtWarp;
    if (++warp_wait_[w] == warp_active_[w]) release_warp(w);
    yield();
  }
  WarpStage& stage(int warp) { return stage_[warp]; }

 private:
  void run_block(dim3 b) {
    blockIdx = b;
    active_ = n_;
    block_wait_ = 0;
    for (int w = 0; w < n_ / 32; ++w) {
      warp_wait_[w] = 0;
      warp_active_[w] = 32;
    }
    for (int t = 0; t < n_; ++t) init_fiber(&fibers_[t]);
    while (active_ > 0) {
      bool ran = false;
      for (int t = 0; t < n_; ++t) {
        if (fibers_[t].st != Runnable) continue;
        ran = true;
        resume(t);
      }
      if (!ran)
        fail("emulated kernel deadlock in block (", b.x, ",", b.y, ",", b.z, "): ", active_,
             " threads wait on barriers that cannot open (a __syncthreads() not reached by all threads?)");
    }
  }

  // A fresh context that starts at entry(). Out of line: getcontext() returns twice, and no
  // local of the caller should live across it.
  __attribute__((noinline)) void init_fiber(Fiber* f) {
    getcontext(&f->ctx);
    init_fiber_tail(f);
  }
  __attribute__((noinline)) void init_fiber_tail(Fiber* f) {
    f->ctx.uc_stack.ss_sp = f->stack.get();
    f->ctx.uc_stack.ss_size = kStack;
    f->ctx.uc_link = &main_;
    makecontext(&f->ctx, &Scheduler::entry, 0);
    f->st = Runnable;
    f->fake_stack = nullptr;
  }

  void resume(int t) {
    cur_ = t;
    threadIdx = dim3((unsigned)t);
#if SFM_EMU_ASAN
    void* main_fake = nullptr;
    __sanitizer_start_switch_fiber(&main_fake, fibers_[t].stack.get(), kStack);
#endif
    swapcontext(&main_, &fibers_[t].ctx);
#if SFM_EMU_ASAN
    __sanitizer_finish_switch_fiber(main_fake, nullptr, nullptr);
#endif
  }

  // In a fiber: back to the scheduler until resumed.
  void yield() {
    Fiber& f = fibers_[cur_];
#if SFM_EMU_ASAN
    __sanitizer_start_switch_fiber(&f.fake_stack, main_bottom_, main_size_);
#endif
    swapcontext(&f.ctx, &main_);
#if SFM_EMU_ASAN
    __sanitizer_finish_switch_fiber(f.fake_stack, &main_bottom_, &main_size_);
#endif
  }

  static void entry() {
    Scheduler& s = get();
#if SFM_EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &s.main_bottom_, &s.main_size_);
#endif
    try {
      s.body_(s.body_arg_);
    } catch (...) {
      if (!s.err_) s.err_ = std::current_exception();
    }
    s.on_exit();
#if SFM_EMU_ASAN
    __sanitizer_start_switch_fiber(nullptr, s.main_bottom_, s.main_size_);
#endif
    // returning continues at uc_link: the scheduler
  }

  void on_exit() {
    fibers_[cur_].st = Done;
    --active_;
    const int w = cur_ / 32;
    --warp_active_[w];
    if (block_wait_ > 0 && block_wait_ == active_) release_block();
    if (warp_wait_[w] > 0 && warp_wait_[w] == warp_active_[w]) release_warp(w);
  }
  void release_block() {
    block_wait_ = 0;
    for (int t = 0; t < n_; ++t)
      if (fibers_[t].st == AtBlock) fibers_[t].st = Runnable;
  }
  void release_warp(int w) {
    warp_wait_[w] = 0;
    for (int t = w * 32; t < w * 32 + 32; ++t)
      if (fibers_[t].st == AtWarp) fibers_[t].st = Runnable;
  }

  ucontext_t main_;
  std::vector<Fiber> fibers_;
  std::vector<WarpStage> stage_;
  std::vector<int> warp_wait_, warp_active_;
  int n_ = 0, cur_ = 0, active_ = 0, block_wait_ = 0;
  void (*body_)(void*) = nullptr;
  void* body_arg_ = nullptr;
  std::exception_ptr err_;
  bool running_ = false;
  const void* main_bottom_ = nullptr;
  size_t main_size_ = 0;
};

inline void sync_block() { Scheduler::get().sync_block(); }
inline void sync_warp() { Scheduler::get().sync_warp(); }

// d[0..3] += A(16x8) * B(8x8) for one warp, operands as TF32 bit patterns (the low 13
// mantissa bits are ignored, as the tensor cores ignore them).
inline void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  const int lane = (int)threadIdx.x % 32, w = (int)threadIdx.x / 32;
  Scheduler::WarpStage& st = Scheduler::get().stage(w);
  for (int i = 0; i < 4; ++i) st.a[lane][i] = a[i];
  for (int i = 0; i < 2; ++i) st.b[lane][i] = b[i];
  sync_warp();
  auto val = [](uint32_t bits) {
    bits &= 0xffffe000u;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  };
  float A[16][8], B[8][8];
  for (int l = 0; l < 32; ++l) {
    const int g = l >> 2, t = l & 3;
    A[g][t] = val(st.a[l][0]);
    A[g + 8][t] = val(st.a[l][1]);
    A[g][t + 4] = val(st.a[l][2]);
    A[g + 8][t + 4] = val(st.a[l][3]);
    B[t][g] = val(st.b[l][0]);
    B[t + 4][g] = val(st.b[l][1]);
  }
  const int g = lane >> 2, t = lane & 3;
  for (int r = 0; r < 4; ++r) {
    const int row = g + 8 * (r >> 1), col = 2 * t + (r & 1);
    float acc = 0;
    for (int k = 0; k < 8; ++k) acc += A[row][k] * B[k][col];
    d[r] += acc;
  }
  sync_warp();  // nobody restages before every lane has read
}

// Runs body() as the kernel for every block of the grid. Blocks: 1-d, whole warps.
template <class F>
void launch(dim3 grid, dim3 block, F&& body) {
  Scheduler::get().launch(grid, block, body);
}

}  // namespace sfm::emu
