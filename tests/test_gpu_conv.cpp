// CUDA convolutions against the CPU convolution ops (run in float64 as the reference), for
// every layer of DispNet and PoseExpNet at the training resolution 128x416 (batch 1: the
// batch only repeats the same arithmetic) plus a few odd shapes at batch 3, in every
// implementation (handwritten FP32, handwritten TF32, cuDNN, im2col + cuBLAS) and every
// direction (forward with bias and fused activation, backward-data, backward-weight with
// the bias gradient). Tagged [gpu]: without a CUDA device they say so and do nothing.
//
// Outputs are filled with NaN before every run, so an element a kernel does not write
// fails. Each run is repeated and the two results must be bitwise equal (determinism).
// Error: max |gpu - ref| / max |ref| over the tensor. Tolerances: FP32 paths 1e-5 (the
// longest sums here have K = 53248 terms; their float rounding is ~sqrt(K) * 2^-24 of the
// largest output, ~1.4e-5 in the worst case, ~1e-6 typically, and the split-K and tree
// orders only shorten the sequential chains); TF32 3e-3 (operands rounded to 10-bit
// mantissas, 2^-11 relative each, accumulated in FP32). cuDNN is restricted to its
// GEMM-type algorithms (no FFT or Winograd), which are exact FP32 arithmetic.
#include <catch2/catch.hpp>

#include "tests/test_support.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <unistd.h>

#include "engine/hash.h"
#include "lab/ops/compare.h"
#include "boundary/device_runtime.h"
#if SFM_WITH_CUDA
#include "boundary/math/conv_math.h"
#include "kernels/conv.h"
#endif
#include "models/sfm_layers.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/rng.h"

using namespace sfm;
using sfm::lab::max_rel_err;

#if SFM_WITH_CUDA
namespace {

bool same_bits(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * 4) == 0;
}
Tensor nan_gpu(const Shape& s) { return Tensor::full(s, std::numeric_limits<double>::quiet_NaN(), DType::F32, Device::CUDA); }
Tensor gpu(const Tensor& t64) { return t64.to(DType::F32).to(Device::CUDA); }

std::vector<ConvImpl> impls() {
  std::vector<ConvImpl> v{ConvImpl::Handwritten};
  if (cuda::conv_tf32_supported())
    v.push_back(ConvImpl::HandwrittenTF32);
  else
    WARN("not run: the TF32 tensor-core path (this GPU is below sm_80)");
#if SFM_WITH_CUDNN
  v.push_back(ConvImpl::CuDNN);
#else
  WARN("not run: the cuDNN path (cuDNN was not found when this binary was built)");
#endif
#if SFM_EMULATED_CUDA
  WARN("not run: the cuBLAS path (not in the emulated build)");
#else
  v.push_back(ConvImpl::CuBLAS);
#endif
  return v;
}

// A layer outside the networks (odd shapes), in the layer table's terms: input [N,C,H,W],
// C -> O channels.
ConvLayer layer_at(const std::string& name, bool transposed, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O,
                   int k, int s, int p, int op, Activation act) {
  LayerSpec l;
  l.net = "odd", l.name = name, l.transposed = transposed, l.in_channels = C, l.out_channels = O;
  l.k = k, l.stride = s, l.pad = p, l.output_padding = op, l.act = act;
  return at_size({l}, N, H, W).at(0);
}

struct Ref {
  Tensor x, w, b, dy;             // float64 CPU inputs
  std::vector<double> y, dx, dw, db;  // references
};

