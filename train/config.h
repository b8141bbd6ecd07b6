#pragma once
// The training configuration: one declarative table of keys (name, type, default, help).
// Sources, later ones winning: the defaults (the paper's), the loss preset, a JSON config
// file, then command-line `--key value` overrides. An unknown key or a bad value is an error
// naming the key (and the file when it came from one).
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/sfm_loss.h"
#include "models/posenet.h"

namespace sfm {

struct ConfigKey {
  std::string name, type, def, help;  // type: int | float | bool | string | one of "a|b|c"
};
const std::vector<ConfigKey>& train_config_keys();
// The allowed range of a numeric key in words (">= 1", "> 0", ">= 0 and < 1", "3 or 5"); "" for
// keys without one. Every number must also be finite.
std::string config_key_range(const std::string& key);

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

 private:
  nlohmann::json values_;  // key -> value (null = from the preset)
};

}  // namespace sfm
