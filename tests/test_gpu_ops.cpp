// CUDA runtime and non-convolution kernels against the CPU: the runtime (caching
// allocator, copies, error reporting), the ops that already dispatch to CUDA through
// engine/ops.h (elementwise, shape, reductions, Adam), and the launchers of resampling,
// geometry and losses (kernels/resample.h, warp.h, loss.h) on the training shapes. Tagged
// [gpu]: without a CUDA device they say so and do nothing.
//
// Error: max |gpu - ref| / max |ref| over the tensor. Outputs are NaN-poisoned before each
// run (launcher outputs directly; op outputs by handing the caching allocator a NaN-filled
// block of the same size class just before the call, which the op's output then reuses).
// Tolerances are stated at each check.
#include <catch2/catch.hpp>

#include "tests/test_support.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "lab/ops/compare.h"
#include "boundary/device_runtime.h"
#include "boundary/math/elementwise_math.h"
#if SFM_WITH_CUDA
#include "kernels/cuda_check.h"
#include "kernels/loss.h"
#include "kernels/reduce.h"
#include "kernels/resample.h"
#include "kernels/warp.h"
#endif
#include "engine/adam.h"
#include "engine/autograd.h"
#include "cpu/loss.h"
#include "cpu/warp.h"
#include "boundary/math/loss_math.h"
#include "boundary/math/warp_math.h"
#include "engine/ops.h"
#include "engine/rng.h"

using namespace sfm;
using sfm::lab::max_rel_err;

#define SFM_GPU_OR_SKIP()                  \
  do {                                     \
    if (!cuda_available()) {               \
      SFM_SKIP("no CUDA device");     \
      return;                              \
    }                                      \
  } while (0)

#if SFM_WITH_CUDA
namespace {

bool same_bits(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * 4) == 0;
}
Tensor nan_gpu(const Shape& s) {
  return Tensor::full(s, std::numeric_limits<double>::quiet_NaN(), DType::F32, Device::CUDA);
}
// The next CUDA allocation of this size class gets a NaN-filled block.
void poison_next(const Shape& s) { Tensor t = nan_gpu(s); }

}  // namespace
#endif

TEST_CASE("gpu runtime: caching allocator, copies, checked calls", "[gpu]") {
#if SFM_WITH_CUDA
  SFM_GPU_OR_SKIP();
  REQUIRE_FALSE(cuda_device_name().empty());
  Allocator& a = allocator_for(Device::CUDA);
  const MemoryStats s0 = a.stats();
  {
    Tensor t = Tensor::empty(Shape{1000}, DType::F32, Device::CUDA);
    REQUIRE(a.stats().current_bytes == s0.current_bytes + 4000);
    REQUIRE(a.stats().peak_bytes >= s0.current_bytes + 4000);
  }
  REQUIRE(a.stats().current_bytes == s0.current_bytes);
  // Steady state: the same sizes again never reach cudaMalloc.
  const size_t sys = a.stats().system_allocs;
  for (int i = 0; i < 20; ++i) {
    Tensor t1 = Tensor::empty(Shape{1000}, DType::F32, Device::CUDA);
    Tensor t2 = Tensor::empty(Shape{4, 32, 128, 416}, DType::F32, Device::CUDA);
  }
  const size_t sys_after_first = a.stats().system_allocs;
  REQUIRE(sys_after_first <= sys + 1);  // at most the first large block
  for (int i = 0; i < 20; ++i) Tensor t2 = Tensor::empty(Shape{4, 32, 128, 416}, DType::F32, Device::CUDA);
  REQUIRE(a.stats().system_allocs == sys_after_first);
  REQUIRE(a.stats().reserved_bytes >= a.stats().current_bytes);
  a.release_cached();
  REQUIRE(a.stats().reserved_bytes >= a.stats().current_bytes);

  std::vector<float> v(12345);
  for (size_t i = 0; i < v.size(); ++i) v[i] = (float)i * 0.5f - 7.0f;
  Tensor g = Tensor::from_vector(v, Shape{12345}, Device::CUDA);
  REQUIRE(g.to_vector() == v);
  REQUIRE(g.clone().to_vector() == v);
  Tensor part = g.batch_slice(100, 200);  // an offset view
  REQUIRE(part.to_vector() == std::vector<float>(v.begin() + 100, v.begin() + 200));
  g.fill_(2.5);
  REQUIRE(g.to_vector() == std::vector<float>(v.size(), 2.5f));
  g.fill_(0.0);
  REQUIRE(g.to_vector() == std::vector<float>(v.size(), 0.0f));

  REQUIRE_THROWS_WITH([] { SFM_CUDA_CHECK(cudaSetDevice(1 << 20)); }(),
                      Catch::Contains("cudaSetDevice") && Catch::Contains("test_gpu_ops.cpp"));
  cudaGetLastError();
#else
  SFM_SKIP("this build has no CUDA backend");
#endif
}

