#pragma once
// One SfMLearner training unit: DispNet, PoseExpNet, the loss configuration, Adam over both
// networks' parameters, the seed rule, and one training step. `sfm train`, `sfm bench train`
// and the tests run this same step, so a change to the step changes all of them together.
//
// Parameter order and names (the optimiser state file's keys): DispNet's parameters prefixed
// "dispnet.", then PoseExpNet's prefixed "posenet." (append_parameters), each in registration
// order. Seed rule: DispNet draws its initial weights from seed*2+1, PoseExpNet from seed*2+2.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/adam.h"
#include "models/dispnet.h"
#include "models/posenet.h"
#include "models/sfm_loss.h"

namespace sfm {

struct SfMLearnerOptions {
  Device device = Device::CPU;
  uint64_t seed = 0;         // see dispnet_seed / posenet_seed
  PoseExpNetConfig pose;     // num_sources = seq_length - 1; explainability = mask_weight > 0
  LossConfig loss;           // the 'original' preset by default
  AdamOptions adam;          // lr 2e-4, betas (0.9, 0.999), eps 1e-8, no weight decay
  static uint64_t dispnet_seed(uint64_t seed) { return seed * 2 + 1; }
  static uint64_t posenet_seed(uint64_t seed) { return seed * 2 + 2; }
};

// The benchmark's and the tests' configuration: the 'original' loss with the mask at
// mask_weight (0: no mask decoder), seq_length frames, Adam lr 2e-4, seed 0.
SfMLearnerOptions sfmlearner_defaults(Device dev, int seq_length = 3, double mask_weight = 0.2);

// One snippet batch: what the data loader (train/data/loader.h) produces, the step trains on and
// validation scores. tgt [B,3,H,W], srcs [B,S,3,H,W] (the snippet's other frames in time
// order), K [B,3,3] at H x W.
//
// The value range of the images, from loader to loss: [-1,1], (rgb/255 - 0.5)/0.5 (the PyTorch
// port's normalisation). The networks take it, and SfMLearner's L1 photometric term is
// measured in it (the reference fixtures of tests/reference/ and the presets' weights assume
// so: on [0,1] images the term would be half as large). The only conversions:
//   into it     the loader's decode (train/data/loader.cpp) and normalize_images
//               (models/dispnet.h) for Raw255 batches, which the step converts first;
//   out of it   unit_range (models/sfm_loss.h), inside the loss alone, for the parts defined
//               on [0,1] images (SSIM's constants, the edge-aware smoothness weights), and the
//               TensorBoard images (train/data/image_util.h).
// Range::Raw255 (RGB in [0,255]) is for batches made in memory by the benchmarks and tests.
struct SfMBatch {
  enum class Range { Normalized, Raw255 };
  SfMBatch() = default;
  SfMBatch(Tensor tgt, Tensor srcs, Tensor K, Range range = Range::Normalized)
      : tgt(std::move(tgt)), srcs(std::move(srcs)), K(std::move(K)), range(range) {}
  Tensor tgt, srcs, K;
  Range range = Range::Normalized;
  // Ground truth and provenance, from the loader; on the host (the metrics read them there).
  Tensor depth_gt;  // [B,1,H,W] metres, 0 = unknown; undefined when the data set has no depth
  Tensor poses_gt;  // [B,S+1,3,4] camera-to-world of the snippet frames in time order;
                    // undefined unless every scene has poses.txt
  std::vector<std::string> ids;  // "<scene>/<target frame>"
  std::vector<size_t> snippets;  // snippet indices (dataset order)
  int64_t size() const { return tgt.defined() ? tgt.dim(0) : 0; }
  // The one move to a device: tgt, srcs and K on dev (same range); the ground truth and
  // provenance come along as they are.
  SfMBatch to(Device dev) const;
};
// The batch normalised to [-1,1] (the same batch when it already is).
SfMBatch normalized(const SfMBatch& b);

// srcs [B,S,3,H,W] -> S views [B,3,H,W] (PoseExpNet's inputs).
std::vector<Tensor> split_sources(const Tensor& srcs);

// The phases of a step, in order (StepControl::at_phase_end).
enum class StepPhase { Forward, Loss, Backward, Adam };

struct StepControl {
  // Check that the images and K are finite inside the loss (LossConfig::check_finite; each
  // check reads a flag back to the host). false for a step captured into a CUDA graph.
  bool check_inputs = true;
  // Read the total loss back and skip backward and the Adam step when it is not finite (the
  // weights and optimiser state stay as they were). false: no host read-back, always update.
  bool skip_non_finite = true;
  // Called at the end of each phase that runs (the benchmark's per-phase timing,
  // lab/train/step_bench.cpp, synchronises the device and reads its clock there).
  std::function<void(StepPhase)> at_phase_end;
  // Data-parallel training (train/trainer.cpp). all_finite: called once per step after the
  // loss with this rank's verdict (finite, or true without skip_non_finite); returns every
  // rank's, so the step updates on all ranks or on none. average_gradients: after backward,
  // before Adam, with parameters(): replaces each gradient by its mean over the ranks.
  std::function<bool(bool finite)> all_finite;
  std::function<void(const std::vector<Tensor>& params)> average_gradients;
};

// A step's loss terms: detached scalars on the device (holding them keeps no tape alive).
struct StepLosses {
  Tensor total, photometric, smoothness, explainability;  // explainability undefined when the mask is off
  bool updated = false;  // backward and the Adam step ran
  double total_value() const { return total.item(); }
  double photometric_value() const { return photometric.item(); }
  double smoothness_value() const { return smoothness.item(); }
  double explainability_value() const { return explainability.defined() ? explainability.item() : 0.0; }
};

// What forward() computes: the four disparities (finest first), PoseExpNet's output and the loss.
struct SfMForward {
  std::vector<Tensor> disps;
  PoseExpOutput pose;
  LossTerms loss;
};

class SfMLearner {
 public:
  explicit SfMLearner(const SfMLearnerOptions& o);
  SfMLearner(const SfMLearner&) = delete;
  SfMLearner& operator=(const SfMLearner&) = delete;

