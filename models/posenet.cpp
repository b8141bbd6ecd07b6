#include "models/posenet.h"

#include "engine/autograd.h"
#include "engine/ops.h"

namespace sfm {

namespace {
constexpr double kPoseScale = 0.01;
}  // namespace

PoseExpNet::PoseExpNet(PoseExpNetConfig cfg, uint64_t seed, Device dev) : cfg_(cfg), layers_(posenet_layers(cfg)) {
  Rng rng(seed);
  for (const LayerSpec& l : in_declaration_order(layers_)) {
    if (l.transposed)
      add_conv_transpose(l.param, l.in_channels, l.out_channels, l.k, rng);
    else
      add_conv(l.param, l.in_channels, l.out_channels, l.k, rng);
  }
  to(dev);
}

Tensor PoseExpNet::layer(const std::string& name, const Tensor& x) {
  const LayerSpec& l = find_layer(layers_, name);
  return apply_layer(l, x, param(l.param + ".weight"), param(l.param + ".bias"));
}

PoseExpOutput PoseExpNet::run(const Tensor& tgt, const std::vector<Tensor>& srcs, bool with_masks) {
  SFM_CHECK((int)srcs.size() == cfg_.num_sources, "PoseExpNet: built for ", cfg_.num_sources,
            " source frames (sequence length ", cfg_.num_sources + 1, "), got ", srcs.size());
  SFM_CHECK(tgt.defined() && tgt.ndim() == 4 && tgt.dim(1) == 3, "PoseExpNet: target must be [B,3,H,W], got ",
            tgt.desc());
  for (size_t i = 0; i < srcs.size(); ++i)
    SFM_CHECK(srcs[i].defined() && srcs[i].shape() == tgt.shape(), "PoseExpNet: source ", i, " has shape ",
              srcs[i].defined() ? srcs[i].shape().str() : "undefined", ", expected the target's ", tgt.shape().str());
  std::vector<Tensor> in{tgt};
  in.insert(in.end(), srcs.begin(), srcs.end());
  Tensor x = concat_channels(in);
  std::vector<Tensor> enc;
  Tensor h = x;
  for (int i = 1; i <= 7; ++i) {
    h = layer("conv" + std::to_string(i), h);
    enc.push_back(h);
  }
  Tensor pose = layer("pose_pred", h);
  pose = mul_scalar(mean_hw(pose), kPoseScale);
  PoseExpOutput out;
  out.pose = reshape(pose, Shape{tgt.dim(0), cfg_.num_sources, 6});
  if (!cfg_.explainability || !with_masks) return out;
  // Decoder from conv5, each stage cropped to the matching encoder size (no skips).
  Tensor u = enc[4];
  std::vector<Tensor> stages;
  for (int level = 5; level >= 1; --level) {
    const Tensor& like = level >= 2 ? enc[level - 2] : x;
    u = crop(layer("upconv" + std::to_string(level), u), like.dim(2), like.dim(3));
    stages.push_back(u);  // stages[0]=upconv5 ... stages[4]=upconv1
  }
  for (int level = 1; level <= 4; ++level) {
    // Sigmoid mode: the table's mask layers end in the sigmoid; Softmax mode: logits.
    Tensor m = layer("mask" + std::to_string(level), stages[5 - level]);
    if (cfg_.mask_mode == MaskMode::Sigmoid) {
      out.masks.push_back(m);
    } else {
      out.mask_logits.push_back(m);
      out.masks.push_back(softmax_pairs_mask(m));
    }
  }
  return out;
}

PoseExpOutput PoseExpNet::forward(const Tensor& tgt, const std::vector<Tensor>& srcs) { return run(tgt, srcs, true); }

Tensor PoseExpNet::infer_pose(const Tensor& tgt, const std::vector<Tensor>& srcs) {
  NoGradGuard ng;
  return run(tgt, srcs, false).pose;
}

}  // namespace sfm
