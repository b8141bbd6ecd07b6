// `sfm bench kernels --device cuda`: times every CUDA kernel at the SfMLearner training
// shapes, in every implementation it has (convolutions: handwritten FP32, handwritten TF32,
// cuDNN, im2col + cuBLAS), with CUDA events on the compute stream (median of --reps timed
// calls after --warmup untimed ones). Each row reports the achieved TFLOP/s (convolutions)
// or GB/s (memory-bound kernels, from the minimum bytes the op must move), the percentage
// of the device's peak measured here once (a 1 GiB device-to-device copy for bandwidth, an
// 8192^3 cuBLAS SGEMM for FP32 and the same GEMM in TF32 for tensor cores), and the error
// against the CPU (max |gpu - cpu| / max |cpu|; convolutions against the CPU ops in
// float64 at --check-batch, the rest against the CPU float loops at the timed size).
// Prints a table; --json also writes the rows. In a build without CUDA, or on a machine
// without a device, it says so and exits with status 1.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/command.h"
#include "lab/ops/compare.h"
#include "engine/device_runtime.h"
#include "engine/file_io.h"
#if SFM_WITH_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "engine/math/conv_math.h"
#include "kernels/conv.h"
#include "kernels/adam.h"
#include "kernels/cuda_check.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "kernels/reduce.h"
#include "kernels/resample.h"
#include "kernels/runtime.h"
#include "kernels/shape.h"
#include "kernels/warp.h"
#include "engine/autograd.h"
#include "engine/cpu/loss.h"
#include "engine/cpu/warp.h"
#include "engine/math/adam_math.h"
#include "engine/math/loss_math.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "models/sfm_layers.h"
#endif

namespace sfm::cli {

using sfm::lab::max_rel_err;

// The options of `sfm bench kernels`, the same in CUDA and CPU-only builds.
static Args bench_kernels_args() {
  Args a("bench kernels", "Times every CUDA kernel and implementation at the SfMLearner training shapes.");
  a.option("device", "cuda (the only device this benchmark runs on)", "cuda")
      .option("batch", "batch size", "4")
      .option("height", "image height", "128")
      .option("width", "image width", "416")
      .option("sources", "source frames per target", "2")
      .option("reps", "timed calls per row (median reported)", "20")
      .option("warmup", "untimed calls per row first", "3")
      .option("check-batch", "batch of the convolution error check against the CPU (0: no check)", "1")
      .option("impl", "comma-separated subset of handwritten,tf32,cudnn,cublas", "")
      .option("filter", "only rows whose op or shape contains this text", "")
      .option("json", "also write the results as JSON to this file", "");
  return a;
}

#if SFM_WITH_CUDA
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

enum class Peak { Fp32, Tf32, Bandwidth };

struct Row {
  std::string op, shape, impl;
  double flops = 0, bytes = 0;
  Peak peak = Peak::Bandwidth;
  std::function<void()> run;
  double err = kNaN;  // vs the CPU
};

struct Peaks {
  double gbs = 0, fp32_tflops = 0, tf32_tflops = 0;
};

double median_ms(const std::function<void()>& f, int warmup, int reps) {
  cudaEvent_t a, b;
  SFM_CUDA_CHECK(cudaEventCreate(&a));
  SFM_CUDA_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < warmup; ++i) f();
  std::vector<float> ms;
  for (int i = 0; i < reps; ++i) {
    SFM_CUDA_CHECK(cudaEventRecord(a, cuda::stream()));
    f();
    SFM_CUDA_CHECK(cudaEventRecord(b, cuda::stream()));
    SFM_CUDA_CHECK(cudaEventSynchronize(b));
    float t = 0;
    SFM_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  SFM_CUDA_CHECK(cudaEventDestroy(a));
  SFM_CUDA_CHECK(cudaEventDestroy(b));
  std::sort(ms.begin(), ms.end());
  return ms.empty() ? kNaN : ms[ms.size() / 2];
}

Peaks measure_peaks(int reps) {
  Peaks p;
  {
    const size_t bytes = size_t(1) << 30;
    cuda::Scratch a(bytes), b(bytes);
    SFM_CUDA_CHECK(cudaMemsetAsync(a.get(), 0, bytes, cuda::stream()));
    double ms = median_ms([&] {
      SFM_CUDA_CHECK(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, cuda::stream()));
    }, 2, reps);
    p.gbs = 2.0 * bytes / (ms * 1e6);  // read + write
  }
  {
    const int n = 8192;
    const size_t bytes = (size_t)n * n * sizeof(float);
    cuda::Scratch A(bytes), B(bytes), C(bytes);
    cuda_fill_f32(A.f(), (size_t)n * n, 0.5f);
    cuda_fill_f32(B.f(), (size_t)n * n, 0.25f);
    const float one = 1, zero = 0;
    cublasHandle_t h = cuda::cublas_handle();
    auto gemm = [&] {
      SFM_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, A.f(), n, B.f(), n, &zero, C.f(), n));
    };
    const double flops = 2.0 * n * n * (double)n;
    p.fp32_tflops = flops / (median_ms(gemm, 2, std::max(3, reps / 4)) * 1e9);
    if (cuda::conv_tf32_supported()) {
      SFM_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH));
      try {
        p.tf32_tflops = flops / (median_ms(gemm, 2, std::max(3, reps / 4)) * 1e9);
      } catch (...) {
        cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH);
        throw;
      }
      SFM_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH));
    }
  }
  return p;
}


