#include "train/run_folder.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "boundary/error.h"
#include "engine/safetensors.h"

namespace sfm {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Writes the checkpoint beside `dir` (dir.tmp) and swaps it in by rename. On any failure (a full
// disk) dir.tmp is removed and `dir` is left as it was; the error says so.
void save_checkpoint(const std::string& dir, SfMLearner& n, const json& state) {
  std::string tmp = dir + ".tmp", old = dir + ".old";
  std::error_code ec;
  try {
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    n.dispnet().save(tmp + "/dispnet.safetensors");
    n.posenet().save(tmp + "/posenet.safetensors");
    save_safetensors(tmp + "/optimizer.safetensors", n.optimizer().state());
    write_file_atomic(tmp + "/state.json", state.dump(2) + "\n");
  } catch (const std::exception& e) {
    fs::remove_all(tmp, ec);
    fail("cannot save the checkpoint ", dir, ": ", e.what(), "; removed ", tmp, ", ",
         fs::exists(dir) ? dir + " is unchanged" : std::string("no earlier checkpoint there"));
  }
  fs::remove_all(old, ec);
  if (fs::exists(dir)) fs::rename(dir, old);
  fs::rename(tmp, dir);
  fs::remove_all(old, ec);
}

// Temporaries a killed process leaves in a run folder (a checkpoint folder or file being written):
// removed when the next process takes the folder, so a full disk gets its space back.
void remove_stale_temporaries(const std::string& run_dir) {
  std::error_code ec;
  for (const char* name : {"checkpoints/latest.tmp", "checkpoints/best.tmp", "config.json.tmp", "metrics.jsonl.tmp",
                           "failure.json.tmp", "loss_curve.png.tmp"}) {
    fs::path p = fs::path(run_dir) / name;
    if (!fs::exists(p, ec)) continue;
    std::fprintf(stderr, "sfm train: removing %s (left by an earlier process that stopped while writing it)\n",
                 p.string().c_str());
    fs::remove_all(p, ec);
  }
}

// A checkpoint folder stands for its `name` file (as infer and eval accept).
std::string weights_file(const std::string& p, const char* name) {
  if (fs::is_directory(p)) {
    std::string f = (fs::path(p) / name).string();
    SFM_CHECK(fs::exists(f), "sfm train: ", p, " is a folder without ", name, " (expected a checkpoint folder or a .safetensors file)");
    return f;
  }
  return p;
}

std::string resume_checkpoint_dir(const std::string& run_dir) {
  std::string latest = run_dir + "/checkpoints/latest", old = latest + ".old";
  if (fs::exists(latest + "/state.json")) return latest;
  // save_checkpoint renames latest -> latest.old, then latest.tmp -> latest: a crash between the two
  // leaves only latest.old (complete) and latest.tmp (complete too, but not known to be).
  if (!fs::exists(latest) && fs::exists(old + "/state.json")) return old;
  fail("sfm train --resume: no checkpoint at ", latest, fs::exists(latest) ? " (the folder has no state.json)" : "",
       " (nothing to resume; start a new run without --resume)");
}

ResumeState read_resume_state(const std::string& path) {
  std::ifstream f(path);
  SFM_CHECK(f.good(), path, ": cannot open");
  json st;
  try {
    st = json::parse(f);
  } catch (const std::exception& e) {
    fail(path, ": not valid JSON (a damaged checkpoint?): ", e.what());
  }
  SFM_CHECK(st.is_object(), path, ": expected a JSON object");
  ResumeState r;
  SFM_CHECK(st.contains("step"), path, ": key 'step' is missing");
  SFM_CHECK(st["step"].is_number_integer() && st["step"].get<int64_t>() >= 0, path,
            ": key 'step' must be an integer >= 0, got ", st["step"].dump());
  r.step = st["step"].get<int64_t>();
  SFM_CHECK(st.contains("loader"), path, ": key 'loader' is missing");
  SFM_CHECK(st["loader"].is_string(), path, ": key 'loader' must be a string, got ", st["loader"].dump());
  r.loader = st["loader"].get<std::string>();
  if (st.contains("best") && !st["best"].is_null()) {
    SFM_CHECK(st["best"].is_number(), path, ": key 'best' must be a number or null, got ", st["best"].dump());
    r.best = st["best"].get<double>();
    r.has_best = true;
  }
  return r;
}

void truncate_metrics_after(const std::string& path, int64_t step) {
  std::ifstream f(path);
  if (!f.good()) return;
  std::string out, line;
  bool dropped = false;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    bool keep = true;
    try {
      json j = json::parse(line);
      if (j.is_object() && j.contains("step") && j["step"].is_number() && j["step"].get<double>() > (double)step)
        keep = false;
    } catch (const std::exception&) {
      keep = false;  // a line cut short by a kill
    }
    if (keep)
      out += line + "\n";
    else
      dropped = true;
  }
  f.close();
  if (dropped) write_file_atomic(path, out);
}

void check_run_folder(const std::string& run_dir, bool resume, bool overwrite) {
  bool used = fs::exists(run_dir + "/config.json") || fs::exists(run_dir + "/metrics.jsonl") ||
              fs::exists(run_dir + "/checkpoints");
  SFM_CHECK(!(resume && overwrite), "sfm train: --resume and --overwrite exclude each other");
  if (resume) {
    SFM_CHECK(fs::exists(run_dir + "/config.json"), "sfm train --resume: ", run_dir,
              "/config.json not found (not a run folder?)");
    return;
  }
  SFM_CHECK(!fs::exists(run_dir) || fs::is_directory(run_dir), "sfm train: --out ", run_dir, " exists and is not a folder");
  SFM_CHECK(!used || overwrite, "sfm train: ", run_dir,
            " already holds a run (config.json, metrics.jsonl or checkpoints/); use --resume to continue it or "
            "--overwrite to replace it");
}

void clear_run_folder(const std::string& run_dir) {
  for (const char* p : {"checkpoints", "metrics.jsonl", "config.json", "failure.json", "loss_curve.png"})
    fs::remove_all(fs::path(run_dir) / p);
  for (const auto& e : fs::directory_iterator(run_dir))
    if (e.path().filename().string().find("tfevents") != std::string::npos) fs::remove(e.path());
}

const std::vector<std::string>& problem_defining_keys() {
  static const std::vector<std::string> k = {
      "preset",  "photo_weight",     "smooth_weight", "smooth_decay",    "smooth_on_depth",       "keep_out_of_view",
      "mask_weight", "mask_mode",    "padding",       "ssim",            "min_reprojection",      "automask",
      "full_res_scales", "edge_aware_smoothness", "rotation", "height", "width",            "seq_length"};
  return k;
}

std::vector<std::string> changed_problem_keys(const json& saved, const json& now) {
  std::vector<std::string> out;
  for (const std::string& k : problem_defining_keys()) {
    // A key the saved file lacks (written before the key existed) is not compared.
    if (!saved.contains(k) || !now.contains(k) || saved[k] == now[k]) continue;
    out.push_back(k + ": " + saved[k].dump() + " -> " + now[k].dump());
  }
  return out;
}

RunFolderSession::RunFolderSession(const std::string& run_dir) : dir(run_dir) {
  SFM_CHECK(!fs::exists(dir) || fs::is_directory(dir), "sfm train: --out ", dir, " exists and is not a folder");
  if (!fs::exists(dir)) {
    fs::create_directories(dir);
    created = true;
  }
  try {
    lock = FolderLock(dir, "sfm train", "sfm train --out " + dir);
  } catch (...) {
    undo();
    throw;
  }
}

void RunFolderSession::undo() {
  if (committed || !created) return;
  lock.release_and_remove();
  std::error_code ec;
  fs::remove(dir, ec);  // only when empty: never what someone else put there
}

}  // namespace sfm
