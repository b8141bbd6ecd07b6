#pragma once
// Adam (Kingma & Ba) with PyTorch's update rule and optional L2 weight decay (added to the
// gradient, as torch.optim.Adam does). One step updates every parameter that has a grad.
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace sfm {

struct AdamOptions {
  double lr = 2e-4, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
};

class Adam {
 public:
  // names: one per parameter (used for the optimiser state file).
  Adam(std::vector<Tensor> params, std::vector<std::string> names, AdamOptions opt = {});
  void step();
  void zero_grad();
  int64_t steps() const { return t_; }
  AdamOptions& options() { return opt_; }
  // State as named tensors ("<name>.exp_avg", "<name>.exp_avg_sq", "step"), for checkpoints.
  std::map<std::string, Tensor> state() const;
  void load_state(const std::map<std::string, Tensor>& s, const std::string& source);

 private:
  std::vector<Tensor> params_, m_, v_;
  std::vector<std::string> names_;
  AdamOptions opt_;
  int64_t t_ = 0;
};

}  // namespace sfm
