// The data-parallel half of a training step (models/sfmlearner_parallel.h).
#include "models/sfmlearner_parallel.h"

namespace sfm {

DataParallelStep::DataParallelStep(Collective& comm, Device dev) : comm_(comm) {
  if (comm.size() > 1) averager_ = std::make_unique<GradientAverager>(dev == Device::CUDA ? device_world() : comm);
}

bool DataParallelStep::agree(bool finite) {
  double bad = finite ? 0.0 : 1.0;
  comm_.all_reduce_sum(&bad, 1);
  agreed_ = true;
  return bad == 0;
}

void DataParallelStep::attach(StepControl& c) {
  agreed_ = false;
  reduce_s_ = 0;
  if (comm_.size() == 1) return;
  c.all_finite = [this](bool finite) { return agree(finite); };
  c.average_gradients = [this](const std::vector<Tensor>& params) {
    averager_->average(params);
    reduce_s_ = averager_->last_seconds();
  };
}

void DataParallelStep::fail_before_agreement() {
  if (comm_.size() > 1 && !agreed_) agree(false);
}

}  // namespace sfm