TEST_CASE("gpu ops: elementwise forward and backward match the CPU", "[gpu]") {
#if SFM_WITH_CUDA
  SFM_GPU_OR_SKIP();
  Rng rng(1);
  const Shape s{3, 5, 17, 29};
  Tensor xc = rand_uniform(s, rng, 0.1, 2.0), yc = rand_uniform(s, rng, 0.1, 2.0), wc = rand_uniform(s, rng, -1, 1);
  Tensor xn = rand_uniform(s, rng, -2.0, 2.0);
  const std::vector<std::pair<const char*, std::function<Tensor(const Tensor&, const Tensor&)>>> fs{
      {"relu", [](const Tensor& a, const Tensor&) { return relu(a); }},
      {"sigmoid", [](const Tensor& a, const Tensor&) { return sigmoid(a); }},
      {"affine", [](const Tensor& a, const Tensor&) { return affine(a, -1.5, 0.25); }},
      {"reciprocal", [](const Tensor& a, const Tensor&) { return reciprocal(a); }},
      {"abs", [](const Tensor& a, const Tensor&) { return abs(a); }},
      {"log", [](const Tensor& a, const Tensor&) { return log(a); }},
      {"exp", [](const Tensor& a, const Tensor&) { return exp(a); }},
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }}};
  for (const auto& [name, f] : fs) {
    INFO("op " << name);
    const bool signed_input = std::string(name) == "relu" || std::string(name) == "abs" ||
                              std::string(name) == "sigmoid" || std::string(name) == "affine";
    Tensor a_c = (signed_input ? xn : xc).clone().set_requires_grad(true), b_c = yc.clone().set_requires_grad(true);
    Tensor a_g = a_c.detach().to(Device::CUDA).set_requires_grad(true);
    Tensor b_g = b_c.detach().to(Device::CUDA).set_requires_grad(true);
    Tensor out_c = f(a_c, b_c);
    poison_next(s);
    Tensor out_g = f(a_g, b_g);
    sum(mul(out_c, wc)).backward();
    sum(mul(out_g, wc.to(Device::CUDA))).backward();
    // Device transcendental functions differ from the host's by an ulp or two: 1e-5.
    CHECK(max_rel_err(out_g, out_c) <= 1e-5);
    CHECK(max_rel_err(a_g.grad(), a_c.grad()) <= 1e-5);
    if (b_c.grad().defined()) CHECK(max_rel_err(b_g.grad(), b_c.grad()) <= 1e-5);
  }
#else
  SFM_SKIP("this build has no CUDA backend");
#endif
}

TEST_CASE("gpu ops: concat, slice, crop, reshape are exact copies both ways", "[gpu]") {
#if SFM_WITH_CUDA
  SFM_GPU_OR_SKIP();
  Rng rng(2);
  Tensor a = rand_uniform(Shape{2, 3, 9, 13}, rng), b = rand_uniform(Shape{2, 5, 9, 13}, rng),
         c = rand_uniform(Shape{2, 1, 9, 13}, rng);
  std::vector<Tensor> cpu_in{a.clone().set_requires_grad(true), b.clone().set_requires_grad(true),
                             c.clone().set_requires_grad(true)};
  std::vector<Tensor> gpu_in;
  for (const Tensor& t : cpu_in) gpu_in.push_back(t.detach().to(Device::CUDA).set_requires_grad(true));
  auto chain = [](const std::vector<Tensor>& in) {
    Tensor cat = concat_channels(in);                         // [2, 9, 9, 13]
    Tensor sl = slice_channels(cat, 2, 7);                    // [2, 5, 9, 13]
    Tensor cr = crop(sl, 7, 10);                              // [2, 5, 7, 10]
    return reshape(cr, Shape{10, 70});
  };
  poison_next(Shape{2, 9, 9, 13});
  Tensor yc = chain(cpu_in), yg = chain(gpu_in);
  REQUIRE(yg.to_vector() == yc.to_vector());
  Tensor w = rand_uniform(Shape{10, 70}, rng);
  sum(mul(yc, w)).backward();
  sum(mul(yg, w.to(Device::CUDA))).backward();
  for (size_t i = 0; i < cpu_in.size(); ++i) CHECK(gpu_in[i].grad().to_vector() == cpu_in[i].grad().to_vector());
#else
  SFM_SKIP("this build has no CUDA backend");
#endif
}

