#pragma once
// Every convolution layer of SfMLearner's two networks (DispNet and PoseExpNet, the
// reference architecture of docs/DESIGN.md "Models") at a given batch and input size, in
// the ops' terms: x [N,C,H,W] -> y [N,O,Ho,Wo]. Used by the kernel benchmark
// (`sfm bench kernels`) and the GPU convolution tests, so both cover exactly the shapes
// that training runs. Host-only, no CUDA needed.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/op_types.h"  // Activation

namespace sfm::cuda {

struct ConvLayer {
  std::string name;  // "dispnet conv1a", "posenet upconv5"
  bool transposed = false;
  int64_t N = 0, C = 0, H = 0, W = 0, O = 0, k = 0, stride = 1, pad = 0, out_pad = 0, Ho = 0, Wo = 0;
  Activation act = Activation::ReLU;
  // Multiply-adds of one forward pass (each backward pass has the same count).
  double macs() const {
    return transposed ? (double)N * C * H * W * O * k * k : (double)N * O * Ho * Wo * C * k * k;
  }
};

inline std::vector<ConvLayer> sfmlearner_conv_layers(int64_t batch, int64_t height, int64_t width, int sources = 2) {
  std::vector<ConvLayer> L;
  auto conv = [&](const std::string& name, int64_t C, int64_t H, int64_t W, int64_t O, int64_t k, int64_t s,
                  Activation act) {
    ConvLayer l;
    l.name = name;
    l.N = batch, l.C = C, l.H = H, l.W = W, l.O = O, l.k = k, l.stride = s, l.pad = (k - 1) / 2, l.act = act;
    l.Ho = (H + 2 * l.pad - k) / s + 1;
    l.Wo = (W + 2 * l.pad - k) / s + 1;
    L.push_back(l);
    return l;
  };
  auto upconv = [&](const std::string& name, int64_t C, int64_t H, int64_t W, int64_t O, int64_t k, int64_t op) {
    ConvLayer l;
    l.name = name;
    l.transposed = true;
    l.N = batch, l.C = C, l.H = H, l.W = W, l.O = O, l.k = k, l.stride = 2, l.pad = 1, l.out_pad = op;
    l.Ho = (H - 1) * 2 - 2 + k + op;
    l.Wo = (W - 1) * 2 - 2 + k + op;
    L.push_back(l);
  };
  const Activation relu = Activation::ReLU, sig = Activation::Sigmoid, none = Activation::None;

  // ---- DispNet: encoder sizes h[0..7], then the decoder at the encoder's sizes (the
  // up-convolutions overshoot by at most one row/column and are cropped to the skip).
  {
    const int64_t planes[7] = {32, 64, 128, 256, 512, 512, 512}, ks[7] = {7, 5, 3, 3, 3, 3, 3};
    int64_t h[8], w[8], c = 3;
    h[0] = height, w[0] = width;
    for (int i = 0; i < 7; ++i) {
      const std::string n = "dispnet conv" + std::to_string(i + 1);
      ConvLayer a = conv(n + "a", c, h[i], w[i], planes[i], ks[i], 2, relu);
      conv(n + "b", planes[i], a.Ho, a.Wo, planes[i], ks[i], 1, relu);
      h[i + 1] = a.Ho, w[i + 1] = a.Wo, c = planes[i];
    }
    const int64_t up[7] = {512, 512, 256, 128, 64, 32, 16};
    int64_t in_c = 512;
    for (int j = 0; j < 7; ++j) {  // upconv7 .. upconv1 at level 7-j -> 6-j
      const int lvl = 7 - j;
      upconv("dispnet upconv" + std::to_string(lvl), in_c, h[lvl], w[lvl], up[j], 3, 1);
      // iconv input: the cropped upconv, the encoder skip (none at level 1), and the
      // upsampled disparity of the coarser head (levels 3, 2, 1).
      int64_t ic = up[j] + (lvl > 1 ? planes[lvl - 2] : 0) + (lvl <= 3 ? 1 : 0);
      conv("dispnet iconv" + std::to_string(lvl), ic, h[lvl - 1], w[lvl - 1], up[j], 3, 1, relu);
      if (lvl <= 4) conv("dispnet disp" + std::to_string(lvl), up[j], h[lvl - 1], w[lvl - 1], 1, 3, 1, sig);
      in_c = up[j];
    }
  }
  // ---- PoseExpNet: target + sources stacked on channels.
  {
    const int64_t planes[7] = {16, 32, 64, 128, 256, 256, 256}, ks[7] = {7, 5, 3, 3, 3, 3, 3};
    int64_t h[8], w[8], c = 3 * (1 + sources);
    h[0] = height, w[0] = width;
    for (int i = 0; i < 7; ++i) {
      ConvLayer a = conv("posenet conv" + std::to_string(i + 1), c, h[i], w[i], planes[i], ks[i], 2, relu);
      h[i + 1] = a.Ho, w[i + 1] = a.Wo, c = planes[i];
    }
    conv("posenet pose_pred", 256, h[7], w[7], 6 * sources, 1, 1, none);
    const int64_t up[5] = {256, 128, 64, 32, 16};
    int64_t in_c = 256;
    for (int j = 0; j < 5; ++j) {  // upconv5 .. upconv1 at level 5-j -> 4-j
      const int lvl = 5 - j;
      upconv("posenet upconv" + std::to_string(lvl), in_c, h[lvl], w[lvl], up[j], 4, 0);
      if (lvl <= 4) conv("posenet mask" + std::to_string(lvl), up[j], h[lvl - 1], w[lvl - 1], sources, 3, 1, sig);
      in_c = up[j];
    }
  }
  return L;
}

}  // namespace sfm::cuda