  // One training step: normalise (Raw255 batches), DispNet and PoseExpNet forward, the
  // four-scale loss, zero_grad, backward, Adam. Throws sfm::Error (naming the input) when the
  // batch holds NaN/Inf and check_inputs is on; then nothing is updated.
  StepLosses step(const SfMBatch& b, const StepControl& c = {});
  // The step's forward: networks and loss, with the tape (unless under NoGradGuard, as in
  // validation), keeping the networks' outputs for metrics and images.
  SfMForward forward(const SfMBatch& b, bool check_inputs = true);
  // Forward and loss only, with the tape (for counting its nodes, or a custom backward).
  LossTerms forward_loss(const SfMBatch& b, bool check_inputs = true);

  DispNet& dispnet() { return *disp_; }
  PoseExpNet& posenet() { return *pose_; }
  Adam& optimizer() { return *adam_; }
  const LossConfig& loss_config() const { return opt_.loss; }
  const SfMLearnerOptions& options() const { return opt_; }
  Device device() const { return opt_.device; }
  // Every optimised parameter and its name ("dispnet.conv1.0.weight", ...), Adam's order.
  const std::vector<Tensor>& parameters() const { return params_; }
  const std::vector<std::string>& parameter_names() const { return names_; }

 private:
  SfMForward run_forward(const SfMBatch& b, bool check_inputs, const std::function<void()>& after_forward);
  SfMLearnerOptions opt_;
  std::unique_ptr<DispNet> disp_;
  std::unique_ptr<PoseExpNet> pose_;
  std::vector<Tensor> params_;
  std::vector<std::string> names_;
  std::unique_ptr<Adam> adam_;
};

}  // namespace sfm
