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
//   failure.json             written when a run stops on a non-finite loss or a bad batch
#include <cstdint>
#include <optional>
#include <string>

#include "train/config.h"

namespace sfm {

struct TrainResult {
  int64_t start_step = 0, end_step = 0;  // steps [start, end) were run
  bool interrupted = false;              // SIGINT/SIGTERM: 'latest' saved
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
};

// Trains into run_dir. With resume, continues from run_dir/checkpoints/latest (weights,
// optimiser, step, data order, RNG): on the CPU the result is bit-identical to an
// uninterrupted run. cfg must already hold the run folder's config when resuming.
TrainResult train(const TrainConfig& cfg, const std::string& run_dir, bool resume, const TrainHooks& hooks = {});

// The run-folder rules of `sfm train --out RUN` (docs/training.md, "The run folder"): without
// resume or overwrite, a folder that already holds a run (config.json, metrics.jsonl or
// checkpoints/) is refused; with overwrite, that run's files are removed first; with resume,
// RUN/config.json must exist. Throws sfm::Error naming the folder.
void check_run_folder(const std::string& run_dir, bool resume, bool overwrite);
// The checkpoint folder --resume loads: RUN/checkpoints/latest, or latest.old when a crash
// between the two renames of a checkpoint swap left no `latest`. Throws when there is none.
std::string resume_checkpoint_dir(const std::string& run_dir);
struct ResumeState {
  int64_t step = 0;
  std::string loader;
  bool has_best = false;
  double best = 0;
};
// Reads a checkpoint's state.json; every error names the file and the key.
ResumeState read_resume_state(const std::string& state_json_path);
// Rewrites metrics.jsonl without the rows of steps > `step` (and lines cut short by a kill).
void truncate_metrics_after(const std::string& metrics_path, int64_t step);

// Installs SIGINT/SIGTERM handlers (and SIGUSR1 in a job of several ranks) that ask the
// running training loop to save and stop.
void install_stop_signal_handlers();
// Asks the running loop to stop (what the signal handlers call).
void request_training_stop();

}  // namespace sfm
