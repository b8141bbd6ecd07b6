#pragma once
// Validation during `sfm train` (train/trainer.cpp): the step's forward (SfMLearner::forward) on
// the validation loader's batches, scored by the loss, the depth metrics and the snippet ATE.
#include <cstdint>

#include "engine/collective.h"
#include "eval/depth_metrics.h"
#include "models/sfmlearner.h"
#include "train/config.h"
#include "train/data/loader.h"
#include "train/log/tensorboard.h"

namespace sfm {

struct ValResult {
  double loss = 0, photometric = 0;
  bool has_depth = false, has_pose = false;
  eval::DepthMetrics depth;
  int64_t depth_images = 0, depth_skipped = 0;  // frames scored / without valid ground truth
  double ate_mean = 0, ate_std = 0;
  int64_t batches = 0;
};

// Scores o.val_batches batches of `val` (all it has when 0 or more than it has) without the tape.
// With tb, the first batch's images (input, disparity, warped sources, masks) go to TensorBoard.
// Data parallel: each rank scores its share of every validation batch; the sums are reduced
// over the ranks (comm), so every rank ends with the metrics of the whole batches.
ValResult validate(const TrainOptions& o, SfMLearner& n, DataLoader& val, TensorBoardWriter* tb, int64_t step,
                   Collective& comm);

}  // namespace sfm
