#pragma once
// The run folder of `sfm train` (docs/training.md, "The run folder"; the files it holds are listed
// in train/trainer.h): its rules, its lock, the checkpoints train() writes and the state a resume
// reads back.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/file_io.h"
#include "models/sfmlearner.h"

namespace sfm {

// The run-folder rules of `sfm train --out RUN` (docs/training.md, "The run folder"): without
// resume or overwrite, a folder that already holds a run (config.json, metrics.jsonl or
// checkpoints/) is refused; with resume, RUN/config.json must exist. Reads only; throws
// sfm::Error naming the folder. (train() clears an overwritten run once everything is checked.)
void check_run_folder(const std::string& run_dir, bool resume, bool overwrite);
// Removes a run's files (checkpoints/, metrics.jsonl, config.json, failure.json, loss_curve.png,
// event files); other files stay.
void clear_run_folder(const std::string& run_dir);
// The keys that define the trained problem (a resume that changes one needs allow_change), and
// those of `now` that differ from the run's saved config.json: "key: old -> new" each.
const std::vector<std::string>& problem_defining_keys();
std::vector<std::string> changed_problem_keys(const nlohmann::json& saved, const nlohmann::json& now);
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

// Writes the checkpoint (weights, optimiser state, state.json) beside `dir` (dir.tmp) and swaps it
// in by rename. On any failure (a full disk) dir.tmp is removed and `dir` is left as it was; the
// error says so.
void save_checkpoint(const std::string& dir, SfMLearner& n, const nlohmann::json& state);
// Removes the temporaries a killed process leaves in a run folder (a checkpoint folder or file
// being written), saying so on stderr, so a full disk gets its space back.
void remove_stale_temporaries(const std::string& run_dir);
// A checkpoint folder stands for its `name` file (as infer and eval accept); a file stands for itself.
std::string weights_file(const std::string& p, const char* name);

// The run folder while train() (train/trainer.cpp) holds it: locked from before the first write
// to the end. If the start fails (before `committed`), a folder this process created is removed
// again, so the corrected command is not refused as "already holds a run".
struct RunFolderSession {
  std::string dir;
  bool created = false, committed = false;
  FolderLock lock;
  explicit RunFolderSession(const std::string& run_dir);  // creates the folder if needed, locks it
  void undo();  // before commit: releases the lock and removes a folder this session created (when empty)
  ~RunFolderSession() { undo(); }
};

}  // namespace sfm