Tensor nan_gpu(const Shape& s) { return Tensor::full(s, kNaN, DType::F32, Device::CUDA); }
Tensor gpu(const Tensor& t) { return t.to(DType::F32).to(Device::CUDA); }
Tensor gpu_vec(const std::vector<float>& v) { return Tensor::from_vector(v, Shape{(int64_t)v.size()}, Device::CUDA); }

// "1x3x128x416 -> 32 k7 s2" in the layer's own terms (" T": transposed).
std::string layer_shape(const ConvLayer& l) {
  const Shape in = l.in_shape();
  char b[160];
  std::snprintf(b, sizeof b, "%lldx%lldx%lldx%lld -> %lld k%d s%d%s", (long long)in[0], (long long)in[1],
                (long long)in[2], (long long)in[3], (long long)l.out_channels(), l.spec.k, l.spec.stride,
                l.spec.transposed ? " T" : "");
  return b;
}

// ---- convolutions
struct ConvBuffers {
  Tensor x, w, b, dy, y, dx, dw, db;
};
ConvBuffers conv_buffers(const ConvLayer& l, Rng& rng, DType t) {
  ConvBuffers c;
  c.x = rand_uniform(l.in_shape(), rng, -1, 1, t);
  c.w = rand_uniform(l.weight_shape(), rng, -1, 1, t);
  c.b = rand_uniform(Shape{l.out_channels()}, rng, -1, 1, t);
  c.dy = rand_uniform(l.out_shape(), rng, -1, 1, t);
  return c;
}

// One direction (0 forward, 1 backward-data, 2 backward-weight with the bias gradient) of a
// layer as the ops run it (engine/ops_conv.cpp): a transposed layer's backward-data is the
// convolution's forward, its backward-weight the convolution's with x and dy swapped.
void conv_run(ConvImpl impl, const ConvLayer& l, int dir, ConvBuffers& c) {
  const float *x = c.x.data<float>(), *w = c.w.data<float>(), *b = c.b.data<float>(), *dy = c.dy.data<float>();
  const ConvGeom& g = l.geom;
  if (l.spec.transposed) {
    if (dir == 0)
      cuda::conv_transpose2d_forward(impl, g, x, w, b, l.spec.act, c.y.data<float>());
    else if (dir == 1)
      cuda::conv2d_forward(impl, g, dy, w, nullptr, Activation::None, c.dx.data<float>());
    else {
      cuda::conv2d_backward_weight(impl, g, dy, x, c.dw.data<float>());
      cuda::channel_sum(dy, g.N, g.C, g.H * g.W, c.db.data<float>());
    }
  } else {
    if (dir == 0)
      cuda::conv2d_forward(impl, g, x, w, b, l.spec.act, c.y.data<float>());
    else if (dir == 1)
      cuda::conv2d_backward_data(impl, g, w, dy, c.dx.data<float>());
    else {
      cuda::conv2d_backward_weight(impl, g, x, dy, c.dw.data<float>());
      cuda::channel_sum(dy, g.N, g.O, g.P(), c.db.data<float>());
    }
  }
}

void alloc_outputs(ConvBuffers& g, const ConvLayer& l) {
  g.y = nan_gpu(l.out_shape());
  g.dx = nan_gpu(g.x.shape());
  g.dw = nan_gpu(g.w.shape());
  g.db = nan_gpu(g.b.shape());
}

