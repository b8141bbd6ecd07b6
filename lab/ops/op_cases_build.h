#pragma once
// What the files that build the op case table share (lab/ops/op_cases.cpp assembles it from
// op_cases_conv.cpp, op_cases_pointwise.cpp, op_cases_geometry.cpp and the op_cases_<op>.cpp
// files): the table under construction, the input generators (float64 values that are
// float32-representable) and the rows' roles and cost. Not for use outside lab/ops/.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "lab/ops/op_cases.h"

namespace sfm::lab::cases {

inline double f32(double v) { return (double)(float)v; }

inline Tensor tensor_of(std::vector<double> v, const Shape& s) {
  for (double& x : v) x = f32(x);
  return Tensor::from_vector(v, s);
}
inline Tensor uni(const Shape& s, Rng& rng, double lo, double hi) {
  std::vector<double> v((size_t)s.numel());
  for (double& x : v) x = rng.uniform(lo, hi);
  return tensor_of(std::move(v), s);
}
// Magnitudes in [lo, hi], random signs (away from 0).
inline Tensor signed_uni(const Shape& s, Rng& rng, double lo, double hi) {
  std::vector<double> v((size_t)s.numel());
  for (double& x : v) x = (rng.uniform() < 0.5 ? -1 : 1) * rng.uniform(lo, hi);
  return tensor_of(std::move(v), s);
}
inline Tensor scalar_grad(Rng& rng) { return uni(Shape{1}, rng, 0.5, 2.0); }

inline std::string shape_str(std::initializer_list<int64_t> d) {
  std::ostringstream os;
  os << "[";
  bool first = true;
  for (int64_t x : d) os << (first ? "" : ",") << x, first = false;
  os << "]";
  return os.str();
}
inline std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (int i = 0; i < s.ndim; ++i) os << (i ? "," : "") << s[i];
  os << "]";
  return os.str();
}

inline std::string none_unavailable() { return ""; }

// The table under construction: the device under test decides the implementation rows.
struct Table {
  Device dev;
  std::vector<OpCase> rows;
  std::string dev_impl() const { return dev == Device::CUDA ? "cuda" : "cpu"; }

  OpCase& add(const std::string& family, const std::string& op, ShapeClass sc, const std::string& shape, bool quick,
              std::function<CaseInputs(uint64_t)> make, std::function<std::vector<CaseTensor>(const CaseInputs&, const CaseContext&)> run) {
    OpCase c;
    c.family = family;
    c.op = op;
    c.impl = dev_impl();
    c.shape_class = sc;
    c.shape = shape;
    c.quick = quick;
    c.key = family + "/" + op + "/" + shape_class_name(sc) + "/" + shape;
    c.unavailable = none_unavailable;
    c.make_inputs = std::move(make);
    c.run = std::move(run);
    rows.push_back(std::move(c));
    return rows.back();
  }
};

// A row's tensor roles (see OpCase) and its cost: `moved` float32 elements (every tensor the
// forward and backward read or write, once) and `flops`.
inline void set_roles(OpCase& r, std::vector<ForwardOutput> fwd, std::vector<GradientOf> grads, double moved, double flops = 0) {
  r.forward = std::move(fwd);
  r.gradients = std::move(grads);
  r.bytes = 4 * moved;
  r.flops = flops;
}
inline double numel_of(const Shape& s) { return (double)s.numel(); }

// The families' rows, in the order op_cases() appends them (the random shapes are drawn from
// shape_rng in that order, so a seed names the same shapes as before the table was split).
void add_convolutions(Table& t, Rng& shape_rng);  // op_cases_conv.cpp
void add_elementwise(Table& t, Rng& shape_rng);   // op_cases_pointwise.cpp
void add_shape_ops(Table& t);
void add_reductions(Table& t);
void add_resampling(Table& t, Rng& shape_rng);
void add_pose_vec2mat(Table& t);                  // op_cases_geometry.cpp
void add_warps(Table& t, Rng& shape_rng);
void add_losses(Table& t);
void add_adam(Table& t);

}  // namespace sfm::lab::cases