TEST_CASE("gpu ops: sum, mean, mean_hw are deterministic and match the CPU", "[gpu]") {
#if SFM_WITH_CUDA
  SFM_GPU_OR_SKIP();
  Rng rng(3);
  Tensor x = rand_uniform(Shape{4, 32, 128, 416}, rng, -1, 1);  // a full-resolution activation
  Tensor xg = x.to(Device::CUDA);
  poison_next(Shape{1});
  Tensor s1 = sum(xg), s2 = sum(xg);
  REQUIRE(same_bits(s1, s2));
  // Both sum in double (different groupings) and round once to float: 1e-6.
  CHECK(std::fabs(s1.item() - sum(x).item()) <= 1e-6 * std::fabs(sum(x).item()) + 1e-6);
  CHECK(std::fabs(mean(xg).item() - mean(x).item()) <= 1e-6 * std::fabs(mean(x).item()) + 1e-9);
  Tensor small = rand_uniform(Shape{4, 256, 1, 4}, rng, -1, 1);  // the pose head's map
  for (const Tensor& t : {small, x}) {
    Tensor tc = t.clone().set_requires_grad(true), tg = t.to(Device::CUDA).set_requires_grad(true);
    poison_next(Shape{t.dim(0), t.dim(1)});
    Tensor mc = mean_hw(tc), mg = mean_hw(tg);
    CHECK(max_rel_err(mg, mc) <= 1e-6);
    Tensor w = rand_uniform(mc.shape(), rng, -1, 1);
    sum(mul(mc, w)).backward();
    sum(mul(mg, w.to(Device::CUDA))).backward();
    CHECK(max_rel_err(tg.grad(), tc.grad()) <= 1e-6);
    Tensor gc = tc.clone().set_requires_grad(true), gg = tg.detach().set_requires_grad(true);
    mean(gc).backward();
    mean(gg).backward();
    CHECK(max_rel_err(gg.grad(), gc.grad()) <= 1e-6);
  }
#else
  SFM_SKIP("this build has no CUDA backend");
#endif
}

TEST_CASE("gpu ops: fused multi-tensor Adam matches the CPU loop", "[gpu]") {
#if SFM_WITH_CUDA
  SFM_GPU_OR_SKIP();
  Rng rng(4);
  // Sizes of DispNet tensors around the 4096-element chunk, a big one, a bias, an empty grad.
  const std::vector<Shape> shapes{{32, 3, 7, 7}, {32}, {512, 512, 3, 3}, {1, 16, 3, 3}, {4096}, {4097}};
  std::vector<Tensor> pc, pg;
  std::vector<std::string> names;
  for (size_t i = 0; i < shapes.size(); ++i) {
    Tensor p = rand_uniform(shapes[i], rng, -1, 1);
    pc.push_back(p.clone().set_requires_grad(true));
    pg.push_back(p.to(Device::CUDA).set_requires_grad(true));
    names.push_back(std::string("p").append(std::to_string(i)));
  }
  AdamOptions opt;
  opt.lr = 1e-3;
  opt.weight_decay = 1e-4;
  Adam ac(pc, names, opt), ag(pg, names, opt);
  for (int step = 0; step < 3; ++step) {
    for (size_t i = 0; i < shapes.size(); ++i) {
      if (i == 3 && step == 1) {  // a parameter without a gradient this step is left alone
        pc[i].zero_grad();
        pg[i].zero_grad();
        continue;
      }
      Tensor g = rand_uniform(shapes[i], rng, -1, 1);
      pc[i].set_grad(g);
      pg[i].set_grad(g.to(Device::CUDA));
    }
    ac.step();
    ag.step();
  }
  // The same float formula (sqrt and division are correctly rounded on both); FMA
  // contraction may differ: 1e-6.
  auto sc = ac.state(), sg = ag.state();
  for (size_t i = 0; i < shapes.size(); ++i) {
    CHECK(max_rel_err(pg[i].detach(), pc[i].detach()) <= 1e-6);
    CHECK(max_rel_err(sg[names[i] + ".exp_avg"], sc[names[i] + ".exp_avg"]) <= 1e-6);
    CHECK(max_rel_err(sg[names[i] + ".exp_avg_sq"], sc[names[i] + ".exp_avg_sq"]) <= 1e-6);
  }
#else
  SFM_SKIP("this build has no CUDA backend");
#endif
}