// The CPU ops in float64: forward (activation applied here, from the pre-activation
// output) and the backward of the bias-added convolution for the upstream dy.
Ref reference(const ConvLayer& l, uint64_t seed) {
  Rng rng(seed);
  Ref r;
  r.x = rand_uniform(l.in_shape(), rng, -1, 1, DType::F64).set_requires_grad(true);
  r.w = rand_uniform(l.weight_shape(), rng, -1, 1, DType::F64).set_requires_grad(true);
  r.b = rand_uniform(Shape{l.out_channels()}, rng, -1, 1, DType::F64).set_requires_grad(true);
  r.dy = rand_uniform(l.out_shape(), rng, -1, 1, DType::F64);
  LayerSpec pre = l.spec;
  pre.act = Activation::None;
  Tensor y = apply_layer(pre, r.x, r.w, r.b);
  REQUIRE(y.shape() == l.out_shape());
  r.y = y.to_vector_f64();
  for (double& v : r.y) v = math::conv_activation(l.spec.act, v);
  y.backward(r.dy);
  r.dx = r.x.grad().to_vector_f64();
  r.dw = r.w.grad().to_vector_f64();
  r.db = r.b.grad().to_vector_f64();
  return r;
}

// The three directions of a layer as the ops run them (engine/ops_conv.cpp): a transposed
// layer's backward-data is the convolution's forward, its backward-weight the convolution's
// with x and dy swapped, its bias gradient a sum over its output's channels (geom.C).
void run_layer(ConvImpl impl, const ConvLayer& l, const float* x, const float* w, const float* b, const float* dy,
               float* y, float* dx, float* dw, float* db) {
  const ConvGeom& g = l.geom;
  if (l.spec.transposed) {
    cuda::conv_transpose2d_forward(impl, g, x, w, b, l.spec.act, y);
    cuda::conv2d_forward(impl, g, dy, w, nullptr, Activation::None, dx);
    cuda::conv2d_backward_weight(impl, g, dy, x, dw);
    cuda::channel_sum(dy, g.N, g.C, g.H * g.W, db);
  } else {
    cuda::conv2d_forward(impl, g, x, w, b, l.spec.act, y);
    cuda::conv2d_backward_data(impl, g, w, dy, dx);
    cuda::conv2d_backward_weight(impl, g, x, dy, dw);
    cuda::channel_sum(dy, g.N, g.O, g.P(), db);
  }
}

void check_layer(const ConvLayer& l, uint64_t seed) {
  const Ref r = reference(l, seed);
  const Tensor x = gpu(r.x.detach()), w = gpu(r.w.detach()), b = gpu(r.b.detach()), dy = gpu(r.dy);
  const float *px = x.data<float>(), *pw = w.data<float>(), *pb = b.data<float>(), *pdy = dy.data<float>();
  const ConvGeom& g = l.geom;
  for (ConvImpl impl : impls()) {
    const double tol = impl == ConvImpl::HandwrittenTF32 ? 3e-3 : 1e-5;
    INFO(l.spec.full_name() << " in " << l.in_shape().str() << " out " << l.out_shape().str() << " k=" << g.k
                            << " s=" << g.s << (l.spec.transposed ? " transposed" : "") << " impl "
                            << conv_impl_name(impl));
    Tensor y[2], dx[2], dw[2], db[2];
    for (int run = 0; run < 2; ++run) {
      y[run] = nan_gpu(l.out_shape());
      dx[run] = nan_gpu(x.shape());
      dw[run] = nan_gpu(w.shape());
      db[run] = nan_gpu(b.shape());
      run_layer(impl, l, px, pw, pb, pdy, y[run].data<float>(), dx[run].data<float>(), dw[run].data<float>(),
                db[run].data<float>());
    }
    const double ey = max_rel_err(y[0], r.y), ex = max_rel_err(dx[0], r.dx), ew = max_rel_err(dw[0], r.dw),
                 eb = max_rel_err(db[0], r.db);
    std::printf("gpu conv %-22s %-12s fwd %.2e  bwd-data %.2e  bwd-weight %.2e  bias %.2e\n",
                l.spec.full_name().c_str(), conv_impl_name(impl), ey, ex, ew, eb);
    CHECK(ey <= tol);
    CHECK(ex <= tol);
    CHECK(ew <= tol);
    CHECK(eb <= 1e-5);  // the bias gradient is a plain FP32-input sum in double on every path
    CHECK(same_bits(y[0], y[1]));
    CHECK(same_bits(dx[0], dx[1]));
    CHECK(same_bits(dw[0], dw[1]));
    CHECK(same_bits(db[0], db[1]));
  }
}

}  // namespace
#endif

