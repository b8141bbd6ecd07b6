#pragma once
// Handwritten convolution kernels: the three convolution GEMMs as implicit-GEMM problems
// (kernels/implicit_gemm.h), their epilogues, and the launchers for conv2d and conv_transpose2d.
// Device code: compiled by kernels/conv.cu, and on the host by the emulated tests.
//
// In the convolution's own terms (ConvGeom, boundary/op_types.h; P = Ho, Q = Wo below):
// x [N,C,H,W], w [O,C,k,k] (OIHW), y [N,O,P,Q] with P = (H + 2 pad - k)/stride + 1, and y[n,o,p,q] = sum_{c,r,s} w[o,c,r,s] x[n,c,p*st-pad+r, q*st-pad+s].
//   forward          D[O, N*P*Q]   = W[O, C*k*k]      x im2col(x)[C*k*k, N*P*Q]
//   backward-data    D[C, N*H*W]   = W^T[C, O*k*k]    x col(dy)[O*k*k, N*H*W], split by the
//                    stride residue (h mod st, w mod st): in each residue class only the taps
//                    r = r0 + st*j reach the output, so each class is a dense stride-1 GEMM
//                    with K = O*kr*ks and no multiplications by structural zeros.
//   backward-weight  D[O, C*k*k]   = dY[O, N*P*Q]     x im2col(x)^T[N*P*Q, C*k*k]  (split-K)
// A transposed convolution (w [C,O,k,k], IOHW) runs the same three on the geometry of the
// convolution it is the adjoint of (ConvGeom::transposed): its forward is the backward-data
// problem (with bias and activation), its backward-data the forward problem, its
// backward-weight the backward-weight problem with x and dy swapped.
#include <algorithm>
#include <cstdint>

#include "boundary/math/conv_math.h"  // (includes elementwise_math.h before ops.h, as it must)
#include "kernels/kernel_compiler.h"
#include "kernels/implicit_gemm.h"
#include "kernels/reduce_kernels.h"

namespace sfm::cuda {
SFM_KERNEL_NS_BEGIN
namespace conv_kernels {

// The fused epilogue's activation: boundary/math/conv_math.h, shared with the CPU.
SFM_DEV float activate(Activation a, float v) { return math::conv_activation(a, v); }

// ---------------------------------------------------------------- forward
struct FwdProblem {
  const float* x;
  const float* w;
  const float* bias;  // [O] or null
  float* y;
  Activation act;
  int C, H, W, O, k, stride, pad, P, Q;
  struct Cls {
    int M, N, K;
    FastDiv kk, kd, pq, qd;  // k*k, k, P*Q, Q
  } c0;
  int classes() const { return 1; }
  SFM_HD Cls cls(int) const { return c0; }

  struct ACtx {
    int k;
  };
  SFM_DEV ACtx a_ctx(const Cls&, int kidx) const { return {kidx}; }
  SFM_DEV float a_at(const Cls& c, const ACtx& a, int m) const { return w[(int64_t)m * c.K + a.k]; }

