// Op-table rows of min_reprojection_loss and their kink-free scenes (see the header).
#include "lab/ops/op_cases_min_reprojection.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "engine/autograd.h"
#include "boundary/math/min_reprojection_math.h"
#include "engine/ops.h"
#include "engine/rng.h"

namespace sfm::lab {

namespace {

double f32(double v) { return (double)(float)v; }
bool near_int(double u) { return std::fabs(u - std::nearbyint(u)) < 2e-3; }

Tensor tensor_of(std::vector<double> v, const Shape& s) {
  for (double& x : v) x = f32(x);
  return Tensor::from_vector(v, s);
}

// Every candidate of the selection at p (warped errors or their mean, then unwarped + noise).
std::vector<double> candidates(const math::ReprojectionView<double>& v, int px, int py) {
  std::vector<double> c;
  math::BilinearTaps<double> taps[math::kWindow];
  int pos[math::kWindow];
  double sum = 0;
  for (int s = 0; s < v.S; ++s) {
    math::window_taps(v, s, px, py, taps, pos);
    const double pe = math::pe_at(v, s, taps, pos, (double*)nullptr);
    sum += pe;
    if (v.opt.min_over_sources) c.push_back(pe);
  }
  if (!v.opt.min_over_sources) c.push_back(sum / v.S);
  if (v.opt.automask) {
    math::window_positions(v, px, py, pos);
    for (int j = 0; j < v.S; ++j)
      c.push_back(math::pe_at(v, j, (const math::BilinearTaps<double>*)nullptr, pos, (double*)nullptr) +
                  v.opt.noise_amplitude * math::automask_noise(v.opt.noise_seed, v.b, j, (int64_t)py * v.W + px));
  }
  return c;
}

}  // namespace

MinReprojectionScene make_min_reprojection_scene(int64_t B, int64_t S, int64_t C, int64_t H, int64_t W,
                                                 const MinReprojectionOptions& opt, uint64_t seed, double min_gap,
                                                 double tmax, double rmax, double dmin, double dmax) {
  Rng rng(seed);
  MinReprojectionScene sc{B, S, C, H, W, {}, {}, {}, {}, {}};
  const int64_t plane = H * W;
  auto draw = [&](std::vector<double>& v, int64_t n, double lo, double hi) {
    v.resize(n);
    for (double& x : v) x = f32(rng.uniform(lo, hi));
  };
  draw(sc.tgt, B * C * plane, 0, 1);
  draw(sc.srcs, B * S * C * plane, 0, 1);
  draw(sc.depth, B * plane, dmin, dmax);
  sc.poses.resize(B * S * 6);
  auto draw_poses = [&](int64_t b) {
    for (int64_t s = 0; s < S; ++s) {
      double* p = sc.poses.data() + 6 * (b * S + s);
      for (int j = 0; j < 3; ++j) p[j] = f32(rng.uniform(-tmax, tmax));
      for (int j = 3; j < 6; ++j) p[j] = f32(rng.uniform(-rmax, rmax));
    }
  };
  for (int64_t b = 0; b < B; ++b) {
    draw_poses(b);
    const double f = f32(0.58 * (double)W), fy = f32(1.9 * f * (double)H / (double)W);
    const double k[9] = {f, 0, f32(0.5 * (double)W), 0, fy, f32(0.5 * (double)H), 0, 0, 1};
    sc.K.insert(sc.K.end(), k, k + 9);
  }
  std::vector<double> Mm(S * 12);
  for (int64_t b = 0; b < B; ++b) {
    int rounds = 0, pose_draws = 0;
    for (;;) {
      for (int64_t s = 0; s < S; ++s)
        math::warp_setup<double>(opt.rotation, sc.poses.data() + 6 * (b * S + s), sc.K.data() + 9 * b, &Mm[12 * s],
                                 &Mm[12 * s + 9]);
      int64_t bad = 0;
      for (int64_t s = 0; s < S; ++s)
        for (int64_t p = 0; p < plane; ++p) {
          const math::Projected<double> pr = math::project_pixel<double>(
              &Mm[12 * s], &Mm[12 * s + 9], (double)(p % W), (double)(p / W), sc.depth[b * plane + p]);
          if (near_int(pr.u) || near_int(pr.v)) {
            sc.depth[b * plane + p] = f32(rng.uniform(dmin, dmax));
            ++bad;
          }
        }
      if (bad == 0) {
        const math::ReprojectionView<double> v{Mm.data(), sc.tgt.data() + b * C * plane,
                                               sc.srcs.data() + b * S * C * plane, sc.depth.data() + b * plane,
                                               (int)S, (int)C, (int)H, (int)W, b, opt};
        for (int64_t p = 0; p < plane; ++p) {
          const int px = (int)(p % W), py = (int)(p / W);
          bool redraw = false;
          for (int64_t s = 0; s < S && !redraw; ++s) {
            const math::Projected<double> pr =
                math::project_pixel<double>(&Mm[12 * s], &Mm[12 * s + 9], px, py, sc.depth[b * plane + p]);
            const math::BilinearTaps<double> tp = math::bilinear_setup<double>(pr.u, pr.v, (int)W, (int)H, opt.padding);
            for (int64_t c = 0; c < C; ++c) {
              const double y = math::bilinear_sample<double>(tp, sc.srcs.data() + ((b * S + s) * C + c) * plane);
              if (std::fabs(sc.tgt[(b * C + c) * plane + p] - y) < 1e-3) redraw = true;
            }
          }
          if (!redraw) {
            std::vector<double> cand = candidates(v, px, py);
            std::sort(cand.begin(), cand.end());
            // A tie no target value can break: the pixel out of view of two sources under
            // zeros padding (both samples 0); a new depth moves it.
            if (cand.size() > 1 && cand[1] - cand[0] < min_gap) redraw = true, sc.depth[b * plane + p] = f32(rng.uniform(dmin, dmax));
          }
          if (redraw) {
            for (int64_t c = 0; c < C; ++c) sc.tgt[(b * C + c) * plane + p] = f32(rng.uniform(0, 1));
            ++bad;
          }
        }
      }
      if (bad == 0) break;
      if (++rounds == 40) {
        SFM_CHECK(++pose_draws < 20, "min_reprojection scene: could not draw ", B, "x", S, "x", C, "x", H, "x", W,
                  " without pixels near a kink");
        draw_poses(b);
        rounds = 0;
      }
    }
  }
  return sc;
}

void add_min_reprojection_cases(std::vector<OpCase>& rows, Device device, uint64_t seed) {
  struct Shp {
    int64_t B, S, C, H, W;
    ShapeClass sc;
    bool quick;
  };
  Rng shape_rng(case_seed(seed, "min_reprojection random shapes"));
  const int64_t rH = 4 + shape_rng.randint(24), rW = 5 + shape_rng.randint(32), rB = 1 + shape_rng.randint(3);
  const std::vector<Shp> shapes{{2, 2, 3, 2, 2, ShapeClass::Edge, true},  // the smallest reflected window
                                {2, 2, 3, 5, 7, ShapeClass::Edge, true},
                                {rB, 2, 3, rH, rW, ShapeClass::Random, false},
                                {4, 2, 3, 128, 416, ShapeClass::SfMLearner, false}};
  struct Var {
    const char* name;
    bool min, automask, ssim;
    Padding pad;
    RotationMode rot;
  };
  const Var vars[] = {{"monodepth2 (min automask ssim border euler)", true, true, true, Padding::Border, RotationMode::Euler},
                      {"mean no-automask ssim zeros quat", false, false, true, Padding::Zeros, RotationMode::Quat},
                      {"min automask l1-only border euler", true, true, false, Padding::Border, RotationMode::Euler}};
  for (const Shp& sh : shapes)
    for (const Var& var : vars) {
      MinReprojectionOptions opt;
      opt.min_over_sources = var.min;
      opt.automask = var.automask;
      opt.use_ssim = var.ssim;
      opt.padding = var.pad;
      opt.rotation = var.rot;
      opt.noise_seed = 7;
      std::ostringstream desc;
      desc << "[" << sh.B << "," << sh.S << "," << sh.C << "," << sh.H << "," << sh.W << "] " << var.name;
      OpCase c;
      c.family = "geometry";
      c.op = "min_reprojection_loss";
      c.impl = device == Device::CUDA ? "cuda" : "cpu";
      c.shape_class = sh.sc;
      c.shape = desc.str();
      c.quick = sh.quick;
      c.key = c.family + "/" + c.op + "/" + shape_class_name(sh.sc) + "/" + c.shape;
      c.unavailable = [] { return std::string(); };
      c.make_inputs = [sh, opt](uint64_t s) {
        MinReprojectionScene scn = make_min_reprojection_scene(sh.B, sh.S, sh.C, sh.H, sh.W, opt, s);
        Rng rng(s ^ 0x5eedull);
        CaseInputs in;
        in["tgt"] = tensor_of(scn.tgt, Shape{sh.B, sh.C, sh.H, sh.W});
        in["srcs"] = tensor_of(scn.srcs, Shape{sh.B, sh.S, sh.C, sh.H, sh.W});
        in["depth"] = tensor_of(scn.depth, Shape{sh.B, 1, sh.H, sh.W});
        in["poses"] = tensor_of(scn.poses, Shape{sh.B, sh.S, 6});
        in["K"] = tensor_of(scn.K, Shape{sh.B, 3, 3});
        in["g"] = tensor_of({rng.uniform(0.5, 2.0)}, Shape{1});
        return in;
      };
      const double scale = (double)std::max(sh.H, sh.W);
      // The gradients with SSIM get 4x the Warp class's coordinate scale. That class bounds what a
      // float32 coordinate error (~16 u scale px) does through a bilinear sample; L1's derivative
      // is then a constant sign, but SSIM's derivative moves with the samples themselves: a sample
      // error d changes it by ~d / sigma relative, sigma ~ 0.29 the standard deviation of a window
      // of [0, 1]-uniform values (3.5x). Measured at [4,2,3,128,416] (seed 20240601): L1 grad
      // 2.6e-5, SSIM mean 8.1e-5, SSIM min + automask 4.7e-4 (6.1e-4 at seed 7) against
      // 4 x 4.0e-4 = 1.6e-3.
      const double grad_scale = opt.use_ssim ? 4 * scale : scale;
      c.run = [opt, scale, grad_scale](const CaseInputs& in, const CaseContext& ctx) {
        Tensor depth = ctx.in(in, "depth", true), poses = ctx.in(in, "poses", true);
        Tensor chosen;
        Tensor l = min_reprojection_loss(ctx.in(in, "tgt"), ctx.in(in, "srcs"), depth, poses, ctx.in(in, "K"), opt,
                                         &chosen);
        l.backward(ctx.in(in, "g"));
        // The codes are small integers: equal in every precision (the scene keeps the
        // candidates 1e-4 apart, float32 errors are ~1e-6).
        return std::vector<CaseTensor>{{"loss", l.detach(), TolClass::Warp, scale},
                                       {"chosen", chosen, TolClass::Exact},
                                       {"grad depth", depth.grad(), TolClass::Warp, grad_scale},
                                       {"grad poses", poses.grad(), TolClass::Warp, grad_scale}};
      };
      // Roles for the gradient check: the codes are a selection, not differentiated.
      c.forward = {{"loss", "g"}, {"chosen", ""}};
      c.gradients = {{"grad depth", "depth"}, {"grad poses", "poses"}};
      // Forward reads tgt C, srcs S C, depth and writes the codes; the backward reads the same
      // and the codes and writes grad depth (planes of B H W, float32; the windows are recomputed).
      c.bytes = 4.0 * (double)(sh.B * sh.H * sh.W) * (double)(2 * (sh.C + sh.S * sh.C) + 5);
      rows.push_back(std::move(c));
    }
}

}  // namespace sfm::lab
