#include "engine/rng.h"

#include <cmath>
#include <sstream>

namespace sfm {

static uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void Rng::reseed(uint64_t seed) {
  uint64_t x = seed;
  for (auto& s : s_) s = splitmix64(x);
}
uint64_t Rng::next_u64() {
  uint64_t result = rotl(s_[1] * 5, 7) * 9;
  uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}
double Rng::uniform() { return (next_u64() >> 11) * 0x1.0p-53; }
double Rng::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
double Rng::normal() {
  double u1 = uniform(), u2 = uniform();
  if (u1 < 1e-300) u1 = 1e-300;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}
int64_t Rng::randint(int64_t n) {
  SFM_CHECK(n > 0, "Rng::randint(", n, ")");
  return (int64_t)(uniform() * (double)n) % n;
}
std::string Rng::state() const {
  std::ostringstream os;
  os << s_[0] << " " << s_[1] << " " << s_[2] << " " << s_[3];
  return os.str();
}
void Rng::set_state(const std::string& s) {
  std::istringstream is(s);
  for (auto& v : s_) {
    SFM_CHECK(bool(is >> v), "Rng::set_state: expected four unsigned integers, got '", s, "'");
  }
}

Tensor rand_uniform(const Shape& s, Rng& rng, double lo, double hi, DType t, Device dev) {
  Tensor c = Tensor::empty(s, t, Device::CPU);
  int64_t n = s.numel();
  if (t == DType::F32) {
    float* p = c.data<float>();
    for (int64_t i = 0; i < n; ++i) p[i] = (float)rng.uniform(lo, hi);
  } else {
    double* p = c.data<double>();
    for (int64_t i = 0; i < n; ++i) p[i] = rng.uniform(lo, hi);
  }
  return c.to(dev);
}
Tensor randn(const Shape& s, Rng& rng, double stddev, DType t, Device dev) {
  Tensor c = Tensor::empty(s, t, Device::CPU);
  int64_t n = s.numel();
  if (t == DType::F32) {
    float* p = c.data<float>();
    for (int64_t i = 0; i < n; ++i) p[i] = (float)(stddev * rng.normal());
  } else {
    double* p = c.data<double>();
    for (int64_t i = 0; i < n; ++i) p[i] = stddev * rng.normal();
  }
  return c.to(dev);
}

}  // namespace sfm
