#pragma once
// The op API: one free function per op. Each checks ranks, shapes, devices and dtypes (an
// sfm::Error naming the op, the argument, and the shapes it got and expected), dispatches to
// the CPU implementation (templated on float/double) or the CUDA one, and records its
// backward on the tape when an input requires grad.
//
// Where each op lives (math / CPU / CUDA / test / bench share the op's name):
//   boundary/math/<family>_math.h   per-pixel host/device math shared by both backends
//   engine/ops_<family>.cpp       checks, dispatch, autograd
//   cpu/<family>.h|cpp     CPU implementation
//   kernels/<family>.cu           CUDA kernels and launchers
//   tests/test_<family>.cpp       gradient checks, naive-loop and PyTorch-fixture comparisons
//   lab/ops/op_cases_<family>.cpp the op table's rows (sfm selftest: compare, gradcheck, time)
//   lab/ops/op_bench_<family>.cpp `sfm bench ops` rows; lab/ops/kernel_bench*.cpp `sfm bench kernels`
#include <string>
#include <vector>

#include "boundary/op_types.h"
#include "engine/tensor.h"

namespace sfm {

// Activation, ConvImpl (and conv_impl_name), RotationMode, Padding, PhotometricOptions and the
// dims structs: boundary/op_types.h.
void set_conv_impl(ConvImpl impl);
ConvImpl conv_impl();
ConvImpl parse_conv_impl(const std::string& s);  // "handwritten" | "tf32" | "cudnn" | "cublas"

// ---------------------------------------------------------------- convolution (ops_conv.cpp)
// x [N,C,H,W], w [O,C,k,k] (OIHW), b [O] or undefined. Output [N,O,Ho,Wo],
// Ho = (H + 2p - k)/s + 1. The activation is fused into the epilogue.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int padding,
              Activation act = Activation::None);
// x [N,C,H,W], w [C,O,k,k] (IOHW, as PyTorch), b [O] or undefined.
// Ho = (H-1)s - 2p + k + output_padding.
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int padding,
                        int output_padding, Activation act = Activation::None);