TEST_CASE("gpu kernels: resampling matches the CPU ops (float64)", "[gpu]") {
#if SFM_WITH_CUDA
  SFM_GPU_OR_SKIP();
  Rng rng(5);
  // Bilinear x2 of the disparity heads (1/8, 1/4, 1/2 -> next) and an odd map.
  for (Shape s : {Shape{4, 1, 16, 52}, Shape{4, 1, 32, 104}, Shape{4, 1, 64, 208}, Shape{2, 3, 5, 7}}) {
    Tensor x = rand_uniform(s, rng, -1, 1, DType::F64).set_requires_grad(true);
    Tensor y = upsample_bilinear2x(x);
    Tensor g = rand_uniform(y.shape(), rng, -1, 1, DType::F64);
    y.backward(g);
    const int64_t planes = s[0] * s[1];
    Tensor xg = x.detach().to(DType::F32).to(Device::CUDA), gg = g.to(DType::F32).to(Device::CUDA);
    Tensor yo = nan_gpu(y.shape()), go = nan_gpu(s), yo2 = nan_gpu(y.shape()), go2 = nan_gpu(s);
    cuda::upsample2x_forward(xg.data<float>(), yo.data<float>(), planes, s[2], s[3]);
    cuda::upsample2x_backward(gg.data<float>(), go.data<float>(), planes, s[2], s[3]);
    cuda::upsample2x_forward(xg.data<float>(), yo2.data<float>(), planes, s[2], s[3]);
    cuda::upsample2x_backward(gg.data<float>(), go2.data<float>(), planes, s[2], s[3]);
    INFO("upsample " << s.str());
    // weights are multiples of 1/4 (exact); at most 16 float products per value: 1e-6.
    CHECK(max_rel_err(yo, y) <= 1e-6);
    CHECK(max_rel_err(go, x.grad()) <= 1e-6);
    CHECK(same_bits(yo, yo2));
    CHECK(same_bits(go, go2));
  }
  // Area: the loss pyramid (factors 2, 4, 8 of 128x416) and an uneven resize.
  Tensor img = rand_uniform(Shape{4, 3, 128, 416}, rng, 0, 1, DType::F64);
  for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{64, 208}, {32, 104}, {16, 52}, {50, 77}}) {
    Tensor x = img.clone().set_requires_grad(true);
    Tensor y = resize_area(x, h, w);
    Tensor g = rand_uniform(y.shape(), rng, -1, 1, DType::F64);
    y.backward(g);
    Tensor xg = img.to(DType::F32).to(Device::CUDA), gg = g.to(DType::F32).to(Device::CUDA);
    Tensor yo = nan_gpu(y.shape()), go = nan_gpu(img.shape());
    cuda::area_forward(xg.data<float>(), yo.data<float>(), 12, 128, 416, h, w);
    cuda::area_backward(gg.data<float>(), go.data<float>(), 12, 128, 416, h, w);
    INFO("area 128x416 -> " << h << "x" << w);
    // Bins of up to 64 float additions and one division: 1e-6.
    CHECK(max_rel_err(yo, y) <= 1e-6);
    CHECK(max_rel_err(go, x.grad()) <= 1e-6);
  }
#else
  SFM_SKIP("this build has no CUDA backend");
#endif
}

