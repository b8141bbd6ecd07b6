#pragma once
// The implicit-GEMM engine behind every handwritten convolution kernel.
//
// A problem describes a GEMM  D[M, N] = sum_k A[m, k] * B[k, n]  whose operands are never
// materialised: the problem gathers A and B elements from the convolution's tensors and
// scatters each result through its epilogue (kernels/conv_kernels.h). A problem may be a
// set of independent GEMMs ("classes": the stride residues of the backward-data pass),
// each with its own M, N, K, chosen by blockIdx.z.
//
// Tiling: a 256-thread block computes a 64x64 tile of D, stepping over K 16 at a time.
// Both operand tiles go through shared memory, double-buffered: the global loads of the
// next K-step are issued into registers before the current step's arithmetic, and stored
// into the other buffer after it, so one __syncthreads() per step suffices.
//   FP32: each thread owns a 4x4 sub-tile (16x16 threads), operands read as float4.
//   TF32: 8 warps as 2 (M) x 4 (N), each a 32x16 warp tile = 2x2 mma.sync m16n8k8 tiles,
//         operands rounded to TF32 once, when stored to shared memory; FP32 accumulators.
// Shared tiles are stored K-major ([k][m], [k][n]) with rows padded to 72 floats, which
// makes the fragment reads of the TF32 path bank-conflict free (lane (g,t) reads bank
// 8t+g) and keeps the float4 reads of the FP32 path aligned.
//
// Split-K: when the output tiles alone cannot fill the device (deep layers with tiny maps,
// and the weight gradient whose K is N*H*W), K is cut into `splits` contiguous ranges;
// each writes its partial tile to a workspace, and a second kernel adds the partials in
// split order and applies the epilogue. No atomics: the result is bitwise reproducible
// for a given device (the split count depends on the multiprocessor count).
//
// Problem interface (P):
//   struct Cls { int M, N, K; ... };              one GEMM of the set
//   int classes() const;  Cls cls(int) const;      (cls is host+device)
//   ACtx a_ctx(cls, k); float a_at(cls, actx, m)   A[m,k]; a thread's k is fixed per K-step
//   BCtx b_ctx(cls, n); float b_at(cls, bctx, k)   B[k,n]; a thread's n is fixed per block
//   void store(cls, m, n, v)                        epilogue for D[m,n] = v
#include <algorithm>
#include <cstdint>

#include "kernels/kernel_compiler.h"

