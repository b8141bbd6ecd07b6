#pragma once
// Argument checks shared by every op; each message names the op, the argument, what it got
// and what was expected.
#include <cstddef>
#include <string>
#include <type_traits>

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

// The view-synthesis inputs of the photometric losses (photometric_loss, min_reprojection_loss):
// tgt [B,C,H,W], srcs [B,S,C,H,W] with S >= 1, depth [B,1,H,W], poses [B,S,6], K [B,3,3], all on
// tgt's device and of its dtype.
struct ViewSynthesisDims {
  int64_t B, S, C, H, W;
};
inline ViewSynthesisDims check_view_synthesis_inputs(const char* op, const Tensor& tgt, const Tensor& srcs,
                                                     const Tensor& depth, const Tensor& poses, const Tensor& K) {
  check_rank(op, "tgt", tgt, 4, "[B,C,H,W]");
  check_nonempty(op, "tgt", tgt);
  const int64_t B = tgt.dim(0), C = tgt.dim(1), H = tgt.dim(2), W = tgt.dim(3);
  check_like(op, "srcs", srcs, "tgt", tgt);
  check_rank(op, "srcs", srcs, 5, "[B,S,C,H,W]");
  const int64_t S = srcs.dim(1);
  SFM_CHECK(S >= 1, op, ": argument 'srcs' has shape ", srcs.shape().str(), ", expected at least one source (dim 1)");
  check_shape(op, "srcs", srcs, Shape{B, S, C, H, W});
  check_like(op, "depth", depth, "tgt", tgt);
  check_shape(op, "depth", depth, Shape{B, 1, H, W});
  check_like(op, "poses", poses, "tgt", tgt);
  check_shape(op, "poses", poses, Shape{B, S, 6});
  check_like(op, "K", K, "tgt", tgt);
  check_shape(op, "K", K, Shape{B, 3, 3});
  return {B, S, C, H, W};
}

// Calls f with a value of the tensor's element type (float or double): f(float{}) or f(double{}).
template <class F>
decltype(auto) dispatch_float(DType t, F&& f) {
  if (t == DType::F32) return f(float{});
  return f(double{});
}

// Runs an op's implementation on the device of `like`: cpu(T{}) with T = float or double on
// the CPU, cuda() on CUDA (float32 only). cuda is nullptr in a build without the CUDA backend,
// where a CUDA tensor is an error naming the op. Ops call it through SFM_BACKEND_CALL, which
// writes both branches from one argument list (the CPU and CUDA functions of an op take the
// same signature: the typed boundary of boundary/op_types.h).
template <class Cpu, class Cuda>
void on_device(const char* op, const Tensor& like, Cpu&& cpu, Cuda&& cuda) {
  if (like.device() == Device::CUDA) {
    if constexpr (std::is_same_v<std::decay_t<Cuda>, std::nullptr_t>) {
      fail(op, ": a CUDA tensor, but this build has no CUDA backend");
    } else {
      SFM_CHECK(like.dtype() == DType::F32, op, ": CUDA supports float32 only, got ", dtype_name(like.dtype()));
      cuda();
    }
    return;
  }
  dispatch_float(like.dtype(), cpu);
}

}  // namespace sfm

// SFM_BACKEND_CALL(op, like, fn, args...): cpu::fn<T>(args...) or cuda::fn(args...) on the
// device of `like`; inside args, T is the element type (float on CUDA), e.g.
//   SFM_BACKEND_CALL("upsample_bilinear2x", x, upsample2x_forward, x.data<T>(), y.data<T>(), planes, H, W);
#if SFM_WITH_CUDA
#define SFM_BACKEND_CUDA_BRANCH(fn, ...) \
  [&]() {                               \
    using T = float;                    \
    ::sfm::cuda::fn(__VA_ARGS__);       \
  }
#else
#define SFM_BACKEND_CUDA_BRANCH(fn, ...) nullptr
#endif
#define SFM_BACKEND_CPU_BRANCH(fn, ...)                 \
  [&](auto sfm_backend_tag) {                           \
    using T = decltype(sfm_backend_tag);                \
    ::sfm::cpu::fn<T>(__VA_ARGS__);                     \
  }
#define SFM_BACKEND_CALL(op, like, fn, ...) \
  ::sfm::on_device(op, like, SFM_BACKEND_CPU_BRANCH(fn, __VA_ARGS__), SFM_BACKEND_CUDA_BRANCH(fn, __VA_ARGS__))
// SFM_BACKEND_CALL_CONV(op, like, impl, fn, args...): the same for the convolution family,
// whose CUDA launchers take the implementation choice (ConvImpl) before the CPU function's
// arguments: cpu::fn<T>(args...) or cuda::fn(impl, args...). impl is evaluated on CUDA only.
#define SFM_BACKEND_CALL_CONV(op, like, impl, fn, ...) \
  ::sfm::on_device(op, like, SFM_BACKEND_CPU_BRANCH(fn, __VA_ARGS__), SFM_BACKEND_CUDA_BRANCH(fn, impl, __VA_ARGS__))