#if SFM_WITH_CUDA
namespace {

// A training-shaped scene, and the pixels where a warp result is discontinuous in the
// projected coordinate: (u, v) within 1e-3 px of an integer (a bilinear cell edge or the
// view border) or a colour difference within 1e-5 of 0 (the sign of |diff|). There a
// 1-ulp difference in the projection (nvcc and gcc contract multiply-adds differently)
// changes the result by O(1), so those pixels get zero weight in the gradient checks.
struct Scene {
  int64_t B, S, C, H, W;
  std::vector<float> tgt, srcs, depth, poses, K, mask;
};
Scene make_scene(int64_t B, int64_t S, int64_t C, int64_t H, int64_t W, uint64_t seed) {
  Rng rng(seed);
  Scene sc{B, S, C, H, W, {}, {}, {}, {}, {}, {}};
  auto rv = [&](int64_t n, double lo, double hi) {
    std::vector<float> v(n);
    for (float& x : v) x = (float)rng.uniform(lo, hi);
    return v;
  };
  sc.tgt = rv(B * C * H * W, 0, 1);
  sc.srcs = rv(B * S * C * H * W, 0, 1);
  sc.depth = rv(B * H * W, 1, 20);
  sc.mask = rv(B * S * H * W, 0.05, 1);
  for (int64_t i = 0; i < B * S; ++i) {
    for (int j = 0; j < 3; ++j) sc.poses.push_back((float)rng.uniform(-0.5, 0.5));
    for (int j = 0; j < 3; ++j) sc.poses.push_back((float)rng.uniform(-0.03, 0.03));
  }
  for (int64_t b = 0; b < B; ++b) {
    const float f = 0.58f * (float)W;
    std::vector<float> k{f, 0, 0.5f * (float)W, 0, 1.9f * f * (float)H / (float)W, 0.5f * (float)H, 0, 0, 1};
    sc.K.insert(sc.K.end(), k.begin(), k.end());
  }
  return sc;
}

bool near_int(double u) { return std::fabs(u - std::nearbyint(u)) < 1e-3; }

// risky[(b*S + s)*HW + p]: as described above (S = 1 with src = srcs for inverse_warp).
std::vector<char> risky_pixels(const Scene& sc, RotationMode rot, Padding pad, bool check_diff) {
  const int64_t plane = sc.H * sc.W;
  std::vector<char> r(sc.B * sc.S * plane, 0);
  for (int64_t b = 0; b < sc.B; ++b)
    for (int64_t s = 0; s < sc.S; ++s) {
      double pose[6], K[9], M[9], m[3];
      for (int j = 0; j < 6; ++j) pose[j] = sc.poses[6 * (b * sc.S + s) + j];
      for (int j = 0; j < 9; ++j) K[j] = sc.K[9 * b + j];
      math::warp_setup<double>(rot, pose, K, M, m);
      for (int64_t p = 0; p < plane; ++p) {
        const int x = (int)(p % sc.W), y = (int)(p / sc.W);
        math::Projected<double> pr = math::project_pixel<double>(M, m, x, y, sc.depth[b * plane + p]);
        bool bad = near_int(pr.u) || near_int(pr.v);
        if (!bad && check_diff) {
          math::BilinearTaps<double> t = math::bilinear_setup<double>(pr.u, pr.v, (int)sc.W, (int)sc.H, pad);
          for (int64_t c = 0; c < sc.C && !bad; ++c) {
            const float* sp = sc.srcs.data() + ((b * sc.S + s) * sc.C + c) * plane;
            double smp = 0;
            for (int k = 0; k < 4; ++k) smp += t.w[k] * sp[t.idx[k]];
            bad = std::fabs(sc.tgt[(b * sc.C + c) * plane + p] - smp) < 1e-5;
          }
        }
        r[(b * sc.S + s) * plane + p] = bad;
      }
    }
  return r;
}

// As rel_err over [G, C, plane] data, leaving out the elements of risky[G*plane] pixels.
double rel_err_skip(const std::vector<float>& got, const std::vector<float>& ref, const std::vector<char>& risky,
                    int64_t C, int64_t plane) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const int64_t grp = (int64_t)i / (C * plane), p = (int64_t)i % plane;
    if (risky[grp * plane + p]) continue;
    if (!std::isfinite(got[i])) return std::numeric_limits<double>::quiet_NaN();
    num = std::max(num, std::fabs((double)got[i] - ref[i]));
    den = std::max(den, std::fabs((double)ref[i]));
  }
  return den > 0 ? num / den : num;
}

Tensor gpu_vec(const std::vector<float>& v) { return Tensor::from_vector(v, Shape{(int64_t)v.size()}, Device::CUDA); }

}  // namespace
#endif

