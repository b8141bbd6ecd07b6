#include "train/validation.h"

#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "eval/colormap.h"
#include "eval/pose_metrics.h"
#include "train/data/image_util.h"

namespace sfm {

ValResult validate(const TrainOptions& o, SfMLearner& n, DataLoader& val, TensorBoardWriter* tb, int64_t step,
                   Collective& comm) {
  NoGradGuard ng;
  ValResult r;
  int64_t batches = o.val_batches;
  int64_t available = (int64_t)(val.size() / std::max<int64_t>(1, o.batch * comm.size()));
  if (batches <= 0 || batches > available) batches = std::max<int64_t>(1, available);
  eval::DepthMetricsAccumulator acc;
  std::vector<double> ates;
  eval::DepthEvalOptions dopt;  // median scaling, (1e-3, 80) m
  for (int64_t i = 0; i < batches; ++i) {
    SfMBatch b = val.next().to(n.device());
    SfMForward f = n.forward(b);  // the step's forward and loss, without the tape
    const std::vector<Tensor>& disps = f.disps;
    const PoseExpOutput& pe = f.pose;
    const LossTerms& lt = f.loss;
    r.loss += lt.total_value();
    r.photometric += lt.photometric.item();
    if (b.depth_gt.defined()) {
      acc.add_batch(b.depth_gt, disps[0], dopt);
      r.has_depth = true;
    }
    if (b.poses_gt.defined()) {
      std::vector<float> pred = pe.pose.to_vector(), gt = b.poses_gt.to_vector();
      const int64_t B = b.poses_gt.dim(0), F = b.poses_gt.dim(1);
      const int64_t S = F - 1;
      for (int64_t k = 0; k < B; ++k) {
        std::vector<double> p6(pred.begin() + k * S * 6, pred.begin() + (k + 1) * S * 6);
        std::vector<double> g12(gt.begin() + k * F * 12, gt.begin() + (k + 1) * F * 12);
        ates.push_back(eval::snippet_ate_from_network(p6, g12, (int)F).ate);
      }
      r.has_pose = true;
    }
    if (tb && i == 0) {
      tb->add_image("val/input", normalized_rgb_to_bgr(b.tgt), step);
      tb->add_image("val/disparity", eval::colorize_disparity(disps[0].batch_slice(0, 1)), step);
      Tensor warped;
      PhotometricOptions po;
      po.keep_out_of_view = n.loss_config().keep_out_of_view;
      photometric_loss(b.tgt, b.srcs, reciprocal(disps[0]), pe.pose, b.K, Tensor(), po, &warped);
      for (int64_t s = 0; s < b.srcs.dim(1); ++s) {
        Tensor w = slice_channels(warped, s, s + 1)
                       .view(Shape{warped.dim(0), warped.dim(2), warped.dim(3), warped.dim(4)});
        tb->add_image("val/warped_source" + std::to_string(s), normalized_rgb_to_bgr(w), step);
        if (!pe.masks.empty())
          tb->add_image("val/mask" + std::to_string(s),
                        unit_map_to_gray(pe.masks[0], 0, s), step);
      }
    }
  }
  r.batches = batches;
  const int ranks = comm.size();
  double ate_sum = 0;
  for (double a : ates) ate_sum += a;
  if (ranks > 1) {  // sums over the ranks; each rank's loss is the mean over its share
    std::vector<double> v{r.loss, r.photometric, (double)r.has_depth, (double)r.has_pose, (double)acc.images,
                          (double)acc.skipped, (double)acc.valid_pixels, acc.sum.abs_rel, acc.sum.sq_rel, acc.sum.rmse,
                          acc.sum.rmse_log, acc.sum.a1, acc.sum.a2, acc.sum.a3, acc.sum.scale, (double)ates.size(), ate_sum};
    comm.all_reduce_sum(v.data(), v.size());
    r.loss = v[0] / ranks;
    r.photometric = v[1] / ranks;
    r.has_depth = v[2] > 0;
    r.has_pose = v[3] > 0;
    acc.images = (int64_t)v[4];
    acc.skipped = (int64_t)v[5];
    acc.valid_pixels = (int64_t)v[6];
    acc.sum.abs_rel = v[7];
    acc.sum.sq_rel = v[8];
    acc.sum.rmse = v[9];
    acc.sum.rmse_log = v[10];
    acc.sum.a1 = v[11];
    acc.sum.a2 = v[12];
    acc.sum.a3 = v[13];
    acc.sum.scale = v[14];
    ate_sum = v[16];
    const double count = v[15];
    if (count > 0) {
      const double m = ate_sum / count;
      double dev2 = 0;
      for (double a : ates) dev2 += (a - m) * (a - m);
      comm.all_reduce_sum(&dev2, 1);
      r.ate_mean = m;
      r.ate_std = std::sqrt(dev2 / count);
    }
  }
  r.loss /= (double)batches;
  r.photometric /= (double)batches;
  // Frames without any valid ground-truth pixel are skipped (as sfm eval depth does); when no
  // frame has one there are no depth metrics (not zeros), and `best` follows the loss.
  r.depth_skipped = acc.skipped;
  r.depth_images = acc.images;
  r.has_depth = acc.images > 0;
  r.depth = acc.mean();
  if (ranks == 1 && !ates.empty()) {
    double m = ate_sum / (double)ates.size(), v = 0;
    for (double a : ates) v += (a - m) * (a - m);
    r.ate_mean = m;
    r.ate_std = std::sqrt(v / (double)ates.size());
  }
  return r;
}

}  // namespace sfm
