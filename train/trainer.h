#pragma once
// `sfm train`: the training loop, validation, checkpoints, logging and resume.
//
// Run folder:
//   config.json              the resolved configuration
//   metrics.jsonl            one object per logged step (and per validation, "split": "val")
//   events.out.tfevents.*    TensorBoard scalars, and images at validation
//   loss_curve.png           refreshed every plot_every steps
//   checkpoints/latest/      dispnet.safetensors, posenet.safetensors, optimizer.safetensors,
//   checkpoints/best/        state.json (step, loader and RNG state, best score); each folder
//                            is written beside and swapped in by rename
//   failure.json             written when a run stops on a non-finite loss, a bad batch or
//                            non-finite weights
//   .sfm.lock                the advisory lock of the process that uses the folder (pid, host,
//                            start time); the kernel releases it when that process ends
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/config.h"
#include "train/run_folder.h"  // the run folder's rules, checkpoints and resume state

namespace sfm {

struct TrainResult {
  int64_t start_step = 0, end_step = 0;  // steps [start, end) were run
  bool interrupted = false;              // SIGINT/SIGTERM/SIGHUP: 'latest' saved
  bool out_of_time = false;              // max_minutes reached: 'latest' saved
  bool failed = false;                   // non-finite loss or bad batch: see failure.json
  std::string failure;
  double last_loss = 0;
  double images_per_second = 0;
  double best_score = 0;  // abs rel (with depth ground truth) or validation loss
};

// Test hooks: faults a test plants in a run. Not configuration (no key, no file, no flag).
struct TrainHooks {
  std::optional<int64_t> inject_nan_at_step;  // a NaN in the target image of this step's batch
  // An infinite DispNet weight right after this step's update (a diverging run).
  std::optional<int64_t> inject_inf_weight_after_step;
};

// How train() treats the run folder (docs/training.md, "The run folder").
struct RunFolderMode {
  bool resume = false;     // continue from checkpoints/latest
  bool overwrite = false;  // replace the run in the folder (after every check has passed)
  // With resume: accept a configuration that changes the trained problem (preset, loss keys,
  // rotation, input size, seq_length, mask_mode); the change is recorded in config.json
  // ("_changes"). Without it such a resume is refused naming the keys.
  bool allow_change = false;
};

// Trains into run_dir. With resume, continues from run_dir/checkpoints/latest (weights,
// optimiser, step, data order, RNG): on the CPU the result is bit-identical to an
// uninterrupted run. cfg must already hold the run folder's config when resuming.
//
// The run folder is touched only after everything has been checked (configuration, data set,
// initial weights, the checkpoint to resume): the folder is locked (FolderLock: a second process
// is refused naming the holder), then an --overwrite clears the old run, then config.json is
// written. A failure before that leaves the folder as it was (a folder this call created is
// removed again). Checkpoints are never replaced by non-finite weights or optimiser state: such a
// step stops the run like a non-finite loss. A failed write (metrics, checkpoint, failure.json)
// stops the run with sfm::Error saying what was kept; no temporary file is left behind.
TrainResult train(const TrainConfig& cfg, const std::string& run_dir, const RunFolderMode& mode,
                  const TrainHooks& hooks = {});
TrainResult train(const TrainConfig& cfg, const std::string& run_dir, bool resume, const TrainHooks& hooks = {});

// Installs SIGINT/SIGTERM/SIGHUP handlers (and SIGUSR1 in a job of several ranks) that ask the
// running training loop to save and stop (a closed terminal or ssh session saves like Ctrl-C).
void install_stop_signal_handlers();
// Asks the running loop to stop (what the signal handlers call).
void request_training_stop();

}  // namespace sfm
