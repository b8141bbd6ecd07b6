// Op-table rows of conv2d and conv_transpose2d: edge and random shapes, and every layer of
// DispNet and PoseExpNet at the training size, taken from the networks' own layer table
// (models/sfm_layers.h), with output sizes from boundary/op_types.h (ConvGeom): the rows time and
// check exactly the convolutions one training step runs.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "engine/autograd.h"
#include "boundary/device_runtime.h"
#include "engine/ops.h"
#include "lab/ops/op_cases_build.h"
#include "models/sfm_layers.h"
#if SFM_WITH_CUDA
#include "kernels/conv.h"
#endif

namespace sfm::lab::cases {

// A convolution row: a layer of the table, or an edge or random case in the same terms. geom is
// the convolution's geometry (ConvGeom; a transposed row: the convolution it is the adjoint of).
struct ConvSpec {
  std::string name;  // the layer ("dispnet conv1a"), or what the edge case exercises
  bool transposed = false;
  ConvGeom geom;
  int output_padding = 0;
  Activation act = Activation::None;

  // The row's own input [N,C,H,W], weight and output channels.
  int64_t N() const { return geom.N; }
  int64_t C() const { return transposed ? geom.O : geom.C; }
  int64_t H() const { return transposed ? geom.Ho : geom.H; }
  int64_t W() const { return transposed ? geom.Wo : geom.W; }
  int64_t O() const { return transposed ? geom.C : geom.O; }
  Shape in_shape() const { return Shape{N(), C(), H(), W()}; }
  Shape weight_shape() const { return transposed ? Shape{C(), O(), geom.k, geom.k} : Shape{O(), C(), geom.k, geom.k}; }
  Shape out_shape() const { return transposed ? Shape{geom.N, geom.C, geom.H, geom.W} : Shape{geom.N, geom.O, geom.Ho, geom.Wo}; }
};

// A direct convolution with "same" padding (k-1)/2, as every layer of the networks.
static ConvSpec conv_case(const std::string& name, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int k, int s,
                          Activation act) {
  ConvSpec c;
  c.name = name, c.geom = ConvGeom::conv(N, C, H, W, O, k, s, (k - 1) / 2), c.act = act;
  return c;
}
// A decoder up-convolution: stride 2, padding 1, ReLU.
static ConvSpec upconv_case(const std::string& name, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int k, int op) {
  ConvSpec c;
  c.name = name, c.transposed = true, c.geom = ConvGeom::transposed(N, C, H, W, O, k, 2, 1, op), c.output_padding = op;
  c.act = Activation::ReLU;
  return c;
}
// A layer of the networks' table at its training size.
static ConvSpec layer_case(const ConvLayer& l) {
  ConvSpec c;
  c.name = l.spec.full_name(), c.transposed = l.spec.transposed, c.geom = l.geom;
  c.output_padding = l.spec.output_padding, c.act = l.spec.act;
  return c;
}

static const char* act_name(Activation a) {
  return a == Activation::ReLU ? "relu" : a == Activation::Sigmoid ? "sigmoid" : "none";
}

static std::string conv_desc(const ConvSpec& c) {
  std::ostringstream os;
  os << shape_str(c.in_shape()) << " O=" << c.O() << " k" << c.geom.k << " s" << c.geom.s << " p" << c.geom.p;
  if (c.transposed) os << " op" << c.output_padding;
  os << " " << act_name(c.act);
  if (!c.name.empty()) os << " (" << c.name << ")";
  return os.str();
}

static Tensor conv_apply(const ConvSpec& c, const Tensor& x, const Tensor& w, const Tensor& b, Activation act) {
  return c.transposed ? conv_transpose2d(x, w, b, c.geom.s, c.geom.p, c.output_padding, act)
                      : conv2d(x, w, b, c.geom.s, c.geom.p, act);
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

static CaseInputs conv_inputs(const ConvSpec& c, uint64_t seed) {
  Rng rng(seed);
  CaseInputs in;
  in["x"] = uni(c.in_shape(), rng, -1, 1);
  // Weights at the scale of a trained layer (variance 1/(C k^2), as Xavier/He initialisation
  // gives), so pre-activations are O(1). With U(-1, 1) weights a sigmoid head's inputs reach
  // |pre| ~ 50: sigmoid' then lives on the few pixels near 0, where float32's absolute rounding of
  // pre (relative to the largest |pre|) is a large relative error of a tiny derivative, a
  // property of those inputs rather than of a kernel.
  const double ws = std::sqrt(3.0 / (double)(c.C() * c.geom.k * c.geom.k));
  in["w"] = uni(c.weight_shape(), rng, -ws, ws);
  in["b"] = uni(Shape{c.O()}, rng, -1, 1);
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

static std::vector<CaseTensor> conv_run(const ConvSpec& c, const CaseInputs& in, const CaseContext& ctx) {
  ConvImplScope scope(ctx);
  Tensor x = ctx.in(in, "x", true), w = ctx.in(in, "w", true), b = ctx.in(in, "b", true);
  Tensor y = conv_apply(c, x, w, b, c.act);
  y.backward(ctx.in(in, "g"));
  return {{"y", y.detach(), TolClass::ConvSum},
          {"grad x", x.grad(), TolClass::ConvSum},
          {"grad w", w.grad(), TolClass::ConvSum},
          {"grad b", b.grad(), TolClass::ConvSum}};
}

// Roles and cost of a convolution row: forward, backward-data and backward-weight are each
// geom.flops() (2 C k^2 O per output pixel of the convolution geom describes); x, w, b, y and
// their gradients (g included) each moved once.
static void set_conv_roles(OpCase& r, const ConvSpec& c) {
  const double x = numel_of(c.in_shape()), w = numel_of(c.weight_shape()), y = numel_of(c.out_shape());
  set_roles(r, {{"y", "g"}}, {{"grad x", "x"}, {"grad w", "w"}, {"grad b", "b"}}, 2 * (x + w + (double)c.O() + y),
            3 * c.geom.flops());
}

static void add_conv(Table& t, const ConvSpec& c, ShapeClass sc, bool quick) {
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
  add_conv(t, conv_case("3 channels k7 s2, batch 3, odd H/W", 3, 3, 17, 23, 8, 7, 2, relu), ShapeClass::Edge, true);
  add_conv(t, conv_case("1x4 map k3", 2, 16, 1, 4, 8, 3, 1, relu), ShapeClass::Edge, true);
  add_conv(t, conv_case("k5 s2, odd H/W", 2, 5, 11, 9, 7, 5, 2, none), ShapeClass::Edge, true);
  add_conv(t, conv_case("pose head 1x1 on 1x4", 3, 32, 1, 4, 12, 1, 1, none), ShapeClass::Edge, true);
  add_conv(t, conv_case("sigmoid head, odd H/W", 1, 16, 9, 13, 1, 3, 1, sig), ShapeClass::Edge, true);
  add_conv(t, upconv_case("k3 op1, batch 3, odd H/W", 3, 8, 5, 7, 4, 3, 1), ShapeClass::Edge, true);
  add_conv(t, upconv_case("k4 op0 on 1x4", 2, 16, 1, 4, 8, 4, 0), ShapeClass::Edge, true);
  // Full only: wider edge cases.
  add_conv(t, conv_case("C=1024 (iconv7's input width), odd H/W", 2, 1024, 3, 5, 16, 3, 1, relu), ShapeClass::Edge, false);
  add_conv(t, conv_case("3 channels k7 s2 at 128x416, batch 3", 3, 3, 128, 416, 32, 7, 2, relu), ShapeClass::Edge, false);
  add_conv(t, upconv_case("C=1024 k3 op1, 1x4", 3, 1024, 1, 4, 32, 3, 1), ShapeClass::Edge, false);
  add_conv(t, conv_case("1x1 map k3 s2", 3, 64, 1, 1, 16, 3, 2, relu), ShapeClass::Edge, false);
  // Random shapes from the run's seed: two in the quick form, four more in the full one (drawn
  // in this order: a seed names the same shapes as it always did).
  for (int i = 0; i < 6; ++i) {
    const bool transposed = i % 3 == 2;
    const int64_t N = 1 + shape_rng.randint(4), C = 1 + shape_rng.randint(40), H = 1 + shape_rng.randint(20),
                  W = 1 + shape_rng.randint(24), O = 1 + shape_rng.randint(24);
    const int64_t acts = shape_rng.randint(3);
    ConvSpec c;
    c.act = acts == 0 ? none : acts == 1 ? relu : sig;
    if (transposed) {
      const int k = 3 + (int)shape_rng.randint(2);
      const int op = k == 3 ? 1 : (int)shape_rng.randint(2);
      c.transposed = true, c.output_padding = op, c.geom = ConvGeom::transposed(N, C, H, W, O, k, 2, 1, op);
    } else {
      const int ks[4] = {1, 3, 5, 7};
      const int k = ks[shape_rng.randint(4)];
      const int s = 1 + (int)shape_rng.randint(2);
      c.geom = ConvGeom::conv(N, C, H, W, O, k, s, (k - 1) / 2);
    }
    add_conv(t, c, ShapeClass::Random, i < 2);
  }
  // The training shapes: every convolution of DispNet and PoseExpNet (2 sources, sigmoid masks)
  // at batch 4 and 128x416.
  for (const ConvLayer& l : sfmlearner_conv_layers(4, 128, 416)) add_conv(t, layer_case(l), ShapeClass::SfMLearner, false);
}

}  // namespace sfm::lab::cases