// ---------------------------------------------------------------- elementwise (ops_elementwise.cpp)
Tensor relu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor add(const Tensor& a, const Tensor& b);  // same shape
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add_scalar(const Tensor& a, double s);
Tensor mul_scalar(const Tensor& a, double s);
Tensor affine(const Tensor& a, double scale, double shift);  // scale*a + shift, one pass
Tensor reciprocal(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor log(const Tensor& a);
Tensor exp(const Tensor& a);

// ---------------------------------------------------------------- shape (ops_shape.cpp)
// Concatenate along dim 1 (channels); all other dims equal.
Tensor concat_channels(const std::vector<Tensor>& xs);
// Channels [c0, c1) of x [N,C,...].
Tensor slice_channels(const Tensor& x, int64_t c0, int64_t c1);
// Top-left crop of x [N,C,H,W] to [N,C,h,w] (h<=H, w<=W); the same tensor when nothing is cut.
Tensor crop(const Tensor& x, int64_t h, int64_t w);
// Same data, new shape (numel equal); gradient flows through.
Tensor reshape(const Tensor& x, const Shape& s);

// ---------------------------------------------------------------- reductions (ops_reduce.cpp)
Tensor sum(const Tensor& x);   // scalar [1]
Tensor mean(const Tensor& x);  // scalar [1]
// x [N,C,H,W] -> [N,C]: mean over H and W.
Tensor mean_hw(const Tensor& x);
// True when no element is NaN or infinite (no tape).
bool all_finite(const Tensor& x);

// ---------------------------------------------------------------- resampling (ops_resample.cpp)
// x [N,C,H,W] -> [N,C,2H,2W], bilinear, align_corners=False (PyTorch's F.interpolate).
Tensor upsample_bilinear2x(const Tensor& x);
// x [N,C,H,W] -> [N,C,H/f,W/f] by averaging f x f blocks (PyTorch 'area' for integer f;
// H, W must be divisible by f).
Tensor downsample_area(const Tensor& x, int factor);
// Area resize to an arbitrary size (PyTorch adaptive-average-pool bins), no gradient needed
// by the models but differentiable: x [N,C,H,W] -> [N,C,h,w].
Tensor resize_area(const Tensor& x, int64_t h, int64_t w);

// ---------------------------------------------------------------- geometry (ops_warp.cpp)
// pose [B,6] (tx,ty,tz,rx,ry,rz) -> [B,3,4] = [R|t]. Euler: R = Rx*Ry*Rz.
// Quat: (rx,ry,rz) are the vector part of a quaternion with real part 1, normalised.
Tensor pose_vec2mat(const Tensor& pose, RotationMode mode = RotationMode::Euler);

// Inverse warp of src into the target view: for each target pixel p_t (integer pixel
// centres), p_s ~ K [R|t] (D(p_t) K^-1 p_t), z clamped at 1e-3, bilinear sample of src.
// src [B,C,H,W], depth [B,1,H,W], pose [B,6], K [B,3,3]. Returns the warped image
// [B,C,H,W]; *valid (if given) receives the in-bounds mask [B,1,H,W] (1 where p_s lies
// inside [0,W-1]x[0,H-1]). Zeros padding: out-of-bounds samples are 0 (the whole sample,
// as the PyTorch port does); Border: coordinates clamped to the image.
// Gradients to src, depth and pose.
Tensor inverse_warp(const Tensor& src, const Tensor& depth, const Tensor& pose, const Tensor& K,
                    Padding padding = Padding::Zeros, Tensor* valid = nullptr,
                    RotationMode mode = RotationMode::Euler);

// Sum over sources s of mean over (B,C,H,W) of mask_s * v_s * |tgt - warp(src_s)|, where v_s
// is 1 or the validity (see options). tgt [B,C,H,W], srcs [B,S,C,H,W], depth [B,1,H,W],
// poses [B,S,6], K [B,3,3], mask [B,S,H,W] or undefined (all ones). Returns a scalar [1].
// Gradients to depth, poses and mask (not to the images). If warped is given, it receives
// the warped sources [B,S,C,H,W] (computed only then).
Tensor photometric_loss(const Tensor& tgt, const Tensor& srcs, const Tensor& depth, const Tensor& poses,
                        const Tensor& K, const Tensor& mask, const PhotometricOptions& opt = {},
                        Tensor* warped = nullptr);

// ---------------------------------------------------------------- losses (ops_loss.cpp)
// x [B,C,H,W]: mean|dxx| + mean|dxy| + mean|dyx| + mean|dyy| (each mean over its own
// elements; the sum of four means, as both reference implementations compute it).
Tensor smoothness_loss(const Tensor& x);
// Sigmoid mask [B,S,H,W]: mean of -log(mask) (binary cross-entropy against 1, log clamped at
// -100 as PyTorch does).
Tensor explainability_loss(const Tensor& mask);
// Original 2-class logits [B,2S,H,W] (pairs (not explainable, explainable) per source): mean
// over B*S*H*W of the softmax cross-entropy against class 1.
Tensor explainability_loss_softmax(const Tensor& logits);
// logits [B,2S,H,W] -> mask [B,S,H,W] = softmax probability of class 1 of each pair.
Tensor softmax_pairs_mask(const Tensor& logits);

// ---------------------------------------------------------------- Monodepth2: full-resolution scales, edge-aware smoothness
// (ops_upsample_bilinear.cpp, ops_edge_smoothness.cpp)
// x [N,C,h,w] -> [N,C,H,W], bilinear, align_corners=False, any output size (PyTorch's
// F.interpolate(x, size=(H, W), mode="bilinear", align_corners=False): source coordinate
// (h/H)(o + 0.5) - 0.5, negative values clamped to 0). Gradient to x (a gather, deterministic).
// The same tensor when (H, W) = (h, w).
Tensor upsample_bilinear(const Tensor& x, int64_t H, int64_t W);
// Monodepth2's get_smooth_loss on the mean-normalised disparity, a scalar [1]: per batch entry
// d' = disp / (mean_hw(disp) + 1e-7); gx = |d'(y,x) - d'(y,x+1)| exp(-mean_c |img(y,x) - img(y,x+1)|),
// gy likewise along H; loss = mean(gx) + mean(gy), each over its own B*H*(W-1) or B*(H-1)*W
// elements (a term without elements, W = 1 or H = 1, contributes 0). disp [B,1,H,W], img
// [B,C,H,W]. Gradient to disp (through the mean too); the image takes none. Monodepth2 weighs it
// by 1e-3 / 2^scale (mul_scalar).
Tensor edge_aware_smoothness(const Tensor& disp, const Tensor& img);

// ---------------------------------------------------------------- Monodepth2 photometric objective (ops_min_reprojection.cpp)
// Monodepth2's per-pixel minimum reprojection error with auto-masking, fused with the warp
// (formulas: boundary/math/min_reprojection_math.h). For every target pixel p and source s,
// pe_s(p) = mean over channels of alpha clamp((1 - SSIM_3x3)/2, 0, 1) + (1 - alpha) |tgt - warp(src_s)|
// (the warp is inverse_warp's, opt.padding and opt.rotation); the per-pixel minimum over s
// (or the mean), with automask also the unwarped sources' errors + seeded noise, which win
// ties; returns the mean over B*H*W of the selected values, a scalar [1]. tgt [B,C,H,W],
// srcs [B,S,C,H,W], depth [B,1,H,W], poses [B,S,6], K [B,3,3]; H, W >= 2 with SSIM.
// Gradients to depth and poses only, through the selected source (an unwarped winner counts
// its value, no gradient). chosen (if given) receives the selection codes [B,1,H,W]: s for
// warped source s, S for the mean of the sources (mean mode), -(j+1) for unwarped source j;
// warped (if given) the warped sources [B,S,C,H,W] (computed only then).
Tensor min_reprojection_loss(const Tensor& tgt, const Tensor& srcs, const Tensor& depth, const Tensor& poses,
                             const Tensor& K, const MinReprojectionOptions& opt = {}, Tensor* chosen = nullptr,
                             Tensor* warped = nullptr);

// ---------------------------------------------------------------- optimiser (adam.h)
// see engine/adam.h

}  // namespace sfm
