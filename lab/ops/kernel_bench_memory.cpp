// `sfm bench kernels`' memory-bound rows (kernel_bench.h): elementwise, reductions, resampling,
// the warp, the photometric and smoothness losses, explainability and Adam, each timed on its raw
// launcher and checked against the CPU float loops at the timed size.
#if SFM_WITH_CUDA
#include <cmath>
#include <string>
#include <vector>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "engine/autograd.h"
#include "cpu/loss.h"
#include "cpu/warp.h"
#include "boundary/device_runtime.h"
#include "engine/file_io.h"
#include "boundary/math/adam_math.h"
#include "boundary/math/conv_math.h"
#include "boundary/math/loss_math.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "kernels/adam.h"
#include "kernels/conv.h"
#include "kernels/cuda_check.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "kernels/reduce.h"
#include "kernels/resample.h"
#include "kernels/runtime.h"
#include "kernels/shape.h"
#include "kernels/warp.h"
#include "lab/ops/compare.h"
#include "models/sfm_layers.h"
#include "lab/ops/kernel_bench_rows.h"

namespace sfm::lab::kbench {

void memory_rows(KernelBench& kb) {
  const int64_t B = kb.B, H = kb.H, W = kb.W, S = kb.S;
  auto wanted = [&](const std::string& op, const std::string& shape) { return kb.wanted(op, shape); };
  auto report = [&](Row& r) { kb.report(r); };
  Rng rng(7);
  const int64_t H2 = H / 2, W2 = W / 2;
  {  // elementwise and reductions on a decoder activation [B, 32, H/2, W/2]
    const int64_t n = B * 32 * H2 * W2;
    const std::string shape = std::to_string(B) + "x32x" + std::to_string(H2) + "x" + std::to_string(W2);
    Tensor xc = rand_uniform(Shape{n}, rng, -2, 2), gc = rand_uniform(Shape{n}, rng, -1, 1);
    Tensor x = xc.to(Device::CUDA), g = gc.to(Device::CUDA), y = nan_gpu(Shape{n}), gx = nan_gpu(Shape{n});
    Tensor out = nan_gpu(Shape{1});
    auto add_row = [&](const std::string& op, double bytes, std::function<void()> run, std::function<double()> check) {
      if (!wanted(op, shape)) return;
      Row r;
      r.op = op, r.shape = shape, r.impl = "handwritten", r.bytes = bytes, r.run = std::move(run);
      r.run();
      r.err = check();
      report(r);
    };
    add_row("relu fwd", 8.0 * n, [&] { cuda::unary_forward(UnaryOp::Relu, x.data<float>(), y.data<float>(), n, 0, 0); },
            [&] { return max_rel_err(y, relu(xc)); });
    add_row("sigmoid bwd", 16.0 * n,
            [&] {
              cuda::unary_backward(UnaryOp::Sigmoid, x.data<float>(), x.data<float>(), g.data<float>(),
                                   gx.data<float>(), n, 0, 0);
            },
            [&] {
              std::vector<float> xv = xc.to_vector(), gv = gc.to_vector(), r(n);
              for (int64_t i = 0; i < n; ++i) r[i] = math::sigmoid_grad(xv[i], gv[i]);
              return max_rel_err(gx, r);
            });
    add_row("add", 12.0 * n, [&] { cuda::binary_forward(BinaryOp::Add, x.data<float>(), g.data<float>(), y.data<float>(), n); },
            [&] { return max_rel_err(y, add(xc, gc)); });
    add_row("sum", 4.0 * n, [&] { cuda::scaled_sum(x.data<float>(), n, 1.0f, out.data<float>()); },
            [&] { return max_rel_err(out, sum(xc)); });
    add_row("concat+slice", 16.0 * n,
            [&] {  // channels [0,16) of x into the first half of y, as concat_channels does
              cuda::copy_blocks(x.data<float>(), 32 * H2 * W2, y.data<float>(), 32 * H2 * W2, 16 * H2 * W2, B);
              cuda::copy_blocks(x.data<float>() + 16 * H2 * W2, 32 * H2 * W2, y.data<float>() + 16 * H2 * W2,
                                32 * H2 * W2, 16 * H2 * W2, B);
            },
            [&] { return max_rel_err(y, xc); });
  }
  {  // Adam over the parameters of both networks
    int64_t total = 0;
    std::vector<int64_t> sizes;
    for (const ConvLayer& l : sfmlearner_conv_layers(1, H, W, (int)S)) {
      sizes.push_back(l.weight_shape().numel());
      sizes.push_back(l.out_channels());
      total += l.spec.num_parameters();
    }
    const std::string shape = std::to_string(sizes.size()) + " tensors, " + std::to_string(total) + " params";
    if (wanted("adam step", shape)) {
      Tensor pc = rand_uniform(Shape{total}, rng, -1, 1), gc = rand_uniform(Shape{total}, rng, -1, 1);
      Tensor mc = rand_uniform(Shape{total}, rng, 0, 0.01), vc = rand_uniform(Shape{total}, rng, 0, 0.01);
      Tensor p = pc.to(Device::CUDA), g = gc.to(Device::CUDA), m = mc.to(Device::CUDA), v = vc.to(Device::CUDA);
      std::vector<cuda::AdamTensor> ts;
      int64_t off = 0;
      for (int64_t s : sizes) {
        ts.push_back({p.data<float>() + off, g.data<float>() + off, m.data<float>() + off, v.data<float>() + off, s});
        off += s;
      }
      const float lr = 2e-4f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, c1 = 0.1f, c2 = 0.001f;
      Row r;
      r.op = "adam step", r.shape = shape, r.impl = "handwritten", r.bytes = 28.0 * total;
      Tensor p0 = p.clone(), m0 = m.clone(), v0 = v.clone();
      cuda::adam_multi_tensor(ts, lr, b1, b2, eps, 0.0f, c1, c2);
      {
        std::vector<float> P = pc.to_vector(), G = gc.to_vector(), M = mc.to_vector(), V = vc.to_vector();
        for (int64_t i = 0; i < total; ++i) math::adam_update(P[i], G[i], M[i], V[i], lr, b1, b2, eps, 0.0f, c1, c2);
        r.err = max_rel_err(p, P);
      }
      r.run = [&] { cuda::adam_multi_tensor(ts, lr, b1, b2, eps, 0.0f, c1, c2); };
      report(r);
    }
  }
  {  // resampling: disparity x2 upsampling into the full-resolution head; the loss pyramid
    const std::string us = std::to_string(B) + "x1x" + std::to_string(H2) + "x" + std::to_string(W2) + " -> x2";
    Tensor xc = rand_uniform(Shape{B, 1, H2, W2}, rng, 0, 1), gc = rand_uniform(Shape{B, 1, 2 * H2, 2 * W2}, rng, -1, 1);
    Tensor x = xc.to(Device::CUDA), g = gc.to(Device::CUDA), y = nan_gpu(gc.shape()), gx = nan_gpu(xc.shape());
    const double nb = 4.0 * B * H2 * W2;
    if (wanted("upsample2x fwd", us)) {
      Row r{"upsample2x fwd", us, "handwritten", 0, nb * 5, Peak::Bandwidth,
            [&] { cuda::upsample2x_forward(x.data<float>(), y.data<float>(), B, H2, W2); }, kNaN};
      r.run();
      r.err = max_rel_err(y, upsample_bilinear2x(xc));
      report(r);
    }
    if (wanted("upsample2x bwd", us)) {
      Row r{"upsample2x bwd", us, "handwritten", 0, nb * 5, Peak::Bandwidth,
            [&] { cuda::upsample2x_backward(g.data<float>(), gx.data<float>(), B, H2, W2); }, kNaN};
      r.run();
      Tensor xr = xc.clone().set_requires_grad(true);
      upsample_bilinear2x(xr).backward(gc);
      r.err = max_rel_err(gx, xr.grad());
      report(r);
    }
    Tensor imgc = rand_uniform(Shape{B, 3, H, W}, rng, 0, 1), img = imgc.to(Device::CUDA);
    for (int f : {2, 4, 8}) {
      const std::string ds = std::to_string(B) + "x3x" + std::to_string(H) + "x" + std::to_string(W) + " /" +
                             std::to_string(f);
      if (!wanted("area downsample", ds)) continue;
      Tensor yd = nan_gpu(Shape{B, 3, H / f, W / f});
      Row r{"area downsample", ds, "handwritten", 0, 4.0 * B * 3 * H * W * (1.0 + 1.0 / (f * f)), Peak::Bandwidth,
            [&, f] { cuda::area_forward(img.data<float>(), yd.data<float>(), B * 3, H, W, H / f, W / f); }, kNaN};
      r.run();
      r.err = max_rel_err(yd, downsample_area(imgc, f));
      report(r);
    }
  }
  {  // geometry and losses at full resolution
    const int64_t plane = H * W;
    const std::string shape = std::to_string(B) + "x" + std::to_string(S) + "x3x" + std::to_string(H) + "x" +
                              std::to_string(W);
    std::vector<float> tgt(B * 3 * plane), srcs(B * S * 3 * plane), depth(B * plane), poses, K, mask(B * S * plane);
    for (float& v : tgt) v = (float)rng.uniform(0, 1);
    for (float& v : srcs) v = (float)rng.uniform(0, 1);
    for (float& v : depth) v = (float)rng.uniform(1, 20);
    for (float& v : mask) v = (float)rng.uniform(0.05, 1);
    for (int64_t i = 0; i < B * S; ++i) {
      for (int j = 0; j < 3; ++j) poses.push_back((float)rng.uniform(-0.5, 0.5));
      for (int j = 0; j < 3; ++j) poses.push_back((float)rng.uniform(-0.03, 0.03));
    }
    for (int64_t b = 0; b < B; ++b) {
      const float f = 0.58f * (float)W;
      std::vector<float> k{f, 0, 0.5f * (float)W, 0, 1.9f * f * (float)H / (float)W, 0.5f * (float)H, 0, 0, 1};
      K.insert(K.end(), k.begin(), k.end());
    }
    Tensor tg = gpu_vec(tgt), sg = gpu_vec(srcs), dg = gpu_vec(depth), pg = gpu_vec(poses), kg = gpu_vec(K),
           mg = gpu_vec(mask), one = gpu_vec({1.0f});
    Tensor loss = nan_gpu(Shape{1}), gd = nan_gpu(Shape{B * plane}), gp = nan_gpu(Shape{B * S * 6}),
           gm = nan_gpu(Shape{B * S * plane}), out = nan_gpu(Shape{B * 3 * plane}), gs = nan_gpu(Shape{B * 3 * plane});
    PhotometricOptions opt;
    const double img_bytes = 4.0 * 3 * plane * B;
    // Floors: each target and source pixel read once (+ depth, mask, outputs); bilinear taps
    // reuse cache lines, so the minimum traffic is the tensors themselves.
    if (wanted("photometric fwd", shape)) {
      Row r{"photometric fwd", shape, "handwritten", 0, img_bytes * (1 + S) + 4.0 * plane * B * (1 + S),
            Peak::Bandwidth,
            [&] {
              cuda::photometric_forward(tg.data<float>(), sg.data<float>(), dg.data<float>(), pg.data<float>(),
                                        kg.data<float>(), mg.data<float>(), PhotometricDims{B, S, 3, H, W}, opt, loss.data<float>(),
                                        nullptr);
            },
            kNaN};
      r.run();
      const double ref = cpu::photometric_forward<float>(tgt.data(), srcs.data(), depth.data(), poses.data(), K.data(),
                                                         mask.data(), PhotometricDims{B, S, 3, H, W}, opt,
                                                         nullptr);
      r.err = std::fabs(loss.item() - ref) / std::fabs(ref);
      report(r);
    }
    if (wanted("photometric bwd", shape)) {
      Row r{"photometric bwd", shape, "handwritten", 0,
            img_bytes * (1 + S) + 4.0 * plane * B * (1 + S) + 4.0 * plane * B * (1 + S), Peak::Bandwidth,
            [&] {
              cuda::photometric_backward(tg.data<float>(), sg.data<float>(), dg.data<float>(), pg.data<float>(),
                                         kg.data<float>(), mg.data<float>(), PhotometricDims{B, S, 3, H, W}, opt, one.data<float>(),
                                         gd.data<float>(), gp.data<float>(), gm.data<float>());
            },
            kNaN};
      r.run();
      std::vector<float> gd_c(B * plane), gp_c(B * S * 6), gm_c(B * S * plane);
      cpu::photometric_backward<float>(tgt.data(), srcs.data(), depth.data(), poses.data(), K.data(), mask.data(),
                                       PhotometricDims{B, S, 3, H, W}, opt, 1.0f, gd_c.data(), gp_c.data(),
                                       gm_c.data());
      // (includes the few pixels where a 1-ulp projection difference flips a bilinear cell;
      // the tests exclude those, see tests/test_gpu_ops.cpp)
      r.err = std::max({max_rel_err(gd, gd_c), max_rel_err(gp, gp_c), max_rel_err(gm, gm_c)});
      report(r);
    }
    const std::string ws = std::to_string(B) + "x3x" + std::to_string(H) + "x" + std::to_string(W);
    if (wanted("inverse_warp fwd", ws)) {
      Row r{"inverse_warp fwd", ws, "handwritten", 0, 2 * img_bytes + 4.0 * plane * B, Peak::Bandwidth,
            [&] {
              cuda::inverse_warp_forward(sg.data<float>(), dg.data<float>(), pg.data<float>(), kg.data<float>(), WarpDims{B, 3, H, W}, Padding::Zeros, RotationMode::Euler, out.data<float>(), nullptr);
            },
            kNaN};
      r.run();
      std::vector<float> oc(B * 3 * plane);
      cpu::inverse_warp_forward<float>(srcs.data(), depth.data(), poses.data(), K.data(), WarpDims{B, 3, H, W},
                                       Padding::Zeros, RotationMode::Euler, oc.data(), nullptr);
      r.err = max_rel_err(out, oc);
      report(r);
    }
    if (wanted("inverse_warp bwd", ws)) {
      Row r{"inverse_warp bwd", ws, "handwritten", 0, 3 * img_bytes + 8.0 * plane * B, Peak::Bandwidth,
            [&] {
              cuda::inverse_warp_backward(sg.data<float>(), dg.data<float>(), pg.data<float>(), kg.data<float>(), WarpDims{B, 3, H, W}, Padding::Zeros, RotationMode::Euler, tg.data<float>(), gs.data<float>(),
                                          gd.data<float>(), gp.data<float>());
            },
            kNaN};
      r.run();
      std::vector<float> gs_c(B * 3 * plane), gd_c(B * plane), gp_c(B * 6);
      cpu::inverse_warp_backward<float>(srcs.data(), depth.data(), poses.data(), K.data(), WarpDims{B, 3, H, W},
                                        Padding::Zeros, RotationMode::Euler, tgt.data(), gs_c.data(), gd_c.data(),
                                        gp_c.data());
      r.err = std::max({max_rel_err(gs, gs_c), max_rel_err(gd, gd_c), max_rel_err(gp, gp_c)});
      report(r);
    }
    const std::string ss = std::to_string(B) + "x1x" + std::to_string(H) + "x" + std::to_string(W);
    double inv[4];
    for (int k = 0; k < 4; ++k) {
      long long c = B * math::smooth_term_count(k, H, W);
      inv[k] = c > 0 ? 1.0 / (double)c : 0.0;
    }
    if (wanted("smoothness fwd+bwd", ss)) {
      Row r{"smoothness fwd+bwd", ss, "handwritten", 0, 12.0 * B * plane, Peak::Bandwidth,
            [&] {
              cuda::smoothness_forward(dg.data<float>(), B, H, W, inv, loss.data<float>());
              cuda::smoothness_backward(dg.data<float>(), B, H, W, inv, one.data<float>(), gd.data<float>());
            },
            kNaN};
      r.run();
      double coef[4];
      for (int k = 0; k < 4; ++k) coef[k] = inv[k];
      std::vector<float> gx_c(B * plane);
      cpu::smoothness_backward<float>(depth.data(), B, H, W, coef, gx_c.data());
      r.err = max_rel_err(gd, gx_c);
      report(r);
    }
    const std::string es = std::to_string(B) + "x" + std::to_string(S) + "x" + std::to_string(H) + "x" +
                           std::to_string(W);
    if (wanted("explainability fwd+bwd", es)) {
      Row r{"explainability fwd+bwd", es, "handwritten", 0, 12.0 * B * S * plane, Peak::Bandwidth,
            [&] {
              cuda::explainability_forward(mg.data<float>(), B * S * plane, loss.data<float>());
              cuda::explainability_backward(mg.data<float>(), B * S * plane, one.data<float>(), gm.data<float>());
            },
            kNaN};
      r.run();
      const double ref = cpu::explainability_forward<float>(mask.data(), B * S * plane) / (double)(B * S * plane);
      r.err = std::fabs(loss.item() - ref) / std::fabs(ref);
      report(r);
    }
  }

}

}  // namespace sfm::lab::kbench
#endif
