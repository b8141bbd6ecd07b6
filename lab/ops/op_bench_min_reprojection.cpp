// `sfm bench ops` rows (lab/ops/op_bench.h) for min_reprojection_loss (Monodepth2's objective, S = 2 sources,
// SSIM + L1, minimum with automask, border padding) at the context's batch and image size:
// the fused op against the same computation from separate ops of the engine, forward and
// forward + backward.
//
// The unfused path: inverse_warp per source; the 3x3 window statistics as convolutions with a
// constant 1/9 kernel on [B*C,1,H,W] (zero padding instead of reflection: the same work);
// SSIM, L1, the channel mean and min(a, b) = (a + b - |a - b|)/2 as elementwise ops; the mean.
// Its backward runs on the tape (the bench driver's NoGradGuard is per thread, so each call
// runs on a helper thread with recording on; the fused rows pay the same thread start).
//
// bytes (float32, planes of B*H*W): the fused rows move the minimum, every tensor once:
//   fused fwd        tgt C + srcs S*C + depth 1 + chosen 1 (the windows are recomputed, never stored)
//   fused fwd+bwd    2 x fwd + gdepth 1
// The unfused rows count what their separate ops move, each op reading its inputs and writing
// its output once (see unfused_fwd below); fwd+bwd counts the backward as twice the forward
// (each op's backward reads its saved inputs and the output gradient, writes input gradients):
// an estimate, not a minimum.
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

Tensor kitti_K(int64_t B, int64_t h, int64_t w, Device dev) {
  std::vector<float> k;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<float> kb = {0.58f * w, 0, 0.5f * w, 0, 1.92f * h, 0.5f * h, 0, 0, 1};
    k.insert(k.end(), kb.begin(), kb.end());
  }
  return Tensor::from_vector(k, Shape{B, 3, 3}, dev);
}

struct Scene {
  Tensor tgt, srcs, depth, poses, K, box;  // box: the 1/9 3x3 kernel [1,1,3,3]
};

Scene make_scene(int64_t B, int64_t S, int64_t C, int64_t h, int64_t w, Device dev) {
  Rng rng(8);
  Scene s;
  s.tgt = rand_uniform(Shape{B, C, h, w}, rng, 0, 1, DType::F32, dev);
  s.srcs = rand_uniform(Shape{B, S, C, h, w}, rng, 0, 1, DType::F32, dev);
  s.depth = rand_uniform(Shape{B, 1, h, w}, rng, 1, 20, DType::F32, dev);
  std::vector<float> p(B * S * 6);
  for (size_t i = 0; i < p.size(); ++i) p[i] = (float)((i % 6) < 3 ? rng.uniform(-0.05, 0.05) : rng.uniform(-0.01, 0.01));
  s.poses = Tensor::from_vector(p, Shape{B, S, 6}, dev);
  s.K = kitti_K(B, h, w, dev);
  s.box = Tensor::full(Shape{1, 1, 3, 3}, 1.0 / 9.0, DType::F32, dev);
  return s;
}

// Per-pixel error [B,1,H,W] of x against y ([B,C,H,W]) from separate ops.
Tensor unfused_pe(const Tensor& x, const Tensor& y, const Tensor& box, double alpha) {
  const int64_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  auto pool = [&](const Tensor& t) { return reshape(conv2d(reshape(t, Shape{B * C, 1, H, W}), box, Tensor(), 1, 1), x.shape()); };
  Tensor mx = pool(x), my = pool(y);
  Tensor sx = sub(pool(mul(x, x)), mul(mx, mx)), sy = sub(pool(mul(y, y)), mul(my, my));
  Tensor sxy = sub(pool(mul(x, y)), mul(mx, my));
  const double c1 = 1e-4, c2 = 9e-4;
  Tensor n = mul(add_scalar(mul_scalar(mul(mx, my), 2), c1), add_scalar(mul_scalar(sxy, 2), c2));
  Tensor d = mul(add_scalar(add(mul(mx, mx), mul(my, my)), c1), add_scalar(add(sx, sy), c2));
  Tensor ssim = affine(div(n, d), -0.5, 0.5);  // (1 - SSIM)/2 (the clamp is inactive on images)
  Tensor e = add(mul_scalar(ssim, alpha), mul_scalar(abs(sub(x, y)), 1 - alpha));
  // channel mean: a 1x1 convolution with weights 1/C
  return conv2d(e, Tensor::full(Shape{1, C, 1, 1}, 1.0 / (double)C, DType::F32, x.device()), Tensor(), 1, 0);
}
Tensor elementwise_min(const Tensor& a, const Tensor& b) { return mul_scalar(sub(add(a, b), abs(sub(a, b))), 0.5); }

