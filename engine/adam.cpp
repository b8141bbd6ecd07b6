#include "engine/adam.h"

#include <cmath>

#include "boundary/math/adam_math.h"
#include "cpu/parallel.h"
#if SFM_WITH_CUDA
#include "kernels/adam.h"
#endif

namespace sfm {

Adam::Adam(std::vector<Tensor> params, std::vector<std::string> names, AdamOptions opt)
    : params_(std::move(params)), names_(std::move(names)), opt_(opt) {
  SFM_CHECK(params_.size() == names_.size(), "Adam: ", params_.size(), " parameters but ", names_.size(), " names");
  for (const Tensor& p : params_) {
    m_.push_back(Tensor::zeros(p.shape(), p.dtype(), p.device()));
    v_.push_back(Tensor::zeros(p.shape(), p.dtype(), p.device()));
  }
}

void Adam::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

void Adam::step() {
  ++t_;
  double bc1 = 1.0 - std::pow(opt_.beta1, (double)t_), bc2 = 1.0 - std::pow(opt_.beta2, (double)t_);
#if SFM_WITH_CUDA
  if (!params_.empty() && params_[0].is_cuda()) {
    std::vector<cuda::AdamTensor> ts;
    for (size_t i = 0; i < params_.size(); ++i) {
      Tensor g = params_[i].grad();
      if (!g.defined()) continue;
      ts.push_back({params_[i].data<float>(), g.data<float>(), m_[i].data<float>(), v_[i].data<float>(),
                    params_[i].numel()});
    }
    cuda::adam_multi_tensor(ts, (float)opt_.lr, (float)opt_.beta1, (float)opt_.beta2, (float)opt_.eps,
                            (float)opt_.weight_decay, (float)bc1, (float)bc2);
    return;
  }
#endif
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor g = params_[i].grad();
    if (!g.defined()) continue;
    if (params_[i].dtype() == DType::F32) {
      float *p = params_[i].data<float>(), *m = m_[i].data<float>(), *v = v_[i].data<float>();
      const float* gp = g.data<float>();
      float lr = (float)opt_.lr, b1 = (float)opt_.beta1, b2 = (float)opt_.beta2, eps = (float)opt_.eps,
            wd = (float)opt_.weight_decay, c1 = (float)bc1, c2 = (float)bc2;
      parallel_for(params_[i].numel(), [&](int64_t k) { math::adam_update(p[k], gp[k], m[k], v[k], lr, b1, b2, eps, wd, c1, c2); });
    } else {
      double *p = params_[i].data<double>(), *m = m_[i].data<double>(), *v = v_[i].data<double>();
      const double* gp = g.data<double>();
      parallel_for(params_[i].numel(), [&](int64_t k) {
        math::adam_update(p[k], gp[k], m[k], v[k], opt_.lr, opt_.beta1, opt_.beta2, opt_.eps, opt_.weight_decay, bc1, bc2);
      });
    }
  }
}

std::map<std::string, Tensor> Adam::state() const {
  std::map<std::string, Tensor> s;
  for (size_t i = 0; i < params_.size(); ++i) {
    s[names_[i] + ".exp_avg"] = m_[i];
    s[names_[i] + ".exp_avg_sq"] = v_[i];
  }
  s["step"] = Tensor::from_vector(std::vector<double>{(double)t_}, Shape{1});
  return s;
}

void Adam::load_state(const std::map<std::string, Tensor>& s, const std::string& source) {
  auto get = [&](const std::string& key, const Tensor& like) {
    auto it = s.find(key);
    SFM_CHECK(it != s.end(), source, ": optimiser state lacks tensor '", key, "'");
    SFM_CHECK(it->second.shape() == like.shape(), source, ": optimiser tensor '", key, "' has shape ",
              it->second.shape().str(), ", expected ", like.shape().str());
    return it->second;
  };
  for (size_t i = 0; i < params_.size(); ++i) {
    m_[i].copy_(get(names_[i] + ".exp_avg", m_[i]));
    v_[i].copy_(get(names_[i] + ".exp_avg_sq", v_[i]));
  }
  auto it = s.find("step");
  SFM_CHECK(it != s.end() && it->second.numel() == 1, source, ": optimiser state lacks 'step'");
  t_ = (int64_t)it->second.item();
  SFM_CHECK(s.size() == 2 * params_.size() + 1, source, ": optimiser state has ", s.size(),
            " tensors, expected ", 2 * params_.size() + 1, " (different network?)");
}

}  // namespace sfm
