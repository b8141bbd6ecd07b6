// Op-table rows of the elementwise, shape, reduction and resampling ops (lab/ops/op_cases.h;
// how inputs avoid the ops' kinks: the top of lab/ops/op_cases.cpp).
#include <cmath>
#include <functional>
#include <sstream>
#include <tuple>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "lab/ops/op_cases_build.h"

namespace sfm::lab::cases {

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

}  // namespace sfm::lab::cases
