// The loader-fed half of `sfm bench train` (lab/train/loader_bench.h).
#include "lab/train/loader_bench.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "cpu/parallel.h"
#include "engine/stopwatch.h"
#include "train/data/loader.h"
#include "train/synth/synth_world.h"

namespace sfm {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// A small synthetic data set in the formatted layout: 3 scenes (2 listed in train.txt), enough
// frames for several batches per epoch. Returns a description for the report.
json make_synthetic_set(const std::string& dir, const TrainBenchSettings& s) {
  synth::SynthOptions o;
  o.scenes = 3;
  o.frames = std::max(10, s.batch + s.seq_length - 1);
  o.height = s.height;
  o.width = s.width;
  o.seed = 1;
  o.supersample = 1;
  o.val_fraction = 0.2;
  o.progress = false;
  o.threads = cpu_threads();
  auto t0 = Clock::now();
  synth::write_synthetic_dataset(dir, o);
  return json{{"source", "synthetic (train/synth/synth_world.h), generated into a temporary folder"},
              {"scenes", o.scenes},
              {"frames_per_scene", o.frames},
              {"format", "jpg (quality 95)"},
              {"generation_s", ms_since(t0) / 1e3}};
}

// The loader's options for the benchmark (augmentation on, as in training).
LoaderOptions bench_loader_options(const TrainBenchSettings& s, int workers) {
  LoaderOptions lo;
  lo.batch = s.batch;
  lo.height = s.height;
  lo.width = s.width;
  lo.seq_length = s.seq_length;
  lo.workers = workers;
  lo.quiet = true;
  return lo;
}

// The loader's own rate, no training: `count` batches taken back to back (after one untimed
// batch) from a fresh loader with `workers` threads (0: each batch built inside next(), on the
// calling thread: the CPU cost of one batch). With in_memory the frames are decoded once up
// front, so a batch costs only the augmentation (scale, crop, flip) and the float conversion.
// Returns ms per batch.
double loader_alone_ms(const std::string& root, const TrainBenchSettings& s, int workers, int count, bool in_memory) {
  LoaderOptions lo = bench_loader_options(s, workers);
  lo.in_memory = in_memory;  // frames decoded once at construction (then resize + augment only)
  DataLoader loader(root, lo);
  loader.next();
  auto t0 = Clock::now();
  for (int i = 0; i < count; ++i) loader.next();
  return ms_since(t0) / count;
}

// The training loader as the loader-fed run uses it (augmentation on, s.workers threads).
std::function<SfMBatch()> open_loader(const std::string& root, const TrainBenchSettings& s) {
  std::shared_ptr<DataLoader> loader = std::make_shared<DataLoader>(root, bench_loader_options(s, s.workers));
  return [loader] { return loader->next(); };  // the loader's batches are SfMBatch
}

}  // namespace

const TrainBenchLoader& train_bench_loader() {
  static const TrainBenchLoader functions{make_synthetic_set, loader_alone_ms, open_loader};
  return functions;
}

}  // namespace sfm
