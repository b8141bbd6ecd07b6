#pragma once
// The data loader's options (train/data/loader.h), on their own so that the configuration
// (train/config.h) and its OpenCV-free users (the config fuzzer) need no image library.
#include <cstdint>
#include <string>

namespace sfm {

struct LoaderOptions {
  int batch = 4, height = 128, width = 416, seq_length = 3;
  bool augment = true, flip = true, color_jitter = false, shuffle = true, in_memory = false, skip_bad = false;
  int workers = 2, prefetch = 4;  // workers = 0: batches are built inside next()
  uint64_t seed = 0;
  std::string split = "train";
  double max_scale = 1.15;        // augmentation scale range [1, max_scale]
  int tf_seq_length = 0;          // TensorFlow layout: frames per stored image (0: seq_length)
  bool quiet = false;             // no warnings on stderr for skipped items
  // Data parallel: `batch` is the global batch of all shard_count ranks, and this loader's
  // next() returns its share, entries [r*batch/n, (r+1)*batch/n) of each global batch
  // (r = shard_rank, n = shard_count; batch must be a multiple of n). Order, augmentation
  // and state() are those of the global batch, so every rank's loader holds the same state
  // and a checkpoint resumes with any split of the same global batch.
  int shard_rank = 0, shard_count = 1;
};

}  // namespace sfm
