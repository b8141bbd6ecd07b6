// `sfm bench ops` rows (lab/ops/op_bench.h) for the geometry and loss family: inverse_warp and the fused
// photometric loss (S = 2 sources) at the 4 loss scales of the context's image size, the
// smoothness loss and the explainability losses at full size, all at the context's batch.
//
// "fwd+bwd" rows time the forward call plus the op's own backward closure (the autograd
// node's function), without the tape's accumulation. The node is recorded once, on the row's
// first (untimed) call, on a helper thread: the bench driver runs under a NoGradGuard and
// grad mode is per thread. The saved inputs are the same tensors the timed forward reads.
//
// bytes: the minimum traffic, every tensor read or written once (float32):
//   inverse_warp fwd       src C + depth 1 + out C                  planes of B*H*W
//   inverse_warp fwd+bwd   fwd + src C + depth 1 + gout C + gsrc C + gdepth 1
//   photometric fwd        tgt C + srcs S*C + depth 1 + mask S
//   photometric fwd+bwd    2 x fwd + gdepth 1 + gmask S
//   smoothness / explainability: fwd reads x once; fwd+bwd reads it twice and writes dx.
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lab/ops/op_bench.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/rng.h"

namespace sfm::lab {

namespace {

// Intrinsics of a KITTI-like camera at h x w (fx ~ 0.58 w, fy ~ 1.92 h).
Tensor bench_K(int64_t B, int64_t h, int64_t w, Device dev) {
  std::vector<float> k;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<float> kb = {0.58f * w, 0, 0.5f * w, 0, 1.92f * h, 0.5f * h, 0, 0, 1};
    k.insert(k.end(), kb.begin(), kb.end());
  }
  return Tensor::from_vector(k, Shape{B, 3, 3}, dev);
}

// Small random poses as the pose network produces them (translations ~0.05, angles ~0.01).
Tensor bench_pose(const Shape& s, Rng& rng, Device dev) {
  std::vector<float> v(s.numel());
  for (size_t i = 0; i < v.size(); ++i) v[i] = (float)((i % 6) < 3 ? rng.uniform(-0.05, 0.05) : rng.uniform(-0.01, 0.01));
  return Tensor::from_vector(v, s, dev);
}

struct State {
  Tensor a, b, c, d, e, f;  // op inputs
  Tensor gy;                // gradient of the output
  std::shared_ptr<Node> node;
};

// Records fn()'s autograd node on a fresh thread (grad mode on there) and keeps it.
template <class F> void record_node(State& st, F fn, Rng& rng, Device dev) {
  Tensor y;
  std::thread t([&] { y = fn(); });
  t.join();
  st.node = y.grad_fn();
  SFM_CHECK(st.node != nullptr, "bench warp: no autograd node recorded");
  st.gy = y.numel() == 1 ? Tensor::ones(y.shape(), DType::F32, dev) : rand_uniform(y.shape(), rng, -1, 1, DType::F32, dev);
}

// "B4 C3 @128x416" (a stream: GCC 12 warns falsely on "literal" + std::to_string(...)).
std::string shape_str(int64_t B, const char* what, int64_t h, int64_t w) {
  std::ostringstream os;
  os << "B" << B << " " << what << " @" << h << "x" << w;
  return os.str();
}

}  // namespace

