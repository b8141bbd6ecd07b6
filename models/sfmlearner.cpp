#include "models/sfmlearner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>

#include "engine/device_runtime.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/rng.h"

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

Tensor kitti_like_intrinsics(int batch, int height, int width, Device dev) {
  // The numbers of synth::kitti_intrinsics (train/synth/synth_world.cpp), kept here so that models/
  // needs nothing from train/.
  const float fx = (float)(241.7 * width / 416.0), fy = (float)(241.7 * height / 128.0);
  const float cx = (float)(204.2 * width / 416.0), cy = (float)(59.0 * height / 128.0);
  std::vector<float> kv;
  for (int b = 0; b < batch; ++b) kv.insert(kv.end(), {fx, 0.f, cx, 0.f, fy, cy, 0.f, 0.f, 1.f});
  return Tensor::from_vector(kv, Shape{batch, 3, 3}, dev);
}

SfMBatch random_batch(int batch, int height, int width, int num_sources, uint64_t seed, Device dev) {
  SFM_CHECK(batch >= 1 && height >= 8 && width >= 8 && num_sources >= 1, "random_batch: bad size ", batch, "x",
            height, "x", width, " with ", num_sources, " sources");
  Rng rng(seed);
  const int B = batch, H = height, W = width, S = num_sources;
  const int shift_max = std::max(1, W / 64);           // sideways motion per frame, pixels
  const int Wd = W + 2 * shift_max * ((S + 1) / 2);   // the scene is wider than a frame
  const int cell = 8;                                  // coarse grid spacing: the smoothness
  const int gh = H / cell + 2, gw = Wd / cell + 2;
  std::vector<float> tgt((size_t)B * 3 * H * W), srcs((size_t)B * S * 3 * H * W);
  std::vector<float> scene((size_t)3 * H * Wd), grid((size_t)3 * gh * gw);
  for (int b = 0; b < B; ++b) {
    for (float& g : grid) g = (float)rng.uniform(20.0, 235.0);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < Wd; ++x) {
          const double gy = (y + 0.5) / cell, gx = (x + 0.5) / cell;
          const int y0 = (int)gy, x0 = (int)gx;
          const double fy = gy - y0, fx = gx - x0;
          const float* g = grid.data() + (size_t)c * gh * gw;
          const double v = (1 - fy) * ((1 - fx) * g[y0 * gw + x0] + fx * g[y0 * gw + x0 + 1]) +
                           fy * ((1 - fx) * g[(y0 + 1) * gw + x0] + fx * g[(y0 + 1) * gw + x0 + 1]);
          scene[((size_t)c * H + y) * Wd + x] = (float)v;
        }
    // frame offset into the scene: target in the middle, sources to either side
    auto frame = [&](float* out, int offset) {
      for (int c = 0; c < 3; ++c)
        for (int y = 0; y < H; ++y)
          for (int x = 0; x < W; ++x) {
            const double v = scene[((size_t)c * H + y) * Wd + x + offset] + rng.uniform(-8.0, 8.0);
            out[((size_t)c * H + y) * W + x] = (float)std::clamp(v, 0.0, 255.0);
          }
    };
    const int mid = shift_max * ((S + 1) / 2);
    frame(tgt.data() + (size_t)b * 3 * H * W, mid);
    for (int s = 0; s < S; ++s) {
      // sources alternate before/after the target: -1, +1, -2, +2 frames
      const int k = s / 2 + 1, sign = s % 2 == 0 ? -1 : 1;
      frame(srcs.data() + ((size_t)b * S + s) * 3 * H * W, mid + sign * k * shift_max);
    }
  }
  SfMBatch out;
  out.tgt = Tensor::from_vector(tgt, Shape{B, 3, H, W}, dev);
  out.srcs = Tensor::from_vector(srcs, Shape{B, S, 3, H, W}, dev);
  out.K = kitti_like_intrinsics(B, H, W, dev);
  out.range = SfMBatch::Range::Raw255;
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
  using Clock = std::chrono::steady_clock;
  auto t = Clock::now();
  auto lap = [&](double StepPhases::*slot) {
    if (!c.phases) return;
    cuda_synchronize();
    c.phases->*slot = std::chrono::duration<double, std::milli>(Clock::now() - t).count();
    t = Clock::now();
  };
  StepLosses out;
  Tensor total;
  {
    LossTerms lt = run_forward(batch, c.check_inputs, [&] { lap(&StepPhases::forward); }).loss;
    lap(&StepPhases::loss);
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
  lap(&StepPhases::backward);
  adam_->step();
  lap(&StepPhases::adam);
  out.updated = true;
  return out;
}

}  // namespace sfm
