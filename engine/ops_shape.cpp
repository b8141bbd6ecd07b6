// Shape ops: channel concat and slice, top-left crop, reshape.
#include "engine/autograd.h"
#include "cpu/shape.h"
#include "engine/op_checks.h"
#include "engine/ops.h"
#if SFM_WITH_CUDA
#include "kernels/shape.h"
#endif

namespace sfm {

namespace {

// dst[:, c0:c0+C_src] = src (both NC..., same trailing dims), or the reverse when gather.
void channel_block_copy(const Tensor& src, const Tensor& dst, int64_t c0, bool gather) {
  // In "scatter" mode src is the small tensor written into dst at channel c0; in "gather"
  // mode the channels [c0, c0 + C_dst) of src are read into dst.
  const Tensor& small = gather ? dst : src;
  const Tensor& big = gather ? src : dst;
  int64_t N = big.dim(0);
  int64_t inner = big.numel() / (N * big.dim(1));  // elements per channel
  int64_t len = small.dim(1) * inner;
  int64_t big_stride = big.dim(1) * inner;
  int64_t off = c0 * inner;
  if (gather)
    SFM_BACKEND_CALL("slice_channels", big, copy_blocks, src.data<T>() + off, big_stride, dst.data<T>(), len, len, N);
  else
    SFM_BACKEND_CALL("concat_channels", big, copy_blocks, src.data<T>(), len, dst.data<T>() + off, big_stride, len, N);
}

}  // namespace

Tensor concat_channels(const std::vector<Tensor>& xs) {
  const char* op = "concat_channels";
  SFM_CHECK(!xs.empty(), op, ": no tensors given");
  check_defined(op, "xs[0]", xs[0]);
  SFM_CHECK(xs[0].ndim() >= 2, op, ": argument 'xs[0]' must have a channel dim, got shape ", xs[0].shape().str());
  Shape out_shape = xs[0].shape();
  int64_t C = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    std::string arg = "xs[" + std::to_string(i) + "]";
    check_like(op, arg.c_str(), xs[i], "xs[0]", xs[0]);
    Shape s = xs[i].shape();
    bool ok = s.ndim == out_shape.ndim;
    for (int d = 0; ok && d < s.ndim; ++d)
      if (d != 1 && s[d] != out_shape[d]) ok = false;
    SFM_CHECK(ok, op, ": argument '", arg, "' has shape ", s.str(), ", which differs from xs[0] ",
              out_shape.str(), " outside the channel dim");
    C += s[1];
  }
  out_shape[1] = C;
  Tensor out = Tensor::empty(out_shape, xs[0].dtype(), xs[0].device());
  int64_t c0 = 0;
  std::vector<int64_t> starts;
  for (const Tensor& x : xs) {
    starts.push_back(c0);
    channel_block_copy(x, out, c0, /*gather=*/false);
    c0 += x.dim(1);
  }
  return record(op, out, xs, [xs, starts](const Tensor& g) -> std::vector<Tensor> {
    std::vector<Tensor> gs(xs.size());
    for (size_t i = 0; i < xs.size(); ++i) {
      if (!xs[i].requires_grad() && !xs[i].grad_fn()) continue;
      gs[i] = Tensor::empty(xs[i].shape(), g.dtype(), g.device());
      channel_block_copy(g, gs[i], starts[i], /*gather=*/true);
    }
    return gs;
  });
}

Tensor slice_channels(const Tensor& x, int64_t c0, int64_t c1) {
  const char* op = "slice_channels";
  check_defined(op, "x", x);
  SFM_CHECK(x.ndim() >= 2 && 0 <= c0 && c0 < c1 && c1 <= x.dim(1), op, ": channels [", c0, ", ", c1,
            ") of a tensor with shape ", x.shape().str());
  Shape s = x.shape();
  s[1] = c1 - c0;
  Tensor out = Tensor::empty(s, x.dtype(), x.device());
  channel_block_copy(x, out, c0, /*gather=*/true);
  return record(op, out, {x}, [x, c0](const Tensor& g) -> std::vector<Tensor> {
    Tensor gx = Tensor::zeros(x.shape(), g.dtype(), g.device());
    channel_block_copy(g, gx, c0, /*gather=*/false);
    return {gx};
  });
}

Tensor crop(const Tensor& x, int64_t h, int64_t w) {
  const char* op = "crop";
  check_rank(op, "x", x, 4, "[N,C,H,W]");
  int64_t H = x.dim(2), W = x.dim(3);
  SFM_CHECK(0 < h && h <= H && 0 < w && w <= W, op, ": cannot crop ", x.shape().str(), " to ", h, "x", w);
  if (h == H && w == W) return x;  // free: nothing is cut
  int64_t planes = x.dim(0) * x.dim(1);
  Tensor out = Tensor::empty(Shape{x.dim(0), x.dim(1), h, w}, x.dtype(), x.device());
  auto run = [](const Tensor& src, const Tensor& dst, int64_t planes, int64_t H, int64_t W, int64_t h, int64_t w,
                bool forward) {
    if (forward)
      SFM_BACKEND_CALL("crop", src, crop_planes, src.data<T>(), dst.data<T>(), planes, H, W, h, w);
    else
      SFM_BACKEND_CALL("crop backward", src, uncrop_planes, src.data<T>(), dst.data<T>(), planes, H, W, h, w);
  };
  run(x, out, planes, H, W, h, w, true);
  return record(op, out, {x}, [x, planes, H, W, h, w, run](const Tensor& g) -> std::vector<Tensor> {
    Tensor gx = Tensor::empty(x.shape(), g.dtype(), g.device());
    run(g, gx, planes, H, W, h, w, false);
    return {gx};
  });
}

Tensor reshape(const Tensor& x, const Shape& s) {
  check_defined("reshape", "x", x);
  SFM_CHECK(s.numel() == x.numel(), "reshape: cannot reshape ", x.shape().str(), " to ", s.str());
  Tensor out = x.view(s);
  Shape in_shape = x.shape();
  return record("reshape", out, {x}, [in_shape](const Tensor& g) -> std::vector<Tensor> { return {g.view(in_shape)}; });
}

}  // namespace sfm