  struct BCtx {
    int64_t base;
    int h0, w0;
  };
  SFM_DEV BCtx b_ctx(const Cls& c, int n) const {
    uint32_t img, pq, p, q;
    c.pq.divmod((uint32_t)n, img, pq);
    c.qd.divmod(pq, p, q);
    return {(int64_t)img * C * H * W, (int)p * stride - pad, (int)q * stride - pad};
  }
  SFM_DEV float b_at(const Cls& c, const BCtx& b, int kidx) const {
    uint32_t ch, rs, r, s;
    c.kk.divmod((uint32_t)kidx, ch, rs);
    c.kd.divmod(rs, r, s);
    const int h = b.h0 + (int)r, ww = b.w0 + (int)s;
    if ((unsigned)h >= (unsigned)H || (unsigned)ww >= (unsigned)W) return 0.f;
    return x[b.base + ((int64_t)ch * H + h) * W + ww];
  }
  SFM_DEV void store(const Cls& c, int m, int n, float v) const {
    uint32_t img, pq;
    c.pq.divmod((uint32_t)n, img, pq);
    if (bias) v += bias[m];
    y[((int64_t)img * O + m) * ((int64_t)P * Q) + pq] = activate(act, v);
  }
};

// ---------------------------------------------------------------- backward-data
constexpr int kMaxClasses = 4;  // stride <= 2 in one launch; larger strides take several

struct BwdDataProblem {
  const float* dy;    // [N,O,P,Q]
  const float* w;     // [O,C,k,k]
  const float* bias;  // [C] or null (the transposed convolution's bias)
  float* dx;          // [N,C,H,W]
  Activation act;
  int C, H, W, O, k, stride, pad, P, Q;
  struct Cls {
    int M, N, K;
    int ph, pw, r0, s0, dh, dw;
    FastDiv krks, ks, hcwc, wc;  // kr*ks, ks, Hc*Wc, Wc
  };
  Cls cl[kMaxClasses];
  int ncls = 0;
  int classes() const { return ncls; }
  SFM_HD Cls cls(int i) const { return cl[i]; }

  struct ACtx {
    int64_t off;
  };
  SFM_DEV ACtx a_ctx(const Cls& c, int kidx) const {
    uint32_t o, jrs, jr, js;
    c.krks.divmod((uint32_t)kidx, o, jrs);
    c.ks.divmod(jrs, jr, js);
    const int r = c.r0 + stride * (int)jr, s = c.s0 + stride * (int)js;
    return {(int64_t)o * C * k * k + (int64_t)r * k + s};
  }
  SFM_DEV float a_at(const Cls&, const ACtx& a, int m) const { return w[a.off + (int64_t)m * k * k]; }

  struct BCtx {
    int64_t base;
    int p0, q0;
  };
  SFM_DEV BCtx b_ctx(const Cls& c, int n) const {
    uint32_t img, ij, i, j;
    c.hcwc.divmod((uint32_t)n, img, ij);
    c.wc.divmod(ij, i, j);
    return {(int64_t)img * O * P * Q, (int)i + c.dh, (int)j + c.dw};
  }
  SFM_DEV float b_at(const Cls& c, const BCtx& b, int kidx) const {
    uint32_t o, jrs, jr, js;
    c.krks.divmod((uint32_t)kidx, o, jrs);
    c.ks.divmod(jrs, jr, js);
    const int p = b.p0 - (int)jr, q = b.q0 - (int)js;
    if ((unsigned)p >= (unsigned)P || (unsigned)q >= (unsigned)Q) return 0.f;
    return dy[b.base + ((int64_t)o * P + p) * Q + q];
  }
  SFM_DEV void store(const Cls& c, int m, int n, float v) const {
    uint32_t img, ij, i, j;
    c.hcwc.divmod((uint32_t)n, img, ij);
    c.wc.divmod(ij, i, j);
    const int h = c.ph + stride * (int)i, ww = c.pw + stride * (int)j;
    if (bias) v += bias[m];
    dx[(((int64_t)img * C + m) * H + h) * W + ww] = activate(act, v);
  }
};

// ---------------------------------------------------------------- backward-weight
struct BwdWeightProblem {
  const float* x;   // [N,C,H,W]
  const float* dy;  // [N,O,P,Q]
  float* dw;        // [O,C,k,k]
  int C, H, W, O, k, stride, pad, P, Q;
  struct Cls {
    int M, N, K;
    FastDiv kk, kd, pq, qd;
  } c0;
  int classes() const { return 1; }
  SFM_HD Cls cls(int) const { return c0; }

