#include "models/dispnet.h"

#include "engine/autograd.h"
#include "engine/ops.h"

namespace sfm {

namespace {
constexpr int64_t kEnc[7] = {32, 64, 128, 256, 512, 512, 512};
constexpr int64_t kEncK[7] = {7, 5, 3, 3, 3, 3, 3};
constexpr int64_t kDec[7] = {512, 512, 256, 128, 64, 32, 16};  // upconv7 .. upconv1
constexpr double kDispScale = 10.0, kDispShift = 0.01;
}  // namespace

DispNet::DispNet(uint64_t seed, Device dev) {
  Rng rng(seed);
  device_ = Device::CPU;
  int64_t in = 3;
  for (int i = 0; i < 7; ++i) {
    std::string p = "conv" + std::to_string(i + 1);
    add_conv(p + ".0", in, kEnc[i], kEncK[i], rng);
    add_conv(p + ".2", kEnc[i], kEnc[i], kEncK[i], rng);
    in = kEnc[i];
  }
  // upconvN: from the previous decoder stage (conv7 for upconv7).
  for (int i = 0; i < 7; ++i) {
    int level = 7 - i;
    int64_t from = i == 0 ? kEnc[6] : kDec[i - 1];
    add_conv_transpose("upconv" + std::to_string(level) + ".0", from, kDec[i], 3, rng);
  }
  // iconvN: upconv output + skip (+ upsampled disparity for levels 3..1).
  for (int i = 0; i < 7; ++i) {
    int level = 7 - i;
    int64_t skip = level >= 2 ? kEnc[level - 2] : 0;
    int64_t disp = level <= 3 ? 1 : 0;
    add_conv("iconv" + std::to_string(level) + ".0", kDec[i] + skip + disp, kDec[i], 3, rng);
  }
  for (int level = 4; level >= 1; --level) add_conv("predict_disp" + std::to_string(level) + ".0", kDec[7 - level], 1, 3, rng);
  to(dev);
}

std::vector<Tensor> DispNet::forward(const Tensor& x) {
  SFM_CHECK(x.defined() && x.ndim() == 4 && x.dim(1) == 3, "DispNet: input must be [B,3,H,W], got ", x.desc());
  SFM_CHECK(x.device() == device_, "DispNet: input on ", device_name(x.device()), ", network on ", device_name(device_));
  auto P = [&](const std::string& n) -> const Tensor& { return param(n); };
  auto conv = [&](const Tensor& in, const std::string& name, int stride, int k, Activation act) {
    return conv2d(in, P(name + ".weight"), P(name + ".bias"), stride, (k - 1) / 2, act);
  };
  std::vector<Tensor> enc;
  Tensor h = x;
  for (int i = 0; i < 7; ++i) {
    std::string p = "conv" + std::to_string(i + 1);
    h = conv(h, p + ".0", 2, (int)kEncK[i], Activation::ReLU);
    h = conv(h, p + ".2", 1, (int)kEncK[i], Activation::ReLU);
    enc.push_back(h);
  }
  std::vector<Tensor> disps;  // coarsest first while building
  Tensor prev_disp;
  for (int i = 0; i < 7; ++i) {
    int level = 7 - i;
    std::string L = std::to_string(level);
    Tensor skip = level >= 2 ? enc[level - 2] : x;
    int64_t th = skip.dim(2), tw = skip.dim(3);
    Tensor up = conv_transpose2d(h, P("upconv" + L + ".0.weight"), P("upconv" + L + ".0.bias"), 2, 1, 1,
                                 Activation::ReLU);
    up = crop(up, th, tw);
    std::vector<Tensor> parts{up};
    if (level >= 2) parts.push_back(skip);
    if (level <= 3) parts.push_back(crop(upsample_bilinear2x(prev_disp), th, tw));
    h = conv(concat_channels(parts), "iconv" + L + ".0", 1, 3, Activation::ReLU);
    if (level <= 4) {
      Tensor s = conv(h, "predict_disp" + L + ".0", 1, 3, Activation::Sigmoid);
      prev_disp = affine(s, kDispScale, kDispShift);
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
