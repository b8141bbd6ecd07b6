#include "models/sfm_loss.h"

#include "engine/autograd.h"

namespace sfm {

LossConfig loss_preset(const std::string& name) {
  LossConfig c;
  c.preset = name;
  if (name == "original") {
    c.smooth_weight = 0.5;
    c.smooth_decay = 2.0;
    c.smooth_on_depth = false;
    c.keep_out_of_view = true;
    c.mask_weight = 0.2;
  } else if (name == "pytorch-port") {
    c.smooth_weight = 0.1;
    c.smooth_decay = 2.3;
    c.smooth_on_depth = true;
    c.keep_out_of_view = false;
    c.mask_weight = 0.0;
  } else {
    fail("loss preset: unknown preset '", name, "' (expected original or pytorch-port)");
  }
  return c;
}

Tensor scale_intrinsics(const Tensor& K, double downscale) {
  SFM_CHECK(K.defined() && K.ndim() == 3 && K.dim(1) == 3 && K.dim(2) == 3, "scale_intrinsics: K must be [B,3,3], got ",
            K.desc());
  // rows (fx 0 cx) and (0 fy cy) scaled, (0 0 1) kept: K's rows are its "channels" (dim 1)
  return concat_channels({mul_scalar(slice_channels(K, 0, 2), 1.0 / downscale), slice_channels(K, 2, 3)});
}

LossTerms sfm_loss(const Tensor& tgt, const Tensor& srcs, const Tensor& K, const std::vector<Tensor>& disps,
                   const PoseExpOutput& pe, const LossConfig& cfg) {
  const char* op = "sfm_loss";
  SFM_CHECK(tgt.defined() && tgt.ndim() == 4, op, ": target must be [B,C,H,W], got ", tgt.desc());
  SFM_CHECK(srcs.defined() && srcs.ndim() == 5 && srcs.dim(0) == tgt.dim(0) && srcs.dim(2) == tgt.dim(1) &&
                srcs.dim(3) == tgt.dim(2) && srcs.dim(4) == tgt.dim(3),
            op, ": sources must be [B,S,C,H,W] matching the target ", tgt.shape().str(), ", got ", srcs.desc());
  SFM_CHECK((int)disps.size() >= cfg.num_scales, op, ": ", disps.size(), " disparity scales, config wants ",
            cfg.num_scales);
  if (cfg.check_finite) {
    SFM_CHECK(all_finite(tgt), op, ": the target images contain NaN or Inf");
    SFM_CHECK(all_finite(srcs), op, ": the source images contain NaN or Inf");
    SFM_CHECK(all_finite(K), op, ": the intrinsics contain NaN or Inf");
  }
  const int64_t B = tgt.dim(0), S = srcs.dim(1), C = tgt.dim(1), H = tgt.dim(2), W = tgt.dim(3);
  bool use_mask = cfg.mask_weight > 0;
  SFM_CHECK(!use_mask || (int)pe.masks.size() >= cfg.num_scales, op,
            ": mask weight > 0 but the pose network produced ", pe.masks.size(), " mask scales (built without the decoder?)");
  PhotometricOptions po;
  po.keep_out_of_view = cfg.keep_out_of_view;
  po.padding = cfg.padding;
  po.rotation = cfg.rotation;

  Tensor photo, smooth, expl;
  auto acc = [](Tensor& a, const Tensor& b) { a = a.defined() ? add(a, b) : b; };
  double smooth_w = cfg.smooth_weight;
  for (int s = 0; s < cfg.num_scales; ++s) {
    const Tensor& disp = disps[s];
    int64_t h = disp.dim(2), w = disp.dim(3);
    Tensor tgt_s = tgt, srcs_s = srcs, K_s = K;
    if (h != H || w != W) {
      NoGradGuard ng;  // images take no gradient
      tgt_s = resize_area(tgt, h, w);
      srcs_s = resize_area(srcs.view(Shape{B * S, C, H, W}), h, w).view(Shape{B, S, C, h, w});
      K_s = scale_intrinsics(K, (double)H / (double)h);
    }
    Tensor depth = reciprocal(disp);
    Tensor mask = use_mask ? pe.masks[s] : Tensor();
    acc(photo, photometric_loss(tgt_s, srcs_s, depth, pe.pose, K_s, mask, po));
    if (cfg.smooth_weight != 0) acc(smooth, mul_scalar(smoothness_loss(cfg.smooth_on_depth ? depth : disp), smooth_w));
    smooth_w /= cfg.smooth_decay;
    if (use_mask) {
      Tensor e = pe.mask_logits.empty() ? explainability_loss(pe.masks[s]) : explainability_loss_softmax(pe.mask_logits[s]);
      acc(expl, e);
    }
  }
  LossTerms t;
  t.photometric = mul_scalar(photo, cfg.photo_weight);
  t.total = t.photometric;
  if (smooth.defined()) {
    t.smoothness = smooth;
    t.total = add(t.total, smooth);
  } else {
    t.smoothness = Tensor::zeros(Shape{1}, tgt.dtype(), tgt.device());
  }
  if (use_mask) {
    t.explainability = mul_scalar(expl, cfg.mask_weight);
    t.total = add(t.total, t.explainability);
  }
  return t;
}

}  // namespace sfm
