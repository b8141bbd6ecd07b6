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
  // Monodepth2's parts (Godard et al., ICCV 2019), each usable on its own; preset monodepth2
  // turns them all on. They replace the explainability mask (mask_weight must be 0 with them).
  bool ssim = false;              // per-pixel error 0.85 (1 - SSIM) / 2 + 0.15 |I_t - I_s->t| on [0, 1] images
  bool min_reprojection = false;  // per-pixel minimum over the sources instead of their mean
  bool automask = false;          // the unwarped sources join the minimum (static pixels drop out)
  bool full_res_scales = false;   // each disparity upsampled to the input size before warping; mean over scales
  bool edge_aware_smoothness = false;  // first-order |grad (d / mean d)| exp(-|grad I|) instead of second order
  uint64_t automask_noise_seed = 0;    // the 1e-5 N(0,1) tie-break of the identity errors (deterministic)
  // True when the photometric term is Monodepth2's fused op rather than SfMLearner's masked L1.
  bool monodepth2_photometric() const { return ssim || min_reprojection || automask || full_res_scales; }
  // Check that the images and K are finite (each check reads a flag back to the host, so a
  // step that is captured into a CUDA graph turns it off and checks the batch before).
  bool check_finite = true;
};

// The loss presets, each with its values written once here: `original` is LossConfig's
// defaults; the others change some of them. The config's key types and help text are made
// from this table (train/config.cpp).
struct LossPreset {
  std::string name;
  std::string description;
  LossConfig config;  // config.preset == name
};
const std::vector<LossPreset>& loss_presets();
// "original|pytorch-port": the names in table order, joined by `sep`.
std::string loss_preset_names(const char* sep = "|");
// The preset's values; throws on an unknown name (naming it and the known ones).
LossConfig loss_preset(const std::string& name);

struct LossTerms {
  Tensor total;           // scalar with the tape, for backward()
  Tensor photometric;     // weighted components (scalars, no further weighting needed)
  Tensor smoothness;
  Tensor explainability;  // undefined when the mask is off
  double total_value() const { return total.item(); }
};

// The batch's images ([-1,1], models/sfmlearner.h SfMBatch) as [0,1] images, without
// gradient: the loss's one conversion out of that range, for the parts defined on [0,1]
// (SSIM's constants, the edge-aware smoothness weights).
Tensor unit_range(const Tensor& images);

// tgt [B,3,H,W], srcs [B,S,3,H,W] (images in [-1,1], as SfMBatch holds them), K [B,3,3] at H x W; disps: the four
// disparities from DispNet::forward (finest first); pe: PoseExpNet::forward's output.
// Throws when an input image or K is not finite, naming it.
LossTerms sfm_loss(const Tensor& tgt, const Tensor& srcs, const Tensor& K, const std::vector<Tensor>& disps,
                   const PoseExpOutput& pe, const LossConfig& cfg);

// Intrinsics for an h-row version of an H-row image: the first two rows divided by H/h (the
// PyTorch port's convention; equals 2^s at the usual sizes). Device ops only (no host copy).
Tensor scale_intrinsics(const Tensor& K, double downscale);

}  // namespace sfm