namespace sfm::cuda {
SFM_KERNEL_NS_BEGIN
namespace implicit_gemm {

constexpr int BM = 64, BN = 64, BK = 16, THREADS = 256;
constexpr int LDS = 72;  // padded row of a shared tile
constexpr int kMaxSplits = 64;

template <class P, bool TF32>
SFM_GLOBAL void SFM_LAUNCH_BOUNDS(THREADS) gemm_kernel(P prob, int splits, float* partial, int64_t mn_stride) {
  SFM_SHARED_ARRAY_ALIGN16(float, As, [2][BK][LDS]);
  SFM_SHARED_ARRAY_ALIGN16(float, Bs, [2][BK][LDS]);

  const int tid = (int)threadIdx.x;
  const int z = (int)blockIdx.z;
  const int cls_id = z / splits, split = z - cls_id * splits;
  const typename P::Cls c = prob.cls(cls_id);
  const int m0 = (int)blockIdx.y * BM, n0 = (int)blockIdx.x * BN;
  if (m0 >= c.M || n0 >= c.N) return;  // the whole block leaves together

  const int ktiles = (c.K + BK - 1) / BK;
  const int per = (ktiles + splits - 1) / splits;
  const int kt_begin = imin(ktiles, split * per), kt_end = imin(ktiles, kt_begin + per);

  // Loader coordinates. A: k = tid % 16 (fixed), m = tid / 16 + 16 i. B: n = tid % 64
  // (fixed for the block), k = tid / 64 + 4 i. Consecutive threads read consecutive k of
  // A (contiguous weight rows) and consecutive n of B (contiguous output pixels).
  const int a_k = tid % BK, a_m = tid / BK;
  const int b_n = tid % BN, b_k = tid / BN;
  const int gn = n0 + b_n;
  const bool b_ok = gn < c.N;
  typename P::BCtx bctx{};
  if (b_ok) bctx = prob.b_ctx(c, gn);

  float ra[4], rb[4];
  float acc[4][4];
SFM_UNROLL
  for (int i = 0; i < 4; ++i)
SFM_UNROLL
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.f;

  if (kt_begin < kt_end) {
    auto load = [&](int kt) {
      const int k0 = kt * BK;
      const int ak = k0 + a_k;
      if (ak < c.K) {
        const typename P::ACtx actx = prob.a_ctx(c, ak);
SFM_UNROLL
        for (int i = 0; i < 4; ++i) {
          const int m = m0 + a_m + 16 * i;
          ra[i] = m < c.M ? prob.a_at(c, actx, m) : 0.f;
        }
      } else {
SFM_UNROLL
        for (int i = 0; i < 4; ++i) ra[i] = 0.f;
      }
SFM_UNROLL
      for (int i = 0; i < 4; ++i) {
        const int k = k0 + b_k + 4 * i;
        rb[i] = (b_ok && k < c.K) ? prob.b_at(c, bctx, k) : 0.f;
      }
    };
    auto stash = [&](int buf) {
SFM_UNROLL
      for (int i = 0; i < 4; ++i) {
        As[buf][a_k][a_m + 16 * i] = TF32 ? bits_to_float(to_tf32(ra[i])) : ra[i];
        Bs[buf][b_k + 4 * i][b_n] = TF32 ? bits_to_float(to_tf32(rb[i])) : rb[i];
      }
    };

    load(kt_begin);
    stash(0);
    sfm_syncthreads();
    for (int kt = kt_begin; kt < kt_end; ++kt) {
      const int buf = (kt - kt_begin) & 1;
      const bool more = kt + 1 < kt_end;
      if (more) load(kt + 1);
      if constexpr (TF32) {
        const int warp = tid / 32, lane = tid % 32;
        const int wm = warp / 4, wn = warp % 4, g = lane / 4, t = lane % 4;
SFM_UNROLL
        for (int ks = 0; ks < BK; ks += 8) {
          uint32_t a[2][4], b[2][2];
SFM_UNROLL
          for (int mi = 0; mi < 2; ++mi) {
            const int r = wm * 32 + mi * 16 + g;
            a[mi][0] = float_to_bits(As[buf][ks + t][r]);
            a[mi][1] = float_to_bits(As[buf][ks + t][r + 8]);
            a[mi][2] = float_to_bits(As[buf][ks + t + 4][r]);
            a[mi][3] = float_to_bits(As[buf][ks + t + 4][r + 8]);
          }
SFM_UNROLL
          for (int ni = 0; ni < 2; ++ni) {
            const int col = wn * 16 + ni * 8 + g;
            b[ni][0] = float_to_bits(Bs[buf][ks + t][col]);
            b[ni][1] = float_to_bits(Bs[buf][ks + t + 4][col]);
          }
SFM_UNROLL
          for (int mi = 0; mi < 2; ++mi)
SFM_UNROLL
            for (int ni = 0; ni < 2; ++ni) mma_tf32(acc[mi * 2 + ni], a[mi], b[ni]);
        }
      } else {
        const int tm = tid / 16, tn = tid % 16;
SFM_UNROLL
        for (int kk = 0; kk < BK; ++kk) {
          const float4 av = lds4(&As[buf][kk][tm * 4]);
          const float4 bv = lds4(&Bs[buf][kk][tn * 4]);
          const float a4[4] = {av.x, av.y, av.z, av.w};
          const float b4[4] = {bv.x, bv.y, bv.z, bv.w};
SFM_UNROLL
          for (int i = 0; i < 4; ++i)
SFM_UNROLL
            for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a4[i], b4[j], acc[i][j]);
        }
      }
      if (more) stash(buf ^ 1);
      sfm_syncthreads();
    }
  }

  // Epilogue: direct (bias, activation, scatter) or a partial tile for the split-K sum.
  auto out = [&](int m, int n, float v) {
    if (m >= c.M || n >= c.N) return;
    if (splits == 1)
      prob.store(c, m, n, v);
    else
      partial[(int64_t)z * mn_stride + (int64_t)m * c.N + n] = v;
  };
  if constexpr (TF32) {
    const int warp = tid / 32, lane = tid % 32;
    const int wm = warp / 4, wn = warp % 4, g = lane / 4, t = lane % 4;
SFM_UNROLL
    for (int mi = 0; mi < 2; ++mi)
SFM_UNROLL
      for (int ni = 0; ni < 2; ++ni)
SFM_UNROLL
        for (int r = 0; r < 4; ++r)
          out(m0 + wm * 32 + mi * 16 + g + 8 * (r >> 1), n0 + wn * 16 + ni * 8 + 2 * t + (r & 1), acc[mi * 2 + ni][r]);
  } else {
    const int tm = tid / 16, tn = tid % 16;
SFM_UNROLL
    for (int i = 0; i < 4; ++i)
SFM_UNROLL
      for (int j = 0; j < 4; ++j) out(m0 + tm * 4 + i, n0 + tn * 4 + j, acc[i][j]);
  }
}

// Adds the split partials of each class in split order and applies the epilogue.
template <class P>
SFM_GLOBAL void SFM_LAUNCH_BOUNDS(256) splitk_reduce_kernel(P prob, int splits, const float* partial, int64_t mn_stride) {
  const int cls_id = (int)blockIdx.y;
  const typename P::Cls c = prob.cls(cls_id);
  const int64_t mn = (int64_t)c.M * c.N;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < mn; i += (int64_t)gridDim.x * blockDim.x) {
    float s = 0.f;
    for (int sp = 0; sp < splits; ++sp) s += partial[(int64_t)(cls_id * splits + sp) * mn_stride + i];
    const int m = (int)(i / c.N);
    prob.store(c, m, (int)(i - (int64_t)m * c.N), s);
  }
}

