// `sfm bench kernels` (kernel_bench.h): the driver, the measured peaks and the convolution rows.
#include "lab/ops/kernel_bench.h"

#include <cstdio>

#include "boundary/device_runtime.h"
#if SFM_WITH_CUDA
#include <algorithm>
#include <array>
#include <cmath>
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
#endif

namespace sfm::lab {

#if SFM_WITH_CUDA
namespace kbench {

Tensor nan_gpu(const Shape& s) { return Tensor::full(s, kNaN, DType::F32, Device::CUDA); }
Tensor gpu(const Tensor& t) { return t.to(DType::F32).to(Device::CUDA); }
Tensor gpu_vec(const std::vector<float>& v) { return Tensor::from_vector(v, Shape{(int64_t)v.size()}, Device::CUDA); }

namespace {

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


}  // namespace

void KernelBench::report(Row& r) {
  const double ms = median_ms(r.run, o.warmup, o.reps);
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
}

// The convolutions: every layer of both networks, each direction, each implementation.
static void conv_rows(KernelBench& kb, const std::vector<ConvImpl>& impls) {
  const int64_t B = kb.B, H = kb.H, W = kb.W, S = kb.S;
  const int check_batch = kb.o.check_batch;
  auto wanted = [&](const std::string& op, const std::string& shape) { return kb.wanted(op, shape); };
  auto report = [&](Row& r) { kb.report(r); };
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
}

}  // namespace kbench

int run_kernel_bench(const KernelBenchOptions& o) {
  using namespace kbench;
  if (!cuda_available()) {
    std::printf("sfm bench kernels: no CUDA device is available; nothing to time\n");
    return 1;
  }
  KernelBench kb;
  kb.o = o;
  const int64_t B = kb.B = o.batch, H = kb.H = o.height, W = kb.W = o.width, S = kb.S = o.sources;
  const int reps = o.reps, warmup = o.warmup, check_batch = o.check_batch;
  const std::string& impl_list = o.impl_list;
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

  const std::string dev = cuda_device_name();
  std::printf("sfm bench kernels: %s, batch %lld, %lldx%lld, %lld sources, median of %d calls after %d\n",
              dev.c_str(), (long long)B, (long long)H, (long long)W, (long long)S, reps, warmup);
  kb.peaks = measure_peaks(reps);
  const Peaks& peaks = kb.peaks;
  std::printf("measured peaks: %.1f GB/s (1 GiB device copy), %.2f TFLOP/s FP32 SGEMM, %.2f TFLOP/s TF32 GEMM "
              "(8192^3 cuBLAS)\n\n",
              peaks.gbs, peaks.fp32_tflops, peaks.tf32_tflops);
  std::printf("%-18s %-38s %-12s %9s %9s %9s %7s %9s\n", "op", "shape", "impl", "ms", "TFLOP/s", "GB/s", "%peak",
              "err");

  conv_rows(kb, impls);
  memory_rows(kb);

  if (!o.json.empty()) {
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
                        {"rows", kb.rows}};
    write_file_atomic(o.json, j.dump(2) + "\n");
    std::printf("wrote %s\n", o.json.c_str());
  }
  return 0;
}


#else
int run_kernel_bench(const KernelBenchOptions&) {
  std::printf("sfm bench kernels: no CUDA device (this build of sfm has no CUDA backend)\n");
  return 1;
}
#endif

}  // namespace sfm::lab