  struct ACtx {
    int64_t off;
  };
  SFM_DEV ACtx a_ctx(const Cls& c, int kidx) const {
    uint32_t img, pq;
    c.pq.divmod((uint32_t)kidx, img, pq);
    return {(int64_t)img * O * P * Q + pq};
  }
  SFM_DEV float a_at(const Cls&, const ACtx& a, int m) const { return dy[a.off + (int64_t)m * P * Q]; }

  struct BCtx {
    int64_t coff;
    int r, s;
  };
  SFM_DEV BCtx b_ctx(const Cls& c, int n) const {
    uint32_t ch, rs, r, s;
    c.kk.divmod((uint32_t)n, ch, rs);
    c.kd.divmod(rs, r, s);
    return {(int64_t)ch * H * W, (int)r - pad, (int)s - pad};
  }
  SFM_DEV float b_at(const Cls& c, const BCtx& b, int kidx) const {
    uint32_t img, pq, p, q;
    c.pq.divmod((uint32_t)kidx, img, pq);
    c.qd.divmod(pq, p, q);
    const int h = (int)p * stride + b.r, ww = (int)q * stride + b.s;
    if ((unsigned)h >= (unsigned)H || (unsigned)ww >= (unsigned)W) return 0.f;
    return x[(int64_t)img * C * H * W + b.coff + (int64_t)h * W + ww];
  }
  SFM_DEV void store(const Cls& c, int m, int n, float v) const { dw[(int64_t)m * c.N + n] = v; }
};

// ---------------------------------------------------------------- host side
// Every launcher requires a consistent geometry (ConvGeom::consistent) and 32-bit indexable
// tensors: the problems index with int.
inline void check_geom(const char* what, const ConvGeom& g) {
  SFM_CHECK(g.consistent(), what, ": bad geometry N=", g.N, " C=", g.C, " H=", g.H, " W=", g.W, " O=", g.O,
            " k=", g.k, " stride=", g.s, " pad=", g.p, " out=", g.Ho, "x", g.Wo, " (convolution terms; expected ",
            ConvGeom::out_size(g.H, g.k, g.s, g.p), "x", ConvGeom::out_size(g.W, g.k, g.s, g.p), ")");
  const int64_t lim = int64_t(1) << 31;
  SFM_CHECK(g.N * g.C * g.H * g.W < lim && g.N * g.O * g.Ho * g.Wo < lim && g.O * g.K() < lim, what,
            ": tensors of 2^31 or more elements are not supported (32-bit indexing)");
}

// The implicit-GEMM sizes of each pass, computed from the ConvGeom here and nowhere else:
//   forward M = O, N = N*Ho*Wo, K = C*k*k; backward-weight M = O, N = C*k*k, K = N*Ho*Wo;
//   backward-data per residue class M = C, N = N*(its pixels), K = O*(its taps).
inline FwdProblem make_fwd(const ConvGeom& g, const float* x, const float* w, const float* bias, float* y, Activation act) {
  FwdProblem p;
  p.x = x;
  p.w = w;
  p.bias = bias;
  p.y = y;
  p.act = act;
  p.C = (int)g.C, p.H = (int)g.H, p.W = (int)g.W, p.O = (int)g.O, p.k = g.k;
  p.stride = g.s, p.pad = g.p, p.P = (int)g.Ho, p.Q = (int)g.Wo;
  p.c0.M = (int)g.O;
  p.c0.N = (int)(g.N * g.P());
  p.c0.K = (int)g.K();
  p.c0.kk = FastDiv((uint32_t)(g.k * g.k));
  p.c0.kd = FastDiv((uint32_t)g.k);
  p.c0.pq = FastDiv((uint32_t)std::max<int64_t>(1, g.P()));
  p.c0.qd = FastDiv((uint32_t)std::max<int64_t>(1, g.Wo));
  return p;
}

inline BwdWeightProblem make_bwd_weight(const ConvGeom& g, const float* x, const float* dy, float* dw) {
  BwdWeightProblem p;
  p.x = x;
  p.dy = dy;
  p.dw = dw;
  p.C = (int)g.C, p.H = (int)g.H, p.W = (int)g.W, p.O = (int)g.O, p.k = g.k;
  p.stride = g.s, p.pad = g.p, p.P = (int)g.Ho, p.Q = (int)g.Wo;
  p.c0.M = (int)g.O;
  p.c0.N = (int)g.K();
  p.c0.K = (int)(g.N * g.P());
  p.c0.kk = FastDiv((uint32_t)(g.k * g.k));
  p.c0.kd = FastDiv((uint32_t)g.k);
  p.c0.pq = FastDiv((uint32_t)std::max<int64_t>(1, g.P()));
  p.c0.qd = FastDiv((uint32_t)std::max<int64_t>(1, g.Wo));
  return p;
}

// One residue class of the backward-data pass along one axis: outputs x = ph + st*i
// (i < count) receive the taps r = r0 + st*j (j < taps) from y index i - j + d.
struct Residue {
  int64_t count, r0, taps, d;
};
inline Residue residue(int64_t ph, int64_t size, int64_t k, int64_t st, int64_t pad) {
  Residue r;
  r.count = size > ph ? (size - ph + st - 1) / st : 0;
  r.r0 = (ph + pad) % st;
  r.taps = k > r.r0 ? (k - r.r0 + st - 1) / st : 0;
  r.d = (ph + pad - r.r0) / st;
  return r;
}

// Runs the backward-data GEMMs of every residue class, kMaxClasses per launch.
inline void run_bwd_data(const ConvGeom& g, const float* dy, const float* w, const float* bias, float* dx, Activation act,
                         bool tf32) {
  BwdDataProblem p;
  p.dy = dy;
  p.w = w;
  p.bias = bias;
  p.dx = dx;
  p.act = act;
  p.C = (int)g.C, p.H = (int)g.H, p.W = (int)g.W, p.O = (int)g.O, p.k = g.k;
  p.stride = g.s, p.pad = g.p, p.P = (int)g.Ho, p.Q = (int)g.Wo;
  const int64_t st = g.s;
  p.ncls = 0;
  for (int64_t ph = 0; ph < st; ++ph)
    for (int64_t pw = 0; pw < st; ++pw) {
      const Residue rh = residue(ph, g.H, g.k, st, g.p), rw = residue(pw, g.W, g.k, st, g.p);
      BwdDataProblem::Cls& c = p.cl[p.ncls++];
      c.M = (int)g.C;
      c.N = (int)(g.N * rh.count * rw.count);
      c.K = (int)(g.O * rh.taps * rw.taps);
      c.ph = (int)ph, c.pw = (int)pw, c.r0 = (int)rh.r0, c.s0 = (int)rw.r0, c.dh = (int)rh.d, c.dw = (int)rw.d;
      c.krks = FastDiv((uint32_t)std::max<int64_t>(1, rh.taps * rw.taps));
      c.ks = FastDiv((uint32_t)std::max<int64_t>(1, rw.taps));
      c.hcwc = FastDiv((uint32_t)std::max<int64_t>(1, rh.count * rw.count));
      c.wc = FastDiv((uint32_t)std::max<int64_t>(1, rw.count));
      if (p.ncls == kMaxClasses) {
        implicit_gemm::run(p, tf32);
        p.ncls = 0;
      }
    }
  if (p.ncls) implicit_gemm::run(p, tf32);
}

// ---- glue kernels of the library paths (kernels/conv.cu, kernels/conv_cublas.cu)

// y[i] = act(y[i] + b[c]) over y [N,C,HW] (b nullable): the cuDNN and cuBLAS paths' epilogue.
SFM_GLOBAL void bias_act_kernel(float* __restrict__ y, const float* __restrict__ b, FastDiv hw, FastDiv ch, int64_t n,
                                Activation act) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float v = y[i];
    if (b) {
      uint32_t plane = hw.div((uint32_t)i), q, c;
      ch.divmod(plane, q, c);
      v += b[c];
    }
    y[i] = activate(act, v);
  }
}

