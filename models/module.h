#pragma once
// A network's parameters by name (the PyTorch port's names and layouts), with safetensors
// save/load that reports a missing, extra or mis-shaped tensor by name.
#include <map>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "engine/tensor.h"

namespace sfm {

class Module {
 public:
  virtual ~Module() = default;
  // Parameters in registration order, with their names.
  const std::vector<std::string>& param_names() const { return names_; }
  const std::vector<Tensor>& parameters() const { return params_; }
  Tensor& param(const std::string& name);
  int64_t num_parameters() const;
  std::map<std::string, Tensor> state_dict() const;
  // Copies values in; every name must be present with the right shape and finite values, and
  // nothing extra (train --resume / --init-*, infer and eval all load through here).
  void load_state_dict(const std::map<std::string, Tensor>& sd, const std::string& source);
  void save(const std::string& path, const std::map<std::string, std::string>& metadata = {}) const;
  void load(const std::string& path);
  void to(Device dev);  // moves parameters (keeps names)
  Device device() const { return device_; }
  virtual std::string kind() const = 0;  // "DispNet", "PoseExpNet": stored in the metadata

 protected:
  // OIHW conv weight + bias, Xavier-uniform weight, zero bias.
  void add_conv(const std::string& prefix, int64_t in, int64_t out, int64_t k, Rng& rng);
  // IOHW transposed-conv weight + bias.
  void add_conv_transpose(const std::string& prefix, int64_t in, int64_t out, int64_t k, Rng& rng);
  void add_weight_and_bias(const std::string& prefix, Tensor weight, int64_t out);
  std::vector<std::string> names_;
  std::vector<Tensor> params_;
  std::map<std::string, size_t> index_;
  Device device_ = Device::CPU;
};

// Appends m's parameters and their names with a prefix ("dispnet."): the optimiser's list.
void append_parameters(const Module& m, const std::string& prefix, std::vector<Tensor>& params,
                       std::vector<std::string>& names);

}  // namespace sfm
