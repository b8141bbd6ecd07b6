// The op case table (see op_cases.h), assembled from its families' files (op_cases_conv.cpp,
// op_cases_pointwise.cpp, op_cases_geometry.cpp, op_cases_<op>.cpp). Inputs are drawn in float64 from the case's seed and
// rounded to float32 values, so the float64 reference and a float32 run see the same numbers.
//
// Discontinuities. Some ops have a derivative (or a value) that jumps at a point: ReLU and
// |x| at 0, a bilinear sample where the projected coordinate crosses an integer (a cell edge,
// or the view border where a zeros-padded sample drops to 0, or a border clamp), |tgt - warp|
// where the difference is 0. A float32 run lands within rounding of its float64 reference,
// so an input within rounding of such a point would compare two different branches. The
// cases avoid it (nothing is left out of a comparison):
//   * elementwise: inputs of relu/abs/sigmoid/affine have magnitudes >= 0.05;
//   * convolutions with a fused ReLU: the upstream gradient is 0 where the float64
//     pre-activation is within 1% of its largest magnitude of 0 (what tests/test_gpu_dispatch.cpp
//     does; 1% also covers TF32's 10-bit operand rounding);
//   * inverse_warp / photometric_loss: after drawing the scene, the projection of every pixel
//     is computed in float64 with the engine's own math (boundary/math/warp_math.h); where u or v
//     is within 2e-3 px of an integer (float32 coordinates carry errors up to ~1e-4 px at
//     416 px; the Warp bound allows 4e-4), that pixel's depth is drawn again, and for the
//     photometric loss, where |tgt - sample| < 1e-3 in a channel (a float32 sample is within
//     ~1e-4 of the float64 one), that target value is drawn again; a batch entry that
//     still has such a pixel after 40 rounds gets new poses. The scenes then have no pixel near
//     a jump, and every output and gradient is compared everywhere;
//   * smoothness_loss: inputs are multiples of 1/64 in (0, 10], so every first and second
//     difference is exact in float32 (a zero is an exact zero on both sides, where both take
//     d|e|/de = 0).
#include "lab/ops/op_cases.h"

#include "engine/hash.h"
#include "lab/ops/op_cases_build.h"
#include "lab/ops/op_cases_min_reprojection.h"
#include "lab/ops/op_cases_smooth_upsample.h"

namespace sfm::lab {

const char* shape_class_name(ShapeClass c) {
  switch (c) {
    case ShapeClass::SfMLearner: return "sfmlearner";
    case ShapeClass::Edge: return "edge";
    case ShapeClass::Random: return "random";
  }
  return "?";
}

const char* tol_class_name(TolClass c) {
  switch (c) {
    case TolClass::Exact: return "exact";
    case TolClass::Elementwise: return "elementwise";
    case TolClass::Resample: return "resample";
    case TolClass::Reduction: return "reduction";
    case TolClass::ConvSum: return "conv";
    case TolClass::Warp: return "warp";
  }
  return "?";
}

Tensor CaseContext::in(const CaseInputs& inputs, const std::string& name, bool requires_grad) const {
  auto it = inputs.find(name);
  SFM_CHECK(it != inputs.end(), "op case: no input named '", name, "'");
  Tensor t;
  if (share_inputs && it->second.dtype() == dtype && it->second.device() == device) {
    t = it->second;
    t.set_grad(Tensor());   // a timed repetition starts without the previous one's gradient
    t.set_requires_grad(false);
  } else {
    t = it->second.clone();
    if (dtype != t.dtype()) t = t.to(dtype);
    if (device != t.device()) t = t.to(device);
  }
  if (requires_grad && !forward_only) t.set_requires_grad(true);
  return t;
}

uint64_t case_seed(uint64_t run_seed, const std::string& key) {
  const uint64_t h = fnv1a64(key);  // then a splitmix64 finaliser
  uint64_t z = run_seed + 0x9e3779b97f4a7c15ull * (h | 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::vector<OpCase> op_cases(Device device, uint64_t seed) {
  using namespace cases;
  Table t{device, {}};
  Rng shape_rng(case_seed(seed, "random shapes"));
  add_convolutions(t, shape_rng);
  add_elementwise(t, shape_rng);
  add_shape_ops(t);
  add_reductions(t);
  add_resampling(t, shape_rng);
  add_pose_vec2mat(t);
  add_warps(t, shape_rng);
  add_losses(t);
  add_adam(t);
  add_min_reprojection_cases(t.rows, device, seed);
  add_smooth_upsample_cases(t.rows, device, seed);
  return t.rows;
}

}  // namespace sfm::lab
