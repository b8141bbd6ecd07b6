#pragma once
// The typed boundary of the ops: the enums, option structs and one dims struct per op family
// that the op API (engine/ops.h), the CPU implementations (cpu/), the per-pixel math
// (boundary/math/) and the CUDA kernels (kernels/) share. A leaf header: it includes nothing of
// the engine, so boundary/math/ and kernels/ see only it (and boundary/error.h, boundary/host_device.h),
// never Tensor, the tape or the allocator (scripts/check_layers.sh enforces this).
#include <cstdint>

namespace sfm {

// ---------------------------------------------------------------- convolution
enum class Activation { None, ReLU, Sigmoid };

// Convolution implementation on CUDA; the CPU always uses im2col + Eigen GEMM.
enum class ConvImpl { Handwritten, HandwrittenTF32, CuDNN, CuBLAS };
// Every implementation, in the order the tests, selftest and benchmarks list them.
inline constexpr ConvImpl kConvImpls[] = {ConvImpl::Handwritten, ConvImpl::HandwrittenTF32, ConvImpl::CuDNN,
                                          ConvImpl::CuBLAS};
// "handwritten" | "tf32" | "cudnn" | "cublas": the names of the command line and the reports.
constexpr const char* conv_impl_name(ConvImpl impl) {
  switch (impl) {
    case ConvImpl::Handwritten: return "handwritten";
    case ConvImpl::HandwrittenTF32: return "tf32";
    case ConvImpl::CuDNN: return "cudnn";
    case ConvImpl::CuBLAS: return "cublas";
  }
  return "unknown";
}

// The geometry of one convolution, x [N,C,H,W] * w [O,C,k,k] -> y [N,O,Ho,Wo], the one form
// every convolution path takes (the ops, the CPU code, the CUDA launchers and kernels, the
// cuDNN/cuBLAS paths, the layer table of models/sfm_layers.h, the benchmarks and tests). A
// transposed convolution is the adjoint of a convolution and is described by that
// convolution's geometry (its input is this y [N,O,Ho,Wo], its output this x [N,C,H,W], its
// weight this w read as [O,C,k,k] = its own IOHW). Build one with conv() or transposed():
// the output-size formulas live there and nowhere else.
struct ConvGeom {
  int64_t N = 0, C = 0, H = 0, W = 0;  // convolution input
  int64_t O = 0, Ho = 0, Wo = 0;       // convolution output
  int k = 1, s = 1, p = 0;             // square kernel, stride, padding
  constexpr int64_t K() const { return C * k * k; }  // rows of the im2col matrix
  constexpr int64_t P() const { return Ho * Wo; }    // output pixels per image
  constexpr double flops() const { return 2.0 * N * O * P() * K(); }

  // Output size of a convolution along one axis: (n + 2p - k) / s + 1; 0 when n + 2p < k.
  static constexpr int64_t out_size(int64_t n, int k, int s, int p) {
    return n + 2 * p < k ? 0 : (n + 2 * p - k) / s + 1;
  }
  // Output size of a transposed convolution along one axis: (n - 1) s - 2p + k + output_padding.
  static constexpr int64_t transposed_out_size(int64_t n, int k, int s, int p, int output_padding) {
    return (n - 1) * s - 2 * p + k + output_padding;
  }
  // The convolution x [N,C,H,W] * w [O,C,k,k] (stride s, padding p) -> [N,O,Ho,Wo].
  static constexpr ConvGeom conv(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int k, int s, int p) {
    ConvGeom g;
    g.N = N, g.C = C, g.H = H, g.W = W, g.O = O, g.k = k, g.s = s, g.p = p;
    g.Ho = out_size(H, k, s, p), g.Wo = out_size(W, k, s, p);
    return g;
  }
  // The transposed convolution x [N,Cin,Hin,Win] * w [Cin,Cout,k,k] -> [N,Cout,H,W] with
  // H = transposed_out_size(Hin, ...), as the convolution it is the adjoint of: input
  // [N,Cout,H,W], output [N,Cin,Hin,Win] (so O = Cin, C = Cout).
  static constexpr ConvGeom transposed(int64_t N, int64_t Cin, int64_t Hin, int64_t Win, int64_t Cout, int k, int s,
                                       int p, int output_padding) {
    ConvGeom g;
    g.N = N, g.O = Cin, g.Ho = Hin, g.Wo = Win, g.C = Cout, g.k = k, g.s = s, g.p = p;
    g.H = transposed_out_size(Hin, k, s, p, output_padding), g.W = transposed_out_size(Win, k, s, p, output_padding);
    return g;
  }
  // Every size valid (k, s >= 1, p >= 0, no negative size) and the output size the one conv()
  // computes from the input: what every launcher requires. (transposed() with 0 <= output_padding
  // < s gives a consistent geometry: (H + 2p - k) / s + 1 = Hin.)
  constexpr bool consistent() const {
    return N >= 0 && C >= 0 && H >= 0 && W >= 0 && O >= 0 && k >= 1 && s >= 1 && p >= 0 && H + 2 * p >= k &&
           W + 2 * p >= k && Ho == out_size(H, k, s, p) && Wo == out_size(W, k, s, p);
  }
};

// ---------------------------------------------------------------- geometry (warp, photometric)
enum class RotationMode { Euler, Quat };
enum class Padding { Zeros, Border };

struct PhotometricOptions {
  // true: out-of-view pixels contribute |tgt - 0| (original TF code); false: they contribute
  // 0 (PyTorch port). The mean is over all pixels either way.
  bool keep_out_of_view = true;
  Padding padding = Padding::Zeros;
  RotationMode rotation = RotationMode::Euler;
};

// inverse_warp: src [B,C,H,W], depth [B,1,H,W], pose [B,6], K [B,3,3].
struct WarpDims {
  int64_t B = 0, C = 0, H = 0, W = 0;
};
// photometric_loss: tgt [B,C,H,W], srcs [B,S,C,H,W], depth [B,1,H,W], poses [B,S,6], K [B,3,3],
// mask [B,S,H,W].
struct PhotometricDims {
  int64_t B = 0, S = 0, C = 0, H = 0, W = 0;
};

// ---------------------------------------------------------------- min_reprojection_loss (Monodepth2)
// Monodepth2's photometric objective fused with the warp (boundary/math/min_reprojection_math.h).
struct MinReprojectionOptions {
  double ssim_weight = 0.85;      // alpha in alpha (1 - SSIM)/2 + (1 - alpha) |tgt - warped|
  bool use_ssim = true;           // false: the L1 term alone (alpha ignored)
  bool min_over_sources = true;   // per-pixel minimum over the sources; false: their mean
  bool automask = true;           // the unwarped sources' errors (+ noise) join the minimum
  uint64_t noise_seed = 0;        // keys the identity noise: (noise_seed, b, s, pixel)
  double noise_amplitude = 1e-5;  // noise = amplitude * N(0,1); 0: no noise
  Padding padding = Padding::Border;  // Monodepth2 samples with border padding
  RotationMode rotation = RotationMode::Euler;
};
// min_reprojection_loss: tgt [B,C,H,W], srcs [B,S,C,H,W], depth [B,1,H,W], poses [B,S,6], K [B,3,3].
struct MinReprojectionDims {
  int64_t B = 0, S = 0, C = 0, H = 0, W = 0;
};

}  // namespace sfm
