#pragma once
// The typed boundary of the ops: the enums, option structs and one dims struct per op family
// that the op API (engine/ops.h), the CPU implementations (engine/cpu/), the per-pixel math
// (engine/math/) and the CUDA kernels (kernels/) share. A leaf header: it includes nothing of
// the engine, so engine/math/ and kernels/ see only it (and engine/error.h, engine/hd.h),
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

// The geometry of one convolution, x [N,C,H,W] * w [O,C,k,k] -> y [N,O,Ho,Wo] with
// Ho = (H + 2p - k)/s + 1. A transposed convolution is the adjoint of a convolution and is
// described by that convolution's geometry (its input is this y, its output this x).
struct ConvGeom {
  int64_t N = 0, C = 0, H = 0, W = 0;  // convolution input
  int64_t O = 0, Ho = 0, Wo = 0;       // convolution output
  int k = 1, s = 1, p = 0;             // square kernel, stride, padding
  constexpr int64_t K() const { return C * k * k; }  // rows of the im2col matrix
  constexpr int64_t P() const { return Ho * Wo; }    // output pixels per image
  constexpr double flops() const { return 2.0 * N * O * P() * K(); }
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

}  // namespace sfm