template <Activation A>
SFM_GLOBAL void act_backward_kernel(const float* __restrict__ y, const float* g, float* out, int64_t n) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    out[i] = math::conv_activation_grad(A, y[i], g[i]);
  }
}

inline void launch_bias_activation(float* y, const float* b, int64_t N, int64_t C, int64_t P, Activation act) {
  const int64_t n = N * C * P;
  if (n == 0 || (!b && act == Activation::None)) return;
  SFM_CHECK(n < (int64_t(1) << 31), "bias_activation: tensor too large for 32-bit indexing");
  auto* k = &bias_act_kernel;
  SFM_LAUNCH(k, dim3(reduce_kernels::elementwise_blocks(n)), dim3(256), y, b, FastDiv((uint32_t)P), FastDiv((uint32_t)C), n,
             act);
}

inline void launch_activation_backward(const float* y, const float* g, float* out, int64_t n, Activation act) {
  if (n == 0) return;
  const dim3 grid(reduce_kernels::elementwise_blocks(n)), block(256);
  switch (act) {
    case Activation::ReLU: {
      auto* k = &act_backward_kernel<Activation::ReLU>;
      SFM_LAUNCH(k, grid, block, y, g, out, n);
      break;
    }
    case Activation::Sigmoid: {
      auto* k = &act_backward_kernel<Activation::Sigmoid>;
      SFM_LAUNCH(k, grid, block, y, g, out, n);
      break;
    }
    default: {
      if (out != g) copy_async(out, g, (size_t)n * sizeof(float));
      break;
    }
  }
}