Tensor unfused_loss(const Scene& s, const Tensor& depth, const Tensor& poses) {
  const int64_t B = s.srcs.dim(0), S = s.srcs.dim(1), C = s.srcs.dim(2), H = s.srcs.dim(3), W = s.srcs.dim(4);
  Tensor srcs4 = reshape(s.srcs, Shape{B, S * C, H, W}), poses2 = reshape(poses, Shape{B, S * 6});
  Tensor best;
  for (int64_t j = 0; j < S; ++j) {
    Tensor src = slice_channels(srcs4, j * C, (j + 1) * C);
    Tensor warped = inverse_warp(src, depth, slice_channels(poses2, 6 * j, 6 * j + 6), s.K, Padding::Border);
    Tensor pe = unfused_pe(s.tgt, warped, s.box, 0.85);
    Tensor id = unfused_pe(s.tgt, src, s.box, 0.85);
    best = best.defined() ? elementwise_min(best, pe) : pe;
    best = elementwise_min(best, id);
  }
  return mean(best);
}

std::string shape_str(int64_t B, int64_t h, int64_t w) {
  std::ostringstream os;
  os << "B" << B << " S2 C3 @" << h << "x" << w;
  return os.str();
}

}  // namespace

std::vector<BenchRow> min_reprojection_rows(const BenchContext& ctx) {
  std::vector<BenchRow> rows;
  const int64_t B = ctx.batch, C = 3, S = 2, h = ctx.height, w = ctx.width;
  const Device dev = ctx.device;
  const double plane = 4.0 * B * h * w;
  const std::string shape = shape_str(B, h, w);
  auto scene = std::make_shared<Scene>();
  auto ensure = [scene, B, S, C, h, w, dev] {
    if (!scene->tgt.defined()) *scene = make_scene(B, S, C, h, w, dev);
  };
  MinReprojectionOptions opt;  // Monodepth2's defaults
  const double fused_fwd = plane * (C + S * C + 1 + 1);
  rows.push_back({"min_reprojection_loss fused fwd", shape, 0, fused_fwd, [scene, ensure, opt] {
                    ensure();
                    Tensor y = min_reprojection_loss(scene->tgt, scene->srcs, scene->depth, scene->poses, scene->K, opt);
                  }});
  rows.push_back({"min_reprojection_loss fused fwd+bwd", shape, 0, 2 * fused_fwd + plane, [scene, ensure, opt] {
                    ensure();
                    std::thread t([&] {
                      Tensor d = scene->depth.detach().set_requires_grad(true);
                      Tensor p = scene->poses.detach().set_requires_grad(true);
                      min_reprojection_loss(scene->tgt, scene->srcs, d, p, scene->K, opt).backward();
                    });
                    t.join();
                  }});
  // Unfused bytes, op by op, per source (planes of B*H*W, C channels): warp C+1 in, C out;
  // for each of the warped and the unwarped error: 3 products (2C in, C out each), 5 box
  // filters (C in, C out each), ~14 elementwise ops on C planes (~2.5C in+out each), |x-y| and
  // the blend (~6C), the channel mean (C in, 1 out); 2 minimums (~9 planes).
  const double per_pe = 3 * 3 * C + 5 * 2 * C + 14 * 2.5 * C + 6 * C + (C + 1);
  const double unfused_fwd = plane * (S * ((2 * C + 1) + 2 * per_pe + 9) + 1);
  rows.push_back({"min_reprojection unfused fwd (warp, ssim, l1, min ops)", shape, 0, unfused_fwd, [scene, ensure] {
                    ensure();
                    Tensor y = unfused_loss(*scene, scene->depth, scene->poses);
                  }});
  rows.push_back({"min_reprojection unfused fwd+bwd (tape)", shape, 0, 3 * unfused_fwd, [scene, ensure] {
                    ensure();
                    std::thread t([&] {
                      Tensor d = scene->depth.detach().set_requires_grad(true);
                      Tensor p = scene->poses.detach().set_requires_grad(true);
                      unfused_loss(*scene, d, p).backward();
                    });
                    t.join();
                  }});
  return rows;
}



}  // namespace sfm::lab
