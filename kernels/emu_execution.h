#pragma once
// A host emulation of the CUDA execution model, used to test the kernels' own code on
// machines without a GPU (tests/test_gpu_emulated.cpp), and in the emulated device build
// (-DSFM_EMULATED_CUDA=ON: the whole CUDA backend compiled as C++, over the host runtime of
// kernels/emu_runtime_api.h). Never part of an nvcc build: kernels/kernel_compiler.h includes it
// when the compiler is not nvcc.
//
// What is emulated: a 1-d thread block runs as blockDim.x fibers (coroutines on the
// calling thread), blocks one after another; __shared__ arrays become function statics (one
// block at a time, so every fiber of the running block shares them); __syncthreads() parks
// the fiber until every fiber of the block that has not returned arrives; mma.sync m16n8k8
// (TF32) is a warp-wide rendezvous that rebuilds the 16x8 A, 8x8 B and 16x8 C tiles from
// the 32 lanes' registers with the fragment layout of the PTX ISA and gives each lane its
// four results. A block whose fibers all wait on barriers that can never open (e.g. a
// __syncthreads() that only some threads reach after others returned) is reported as an
// error, not a hang.
//
// As a test instrument (set by the tests, see schedule_policy()):
//  - Thread order: each scheduling pass runs every runnable fiber up to its next barrier or
//    warp rendezvous, i.e. one barrier interval, in the policy's order: thread order
//    (RoundRobin), Reversed, or a fresh seeded permutation per pass (Shuffled). A missing
//    barrier whose reader happens to run after its writer in one order fails in another;
//    a correct kernel gives bitwise identical results under every order.
//  - Poison: every __shared__ array (SFM_SHARED_ARRAY) is filled with 0xFF bytes (a NaN for
//    float, all ones for integers) when a block first reaches its declaration, so nothing
//    survives from the previous block, and emulated scratch (kernel_compiler.h) is poisoned
//    when allocated: reads of memory no thread wrote show as NaN.
//  - Launch limits: block <= 1024 threads (1-d, whole warps), grid.x < 2^31, grid.y and
//    grid.z <= 65535, static shared memory of the kernel (the sum of the distinct arrays its
//    blocks declare) <= 48 KiB, kernel parameters <= 32764 bytes and trivially copyable
//    (SFM_LAUNCH), float4 accesses 16-byte aligned (lds4).
// What is not emulated: timing, coalescing, bank conflicts, and the memory model (a fiber's
// writes are seen at once by every other fiber).
#if defined(__x86_64__) && defined(__linux__)
#define SFM_EMU_FAST_SWITCH 1
#else
#include <ucontext.h>
#endif

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <numeric>
#include <type_traits>
#include <vector>

#include "boundary/error.h"

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

