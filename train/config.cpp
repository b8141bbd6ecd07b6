#include "train/config.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

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

namespace {
struct Range {
  double lo, hi;
  bool lo_open, hi_open;
};
const Range* key_range(const std::string& k) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  static const std::map<std::string, Range> r = {
      {"steps", {1, inf, false, false}},        {"batch", {1, 1e9, false, false}},
      {"height", {1, 16384, false, false}},     {"width", {1, 16384, false, false}},
      {"seq_length", {3, 5, false, false}},     {"lr", {0, inf, true, false}},
      {"beta1", {0, 1, false, true}},           {"beta2", {0, 1, false, true}},
      {"weight_decay", {0, inf, false, false}}, {"seed", {0, inf, false, false}},
      {"photo_weight", {0, inf, false, false}}, {"smooth_weight", {0, inf, false, false}},
      {"smooth_decay", {0, inf, true, false}},  {"mask_weight", {0, inf, false, false}},
      {"workers", {0, 256, false, false}},      {"log_every", {1, inf, false, false}},
      {"val_every", {0, inf, false, false}},    {"val_batches", {0, inf, false, false}},
      {"save_every", {0, inf, false, false}},   {"plot_every", {0, inf, false, false}},
      {"threads", {0, 4096, false, false}},     {"max_minutes", {0, inf, false, false}},
      {"inject_nan_at", {-1, inf, false, false}},
  };
  auto it = r.find(k);
  return it == r.end() ? nullptr : &it->second;
}
std::string fmt_num(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}
}  // namespace

std::string config_key_range(const std::string& key) {
  const Range* r = key_range(key);
  if (!r) return "";
  if (key == "seq_length") return "3 or 5";
  std::string lo = r->lo_open ? "> " + fmt_num(r->lo) : ">= " + fmt_num(r->lo);
  if (std::isinf(r->hi)) return lo;
  return lo + " and " + (r->hi_open ? "< " : "<= ") + fmt_num(r->hi);
}

// A number for `c` must be finite and inside its range; the error names the key, the source and
// the range.
static json check_range(const ConfigKey& c, const json& v, const std::string& source) {
  if (!v.is_number()) return v;
  double x = v.get<double>();
  SFM_CHECK(std::isfinite(x), source, ": config key '", c.name, "' must be a finite number, got ", v.dump());
  SFM_CHECK(c.type != "int" || std::fabs(x) <= 9007199254740992.0, source, ": config key '", c.name,
            "' is out of the integer range (|x| <= 2^53), got ", v.dump());
  const Range* r = key_range(c.name);
  if (!r) return v;
  bool ok = (r->lo_open ? x > r->lo : x >= r->lo) && (r->hi_open ? x < r->hi : x <= r->hi);
  if (c.name == "seq_length") ok = x == 3 || x == 5;
  SFM_CHECK(ok, source, ": config key '", c.name, "' must be ", config_key_range(c.name), ", got ", v.dump());
  return v;
}

static json parse_value_unchecked(const ConfigKey& c, const std::string& v, const std::string& source);
static json parse_value(const ConfigKey& c, const std::string& v, const std::string& source) {
  return check_range(c, parse_value_unchecked(c, v, source), source);
}

static json parse_value_unchecked(const ConfigKey& c, const std::string& v, const std::string& source) {
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
    bool parsed = false;
    double x = 0;
    try {
      size_t pos = 0;
      x = std::stod(v, &pos);
      parsed = pos == v.size();
    } catch (...) {
    }
    if (!parsed) return bad("a number");
    if (!std::isfinite(x)) return bad("a finite number");
    return x;
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
  if (v.is_null()) {
    // null means "from the preset" for the loss keys (no default) and "none" for strings.
    SFM_CHECK(c.def.empty() || c.type == "string", source, ": config key '", c.name,
              "' cannot be null (expected ", c.type, ", default ", c.def, ")");
    return v;
  }
  if (v.is_string()) return parse_value(c, v.get<std::string>(), source);
  if (c.type == "int" && v.is_number_integer()) return check_range(c, v, source);
  if (c.type == "int" && v.is_number_float() && std::isfinite(v.get<double>()) &&
      v.get<double>() == std::floor(v.get<double>()) && std::fabs(v.get<double>()) < 9e15)
    return check_range(c, json((long long)v.get<double>()), source);
  if (c.type == "float" && v.is_number()) return check_range(c, json(v.get<double>()), source);
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
    if (it.key() == "_comment") continue;  // free text (config.json explains itself there)
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
  r["_comment"] = "resolved configuration: every key with its final value; 'data' is the absolute path of --data";
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
