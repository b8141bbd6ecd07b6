// The op case table (see op_cases.h). Inputs are drawn in float64 from the case's seed and
// rounded to float32 values, so the float64 reference and a float32 run see the same numbers.
//
// Discontinuities. Some ops have a derivative (or a value) that jumps at a point: ReLU and
// |x| at 0, a bilinear sample where the projected coordinate crosses an integer (a cell edge,
// or the view border where a zeros-padded sample drops to 0, or a border clamp), |tgt - warp|
// where the difference is 0. A float32 run lands within rounding of its float64 reference,
// so an input within rounding of such a point would compare two different branches. The
// cases avoid it (nothing is left out of a comparison):
//   * elementwise: inputs of relu/abs/sigmoid/affine have magnitudes >= 0.05;
//   * convolutions with a fused ReLU: the upstream gradient is 0 where the float64
//     pre-activation is within 1% of its largest magnitude of 0 (what tests/test_gpu_dispatch.cpp
//     does; 1% also covers TF32's 10-bit operand rounding);
//   * inverse_warp / photometric_loss: after drawing the scene, the projection of every pixel
//     is computed in float64 with the engine's own math (engine/math/warp_math.h); where u or v
//     is within 2e-3 px of an integer (float32 coordinates carry errors up to ~1e-4 px at
//     416 px; the Warp bound allows 4e-4), that pixel's depth is drawn again, and for the
//     photometric loss, where |tgt - sample| < 1e-3 in a channel (a float32 sample is within
//     ~1e-4 of the float64 one), that target value is drawn again; a batch entry that
//     still has such a pixel after 40 rounds gets new poses. The scenes then have no pixel near
//     a jump, and every output and gradient is compared everywhere;
//   * smoothness_loss: inputs are multiples of 1/64 in (0, 10], so every first and second
//     difference is exact in float32 (a zero is an exact zero on both sides, where both take
//     d|e|/de = 0).
#include "engine/testing/op_cases.h"
#include "engine/hash.h"
#include "engine/testing/op_cases_min_reprojection.h"
#include "engine/testing/op_cases_smooth_upsample.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "engine/math/elementwise_math.h"

#include "engine/adam.h"
#include "engine/autograd.h"
#include "engine/device_runtime.h"
#include "engine/math/warp_math.h"
#include "engine/ops.h"
#include "engine/rng.h"
#if SFM_WITH_CUDA
#include "kernels/conv.h"
#endif

