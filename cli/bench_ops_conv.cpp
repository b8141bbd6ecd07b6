// `sfm bench ops` rows for the convolution family: conv2d / conv_transpose2d forward and
// backward at every DispNet and PoseExpNet layer shape (batch x height x width of the context),
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

#include "cli/bench.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/rng.h"

namespace sfm::cli {

namespace {

struct Layer {
  std::string name;  // "dispnet conv1a"
  int64_t cin, cout;
  int k, s, p, op;
  bool transposed;
  int64_t h, w;      // input size
  Activation act;
  bool input_grad;   // false for a network's first layer (the image needs no gradient)
};

int64_t conv_out(int64_t n, int k, int s, int p) { return (n + 2 * p - k) / s + 1; }

// The layers of DispNet and PoseExpNet (as in the reference architecture) at input size H x W.
std::vector<Layer> sfm_layers(int64_t H, int64_t W) {
  std::vector<Layer> L;
  auto conv = [&](std::string name, int64_t cin, int64_t cout, int k, int s, int64_t h, int64_t w, Activation act,
                  bool input_grad = true) {
    L.push_back({std::move(name), cin, cout, k, s, (k - 1) / 2, 0, false, h, w, act, input_grad});
  };
  auto upconv = [&](std::string name, int64_t cin, int64_t cout, int k, int p, int op, int64_t h, int64_t w) {
    L.push_back({std::move(name), cin, cout, k, 2, p, op, true, h, w, Activation::ReLU, true});
  };
  // ---- DispNet: encoder of 7 stride-2 blocks
  const int enc_c[7] = {32, 64, 128, 256, 512, 512, 512}, enc_k[7] = {7, 5, 3, 3, 3, 3, 3};
  int64_t hs[8] = {H}, ws[8] = {W};  // hs[i]: size after block i (hs[0]: input)
  int64_t cin = 3;
  for (int i = 0; i < 7; ++i) {
    const int k = enc_k[i];
    hs[i + 1] = conv_out(hs[i], k, 2, (k - 1) / 2);
    ws[i + 1] = conv_out(ws[i], k, 2, (k - 1) / 2);
    const std::string b = "dispnet conv" + std::to_string(i + 1);
    conv(b + "a", cin, enc_c[i], k, 2, hs[i], ws[i], Activation::ReLU, i > 0);
    conv(b + "b", enc_c[i], enc_c[i], k, 1, hs[i + 1], ws[i + 1], Activation::ReLU);
    cin = enc_c[i];
  }
  // ---- DispNet decoder: level l = 7..1 upsamples from size hs[l] to the skip's size hs[l-1].
  const int dec_c[8] = {0, 16, 32, 64, 128, 256, 512, 512};  // dec_c[l]: channels of upconv l / iconv l
  int64_t prev = 512;
  for (int l = 7; l >= 1; --l) {
    const std::string s = std::to_string(l);
    upconv("dispnet upconv" + s, prev, dec_c[l], 3, 1, 1, hs[l], ws[l]);
    const int64_t skip = l > 1 ? enc_c[l - 2] : 0;      // conv(l-1) output channels; none at full size
    const int64_t disp = (l <= 3) ? 1 : 0;              // upsampled disparity of the level below
    conv("dispnet iconv" + s, dec_c[l] + skip + disp, dec_c[l], 3, 1, hs[l - 1], ws[l - 1], Activation::ReLU);
    if (l <= 4)
      conv("dispnet disp" + s, dec_c[l], 1, 3, 1, hs[l - 1], ws[l - 1], Activation::Sigmoid);
    prev = dec_c[l];
  }
  // ---- PoseExpNet: 7 stride-2 convs on target + 2 sources (9 channels)
  const int pc[7] = {16, 32, 64, 128, 256, 256, 256}, pk[7] = {7, 5, 3, 3, 3, 3, 3};
  int64_t ph[8] = {H}, pw[8] = {W};
  cin = 9;
  for (int i = 0; i < 7; ++i) {
    ph[i + 1] = conv_out(ph[i], pk[i], 2, (pk[i] - 1) / 2);
    pw[i + 1] = conv_out(pw[i], pk[i], 2, (pk[i] - 1) / 2);
    conv("posenet conv" + std::to_string(i + 1), cin, pc[i], pk[i], 2, ph[i], pw[i], Activation::ReLU, i > 0);
    cin = pc[i];
  }
  conv("posenet pose_pred", 256, 12, 1, 1, ph[7], pw[7], Activation::None);
  // Explainability decoder: upconv l from the size of conv l (cropped to conv l-1's), k4 s2 p1.
  const int ec[6] = {0, 16, 32, 64, 128, 256};
  prev = 256;
  for (int l = 5; l >= 1; --l) {
    upconv("posenet upconv" + std::to_string(l), prev, ec[l], 4, 1, 0, ph[l], pw[l]);
    if (l <= 4) conv("posenet mask" + std::to_string(l), ec[l], 2, 3, 1, ph[l - 1], pw[l - 1], Activation::Sigmoid);
    prev = ec[l];
  }
  return L;
}

std::string layer_desc(const Layer& l) {
  return l.name + " " + std::to_string(l.cin) + "->" + std::to_string(l.cout) + " k" + std::to_string(l.k) + " s" +
         std::to_string(l.s) + " @" + std::to_string(l.h) + "x" + std::to_string(l.w);
}

// Tensors of one layer, created on the row's first call.
struct LayerState {
  Tensor x, w, b, gy;
  std::shared_ptr<Node> node;  // backward rows: the op's autograd node
};

Tensor run_layer(const Layer& l, const Tensor& x, const Tensor& w, const Tensor& b) {
  return l.transposed ? conv_transpose2d(x, w, b, l.s, l.p, l.op, l.act) : conv2d(x, w, b, l.s, l.p, l.act);
}

void init_layer(const Layer& l, int64_t batch, Device dev, bool backward, LayerState& st) {
  Rng rng(17);
  const double scale = 1.0 / double(l.cin * l.k * l.k);
  st.x = rand_uniform(Shape{batch, l.cin, l.h, l.w}, rng, -1, 1, DType::F32, dev);
  st.w = rand_uniform(l.transposed ? Shape{l.cin, l.cout, l.k, l.k} : Shape{l.cout, l.cin, l.k, l.k}, rng, -scale,
                      scale, DType::F32, dev);
  st.b = rand_uniform(Shape{l.cout}, rng, -0.1, 0.1, DType::F32, dev);
  if (!backward) return;
  st.x.set_requires_grad(l.input_grad);
  st.w.set_requires_grad(true);
  st.b.set_requires_grad(true);
  Tensor y;
  std::thread t([&] { y = run_layer(l, st.x, st.w, st.b); });  // grad mode is on in a fresh thread
  t.join();
  st.node = y.grad_fn();
  SFM_CHECK(st.node != nullptr, "bench conv: no autograd node recorded for ", l.name);
  st.gy = rand_uniform(y.shape(), rng, -1, 1, DType::F32, dev);
}

std::vector<BenchRow> conv_rows(const BenchContext& ctx) {
  std::vector<BenchRow> rows;
  const int64_t N = ctx.batch;
  for (const Layer& l : sfm_layers(ctx.height, ctx.width)) {
    int64_t ho, wo;
    if (l.transposed) {
      ho = (l.h - 1) * l.s - 2 * l.p + l.k + l.op;
      wo = (l.w - 1) * l.s - 2 * l.p + l.k + l.op;
    } else {
      ho = conv_out(l.h, l.k, l.s, l.p);
      wo = conv_out(l.w, l.k, l.s, l.p);
    }
    // Multiply-adds of the GEMM: every (input pixel, tap) pair for a transposed convolution,
    // every (output pixel, tap) pair for a convolution.
    const double pixels = l.transposed ? double(l.h * l.w) : double(ho * wo);
    const double fwd_flops = 2.0 * N * pixels * l.cin * l.cout * l.k * l.k;
    const double io_bytes = 4.0 * (N * l.cin * l.h * l.w + N * l.cout * ho * wo + l.cin * l.cout * l.k * l.k);
    const std::string op = l.transposed ? "conv_transpose2d" : "conv2d";
    const std::string desc = layer_desc(l);
    const Device dev = ctx.device;
    auto fst = std::make_shared<LayerState>();
    rows.push_back({op + " fwd", desc, fwd_flops, io_bytes, [l, N, dev, fst] {
                      if (!fst->x.defined()) init_layer(l, N, dev, false, *fst);
                      Tensor y = run_layer(l, fst->x, fst->w, fst->b);
                    }});
    auto bst = std::make_shared<LayerState>();
    rows.push_back({op + " bwd", desc + (l.input_grad ? "" : " (no dx)"), fwd_flops * (l.input_grad ? 2 : 1),
                    2 * io_bytes, [l, N, dev, bst] {
                      if (!bst->node) init_layer(l, N, dev, true, *bst);
                      std::vector<Tensor> g = bst->node->backward(bst->gy);
                    }});
  }
  return rows;
}

SFM_BENCH_OPS("conv", conv_rows);

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

SFM_BENCH_OPS("resample", resample_rows);

}  // namespace

}  // namespace sfm::cli
