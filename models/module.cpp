#include "models/module.h"

#include <cmath>

#include "engine/ops.h"
#include "engine/safetensors.h"

namespace sfm {

Tensor& Module::param(const std::string& name) {
  auto it = index_.find(name);
  SFM_CHECK(it != index_.end(), kind(), ": no parameter named '", name, "'");
  return params_[it->second];
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const Tensor& p : params_) n += p.numel();
  return n;
}

std::map<std::string, Tensor> Module::state_dict() const {
  std::map<std::string, Tensor> sd;
  for (size_t i = 0; i < params_.size(); ++i) sd[names_[i]] = params_[i];
  return sd;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& sd, const std::string& source) {
  std::string missing, unexpected;
  for (const auto& n : names_)
    if (!sd.count(n)) missing += (missing.empty() ? "" : ", ") + n;
  for (const auto& [n, t] : sd)
    if (!index_.count(n)) unexpected += (unexpected.empty() ? "" : ", ") + n;
  SFM_CHECK(missing.empty() && unexpected.empty(), source, ": does not match ", kind(), " as configured",
            missing.empty() ? "" : "; missing tensors: ", missing, unexpected.empty() ? "" : "; unexpected tensors: ",
            unexpected);
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& t = sd.at(names_[i]);
    SFM_CHECK(t.shape() == params_[i].shape(), source, ": tensor '", names_[i], "' has shape ", t.shape().str(),
              ", ", kind(), " expects ", params_[i].shape().str());
    // Weights with a NaN or an infinity (a diverged run's) would only produce NaN outputs.
    SFM_CHECK(all_finite(t), source, ": tensor '", names_[i], "' holds NaN or infinite values (the weights of a "
              "diverged run?); refusing to use them");
  }
  for (size_t i = 0; i < params_.size(); ++i) params_[i].copy_(sd.at(names_[i]));
}

void Module::save(const std::string& path, const std::map<std::string, std::string>& metadata) const {
  auto md = metadata;
  md["kind"] = kind();
  md["format"] = "pt";
  save_safetensors(path, state_dict(), md);
}

void Module::load(const std::string& path) { load_state_dict(load_safetensors(path).tensors, path); }

void Module::to(Device dev) {
  if (dev == device_) return;
  for (Tensor& p : params_) {
    Tensor moved = p.to(dev);
    moved.set_requires_grad(true).set_name(p.name());
    p = moved;
  }
  device_ = dev;
}

static Tensor xavier(const Shape& s, int64_t fan_in, int64_t fan_out, Rng& rng) {
  double bound = std::sqrt(6.0 / (double)(fan_in + fan_out));
  return rand_uniform(s, rng, -bound, bound);
}

void Module::add_weight_and_bias(const std::string& prefix, Tensor w, int64_t out) {
  Tensor b = Tensor::zeros(Shape{out});
  for (auto& [suffix, t] : {std::pair<std::string, Tensor>{"weight", w}, {"bias", b}}) {
    std::string name = prefix + "." + suffix;
    index_[name] = params_.size();
    names_.push_back(name);
    params_.push_back(t.to(device_).set_requires_grad(true).set_name(name));
  }
}

void Module::add_conv(const std::string& prefix, int64_t in, int64_t out, int64_t k, Rng& rng) {
  add_weight_and_bias(prefix, xavier(Shape{out, in, k, k}, in * k * k, out * k * k, rng), out);
}

void Module::add_conv_transpose(const std::string& prefix, int64_t in, int64_t out, int64_t k, Rng& rng) {
  add_weight_and_bias(prefix, xavier(Shape{in, out, k, k}, out * k * k, in * k * k, rng), out);
}

void append_parameters(const Module& m, const std::string& prefix, std::vector<Tensor>& params,
                       std::vector<std::string>& names) {
  for (size_t i = 0; i < m.parameters().size(); ++i) {
    params.push_back(m.parameters()[i]);
    names.push_back(prefix + m.param_names()[i]);
  }
}

}  // namespace sfm