// im2col / col2im of the im2col + cuBLAS path, for `count` images at a time.
struct ColGeom {
  int C, H, W, k, stride, pad, P, Q, K;
  FastDiv pq, kd, kk, kdiv, qd, hw, hwd, cd;  // P*Q, K, k*k, k, Q, H*W, W, C
};

inline ColGeom col_geom(const ConvGeom& g) {
  ColGeom c;
  c.C = (int)g.C, c.H = (int)g.H, c.W = (int)g.W, c.k = g.k, c.stride = g.s, c.pad = g.p;
  c.P = (int)g.Ho, c.Q = (int)g.Wo, c.K = (int)g.K();
  c.pq = FastDiv((uint32_t)g.P());
  c.kd = FastDiv((uint32_t)c.K);
  c.kk = FastDiv((uint32_t)(g.k * g.k));
  c.kdiv = FastDiv((uint32_t)g.k);
  c.qd = FastDiv((uint32_t)g.Wo);
  c.hw = FastDiv((uint32_t)(g.H * g.W));
  c.hwd = FastDiv((uint32_t)g.W);
  c.cd = FastDiv((uint32_t)g.C);
  return c;
}

// col[(i*K + kidx)*PQ + pq] = x[i, c, p*st - pad + r, q*st - pad + s] (0 outside).
SFM_GLOBAL void im2col_kernel(const float* __restrict__ x, float* __restrict__ col, ColGeom g, int64_t total) {
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    uint32_t row, pq, i, kidx, c, rs, r, s, p, q;
    g.pq.divmod((uint32_t)e, row, pq);
    g.kd.divmod(row, i, kidx);
    g.kk.divmod(kidx, c, rs);
    g.kdiv.divmod(rs, r, s);
    g.qd.divmod(pq, p, q);
    const int h = (int)p * g.stride - g.pad + (int)r, w = (int)q * g.stride - g.pad + (int)s;
    float v = 0.f;
    if ((unsigned)h < (unsigned)g.H && (unsigned)w < (unsigned)g.W)
      v = x[(((int64_t)i * g.C + c) * g.H + h) * g.W + w];
    col[e] = v;
  }
}