// Errors of the three directions of `impl` against the CPU ops in float64 (l at the check batch).
struct ConvRef {
  ConvBuffers cpu;  // float64, with gradients
  std::vector<double> y, dx, dw, db;
};
ConvRef conv_reference(const ConvLayer& l, uint64_t seed) {
  Rng rng(seed);
  ConvRef r;
  r.cpu = conv_buffers(l, rng, DType::F64);
  r.cpu.x.set_requires_grad(true);
  r.cpu.w.set_requires_grad(true);
  r.cpu.b.set_requires_grad(true);
  LayerSpec pre = l.spec;  // the activation is applied below, from the pre-activation output
  pre.act = Activation::None;
  Tensor y = apply_layer(pre, r.cpu.x, r.cpu.w, r.cpu.b);
  r.y = y.to_vector_f64();
  for (double& v : r.y) v = math::conv_activation(l.spec.act, v);
  y.backward(r.cpu.dy);
  r.dx = r.cpu.x.grad().to_vector_f64();
  r.dw = r.cpu.w.grad().to_vector_f64();
  r.db = r.cpu.b.grad().to_vector_f64();
  return r;
}
std::array<double, 3> conv_errors(ConvImpl impl, const ConvLayer& l, const ConvRef& r) {
  ConvBuffers g;
  g.x = gpu(r.cpu.x.detach());
  g.w = gpu(r.cpu.w.detach());
  g.b = gpu(r.cpu.b.detach());
  g.dy = gpu(r.cpu.dy);
  alloc_outputs(g, l);
  for (int dir = 0; dir < 3; ++dir) conv_run(impl, l, dir, g);
  return {max_rel_err(g.y.to_vector(), r.y), max_rel_err(g.dx.to_vector(), r.dx),
          std::max(max_rel_err(g.dw.to_vector(), r.dw), max_rel_err(g.db.to_vector(), r.db))};
}

