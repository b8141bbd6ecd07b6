#include "models/sfmlearner.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "boundary/error.h"
#include "engine/ops.h"

namespace sfm {

SfMLearnerOptions sfmlearner_defaults(Device dev, int seq_length, double mask_weight) {
  SfMLearnerOptions o;
  o.device = dev;
  o.seed = 0;
  o.loss = loss_preset("original");
  o.loss.mask_weight = mask_weight;
  o.pose.num_sources = seq_length - 1;
  o.pose.explainability = mask_weight > 0;
  o.adam.lr = 2e-4;
  return o;
}

SfMBatch SfMBatch::to(Device dev) const {
  SfMBatch b;
  b.tgt = tgt.to(dev);
  b.srcs = srcs.to(dev);
  b.K = K.to(dev);
  b.range = range;
  b.depth_gt = depth_gt;
  b.poses_gt = poses_gt;
  b.ids = ids;
  b.snippets = snippets;
  return b;
}

SfMBatch normalized(const SfMBatch& b) {
  if (b.range == SfMBatch::Range::Normalized) return b;
  SfMBatch n = b;
  n.tgt = normalize_images(b.tgt);
  n.srcs = normalize_images(b.srcs);
  n.range = SfMBatch::Range::Normalized;
  return n;
}

std::vector<Tensor> split_sources(const Tensor& srcs) {
  SFM_CHECK(srcs.ndim() == 5, "split_sources: srcs must be [B,S,3,H,W], got ", srcs.shape().str());
  std::vector<Tensor> out;
  const int64_t B = srcs.dim(0), S = srcs.dim(1);
  for (int64_t s = 0; s < S; ++s)
    out.push_back(slice_channels(srcs, s, s + 1).view(Shape{B, srcs.dim(2), srcs.dim(3), srcs.dim(4)}));
  return out;
}

SfMLearner::SfMLearner(const SfMLearnerOptions& o) : opt_(o) {
  disp_ = std::make_unique<DispNet>(SfMLearnerOptions::dispnet_seed(o.seed), o.device);
  pose_ = std::make_unique<PoseExpNet>(o.pose, SfMLearnerOptions::posenet_seed(o.seed), o.device);
  append_parameters(*disp_, "dispnet.", params_, names_);
  append_parameters(*pose_, "posenet.", params_, names_);
  // Module::load copies values into these tensors, so loading weights later keeps Adam's
  // references valid; Module::to() would not (it replaces them): the unit never moves.
  adam_ = std::make_unique<Adam>(params_, names_, o.adam);
}

SfMForward SfMLearner::forward(const SfMBatch& batch, bool check_inputs) {
  return run_forward(batch, check_inputs, nullptr);
}

LossTerms SfMLearner::forward_loss(const SfMBatch& batch, bool check_inputs) {
  return run_forward(batch, check_inputs, nullptr).loss;
}

SfMForward SfMLearner::run_forward(const SfMBatch& batch, bool check_inputs, const std::function<void()>& after_forward) {
  SfMBatch b = normalized(batch);
  SFM_CHECK(b.tgt.device() == opt_.device && b.srcs.device() == opt_.device && b.K.device() == opt_.device,
            "SfMLearner: the batch is not on the unit's device");
  SfMForward f;
  f.disps = disp_->forward(b.tgt);
  f.pose = pose_->forward(b.tgt, split_sources(b.srcs));
  if (after_forward) after_forward();
  LossConfig cfg = opt_.loss;
  if (!check_inputs) cfg.check_finite = false;
  f.loss = sfm_loss(b.tgt, b.srcs, b.K, f.disps, f.pose, cfg);
  return f;
}

StepLosses SfMLearner::step(const SfMBatch& batch, const StepControl& c) {
  auto phase_end = [&](StepPhase p) {
    if (c.at_phase_end) c.at_phase_end(p);
  };
  StepLosses out;
  Tensor total;
  {
    LossTerms lt = run_forward(batch, c.check_inputs, [&] { phase_end(StepPhase::Forward); }).loss;
    phase_end(StepPhase::Loss);
    total = lt.total;
    out.total = lt.total.detach();
    out.photometric = lt.photometric.detach();
    out.smoothness = lt.smoothness.detach();
    if (lt.explainability.defined()) out.explainability = lt.explainability.detach();
  }
  bool update = !c.skip_non_finite || std::isfinite(out.total.item());
  if (c.all_finite) update = c.all_finite(update);
  if (!update) return out;  // nothing updated
  adam_->zero_grad();
  total.backward();
  total = Tensor();  // frees the tape
  if (c.average_gradients) c.average_gradients(params_);
  phase_end(StepPhase::Backward);
  adam_->step();
  phase_end(StepPhase::Adam);
  out.updated = true;
  return out;
}

}  // namespace sfm