#if SFM_EMU_FAST_SWITCH
// sfm_emu_switch(&save_sp, new_sp): saves the callee-saved registers, MXCSR and the x87 control
// word on the current stack, stores the stack pointer to *save_sp, and resumes the context
// whose stack pointer is new_sp (saved by an earlier switch, or prepared by init_fiber). A
// plain function call, so the compiler keeps everything else it needs itself. (glibc's
// swapcontext also saves the signal mask with a system call per switch, which made the
// emulation spend most of its time in the kernel.) Weak: every test file may define it.
extern "C" void sfm_emu_switch(void** save_sp, void* new_sp);
__asm__(
    ".text\n"
    ".weak sfm_emu_switch\n"
    ".type sfm_emu_switch,@function\n"
    "sfm_emu_switch:\n"
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  subq $8, %rsp\n"
    "  stmxcsr (%rsp)\n"
    "  fnstcw 4(%rsp)\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  ldmxcsr (%rsp)\n"
    "  fldcw 4(%rsp)\n"
    "  addq $8, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    ".size sfm_emu_switch, .-sfm_emu_switch\n");
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
// paths run on small test problems): 4, or SFM_EMU_SMS from the environment.
inline int& num_sms() {
  static int n = [] {
    const char* v = std::getenv("SFM_EMU_SMS");
    const int k = v && *v ? std::atoi(v) : 4;
    return k >= 1 ? k : 4;
  }();
  return n;
}

// The order in which the fibers of a block run within each barrier interval.
enum class Order { RoundRobin, Reversed, Shuffled };
struct Policy {
  Order order = Order::RoundRobin;
  uint64_t seed = 0;  // Shuffled: the permutations derive from it (and the block and pass)
};
inline Policy& schedule_policy() {
  static Policy p;
  return p;
}

// Hardware limits the emulated launch enforces (those of every architecture since sm_30).
constexpr uint64_t kMaxGridX = (uint64_t(1) << 31) - 1;
constexpr unsigned kMaxGridYZ = 65535;
constexpr unsigned kMaxBlockThreads = 1024;
constexpr size_t kMaxStaticShared = 48 * 1024;
// Kernel parameters: 4 KiB before CUDA 12.1; 32764 bytes from CUDA 12.1 on sm_70+, which the
// build requires (the multi-tensor Adam passes a ~9 KiB table by value: kernels/adam_kernels.h).
constexpr size_t kMaxParamBytes = 32764;

inline uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

class Scheduler {
 public:
  enum State { Runnable, AtBlock, AtWarp, Done };
  static constexpr size_t kStack = 256 * 1024;

  struct Fiber {
#if SFM_EMU_FAST_SWITCH
    void* sp = nullptr;  // saved stack pointer while suspended
#else
    ucontext_t ctx;
#endif
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
    // One launch at a time in the process (the emulated device build may launch from several
    // host threads); recursive, so that a launch from inside a kernel reaches the check below.
    std::lock_guard<std::recursive_mutex> one_at_a_time(launch_mutex_);
    SFM_CHECK(!running_, "emulated launch inside an emulated kernel");
    SFM_CHECK((uint64_t)block.x * block.y * block.z <= kMaxBlockThreads, "emulated launch: a block of ", block.x, "x",
              block.y, "x", block.z, " threads exceeds ", kMaxBlockThreads);
    SFM_CHECK(block.y == 1 && block.z == 1 && block.x % 32 == 0 && block.x >= 32,
              "emulated launch: blocks must be 1-d and whole warps, got ", block.x, "x", block.y, "x", block.z);
    SFM_CHECK(grid.x <= kMaxGridX && grid.y <= kMaxGridYZ && grid.z <= kMaxGridYZ, "emulated launch: grid ", grid.x,
              "x", grid.y, "x", grid.z, " exceeds the limits (x < 2^31, y and z <= 65535)");
    SFM_CHECK((uint64_t)grid.x * grid.y * grid.z > 0, "emulated launch: empty grid ", grid.x, "x", grid.y, "x",
              grid.z, " (a real launch fails with an invalid configuration)");
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
    shared_.clear();
    shared_bytes_ = 0;
    policy_ = schedule_policy();
    order_.resize(n_);
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

  // A __shared__ array of the running kernel reached by the running fiber: counted towards
  // the kernel's static shared memory, and poisoned when the block first reaches it.
  void shared_decl(void* p, size_t bytes) {
    SFM_CHECK(running_, "emulated __shared__ array used outside an emulated launch");
    for (SharedArr& a : shared_)
      if (a.p == p) {
        if (a.block != block_serial_) {
          std::memset(p, 0xFF, bytes);
          a.block = block_serial_;
        }
        return;
      }
    shared_.push_back({p, bytes, block_serial_});
    shared_bytes_ += bytes;
    SFM_CHECK(shared_bytes_ <= kMaxStaticShared, "emulated launch: the kernel's static shared memory (",
              shared_bytes_, " bytes in ", shared_.size(), " arrays) exceeds ", kMaxStaticShared, " bytes");
    std::memset(p, 0xFF, bytes);
  }
  size_t last_shared_bytes() const { return shared_bytes_; }

 private:
  void run_block(dim3 b) {
    blockIdx = b;
    ++block_serial_;
    // Shuffled: permutations from the seed and the block's index (the same for every launch of
    // the same grid, so a failing order reproduces).
    uint64_t rs = policy_.seed ^ (0x5851f42d4c957f2dull * (1 + b.x + (uint64_t)gridDim.x * (b.y + (uint64_t)gridDim.y * b.z)));
    active_ = n_;
    block_wait_ = 0;
    for (int w = 0; w < n_ / 32; ++w) {
      warp_wait_[w] = 0;
      warp_active_[w] = 32;
    }
    for (int t = 0; t < n_; ++t) init_fiber(&fibers_[t]);
    while (active_ > 0) {
      // One pass: every runnable fiber up to its next barrier, in the policy's order.
      switch (policy_.order) {
        case Order::RoundRobin: std::iota(order_.begin(), order_.end(), 0); break;
        case Order::Reversed:
          for (int t = 0; t < n_; ++t) order_[t] = n_ - 1 - t;
          break;
        case Order::Shuffled:
          std::iota(order_.begin(), order_.end(), 0);
          for (int t = n_ - 1; t > 0; --t) std::swap(order_[t], order_[splitmix64(rs) % (uint64_t)(t + 1)]);
          break;
      }
      bool ran = false;
      for (int i = 0; i < n_; ++i) {
        const int t = order_[i];
        if (fibers_[t].st != Runnable) continue;
        ran = true;
        resume(t);
      }
      if (!ran)
        fail("emulated kernel deadlock in block (", b.x, ",", b.y, ",", b.z, "): ", active_,
             " threads wait on barriers that cannot open (a __syncthreads() not reached by all threads?)");
    }
  }

#if SFM_EMU_FAST_SWITCH
  // A fresh context that starts at entry(): a stack laid out as sfm_emu_switch leaves one,
  // returning into entry() with the stack aligned as after a call.
  void init_fiber(Fiber* f) {
    uintptr_t top = ((uintptr_t)f->stack.get() + kStack) & ~(uintptr_t)15;
    uint64_t* sp = (uint64_t*)top;
    *--sp = 0;                                 // entry()'s return address: it never returns
    *--sp = (uint64_t)(uintptr_t)&entry_thunk;  // sfm_emu_switch's ret lands here (rsp % 16 == 8)
    for (int r = 0; r < 6; ++r) *--sp = 0;     // rbp rbx r12 r13 r14 r15
    *--sp = 0x037F00001F80ull;                 // MXCSR default (low half), x87 control word (high)
    f->sp = sp;
    f->st = Runnable;
    f->fake_stack = nullptr;
  }
  static void entry_thunk() {
    entry();
    // entry() ends by switching back to the scheduler for good
    __builtin_trap();
  }
#else
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
#endif

  void resume(int t) {
    cur_ = t;
    threadIdx = dim3((unsigned)t);
#if SFM_EMU_ASAN
    void* main_fake = nullptr;
    __sanitizer_start_switch_fiber(&main_fake, fibers_[t].stack.get(), kStack);
#endif
#if SFM_EMU_FAST_SWITCH
    sfm_emu_switch(&main_sp_, fibers_[t].sp);
#else
    swapcontext(&main_, &fibers_[t].ctx);
#endif
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
#if SFM_EMU_FAST_SWITCH
    sfm_emu_switch(&f.sp, main_sp_);
#else
    swapcontext(&f.ctx, &main_);
#endif
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
#if SFM_EMU_FAST_SWITCH
    void* dead = nullptr;  // this stack is not resumed again (init_fiber prepares a fresh one)
    sfm_emu_switch(&dead, s.main_sp_);
#endif
    // (ucontext: returning continues at uc_link, the scheduler)
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

  struct SharedArr {
    void* p;
    size_t bytes;
    uint64_t block;  // the block that last poisoned it
  };

#if SFM_EMU_FAST_SWITCH
  void* main_sp_ = nullptr;
#else
  ucontext_t main_;
#endif
  std::vector<Fiber> fibers_;
  std::vector<SharedArr> shared_;
  size_t shared_bytes_ = 0;
  uint64_t block_serial_ = 0;
  Policy policy_;
  std::vector<int> order_;
  std::vector<WarpStage> stage_;
  std::vector<int> warp_wait_, warp_active_;
  int n_ = 0, cur_ = 0, active_ = 0, block_wait_ = 0;
  void (*body_)(void*) = nullptr;
  void* body_arg_ = nullptr;
  std::exception_ptr err_;
  bool running_ = false;
  std::recursive_mutex launch_mutex_;
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

inline void shared_decl(void* p, size_t bytes) { Scheduler::get().shared_decl(p, bytes); }

// The bytes of a kernel's parameters as the CUDA ABI lays them out (each aligned to its
// type), checked against kMaxParamBytes; every parameter must be trivially copyable.
template <class... A>
constexpr size_t param_bytes(void (*)(A...)) {
  static_assert((std::is_trivially_copyable_v<A> && ...), "kernel parameters must be trivially copyable");
  size_t off = 0;
  ((off = (off + alignof(A) - 1) / alignof(A) * alignof(A) + sizeof(A)), ...);
  return off;
}
template <class K>
void check_params(K kernel, const char* name) {
  constexpr size_t n = param_bytes(static_cast<K>(nullptr));
  SFM_CHECK(n <= kMaxParamBytes, "emulated launch of ", name, ": ", n, " bytes of kernel parameters exceed ",
            kMaxParamBytes);
  (void)kernel;
}

// A float4 access must be 16-byte aligned (a misaligned vector access faults on the GPU).
inline void check_align16(const void* p, const char* what) {
  SFM_CHECK(((uintptr_t)p & 15u) == 0, what, ": float4 access at ", p, ", not 16-byte aligned");
}

}  // namespace sfm::emu
