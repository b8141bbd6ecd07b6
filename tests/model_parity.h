#pragma once
// The parity comparison with the PyTorch reference (tests/reference/sfmlearner_ref.py via a
// safetensors fixture: hash-initialised weights, a batch, the reference's outputs, losses,
// gradients and six-step Adam trajectory), callable on any device with stated bounds. Used by
// tests/test_models.cpp (CPU) and tests/test_gpu_parity.cpp (CUDA).
#include "lab/ops/compare.h"
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "engine/adam.h"
#include "engine/autograd.h"
#include "engine/safetensors.h"
#include "models/dispnet.h"
#include "models/posenet.h"
#include "models/sfm_loss.h"
#include "tests/hash_init.h"

namespace sfm::test {

using sfm::lab::l2_rel_err;



struct Fixture {
  std::map<std::string, Tensor> t;
  int64_t B, H, W;
  explicit Fixture(const std::string& path) {
    SafeTensors st = load_safetensors(path);
    t = st.tensors;
    B = std::stoll(st.metadata.at("B"));
    H = std::stoll(st.metadata.at("H"));
    W = std::stoll(st.metadata.at("W"));
  }
  const Tensor& at(const std::string& k) const {
    auto it = t.find(k);
    if (it == t.end()) FAIL("fixture lacks " << k);
    return it->second;
  }
};

// Gradient parity for one parameter: full tensors compared relative to the tensor's norm;
// large ones by norm, 4 random projections and 256 sampled entries (see fixture_model.py).
inline void check_grad(const Fixture& f, const std::string& tag, const std::string& name, const Tensor& grad, double tol) {
  INFO("gradient of " << name << " (" << tag << ")");
  REQUIRE(grad.defined());
  std::vector<double> g = grad.to_vector_f64();
  std::string full = "grad/" + tag + "/full/" + name;
  if (f.t.count(full)) {
    std::vector<float> ref = f.at(full).to_vector();
    REQUIRE(ref.size() == g.size());
    std::vector<float> gf(g.begin(), g.end());
    CHECK(l2_rel_err(gf, ref) < tol);
    return;
  }
  std::vector<float> summary = f.at("grad/" + tag + "/summary/" + name).to_vector();
  double norm = 0;
  for (double v : g) norm += v * v;
  norm = std::sqrt(norm);
  double ref_norm = summary[0];
  CHECK(std::fabs(norm - ref_norm) <= tol * ref_norm);
  uint32_t salt = test::fnv1a(name);
  for (int k = 0; k < 4; ++k) {
    double dot = 0;
    for (size_t i = 0; i < g.size(); ++i) dot += g[i] * test::hash_uniform(i, salt + 100 + k);
    // a projection's error is bounded by |err| * |d| <= tol * |g| * sqrt(n/3)
    CHECK(std::fabs(dot - summary[1 + k]) <= tol * ref_norm * std::sqrt(g.size() / 3.0));
  }
  std::vector<float> sample = f.at("grad/" + tag + "/sample/" + name).to_vector();
  double err2 = 0, ref2 = 0;
  for (int j = 0; j < (int)sample.size(); ++j) {
    size_t idx = test::hash_u32(j, salt + 1) % g.size();
    err2 += (g[idx] - sample[j]) * (g[idx] - sample[j]);
    ref2 += (double)sample[j] * sample[j];
  }
  // sampled entries relative to the tensor's norm scaled to the sample size
  CHECK(std::sqrt(err2) <= tol * std::max(std::sqrt(ref2), ref_norm * std::sqrt(sample.size() / (double)g.size())));
}

// The bounds the comparison applies (the CPU test's values by default).
struct ParityBounds {
  double output = 1e-4;      // disparities, pose, masks: relative error
  double loss = 1e-4;        // loss components at step 0: relative error
  double trajectory = 1e-3;  // total loss over the six Adam steps: relative error
  double grad = 1e-3;        // every parameter gradient, relative to the tensor's norm
};

// Runs the fixture's comparison with the networks, the loss and Adam on dev (the fixture's
// tensors are moved there; the convolution implementation is whatever set_conv_impl chose).
inline void run_parity(const std::string& path, const ParityBounds& bd, Device dev = Device::CPU) {
  Fixture f(path);
  Tensor tgt = f.at("batch/tgt").to(dev), srcs = f.at("batch/srcs").to(dev), K = f.at("batch/K").to(dev);
  std::vector<Tensor> src_list;  // srcs [B,2,3,H,W] -> two [B,3,H,W] tensors
  {
    std::vector<float> v = srcs.to_vector();
    int64_t per = 3 * f.H * f.W;
    std::vector<float> s0, s1;
    for (int64_t b = 0; b < f.B; ++b) {
      s0.insert(s0.end(), v.begin() + (b * 2 + 0) * per, v.begin() + (b * 2 + 1) * per);
      s1.insert(s1.end(), v.begin() + (b * 2 + 1) * per, v.begin() + (b * 2 + 2) * per);
    }
    src_list = {Tensor::from_vector(s0, tgt.shape(), dev), Tensor::from_vector(s1, tgt.shape(), dev)};
  }
  DispNet disp;
  test::hash_init(disp);
  disp.to(dev);
  std::vector<Tensor> disps = disp.forward(tgt);
  // Outputs: relative error < bd.output (1e-4 on the CPU: float32 through ~20 layers: observed ~1e-6).
  for (int s = 0; s < 4; ++s) {
    INFO("disparity scale " << s);
    CHECK(l2_rel_err(disps[s].to_vector(), f.at("out/disp" + std::to_string(s)).to_vector()) < bd.output);
  }
  for (bool mask : {false, true}) {
    PoseExpNet pn({2, mask});
    test::hash_init(pn);
    pn.to(dev);
    PoseExpOutput o = pn.forward(tgt, src_list);
    CHECK(l2_rel_err(o.pose.to_vector(), f.at("out/pose_mask" + std::to_string((int)mask)).to_vector()) < bd.output);
    for (size_t s = 0; s < o.masks.size(); ++s) {
      INFO("mask scale " << s);
      CHECK(l2_rel_err(o.masks[s].to_vector(), f.at("out/mask" + std::to_string(s)).to_vector()) < bd.output);
    }
  }
  {
    PoseExpNet sm({2, true, MaskMode::Softmax});
    test::hash_init(sm);
    sm.to(dev);
    PoseExpOutput o = sm.forward(tgt, src_list);
    for (size_t s = 0; s < o.masks.size(); ++s)
      CHECK(l2_rel_err(o.masks[s].to_vector(), f.at("out/softmax_mask" + std::to_string(s)).to_vector()) < bd.output);
  }
  for (std::string preset : {"original", "pytorch-port"}) {
    for (bool mask : {false, true}) {
      std::string tag = preset + "/mask" + std::to_string((int)mask);
      INFO("configuration " << tag);
      LossConfig cfg = loss_preset(preset);
      cfg.mask_weight = mask ? 0.2 : 0.0;
      DispNet dn;
      test::hash_init(dn);
      dn.to(dev);  // before Adam takes the parameters (to() replaces them)
      PoseExpNet pn({2, mask});
      test::hash_init(pn);
      pn.to(dev);
      std::vector<Tensor> params;
      std::vector<std::string> names;
      append_parameters(dn, "dispnet.", params, names);
      append_parameters(pn, "posenet.", params, names);
      Adam adam(params, names, AdamOptions{});
      std::vector<double> totals = f.at("adam/" + tag).to_vector_f64();
      std::vector<double> comps = f.at("loss/" + tag).to_vector_f64();
      for (int step = 0; step < 6; ++step) {
        adam.zero_grad();
        std::vector<Tensor> d = dn.forward(tgt);
        PoseExpOutput o = pn.forward(tgt, src_list);
        LossTerms lt = sfm_loss(tgt, srcs, K, d, o, cfg);
        double total = lt.total_value();
        if (step == 0) {
          // Loss components: relative error < bd.loss (1e-4 on the CPU).
          CHECK(std::fabs(lt.photometric.item() - comps[0]) <= bd.loss * std::fabs(comps[0]));
          CHECK(std::fabs(lt.smoothness.item() - comps[1]) <= bd.loss * std::fabs(comps[1]) + 1e-12);
          if (mask) CHECK(std::fabs(lt.explainability.item() - comps[2]) <= bd.loss * std::fabs(comps[2]));
          CHECK(std::fabs(total - comps[3]) <= bd.loss * std::fabs(comps[3]));
        }
        // Five Adam steps: the losses follow the reference within bd.trajectory (1e-3 on the CPU).
        CHECK(std::fabs(total - totals[step]) <= bd.trajectory * std::fabs(totals[step]));
        lt.total.backward();
        if (step == 0) {
          // Every parameter gradient within grad_tol of the tensor's norm.
          for (size_t i = 0; i < params.size(); ++i) check_grad(f, tag, names[i], params[i].grad(), bd.grad);
        }
        adam.step();
      }
    }
  }
}

}  // namespace sfm::test
