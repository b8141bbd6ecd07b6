#pragma once
// Argument checks shared by every op; each message names the op, the argument, what it got
// and what was expected.
#include <string>

#include "engine/tensor.h"

namespace sfm {

inline void check_defined(const char* op, const char* arg, const Tensor& t) {
  SFM_CHECK(t.defined(), op, ": argument '", arg, "' is undefined");
}
inline void check_rank(const char* op, const char* arg, const Tensor& t, int rank, const char* layout) {
  check_defined(op, arg, t);
  SFM_CHECK(t.ndim() == rank, op, ": argument '", arg, "' must be ", rank, "-d ", layout, ", got shape ",
            t.shape().str());
}
inline void check_dim(const char* op, const char* arg, const Tensor& t, int i, int64_t expect, const char* what) {
  SFM_CHECK(t.dim(i) == expect, op, ": argument '", arg, "' has shape ", t.shape().str(), ", expected ", what,
            " (dim ", i, ") = ", expect);
}
inline void check_shape(const char* op, const char* arg, const Tensor& t, const Shape& expect) {
  check_defined(op, arg, t);
  SFM_CHECK(t.shape() == expect, op, ": argument '", arg, "' has shape ", t.shape().str(), ", expected ",
            expect.str());
}
// Same device and dtype as the reference argument.
inline void check_like(const char* op, const char* arg, const Tensor& t, const char* ref_arg, const Tensor& ref) {
  check_defined(op, arg, t);
  SFM_CHECK(t.device() == ref.device(), op, ": argument '", arg, "' is on ", device_name(t.device()), " but '",
            ref_arg, "' is on ", device_name(ref.device()));
  SFM_CHECK(t.dtype() == ref.dtype(), op, ": argument '", arg, "' is ", dtype_name(t.dtype()), " but '", ref_arg,
            "' is ", dtype_name(ref.dtype()));
}
inline void check_nonempty(const char* op, const char* arg, const Tensor& t) {
  SFM_CHECK(t.numel() > 0, op, ": argument '", arg, "' is empty, shape ", t.shape().str());
}

// Calls f with a value of the tensor's element type (float or double): f(float{}) or f(double{}).
template <class F>
decltype(auto) dispatch_float(DType t, F&& f) {
  if (t == DType::F32) return f(float{});
  return f(double{});
}

}  // namespace sfm
