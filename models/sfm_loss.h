#pragma once
// The SfMLearner objective over four scales: photometric reconstruction (summed over sources
// and scales), second-order smoothness, and the explainability regulariser. Two presets:
//   original      (paper + TF code): smoothness on disparity, 0.5 / 2^s; out-of-view pixels
//                 kept (sampled as 0); explainability weight 0.2 when the mask is on.
//   pytorch-port  (ClementPinard/SfmLearner-Pytorch): smoothness on depth = 1/disparity,
//                 0.1 / 2.3^s; out-of-view pixels zeroed; mask weight from the config (0 there).
// Every weight and switch can also be set on its own.
#include <string>
#include <vector>

#include "engine/ops.h"
#include "models/posenet.h"

namespace sfm {

struct LossConfig {
  std::string preset = "original";
  double photo_weight = 1.0;
  double smooth_weight = 0.5;
  double smooth_decay = 2.0;     // per-scale divisor of the smoothness weight
  bool smooth_on_depth = false;  // smooth 1/disp instead of disp
  bool keep_out_of_view = true;
  double mask_weight = 0.2;      // 0 turns the explainability mask off (no decoder)
  Padding padding = Padding::Zeros;
  RotationMode rotation = RotationMode::Euler;
  int num_scales = 4;
  // Check that the images and K are finite (each check reads a flag back to the host, so a
  // step that is captured into a CUDA graph turns it off and checks the batch before).
  bool check_finite = true;
};

// The preset's values; throws on an unknown name (naming it).
LossConfig loss_preset(const std::string& name);

struct LossTerms {
  Tensor total;           // scalar with the tape, for backward()
  Tensor photometric;     // weighted components (scalars, no further weighting needed)
  Tensor smoothness;
  Tensor explainability;  // undefined when the mask is off
  double total_value() const { return total.item(); }
};

// tgt [B,3,H,W], srcs [B,S,3,H,W] (normalised images), K [B,3,3] at H x W; disps: the four
// disparities from DispNet::forward (finest first); pe: PoseExpNet::forward's output.
// Throws when an input image or K is not finite, naming it.
LossTerms sfm_loss(const Tensor& tgt, const Tensor& srcs, const Tensor& K, const std::vector<Tensor>& disps,
                   const PoseExpOutput& pe, const LossConfig& cfg);

// Intrinsics for an h-row version of an H-row image: the first two rows divided by H/h (the
// PyTorch port's convention; equals 2^s at the usual sizes). Device ops only (no host copy).
Tensor scale_intrinsics(const Tensor& K, double downscale);

}  // namespace sfm
