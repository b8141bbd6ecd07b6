#pragma once
// The table of op cases (the idea of ggml's test-backend-ops): every op of engine/ops.h and
// engine/adam.h, each implementation of it on a device, at the shapes SfMLearner trains with
// and at edge shapes. A row says which op, which implementation, which shape; its two
// functions make the inputs (CPU float64 tensors whose values are float32-representable, so
// every dtype and device sees exactly the same numbers) and run forward + backward on a
// given dtype and device, returning the named outputs and gradients.
//
// Rows are data, and the same rows run in every mode of `sfm selftest` (lab/ops/selftest.h;
// nothing here knows which mode runs it):
//   compare    each row in float32 on the device under test against its float64 CPU reference;
//   gradcheck  each CPU row with a backward: float64 central finite differences of
//              L = sum_k <y_k, g_k> against the row's own analytic gradients (the roles below);
//   time       each row's forward + backward timed on the device (flops / bytes below).
// The ops of engine/ops.h and engine/adam.h; the convolution rows at the training size are the
// networks' layers (models/sfm_layers.h), so the table lives in lab/, above models/.
//
// Adding a row: a make_inputs and a run (as the rows of op_cases.cpp), the tensor roles
// (`forward`, `gradients`; empty for an op without a backward) and, where known, `flops` and
// `bytes`. A new file op_cases_<name>.cpp appends its rows from a function op_cases() calls
// (op_cases.cpp); op_cases_build.h has the helpers the rows share.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace sfm::lab {

enum class ShapeClass { SfMLearner, Edge, Random };
const char* shape_class_name(ShapeClass c);  // "sfmlearner", "edge", "random"

// How far a float32 output may lie from its float64 reference. The bound of each class and
// its reason are in one place: selftest.cpp, tolerance().
enum class TolClass {
  Exact,        // copies and selections: bitwise equal values
  Elementwise,  // a few roundings per element (transcendental functions included)
  Resample,     // bilinear x2 (weights multiples of 1/4) and area bins
  Reduction,    // long sums accumulated in double, rounded once
  ConvSum,      // convolutions: sums of C k^2 or N Ho Wo products in another order (TF32: 10-bit operands)
  Warp,         // values through a projected coordinate computed in float32 (scale = max(H, W))
};
const char* tol_class_name(TolClass c);

// One named result of a case: an output or a gradient.
struct CaseTensor {
  std::string name;  // "y", "grad x", "loss"
  Tensor value;
  TolClass tol = TolClass::Elementwise;
  double scale = 0;  // TolClass::Warp: the largest pixel coordinate, max(H, W)
};

// The inputs of a case: CPU float64 tensors (leaves and upstream gradients), by name.
using CaseInputs = std::map<std::string, Tensor>;

// Where and how a case runs.
struct CaseContext {
  DType dtype = DType::F32;
  Device device = Device::CPU;
  // The row's implementation; "" = leave the op's selection alone (the float64 reference).
  std::string impl;
  // The gradient check's perturbed evaluations: no input is made to require grad, so no tape is
  // recorded, a row's backward() call returns at once and its gradients come back undefined.
  bool forward_only = false;
  // The timing mode: the inputs were converted to dtype and device once, outside the timed
  // region, and in() hands out those very tensors (their gradients reset) instead of copies. A
  // row's run must then not write into its inputs except through gradients (adam's in-place
  // step of its parameters is harmless to a timing).
  bool share_inputs = false;
  // Input `name` on this context's dtype and device (a leaf that requires grad when asked and
  // forward_only is off): a fresh copy that never shares storage with the inputs, except under
  // share_inputs.
  Tensor in(const CaseInputs& inputs, const std::string& name, bool requires_grad = false) const;
};

// The roles of a row's tensors, which the gradient check reads (names, not guesses from them).
struct ForwardOutput {
  std::string output;    // a forward value the run returns ("y", "loss")
  std::string upstream;  // the input holding its upstream gradient ("g"); "" = not differentiated (a 0/1 mask)
};
struct GradientOf {
  std::string gradient;  // a gradient the run returns ("grad x")
  std::string leaf;      // the input it is the gradient of ("x"): a differentiable leaf
};

struct OpCase {
  std::string family;  // "conv", "elementwise", "shape", "reduce", "resample", "geometry", "loss", "optim"
  std::string op;      // "conv2d", "inverse_warp", ...
  std::string impl;    // "handwritten", "tf32", "cudnn", "cublas"; "cpu" / "cuda" where an op has one
  ShapeClass shape_class = ShapeClass::Edge;
  std::string shape;   // human-readable shape and variant: "[4,3,128,416] k7 s2 p3 relu (dispnet conv1a)"
  bool quick = false;  // in the quick selection (small shapes)
  // Rows with equal keys have identical inputs (and share one reference); the key also seeds them.
  std::string key;
  // "" when the row can run here; otherwise why not (the row is reported SKIPPED).
  std::function<std::string()> unavailable;
  // The inputs for a seed.
  std::function<CaseInputs(uint64_t seed)> make_inputs;
  // Forward + backward on ctx: the named outputs and gradients.
  std::function<std::vector<CaseTensor>(const CaseInputs& inputs, const CaseContext& ctx)> run;

  // Roles, for the gradient check: every tensor the run returns is in exactly one of the two
  // lists, and the run's backward seeds each forward output with its upstream input, so its
  // gradients are those of L = sum_k <y_k, g_k>. Both empty: the op has no backward (adam).
  std::vector<ForwardOutput> forward;
  std::vector<GradientOf> gradients;
  // Elements of a leaf placed on a kink on purpose, which the compare mode checks there (the
  // explainability loss's log clamp): a finite difference across a kink is no derivative, so the
  // gradient check does not perturb them. Leaf name -> flat indices.
  std::map<std::string, std::vector<int64_t>> kink_elements;

  // Cost of one forward + backward, for the timing mode (0 = not stated): floating-point
  // operations, and the fewest bytes moved in float32 (every tensor read or written once).
  double flops = 0, bytes = 0;
};

// Every row for a device under test (CUDA: one row per convolution implementation; CPU: its
// one implementation). seed picks the "random" class's shapes.
std::vector<OpCase> op_cases(Device device, uint64_t seed);

// The seed of a case's inputs: the run's seed mixed with the case's key.
uint64_t case_seed(uint64_t run_seed, const std::string& key);

}  // namespace sfm::lab
