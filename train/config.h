#pragma once
// The training configuration: one declarative table of keys (name, type, default, help).
// Sources, later ones winning: the defaults (the paper's), the loss preset, a JSON config
// file, then command-line `--key value` overrides. An unknown key or a bad value is an error
// naming the key (and the file when it came from one).
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/tensor.h"
#include "models/posenet.h"
#include "models/sfm_loss.h"
#include "models/sfmlearner.h"
#include "train/data/loader_options.h"

namespace sfm {

struct ConfigKey {
  std::string name, type, def, help;  // type: int | float | bool | string | one of "a|b|c"
};
const std::vector<ConfigKey>& train_config_keys();
// The allowed range of a numeric key in words (">= 1", "> 0", ">= 0 and < 1", "3 or 5"); "" for
// keys without one. Every number must also be finite.
std::string config_key_range(const std::string& key);

// The configuration as typed values: the one place where the string-keyed table becomes the
// structs the trainer, the networks, the loss and the loaders take.
struct TrainOptions {
  std::string data;  // the formatted data set folder
  int rank = 0, ranks = 1;  // this process of a data-parallel job
  Device device = Device::CPU;
  ConvImpl conv_impl = ConvImpl::Handwritten;
  int threads = 0;  // CPU threads (0 = all)
  int64_t steps = 0, batch = 0;  // batch: one rank's (the job's is batch * ranks)
  int64_t log_every = 1, val_every = 0, val_batches = 0, save_every = 0, plot_every = 0;
  double max_minutes = 0;  // 0 = no limit
  bool tensorboard = true;
  std::string init_disp, init_pose;  // weights to start from ("" = none)
  SfMLearnerOptions learner;         // networks, loss, seed rule, Adam
  LoaderOptions train_loader, val_loader;
};

class TrainConfig {
 public:
  TrainConfig();  // defaults
  // Applies a JSON object (from `source`, for messages). Loss keys left null come from the preset.
  void apply_json(const nlohmann::json& j, const std::string& source);
  void apply_file(const std::string& path);
  void set(const std::string& key, const std::string& value, const std::string& source);
  nlohmann::json resolved() const;  // every key with its final value (preset applied)

  std::string str(const std::string& key) const;
  int64_t i(const std::string& key) const;
  double f(const std::string& key) const;
  bool b(const std::string& key) const;

  LossConfig loss() const;
  PoseExpNetConfig pose_net() const;
  // rank of ranks: a data-parallel job's process (docs/training.md): `batch` stays the batch of
  // one rank, the loaders get the global batch (batch * ranks) and this rank's share of it.
  TrainOptions options(int rank = 0, int ranks = 1) const;

 private:
  nlohmann::json values_;  // key -> value (null = from the preset)
};

}  // namespace sfm
