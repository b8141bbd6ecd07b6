// CPU convolution: im2col / col2im + Eigen's single-threaded GEMM kernel, parallelised by
// OpenMP over tasks fixed by the shapes (see conv.h, and "planning" below).
#include "cpu/conv.h"

#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <memory>

#include "boundary/math/conv_math.h"
#include "cpu/parallel.h"

namespace sfm::cpu {

namespace {

// ------------------------------------------------------------------------------------ GEMM
// C (row-major M x N, leading dimension ldc) += A * B with A: M x K, B: K x N, each row-major
// (ARow / BRow) or column-major with the given leading dimension.
//
// Eigen's own product API would parallelise a large product with OpenMP whenever it is called
// outside a parallel region, with cache blocking that depends on the thread count (so the
// rounding would too). We call its GEMM kernel directly with no parallel info instead: always
// single-threaded, blocking a function of (M, N, K) alone; the parallelism is ours.
template <class T, bool ARow, bool BRow>
void gemm_acc(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
              int64_t ldc) {
  if (M <= 0 || N <= 0 || K <= 0) return;
  namespace ei = Eigen::internal;
  using Index = Eigen::Index;
  ei::gemm_blocking_space<Eigen::RowMajor, T, T, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic> blocking(M, N, K, 1,
                                                                                                           true);
  constexpr int AOrder = ARow ? Eigen::RowMajor : Eigen::ColMajor;
  constexpr int BOrder = BRow ? Eigen::RowMajor : Eigen::ColMajor;
#if EIGEN_VERSION_AT_LEAST(3, 3, 90)
  ei::general_matrix_matrix_product<Index, T, AOrder, false, T, BOrder, false, Eigen::RowMajor, 1>::run(
      M, N, K, A, lda, B, ldb, C, 1, ldc, T(1), blocking, nullptr);
#else
  ei::general_matrix_matrix_product<Index, T, AOrder, false, T, BOrder, false, Eigen::RowMajor>::run(
      M, N, K, A, lda, B, ldb, C, ldc, T(1), blocking, nullptr);
#endif
}

// Products with very few columns (the deep layers: a handful of pixels per batch) are bound by
// reading w, which a packing GEMM reads, copies and reads again. These two read w once, row by
// row, in a fixed order.
//
// C[j, o] = sum_k A[j, k] B[o, k] for j < J (A, B, C row-major): dot products of two rows of A
// with four rows of B at a time, over L1-sized runs of k (fixed-order SIMD reductions, each run
// added to C in order).
template <class T>
void gemm_nt_skinny(int64_t J, int64_t M, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
                    int64_t ldc) {
  constexpr int64_t kRun = 512;
  for (int64_t j = 0; j < J; ++j) std::fill(C + j * ldc, C + j * ldc + M, T(0));
  for (int64_t o = 0; o < M; o += 4) {
    const int64_t on = std::min<int64_t>(4, M - o);
    const T* b0 = B + o * ldb;
    const T* b1 = on > 1 ? b0 + ldb : b0;  // past the end: recompute row o, discard
    const T* b2 = on > 2 ? b0 + 2 * ldb : b0;
    const T* b3 = on > 3 ? b0 + 3 * ldb : b0;
    for (int64_t k0 = 0; k0 < K; k0 += kRun) {
      const int64_t k1 = std::min(K, k0 + kRun);
      for (int64_t j = 0; j < J; j += 2) {
        const T* a0 = A + j * lda;
        const T* a1 = j + 1 < J ? a0 + lda : a0;
        T s00 = T(0), s01 = T(0), s02 = T(0), s03 = T(0), s10 = T(0), s11 = T(0), s12 = T(0), s13 = T(0);
#pragma omp simd reduction(+ : s00, s01, s02, s03, s10, s11, s12, s13)
        for (int64_t k = k0; k < k1; ++k) {
          const T u = a0[k], v = a1[k], w0 = b0[k], w1 = b1[k], w2 = b2[k], w3 = b3[k];
          s00 += u * w0;
          s01 += u * w1;
          s02 += u * w2;
          s03 += u * w3;
          s10 += v * w0;
          s11 += v * w1;
          s12 += v * w2;
          s13 += v * w3;
        }
        const T s[2][4] = {{s00, s01, s02, s03}, {s10, s11, s12, s13}};
        for (int64_t jj = 0; jj < std::min<int64_t>(2, J - j); ++jj)
          for (int64_t i = 0; i < on; ++i) C[(j + jj) * ldc + o + i] += s[jj][i];
      }
    }
  }
}
// C[j, r] = sum_o A[o, j] B[o, r] for j < J, r < R (A: O x J with leading dimension lda; B, C
// row-major): for each j, rows of B added four at a time (order: o ascending).
template <class T>
void gemm_tn_skinny(int64_t J, int64_t R, int64_t O, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
                    int64_t ldc) {
  for (int64_t j = 0; j < J; ++j) std::fill(C + j * ldc, C + j * ldc + R, T(0));
  for (int64_t o = 0; o < O; o += 4) {
    const int64_t on = std::min<int64_t>(4, O - o);
    const T* b0 = B + o * ldb;
    const T* b1 = on > 1 ? b0 + ldb : b0;
    const T* b2 = on > 2 ? b0 + 2 * ldb : b0;
    const T* b3 = on > 3 ? b0 + 3 * ldb : b0;
    for (int64_t j = 0; j < J; ++j) {
      const T a0 = A[o * lda + j];
      const T a1 = on > 1 ? A[(o + 1) * lda + j] : T(0);
      const T a2 = on > 2 ? A[(o + 2) * lda + j] : T(0);
      const T a3 = on > 3 ? A[(o + 3) * lda + j] : T(0);
      T* c = C + j * ldc;
#pragma omp simd
      for (int64_t r = 0; r < R; ++r) c[r] += ((a0 * b0[r] + a1 * b1[r]) + (a2 * b2[r] + a3 * b3[r]));
    }
  }
}

// ------------------------------------------------------------------------------- scratch
// Per-thread buffers reused across calls (no page faults or zero-fills per call); grown, never
// shrunk. Slots, per thread: 0 a task's im2col (or transposed dcol); 1 a task's output block or
// dcol; 2 gathered dy, or a transposed im2col (a task's own or a call's shared one); 3 buffers
// shared by a call's tasks (weight-gradient partials, a shared im2col), taken by the calling
// thread before its parallel loop.
template <class T>
T* scratch(int slot, int64_t n) {
  struct Buf {
    std::unique_ptr<T[]> p;
    int64_t n = 0;
  };
  thread_local Buf bufs[4];
  Buf& b = bufs[slot];
  if (n > b.n) {
    b.p.reset();  // free first: never hold both
    b.p.reset(new T[n]);
    b.n = n;
  }
  return b.p.get();
}

// ------------------------------------------------------------------------------- planning
// Every op call is cut into tasks fixed by the shapes alone; each task owns a disjoint part of
// the output (or of a partial sum reduced in a fixed order), so neither the thread count nor
// the scheduling changes any result. One OpenMP loop over the tasks, with dynamic scheduling,
// keeps barriers to a few per call: a busy or shared machine costs little.
constexpr int64_t kBlockElems = int64_t(1) << 18;  // an im2col / dcol block: 1 MB of float, in L2
constexpr int64_t kMinCols = 128, kMaxCols = 4096;  // columns per block (GEMM width)
constexpr int64_t kMinDataCols = 256;               // columns per block of the data gradient
// Blocks with fewer columns than this use the skinny products (w read once, no packing).
constexpr int64_t kSkinnyCols = 32;
constexpr int64_t kTargetTasks = 8;                 // enough to balance up to 8 threads
constexpr double kMinTaskFlops = 4e6;               // smaller tasks cost more to schedule than they gain
constexpr double kMinParallelFlops = 2e6;

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct Range {
  int64_t b, e;
  int64_t size() const { return e - b; }
};
// [0, n) cut into `count` blocks of `size` (the last one shorter).
struct Split {
  int64_t n = 0, size = 1, count = 1;
  Range at(int64_t i) const { return {i * size, std::min(n, (i + 1) * size)}; }
};
// About `count` near-equal blocks of [0, n), the block size rounded up to a multiple of align.
Split split(int64_t n, int64_t count, int64_t align) {
  Split s;
  s.n = n;
  count = std::clamp<int64_t>(count, 1, std::max<int64_t>(1, n));
  s.size = cdiv(cdiv(n, count), align) * align;
  s.count = std::max<int64_t>(1, cdiv(n, s.size));
  return s;
}

int64_t wanted_tasks(double flops) { return std::clamp<int64_t>(int64_t(flops / kMinTaskFlops), 1, kTargetTasks); }
// Columns of a block with `rows` rows: an L2-sized block, within [kMinCols, kMaxCols].
int64_t block_cols(int64_t rows) {
  return std::clamp<int64_t>(kBlockElems / std::max<int64_t>(rows, 1), kMinCols, kMaxCols);
}
bool use_threads(double flops, int64_t tasks) { return cpu_threads() > 1 && tasks > 1 && flops >= kMinParallelFlops; }

// ------------------------------------------------------------------------- im2col / col2im
// Walks the output pixels [p0, p1) of one image row by row: f(oy, ox0, ox1, j0) for each
// output row segment, j0 being the column of (oy, ox0) relative to p0.
template <class F>
void for_row_segments(const ConvGeom& g, int64_t p0, int64_t p1, F&& f) {
  int64_t p = p0;
  while (p < p1) {
    const int64_t oy = p / g.Wo, ox0 = p - oy * g.Wo;
    const int64_t ox1 = std::min<int64_t>(g.Wo, ox0 + (p1 - p));
    f(oy, ox0, ox1, p - p0);
    p += ox1 - ox0;
  }
}

// Columns are numbered across the batch, q = n P + p. Calls f(n, p0, p1, off) for each image n
// that columns [q0, q1) touch: its pixels [p0, p1), at column q0 + off.
template <class F>
void for_image_segments(const ConvGeom& g, int64_t q0, int64_t q1, F&& f) {
  const int64_t P = g.P();
  for (int64_t n = q0 / P; n * P < q1; ++n) {
    const int64_t a = std::max(q0, n * P), b = std::min(q1, (n + 1) * P);
    f(n, a - n * P, b - n * P, a - q0);
  }
}

// Row r = (c, ky, kx) of the im2col matrix for output pixels [p0, p1) of image xn:
// out[j] = x[c, oy s - p + ky, ox s - p + kx] (0 in the padding).
template <class T>
void im2col_row(const ConvGeom& g, const T* xn, int64_t r, int64_t p0, int64_t p1, T* out) {
  const int k = g.k, s = g.s, pad = g.p;
  const int64_t c = r / (k * k);
  const int ky = int((r / k) % k), kx = int(r % k);
  const T* xc = xn + c * g.H * g.W;
  int64_t lo, hi;
  math::conv_valid_range(g.Wo, g.W, kx, s, pad, lo, hi);
  const int64_t off = int64_t(kx) - pad;  // ix = ox s + off
  for_row_segments(g, p0, p1, [&](int64_t oy, int64_t ox0, int64_t ox1, int64_t j0) {
    T* o = out + j0 - ox0;  // o[ox] holds pixel (oy, ox)
    const int64_t iy = math::conv_src(oy, ky, s, pad);
    if (iy < 0 || iy >= g.H) {
      std::fill(o + ox0, o + ox1, T(0));
      return;
    }
    const int64_t a = std::clamp(lo, ox0, ox1), b = std::clamp(hi, a, ox1);
    std::fill(o + ox0, o + a, T(0));
    const T* xr = xc + iy * g.W;
    if (s == 1) {
      for (int64_t ox = a; ox < b; ++ox) o[ox] = xr[ox + off];
    } else {
      for (int64_t ox = a; ox < b; ++ox) o[ox] = xr[ox * s + off];
    }
    std::fill(o + b, o + ox1, T(0));
  });
}

// The adjoint of im2col for one channel of one image: dxc += the k*k rows of dcol_c (row
// stride ld; row ky*k + kx) over output pixels [p0, p1). Fixed order: ky, kx, pixel.
template <class T>
void col2im_channel(const ConvGeom& g, const T* dcol_c, int64_t ld, int64_t p0, int64_t p1, T* dxc) {
  const int k = g.k, s = g.s, pad = g.p;
  for (int ky = 0; ky < k; ++ky)
    for (int kx = 0; kx < k; ++kx) {
      const T* src = dcol_c + (ky * k + kx) * ld;
      int64_t lo, hi;
      math::conv_valid_range(g.Wo, g.W, kx, s, pad, lo, hi);
      const int64_t off = int64_t(kx) - pad;
      for_row_segments(g, p0, p1, [&](int64_t oy, int64_t ox0, int64_t ox1, int64_t j0) {
        const int64_t iy = math::conv_src(oy, ky, s, pad);
        if (iy < 0 || iy >= g.H) return;
        const int64_t a = std::clamp(lo, ox0, ox1), b = std::clamp(hi, a, ox1);
        const T* sr = src + j0 - ox0;
        T* dr = dxc + iy * g.W;
        if (s == 1) {
          for (int64_t ox = a; ox < b; ++ox) dr[ox + off] += sr[ox];
        } else {
          for (int64_t ox = a; ox < b; ++ox) dr[ox * s + off] += sr[ox];
        }
      });
    }
}

// Rows [r0, r1) x columns [q0, q1) of the im2col matrix of the batch into buf (row stride q1 - q0).
template <class T>
void im2col_block(const ConvGeom& g, const T* x, int64_t r0, int64_t r1, int64_t q0, int64_t q1, T* buf) {
  const int64_t ld = q1 - q0, CHW = g.C * g.H * g.W;
  for (int64_t r = r0; r < r1; ++r)
    for_image_segments(g, q0, q1, [&](int64_t n, int64_t p0, int64_t p1, int64_t off) {
      im2col_row(g, x + n * CHW, r, p0, p1, buf + (r - r0) * ld + off);
    });
}

// Rows [o0, o1) of dy [N,O,P] at columns [q0, q1) as a row-major matrix with leading dimension
// *ld: a view into dy when the columns lie in one image, else gathered into scratch slot 2.
template <class T>
const T* dy_block(const ConvGeom& g, const T* dy, int64_t o0, int64_t o1, int64_t q0, int64_t q1, int64_t* ld) {
  const int64_t P = g.P(), O = g.O;
  if (q0 / P == (q1 - 1) / P) {
    const int64_t n = q0 / P;
    *ld = P;
    return dy + (n * O + o0) * P + (q0 - n * P);
  }
  const int64_t cols = q1 - q0;
  T* buf = scratch<T>(2, (o1 - o0) * cols);
  for (int64_t o = o0; o < o1; ++o)
    for_image_segments(g, q0, q1, [&](int64_t n, int64_t p0, int64_t p1, int64_t off) {
      std::memcpy(buf + (o - o0) * cols + off, dy + (n * O + o) * P + p0, (p1 - p0) * sizeof(T));
    });
  *ld = cols;
  return buf;
}

// ---------------------------------------------------------------------------- backward data
// dx = col2im(w^T dy). Column blocks are groups of whole images (disjoint in dx) or, for large
// images, runs of whole output rows of one image; consecutive runs overlap in dx by at most
// k - s input rows, and a run is at least ceil(k/s) - 1 rows long, so runs of equal parity
// never overlap: the even runs are accumulated first, then the odd ones (a fixed order).
// Input channels are split too when there are few blocks (disjoint in dx).
template <class T>
void conv_backward_data(const ConvGeom& g, const T* w, const T* dy, T* dx) {
  const int64_t K = g.K(), P = g.P(), O = g.O, k2 = int64_t(g.k) * g.k, HW = g.H * g.W, CHW = g.C * HW;
  const double flops = g.flops();
  // Each task packs its rows of w^T once per block: blocks of at least kMinDataCols columns keep
  // that below 1/500 of the task's flops (the deep layers have few pixels and large w).
  const int64_t cols_target = std::max(kMinDataCols, block_cols(K));
  int64_t imgs = 1, rows = g.Ho, segs = 1;
  if (P <= cols_target) {
    imgs = std::clamp<int64_t>(cols_target / P, 1, g.N);
  } else {
    const int64_t min_rows = std::max<int64_t>(1, cdiv(g.k, g.s) - 1);
    rows = std::max(cdiv(cols_target, g.Wo), min_rows);
    segs = cdiv(g.Ho, rows);
  }
  const int64_t groups = cdiv(g.N, imgs);           // column blocks when segs == 1
  const int64_t waves = segs > 1 ? 2 : 1;
  const int64_t segs_even = cdiv(segs, 2), segs_odd = segs / 2;
  const int64_t per_wave = segs > 1 ? g.N * segs_even : groups;
  int64_t ncb = 1;
  while (per_wave * ncb < wanted_tasks(flops) && (g.C / (ncb * 2)) * k2 >= 64) ncb *= 2;
  const Split chs = split(g.C, ncb, 1);
  const bool par = use_threads(flops, per_wave * chs.count);
#pragma omp parallel num_threads(cpu_threads()) if (par)
  {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < g.N * g.C; ++i) std::fill(dx + i * HW, dx + (i + 1) * HW, T(0));
    for (int64_t wave = 0; wave < waves; ++wave) {
      const int64_t blocks = segs > 1 ? g.N * (wave == 0 ? segs_even : segs_odd) : groups;
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < blocks * chs.count; ++t) {
        const int64_t bi = t / chs.count;
        const Range rc = chs.at(t % chs.count);
        int64_t q0, q1;
        if (segs > 1) {
          const int64_t per_img = wave == 0 ? segs_even : segs_odd;
          const int64_t n = bi / per_img, seg = 2 * (bi % per_img) + wave;
          q0 = n * P + seg * rows * g.Wo;
          q1 = n * P + std::min(g.Ho, (seg + 1) * rows) * g.Wo;
        } else {
          q0 = bi * imgs * P;
          q1 = std::min(g.N, (bi + 1) * imgs) * P;
        }
        const int64_t cols = q1 - q0, rrows = rc.size() * k2;
        int64_t ld;
        const T* dyv = dy_block(g, dy, 0, O, q0, q1, &ld);
        T* dcol = scratch<T>(1, rrows * cols);
        if (cols >= kSkinnyCols) {
          std::fill(dcol, dcol + rrows * cols, T(0));
          gemm_acc<T, false, true>(rrows, cols, O, w + rc.b * k2, K, dyv, ld, dcol, cols);  // w^T rows [c0 k2, c1 k2)
        } else {  // dcol^T = dy^T w[:, rows], then transposed
          T* dcol_t = scratch<T>(0, rrows * cols);
          gemm_tn_skinny(cols, rrows, O, dyv, ld, w + rc.b * k2, K, dcol_t, rrows);
          for (int64_t r = 0; r < rrows; ++r)
            for (int64_t j = 0; j < cols; ++j) dcol[r * cols + j] = dcol_t[j * rrows + r];
        }
        for (int64_t c = rc.b; c < rc.e; ++c)
          for_image_segments(g, q0, q1, [&](int64_t n, int64_t p0, int64_t p1, int64_t off) {
            col2im_channel(g, dcol + (c - rc.b) * k2 * cols + off, cols, p0, p1, dx + n * CHW + c * HW);
          });
      }
    }
  }
}