std::vector<BenchRow> warp_rows(const BenchContext& ctx) {
  std::vector<BenchRow> rows;
  const int64_t B = ctx.batch, C = 3, S = 2;
  const Device dev = ctx.device;
  for (int sc = 0; sc < 4; ++sc) {
    const int64_t h = ctx.height >> sc, w = ctx.width >> sc;
    if (h < 1 || w < 1) continue;
    const double plane = 4.0 * B * h * w;  // bytes of one float32 [B,1,h,w] plane
    const std::string wshape = shape_str(B, "C3", h, w);
    const std::string pshape = shape_str(B, "S2 C3 mask", h, w);

    // ---- inverse_warp
    auto init_warp = [B, C, h, w, dev](State& st, bool backward) {
      Rng rng(5);
      st.a = rand_uniform(Shape{B, C, h, w}, rng, 0, 1, DType::F32, dev);
      st.b = rand_uniform(Shape{B, 1, h, w}, rng, 1, 20, DType::F32, dev);
      st.c = bench_pose(Shape{B, 6}, rng, dev);
      st.d = bench_K(B, h, w, dev);
      if (!backward) return;
      for (Tensor* t : {&st.a, &st.b, &st.c}) t->set_requires_grad(true);
      record_node(st, [&st] { return inverse_warp(st.a, st.b, st.c, st.d); }, rng, dev);
    };
    auto wf = std::make_shared<State>();
    rows.push_back({"inverse_warp fwd", wshape, 0, plane * (2 * C + 1), [wf, init_warp] {
                      if (!wf->a.defined()) init_warp(*wf, false);
                      Tensor y = inverse_warp(wf->a, wf->b, wf->c, wf->d);
                    }});
    auto wb = std::make_shared<State>();
    rows.push_back({"inverse_warp fwd+bwd", wshape, 0, plane * ((2 * C + 1) + (3 * C + 2)), [wb, init_warp] {
                      if (!wb->node) init_warp(*wb, true);
                      Tensor y = inverse_warp(wb->a, wb->b, wb->c, wb->d);
                      std::vector<Tensor> g = wb->node->backward(wb->gy);
                    }});

    // ---- photometric_loss (original preset: out-of-view pixels kept, zeros padding, Euler)
    auto init_photo = [B, C, S, h, w, dev](State& st, bool backward) {
      Rng rng(6);
      st.a = rand_uniform(Shape{B, C, h, w}, rng, 0, 1, DType::F32, dev);
      st.b = rand_uniform(Shape{B, S, C, h, w}, rng, 0, 1, DType::F32, dev);
      st.c = rand_uniform(Shape{B, 1, h, w}, rng, 1, 20, DType::F32, dev);
      st.d = bench_pose(Shape{B, S, 6}, rng, dev);
      st.e = bench_K(B, h, w, dev);
      st.f = rand_uniform(Shape{B, S, h, w}, rng, 0.2, 1, DType::F32, dev);
      if (!backward) return;
      for (Tensor* t : {&st.c, &st.d, &st.f}) t->set_requires_grad(true);
      record_node(st, [&st] { return photometric_loss(st.a, st.b, st.c, st.d, st.e, st.f); }, rng, dev);
    };
    const double photo_fwd = plane * (C + S * C + 1 + S);
    auto pf = std::make_shared<State>();
    rows.push_back({"photometric_loss fwd", pshape, 0, photo_fwd, [pf, init_photo] {
                      if (!pf->a.defined()) init_photo(*pf, false);
                      Tensor y = photometric_loss(pf->a, pf->b, pf->c, pf->d, pf->e, pf->f);
                    }});
    auto pb = std::make_shared<State>();
    rows.push_back({"photometric_loss fwd+bwd", pshape, 0, 2 * photo_fwd + plane * (1 + S), [pb, init_photo] {
                      if (!pb->node) init_photo(*pb, true);
                      Tensor y = photometric_loss(pb->a, pb->b, pb->c, pb->d, pb->e, pb->f);
                      std::vector<Tensor> g = pb->node->backward(pb->gy);
                    }});
  }

  // ---- regularisers at full size: smoothness of the disparity [B,1,H,W], the sigmoid mask
  // [B,S,H,W] and the 2-class logits [B,2S,H,W].
  const int64_t H = ctx.height, W = ctx.width;
  struct Reg {
    std::string op;
    Shape shape;
    int kind;  // 0 smoothness, 1 explainability, 2 explainability softmax
  };
  for (const Reg& r : {Reg{"smoothness_loss", Shape{B, 1, H, W}, 0}, Reg{"explainability_loss", Shape{B, S, H, W}, 1},
                       Reg{"explainability_softmax", Shape{B, 2 * S, H, W}, 2}}) {
    const double bytes = 4.0 * r.shape.numel();
    auto run_op = [](int kind, const Tensor& x) {
      return kind == 0 ? smoothness_loss(x) : kind == 1 ? explainability_loss(x) : explainability_loss_softmax(x);
    };
    auto init = [r, dev, run_op](State& st, bool backward) {
      Rng rng(7);
      st.a = r.kind == 2 ? randn(r.shape, rng, 2.0, DType::F32, dev) : rand_uniform(r.shape, rng, 0.05, 1, DType::F32, dev);
      if (!backward) return;
      st.a.set_requires_grad(true);
      record_node(st, [&st, &r, run_op] { return run_op(r.kind, st.a); }, rng, dev);
    };
    auto f = std::make_shared<State>();
    rows.push_back({r.op + " fwd", r.shape.str(), 0, bytes, [f, init, r, run_op] {
                      if (!f->a.defined()) init(*f, false);
                      Tensor y = run_op(r.kind, f->a);
                    }});
    auto b = std::make_shared<State>();
    rows.push_back({r.op + " fwd+bwd", r.shape.str(), 0, 3 * bytes, [b, init, r, run_op] {
                      if (!b->node) init(*b, true);
                      Tensor y = run_op(r.kind, b->a);
                      std::vector<Tensor> g = b->node->backward(b->gy);
                    }});
  }
  return rows;
}



}  // namespace sfm::lab
