#pragma once
// The table of op cases (the idea of ggml's test-backend-ops): every op of engine/ops.h and
// engine/adam.h, each implementation of it on a device, at the shapes SfMLearner trains with
// and at edge shapes. A row says which op, which implementation, which shape; its two
// functions make the inputs (CPU float64 tensors whose values are float32-representable, so
// every dtype and device sees exactly the same numbers) and run forward + backward on a
// given dtype and device, returning the named outputs and gradients.
//
// Rows are data: `sfm selftest` (engine/testing/selftest.h) compares each against its float64
// CPU reference; the same rows are meant to drive the float64 gradient check and the
// benchmarks later (nothing here knows which mode runs it). Only ops from engine/ops.h and
// engine/adam.h: the engine never includes model code.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace sfm::testing {

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
  // A fresh copy of input `name` on this context's dtype and device (a leaf that requires grad
  // when asked), never sharing storage with the inputs.
  Tensor in(const CaseInputs& inputs, const std::string& name, bool requires_grad = false) const;
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
};

// Every row for a device under test (CUDA: one row per convolution implementation; CPU: its
// one implementation). seed picks the "random" class's shapes.
std::vector<OpCase> op_cases(Device device, uint64_t seed);

// The seed of a case's inputs: the run's seed mixed with the case's key.
uint64_t case_seed(uint64_t run_seed, const std::string& key);

}  // namespace sfm::testing