// dx[i, c, h, w] = sum over taps (r, s) that read (h, w) of dcol[(i*K + (c*k + r)*k + s)*PQ + p*Q + q].
SFM_GLOBAL void col2im_kernel(const float* __restrict__ dcol, float* __restrict__ dx, ColGeom g, int64_t total) {
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    uint32_t plane, hw, i, c, h, w;
    g.hw.divmod((uint32_t)e, plane, hw);
    g.cd.divmod(plane, i, c);
    g.hwd.divmod(hw, h, w);
    float acc = 0.f;
    for (int r = 0; r < g.k; ++r) {
      const int ph = (int)h + g.pad - r;
      if (ph < 0 || ph % g.stride) continue;
      const int p = ph / g.stride;
      if (p >= g.P) continue;
      for (int s = 0; s < g.k; ++s) {
        const int qw = (int)w + g.pad - s;
        if (qw < 0 || qw % g.stride) continue;
        const int q = qw / g.stride;
        if (q >= g.Q) continue;
        const int64_t kidx = ((int64_t)c * g.k + r) * g.k + s;
        acc += dcol[((int64_t)i * g.K + kidx) * ((int64_t)g.P * g.Q) + (int64_t)p * g.Q + q];
      }
    }
    dx[e] = acc;
  }
}

inline unsigned col_blocks(int64_t n) { return (unsigned)std::max<int64_t>(1, std::min<int64_t>((n + 255) / 256, 65535)); }

// col [count*K, P*Q] from x [count, C, H, W].
inline void launch_im2col(const ColGeom& cg, const float* x, float* col, int64_t count) {
  const int64_t total = count * cg.K * (int64_t)cg.P * cg.Q;
  SFM_CHECK(total < (int64_t(1) << 31), "im2col: column buffer too large");
  if (total == 0) return;
  auto* k = &im2col_kernel;
  SFM_LAUNCH(k, dim3(col_blocks(total)), dim3(256), x, col, cg, total);
}

// dx [count, C, H, W] from dcol [count*K, P*Q].
inline void launch_col2im(const ColGeom& cg, const float* dcol, float* dx, int64_t count) {
  const int64_t total = count * cg.C * (int64_t)cg.H * cg.W;
  SFM_CHECK(total < (int64_t(1) << 31), "col2im: image too large");
  if (total == 0) return;
  auto* k = &col2im_kernel;
  SFM_LAUNCH(k, dim3(col_blocks(total)), dim3(256), dcol, dx, cg, total);
}

// ---- the handwritten launchers (kernels/conv.h: the same functions with `tf32` for `impl`)

inline void conv2d_forward(bool tf32, const ConvGeom& g, const float* x, const float* w, const float* b,
                           Activation act, float* y) {
  check_geom("conv2d forward", g);
  implicit_gemm::run(make_fwd(g, x, w, b, y, act), tf32);
}

inline void conv2d_backward_data(bool tf32, const ConvGeom& g, const float* w, const float* dy, float* dx) {
  check_geom("conv2d backward-data", g);
  run_bwd_data(g, dy, w, nullptr, dx, Activation::None, tf32);
}

inline void conv2d_backward_weight(bool tf32, const ConvGeom& g, const float* x, const float* dy, float* dw) {
  check_geom("conv2d backward-weight", g);
  implicit_gemm::run(make_bwd_weight(g, x, dy, dw), tf32);
}

// The transposed convolution of g: y [N,C,H,W] = act(backward_data(x) + b), x [N,O,Ho,Wo],
// the bias and activation fused into the backward-data epilogue.
inline void conv_transpose2d_forward(bool tf32, const ConvGeom& g, const float* x, const float* w, const float* b,
                                     Activation act, float* y) {
  check_geom("conv_transpose2d forward", g);
  run_bwd_data(g, x, w, b, y, act, tf32);
}

}  // namespace conv_kernels
SFM_KERNEL_NS_END
}  // namespace sfm::cuda
