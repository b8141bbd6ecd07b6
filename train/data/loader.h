#pragma once
// The training data loader: snippets of a data set (train/data/dataset.h, both layouts) decoded,
// resized and augmented on worker threads into batches, with a bounded prefetch queue so a
// GPU never waits on JPEG decoding.
//
// Order and determinism. Epoch e visits the snippets in a permutation that is a pure
// function of (seed, e) (identity when shuffle is off); batch p of epoch e holds the
// permutation's entries [p*batch, (p+1)*batch) (an incomplete last batch is dropped; a
// data set smaller than one batch gives one batch of all its snippets per epoch). The
// augmentation of snippet i in epoch e is a pure function of (seed, e, i). Hence the batches
// do not depend on the number of workers, the prefetch depth, in_memory, or on resuming
// from state(): a resumed loader returns exactly what the uninterrupted one would have.
//
// Errors. Bad input found while indexing (see dataset.h) throws from the constructor; a
// frame that fails to decode throws from next() (for the batch that needs it). With
// skip_bad both are counted instead (bad_count()): a snippet that fails is replaced by the
// next snippet of the epoch's permutation that loads.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "models/sfmlearner.h"
#include "train/data/dataset.h"
#include "train/data/loader_options.h"

namespace sfm {

// The loader's batches are the one batch type, SfMBatch (models/sfmlearner.h): images in [-1,1]
// (Range::Normalized), K for (H,W) after augmentation, the ground truth when the data set has
// it, on the host; the trainer moves them with SfMBatch::to.

class DataLoader {
 public:
  DataLoader(const std::string& root, LoaderOptions opt);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  size_t size() const;               // snippets
  int64_t batches_per_epoch() const;
  SfMBatch next();                   // wraps to a new epoch (new permutation) at its end
  int64_t epoch() const;             // of the batch next() returns next
  int64_t position() const;          // batch index within that epoch
  // Resumable position: JSON {"epoch","position","seed","snippets","batch"}. set_state
  // rejects a state from a loader with another seed, data set size or batch size.
  std::string state() const;
  void set_state(const std::string& s);
  int bad_count() const;             // skipped scenes/frames/snippets (skip_bad)
  // Fraction of the wall time between the first call of next() and the end of the latest
  // one that next() spent waiting for a batch.
  double wait_fraction() const;

  // Random access for validation and evaluation: the given snippets (dataset order), in
  // that order; augmented as in epoch `epoch` when augment is true. Decoded on up to
  // `workers` threads. With skip_bad, snippets that fail are left out (and counted).
  SfMBatch get_snippets(const std::vector<size_t>& idx, bool augment = false, int64_t epoch = 0) const;

  const Dataset& dataset() const;
  const LoaderOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sfm