TEST_CASE("gpu kernels: inverse_warp and pose_vec2mat match the CPU loops at 128x416", "[gpu][warp]") {
#if SFM_WITH_CUDA
  SFM_GPU_OR_SKIP();
  const int64_t B = 4, C = 3, H = 128, W = 416, plane = H * W;
  for (Padding pad : {Padding::Zeros, Padding::Border})
    for (RotationMode rot : {RotationMode::Euler, RotationMode::Quat}) {
      INFO((pad == Padding::Zeros ? "zeros" : "border") << (rot == RotationMode::Euler ? " euler" : " quat"));
      Scene sc = make_scene(B, 1, C, H, W, 77);
      const std::vector<char> risky = risky_pixels(sc, rot, pad, false);
      Rng rng(8);
      std::vector<float> gout(B * C * plane);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t p = 0; p < plane; ++p)
            gout[(b * C + c) * plane + p] = risky[b * plane + p] ? 0.f : (float)rng.uniform(-1, 1);
      const WarpDims d{B, C, H, W};
      std::vector<float> out_c(B * C * plane), val_c(B * plane), gs_c(out_c.size()), gd_c(val_c.size()), gp_c(B * 6);
      cpu::inverse_warp_forward<float>(sc.srcs.data(), sc.depth.data(), sc.poses.data(), sc.K.data(), d, pad, rot,
                                       out_c.data(), val_c.data());
      cpu::inverse_warp_backward<float>(sc.srcs.data(), sc.depth.data(), sc.poses.data(), sc.K.data(), d, pad, rot,
                                        gout.data(), gs_c.data(), gd_c.data(), gp_c.data());
      Tensor src = gpu_vec(sc.srcs), depth = gpu_vec(sc.depth), pose = gpu_vec(sc.poses), K = gpu_vec(sc.K),
             go = gpu_vec(gout);
      Tensor out = nan_gpu(Shape{B * C * plane}), val = nan_gpu(Shape{B * plane}), gs = nan_gpu(out.shape()),
             gd = nan_gpu(val.shape()), gp = nan_gpu(Shape{B * 6}), gp2 = nan_gpu(Shape{B * 6});
      cuda::inverse_warp_forward(src.data<float>(), depth.data<float>(), pose.data<float>(), K.data<float>(), WarpDims{B, C, H, W}, pad, rot, out.data<float>(), val.data<float>());
      cuda::inverse_warp_backward(src.data<float>(), depth.data<float>(), pose.data<float>(), K.data<float>(), WarpDims{B, C, H, W}, pad, rot, go.data<float>(), gs.data<float>(), gd.data<float>(),
                                  gp.data<float>());
      cuda::inverse_warp_backward(src.data<float>(), depth.data<float>(), pose.data<float>(), K.data<float>(), WarpDims{B, C, H, W}, pad, rot, go.data<float>(), nullptr, nullptr, gp2.data<float>());
      // Forward values away from the risky pixels (the sample is continuous elsewhere). The
      // same float arithmetic on both sides, contraction differences only: 1e-5.
      CHECK(rel_err_skip(out.to_vector(), out_c, risky, C, plane) <= 1e-5);
      CHECK(rel_err_skip(val.to_vector(), val_c, risky, 1, plane) == 0.0);
      CHECK(max_rel_err(gd, gd_c) <= 1e-5);
      CHECK(max_rel_err(gs, gs_c) <= 1e-5);  // CPU: float sums in pixel order; GPU: exact fixed point
      CHECK(max_rel_err(gp, gp_c) <= 1e-5);  // double sums, other grouping
      CHECK(same_bits(gp, gp2));         // the pose gradient does not depend on what else is asked
    }
  // pose_vec2mat
  Rng rng(9);
  std::vector<float> pose(5 * 6), gRt(5 * 12);
  for (float& v : pose) v = (float)rng.uniform(-1, 1);
  for (float& v : gRt) v = (float)rng.uniform(-1, 1);
  for (RotationMode rot : {RotationMode::Euler, RotationMode::Quat}) {
    std::vector<float> Rt_c(5 * 12), gp_c(5 * 6);
    cpu::pose_vec2mat_forward<float>(pose.data(), 5, rot, Rt_c.data());
    cpu::pose_vec2mat_backward<float>(pose.data(), gRt.data(), 5, rot, gp_c.data());
    Tensor pg = gpu_vec(pose), gg = gpu_vec(gRt), Rt = nan_gpu(Shape{60}), gp = nan_gpu(Shape{30});
    cuda::pose_vec2mat_forward(pg.data<float>(), 5, rot, Rt.data<float>());
    cuda::pose_vec2mat_backward(pg.data<float>(), gg.data<float>(), 5, rot, gp.data<float>());
    CHECK(max_rel_err(Rt, Rt_c) <= 1e-6);  // device sinf/cosf within 2 ulp of the host's
    CHECK(max_rel_err(gp, gp_c) <= 1e-5);
  }
#else
  SFM_SKIP("this build has no CUDA backend");
#endif
}

