#pragma once
// A seeded random generator whose whole state can be saved and restored (resume must
// reproduce the data order and augmentation bit for bit). Uses its own distributions, not
// <random>'s, whose outputs differ between standard libraries.
#include <cstdint>
#include <string>

#include "engine/tensor.h"

namespace sfm {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }
  void reseed(uint64_t seed);
  uint64_t next_u64();                 // xoshiro256**
  double uniform();                    // [0, 1)
  double uniform(double lo, double hi);
  double normal();                     // standard normal (Box-Muller, no cached spare)
  int64_t randint(int64_t n);          // [0, n)
  std::string state() const;           // "s0 s1 s2 s3" in decimal
  void set_state(const std::string& s);

 private:
  uint64_t s_[4];
};

Tensor rand_uniform(const Shape& s, Rng& rng, double lo = 0.0, double hi = 1.0, DType t = DType::F32,
                    Device dev = Device::CPU);
Tensor randn(const Shape& s, Rng& rng, double stddev = 1.0, DType t = DType::F32, Device dev = Device::CPU);

}  // namespace sfm