struct Plan {
  dim3 grid;
  int splits = 1;
  int classes = 1;
  int64_t mn_stride = 0;  // floats per (class, split) partial tile in the workspace
  bool empty = true;      // nothing to compute (every class has M == 0 or N == 0)
};

// Tests only: when positive, the split count the planner uses instead of its own choice
// (clamped to [1, min(K-steps, kMaxSplits)]), so that every split path runs on small problems.
inline int& forced_splits() {
  static int v = 0;
  return v;
}

// Grid and split count. Splitting starts when the output tiles number fewer than two per
// multiprocessor (target 2 x SMs tiles); each split keeps at least 4 K-steps (64 products)
// per output element. So a larger device splits more, never less: no split happens when
// the tiles already fill 2 x SMs, or K has fewer than 8 K-steps.
template <class P>
Plan make_plan(const P& prob, int sms) {
  Plan pl;
  pl.classes = prob.classes();
  int64_t Mmax = 0, Nmax = 0, Kmax = 0;
  for (int i = 0; i < pl.classes; ++i) {
    const typename P::Cls c = prob.cls(i);
    if (c.M == 0 || c.N == 0) continue;
    Mmax = std::max<int64_t>(Mmax, c.M);
    Nmax = std::max<int64_t>(Nmax, c.N);
    Kmax = std::max<int64_t>(Kmax, c.K);
  }
  if (Mmax == 0) return pl;
  pl.empty = false;
  const int64_t tiles_m = ceil_div(Mmax, BM), tiles_n = ceil_div(Nmax, BN);
  SFM_CHECK(tiles_m <= 65535, "implicit GEMM: M = ", Mmax, " is too large");
  const int64_t tiles = tiles_m * tiles_n * pl.classes;
  const int64_t ktiles = ceil_div(Kmax, BK);
  const int64_t target = 2 * (int64_t)std::max(sms, 1);
  int64_t s = 1;
  if (forced_splits() > 0)
    s = std::max<int64_t>(1, std::min<int64_t>({(int64_t)forced_splits(), ktiles, kMaxSplits}));
  else if (tiles < target && ktiles >= 8)
    s = std::min<int64_t>({ceil_div(target, tiles), ktiles / 4, kMaxSplits});
  if (s > 1) {
    const int64_t per = ceil_div(ktiles, s);
    pl.splits = (int)ceil_div(ktiles, per);  // no split left without K-steps
  }
  SFM_CHECK((int64_t)pl.classes * pl.splits <= 65535, "implicit GEMM: too many classes");
  pl.grid = dim3((unsigned)tiles_n, (unsigned)tiles_m, (unsigned)(pl.classes * pl.splits));
  pl.mn_stride = Mmax * Nmax;
  return pl;
}

// Plans and launches one problem on the compute stream (or the emulator).
template <class P>
void run(const P& prob, bool tf32) {
  const Plan pl = make_plan(prob, planner_sm_count());
  if (pl.empty) return;
  Scratch ws(pl.splits > 1 ? (size_t)pl.classes * pl.splits * pl.mn_stride * sizeof(float) : 0);
  float* partial = pl.splits > 1 ? ws.f() : nullptr;
  if (tf32) {
    auto* k = &gemm_kernel<P, true>;
    SFM_LAUNCH(k, pl.grid, dim3(THREADS), prob, pl.splits, partial, pl.mn_stride);
  } else {
    auto* k = &gemm_kernel<P, false>;
    SFM_LAUNCH(k, pl.grid, dim3(THREADS), prob, pl.splits, partial, pl.mn_stride);
  }
  if (pl.splits > 1) {
    const int64_t blocks = std::min<int64_t>(ceil_div(pl.mn_stride, 256), 2048);
    auto* r = &splitk_reduce_kernel<P>;
    SFM_LAUNCH(r, dim3((unsigned)blocks, (unsigned)pl.classes), dim3(256), prob, pl.splits, (const float*)partial,
               pl.mn_stride);
  }
}

}  // namespace implicit_gemm
SFM_KERNEL_NS_END
}  // namespace sfm::cuda
