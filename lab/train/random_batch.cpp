// Seeded random snippets for the benchmarks and tests (lab/train/random_batch.h).
#include "lab/train/random_batch.h"

#include <algorithm>
#include <vector>

#include "engine/error.h"
#include "engine/rng.h"

namespace sfm {

Tensor kitti_like_intrinsics(int batch, int height, int width, Device dev) {
  // The numbers of synth::kitti_intrinsics (train/synth/world.cpp), kept here so that the
  // OpenCV-free lab library needs nothing from train/.
  const float fx = (float)(241.7 * width / 416.0), fy = (float)(241.7 * height / 128.0);
  const float cx = (float)(204.2 * width / 416.0), cy = (float)(59.0 * height / 128.0);
  std::vector<float> kv;
  for (int b = 0; b < batch; ++b) kv.insert(kv.end(), {fx, 0.f, cx, 0.f, fy, cy, 0.f, 0.f, 1.f});
  return Tensor::from_vector(kv, Shape{batch, 3, 3}, dev);
}

SfMBatch random_batch(int batch, int height, int width, int num_sources, uint64_t seed, Device dev) {
  SFM_CHECK(batch >= 1 && height >= 8 && width >= 8 && num_sources >= 1, "random_batch: bad size ", batch, "x",
            height, "x", width, " with ", num_sources, " sources");
  Rng rng(seed);
  const int B = batch, H = height, W = width, S = num_sources;
  const int shift_max = std::max(1, W / 64);           // sideways motion per frame, pixels
  const int Wd = W + 2 * shift_max * ((S + 1) / 2);   // the scene is wider than a frame
  const int cell = 8;                                  // coarse grid spacing: the smoothness
  const int gh = H / cell + 2, gw = Wd / cell + 2;
  std::vector<float> tgt((size_t)B * 3 * H * W), srcs((size_t)B * S * 3 * H * W);
  std::vector<float> scene((size_t)3 * H * Wd), grid((size_t)3 * gh * gw);
  for (int b = 0; b < B; ++b) {
    for (float& g : grid) g = (float)rng.uniform(20.0, 235.0);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < Wd; ++x) {
          const double gy = (y + 0.5) / cell, gx = (x + 0.5) / cell;
          const int y0 = (int)gy, x0 = (int)gx;
          const double fy = gy - y0, fx = gx - x0;
          const float* g = grid.data() + (size_t)c * gh * gw;
          const double v = (1 - fy) * ((1 - fx) * g[y0 * gw + x0] + fx * g[y0 * gw + x0 + 1]) +
                           fy * ((1 - fx) * g[(y0 + 1) * gw + x0] + fx * g[(y0 + 1) * gw + x0 + 1]);
          scene[((size_t)c * H + y) * Wd + x] = (float)v;
        }
    // frame offset into the scene: target in the middle, sources to either side
    auto frame = [&](float* out, int offset) {
      for (int c = 0; c < 3; ++c)
        for (int y = 0; y < H; ++y)
          for (int x = 0; x < W; ++x) {
            const double v = scene[((size_t)c * H + y) * Wd + x + offset] + rng.uniform(-8.0, 8.0);
            out[((size_t)c * H + y) * W + x] = (float)std::clamp(v, 0.0, 255.0);
          }
    };
    const int mid = shift_max * ((S + 1) / 2);
    frame(tgt.data() + (size_t)b * 3 * H * W, mid);
    for (int s = 0; s < S; ++s) {
      // sources alternate before/after the target: -1, +1, -2, +2 frames
      const int k = s / 2 + 1, sign = s % 2 == 0 ? -1 : 1;
      frame(srcs.data() + ((size_t)b * S + s) * 3 * H * W, mid + sign * k * shift_max);
    }
  }
  SfMBatch out;
  out.tgt = Tensor::from_vector(tgt, Shape{B, 3, H, W}, dev);
  out.srcs = Tensor::from_vector(srcs, Shape{B, S, 3, H, W}, dev);
  out.K = kitti_like_intrinsics(B, H, W, dev);
  out.range = SfMBatch::Range::Raw255;
  return out;
}

}  // namespace sfm
