// `sfm bench ops` rows (lab/ops/op_bench.h) for the convolution family: conv2d / conv_transpose2d forward and
// backward at every DispNet and PoseExpNet layer shape (the layer table of models/sfm_layers.h
// at the batch x height x width of the context),
// and the resampling ops at the shapes the models and the loss use.
//
// Backward rows time the op's own backward closure (the autograd node's function: activation
// gradient, bias gradient, data and weight gradients), without the tape's accumulation. The
// node is built once, on the row's first (untimed) call, on a helper thread: the bench driver
// runs under a NoGradGuard, and grad mode is per thread.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "lab/ops/op_bench.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "models/sfm_layers.h"

namespace sfm::lab {

namespace {

// "dispnet conv1a 3->32 k7 s2 @128x416": the layer's own channels and input size.
std::string layer_desc(const ConvLayer& l) {
  const Shape in = l.in_shape();
  return l.spec.full_name() + " " + std::to_string(l.spec.in_channels) + "->" + std::to_string(l.spec.out_channels) +
         " k" + std::to_string(l.spec.k) + " s" + std::to_string(l.spec.stride) + " @" + std::to_string(in[2]) + "x" +
         std::to_string(in[3]);
}

// Tensors of one layer, created on the row's first call.
struct LayerState {
  Tensor x, w, b, gy;
  std::shared_ptr<Node> node;  // backward rows: the op's autograd node
};

void init_layer(const ConvLayer& l, Device dev, bool backward, LayerState& st) {
  Rng rng(17);
  const double scale = 1.0 / double(l.spec.in_channels * l.spec.k * l.spec.k);
  st.x = rand_uniform(l.in_shape(), rng, -1, 1, DType::F32, dev);
  st.w = rand_uniform(l.weight_shape(), rng, -scale, scale, DType::F32, dev);
  st.b = rand_uniform(Shape{l.out_channels()}, rng, -0.1, 0.1, DType::F32, dev);
  if (!backward) return;
  st.x.set_requires_grad(!l.spec.image_input);
  st.w.set_requires_grad(true);
  st.b.set_requires_grad(true);
  Tensor y;
  std::thread t([&] { y = apply_layer(l.spec, st.x, st.w, st.b); });  // grad mode is on in a fresh thread
  t.join();
  st.node = y.grad_fn();
  SFM_CHECK(st.node != nullptr, "bench conv: no autograd node recorded for ", l.spec.full_name());
  st.gy = rand_uniform(y.shape(), rng, -1, 1, DType::F32, dev);
}

}  // namespace

std::vector<BenchRow> conv_rows(const BenchContext& ctx) {
  std::vector<BenchRow> rows;
  // Every layer of both networks (models/sfm_layers.h; PoseExpNet with 2 sources and its
  // mask decoder) at the context's batch and image size.
  for (const ConvLayer& l : sfmlearner_conv_layers(ctx.batch, ctx.height, ctx.width)) {
    const ConvGeom& g = l.geom;
    // Multiply-adds of the GEMM: every (output pixel, tap) pair of the convolution (for a
    // transposed layer: of the convolution it is the adjoint of, i.e. every input pixel and tap).
    const double fwd_flops = l.flops();
    const double io_bytes = 4.0 * (g.N * g.C * g.H * g.W + g.N * g.O * g.P() + g.O * g.K());
    const bool input_grad = !l.spec.image_input;  // the image needs no gradient
    const std::string op = l.spec.transposed ? "conv_transpose2d" : "conv2d";
    const std::string desc = layer_desc(l);
    const Device dev = ctx.device;
    auto fst = std::make_shared<LayerState>();
    rows.push_back({op + " fwd", desc, fwd_flops, io_bytes, [l, dev, fst] {
                      if (!fst->x.defined()) init_layer(l, dev, false, *fst);
                      Tensor y = apply_layer(l.spec, fst->x, fst->w, fst->b);
                    }});
    auto bst = std::make_shared<LayerState>();
    rows.push_back({op + " bwd", desc + (input_grad ? "" : " (no dx)"), fwd_flops * (input_grad ? 2 : 1),
                    2 * io_bytes, [l, dev, bst] {
                      if (!bst->node) init_layer(l, dev, true, *bst);
                      std::vector<Tensor> g = bst->node->backward(bst->gy);
                    }});
  }
  return rows;
}


// ---- resampling: disparity upsampling (DispNet decoder), image and disparity area pyramids (loss)

std::vector<BenchRow> resample_rows(const BenchContext& ctx) {
  std::vector<BenchRow> rows;
  const int64_t N = ctx.batch, H = ctx.height, W = ctx.width;
  const Device dev = ctx.device;
  struct R {
    std::string op, shape;
    Shape in;
    int kind;  // 0 upsample, 1 downsample_area x2^f, 2 backward of upsample
    int f;
  };
  std::vector<R> rs;
  for (int s = 3; s >= 1; --s) {
    Shape in{N, 1, (H + (1 << s) - 1) >> s, (W + (1 << s) - 1) >> s};
    rs.push_back({"upsample_bilinear2x fwd", "disp " + in.str(), in, 0, 0});
    rs.push_back({"upsample_bilinear2x bwd", "disp " + in.str(), in, 2, 0});
  }
  for (int s = 1; s <= 3; ++s)
    if (H % (1 << s) == 0 && W % (1 << s) == 0)
      rs.push_back({"downsample_area fwd", "3 images x" + std::to_string(1 << s) + " " + Shape{N * 3, 3, H, W}.str(),
                    Shape{N * 3, 3, H, W}, 1, 1 << s});
  for (const R& r : rs) {
    const double in_bytes = 4.0 * r.in.numel();
    const double out_bytes = r.kind == 1 ? in_bytes / (r.f * r.f) : 4 * in_bytes;
    auto st = std::make_shared<LayerState>();
    rows.push_back({r.op, r.shape, 0, in_bytes + out_bytes, [r, dev, st] {
                      if (!st->x.defined()) {
                        Rng rng(3);
                        st->x = rand_uniform(r.in, rng, 0, 1, DType::F32, dev);
                        if (r.kind == 2) {
                          Tensor y;
                          st->x.set_requires_grad(true);
                          std::thread t([&] { y = upsample_bilinear2x(st->x); });
                          t.join();
                          st->node = y.grad_fn();
                          st->gy = rand_uniform(y.shape(), rng, -1, 1, DType::F32, dev);
                        }
                      }
                      if (r.kind == 0) Tensor y = upsample_bilinear2x(st->x);
                      if (r.kind == 1) Tensor y = downsample_area(st->x, r.f);
                      if (r.kind == 2) std::vector<Tensor> g = st->node->backward(st->gy);
                    }});
  }
  return rows;
}



}  // namespace sfm::lab
