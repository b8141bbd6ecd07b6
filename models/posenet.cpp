#include "models/posenet.h"

#include "engine/autograd.h"
#include "engine/ops.h"

namespace sfm {

namespace {
constexpr int64_t kEnc[7] = {16, 32, 64, 128, 256, 256, 256};
constexpr int64_t kEncK[7] = {7, 5, 3, 3, 3, 3, 3};
constexpr int64_t kUp[5] = {256, 128, 64, 32, 16};  // upconv5 .. upconv1
constexpr double kPoseScale = 0.01;
}  // namespace

PoseExpNet::PoseExpNet(PoseExpNetConfig cfg, uint64_t seed, Device dev) : cfg_(cfg) {
  SFM_CHECK(cfg.num_sources >= 1, "PoseExpNet: num_sources must be >= 1, got ", cfg.num_sources);
  Rng rng(seed);
  int64_t in = 3 * (1 + cfg.num_sources);
  for (int i = 0; i < 7; ++i) {
    add_conv("conv" + std::to_string(i + 1) + ".0", in, kEnc[i], kEncK[i], rng);
    in = kEnc[i];
  }
  add_conv("pose_pred", kEnc[6], 6 * cfg.num_sources, 1, rng);
  if (cfg.explainability) {
    int64_t from = kEnc[4];
    for (int i = 0; i < 5; ++i) {
      add_conv_transpose("upconv" + std::to_string(5 - i) + ".0", from, kUp[i], 4, rng);
      from = kUp[i];
    }
    int64_t per_source = cfg.mask_mode == MaskMode::Sigmoid ? 1 : 2;
    for (int level = 4; level >= 1; --level)
      add_conv("predict_mask" + std::to_string(level), kUp[5 - level], per_source * cfg.num_sources, 3, rng);
  }
  to(dev);
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
  auto P = [&](const std::string& n) -> const Tensor& { return param(n); };
  std::vector<Tensor> enc;
  Tensor h = x;
  for (int i = 0; i < 7; ++i) {
    std::string p = "conv" + std::to_string(i + 1) + ".0";
    h = conv2d(h, P(p + ".weight"), P(p + ".bias"), 2, (int)(kEncK[i] - 1) / 2, Activation::ReLU);
    enc.push_back(h);
  }
  Tensor pose = conv2d(h, P("pose_pred.weight"), P("pose_pred.bias"), 1, 0);
  pose = mul_scalar(mean_hw(pose), kPoseScale);
  PoseExpOutput out;
  out.pose = reshape(pose, Shape{tgt.dim(0), cfg_.num_sources, 6});
  if (!cfg_.explainability || !with_masks) return out;
  // Decoder from conv5, each stage cropped to the matching encoder size (no skips).
  Tensor u = enc[4];
  std::vector<Tensor> stages;
  for (int i = 0; i < 5; ++i) {
    int level = 5 - i;
    std::string L = std::to_string(level);
    const Tensor& like = level >= 2 ? enc[level - 2] : x;
    u = conv_transpose2d(u, P("upconv" + L + ".0.weight"), P("upconv" + L + ".0.bias"), 2, 1, 0, Activation::ReLU);
    u = crop(u, like.dim(2), like.dim(3));
    stages.push_back(u);  // stages[0]=upconv5 ... stages[4]=upconv1
  }
  for (int level = 1; level <= 4; ++level) {
    std::string L = std::to_string(level);
    const Tensor& feat = stages[5 - level];
    if (cfg_.mask_mode == MaskMode::Sigmoid) {
      out.masks.push_back(conv2d(feat, P("predict_mask" + L + ".weight"), P("predict_mask" + L + ".bias"), 1, 1,
                                 Activation::Sigmoid));
    } else {
      Tensor logits = conv2d(feat, P("predict_mask" + L + ".weight"), P("predict_mask" + L + ".bias"), 1, 1);
      out.mask_logits.push_back(logits);
      out.masks.push_back(softmax_pairs_mask(logits));
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
