#include "train/config.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "boundary/error.h"

namespace sfm {

using json = nlohmann::json;

namespace {
std::string fmt_value(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}
std::string fmt_value(bool x) { return x ? "true" : "false"; }
std::string fmt_value(const char* x) { return x; }
// A loss key's help: what it does, then each preset's value, read from the preset table
// (models/sfm_loss.cpp), e.g. "smoothness weight at scale 0 [original 0.5, pytorch-port 0.1]".
template <class F>
std::string preset_help(const std::string& what, F value_of) {
  std::string h = what + " [";
  bool first = true;
  for (const LossPreset& p : loss_presets()) {
    h += (first ? "" : ", ") + p.name + " " + fmt_value(value_of(p.config));
    first = false;
  }
  return h + "]";
}
}  // namespace

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
      {"preset", loss_preset_names(), "original", "loss preset (the keys below default to it)"},
      {"photo_weight", "float", "", preset_help("photometric loss weight", [](const LossConfig& c) { return c.photo_weight; })},
      {"smooth_weight", "float", "", preset_help("smoothness weight at scale 0", [](const LossConfig& c) { return c.smooth_weight; })},
      {"smooth_decay", "float", "", preset_help("smoothness weight divisor per scale", [](const LossConfig& c) { return c.smooth_decay; })},
      {"smooth_on_depth", "bool", "", preset_help("smooth depth (1/disp) instead of disparity", [](const LossConfig& c) { return c.smooth_on_depth; })},
      {"keep_out_of_view", "bool", "", preset_help("out-of-view pixels count as |I_t - 0|", [](const LossConfig& c) { return c.keep_out_of_view; })},
      {"mask_weight", "float", "", preset_help("explainability regulariser weight, 0 = no mask", [](const LossConfig& c) { return c.mask_weight; })},
      {"mask_mode", "sigmoid|softmax", "sigmoid", "one sigmoid channel per source (port) or 2-class softmax (original)"},
      {"padding", "zeros|border", "", preset_help("inverse-warp padding", [](const LossConfig& c) { return c.padding == Padding::Border ? "border" : "zeros"; })},
      {"ssim", "bool", "", preset_help("photometric error 0.85 (1-SSIM)/2 + 0.15 L1 (Monodepth2)", [](const LossConfig& c) { return c.ssim; })},
      {"min_reprojection", "bool", "", preset_help("per-pixel minimum over sources instead of the mean", [](const LossConfig& c) { return c.min_reprojection; })},
      {"automask", "bool", "", preset_help("auto-masking: unwarped sources join the minimum", [](const LossConfig& c) { return c.automask; })},
      {"full_res_scales", "bool", "", preset_help("upsample every disparity scale to the input size before warping", [](const LossConfig& c) { return c.full_res_scales; })},
      {"edge_aware_smoothness", "bool", "", preset_help("first-order edge-aware smoothness of d/mean(d)", [](const LossConfig& c) { return c.edge_aware_smoothness; })},
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
  };
  auto it = r.find(k);
  return it == r.end() ? nullptr : &it->second;
}
}  // namespace

std::string config_key_range(const std::string& key) {
  const Range* r = key_range(key);
  if (!r) return "";
  if (key == "seq_length") return "3 or 5";
  std::string lo = r->lo_open ? "> " + fmt_value(r->lo) : ">= " + fmt_value(r->lo);
  if (std::isinf(r->hi)) return lo;
  return lo + " and " + (r->hi_open ? "< " : "<= ") + fmt_value(r->hi);
}

