// Op-table rows of pose_vec2mat, inverse_warp, photometric_loss, the losses and Adam
// (lab/ops/op_cases.h; how the warp scenes avoid the bilinear cell edges: the top of
// lab/ops/op_cases.cpp).
#include <algorithm>
#include <cmath>
#include <tuple>

#include "engine/adam.h"
#include "engine/autograd.h"
#include "boundary/math/warp_math.h"
#include "engine/ops.h"
#include "lab/ops/op_cases_build.h"

namespace sfm::lab::cases {

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

static bool near_int(double u) { return std::fabs(u - std::nearbyint(u)) < 2e-3; }

static Scene make_scene(int64_t B, int64_t S, int64_t C, int64_t H, int64_t W, RotationMode rot, Padding pad, bool photometric,
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

}  // namespace sfm::lab::cases