TEST_CASE("gpu conv: every SfMLearner layer, every implementation, all three directions", "[gpu][conv]") {
#if SFM_WITH_CUDA
  if (!cuda_available()) {
    SFM_SKIP("no CUDA device");
    return;
  }
  // SFM_GPU_TESTS_SMALL=1 (for runs under compute-sanitizer, which
  // slow kernels down 10-100x): the same layers at 32x104, every code path still taken.
  const bool small = std::getenv("SFM_GPU_TESTS_SMALL") != nullptr;
  uint64_t seed = 1;
  for (const ConvLayer& l : sfmlearner_conv_layers(1, small ? 32 : 128, small ? 104 : 416)) check_layer(l, seed++);
#else
  SFM_SKIP("this build has no CUDA backend");
#endif
}

TEST_CASE("gpu conv: odd shapes at batch 3 (edges of every tile, split-K, stride residues)", "[gpu][conv]") {
#if SFM_WITH_CUDA
  if (!cuda_available()) {
    SFM_SKIP("no CUDA device");
    return;
  }
  auto L = [](std::string name, bool tr, int64_t C, int64_t H, int64_t W, int64_t O, int k, int s, int p, int op,
              Activation act) { return layer_at(name, tr, 3, C, H, W, O, k, s, p, op, act); };
  const std::vector<ConvLayer> odd{
      L("odd k7 s2", false, 5, 37, 53, 70, 7, 2, 3, 0, Activation::ReLU),
      L("odd k5 s1", false, 33, 9, 131, 17, 5, 1, 2, 0, Activation::Sigmoid),
      L("odd k1", false, 130, 3, 5, 65, 1, 1, 0, 0, Activation::None),
      L("odd deep k3", false, 700, 1, 3, 129, 3, 1, 1, 0, Activation::ReLU),
      L("odd upconv k3", true, 67, 5, 11, 35, 3, 2, 1, 1, Activation::ReLU),
      L("odd upconv k4", true, 19, 6, 7, 66, 4, 2, 1, 0, Activation::Sigmoid),
  };
  uint64_t seed = 100;
  for (const ConvLayer& l : odd) check_layer(l, seed++);
#else
  SFM_SKIP("this build has no CUDA backend");
#endif
}

TEST_CASE("gpu conv: activation epilogue and gradient helpers", "[gpu][conv]") {
#if SFM_WITH_CUDA
  if (!cuda_available()) {
    SFM_SKIP("no CUDA device");
    return;
  }
  Rng rng(4);
  const int64_t N = 2, C = 3, HW = 1000, n = N * C * HW;
  Tensor y = rand_uniform(Shape{N, C, HW}, rng, -3, 3);
  Tensor b = rand_uniform(Shape{C}, rng, -1, 1);
  Tensor g = rand_uniform(Shape{N, C, HW}, rng, -1, 1);
  for (Activation act : {Activation::None, Activation::ReLU, Activation::Sigmoid}) {
    Tensor yg = y.to(Device::CUDA);
    cuda::bias_activation_inplace(yg.data<float>(), b.to(Device::CUDA).data<float>(), N, C, HW, act);
    Tensor out = nan_gpu(g.shape());
    cuda::activation_backward(yg.data<float>(), g.to(Device::CUDA).data<float>(), out.data<float>(), n, act);
    std::vector<float> yv = y.to_vector(), bv = b.to_vector(), gv = g.to_vector(), ya = yg.to_vector(),
                       oa = out.to_vector();
    for (int64_t i = 0; i < n; ++i) {
      const float ref = math::conv_activation(act, yv[i] + bv[(i / HW) % C]);
      REQUIRE(std::fabs(ya[i] - ref) <= 1e-6f * std::max(1.0f, std::fabs(ref)));
      const float gref = math::conv_activation_grad(act, ya[i], gv[i]);
      REQUIRE(std::fabs(oa[i] - gref) <= 1e-6f * std::max(1.0f, std::fabs(gref)));
    }
  }
#else
  SFM_SKIP("this build has no CUDA backend");
#endif
}

