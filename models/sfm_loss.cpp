#include "models/sfm_loss.h"

#include "engine/autograd.h"

namespace sfm {

const std::vector<LossPreset>& loss_presets() {
  static const std::vector<LossPreset> table = [] {
    LossConfig original;  // the paper and its TF code: LossConfig's defaults
    original.preset = "original";
    LossConfig port;  // ClementPinard/SfmLearner-Pytorch
    port.preset = "pytorch-port";
    port.smooth_weight = 0.1;
    port.smooth_decay = 2.3;
    port.smooth_on_depth = true;
    port.keep_out_of_view = false;
    port.mask_weight = 0.0;
    LossConfig md2;  // Godard et al. 2019's objective on SfMLearner's networks, without the mask
    md2.preset = "monodepth2";
    md2.smooth_weight = 1e-3;
    md2.smooth_decay = 2.0;
    md2.smooth_on_depth = false;
    md2.keep_out_of_view = true;  // border padding: every sample is inside the image
    md2.mask_weight = 0.0;
    md2.padding = Padding::Border;
    md2.ssim = true;
    md2.min_reprojection = true;
    md2.automask = true;
    md2.full_res_scales = true;
    md2.edge_aware_smoothness = true;
    return std::vector<LossPreset>{
        {"original", "the paper and its TensorFlow code", original},
        {"pytorch-port", "ClementPinard/SfmLearner-Pytorch", port},
        {"monodepth2", "Monodepth2's objective (SSIM + L1, minimum reprojection, auto-mask, full-resolution scales, edge-aware smoothness)", md2},
    };
  }();
  return table;
}

std::string loss_preset_names(const char* sep) {
  std::string s;
  for (const LossPreset& p : loss_presets()) s += (s.empty() ? "" : sep) + p.name;
  return s;
}

LossConfig loss_preset(const std::string& name) {
  for (const LossPreset& p : loss_presets())
    if (p.name == name) return p.config;
  fail("loss preset: unknown preset '", name, "' (expected one of ", loss_preset_names(", "), ")");
}

Tensor scale_intrinsics(const Tensor& K, double downscale) {
  SFM_CHECK(K.defined() && K.ndim() == 3 && K.dim(1) == 3 && K.dim(2) == 3, "scale_intrinsics: K must be [B,3,3], got ",
            K.desc());
  // rows (fx 0 cx) and (0 fy cy) scaled, (0 0 1) kept: K's rows are its "channels" (dim 1)
  return concat_channels({mul_scalar(slice_channels(K, 0, 2), 1.0 / downscale), slice_channels(K, 2, 3)});
}

Tensor unit_range(const Tensor& images) {
  NoGradGuard ng;  // images take no gradient
  return affine(images, 0.5, 0.5);
}

namespace {

// The smoothness term of one scale, weight w: SfMLearner's second-order one (on disparity or
// depth) or Monodepth2's edge-aware first-order one (img: the target at the disparity's size).
// depth: 1/disp as the photometric term used it (one node, so its gradients add before the
// reciprocal's backward, as in the reference implementations).
Tensor smoothness_term(const Tensor& disp, const Tensor& depth, const Tensor& img01, const LossConfig& cfg, double w) {
  if (cfg.edge_aware_smoothness) return mul_scalar(edge_aware_smoothness(disp, img01), w);
  return mul_scalar(smoothness_loss(cfg.smooth_on_depth ? depth : disp), w);
}

// Monodepth2's objective on SfMLearner's networks: per scale the fused SSIM + L1 minimum
// reprojection error with auto-masking (min_reprojection_loss), at full resolution (each
// disparity upsampled to the input size) or at the scale's own size, plus the smoothness term;
// both averaged over the scales, as Monodepth2 does. SSIM's constants assume images in [0, 1]:
// the whole objective runs on unit_range's images.
LossTerms monodepth2_loss(const Tensor& tgt, const Tensor& srcs, const Tensor& K, const std::vector<Tensor>& disps,
                          const PoseExpOutput& pe, const LossConfig& cfg) {
  const int64_t B = tgt.dim(0), S = srcs.dim(1), C = tgt.dim(1), H = tgt.dim(2), W = tgt.dim(3);
  const Tensor tgt01 = unit_range(tgt), srcs01 = unit_range(srcs);
  MinReprojectionOptions mo;
  mo.use_ssim = cfg.ssim;
  mo.min_over_sources = cfg.min_reprojection;
  mo.automask = cfg.automask;
  mo.noise_seed = cfg.automask_noise_seed;
  mo.padding = cfg.padding;
  mo.rotation = cfg.rotation;
  Tensor photo, smooth;
  auto acc = [](Tensor& a, const Tensor& b) { a = a.defined() ? add(a, b) : b; };
  double smooth_w = cfg.smooth_weight;
  for (int s = 0; s < cfg.num_scales; ++s) {
    const Tensor& disp = disps[s];
    const int64_t h = disp.dim(2), w = disp.dim(3);
    Tensor tgt_s = tgt01;  // the target at the disparity's size (for the edge weights)
    if (h != H || w != W) {
      NoGradGuard ng;
      tgt_s = resize_area(tgt01, h, w);
    }
    // A distinct noise stream per scale, so the tie-break draws do not repeat across scales.
    mo.noise_seed = cfg.automask_noise_seed * 8 + (uint64_t)s;
    Tensor depth_s;  // 1/disp at the scale's size, when the photometric term uses it
    if (cfg.full_res_scales) {
      Tensor depth = reciprocal(upsample_bilinear(disp, H, W));
      acc(photo, min_reprojection_loss(tgt01, srcs01, depth, pe.pose, K, mo));
    } else {
      Tensor srcs_s = srcs01, K_s = K;
      if (h != H || w != W) {
        NoGradGuard ng;
        srcs_s = resize_area(srcs01.view(Shape{B * S, C, H, W}), h, w).view(Shape{B, S, C, h, w});
        K_s = scale_intrinsics(K, (double)H / (double)h);
      }
      depth_s = reciprocal(disp);
      acc(photo, min_reprojection_loss(tgt_s, srcs_s, depth_s, pe.pose, K_s, mo));
    }
    if (cfg.smooth_weight != 0) {
      if (cfg.smooth_on_depth && !depth_s.defined()) depth_s = reciprocal(disp);
      acc(smooth, smoothness_term(disp, depth_s, tgt_s, cfg, smooth_w));
    }
    smooth_w /= cfg.smooth_decay;
  }
  const double per_scale = 1.0 / cfg.num_scales;
  LossTerms t;
  t.photometric = mul_scalar(photo, cfg.photo_weight * per_scale);
  t.total = t.photometric;
  if (smooth.defined()) {
    t.smoothness = mul_scalar(smooth, per_scale);
    t.total = add(t.total, t.smoothness);
  } else {
    t.smoothness = Tensor::zeros(Shape{1}, tgt.dtype(), tgt.device());
  }
  return t;
}

}  // namespace

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
  if (cfg.monodepth2_photometric()) return monodepth2_loss(tgt, srcs, K, disps, pe, cfg);
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
    if (cfg.smooth_weight != 0) {
      // the edge-aware term looks at the [0, 1] image of this scale
      Tensor img01;
      if (cfg.edge_aware_smoothness) img01 = unit_range(tgt_s);
      acc(smooth, smoothness_term(disp, depth, img01, cfg, smooth_w));
    }
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