int bench_kernels(const std::vector<std::string>& argv) {
  Args a = bench_kernels_args();
  if (!a.parse(argv)) return 0;
  SFM_CHECK(a.get("device") == "cuda", "sfm bench kernels: --device must be cuda (CPU ops: sfm bench ops)");
  if (!cuda_available()) {
    std::printf("sfm bench kernels: no CUDA device is available; nothing to time\n");
    return 1;
  }
  const int64_t B = a.get_int("batch"), H = a.get_int("height"), W = a.get_int("width"), S = a.get_int("sources");
  const int reps = a.get_int("reps"), warmup = a.get_int("warmup"), check_batch = a.get_int("check-batch");
  const std::string filter = a.get("filter"), impl_list = a.get("impl");
  SFM_CHECK(B >= 1 && H >= 8 && W >= 8 && S >= 1 && reps >= 1 && warmup >= 0, "sfm bench kernels: bad sizes");
  std::vector<ConvImpl> impls;
  for (ConvImpl c : {ConvImpl::Handwritten, ConvImpl::HandwrittenTF32, ConvImpl::CuDNN, ConvImpl::CuBLAS}) {
    if (!impl_list.empty() && impl_list.find(conv_impl_name(c)) == std::string::npos) continue;
    if (c == ConvImpl::HandwrittenTF32 && !cuda::conv_tf32_supported()) {
      std::printf("sfm bench kernels: tf32 SKIPPED (this GPU is below sm_80)\n");
      continue;
    }
#if !SFM_WITH_CUDNN
    if (c == ConvImpl::CuDNN) {
      std::printf("sfm bench kernels: cudnn SKIPPED (cuDNN was not found when this binary was built)\n");
      continue;
    }
#endif
    impls.push_back(c);
  }
  auto wanted = [&](const std::string& op, const std::string& shape) {
    return filter.empty() || op.find(filter) != std::string::npos || shape.find(filter) != std::string::npos;
  };

  const std::string dev = cuda_device_name();
  std::printf("sfm bench kernels: %s, batch %lld, %lldx%lld, %lld sources, median of %d calls after %d\n",
              dev.c_str(), (long long)B, (long long)H, (long long)W, (long long)S, reps, warmup);
  const Peaks peaks = measure_peaks(reps);
  std::printf("measured peaks: %.1f GB/s (1 GiB device copy), %.2f TFLOP/s FP32 SGEMM, %.2f TFLOP/s TF32 GEMM "
              "(8192^3 cuBLAS)\n\n",
              peaks.gbs, peaks.fp32_tflops, peaks.tf32_tflops);
  std::printf("%-18s %-38s %-12s %9s %9s %9s %7s %9s\n", "op", "shape", "impl", "ms", "TFLOP/s", "GB/s", "%peak",
              "err");

  nlohmann::json rows = nlohmann::json::array();
  auto report = [&](Row& r) {
    const double ms = median_ms(r.run, warmup, reps);
    const double tflops = r.flops > 0 ? r.flops / (ms * 1e9) : 0, gbs = r.bytes > 0 ? r.bytes / (ms * 1e6) : 0;
    double pct = kNaN;
    if (r.peak == Peak::Bandwidth && gbs > 0) pct = 100 * gbs / peaks.gbs;
    if (r.peak == Peak::Fp32 && tflops > 0) pct = 100 * tflops / peaks.fp32_tflops;
    if (r.peak == Peak::Tf32 && tflops > 0 && peaks.tf32_tflops > 0) pct = 100 * tflops / peaks.tf32_tflops;
    std::printf("%-18s %-38s %-12s %9.4f %9.3f %9.1f %7.1f %9.2e\n", r.op.c_str(), r.shape.c_str(), r.impl.c_str(), ms,
                tflops, gbs, pct, r.err);
    std::fflush(stdout);
    nlohmann::json j = {{"op", r.op},         {"shape", r.shape},    {"impl", r.impl},   {"ms_median", ms},
                        {"flops", r.flops},   {"bytes", r.bytes},    {"tflops", tflops}, {"gbytes_per_s", gbs}};
    j["percent_of_peak"] = std::isfinite(pct) ? nlohmann::json(pct) : nlohmann::json(nullptr);
    j["max_rel_err_vs_cpu"] = std::isfinite(r.err) ? nlohmann::json(r.err) : nlohmann::json(nullptr);
    rows.push_back(j);
  };

  // ---------------------------------------------------------------- convolutions
  const auto layers = sfmlearner_conv_layers(B, H, W, (int)S);
  const auto check_layers = check_batch > 0 ? sfmlearner_conv_layers(check_batch, H, W, (int)S) : layers;
  const char* dirs[3] = {"fwd", "bwd-data", "bwd-weight"};
  for (size_t li = 0; li < layers.size(); ++li) {
    const ConvLayer& l = layers[li];
    const std::string shape = l.spec.name + " " + layer_shape(l);
    bool any = false;
    for (int dir = 0; dir < 3; ++dir) any = any || wanted(std::string(l.spec.transposed ? "upconv " : "conv ") + dirs[dir], shape);
    if (!any) continue;
    ConvRef ref;
    if (check_batch > 0) ref = conv_reference(check_layers[li], 1000 + li);
    Rng rng(li + 1);
    ConvBuffers g = conv_buffers(l, rng, DType::F32);
    g.x = g.x.to(Device::CUDA);
    g.w = g.w.to(Device::CUDA);
    g.b = g.b.to(Device::CUDA);
    g.dy = g.dy.to(Device::CUDA);
    alloc_outputs(g, l);
    for (ConvImpl impl : impls) {
      std::array<double, 3> err{kNaN, kNaN, kNaN};
      if (check_batch > 0) err = conv_errors(impl, check_layers[li], ref);
      for (int dir = 0; dir < 3; ++dir) {
        Row r;
        r.op = std::string(l.spec.transposed ? "upconv " : "conv ") + dirs[dir];
        r.shape = shape;
        if (!wanted(r.op, r.shape)) continue;
        r.impl = conv_impl_name(impl);
        r.flops = l.flops();
        r.peak = impl == ConvImpl::HandwrittenTF32 ? Peak::Tf32 : Peak::Fp32;
        r.err = err[dir];
        r.run = [&, impl, dir] { conv_run(impl, l, dir, g); };
        report(r);
      }
    }
  }

  // ---------------------------------------------------------------- memory-bound kernels
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

  if (a.has("json")) {
    nlohmann::json j = {{"device", dev},
                        {"batch", B},
                        {"height", H},
                        {"width", W},
                        {"sources", S},
                        {"reps", reps},
                        {"warmup", warmup},
                        {"check_batch", check_batch},
                        {"peaks",
                         {{"bandwidth_gbytes_per_s", peaks.gbs},
                          {"fp32_sgemm_tflops", peaks.fp32_tflops},
                          {"tf32_gemm_tflops", peaks.tf32_tflops}}},
                        {"rows", rows}};
    write_file_atomic(a.get("json"), j.dump(2) + "\n");
    std::printf("wrote %s\n", a.get("json").c_str());
  }
  return 0;
}

}  // namespace
#else
namespace {
int bench_kernels(const std::vector<std::string>& argv) {
  Args a = bench_kernels_args();
  if (!a.parse(argv)) return 0;
  std::printf("sfm bench kernels: no CUDA device (this build of sfm has no CUDA backend)\n");
  return 1;
}
}  // namespace
#endif

SFM_COMMAND("bench kernels", "time every CUDA kernel and implementation at the SfMLearner shapes", bench_kernels);

}  // namespace sfm::cli
