#include "train/config.h"

#include <fstream>

#include "engine/error.h"

namespace sfm {

using json = nlohmann::json;

const std::vector<ConfigKey>& train_config_keys() {
  static const std::vector<ConfigKey> keys = {
      {"data", "string", "", "formatted data set root (train.txt, val.txt, scene folders)"},
      {"device", "cpu|cuda", "cpu", "where to train"},
      {"steps", "int", "200000", "training iterations"},
      {"batch", "int", "4", "batch size"},
      {"height", "int", "128", "network input height"},
      {"width", "int", "416", "network input width"},
      {"seq_length", "int", "3", "frames per snippet (3 or 5), target in the middle"},
      {"lr", "float", "2e-4", "Adam learning rate"},
      {"beta1", "float", "0.9", "Adam beta1"},
      {"beta2", "float", "0.999", "Adam beta2"},
      {"weight_decay", "float", "0", "Adam L2 weight decay"},
      {"seed", "int", "0", "seed for weights, data order and augmentation"},
      {"preset", "original|pytorch-port", "original", "loss preset (the keys below default to it)"},
      {"photo_weight", "float", "", "photometric loss weight [preset: 1]"},
      {"smooth_weight", "float", "", "smoothness weight at scale 0 [original 0.5, pytorch-port 0.1]"},
      {"smooth_decay", "float", "", "smoothness weight divisor per scale [original 2, pytorch-port 2.3]"},
      {"smooth_on_depth", "bool", "", "smooth depth (1/disp) instead of disparity [original false, port true]"},
      {"keep_out_of_view", "bool", "", "out-of-view pixels count as |I_t - 0| [original true, port false]"},
      {"mask_weight", "float", "", "explainability regulariser weight, 0 = no mask [original 0.2, port 0]"},
      {"mask_mode", "sigmoid|softmax", "sigmoid", "one sigmoid channel per source (port) or 2-class softmax (original)"},
      {"padding", "zeros|border", "zeros", "inverse-warp padding"},
      {"rotation", "euler|quat", "euler", "pose rotation parametrisation"},
      {"augment", "bool", "true", "random scale + crop"},
      {"flip", "bool", "true", "random horizontal flip (with augment)"},
      {"color_jitter", "bool", "false", "random brightness/contrast/saturation (with augment)"},
      {"workers", "int", "2", "data loader threads"},
      {"in_memory", "bool", "false", "hold the decoded data set in memory"},
      {"skip_bad", "bool", "false", "skip (and count) unreadable frames instead of stopping"},
      {"log_every", "int", "10", "steps between metrics.jsonl lines"},
      {"val_every", "int", "1000", "steps between validations (0 = never)"},
      {"val_batches", "int", "50", "validation batches (0 = the whole split)"},
      {"save_every", "int", "1000", "steps between 'latest' checkpoints"},
      {"plot_every", "int", "100", "steps between loss-curve PNG refreshes"},
      {"init_disp", "string", "", "DispNet weights to start from (safetensors)"},
      {"init_pose", "string", "", "PoseExpNet weights to start from (safetensors)"},
      {"conv_impl", "handwritten|tf32|cudnn|cublas", "handwritten", "CUDA convolution implementation"},
      {"threads", "int", "0", "CPU threads (0 = all)"},
      {"max_minutes", "float", "0", "stop (and save) after this much wall time (0 = no limit)"},
      {"tensorboard", "bool", "true", "write TensorBoard event files"},
      {"inject_nan_at", "int", "-1", "testing: put a NaN into the batch of this step"},
  };
  return keys;
}

static const ConfigKey& find_key(const std::string& k, const std::string& source) {
  for (const auto& c : train_config_keys())
    if (c.name == k) return c;
  std::string known;
  for (const auto& c : train_config_keys()) known += (known.empty() ? "" : ", ") + c.name;
  fail(source, ": unknown config key '", k, "' (known keys: ", known, ")");
}

static json parse_value(const ConfigKey& c, const std::string& v, const std::string& source) {
  auto bad = [&](const char* what) -> json {
    fail(source, ": config key '", c.name, "' expects ", what, ", got '", v, "'");
  };
  if (c.type == "int") {
    try {
      size_t pos = 0;
      long long x = std::stoll(v, &pos);
      if (pos == v.size()) return x;
    } catch (...) {
    }
    return bad("an integer");
  }
  if (c.type == "float") {
    try {
      size_t pos = 0;
      double x = std::stod(v, &pos);
      if (pos == v.size()) return x;
    } catch (...) {
    }
    return bad("a number");
  }
  if (c.type == "bool") {
    if (v == "true" || v == "1" || v == "yes") return true;
    if (v == "false" || v == "0" || v == "no") return false;
    return bad("true or false");
  }
  if (c.type == "string") return v;
  // enum "a|b|c"
  std::string opts = "|" + c.type + "|";
  if (opts.find("|" + v + "|") != std::string::npos) return v;
  return bad(("one of " + c.type).c_str());
}

static json check_json_value(const ConfigKey& c, const json& v, const std::string& source) {
  if (v.is_null()) return v;
  if (v.is_string()) return parse_value(c, v.get<std::string>(), source);
  if (c.type == "int" && v.is_number_integer()) return v;
  if (c.type == "float" && v.is_number()) return v.get<double>();
  if (c.type == "bool" && v.is_boolean()) return v;
  fail(source, ": config key '", c.name, "' has a value of the wrong type: ", v.dump(), " (expected ", c.type, ")");
}

TrainConfig::TrainConfig() {
  values_ = json::object();
  for (const auto& c : train_config_keys())
    values_[c.name] = (c.def.empty() && c.type != "string") ? json() : parse_value(c, c.def, "defaults");
}

void TrainConfig::apply_json(const json& j, const std::string& source) {
  SFM_CHECK(j.is_object(), source, ": the config must be a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const ConfigKey& c = find_key(it.key(), source);
    values_[c.name] = check_json_value(c, *it, source);
  }
}

void TrainConfig::apply_file(const std::string& path) {
  std::ifstream f(path);
  SFM_CHECK(f.good(), path, ": cannot open config file");
  json j;
  try {
    j = json::parse(f);
  } catch (const std::exception& e) {
    fail(path, ": not valid JSON: ", e.what());
  }
  apply_json(j, path);
}

void TrainConfig::set(const std::string& key, const std::string& value, const std::string& source) {
  std::string k = key;
  for (char& ch : k)
    if (ch == '-') ch = '_';
  const ConfigKey& c = find_key(k, source);
  values_[c.name] = parse_value(c, value, source);
}

json TrainConfig::resolved() const {
  json r = values_;
  LossConfig l = loss();
  r["photo_weight"] = l.photo_weight;
  r["smooth_weight"] = l.smooth_weight;
  r["smooth_decay"] = l.smooth_decay;
  r["smooth_on_depth"] = l.smooth_on_depth;
  r["keep_out_of_view"] = l.keep_out_of_view;
  r["mask_weight"] = l.mask_weight;
  return r;
}

std::string TrainConfig::str(const std::string& key) const {
  const json& v = values_.at(find_key(key, "config").name);
  return v.is_null() ? "" : v.get<std::string>();
}
int64_t TrainConfig::i(const std::string& key) const { return values_.at(find_key(key, "config").name).get<int64_t>(); }
double TrainConfig::f(const std::string& key) const { return values_.at(find_key(key, "config").name).get<double>(); }
bool TrainConfig::b(const std::string& key) const { return values_.at(find_key(key, "config").name).get<bool>(); }

LossConfig TrainConfig::loss() const {
  LossConfig l = loss_preset(str("preset"));
  auto num = [&](const char* k, double& dst) {
    if (!values_.at(k).is_null()) dst = values_.at(k).get<double>();
  };
  auto flag = [&](const char* k, bool& dst) {
    if (!values_.at(k).is_null()) dst = values_.at(k).get<bool>();
  };
  num("photo_weight", l.photo_weight);
  num("smooth_weight", l.smooth_weight);
  num("smooth_decay", l.smooth_decay);
  num("mask_weight", l.mask_weight);
  flag("smooth_on_depth", l.smooth_on_depth);
  flag("keep_out_of_view", l.keep_out_of_view);
  l.padding = str("padding") == "border" ? Padding::Border : Padding::Zeros;
  l.rotation = str("rotation") == "quat" ? RotationMode::Quat : RotationMode::Euler;
  SFM_CHECK(l.smooth_decay > 0, "config: smooth_decay must be > 0, got ", l.smooth_decay);
  SFM_CHECK(l.mask_weight >= 0, "config: mask_weight must be >= 0, got ", l.mask_weight);
  return l;
}

PoseExpNetConfig TrainConfig::pose_net() const {
  PoseExpNetConfig p;
  int64_t seq = i("seq_length");
  SFM_CHECK(seq == 3 || seq == 5, "config: seq_length must be 3 or 5, got ", seq);
  p.num_sources = (int)seq - 1;
  p.explainability = loss().mask_weight > 0;
  p.mask_mode = str("mask_mode") == "softmax" ? MaskMode::Softmax : MaskMode::Sigmoid;
  return p;
}

}  // namespace sfm
