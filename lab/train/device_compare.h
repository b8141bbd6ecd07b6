#pragma once
// `sfm bench train --compare-cpu`: training on the CPU and on a device, step by step, from the
// same initial weights (seed 0) and the same batches (random_batch with seed 1000 + step, made
// on the CPU and copied over), with the same options (sfmlearner_defaults), each step exactly
// as the trainer runs it (SfMLearner::step with the default control).
//
// Pass rule on the relative difference |L_dev - L_cpu| / |L_cpu| of the total loss:
//   * CPU against a second CPU run without perturb: bit-identical at every step (0).
//   * step 0: <= 1e-4. Both sides evaluate the same function of the same weights; the GPU's
//     float32 results differ from the CPU's by rounding only (other summation orders in the
//     convolutions and reductions), ~1e-6 relative per op through ~14 layers to each network's
//     output and a mean over all pixels; 1e-4 leaves a margin of ~10x over that (the parity
//     test against PyTorch holds the same 1e-4 on the CPU).
//   * later steps: <= drift_bound(step). From step 1 on the weights differ: Adam's first
//     updates are ~lr*sign(g), so elements whose gradient is near zero move differently, and
//     the differences grow step by step (chaotically, not as a bug). The bound comes from
//     measuring that growth on the CPU: the same 50 steps with the second run's initial weights
//     multiplied by 1 + 1e-6*u (u uniform in [-1,1]; mimics GPU rounding of the first forward).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lab/train/step_bench.h"

namespace sfm {

struct DeviceCompareOptions {
  int steps = 50;
  double perturb = 0;  // > 0: the compared run's initial weights times 1 + perturb*u
  uint64_t perturb_seed = 777;
  std::string conv_impl = "handwritten";  // CUDA convolutions (FP32 ones only)
};

struct DeviceCompareStep {
  int step = 0;
  double cpu_loss = 0, loss = 0, rel_diff = 0, bound = 0;
  bool ok = false;
};

struct DeviceCompareResult {
  std::vector<DeviceCompareStep> steps;
  bool pass = true;
  int first_failing_step = -1;
  double max_rel_diff = 0, cpu_seconds = 0, device_seconds = 0;
};

// The drift bound for steps >= 1 (lab/train/device_compare.cpp says how it was measured).
double drift_bound(int step);

// Multiplies every parameter by 1 + rel*u, u uniform in [-1, 1] from a seeded generator (in
// place: Adam keeps its references).
void perturb_weights(SfMLearner& m, double rel, uint64_t seed);

class DeviceComparison {
 public:
  // Checks the options (naming them as the command's flags) and, on an available CUDA device,
  // the convolution implementation (tf32 refused: the bound is for float32 arithmetic), which
  // it selects. Settings: device, batch, height, width, seq_length, mask_weight.
  DeviceComparison(const TrainBenchSettings& s, const DeviceCompareOptions& o);
  // false when the settings ask for CUDA and there is no CUDA device (then run() throws).
  bool device_available() const { return available_; }
  bool exact() const { return exact_; }            // CPU against CPU, unperturbed: bit-identical
  const std::string& impl() const { return impl_; }  // "cpu" or the convolution implementation
  // Trains both sides; on_step (may be empty) sees each step as it is compared.
  DeviceCompareResult run(const std::function<void(const DeviceCompareStep&)>& on_step) const;
  // As `--json` writes it; cpu_name names the CPU when the compared device is the CPU.
  nlohmann::json report(const DeviceCompareResult& r, const std::string& cpu_name) const;

 private:
  TrainBenchSettings s_;
  DeviceCompareOptions o_;
  bool available_ = true, exact_ = false;
  std::string impl_ = "cpu";
};

}  // namespace sfm
