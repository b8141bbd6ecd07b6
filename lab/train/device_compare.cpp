// `sfm bench train --compare-cpu` (lab/train/device_compare.h).
#include "lab/train/device_compare.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "engine/device_runtime.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/rng.h"
#include "lab/train/random_batch.h"

namespace sfm {

namespace {
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
}  // namespace

// The drift bound for steps >= 1, from a measurement on the CPU (this project's 2-core build
// machine, 2 threads): `sfm bench train --compare-cpu --device cpu --perturb 1e-6
// --perturb-seed K` at the default size (batch 2, 64x208, 3 frames, mask 0.2, 50 steps), for
// K = 777 and 778. Largest relative difference of the total loss over each range of steps:
//   steps  1-4:  3.0e-7, 8.1e-6     steps 20-34: 5.0e-4, 6.4e-4
//   steps  5-19: 4.2e-5, 7.4e-5     steps 35-49: 2.4e-3, 1.6e-3
// (step 0: 9.6e-8 and 1.1e-7). The bound is ~10x the larger of the two in each range, because
// the GPU's rounding differs at every op of every step, not once at the start, so its
// trajectory separates somewhat faster than a single 1e-6 perturbation's. Steps 1-4 keep the
// step-0 bound: a wrong gradient or Adam update changes the step-1 loss by ~1e-2 (the loss
// falls ~12% per step here), far above it. Beyond step 49 the bound is not calibrated (the
// last range's value is used). Each side took 33-46 s for the 50 steps on the 2 cores.
double drift_bound(int step) {
  if (step <= 4) return 1e-4;
  if (step <= 19) return 1e-3;
  if (step <= 34) return 1e-2;
  return 3e-2;
}

void perturb_weights(SfMLearner& m, double rel, uint64_t seed) {
  Rng rng(seed);
  for (const Tensor& p : m.parameters()) {
    std::vector<float> v = p.to_vector();
    for (float& x : v) x = (float)((double)x * (1.0 + rel * rng.uniform(-1.0, 1.0)));
    Tensor dst = p;  // shares storage: Adam keeps its reference
    dst.copy_(Tensor::from_vector(v, p.shape(), p.device()));
  }
}

DeviceComparison::DeviceComparison(const TrainBenchSettings& s, const DeviceCompareOptions& o) : s_(s), o_(o) {
  SFM_CHECK(o.steps >= 1, "sfm bench train --compare-cpu: --steps must be >= 1, got ", o.steps);
  SFM_CHECK(o.perturb >= 0 && o.perturb <= 1e-2, "sfm bench train --compare-cpu: --perturb must be in [0, 1e-2], got ",
            o.perturb);
  const bool cuda = s.dev == Device::CUDA;
  if (cuda && !cuda_available()) {
    available_ = false;
    return;
  }
  if (cuda) {
    impl_ = o.conv_impl;
    const ConvImpl ci = parse_conv_impl(impl_);  // throws on an unknown name
    SFM_CHECK(ci != ConvImpl::HandwrittenTF32,
              "sfm bench train --compare-cpu: the bound is for float32 arithmetic; --conv-impl tf32 rounds each "
              "convolution's inputs to 10 mantissa bits (~1e-3 relative) and is not compared here");
#if !SFM_WITH_CUDNN
    SFM_CHECK(ci != ConvImpl::CuDNN, "sfm bench train --compare-cpu: --conv-impl cudnn: this build has no cuDNN");
#endif
    set_conv_impl(ci);
  }
  exact_ = !cuda && o.perturb == 0;
}

DeviceCompareResult DeviceComparison::run(const std::function<void(const DeviceCompareStep&)>& on_step) const {
  SFM_CHECK(available_, "sfm bench train --compare-cpu --device cuda: no CUDA device is available");
  SfMLearner ref(sfmlearner_defaults(Device::CPU, s_.seq_length, s_.mask_weight));
  SfMLearner other(sfmlearner_defaults(s_.dev, s_.seq_length, s_.mask_weight));
  if (o_.perturb > 0) perturb_weights(other, o_.perturb, o_.perturb_seed);
  DeviceCompareResult res;
  for (int i = 0; i < o_.steps; ++i) {
    const SfMBatch b = random_batch(s_.batch, s_.height, s_.width, s_.sources(), 1000 + (uint64_t)i, Device::CPU);
    auto t0 = Clock::now();
    const double lc = ref.step(b).total_value();
    res.cpu_seconds += seconds_since(t0);
    t0 = Clock::now();
    const double ld = other.step(b.to(s_.dev)).total_value();  // item() waits for the device
    res.device_seconds += seconds_since(t0);
    DeviceCompareStep st;
    st.step = i;
    st.cpu_loss = lc;
    st.loss = ld;
    st.rel_diff = std::fabs(ld - lc) / std::max(std::fabs(lc), 1e-30);
    st.bound = exact_ ? 0.0 : drift_bound(i);
    st.ok = std::isfinite(lc) && std::isfinite(ld) && (exact_ ? ld == lc : st.rel_diff <= st.bound);
    if (!st.ok && res.pass) res.first_failing_step = i;
    res.pass = res.pass && st.ok;
    res.max_rel_diff = std::max(res.max_rel_diff, std::isfinite(st.rel_diff) ? st.rel_diff : INFINITY);
    res.steps.push_back(st);
    if (on_step) on_step(st);
  }
  return res;
}

json DeviceComparison::report(const DeviceCompareResult& r, const std::string& cpu_name) const {
  const bool cuda = s_.dev == Device::CUDA;
  json rows = json::array();
  for (const DeviceCompareStep& st : r.steps)
    rows.push_back({{"step", st.step},
                    {"cpu_loss", st.cpu_loss},
                    {"loss", st.loss},
                    {"rel_diff", st.rel_diff},
                    {"bound", st.bound},
                    {"ok", st.ok}});
  return json{{"tool", "sfm bench train --compare-cpu"},
              {"settings",
               {{"device", cuda ? "cuda" : "cpu"},
                {"device_name", cuda ? cuda_device_name() : cpu_name},
                {"conv_impl", impl_},
                {"batch", s_.batch},
                {"height", s_.height},
                {"width", s_.width},
                {"seq_length", s_.seq_length},
                {"mask_weight", s_.mask_weight},
                {"steps", o_.steps},
                {"perturb", o_.perturb},
                {"threads", cpu_threads()}}},
              {"rule", exact_ ? "bit-identical" : "step 0 <= 1e-4 relative; later steps <= drift_bound(step)"},
              {"steps", rows},
              {"pass", r.pass},
              {"max_rel_diff", r.max_rel_diff},
              {"first_failing_step", r.first_failing_step >= 0 ? json(r.first_failing_step) : json(nullptr)},
              {"cpu_seconds", r.cpu_seconds},
              {"device_seconds", r.device_seconds}};
}

}  // namespace sfm
