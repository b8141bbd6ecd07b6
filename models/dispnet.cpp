#include "models/dispnet.h"

#include "engine/autograd.h"
#include "engine/ops.h"

namespace sfm {

namespace {
constexpr double kDispScale = 10.0, kDispShift = 0.01;
}  // namespace

DispNet::DispNet(uint64_t seed, Device dev) : layers_(dispnet_layers()) {
  Rng rng(seed);
  device_ = Device::CPU;
  for (const LayerSpec& l : in_declaration_order(layers_)) {
    if (l.transposed)
      add_conv_transpose(l.param, l.in_channels, l.out_channels, l.k, rng);
    else
      add_conv(l.param, l.in_channels, l.out_channels, l.k, rng);
  }
  to(dev);
}

Tensor DispNet::layer(const std::string& name, const Tensor& x) {
  const LayerSpec& l = find_layer(layers_, name);
  return apply_layer(l, x, param(l.param + ".weight"), param(l.param + ".bias"));
}

std::vector<Tensor> DispNet::forward(const Tensor& x) {
  SFM_CHECK(x.defined() && x.ndim() == 4 && x.dim(1) == 3, "DispNet: input must be [B,3,H,W], got ", x.desc());
  SFM_CHECK(x.device() == device_, "DispNet: input on ", device_name(x.device()), ", network on ", device_name(device_));
  std::vector<Tensor> enc;
  Tensor h = x;
  for (int i = 1; i <= 7; ++i) {
    const std::string n = std::to_string(i);
    h = layer("conv" + n + "b", layer("conv" + n + "a", h));
    enc.push_back(h);
  }
  std::vector<Tensor> disps;  // coarsest first while building
  Tensor prev_disp;
  for (int level = 7; level >= 1; --level) {
    const std::string L = std::to_string(level);
    const Tensor& skip = level >= 2 ? enc[level - 2] : x;
    const int64_t th = skip.dim(2), tw = skip.dim(3);
    std::vector<Tensor> parts{crop(layer("upconv" + L, h), th, tw)};
    if (level >= 2) parts.push_back(skip);
    if (level <= 3) parts.push_back(crop(upsample_bilinear2x(prev_disp), th, tw));
    h = layer("iconv" + L, concat_channels(parts));
    if (level <= 4) {
      prev_disp = affine(layer("disp" + L, h), kDispScale, kDispShift);
      disps.push_back(prev_disp);
    }
  }
  return {disps[3], disps[2], disps[1], disps[0]};
}

Tensor DispNet::infer(const Tensor& x) {
  NoGradGuard ng;
  return forward(x)[0];
}

Tensor normalize_images(const Tensor& rgb255) { return affine(rgb255, 2.0 / 255.0, -1.0); }

}  // namespace sfm