namespace sfm::testing {

const char* shape_class_name(ShapeClass c) {
  switch (c) {
    case ShapeClass::SfMLearner: return "sfmlearner";
    case ShapeClass::Edge: return "edge";
    case ShapeClass::Random: return "random";
  }
  return "?";
}

const char* tol_class_name(TolClass c) {
  switch (c) {
    case TolClass::Exact: return "exact";
    case TolClass::Elementwise: return "elementwise";
    case TolClass::Resample: return "resample";
    case TolClass::Reduction: return "reduction";
    case TolClass::ConvSum: return "conv";
    case TolClass::Warp: return "warp";
  }
  return "?";
}

Tensor CaseContext::in(const CaseInputs& inputs, const std::string& name, bool requires_grad) const {
  auto it = inputs.find(name);
  SFM_CHECK(it != inputs.end(), "op case: no input named '", name, "'");
  Tensor t;
  if (share_inputs && it->second.dtype() == dtype && it->second.device() == device) {
    t = it->second;
    t.set_grad(Tensor());   // a timed repetition starts without the previous one's gradient
    t.set_requires_grad(false);
  } else {
    t = it->second.clone();
    if (dtype != t.dtype()) t = t.to(dtype);
    if (device != t.device()) t = t.to(device);
  }
  if (requires_grad && !forward_only) t.set_requires_grad(true);
  return t;
}

uint64_t case_seed(uint64_t run_seed, const std::string& key) {
  const uint64_t h = fnv1a64(key);  // then a splitmix64 finaliser
  uint64_t z = run_seed + 0x9e3779b97f4a7c15ull * (h | 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

namespace {

double f32(double v) { return (double)(float)v; }

Tensor tensor_of(std::vector<double> v, const Shape& s) {
  for (double& x : v) x = f32(x);
  return Tensor::from_vector(v, s);
}
Tensor uni(const Shape& s, Rng& rng, double lo, double hi) {
  std::vector<double> v((size_t)s.numel());
  for (double& x : v) x = rng.uniform(lo, hi);
  return tensor_of(std::move(v), s);
}
// Magnitudes in [lo, hi], random signs (away from 0).
Tensor signed_uni(const Shape& s, Rng& rng, double lo, double hi) {
  std::vector<double> v((size_t)s.numel());
  for (double& x : v) x = (rng.uniform() < 0.5 ? -1 : 1) * rng.uniform(lo, hi);
  return tensor_of(std::move(v), s);
}
Tensor scalar_grad(Rng& rng) { return uni(Shape{1}, rng, 0.5, 2.0); }

std::string shape_str(std::initializer_list<int64_t> d) {
  std::ostringstream os;
  os << "[";
  bool first = true;
  for (int64_t x : d) os << (first ? "" : ",") << x, first = false;
  os << "]";
  return os.str();
}
std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (int i = 0; i < s.ndim; ++i) os << (i ? "," : "") << s[i];
  os << "]";
  return os.str();
}

std::string none_unavailable() { return ""; }

// The table under construction: the device under test decides the implementation rows.
struct Table {
  Device dev;
  std::vector<OpCase> rows;
  std::string dev_impl() const { return dev == Device::CUDA ? "cuda" : "cpu"; }

  OpCase& add(const std::string& family, const std::string& op, ShapeClass sc, const std::string& shape, bool quick,
              std::function<CaseInputs(uint64_t)> make, std::function<std::vector<CaseTensor>(const CaseInputs&, const CaseContext&)> run) {
    OpCase c;
    c.family = family;
    c.op = op;
    c.impl = dev_impl();
    c.shape_class = sc;
    c.shape = shape;
    c.quick = quick;
    c.key = family + "/" + op + "/" + shape_class_name(sc) + "/" + shape;
    c.unavailable = none_unavailable;
    c.make_inputs = std::move(make);
    c.run = std::move(run);
    rows.push_back(std::move(c));
    return rows.back();
  }
};

// A row's tensor roles (see OpCase) and its cost: `moved` float32 elements (every tensor the
// forward and backward read or write, once) and `flops`.
void set_roles(OpCase& r, std::vector<ForwardOutput> fwd, std::vector<GradientOf> grads, double moved, double flops = 0) {
  r.forward = std::move(fwd);
  r.gradients = std::move(grads);
  r.bytes = 4 * moved;
  r.flops = flops;
}
double numel_of(const Shape& s) { return (double)s.numel(); }

// ================================================================== convolution
struct ConvSpec {
  std::string name;  // the layer, or what the edge case exercises
  bool transposed = false;
  int64_t N = 1, C = 1, H = 1, W = 1, O = 1, k = 1;
  int s = 1, p = 0, op = 0;
  Activation act = Activation::None;
};

const char* act_name(Activation a) { return a == Activation::ReLU ? "relu" : a == Activation::Sigmoid ? "sigmoid" : "none"; }

std::string conv_desc(const ConvSpec& c) {
  std::ostringstream os;
  os << shape_str({c.N, c.C, c.H, c.W}) << " O=" << c.O << " k" << c.k << " s" << c.s << " p" << c.p;
  if (c.transposed) os << " op" << c.op;
  os << " " << act_name(c.act);
  if (!c.name.empty()) os << " (" << c.name << ")";
  return os.str();
}

Tensor conv_apply(const ConvSpec& c, const Tensor& x, const Tensor& w, const Tensor& b, Activation act) {
  return c.transposed ? conv_transpose2d(x, w, b, c.s, c.p, c.op, act) : conv2d(x, w, b, c.s, c.p, act);
}

// Sets the CUDA convolution implementation for a scope (nothing for the CPU or the reference).
struct ConvImplScope {
  ConvImpl saved = conv_impl();
  bool active = false;
  explicit ConvImplScope(const CaseContext& ctx) {
    if (ctx.device == Device::CUDA && !ctx.impl.empty()) {
      set_conv_impl(parse_conv_impl(ctx.impl));
      active = true;
    }
  }
  ~ConvImplScope() {
    if (active) set_conv_impl(saved);
  }
  ConvImplScope(const ConvImplScope&) = delete;
  ConvImplScope& operator=(const ConvImplScope&) = delete;
};

CaseInputs conv_inputs(const ConvSpec& c, uint64_t seed) {
  Rng rng(seed);
  CaseInputs in;
  in["x"] = uni(Shape{c.N, c.C, c.H, c.W}, rng, -1, 1);
  // Weights at the scale of a trained layer (variance 1/(C k^2), as Xavier/He initialisation
  // gives), so pre-activations are O(1). With U(-1, 1) weights a sigmoid head's inputs reach
  // |pre| ~ 50: sigmoid' then lives on the few pixels near 0, where float32's absolute rounding of
  // pre (relative to the largest |pre|) is a large relative error of a tiny derivative, a
  // property of those inputs rather than of a kernel.
  const double ws = std::sqrt(3.0 / (double)(c.C * c.k * c.k));
  in["w"] = c.transposed ? uni(Shape{c.C, c.O, c.k, c.k}, rng, -ws, ws) : uni(Shape{c.O, c.C, c.k, c.k}, rng, -ws, ws);
  in["b"] = uni(Shape{c.O}, rng, -1, 1);
  Tensor pre;
  {
    NoGradGuard ng;
    pre = conv_apply(c, in["x"], in["w"], in["b"], Activation::None);
  }
  // Upstream gradient in (0, 1]: with the activations' derivatives >= 0 every bias gradient is a
  // sum of non-negative terms. With signed terms a bias gradient of few channels can cancel to
  // near 0, and max|err|/max|ref| then measures that cancellation, not the kernel (seen on the
  // CPU in float32 against float64: 2.8e-5 for a 60-term sum of one output channel).
  std::vector<double> g(pre.numel());
  for (double& v : g) v = rng.uniform(0x1p-10, 1);
  if (c.act == Activation::ReLU) {  // the ReLU kink (see the top of this file)
    const double* pv = pre.data<double>();
    double mx = 0;
    for (int64_t i = 0; i < pre.numel(); ++i) mx = std::max(mx, std::fabs(pv[i]));
    for (int64_t i = 0; i < pre.numel(); ++i)
      if (std::fabs(pv[i]) < 1e-2 * mx) g[i] = 0;
  }
  in["g"] = tensor_of(std::move(g), pre.shape());
  return in;
}

std::vector<CaseTensor> conv_run(const ConvSpec& c, const CaseInputs& in, const CaseContext& ctx) {
  ConvImplScope scope(ctx);
  Tensor x = ctx.in(in, "x", true), w = ctx.in(in, "w", true), b = ctx.in(in, "b", true);
  Tensor y = conv_apply(c, x, w, b, c.act);
  y.backward(ctx.in(in, "g"));
  return {{"y", y.detach(), TolClass::ConvSum},
          {"grad x", x.grad(), TolClass::ConvSum},
          {"grad w", w.grad(), TolClass::ConvSum},
          {"grad b", b.grad(), TolClass::ConvSum}};
}

ConvSpec conv_layer(const std::string& name, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t k, int s,
                    Activation act) {
  ConvSpec c;
  c.name = name, c.N = N, c.C = C, c.H = H, c.W = W, c.O = O, c.k = k, c.s = s, c.p = (int)(k - 1) / 2, c.act = act;
  return c;
}
ConvSpec upconv_layer(const std::string& name, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t k, int op) {
  ConvSpec c;
  c.name = name, c.transposed = true, c.N = N, c.C = C, c.H = H, c.W = W, c.O = O, c.k = k, c.s = 2, c.p = 1, c.op = op;
  c.act = Activation::ReLU;
  return c;
}
int64_t out_size(int64_t n, int64_t k, int s, int p) { return (n + 2 * p - k) / s + 1; }

// Every convolution layer of DispNet and PoseExpNet (docs/DESIGN.md "Models") at batch N and
// an H x W input, 2 source frames.
std::vector<ConvSpec> sfmlearner_convs(int64_t N, int64_t H, int64_t W) {
  std::vector<ConvSpec> L;
  const Activation relu = Activation::ReLU, sig = Activation::Sigmoid;
  {  // DispNet
    const int64_t planes[7] = {32, 64, 128, 256, 512, 512, 512}, ks[7] = {7, 5, 3, 3, 3, 3, 3};
    int64_t h[8], w[8], c = 3;
    h[0] = H, w[0] = W;
    for (int i = 0; i < 7; ++i) {
      const std::string n = "dispnet conv" + std::to_string(i + 1);
      L.push_back(conv_layer(n + "a", N, c, h[i], w[i], planes[i], ks[i], 2, relu));
      h[i + 1] = out_size(h[i], ks[i], 2, (int)(ks[i] - 1) / 2), w[i + 1] = out_size(w[i], ks[i], 2, (int)(ks[i] - 1) / 2);
      L.push_back(conv_layer(n + "b", N, planes[i], h[i + 1], w[i + 1], planes[i], ks[i], 1, relu));
      c = planes[i];
    }
    const int64_t up[7] = {512, 512, 256, 128, 64, 32, 16};
    int64_t in_c = 512;
    for (int j = 0; j < 7; ++j) {
      const int lvl = 7 - j;
      L.push_back(upconv_layer("dispnet upconv" + std::to_string(lvl), N, in_c, h[lvl], w[lvl], up[j], 3, 1));
      // iconv input: the cropped upconv, the encoder skip (none at level 1), the upsampled
      // disparity of the coarser head (levels 3, 2, 1).
      const int64_t ic = up[j] + (lvl > 1 ? planes[lvl - 2] : 0) + (lvl <= 3 ? 1 : 0);
      L.push_back(conv_layer("dispnet iconv" + std::to_string(lvl), N, ic, h[lvl - 1], w[lvl - 1], up[j], 3, 1, relu));
      if (lvl <= 4)
        L.push_back(conv_layer("dispnet disp" + std::to_string(lvl), N, up[j], h[lvl - 1], w[lvl - 1], 1, 3, 1, sig));
      in_c = up[j];
    }
  }
  {  // PoseExpNet: target + 2 sources on channels
    const int64_t planes[7] = {16, 32, 64, 128, 256, 256, 256}, ks[7] = {7, 5, 3, 3, 3, 3, 3};
    int64_t h[8], w[8], c = 9;
    h[0] = H, w[0] = W;
    for (int i = 0; i < 7; ++i) {
      L.push_back(conv_layer("posenet conv" + std::to_string(i + 1), N, c, h[i], w[i], planes[i], ks[i], 2, relu));
      h[i + 1] = out_size(h[i], ks[i], 2, (int)(ks[i] - 1) / 2), w[i + 1] = out_size(w[i], ks[i], 2, (int)(ks[i] - 1) / 2);
      c = planes[i];
    }
    L.push_back(conv_layer("posenet pose_pred", N, 256, h[7], w[7], 12, 1, 1, Activation::None));
    const int64_t up[5] = {256, 128, 64, 32, 16};
    int64_t in_c = 256;
    for (int j = 0; j < 5; ++j) {
      const int lvl = 5 - j;
      L.push_back(upconv_layer("posenet upconv" + std::to_string(lvl), N, in_c, h[lvl], w[lvl], up[j], 4, 0));
      if (lvl <= 4)
        L.push_back(conv_layer("posenet mask" + std::to_string(lvl), N, up[j], h[lvl - 1], w[lvl - 1], 2, 3, 1, sig));
      in_c = up[j];
    }
  }
  return L;
}

// Roles and cost of a convolution row: forward, backward-data and backward-weight are each
// 2 C k^2 O flops per input (transposed) or output (direct) pixel; x, w, b, y and their
// gradients (g included) each moved once.
void set_conv_roles(OpCase& r, const ConvSpec& c) {
  const int64_t Ho = c.transposed ? (c.H - 1) * c.s - 2 * c.p + c.k + c.op : out_size(c.H, c.k, c.s, c.p);
  const int64_t Wo = c.transposed ? (c.W - 1) * c.s - 2 * c.p + c.k + c.op : out_size(c.W, c.k, c.s, c.p);
  const double x = (double)(c.N * c.C * c.H * c.W), w = (double)(c.O * c.C * c.k * c.k), y = (double)(c.N * c.O * Ho * Wo);
  const double pixels = c.transposed ? (double)(c.N * c.H * c.W) : (double)(c.N * Ho * Wo);
  set_roles(r, {{"y", "g"}}, {{"grad x", "x"}, {"grad w", "w"}, {"grad b", "b"}}, 2 * (x + w + (double)c.O + y),
            3 * 2 * pixels * (double)(c.C * c.k * c.k * c.O));
}

void add_conv(Table& t, const ConvSpec& c, ShapeClass sc, bool quick) {
  const std::string op = c.transposed ? "conv_transpose2d" : "conv2d", shape = conv_desc(c);
  auto make = [c](uint64_t seed) { return conv_inputs(c, seed); };
  auto run = [c](const CaseInputs& in, const CaseContext& ctx) { return conv_run(c, in, ctx); };
  if (t.dev == Device::CPU) {
    OpCase& r = t.add("conv", op, sc, shape, quick, make, run);
    r.impl = "im2col+eigen";
    set_conv_roles(r, c);
    return;
  }
  for (ConvImpl impl : {ConvImpl::Handwritten, ConvImpl::HandwrittenTF32, ConvImpl::CuDNN, ConvImpl::CuBLAS}) {
    OpCase& r = t.add("conv", op, sc, shape, quick, make, run);
    set_conv_roles(r, c);
    r.impl = conv_impl_name(impl);
    if (impl == ConvImpl::HandwrittenTF32)
      r.unavailable = [] {
#if SFM_WITH_CUDA
        return cuda::conv_tf32_supported() ? std::string() : std::string("no TF32 tensor cores on this device (sm_80+)");
#else
        return std::string("the build has no CUDA backend");
#endif
      };
    if (impl == ConvImpl::CuDNN)
      r.unavailable = [] {
#if SFM_WITH_CUDNN
        return std::string();
#else
        return std::string("the build has no cuDNN (SFM_WITH_CUDNN off)");
#endif
      };
#if SFM_EMULATED_CUDA
    if (impl == ConvImpl::CuDNN || impl == ConvImpl::CuBLAS)  // no host emulation of the libraries
      r.unavailable = [] { return std::string("not in the emulated build (cuBLAS and cuDNN have no host emulation)"); };
#endif
  }
}

void add_convolutions(Table& t, Rng& shape_rng) {
  const Activation relu = Activation::ReLU, sig = Activation::Sigmoid, none = Activation::None;
  // Quick: small maps, every kind of layer.
  add_conv(t, conv_layer("3 channels k7 s2, batch 3, odd H/W", 3, 3, 17, 23, 8, 7, 2, relu), ShapeClass::Edge, true);
  add_conv(t, conv_layer("1x4 map k3", 2, 16, 1, 4, 8, 3, 1, relu), ShapeClass::Edge, true);
  add_conv(t, conv_layer("k5 s2, odd H/W", 2, 5, 11, 9, 7, 5, 2, none), ShapeClass::Edge, true);
  add_conv(t, conv_layer("pose head 1x1 on 1x4", 3, 32, 1, 4, 12, 1, 1, none), ShapeClass::Edge, true);
  add_conv(t, conv_layer("sigmoid head, odd H/W", 1, 16, 9, 13, 1, 3, 1, sig), ShapeClass::Edge, true);
  add_conv(t, upconv_layer("k3 op1, batch 3, odd H/W", 3, 8, 5, 7, 4, 3, 1), ShapeClass::Edge, true);
  add_conv(t, upconv_layer("k4 op0 on 1x4", 2, 16, 1, 4, 8, 4, 0), ShapeClass::Edge, true);
  // Full only: wider edge cases.
  add_conv(t, conv_layer("C=1024 (iconv7's input width), odd H/W", 2, 1024, 3, 5, 16, 3, 1, relu), ShapeClass::Edge, false);
  add_conv(t, conv_layer("3 channels k7 s2 at 128x416, batch 3", 3, 3, 128, 416, 32, 7, 2, relu), ShapeClass::Edge, false);
  add_conv(t, upconv_layer("C=1024 k3 op1, 1x4", 3, 1024, 1, 4, 32, 3, 1), ShapeClass::Edge, false);
  add_conv(t, conv_layer("1x1 map k3 s2", 3, 64, 1, 1, 16, 3, 2, relu), ShapeClass::Edge, false);
  // Random shapes from the run's seed: two in the quick form, four more in the full one.
  for (int i = 0; i < 6; ++i) {
    ConvSpec c;
    const bool transposed = i % 3 == 2;
    c.N = 1 + shape_rng.randint(4);
    c.C = 1 + shape_rng.randint(40);
    c.H = 1 + shape_rng.randint(20);
    c.W = 1 + shape_rng.randint(24);
    c.O = 1 + shape_rng.randint(24);
    const int64_t acts = shape_rng.randint(3);
    c.act = acts == 0 ? none : acts == 1 ? relu : sig;
    if (transposed) {
      c.transposed = true;
      c.k = 3 + shape_rng.randint(2);
      c.s = 2, c.p = 1, c.op = c.k == 3 ? 1 : (int)shape_rng.randint(2);
    } else {
      const int64_t ks[4] = {1, 3, 5, 7};
      c.k = ks[shape_rng.randint(4)];
      c.s = 1 + (int)shape_rng.randint(2);
      c.p = (int)(c.k - 1) / 2;
    }
    add_conv(t, c, ShapeClass::Random, i < 2);
  }
  // The training shapes.
  for (const ConvSpec& c : sfmlearner_convs(4, 128, 416)) add_conv(t, c, ShapeClass::SfMLearner, false);
}

// ================================================================== elementwise
struct EwSpec {
  std::string op;
  bool binary;
  enum Domain { Signed, Positive, Any } domain;
  std::function<Tensor(const Tensor&, const Tensor&)> f;
};

void add_elementwise(Table& t, Rng& shape_rng) {
  const std::vector<EwSpec> ops{
      {"relu", false, EwSpec::Signed, [](const Tensor& a, const Tensor&) { return relu(a); }},
      {"sigmoid", false, EwSpec::Signed, [](const Tensor& a, const Tensor&) { return sigmoid(a); }},
      {"abs", false, EwSpec::Signed, [](const Tensor& a, const Tensor&) { return abs(a); }},
      {"affine", false, EwSpec::Signed, [](const Tensor& a, const Tensor&) { return affine(a, -1.5, 0.25); }},
      {"add_scalar", false, EwSpec::Signed, [](const Tensor& a, const Tensor&) { return add_scalar(a, 0.75); }},
      {"mul_scalar", false, EwSpec::Signed, [](const Tensor& a, const Tensor&) { return mul_scalar(a, -2.5); }},
      {"reciprocal", false, EwSpec::Positive, [](const Tensor& a, const Tensor&) { return reciprocal(a); }},
      {"log", false, EwSpec::Positive, [](const Tensor& a, const Tensor&) { return log(a); }},
      {"exp", false, EwSpec::Any, [](const Tensor& a, const Tensor&) { return exp(a); }},
      {"add", true, EwSpec::Signed, [](const Tensor& a, const Tensor& b) { return add(a, b); }},
      {"sub", true, EwSpec::Signed, [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
      {"mul", true, EwSpec::Signed, [](const Tensor& a, const Tensor& b) { return mul(a, b); }},
      {"div", true, EwSpec::Signed, [](const Tensor& a, const Tensor& b) { return div(a, b); }},
  };
  const Shape rnd{1 + shape_rng.randint(4), 1 + shape_rng.randint(9), 1 + shape_rng.randint(33), 1 + shape_rng.randint(45)};
  struct S {
    Shape s;
    ShapeClass sc;
    bool quick;
  };
  const std::vector<S> shapes{{Shape{3, 1, 1, 4}, ShapeClass::Edge, true},
                              {Shape{3, 5, 17, 29}, ShapeClass::Edge, true},
                              {rnd, ShapeClass::Random, false},
                              {Shape{4, 32, 128, 416}, ShapeClass::SfMLearner, false}};
  for (const S& sh : shapes)
    for (const EwSpec& e : ops) {
      const Shape s = sh.s;
      auto make = [e, s](uint64_t seed) {
        Rng rng(seed);
        CaseInputs in;
        in["a"] = e.domain == EwSpec::Signed     ? signed_uni(s, rng, 0.05, 2.0)
                  : e.domain == EwSpec::Positive ? uni(s, rng, 0.1, 2.0)
                                                 : uni(s, rng, -2.0, 2.0);
        // b: also the divisor, so its magnitude stays >= 0.5
        if (e.binary) in["b"] = signed_uni(s, rng, 0.5, 2.0);
        in["g"] = uni(s, rng, -1, 1);
        return in;
      };
      auto run = [e](const CaseInputs& in, const CaseContext& ctx) {
        Tensor a = ctx.in(in, "a", true), b = e.binary ? ctx.in(in, "b", true) : Tensor();
        Tensor y = e.f(a, b);
        y.backward(ctx.in(in, "g"));
        std::vector<CaseTensor> out{{"y", y.detach(), TolClass::Elementwise}, {"grad a", a.grad(), TolClass::Elementwise}};
        if (e.binary) out.push_back({"grad b", b.grad(), TolClass::Elementwise});
        return out;
      };
      OpCase& r = t.add("elementwise", e.op, sh.sc, shape_str(s), sh.quick, make, run);
      if (e.binary)
        set_roles(r, {{"y", "g"}}, {{"grad a", "a"}, {"grad b", "b"}}, 6 * numel_of(s));  // a, b, y, g, grad a, grad b
      else
        set_roles(r, {{"y", "g"}}, {{"grad a", "a"}}, 4 * numel_of(s));  // a, y, g, grad a
    }
}

// ================================================================== shape
void add_shape_ops(Table& t) {
  struct Cat {
    std::vector<int64_t> cs;
    int64_t N, H, W;
    ShapeClass sc;
    bool quick;
    std::string note;
  };
  for (const Cat& c : std::vector<Cat>{{{3, 5, 1}, 3, 1, 4, ShapeClass::Edge, true, ""},
                                       {{1, 1}, 2, 5, 7, ShapeClass::Edge, true, ""},
                                       {{16, 1}, 4, 128, 416, ShapeClass::SfMLearner, false, " (iconv1 input)"},
                                       {{512, 512}, 4, 2, 7, ShapeClass::SfMLearner, false, " (iconv7 input)"}}) {
    std::ostringstream os;
    os << "N=" << c.N << " " << c.H << "x" << c.W << " C=";
    for (size_t i = 0; i < c.cs.size(); ++i) os << (i ? "+" : "") << c.cs[i];
    os << c.note;
    auto make = [c](uint64_t seed) {
      Rng rng(seed);
      CaseInputs in;
      int64_t total = 0;
      for (size_t i = 0; i < c.cs.size(); ++i) {
        in["x" + std::to_string(i)] = uni(Shape{c.N, c.cs[i], c.H, c.W}, rng, -1, 1);
        total += c.cs[i];
      }
      in["g"] = uni(Shape{c.N, total, c.H, c.W}, rng, -1, 1);
      return in;
    };
    auto run = [c](const CaseInputs& in, const CaseContext& ctx) {
      std::vector<Tensor> xs;
      for (size_t i = 0; i < c.cs.size(); ++i) xs.push_back(ctx.in(in, "x" + std::to_string(i), true));
      Tensor y = concat_channels(xs);
      y.backward(ctx.in(in, "g"));
      std::vector<CaseTensor> out{{"y", y.detach(), TolClass::Exact}};
      for (size_t i = 0; i < xs.size(); ++i) out.push_back({"grad x" + std::to_string(i), xs[i].grad(), TolClass::Exact});
      return out;
    };
    OpCase& r = t.add("shape", "concat_channels", c.sc, os.str(), c.quick, make, run);
    std::vector<GradientOf> grads;
    int64_t total = 0;
    for (size_t i = 0; i < c.cs.size(); ++i) {
      grads.push_back({"grad x" + std::to_string(i), "x" + std::to_string(i)});
      total += c.cs[i];
    }
    set_roles(r, {{"y", "g"}}, grads, 4 * (double)(c.N * total * c.H * c.W));  // the inputs, y, g, their gradients
  }
  struct Sl {
    Shape s;
    int64_t c0, c1, h, w;
    ShapeClass sc;
    bool quick;
  };
  for (const Sl& c : std::vector<Sl>{{Shape{3, 6, 1, 4}, 2, 5, 1, 3, ShapeClass::Edge, true},
                                     {Shape{2, 3, 5, 7}, 0, 1, 4, 7, ShapeClass::Edge, true},
                                     {Shape{4, 9, 128, 416}, 3, 6, 128, 416, ShapeClass::SfMLearner, false},
                                     {Shape{4, 512, 4, 14}, 0, 512, 4, 13, ShapeClass::SfMLearner, false}}) {
    auto make = [c](uint64_t seed) {
      Rng rng(seed);
      CaseInputs in;
      in["x"] = uni(c.s, rng, -1, 1);
      in["g slice"] = uni(Shape{c.s[0], c.c1 - c.c0, c.s[2], c.s[3]}, rng, -1, 1);
      in["g crop"] = uni(Shape{c.s[0], c.s[1], c.h, c.w}, rng, -1, 1);
      in["g reshape"] = uni(Shape{c.s[0] * c.s[1], c.s[2] * c.s[3]}, rng, -1, 1);
      return in;
    };
    std::ostringstream sl, cr, rs;
    sl << shape_str(c.s) << " channels " << c.c0 << ".." << c.c1;
    cr << shape_str(c.s) << " -> " << c.h << "x" << c.w;
    rs << shape_str(c.s) << " -> " << shape_str({c.s[0] * c.s[1], c.s[2] * c.s[3]});
    const double n = numel_of(c.s);
    OpCase& slice_row = t.add("shape", "slice_channels", c.sc, sl.str(), c.quick, make, [c](const CaseInputs& in, const CaseContext& ctx) {
      Tensor x = ctx.in(in, "x", true);
      Tensor y = slice_channels(x, c.c0, c.c1);
      y.backward(ctx.in(in, "g slice"));
      return std::vector<CaseTensor>{{"y", y.detach(), TolClass::Exact}, {"grad x", x.grad(), TolClass::Exact}};
    });
    set_roles(slice_row, {{"y", "g slice"}}, {{"grad x", "x"}}, 2 * n + 2 * (double)(c.s[0] * (c.c1 - c.c0) * c.s[2] * c.s[3]));
    OpCase& crop_row = t.add("shape", "crop", c.sc, cr.str(), c.quick, make, [c](const CaseInputs& in, const CaseContext& ctx) {
      Tensor x = ctx.in(in, "x", true);
      Tensor y = crop(x, c.h, c.w);
      y.backward(ctx.in(in, "g crop"));
      return std::vector<CaseTensor>{{"y", y.detach(), TolClass::Exact}, {"grad x", x.grad(), TolClass::Exact}};
    });
    set_roles(crop_row, {{"y", "g crop"}}, {{"grad x", "x"}}, 2 * n + 2 * (double)(c.s[0] * c.s[1] * c.h * c.w));
    OpCase& reshape_row = t.add("shape", "reshape", c.sc, rs.str(), c.quick, make, [c](const CaseInputs& in, const CaseContext& ctx) {
      Tensor x = ctx.in(in, "x", true);
      Tensor y = reshape(x, Shape{c.s[0] * c.s[1], c.s[2] * c.s[3]});
      y.backward(ctx.in(in, "g reshape"));
      return std::vector<CaseTensor>{{"y", y.detach(), TolClass::Exact}, {"grad x", x.grad(), TolClass::Exact}};
    });
    set_roles(reshape_row, {{"y", "g reshape"}}, {{"grad x", "x"}}, 4 * n);
  }
}

// ================================================================== reductions
void add_reductions(Table& t) {
  struct R {
    Shape s;
    ShapeClass sc;
    bool quick;
    std::string note;
  };
  for (const R& r : std::vector<R>{{Shape{1}, ShapeClass::Edge, true, ""},
                                   {Shape{3, 1, 1, 4}, ShapeClass::Edge, true, ""},
                                   {Shape{3, 5, 17, 29}, ShapeClass::Edge, true, ""},
                                   {Shape{4, 12, 1, 4}, ShapeClass::SfMLearner, false, " (pose head)"},
                                   {Shape{4, 32, 128, 416}, ShapeClass::SfMLearner, false, " (full-resolution activation)"}}) {
    const Shape s = r.s;
    auto make = [s](uint64_t seed) {
      Rng rng(seed);
      CaseInputs in;
      in["x"] = uni(s, rng, -1, 1);
      in["g"] = scalar_grad(rng);
      if (s.ndim == 4) in["g hw"] = uni(Shape{s[0], s[1]}, rng, -1, 1);
      return in;
    };
    auto scalar_run = [](bool is_mean) {
      return [is_mean](const CaseInputs& in, const CaseContext& ctx) {
        Tensor x = ctx.in(in, "x", true);
        Tensor y = is_mean ? mean(x) : sum(x);
        y.backward(ctx.in(in, "g"));
        // sum's gradient is the upstream value copied (exact); mean's is it times 1/n (one rounding).
        return std::vector<CaseTensor>{{"y", y.detach(), TolClass::Reduction},
                                       {"grad x", x.grad(), is_mean ? TolClass::Elementwise : TolClass::Exact}};
      };
    };
    const std::string desc = shape_str(s) + r.note;
    const double n = numel_of(s);  // x and grad x (the scalars are negligible)
    set_roles(t.add("reduce", "sum", r.sc, desc, r.quick, make, scalar_run(false)), {{"y", "g"}}, {{"grad x", "x"}}, 2 * n);
    set_roles(t.add("reduce", "mean", r.sc, desc, r.quick, make, scalar_run(true)), {{"y", "g"}}, {{"grad x", "x"}}, 2 * n);
    if (s.ndim == 4) {
      OpCase& mh = t.add("reduce", "mean_hw", r.sc, desc, r.quick, make, [](const CaseInputs& in, const CaseContext& ctx) {
        Tensor x = ctx.in(in, "x", true);
        Tensor y = mean_hw(x);
        y.backward(ctx.in(in, "g hw"));
        return std::vector<CaseTensor>{{"y", y.detach(), TolClass::Reduction}, {"grad x", x.grad(), TolClass::Elementwise}};
      });
      set_roles(mh, {{"y", "g hw"}}, {{"grad x", "x"}}, 2 * n + 2 * (double)(s[0] * s[1]));
    }
  }
}

// ================================================================== resampling
void add_resampling(Table& t, Rng& shape_rng) {
  // out_per_in: output elements per input element (4 for x2 upsampling, 1/f^2 for /f).
  auto add = [&](const std::string& op, const Shape& s, ShapeClass sc, bool quick, const std::string& desc,
                 std::function<Tensor(const Tensor&)> f, double out_per_in) {
    auto make = [s, f](uint64_t seed) {
      Rng rng(seed);
      CaseInputs in;
      in["x"] = uni(s, rng, -1, 1);
      Tensor y;
      {
        NoGradGuard ng;
        y = f(in["x"]);
      }
      in["g"] = uni(y.shape(), rng, -1, 1);
      return in;
    };
    auto run = [f](const CaseInputs& in, const CaseContext& ctx) {
      Tensor x = ctx.in(in, "x", true);
      Tensor y = f(x);
      y.backward(ctx.in(in, "g"));
      return std::vector<CaseTensor>{{"y", y.detach(), TolClass::Resample}, {"grad x", x.grad(), TolClass::Resample}};
    };
    set_roles(t.add("resample", op, sc, desc, quick, make, run), {{"y", "g"}}, {{"grad x", "x"}},
              2 * numel_of(s) * (1 + out_per_in));  // x, grad x, y, g
  };
  auto up = [](const Tensor& x) { return upsample_bilinear2x(x); };
  add("upsample_bilinear2x", Shape{3, 1, 1, 4}, ShapeClass::Edge, true, "[3,1,1,4]", up, 4);
  add("upsample_bilinear2x", Shape{2, 3, 5, 7}, ShapeClass::Edge, true, "[2,3,5,7]", up, 4);
  const Shape rs{1 + shape_rng.randint(4), 1 + shape_rng.randint(4), 1 + shape_rng.randint(30), 1 + shape_rng.randint(40)};
  add("upsample_bilinear2x", rs, ShapeClass::Random, false, shape_str(rs), up, 4);
  for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{16, 52}, {32, 104}, {64, 208}})
    add("upsample_bilinear2x", Shape{4, 1, h, w}, ShapeClass::SfMLearner, false, shape_str({4, 1, h, w}) + " (disparity head)", up, 4);

  auto down = [](int f) { return [f](const Tensor& x) { return downsample_area(x, f); }; };
  add("downsample_area", Shape{3, 1, 2, 8}, ShapeClass::Edge, true, "[3,1,2,8] /2", down(2), 0.25);
  add("downsample_area", Shape{1, 3, 4, 12}, ShapeClass::Edge, true, "[1,3,4,12] /4", down(4), 1.0 / 16);
  for (int f : {2, 4, 8})
    add("downsample_area", Shape{4, 3, 128, 416}, ShapeClass::SfMLearner, false, "[4,3,128,416] /" + std::to_string(f) + " (loss pyramid)",
        down(f), 1.0 / (f * f));

  auto resize = [](int64_t h, int64_t w) { return [h, w](const Tensor& x) { return resize_area(x, h, w); }; };
  add("resize_area", Shape{1, 1, 1, 4}, ShapeClass::Edge, true, "[1,1,1,4] -> 1x3", resize(1, 3), 3.0 / 4);
  add("resize_area", Shape{3, 3, 31, 101}, ShapeClass::Edge, true, "[3,3,31,101] -> 13x29", resize(13, 29), 13.0 * 29 / (31 * 101));
  add("resize_area", Shape{4, 3, 128, 416}, ShapeClass::SfMLearner, false, "[4,3,128,416] -> 16x52", resize(16, 52), 1.0 / 64);
  add("resize_area", Shape{4, 3, 375, 1242}, ShapeClass::SfMLearner, false, "[4,3,375,1242] -> 128x416 (KITTI frame)",
      resize(128, 416), 128.0 * 416 / (375 * 1242));
}

// ================================================================== geometry
void add_pose_vec2mat(Table& t) {
  for (RotationMode mode : {RotationMode::Euler, RotationMode::Quat})
    for (auto [B, sc, quick] : std::vector<std::tuple<int64_t, ShapeClass, bool>>{{1, ShapeClass::Edge, true},
                                                                                  {3, ShapeClass::Edge, true},
                                                                                  {8, ShapeClass::SfMLearner, false}}) {
      const std::string desc = shape_str({B, 6}) + (mode == RotationMode::Euler ? " euler" : " quat");
      auto make = [B = B](uint64_t seed) {
        Rng rng(seed);
        std::vector<double> p;
        for (int64_t i = 0; i < B; ++i) {
          for (int j = 0; j < 3; ++j) p.push_back(rng.uniform(-0.5, 0.5));
          for (int j = 0; j < 3; ++j) p.push_back(rng.uniform(-0.3, 0.3));
        }
        CaseInputs in;
        in["pose"] = tensor_of(p, Shape{B, 6});
        in["g"] = uni(Shape{B, 3, 4}, rng, -1, 1);
        return in;
      };
      auto run = [mode](const CaseInputs& in, const CaseContext& ctx) {
        Tensor p = ctx.in(in, "pose", true);
        Tensor y = pose_vec2mat(p, mode);
        y.backward(ctx.in(in, "g"));
        return std::vector<CaseTensor>{{"Rt", y.detach(), TolClass::Elementwise}, {"grad pose", p.grad(), TolClass::Elementwise}};
      };
      set_roles(t.add("geometry", "pose_vec2mat", sc, desc, quick, make, run), {{"Rt", "g"}}, {{"grad pose", "pose"}},
                (double)B * (6 + 12 + 12 + 6));  // pose, Rt, g, grad pose
    }
}

// A scene with no pixel near a jump of the warp (see the top of this file).
struct Scene {
  int64_t B, S, C, H, W;
  std::vector<double> tgt, srcs, depth, poses, K;  // [B,C,H,W], [B,S,C,H,W], [B,H,W], [B,S,6], [B,3,3]
};

bool near_int(double u) { return std::fabs(u - std::nearbyint(u)) < 2e-3; }

Scene make_scene(int64_t B, int64_t S, int64_t C, int64_t H, int64_t W, RotationMode rot, Padding pad, bool photometric,
                 Rng& rng) {
  Scene sc{B, S, C, H, W, {}, {}, {}, {}, {}};
  const int64_t plane = H * W;
  auto draw = [&](std::vector<double>& v, int64_t n, double lo, double hi) {
    v.resize(n);
    for (double& x : v) x = f32(rng.uniform(lo, hi));
  };
  draw(sc.tgt, B * C * plane, 0, 1);
  draw(sc.srcs, B * S * C * plane, 0, 1);
  draw(sc.depth, B * plane, 1, 20);
  auto draw_poses = [&](int64_t b) {
    for (int64_t s = 0; s < S; ++s) {
      double* p = sc.poses.data() + 6 * (b * S + s);
      for (int j = 0; j < 3; ++j) p[j] = f32(rng.uniform(-0.5, 0.5));   // translation
      for (int j = 3; j < 6; ++j) p[j] = f32(rng.uniform(-0.03, 0.03));  // rotation
    }
  };
  sc.poses.resize(B * S * 6);
  for (int64_t b = 0; b < B; ++b) {
    draw_poses(b);
    const double f = f32(0.58 * (double)W), fy = f32(1.9 * f * (double)H / (double)W);
    const double k[9] = {f, 0, f32(0.5 * (double)W), 0, fy, f32(0.5 * (double)H), 0, 0, 1};
    sc.K.insert(sc.K.end(), k, k + 9);
  }
  for (int64_t b = 0; b < B; ++b) {
    int rounds = 0, pose_draws = 0;
    for (;;) {
      int64_t bad = 0;
      for (int64_t s = 0; s < S; ++s) {
        double M[9], m[3];
        math::warp_setup<double>(rot, sc.poses.data() + 6 * (b * S + s), sc.K.data() + 9 * b, M, m);
        for (int64_t p = 0; p < plane; ++p) {
          const double x = (double)(p % W), y = (double)(p / W);
          double& d = sc.depth[b * plane + p];
          const math::Projected<double> pr = math::project_pixel<double>(M, m, x, y, d);
          if (near_int(pr.u) || near_int(pr.v)) {
            d = f32(rng.uniform(1, 20));
            ++bad;
            continue;
          }
          if (!photometric) continue;
          const math::BilinearTaps<double> tp = math::bilinear_setup<double>(pr.u, pr.v, (int)W, (int)H, pad);
          for (int64_t c = 0; c < C; ++c) {
            const double* sp = sc.srcs.data() + ((b * S + s) * C + c) * plane;
            const double smp = math::bilinear_sample<double>(tp, sp);
            double& tv = sc.tgt[(b * C + c) * plane + p];
            if (std::fabs(tv - smp) < 1e-3) {
              tv = f32(rng.uniform(0, 1));
              ++bad;
            }
          }
        }
      }
      if (bad == 0) break;
      if (++rounds == 40) {
        SFM_CHECK(++pose_draws < 20, "op case: could not draw a warp scene ", B, "x", C, "x", H, "x", W,
                  " without pixels near a bilinear cell edge");
        draw_poses(b);
        rounds = 0;
      }
    }
  }
  return sc;
}

void add_warps(Table& t, Rng& shape_rng) {
  struct WS {
    int64_t B, C, H, W;
    ShapeClass sc;
    bool quick;
  };
  // At least ~30 pixels per image: the gradients' error is the coordinate's times the image range
  // over its largest bilinear slope, and only a handful of pixels may have no steep one.
  const int64_t rH = 5 + shape_rng.randint(27), rW = 6 + shape_rng.randint(36), rB = 1 + shape_rng.randint(3);
  const std::vector<WS> shapes{{3, 3, 5, 7, ShapeClass::Edge, true},
                               {2, 3, 7, 13, ShapeClass::Edge, true},
                               {rB, 3, rH, rW, ShapeClass::Random, false},
                               {4, 3, 128, 416, ShapeClass::SfMLearner, false}};
  // inverse_warp: both paddings, both rotation forms.
  for (const WS& ws : shapes)
    for (Padding pad : {Padding::Zeros, Padding::Border})
      for (RotationMode rot : {RotationMode::Euler, RotationMode::Quat}) {
        const std::string desc = shape_str({ws.B, ws.C, ws.H, ws.W}) + (pad == Padding::Zeros ? " zeros" : " border") +
                                 (rot == RotationMode::Euler ? " euler" : " quat");
        auto make = [ws, pad, rot](uint64_t seed) {
          Rng rng(seed);
          Scene sc = make_scene(ws.B, 1, ws.C, ws.H, ws.W, rot, pad, false, rng);
          CaseInputs in;
          in["src"] = tensor_of(sc.srcs, Shape{ws.B, ws.C, ws.H, ws.W});
          in["depth"] = tensor_of(sc.depth, Shape{ws.B, 1, ws.H, ws.W});
          in["pose"] = tensor_of(sc.poses, Shape{ws.B, 6});
          in["K"] = tensor_of(sc.K, Shape{ws.B, 3, 3});
          in["g"] = uni(Shape{ws.B, ws.C, ws.H, ws.W}, rng, -1, 1);
          return in;
        };
        const double scale = (double)std::max(ws.H, ws.W);
        auto run = [pad, rot, scale](const CaseInputs& in, const CaseContext& ctx) {
          Tensor src = ctx.in(in, "src", true), depth = ctx.in(in, "depth", true), pose = ctx.in(in, "pose", true);
          Tensor valid;
          Tensor y = inverse_warp(src, depth, pose, ctx.in(in, "K"), pad, &valid, rot);
          y.backward(ctx.in(in, "g"));
          return std::vector<CaseTensor>{{"warped", y.detach(), TolClass::Warp, scale},
                                         {"valid", valid, TolClass::Exact},
                                         {"grad src", src.grad(), TolClass::Warp, scale},
                                         {"grad depth", depth.grad(), TolClass::Warp, scale},
                                         {"grad pose", pose.grad(), TolClass::Warp, scale}};
        };
        // src, warped, g, grad src (C planes each); depth, grad depth, valid (one plane each)
        set_roles(t.add("geometry", "inverse_warp", ws.sc, desc, ws.quick, make, run), {{"warped", "g"}, {"valid", ""}},
                  {{"grad src", "src"}, {"grad depth", "depth"}, {"grad pose", "pose"}},
                  (double)(ws.B * ws.H * ws.W) * (double)(4 * ws.C + 3));
      }
  // photometric_loss: out-of-view kept or zeroed, with and without a mask, 2 sources.
  for (const WS& ws : shapes)
    for (bool keep : {true, false})
      for (bool with_mask : {true, false}) {
        PhotometricOptions opt;
        opt.keep_out_of_view = keep;
        opt.rotation = keep ? RotationMode::Euler : RotationMode::Quat;
        const int64_t S = 2;
        const std::string desc = shape_str({ws.B, S, ws.C, ws.H, ws.W}) + (keep ? " keep_out_of_view" : " zero_out_of_view") +
                                 (with_mask ? " mask" : " no-mask") + (keep ? " euler" : " quat");
        auto make = [ws, opt, S](uint64_t seed) {
          Rng rng(seed);
          Scene sc = make_scene(ws.B, S, ws.C, ws.H, ws.W, opt.rotation, opt.padding, true, rng);
          CaseInputs in;
          in["tgt"] = tensor_of(sc.tgt, Shape{ws.B, ws.C, ws.H, ws.W});
          in["srcs"] = tensor_of(sc.srcs, Shape{ws.B, S, ws.C, ws.H, ws.W});
          in["depth"] = tensor_of(sc.depth, Shape{ws.B, 1, ws.H, ws.W});
          in["poses"] = tensor_of(sc.poses, Shape{ws.B, S, 6});
          in["K"] = tensor_of(sc.K, Shape{ws.B, 3, 3});
          in["mask"] = uni(Shape{ws.B, S, ws.H, ws.W}, rng, 0.05, 1);
          in["g"] = scalar_grad(rng);
          return in;
        };
        const double scale = (double)std::max(ws.H, ws.W);
        auto run = [opt, with_mask, scale](const CaseInputs& in, const CaseContext& ctx) {
          Tensor depth = ctx.in(in, "depth", true), poses = ctx.in(in, "poses", true);
          Tensor mask = with_mask ? ctx.in(in, "mask", true) : Tensor();
          Tensor l = photometric_loss(ctx.in(in, "tgt"), ctx.in(in, "srcs"), depth, poses, ctx.in(in, "K"), mask, opt);
          l.backward(ctx.in(in, "g"));
          std::vector<CaseTensor> out{{"loss", l.detach(), TolClass::Warp, scale},
                                      {"grad depth", depth.grad(), TolClass::Warp, scale},
                                      {"grad poses", poses.grad(), TolClass::Warp, scale}};
          if (with_mask) out.push_back({"grad mask", mask.grad(), TolClass::Warp, scale});
          return out;
        };
        std::vector<GradientOf> grads{{"grad depth", "depth"}, {"grad poses", "poses"}};
        if (with_mask) grads.push_back({"grad mask", "mask"});
        // tgt C, srcs S C, depth and grad depth planes; mask and grad mask S planes each
        set_roles(t.add("geometry", "photometric_loss", ws.sc, desc, ws.quick, make, run), {{"loss", "g"}}, grads,
                  (double)(ws.B * ws.H * ws.W) * (double)(ws.C + S * ws.C + 2 + (with_mask ? 2 * S : 0)));
      }
}

// ================================================================== losses
void add_losses(Table& t) {
  // smoothness_loss: multiples of 1/64 in (0, 10] (see the top of this file).
  for (auto [s, sc, quick] : std::vector<std::tuple<Shape, ShapeClass, bool>>{{Shape{3, 1, 1, 9}, ShapeClass::Edge, true},
                                                                              {Shape{2, 1, 5, 7}, ShapeClass::Edge, true},
                                                                              {Shape{4, 1, 16, 52}, ShapeClass::SfMLearner, false},
                                                                              {Shape{4, 1, 128, 416}, ShapeClass::SfMLearner, false}}) {
    auto make = [s = s](uint64_t seed) {
      Rng rng(seed);
      std::vector<double> v((size_t)s.numel());
      for (double& x : v) x = (double)(1 + rng.randint(640)) / 64.0;
      CaseInputs in;
      in["x"] = tensor_of(v, s);
      in["g"] = scalar_grad(rng);
      return in;
    };
    OpCase& r = t.add("loss", "smoothness_loss", sc, shape_str(s), quick, make, [](const CaseInputs& in, const CaseContext& ctx) {
      Tensor x = ctx.in(in, "x", true);
      Tensor l = smoothness_loss(x);
      l.backward(ctx.in(in, "g"));
      return std::vector<CaseTensor>{{"loss", l.detach(), TolClass::Elementwise}, {"grad x", x.grad(), TolClass::Elementwise}};
    });
    set_roles(r, {{"loss", "g"}}, {{"grad x", "x"}}, 2 * numel_of(s));
  }
  for (auto [s, sc, quick] : std::vector<std::tuple<Shape, ShapeClass, bool>>{{Shape{3, 1, 1, 4}, ShapeClass::Edge, true},
                                                                              {Shape{2, 2, 5, 7}, ShapeClass::Edge, true},
                                                                              {Shape{4, 2, 128, 416}, ShapeClass::SfMLearner, false}}) {
    auto make = [s = s](uint64_t seed) {
      Rng rng(seed);
      std::vector<double> m((size_t)s.numel());
      for (double& x : m) x = rng.uniform(0.05, 1);
      m[m.size() / 2] = 0;  // the log clamp at -100 (gradient 0 there on both sides)
      CaseInputs in;
      in["mask"] = tensor_of(m, s);
      in["g"] = scalar_grad(rng);
      return in;
    };
    OpCase& r = t.add("loss", "explainability_loss", sc, shape_str(s), quick, make, [](const CaseInputs& in, const CaseContext& ctx) {
      Tensor m = ctx.in(in, "mask", true);
      Tensor l = explainability_loss(m);
      l.backward(ctx.in(in, "g"));
      return std::vector<CaseTensor>{{"loss", l.detach(), TolClass::Elementwise}, {"grad mask", m.grad(), TolClass::Elementwise}};
    });
    set_roles(r, {{"loss", "g"}}, {{"grad mask", "mask"}}, 2 * numel_of(s));
    r.kink_elements["mask"] = {s.numel() / 2};  // the element make_inputs puts on the log clamp
  }
  for (auto [s, sc, quick] : std::vector<std::tuple<Shape, ShapeClass, bool>>{{Shape{3, 2, 1, 4}, ShapeClass::Edge, true},
                                                                              {Shape{2, 4, 5, 7}, ShapeClass::Edge, true},
                                                                              {Shape{4, 4, 128, 416}, ShapeClass::SfMLearner, false}}) {
    auto make = [s = s](uint64_t seed) {
      Rng rng(seed);
      CaseInputs in;
      in["logits"] = uni(s, rng, -6, 6);
      in["g"] = scalar_grad(rng);
      in["g mask"] = uni(Shape{s[0], s[1] / 2, s[2], s[3]}, rng, -1, 1);
      return in;
    };
    OpCase& ls = t.add("loss", "explainability_loss_softmax", sc, shape_str(s), quick, make, [](const CaseInputs& in, const CaseContext& ctx) {
      Tensor x = ctx.in(in, "logits", true);
      Tensor l = explainability_loss_softmax(x);
      l.backward(ctx.in(in, "g"));
      return std::vector<CaseTensor>{{"loss", l.detach(), TolClass::Elementwise}, {"grad logits", x.grad(), TolClass::Elementwise}};
    });
    set_roles(ls, {{"loss", "g"}}, {{"grad logits", "logits"}}, 2 * numel_of(s));
    OpCase& pm = t.add("loss", "softmax_pairs_mask", sc, shape_str(s), quick, make, [](const CaseInputs& in, const CaseContext& ctx) {
      Tensor x = ctx.in(in, "logits", true);
      Tensor m = softmax_pairs_mask(x);
      m.backward(ctx.in(in, "g mask"));
      return std::vector<CaseTensor>{{"mask", m.detach(), TolClass::Elementwise}, {"grad logits", x.grad(), TolClass::Elementwise}};
    });
    set_roles(pm, {{"mask", "g mask"}}, {{"grad logits", "logits"}}, 3 * numel_of(s));  // logits, grad; mask, g: half each
  }
}

// ================================================================== Adam
void add_adam(Table& t) {
  struct A {
    std::vector<Shape> shapes;
    ShapeClass sc;
    bool quick;
    std::string desc;
  };
  // The full form: DispNet-sized tensors around the fused kernel's 4096-element chunk.
  for (const A& a : std::vector<A>{{{Shape{1}, Shape{3, 1, 1, 4}, Shape{17, 5}}, ShapeClass::Edge, true, "[1] [3,1,1,4] [17,5]"},
                                   {{Shape{32, 3, 7, 7}, Shape{32}, Shape{512, 512, 3, 3}, Shape{1, 16, 3, 3}, Shape{4096},
                                     Shape{4097}},
                                    ShapeClass::SfMLearner,
                                    false,
                                    "[32,3,7,7] [32] [512,512,3,3] [1,16,3,3] [4096] [4097]"}}) {
    auto make = [a](uint64_t seed) {
      Rng rng(seed);
      CaseInputs in;
      for (size_t i = 0; i < a.shapes.size(); ++i) {
        in["p" + std::to_string(i)] = uni(a.shapes[i], rng, -1, 1);
        in["g" + std::to_string(i)] = uni(a.shapes[i], rng, -1, 1);
      }
      return in;
    };
    auto run = [a](const CaseInputs& in, const CaseContext& ctx) {
      std::vector<Tensor> ps;
      std::vector<std::string> names;
      for (size_t i = 0; i < a.shapes.size(); ++i) {
        ps.push_back(ctx.in(in, "p" + std::to_string(i), true));
        ps.back().set_grad(ctx.in(in, "g" + std::to_string(i)));
        names.push_back("p" + std::to_string(i));
      }
      // Hyper-parameters whose float32 values and complements are exact (1 - 0.999f is 1.3e-5
      // away from 0.001: the float32 formula itself, not the kernel, would differ from float64).
      AdamOptions opt;
      opt.lr = 0x1p-10;
      opt.beta1 = 0.875;
      opt.beta2 = 1 - 0x1p-9;
      opt.weight_decay = 0x1p-13;
      Adam adam(ps, names, opt);
      adam.step();
      const auto st = adam.state();
      std::vector<CaseTensor> out;
      for (size_t i = 0; i < ps.size(); ++i) {
        out.push_back({names[i], ps[i].detach(), TolClass::Elementwise});
        out.push_back({names[i] + ".exp_avg", st.at(names[i] + ".exp_avg"), TolClass::Elementwise});
        out.push_back({names[i] + ".exp_avg_sq", st.at(names[i] + ".exp_avg_sq"), TolClass::Elementwise});
      }
      return out;
    };
    // No backward: no roles (the gradient check skips it). Cost: p, g, exp_avg, exp_avg_sq read,
    // p and both moments written.
    double n = 0;
    for (const Shape& s : a.shapes) n += numel_of(s);
    set_roles(t.add("optim", "adam", a.sc, a.desc + " one step", a.quick, make, run), {}, {}, 7 * n);
  }
}

}  // namespace

std::vector<OpCase> op_cases(Device device, uint64_t seed) {
  Table t{device, {}};
  Rng shape_rng(case_seed(seed, "random shapes"));
  add_convolutions(t, shape_rng);
  add_elementwise(t, shape_rng);
  add_shape_ops(t);
  add_reductions(t);
  add_resampling(t, shape_rng);
  add_pose_vec2mat(t);
  add_warps(t, shape_rng);
  add_losses(t);
  add_adam(t);
  add_min_reprojection_cases(t.rows, device, seed);
  add_smooth_upsample_cases(t.rows, device, seed);
  return t.rows;
}

}  // namespace sfm::testing
