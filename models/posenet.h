#pragma once
// PoseExpNet: pose (and optionally explainability masks) from a target frame and its sources.
// Its layers: models/sfm_layers.h (posenet_layers).
#include <vector>

#include "models/module.h"
#include "models/sfm_layers.h"  // PoseExpNetConfig, MaskMode, the layer table

namespace sfm {

struct PoseExpOutput {
  Tensor pose;                // [B, S, 6]: tx,ty,tz,rx,ry,rz, target -> source
  std::vector<Tensor> masks;  // finest first, [B,S,h,w] probabilities (empty without the decoder)
  std::vector<Tensor> mask_logits;  // Softmax mode only: [B,2S,h,w] per scale (for the loss)
};

class PoseExpNet : public Module {
 public:
  explicit PoseExpNet(PoseExpNetConfig cfg = {}, uint64_t seed = 0, Device dev = Device::CPU);
  std::string kind() const override { return "PoseExpNet"; }
  const PoseExpNetConfig& config() const { return cfg_; }
  // tgt [B,3,H,W], srcs: S tensors [B,3,H,W], all normalised. Training: four mask scales.
  PoseExpOutput forward(const Tensor& tgt, const std::vector<Tensor>& srcs);
  // Pose only, no tape.
  Tensor infer_pose(const Tensor& tgt, const std::vector<Tensor>& srcs);

 private:
  PoseExpOutput run(const Tensor& tgt, const std::vector<Tensor>& srcs, bool with_masks);
  // The table's layer `name` applied to x with this network's parameters.
  Tensor layer(const std::string& name, const Tensor& x);
  PoseExpNetConfig cfg_;
  std::vector<LayerSpec> layers_;  // posenet_layers(cfg_)
};

}  // namespace sfm