// A number for `c` must be finite and inside its range; the error names the key, the source and
// the range.
static json check_range(const ConfigKey& c, const json& v, const std::string& source) {
  if (!v.is_number()) return v;
  double x = v.get<double>();
  SFM_CHECK(std::isfinite(x), source, ": config key '", c.name, "' must be a finite number, got ", v.dump());
  SFM_CHECK(c.type != "int" || std::fabs(x) <= 9007199254740992.0, source, ": config key '", c.name,
            "' is out of the integer range (|x| <= 2^53), got ", v.dump());
  // Floats are used in float32 (the weights, Adam, the loss): 1e39 would be infinite there, 1e-50 zero.
  if (c.type == "float") {
    SFM_CHECK(std::fabs(x) <= (double)std::numeric_limits<float>::max(), source, ": config key '", c.name,
              "' is not finite in float32 (|x| <= 3.4e38), got ", v.dump());
    SFM_CHECK(x == 0 || (float)x != 0.0f, source, ": config key '", c.name,
              "' is 0 in float32 (|x| >= 1.4e-45 or 0), got ", v.dump());
  }
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
    // Free text (config.json explains itself there) and the record of accepted changes (--allow-change).
    if (it.key() == "_comment" || it.key() == "_changes") continue;
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

namespace {
// The loss keys that default to the preset, each bound to its LossConfig member once (loss()
// reads them, resolved() writes them back; "padding" is an enum and handled beside them).
struct PresetKey {
  const char* name;
  double LossConfig::*num = nullptr;
  bool LossConfig::*flag = nullptr;
};
const std::vector<PresetKey>& preset_keys() {
  static const std::vector<PresetKey> k = {
      {"photo_weight", &LossConfig::photo_weight},
      {"smooth_weight", &LossConfig::smooth_weight},
      {"smooth_decay", &LossConfig::smooth_decay},
      {"mask_weight", &LossConfig::mask_weight},
      {"smooth_on_depth", nullptr, &LossConfig::smooth_on_depth},
      {"keep_out_of_view", nullptr, &LossConfig::keep_out_of_view},
      {"ssim", nullptr, &LossConfig::ssim},
      {"min_reprojection", nullptr, &LossConfig::min_reprojection},
      {"automask", nullptr, &LossConfig::automask},
      {"full_res_scales", nullptr, &LossConfig::full_res_scales},
      {"edge_aware_smoothness", nullptr, &LossConfig::edge_aware_smoothness},
  };
  return k;
}
}  // namespace

json TrainConfig::resolved() const {
  json r = values_;
  r["_comment"] = "resolved configuration: every key with its final value; 'data' is the absolute path of --data";
  LossConfig l = loss();
  for (const PresetKey& k : preset_keys()) r[k.name] = k.num ? json(l.*k.num) : json(l.*k.flag);
  r["padding"] = l.padding == Padding::Border ? "border" : "zeros";
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
  for (const PresetKey& k : preset_keys()) {
    const json& v = values_.at(k.name);
    if (v.is_null()) continue;
    if (k.num) l.*k.num = v.get<double>();
    else l.*k.flag = v.get<bool>();
  }
  if (!values_.at("padding").is_null()) l.padding = str("padding") == "border" ? Padding::Border : Padding::Zeros;
  l.automask_noise_seed = (uint64_t)i("seed");
  l.rotation = str("rotation") == "quat" ? RotationMode::Quat : RotationMode::Euler;
  SFM_CHECK(l.smooth_decay > 0, "config: smooth_decay must be > 0, got ", l.smooth_decay);
  SFM_CHECK(l.mask_weight >= 0, "config: mask_weight must be >= 0, got ", l.mask_weight);
  SFM_CHECK(!(l.monodepth2_photometric() && l.mask_weight > 0), "config: mask_weight ", l.mask_weight,
            " (the explainability mask) cannot be combined with ssim, min_reprojection, automask or "
            "full_res_scales (Monodepth2's parts replace it): set mask_weight 0");
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

TrainOptions TrainConfig::options(int rank, int ranks) const {
  SFM_CHECK(ranks >= 1 && rank >= 0 && rank < ranks, "config: rank ", rank, " of ", ranks, " is out of range");
  TrainOptions o;
  o.rank = rank;
  o.ranks = ranks;
  o.data = str("data");
  o.device = str("device") == "cuda" ? Device::CUDA : Device::CPU;
  o.conv_impl = parse_conv_impl(str("conv_impl"));
  o.threads = (int)i("threads");
  o.steps = i("steps");
  o.batch = i("batch");
  o.log_every = std::max<int64_t>(1, i("log_every"));
  o.val_every = i("val_every");
  o.val_batches = i("val_batches");
  o.save_every = i("save_every");
  o.plot_every = i("plot_every");
  o.max_minutes = f("max_minutes");
  o.tensorboard = b("tensorboard");
  o.init_disp = str("init_disp");
  o.init_pose = str("init_pose");

  SfMLearnerOptions& m = o.learner;
  m.device = o.device;
  m.seed = (uint64_t)i("seed");
  m.pose = pose_net();
  m.loss = loss();
  m.adam.lr = f("lr");
  m.adam.beta1 = f("beta1");
  m.adam.beta2 = f("beta2");
  m.adam.weight_decay = f("weight_decay");

  // The validation loader reads the same frames without shuffling or augmentation.
  LoaderOptions& t = o.train_loader;
  t.batch = (int)o.batch;
  t.height = (int)i("height");
  t.width = (int)i("width");
  t.seq_length = (int)i("seq_length");
  t.augment = b("augment");
  t.flip = b("flip");
  t.color_jitter = b("color_jitter");
  t.shuffle = true;
  t.in_memory = b("in_memory");
  t.skip_bad = b("skip_bad");
  t.workers = (int)i("workers");
  t.seed = m.seed;
  t.split = "train";
  o.val_loader = t;
  o.val_loader.augment = false;
  o.val_loader.shuffle = false;
  o.val_loader.split = "val";
  for (LoaderOptions* l : {&o.train_loader, &o.val_loader}) {
    l->batch = (int)(o.batch * ranks);
    l->shard_rank = rank;
    l->shard_count = ranks;
  }
  return o;
}

}  // namespace sfm