TEST_CASE("gpu kernels: fused photometric loss matches the CPU loops at 128x416", "[gpu][warp]") {
#if SFM_WITH_CUDA
  SFM_GPU_OR_SKIP();
  const int64_t B = 4, S = 2, C = 3, H = 128, W = 416, plane = H * W;
  for (bool keep : {true, false}) {
    PhotometricOptions opt;
    opt.keep_out_of_view = keep;
    opt.padding = Padding::Zeros;
    opt.rotation = keep ? RotationMode::Euler : RotationMode::Quat;
    INFO("keep_out_of_view " << keep);
    Scene sc = make_scene(B, S, C, H, W, 91);
    const std::vector<char> risky = risky_pixels(sc, opt.rotation, opt.padding, true);
    std::vector<float> mask = sc.mask;
    for (size_t i = 0; i < mask.size(); ++i)
      if (risky[i]) mask[i] = 0.f;
    const PhotometricDims d{B, S, C, H, W};
    std::vector<float> warped_c(sc.srcs.size());
    const double loss_c = cpu::photometric_forward<float>(sc.tgt.data(), sc.srcs.data(), sc.depth.data(),
                                                          sc.poses.data(), sc.K.data(), mask.data(), d, opt,
                                                          warped_c.data());
    const float gscale = 0.7f;
    std::vector<float> gd_c(B * plane), gp_c(B * S * 6), gm_c(B * S * plane);
    cpu::photometric_backward<float>(sc.tgt.data(), sc.srcs.data(), sc.depth.data(), sc.poses.data(), sc.K.data(),
                                     mask.data(), d, opt, gscale, gd_c.data(), gp_c.data(), gm_c.data());
    Tensor tgt = gpu_vec(sc.tgt), srcs = gpu_vec(sc.srcs), depth = gpu_vec(sc.depth), poses = gpu_vec(sc.poses),
           K = gpu_vec(sc.K), mk = gpu_vec(mask), gsc = gpu_vec({gscale});
    Tensor loss = nan_gpu(Shape{1}), loss2 = nan_gpu(Shape{1}), warped = nan_gpu(Shape{(int64_t)sc.srcs.size()});
    cuda::photometric_forward(tgt.data<float>(), srcs.data<float>(), depth.data<float>(), poses.data<float>(),
                              K.data<float>(), mk.data<float>(), PhotometricDims{B, S, C, H, W}, opt, loss.data<float>(),
                              warped.data<float>());
    cuda::photometric_forward(tgt.data<float>(), srcs.data<float>(), depth.data<float>(), poses.data<float>(),
                              K.data<float>(), mk.data<float>(), PhotometricDims{B, S, C, H, W}, opt, loss2.data<float>(), nullptr);
    Tensor gd = nan_gpu(Shape{B * plane}), gp = nan_gpu(Shape{B * S * 6}), gm = nan_gpu(Shape{B * S * plane});
    cuda::photometric_backward(tgt.data<float>(), srcs.data<float>(), depth.data<float>(), poses.data<float>(),
                               K.data<float>(), mk.data<float>(), PhotometricDims{B, S, C, H, W}, opt, gsc.data<float>(),
                               gd.data<float>(), gp.data<float>(), gm.data<float>());
    // The loss is a mean of 10^6 terms, each the same float arithmetic up to contraction,
    // summed in double: 1e-6 (risky pixels have mask 0 and contribute nothing on either side).
    CHECK(std::fabs(loss.item() - loss_c) <= 1e-6 * std::fabs(loss_c));
    CHECK(same_bits(loss, loss2));
    CHECK(rel_err_skip(warped.to_vector(), warped_c, risky, C, plane) <= 1e-5);
    CHECK(max_rel_err(gd, gd_c) <= 1e-5);
    CHECK(max_rel_err(gp, gp_c) <= 1e-5);
    CHECK(max_rel_err(gm, gm_c) <= 1e-5);
  }
#else
  SFM_SKIP("this build has no CUDA backend");
#endif
}