// cuDNN picks its algorithms from its heuristics (kernels/conv_cudnn.cu), so two processes
// give the same bits for the same inputs. Checked across processes: this test runs the
// hidden case below in a child process (the same executable), which writes a hash of the
// cuDNN outputs of a few layers, and compares it with the hash computed here.
#if SFM_WITH_CUDA && SFM_WITH_CUDNN
namespace {
uint64_t cudnn_output_hash() {
  uint64_t h = kFnv1aOffset;  // FNV-1a over the bits of every output
  auto L = [](bool tr, int64_t C, int64_t H, int64_t W, int64_t O, int k, int s, int p, int op) {
    return layer_at("hash", tr, 2, C, H, W, O, k, s, p, op, Activation::None);
  };
  uint64_t seed = 900;
  for (const ConvLayer& l : {L(false, 3, 128, 416, 32, 7, 2, 3, 0), L(false, 256, 8, 26, 512, 3, 2, 1, 0),
                             L(true, 64, 16, 52, 32, 3, 2, 1, 1), L(false, 35, 33, 47, 70, 5, 1, 2, 0)}) {
    const Ref r = reference(l, seed++);
    const Tensor x = gpu(r.x.detach()), w = gpu(r.w.detach()), b = gpu(r.b.detach()), dy = gpu(r.dy);
    Tensor y = nan_gpu(l.out_shape()), dx = nan_gpu(x.shape()), dw = nan_gpu(w.shape()), db = nan_gpu(b.shape());
    run_layer(ConvImpl::CuDNN, l, x.data<float>(), w.data<float>(), b.data<float>(), dy.data<float>(), y.data<float>(),
              dx.data<float>(), dw.data<float>(), db.data<float>());
    for (const Tensor* t : {&y, &dx, &dw, &db})
    {
      const std::vector<float> v = t->to_vector();
      h = fnv1a64(v.data(), v.size() * sizeof(float), h);
    }
  }
  return h;
}
}  // namespace
#endif

TEST_CASE("gpu conv: cuDNN algorithm choice is reproducible across processes", "[gpu][conv][cudnn]") {
#if SFM_WITH_CUDA && SFM_WITH_CUDNN
  if (!cuda_available()) {
    SFM_SKIP("no CUDA device");
    return;
  }
  const uint64_t here = cudnn_output_hash();
  const std::string out =
      (std::filesystem::temp_directory_path() / ("sfm_cudnn_hash_" + std::to_string(getpid()) + ".txt")).string();
  std::remove(out.c_str());
  char exe[4096] = {0};
  REQUIRE(readlink("/proc/self/exe", exe, sizeof exe - 1) > 0);
  const std::string cmd = std::string("SFM_CUDNN_HASH_OUT='") + out + "' '" + exe +
                          "' '[.cudnn-hash-child]' > /dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  FILE* f = std::fopen(out.c_str(), "r");
  REQUIRE(f != nullptr);
  unsigned long long child = 0;
  REQUIRE(std::fscanf(f, "%llx", &child) == 1);
  std::fclose(f);
  INFO("hash here " << std::hex << here << ", in a second process " << child);
  CHECK(child == here);
#elif SFM_WITH_CUDA
  SFM_SKIP("cuDNN was not found when this binary was built");
#else
  SFM_SKIP("this build has no CUDA backend");
#endif
}

TEST_CASE("gpu conv: cuDNN output hash (child process of the reproducibility test)", "[.cudnn-hash-child]") {
#if SFM_WITH_CUDA && SFM_WITH_CUDNN
  const char* out = std::getenv("SFM_CUDNN_HASH_OUT");
  if (!out || !cuda_available()) {
    SFM_SKIP("run only as the child process of the cuDNN reproducibility test, on a GPU");
    return;
  }
  FILE* f = std::fopen(out, "w");
  REQUIRE(f != nullptr);
  std::fprintf(f, "%llx\n", (unsigned long long)cudnn_output_hash());
  std::fclose(f);
#endif
}
