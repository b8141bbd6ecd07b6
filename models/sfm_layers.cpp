#include "models/sfm_layers.h"

#include <algorithm>
#include <map>
#include <utility>

#include "boundary/error.h"
#include "engine/ops.h"

namespace sfm {

namespace {

constexpr int kEncoderK[7] = {7, 5, 3, 3, 3, 3, 3};  // both encoders
constexpr int64_t kDispEnc[7] = {32, 64, 128, 256, 512, 512, 512};
constexpr int64_t kDispDec[7] = {512, 512, 256, 128, 64, 32, 16};  // upconv7 .. upconv1
constexpr int64_t kPoseEnc[7] = {16, 32, 64, 128, 256, 256, 256};
constexpr int64_t kPoseDec[5] = {256, 128, 64, 32, 16};  // upconv5 .. upconv1

LayerSpec conv(const std::string& net, const std::string& name, const std::string& param, int64_t in, int64_t out,
               int k, int stride, Activation act, int level, int declared) {
  LayerSpec l;
  l.net = net, l.name = name, l.param = param;
  l.in_channels = in, l.out_channels = out, l.k = k, l.stride = stride, l.pad = (k - 1) / 2, l.act = act;
  l.level = level, l.declared = declared;
  return l;
}

// The decoders' up-convolutions: stride 2, padding 1, ReLU.
LayerSpec upconv(const std::string& net, const std::string& name, const std::string& param, int64_t in, int64_t out,
                 int k, int output_padding, int level, int declared) {
  LayerSpec l = conv(net, name, param, in, out, k, 2, Activation::ReLU, level, declared);
  l.transposed = true, l.pad = 1, l.output_padding = output_padding;
  return l;
}

}  // namespace

Tensor apply_layer(const LayerSpec& l, const Tensor& x, const Tensor& w, const Tensor& b) {
  return l.transposed ? conv_transpose2d(x, w, b, l.stride, l.pad, l.output_padding, l.act)
                      : conv2d(x, w, b, l.stride, l.pad, l.act);
}

// DispNet (the PyTorch port's DispNetS): declared as conv1..conv7 (two convolutions each),
// upconv7..upconv1, iconv7..iconv1, predict_disp4..predict_disp1.
std::vector<LayerSpec> dispnet_layers() {
  const std::string net = "dispnet";
  const Activation relu = Activation::ReLU;
  std::vector<LayerSpec> L;
  for (int i = 0; i < 7; ++i) {
    const std::string n = std::to_string(i + 1);
    const int64_t in = i == 0 ? 3 : kDispEnc[i - 1];
    L.push_back(conv(net, "conv" + n + "a", "conv" + n + ".0", in, kDispEnc[i], kEncoderK[i], 2, relu, i, 2 * i));
    L.back().image_input = i == 0;
    L.push_back(conv(net, "conv" + n + "b", "conv" + n + ".2", kDispEnc[i], kDispEnc[i], kEncoderK[i], 1, relu, i + 1,
                     2 * i + 1));
  }
  for (int j = 0; j < 7; ++j) {
    const int level = 7 - j;
    const std::string n = std::to_string(level);
    const int64_t from = j == 0 ? kDispEnc[6] : kDispDec[j - 1];
    L.push_back(upconv(net, "upconv" + n, "upconv" + n + ".0", from, kDispDec[j], 3, 1, level, 14 + j));
    // iconv input: the cropped upconv, the encoder skip (none at level 1, where it would be
    // the image), and the upsampled disparity of the coarser head (levels 3, 2, 1).
    const int64_t skip = level >= 2 ? kDispEnc[level - 2] : 0, disp = level <= 3 ? 1 : 0;
    L.push_back(conv(net, "iconv" + n, "iconv" + n + ".0", kDispDec[j] + skip + disp, kDispDec[j], 3, 1, relu,
                     level - 1, 21 + j));
    if (level <= 4)
      L.push_back(conv(net, "disp" + n, "predict_disp" + n + ".0", kDispDec[j], 1, 3, 1, Activation::Sigmoid,
                       level - 1, 28 + (4 - level)));
  }
  return L;
}

// PoseExpNet: declared as conv1..conv7, pose_pred, then (with the explainability decoder)
// upconv5..upconv1 and predict_mask4..predict_mask1.
std::vector<LayerSpec> posenet_layers(const PoseExpNetConfig& cfg) {
  SFM_CHECK(cfg.num_sources >= 1, "PoseExpNet: num_sources must be >= 1, got ", cfg.num_sources);
  const std::string net = "posenet";
  const int64_t S = cfg.num_sources;
  std::vector<LayerSpec> L;
  for (int i = 0; i < 7; ++i) {
    const std::string n = std::to_string(i + 1);
    const int64_t in = i == 0 ? 3 * (1 + S) : kPoseEnc[i - 1];  // target and sources stacked on channels
    L.push_back(conv(net, "conv" + n, "conv" + n + ".0", in, kPoseEnc[i], kEncoderK[i], 2, Activation::ReLU, i, i));
    L.back().image_input = i == 0;
  }
  L.push_back(conv(net, "pose_pred", "pose_pred", kPoseEnc[6], 6 * S, 1, 1, Activation::None, 7, 7));
  if (!cfg.explainability) return L;
  // Decoder from conv5, no skips; Softmax mode: 2 logits per source, no activation here.
  const bool sigmoid = cfg.mask_mode == MaskMode::Sigmoid;
  for (int j = 0; j < 5; ++j) {
    const int level = 5 - j;
    const std::string n = std::to_string(level);
    const int64_t from = j == 0 ? kPoseEnc[4] : kPoseDec[j - 1];
    L.push_back(upconv(net, "upconv" + n, "upconv" + n + ".0", from, kPoseDec[j], 4, 0, level, 8 + j));
    if (level <= 4)
      L.push_back(conv(net, "mask" + n, "predict_mask" + n, kPoseDec[j], (sigmoid ? 1 : 2) * S, 3, 1,
                       sigmoid ? Activation::Sigmoid : Activation::None, level - 1, 13 + (4 - level)));
  }
  return L;
}

std::vector<LayerSpec> in_declaration_order(std::vector<LayerSpec> layers) {
  std::stable_sort(layers.begin(), layers.end(),
                   [](const LayerSpec& a, const LayerSpec& b) { return a.declared < b.declared; });
  return layers;
}

const LayerSpec& find_layer(const std::vector<LayerSpec>& layers, const std::string& name) {
  for (const LayerSpec& l : layers)
    if (l.name == name) return l;
  fail("layer table: ", layers.empty() ? std::string("an empty table") : layers.front().net, " has no layer '", name,
       "'");
}

Shape ConvLayer::in_shape() const {
  return spec.transposed ? Shape{geom.N, geom.O, geom.Ho, geom.Wo} : Shape{geom.N, geom.C, geom.H, geom.W};
}
Shape ConvLayer::out_shape() const {
  return spec.transposed ? Shape{geom.N, geom.C, geom.H, geom.W} : Shape{geom.N, geom.O, geom.Ho, geom.Wo};
}

std::vector<ConvLayer> at_size(const std::vector<LayerSpec>& layers, int64_t N, int64_t H, int64_t W) {
  SFM_CHECK(N >= 1 && H >= 1 && W >= 1, "layer table: bad size N=", N, " H=", H, " W=", W);
  std::map<int, std::pair<int64_t, int64_t>> size{{0, {H, W}}};  // level -> input size
  std::vector<ConvLayer> out;
  for (const LayerSpec& l : layers) {
    auto it = size.find(l.level);
    SFM_CHECK(it != size.end(), "layer table: ", l.full_name(), " reads level ", l.level,
              ", which no earlier layer produces");
    const auto [h, w] = it->second;
    ConvLayer c;
    c.spec = l;
    c.geom = l.transposed
                 ? ConvGeom::transposed(N, l.in_channels, h, w, l.out_channels, l.k, l.stride, l.pad, l.output_padding)
                 : ConvGeom::conv(N, l.in_channels, h, w, l.out_channels, l.k, l.stride, l.pad);
    SFM_CHECK(c.geom.consistent() && c.geom.Ho >= 1 && c.geom.Wo >= 1, "layer table: ", l.full_name(), " at ", h,
              "x", w, " has an empty output");
    if (!l.transposed && l.stride > 1 && !size.count(l.level + 1)) size[l.level + 1] = {c.geom.Ho, c.geom.Wo};
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<ConvLayer> sfmlearner_conv_layers(int64_t N, int64_t H, int64_t W, int num_sources, bool explainability) {
  std::vector<ConvLayer> all = at_size(dispnet_layers(), N, H, W);
  PoseExpNetConfig pc;
  pc.num_sources = num_sources, pc.explainability = explainability;
  for (ConvLayer& l : at_size(posenet_layers(pc), N, H, W)) all.push_back(std::move(l));
  return all;
}

}  // namespace sfm