// -------------------------------------------------------------------------- backward weight
// dw = dy col^T, a sum over all N P columns. Tasks split the columns into S segments (each
// summed into its own partial dw, added in order at the end), the K rows of col and the O
// rows of dy; each task walks its columns in L2-sized blocks, in order.
template <class T>
void conv_backward_weight(const ConvGeom& g, const T* x, const T* dy, T* dw) {
  const int64_t K = g.K(), O = g.O, Q = g.N * g.P();
  const double flops = g.flops();
  const int64_t want = wanted_tasks(flops);
  int64_t S = 1, nkb = 1, nob = 1;
  while (S * nkb * nob < want) {
    if ((S * 2) * O * K <= (int64_t(1) << 20) && Q / (S * 2) >= 2048)
      S *= 2;  // cheapest: no im2col or dy packing is repeated
    else if (K / (nkb * 2) >= 64)
      nkb *= 2;
    else if (O / (nob * 2) >= 64)
      nob *= 2;
    else
      break;
  }
  const Split qs = split(Q, S, 1), ks = split(K, nkb, 8), os = split(O, nob, 8);
  T* part = qs.count > 1 ? scratch<T>(3, qs.count * O * K) : dw;
  const int64_t tasks = qs.count * ks.count * os.count;
#pragma omp parallel num_threads(cpu_threads()) if (use_threads(flops, tasks))
  {
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; ++t) {
      const Range rq = qs.at(t / (ks.count * os.count));
      const Range rk = ks.at((t / os.count) % ks.count), ro = os.at(t % os.count);
      T* acc = part + (t / (ks.count * os.count)) * O * K;
      for (int64_t o = ro.b; o < ro.e; ++o) std::fill(acc + o * K + rk.b, acc + o * K + rk.e, T(0));
      const int64_t step = block_cols(rk.size());
      for (int64_t q0 = rq.b; q0 < rq.e; q0 += step) {
        const int64_t q1 = std::min(rq.e, q0 + step), cols = q1 - q0;
        T* col = scratch<T>(0, rk.size() * cols);
        im2col_block(g, x, rk.b, rk.e, q0, q1, col);
        int64_t ld;
        const T* dyv = dy_block(g, dy, ro.b, ro.e, q0, q1, &ld);
        // acc[o-rows, k-rows] += dy[o-rows, cols] col[k-rows, cols]^T (col^T: column-major, ld cols)
        gemm_acc<T, true, false>(ro.size(), rk.size(), cols, dyv, ld, col, cols, acc + ro.b * K + rk.b, K);
      }
    }
    if (qs.count > 1) {
#pragma omp for schedule(static)
      for (int64_t e = 0; e < O * K; ++e) {
        T v = part[e];
        for (int64_t s = 1; s < qs.count; ++s) v += part[s * O * K + e];
        dw[e] = v;
      }
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------- forward
// y = act(w col + b). Tasks: blocks of columns (L2-sized im2col blocks) x blocks of output
// channels (split only when there are few column blocks). Each task builds its own im2col
// block and writes its part of y: straight into y when its columns lie in one image, else
// through a buffer scattered per image.
template <class T>
void conv2d_forward(const ConvGeom& g, const T* x, const T* w, const T* b, Activation act, T* y) {
  const int64_t K = g.K(), P = g.P(), O = g.O, Q = g.N * P;
  const double flops = g.flops();
  const int64_t want = wanted_tasks(flops);
  int64_t ncol = cdiv(Q, block_cols(K));
  if (ncol < want) ncol = std::max(ncol, std::min(want, Q / kMinCols));  // smaller blocks, for balance
  int64_t nob = 1;
  while (ncol * nob < want && O / (nob * 2) >= 64) nob *= 2;
  const Split cs = split(Q, ncol, 8), os = split(O, nob, 8);
  const int64_t tasks = cs.count * os.count;
  // With the output channels split, the im2col matrix is built once and shared by the tasks.
  const bool shared = os.count > 1;
  T* col_all = shared ? scratch<T>(3, K * Q) : nullptr;
  // Skinny blocks read im2col transposed ([cols x K]); shared, it is transposed once.
  T* col_all_t = shared && Q < kSkinnyCols ? scratch<T>(2, K * Q) : nullptr;
  auto task = [&](int64_t t) {
    const Range rc = cs.at(t % cs.count), ro = os.at(t / cs.count);
    const int64_t cols = rc.size();
    const T* col;
    int64_t ldcol;
    if (shared) {
      col = col_all + rc.b;
      ldcol = Q;
    } else {
      T* own = scratch<T>(0, K * cols);
      im2col_block(g, x, 0, K, rc.b, rc.e, own);
      col = own;
      ldcol = cols;
    }
    if (cols < kSkinnyCols) {
      // y^T block [cols x o-rows] = col^T w^T, then bias, activation and the scatter into y.
      const T* col_t = col_all_t ? col_all_t + rc.b * K : nullptr;
      if (!col_t) {
        T* own_t = scratch<T>(2, cols * K);
        for (int64_t r = 0; r < K; ++r)
          for (int64_t j = 0; j < cols; ++j) own_t[j * K + r] = col[r * ldcol + j];
        col_t = own_t;
      }
      T* out_t = scratch<T>(1, cols * ro.size());
      gemm_nt_skinny(cols, ro.size(), K, col_t, K, w + ro.b * K, K, out_t, ro.size());
      for (int64_t o = ro.b; o < ro.e; ++o) {
        const T bo = b ? b[o] : T(0);
        const T* src = out_t + (o - ro.b);
        for_image_segments(g, rc.b, rc.e, [&](int64_t n, int64_t p0, int64_t p1, int64_t off) {
          T* dst = y + (n * O + o) * P + p0;
          for (int64_t j = 0; j < p1 - p0; ++j) dst[j] = math::conv_activation(act, src[(off + j) * ro.size()] + bo);
        });
      }
      return;
    }
    // A block inside one image is written straight into y, else through a buffer.
    const bool direct = rc.b / P == (rc.e - 1) / P;
    T* out;
    int64_t ldo;
    if (direct) {
      const int64_t n = rc.b / P;
      out = y + (n * O + ro.b) * P + (rc.b - n * P);
      ldo = P;
    } else {
      out = scratch<T>(1, ro.size() * cols);
      ldo = cols;
    }
    for (int64_t o = ro.b; o < ro.e; ++o) {
      T* row = out + (o - ro.b) * ldo;
      std::fill(row, row + cols, b ? b[o] : T(0));
    }
    gemm_acc<T, true, true>(ro.size(), cols, K, w + ro.b * K, K, col, ldcol, out, ldo);
    for (int64_t o = ro.b; o < ro.e; ++o) {
      T* row = out + (o - ro.b) * ldo;
      if (direct) {
        if (act != Activation::None)
          for (T* v = row; v < row + cols; ++v) *v = math::conv_activation(act, *v);
      } else {
        for_image_segments(g, rc.b, rc.e, [&](int64_t n, int64_t p0, int64_t p1, int64_t off) {
          T* dst = y + (n * O + o) * P + p0;
          for (int64_t j = 0; j < p1 - p0; ++j) dst[j] = math::conv_activation(act, row[off + j]);
        });
      }
    }
  };
#pragma omp parallel num_threads(cpu_threads()) if (use_threads(flops, tasks))
  {
    if (shared) {
#pragma omp for schedule(static)
      for (int64_t r = 0; r < K; ++r) im2col_block(g, x, r, r + 1, 0, Q, col_all + r * Q);
      if (col_all_t) {
#pragma omp for schedule(static)
        for (int64_t j = 0; j < Q; ++j)
          for (int64_t r = 0; r < K; ++r) col_all_t[j * K + r] = col_all[r * Q + j];
      }
    }
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; ++t) task(t);
  }
}

// --------------------------------------------------------------------------------- backward
template <class T>
void conv2d_backward_data(const ConvGeom& g, const T* w, const T* dy, T* dx) {
  conv_backward_data(g, w, dy, dx);
}

template <class T>
void conv2d_backward_weight(const ConvGeom& g, const T* x, const T* dy, T* dw) {
  conv_backward_weight(g, x, dy, dw);
}

template <class T>
void conv_transpose2d_forward(const ConvGeom& g, const T* x, const T* w, const T* b, Activation act, T* y) {
  conv_backward_data(g, w, x, y);
  bias_activation_inplace(y, b, g.N, g.C, g.H * g.W, act);
}

// --------------------------------------------------------------------------------- epilogues
template <class T>
void bias_activation_inplace(T* y, const T* b, int64_t N, int64_t C, int64_t P, Activation act) {
  if (!b && act == Activation::None) return;
  const int64_t planes = N * C;
  parallel_for(planes, [&](int64_t i) {
    const T bv = b ? b[i % C] : T(0);
    T* v = y + i * P;
    for (int64_t j = 0; j < P; ++j) v[j] = math::conv_activation(act, v[j] + bv);
  }, planes * P < kParallelGrain ? planes + 1 : 1);
}

template <class T>
void activation_backward(const T* y, const T* g, T* out, int64_t n, Activation act) {
  parallel_for(n, [&](int64_t i) { out[i] = math::conv_activation_grad(act, y[i], g[i]); });
}

template <class T>
void channel_sum(const T* g, int64_t N, int64_t C, int64_t P, T* db) {
  parallel_for(C, [&](int64_t c) {
    double acc = 0;
    for (int64_t n = 0; n < N; ++n) {
      const T* v = g + (n * C + c) * P;
      for (int64_t j = 0; j < P; ++j) acc += v[j];
    }
    db[c] = T(acc);
  }, N * C * P < kParallelGrain ? C + 1 : 1);
}

#define SFM_CONV_INSTANTIATE(T)                                                                       \
  template void conv2d_forward<T>(const ConvGeom&, const T*, const T*, const T*, Activation, T*);     \
  template void conv2d_backward_data<T>(const ConvGeom&, const T*, const T*, T*);                     \
  template void conv2d_backward_weight<T>(const ConvGeom&, const T*, const T*, T*);                   \
  template void conv_transpose2d_forward<T>(const ConvGeom&, const T*, const T*, const T*, Activation, T*); \
  template void bias_activation_inplace<T>(T*, const T*, int64_t, int64_t, int64_t, Activation);      \
  template void activation_backward<T>(const T*, const T*, T*, int64_t, Activation);                  \
  template void channel_sum<T>(const T*, int64_t, int64_t, int64_t, T*);
SFM_CONV_INSTANTIATE(float)
SFM_CONV_INSTANTIATE(double)
#undef SFM_CONV_INSTANTIATE

}  // namespace sfm::cpu