TEST_CASE("gpu kernels: smoothness and explainability losses match the CPU loops", "[gpu]") {
#if SFM_WITH_CUDA
  SFM_GPU_OR_SKIP();
  Rng rng(10);
  for (auto [planes, H, W] : std::vector<std::array<int64_t, 3>>{{4, 128, 416}, {4, 16, 52}, {3, 1, 9}}) {
    std::vector<float> x(planes * H * W);
    for (float& v : x) v = (float)rng.uniform(0.01, 10);
    double inv[4];
    for (int k = 0; k < 4; ++k) {
      long long n = planes * math::smooth_term_count(k, H, W);
      inv[k] = n > 0 ? 1.0 / (double)n : 0.0;
    }
    double sums[4], ref = 0;
    cpu::smoothness_forward<float>(x.data(), planes, H, W, sums);
    for (int k = 0; k < 4; ++k) ref += sums[k] * inv[k];
    const float g = 0.3f;
    double coef[4];
    for (int k = 0; k < 4; ++k) coef[k] = (double)g * inv[k];
    std::vector<float> gx_c(x.size());
    cpu::smoothness_backward<float>(x.data(), planes, H, W, coef, gx_c.data());
    Tensor xg = gpu_vec(x), gg = gpu_vec({g}), loss = nan_gpu(Shape{1}), loss2 = nan_gpu(Shape{1}),
           gx = nan_gpu(Shape{(int64_t)x.size()});
    cuda::smoothness_forward(xg.data<float>(), planes, H, W, inv, loss.data<float>());
    cuda::smoothness_forward(xg.data<float>(), planes, H, W, inv, loss2.data<float>());
    cuda::smoothness_backward(xg.data<float>(), planes, H, W, inv, gg.data<float>(), gx.data<float>());
    INFO("smoothness " << planes << "x" << H << "x" << W);
    // The terms are sums and differences only (bitwise equal on both), summed in double: 1e-6.
    CHECK(std::fabs(loss.item() - ref) <= 1e-6 * std::fabs(ref));
    CHECK(same_bits(loss, loss2));
    CHECK(max_rel_err(gx, gx_c) <= 1e-6);
    // value and gradient in one pass, then scaled by the upstream gradient (an ulp apart)
    Tensor loss3 = nan_gpu(Shape{1}), gx3 = nan_gpu(gx.shape());
    cuda::smoothness_value_and_grad(xg.data<float>(), planes, H, W, inv, loss3.data<float>(), gx3.data<float>());
    cuda::scale_by_scalar(gx3.data<float>(), gg.data<float>(), gx3.data<float>(), gx3.numel());
    CHECK(same_bits(loss3, loss));
    CHECK(max_rel_err(gx3, gx_c) <= 1e-6);
  }
  const int64_t B = 4, S = 2, hw = 128 * 416, n = B * S * hw;
  std::vector<float> m(n), logits(2 * n), gy(n);
  for (float& v : m) v = (float)rng.uniform(0, 1);
  m[17] = 0.f;  // the log clamp
  for (float& v : logits) v = (float)rng.uniform(-6, 6);
  for (float& v : gy) v = (float)rng.uniform(-1, 1);
  const float g = 1.1f;
  Tensor mg = gpu_vec(m), lg = gpu_vec(logits), gyg = gpu_vec(gy), gg = gpu_vec({g});
  // Device logf/expf/log1pf are within 2 ulp of the host's: 1e-6 on sums, 1e-5 per element.
  {
    Tensor loss = nan_gpu(Shape{1}), gm = nan_gpu(Shape{n});
    cuda::explainability_forward(mg.data<float>(), n, loss.data<float>());
    cuda::explainability_backward(mg.data<float>(), n, gg.data<float>(), gm.data<float>());
    const double ref = cpu::explainability_forward<float>(m.data(), n) / (double)n;
    std::vector<float> gm_c(n);
    cpu::explainability_backward<float>(m.data(), n, (float)((double)g / (double)n), gm_c.data());
    CHECK(std::fabs(loss.item() - ref) <= 1e-6 * std::fabs(ref));
    CHECK(max_rel_err(gm, gm_c) <= 1e-5);
    Tensor loss3 = nan_gpu(Shape{1}), gm3 = nan_gpu(Shape{n});
    cuda::explainability_value_and_grad(mg.data<float>(), n, loss3.data<float>(), gm3.data<float>());
    cuda::scale_by_scalar(gm3.data<float>(), gg.data<float>(), gm3.data<float>(), n);
    CHECK(same_bits(loss3, loss));
    CHECK(max_rel_err(gm3, gm_c) <= 1e-5);
  }
  {
    Tensor loss = nan_gpu(Shape{1}), gl = nan_gpu(Shape{2 * n}), mk = nan_gpu(Shape{n}), gml = nan_gpu(Shape{2 * n});
    cuda::softmax_ce_forward(lg.data<float>(), B, S, hw, loss.data<float>());
    cuda::softmax_ce_backward(lg.data<float>(), B, S, hw, gg.data<float>(), gl.data<float>());
    cuda::pairs_mask_forward(lg.data<float>(), B, S, hw, mk.data<float>());
    cuda::pairs_mask_backward(mk.data<float>(), gyg.data<float>(), B, S, hw, gml.data<float>());
    const double ref = cpu::softmax_ce_forward<float>(logits.data(), B, S, hw) / (double)n;
    std::vector<float> gl_c(2 * n), mk_c(n), gml_c(2 * n);
    cpu::softmax_ce_backward<float>(logits.data(), B, S, hw, (float)((double)g / (double)n), gl_c.data());
    cpu::pairs_mask_forward<float>(logits.data(), B, S, hw, mk_c.data());
    cpu::pairs_mask_backward<float>(mk_c.data(), gy.data(), B, S, hw, gml_c.data());
    CHECK(std::fabs(loss.item() - ref) <= 1e-6 * std::fabs(ref));
    CHECK(max_rel_err(gl, gl_c) <= 1e-5);
    CHECK(max_rel_err(mk, mk_c) <= 1e-5);
    CHECK(max_rel_err(gml, gml_c) <= 1e-5);
  }
#else
  SFM_SKIP("this build has no CUDA backend");
#endif
}
