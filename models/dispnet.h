#pragma once
// DispNet (the single-view depth network of SfMLearner, as in the PyTorch port's DispNetS):
// 7 stride-2 encoder blocks, 7 up-convolutions with skips, disparity heads
// 10*sigmoid(x)+0.01 at 1/8, 1/4, 1/2 and full resolution. 31,596,900 parameters. Its layers:
// models/sfm_layers.h (dispnet_layers).
#include <vector>

#include "models/module.h"
#include "models/sfm_layers.h"

namespace sfm {

class DispNet : public Module {
 public:
  explicit DispNet(uint64_t seed = 0, Device dev = Device::CPU);
  std::string kind() const override { return "DispNet"; }
  // x [B,3,H,W], normalised to [-1,1] (see normalize_images). Returns the four disparity
  // maps, finest first: [B,1,H,W], [B,1,H/2,W/2], [B,1,H/4,W/4], [B,1,H/8,W/8] (sizes rounded
  // as the strided convolutions round them). Records the tape when grad is enabled.
  std::vector<Tensor> forward(const Tensor& x);
  // Finest disparity only, no tape recorded.
  Tensor infer(const Tensor& x);

 private:
  // The table's layer `name` applied to x with this network's parameters.
  Tensor layer(const std::string& name, const Tensor& x);
  std::vector<LayerSpec> layers_;  // dispnet_layers()
};

// RGB in [0,255] -> (x/255 - 0.5)/0.5, the networks' input.
Tensor normalize_images(const Tensor& rgb255);

}  // namespace sfm
