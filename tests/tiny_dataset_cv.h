#pragma once
// The small synthetic data set the training tests share: 3 scenes x 8 frames at 32x104, no
// moving objects, in the formatted layout (train/synth/synth_writer.h), written to dir.
#include <cstdint>
#include <string>

#include "train/synth/synth_world.h"  // SynthOptions, write_synthetic_dataset

namespace sfm::test {

inline void write_tiny_dataset(const std::string& dir, uint64_t seed) {
  synth::SynthOptions so;
  so.scenes = 3;
  so.frames = 8;
  so.height = 32;
  so.width = 104;
  so.seed = seed;
  so.progress = false;
  so.moving_objects = 0;
  synth::write_synthetic_dataset(dir, so);
}

}  // namespace sfm::test
