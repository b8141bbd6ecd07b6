#include "train/trainer.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "engine/adam.h"
#include "engine/autograd.h"
#include "engine/collective.h"
#include "boundary/device_runtime.h"
#include "engine/file_io.h"
#include "engine/ops.h"
#include "cpu/parallel.h"
#include "engine/safetensors.h"
#include "engine/stop_signals.h"
#include "eval/colormap.h"
#include "eval/depth_metrics.h"
#include "eval/pose_metrics.h"
#include "models/dispnet.h"
#include "models/posenet.h"
#include "models/sfm_loss.h"
#include "models/sfmlearner.h"
#include "models/sfmlearner_parallel.h"
#include "train/data/image_util.h"
#include "train/data/loader.h"
#include "train/log/plot.h"
#include "train/log/tensorboard.h"

namespace sfm {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

static std::atomic<bool> g_stop{false};
static std::atomic<int> g_stop_signal{0};
void request_training_stop() { g_stop = true; }
static void on_signal(int sig) {
  g_stop_signal = sig;
  g_stop = true;
}
void install_stop_signal_handlers() {
  install_stop_handler(on_signal);  // SIGINT, SIGTERM, SIGHUP
  // Under mpirun: Open MPI forwards SIGUSR1 sent to mpirun to every rank at once, while its
  // SIGINT handling sends SIGTERM and then SIGKILL (docs/training.md).
  if (world().size() > 1) std::signal(SIGUSR1, on_signal);
}

namespace {

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

// The first parameter or optimiser-state tensor with a NaN or an infinity ("" when none): such a
// state never replaces a checkpoint.
std::string first_non_finite(SfMLearner& n) {
  for (const auto& [prefix, m] : {std::pair<const char*, const Module*>{"dispnet.", &n.dispnet()},
                                  std::pair<const char*, const Module*>{"posenet.", &n.posenet()}})
    for (size_t i = 0; i < m->parameters().size(); ++i)
      if (!all_finite(m->parameters()[i])) return std::string(prefix) + m->param_names()[i];
  for (const auto& [name, t] : n.optimizer().state())
    if (t.defined() && !all_finite(t)) return "optimizer state " + name;
  return "";
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

struct ValResult {
  double loss = 0, photometric = 0;
  bool has_depth = false, has_pose = false;
  eval::DepthMetrics depth;
  int64_t depth_images = 0, depth_skipped = 0;  // frames scored / without valid ground truth
  double ate_mean = 0, ate_std = 0;
  int64_t batches = 0;
};

// Data parallel: each rank scores its share of every validation batch; the sums are reduced
// over the ranks (comm), so every rank ends with the metrics of the whole batches.
ValResult validate(const TrainOptions& o, SfMLearner& n, DataLoader& val, const LossConfig& lcfg, Device dev,
                   TensorBoardWriter* tb, int64_t step, Collective& comm) {
  NoGradGuard ng;
  ValResult r;
  int64_t batches = o.val_batches;
  int64_t available = (int64_t)(val.size() / std::max<int64_t>(1, o.batch * comm.size()));
  if (batches <= 0 || batches > available) batches = std::max<int64_t>(1, available);
  eval::DepthMetricsAccumulator acc;
  std::vector<double> ates;
  eval::DepthEvalOptions dopt;  // median scaling, (1e-3, 80) m
  for (int64_t i = 0; i < batches; ++i) {
    Batch b = val.next();
    Tensor tgt = b.tgt.to(dev), srcs = b.srcs.to(dev), K = b.K.to(dev);
    std::vector<Tensor> src_list = split_sources(srcs);
    std::vector<Tensor> disps = n.dispnet().forward(tgt);
    PoseExpOutput pe = n.posenet().forward(tgt, src_list);
    LossTerms lt = sfm_loss(tgt, srcs, K, disps, pe, lcfg);
    r.loss += lt.total_value();
    r.photometric += lt.photometric.item();
    if (b.depth_gt.defined()) {
      acc.add_batch(b.depth_gt, disps[0], dopt);
      r.has_depth = true;
    }
    if (b.poses_gt.defined()) {
      std::vector<float> pred = pe.pose.to_vector(), gt = b.poses_gt.to_vector();
      const int64_t B = b.poses_gt.dim(0), F = b.poses_gt.dim(1);
      const int64_t S = F - 1;
      for (int64_t k = 0; k < B; ++k) {
        std::vector<double> p6(pred.begin() + k * S * 6, pred.begin() + (k + 1) * S * 6);
        std::vector<double> g12(gt.begin() + k * F * 12, gt.begin() + (k + 1) * F * 12);
        ates.push_back(eval::snippet_ate_from_network(p6, g12, (int)F).ate);
      }
      r.has_pose = true;
    }
    if (tb && i == 0) {
      tb->add_image("val/input", normalized_rgb_to_bgr(tgt), step);
      tb->add_image("val/disparity", eval::colorize_disparity(disps[0].batch_slice(0, 1)), step);
      Tensor warped;
      PhotometricOptions po;
      po.keep_out_of_view = lcfg.keep_out_of_view;
      photometric_loss(tgt, srcs, reciprocal(disps[0]), pe.pose, K, Tensor(), po, &warped);
      for (size_t s = 0; s < src_list.size(); ++s) {
        Tensor w = slice_channels(warped, (int64_t)s, (int64_t)s + 1)
                       .view(Shape{warped.dim(0), warped.dim(2), warped.dim(3), warped.dim(4)});
        tb->add_image("val/warped_source" + std::to_string(s), normalized_rgb_to_bgr(w), step);
        if (!pe.masks.empty())
          tb->add_image("val/mask" + std::to_string(s),
                        unit_map_to_gray(pe.masks[0], 0, (int64_t)s), step);
      }
    }
  }
  r.batches = batches;
  const int ranks = comm.size();
  double ate_sum = 0;
  for (double a : ates) ate_sum += a;
  if (ranks > 1) {  // sums over the ranks; each rank's loss is the mean over its share
    std::vector<double> v{r.loss, r.photometric, (double)r.has_depth, (double)r.has_pose, (double)acc.images,
                          (double)acc.skipped, (double)acc.valid_pixels, acc.sum.abs_rel, acc.sum.sq_rel, acc.sum.rmse,
                          acc.sum.rmse_log, acc.sum.a1, acc.sum.a2, acc.sum.a3, acc.sum.scale, (double)ates.size(), ate_sum};
    comm.all_reduce_sum(v.data(), v.size());
    r.loss = v[0] / ranks;
    r.photometric = v[1] / ranks;
    r.has_depth = v[2] > 0;
    r.has_pose = v[3] > 0;
    acc.images = (int64_t)v[4];
    acc.skipped = (int64_t)v[5];
    acc.valid_pixels = (int64_t)v[6];
    acc.sum.abs_rel = v[7];
    acc.sum.sq_rel = v[8];
    acc.sum.rmse = v[9];
    acc.sum.rmse_log = v[10];
    acc.sum.a1 = v[11];
    acc.sum.a2 = v[12];
    acc.sum.a3 = v[13];
    acc.sum.scale = v[14];
    ate_sum = v[16];
    const double count = v[15];
    if (count > 0) {
      const double m = ate_sum / count;
      double dev2 = 0;
      for (double a : ates) dev2 += (a - m) * (a - m);
      comm.all_reduce_sum(&dev2, 1);
      r.ate_mean = m;
      r.ate_std = std::sqrt(dev2 / count);
    }
  }
  r.loss /= (double)batches;
  r.photometric /= (double)batches;
  // Frames without any valid ground-truth pixel are skipped (as sfm eval depth does); when no
  // frame has one there are no depth metrics (not zeros), and `best` follows the loss.
  r.depth_skipped = acc.skipped;
  r.depth_images = acc.images;
  r.has_depth = acc.images > 0;
  r.depth = acc.mean();
  if (ranks == 1 && !ates.empty()) {
    double m = ate_sum / (double)ates.size(), v = 0;
    for (double a : ates) v += (a - m) * (a - m);
    r.ate_mean = m;
    r.ate_std = std::sqrt(v / (double)ates.size());
  }
  return r;
}

std::string fmt_eta(double s) {
  char buf[32];
  int h = (int)(s / 3600), m = (int)(std::fmod(s, 3600) / 60), sec = (int)std::fmod(s, 60);
  if (h > 0)
    std::snprintf(buf, sizeof buf, "%dh%02dm", h, m);
  else
    std::snprintf(buf, sizeof buf, "%dm%02ds", m, sec);
  return buf;
}

}  // namespace

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

namespace {
// The run folder while train() holds it: locked from before the first write to the end. If the
// start fails (before commit()), a folder this process created is removed again, so the
// corrected command is not refused as "already holds a run".
struct RunFolderSession {
  std::string dir;
  bool created = false, committed = false;
  FolderLock lock;
  explicit RunFolderSession(const std::string& run_dir) : dir(run_dir) {
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
  void undo() {
    if (committed || !created) return;
    lock.release_and_remove();
    std::error_code ec;
    fs::remove(dir, ec);  // only when empty: never what someone else put there
  }
  ~RunFolderSession() { undo(); }
};
}  // namespace

TrainResult train(const TrainConfig& cfg, const std::string& run_dir, bool resume, const TrainHooks& hooks) {
  RunFolderMode mode;
  mode.resume = resume;
  return train(cfg, run_dir, mode, hooks);
}

TrainResult train(const TrainConfig& cfg, const std::string& run_dir, const RunFolderMode& mode, const TrainHooks& hooks) {
  g_stop = false;
  g_stop_signal = 0;
  TrainResult res;
  const bool resume = mode.resume;
  // Data parallel (docs/training.md): `ranks` processes, each with `batch` snippets of every
  // global batch of batch*ranks; rank 0 (`lead`) alone writes the run folder and prints.
  Collective& comm = world();
  const int ranks = comm.size(), rank = comm.rank();
  const bool lead = rank == 0;
  const TrainOptions o = cfg.options(rank, ranks);
  const std::string& data = o.data;
  SFM_CHECK(!data.empty(), "sfm train: no data set given (--data DIR)");
  if (o.threads > 0) set_cpu_threads(o.threads, "sfm train: --threads");
  // Everything is checked before the run folder is touched; rank 0 holds its lock from here on.
  std::unique_ptr<RunFolderSession> session;
  if (lead) {
    check_run_folder(run_dir, resume, mode.overwrite);
    session = std::make_unique<RunFolderSession>(run_dir);
  }
  json config_changes = json::array();  // earlier accepted changes (config.json "_changes") and this one's
  if (lead && resume) {
    json saved;
    const std::string saved_path = run_dir + "/config.json";
    try {
      std::ifstream f(saved_path);
      saved = json::parse(f);
    } catch (const std::exception& e) {
      fail(saved_path, ": not valid JSON: ", e.what());
    }
    if (saved.contains("_changes") && saved["_changes"].is_array()) config_changes = saved["_changes"];
    std::vector<std::string> changed = changed_problem_keys(saved, cfg.resolved());
    if (!changed.empty()) {
      std::string list;
      for (const auto& c : changed) list += (list.empty() ? "" : "; ") + c;
      SFM_CHECK(mode.allow_change, "sfm train --resume: the options change the trained problem of ", run_dir, " (",
                list, "); resume with the run's own settings, start a new run, or pass --allow-change to "
                "continue with the change (it is recorded in config.json)");
      std::fprintf(stderr, "sfm train --resume: continuing with a changed problem (--allow-change): %s\n", list.c_str());
      config_changes.push_back(json{{"resumed_at_step", nullptr}, {"changed", changed}});
    }
  }
  const Device dev = o.device;
  if (dev == Device::CUDA) {
    use_local_rank_cuda_device();
    SFM_CHECK(cuda_available(), "sfm train: --device cuda but no CUDA device is available");
    set_conv_impl(o.conv_impl);
  }

  SfMLearner n(o.learner);
  const LossConfig& lcfg = n.loss_config();
  const AdamOptions& ao = n.options().adam;
  if (!o.init_disp.empty()) n.dispnet().load(weights_file(o.init_disp, "dispnet.safetensors"));
  if (!o.init_pose.empty()) n.posenet().load(weights_file(o.init_pose, "posenet.safetensors"));

  const int64_t global_batch = o.batch * ranks;
  DataLoader loader(data, o.train_loader);
  SFM_CHECK((int64_t)loader.size() >= o.batch, "sfm train: batch ", o.batch, " is larger than the ",
            loader.size(), " snippets of ", data, "/train.txt (use --batch ", loader.size(), " or less)");
  std::unique_ptr<DataLoader> val;
  std::string val_start;  // every validation sees the same batches
  if (o.val_every > 0) {
    val = std::make_unique<DataLoader>(data, o.val_loader);
    val_start = val->state();
  }

  int64_t step = 0;
  double best = std::numeric_limits<double>::infinity();
  std::string latest = run_dir + "/checkpoints/latest", best_dir = run_dir + "/checkpoints/best";
  bool have_checkpoint = false;  // a `latest` exists that a failure leaves in place
  int64_t checkpoint_step = -1;  // its step
  std::string resumed_from;
  if (resume) {
    std::string from = resume_checkpoint_dir(run_dir);
    ResumeState st = read_resume_state(from + "/state.json");
    SFM_CHECK(o.steps >= st.step, "sfm train --resume: --steps ", o.steps, " is below the step of the checkpoint ", from,
              " (", st.step, "); nothing would be trained and the checkpoint would be rewritten: give --steps ",
              st.step, " or more");
    n.dispnet().load(from + "/dispnet.safetensors");
    n.posenet().load(from + "/posenet.safetensors");
    n.optimizer().load_state(load_safetensors(from + "/optimizer.safetensors").tensors, from + "/optimizer.safetensors");
    step = st.step;
    loader.set_state(st.loader);
    if (st.has_best) best = st.best;
    resumed_from = from;
    have_checkpoint = true;
    checkpoint_step = step;
  }
  res.start_step = step;

  // Every check has passed: now the run folder changes.
  if (lead) {
    if (mode.overwrite) clear_run_folder(run_dir);
    remove_stale_temporaries(run_dir);
    fs::create_directories(run_dir + "/checkpoints");
    json resolved = cfg.resolved();
    if (!config_changes.empty()) {
      if (config_changes.back()["resumed_at_step"].is_null()) config_changes.back()["resumed_at_step"] = step;
      resolved["_changes"] = config_changes;
    }
    write_file_atomic(run_dir + "/config.json", resolved.dump(2) + "\n");
    session->committed = true;
  }
  if (resume) {
    if (lead && resumed_from != latest)
      std::fprintf(stderr, "sfm train --resume: %s is missing (interrupted checkpoint swap); resuming from %s\n",
                   latest.c_str(), resumed_from.c_str());
    comm.barrier();  // every rank has read the checkpoint before rank 0 moves it
    if (lead && resumed_from != latest) fs::rename(resumed_from, latest);  // put it back where a later --resume looks
  }
  auto state_json = [&]() {
    return json{{"step", step}, {"loader", loader.state()}, {"best", std::isfinite(best) ? json(best) : json()},
                {"config", cfg.resolved()}};
  };

  std::unique_ptr<TensorBoardWriter> tb;
  if (o.tensorboard && lead) {
    tb = std::make_unique<TensorBoardWriter>(run_dir);
    // Steps after the checkpoint are about to be trained again: TensorBoard drops the old points
    // of steps > `step` from the earlier event files when it reads this START marker.
    if (resume) tb->add_session_start(step + 1);
  }
  // metrics.jsonl: on resume, keep only the rows up to the checkpoint's step (a run killed after
  // its last save logged steps that are now repeated).
  if (resume && lead) truncate_metrics_after(run_dir + "/metrics.jsonl", step);
  AppendFile metrics;
  if (lead) metrics = AppendFile(run_dir + "/metrics.jsonl", !resume);
  // A write that fails for good (a full disk) stops the run here, saying what is kept (metrics,
  // TensorBoard events, the loss curve; checkpoints say it in `save`).
  auto kept = [&]() {
    return have_checkpoint ? "the last checkpoint, " + latest + " (step " + std::to_string(checkpoint_step) + "), is kept"
                           : std::string("no checkpoint was written yet");
  };
  auto or_stop = [&](auto&& write) {
    try {
      write();
    } catch (const Error& e) {
      fail("sfm train: stopped at step ", step, ": ", e.what(), "; ", kept(),
           " (free some space, then continue with --resume)");
    }
  };
  auto log_row = [&](const json& row) { or_stop([&] { metrics.append(row.dump() + "\n"); }); };
  // Saves a checkpoint (rank 0); a failed save stops the run, the earlier checkpoint kept.
  auto save = [&](const std::string& dir) {
    if (lead) {
      try {
        save_checkpoint(dir, n, state_json());
      } catch (const Error& e) {
        fail("sfm train: stopped at step ", step, ": ", e.what());
      }
    }
    if (dir == latest) {
      have_checkpoint = true;
      checkpoint_step = step;
    }
  };
  // Stops the run on a failure at `at`: failure.json (rank 0) and the message; exit code 3.
  auto record_failure = [&](int64_t at, const std::vector<std::string>& ids, const json& loss) {
    res.failed = true;
    if (!lead) return;
    json fj{{"step", at},
            {"error", res.failure},
            {"batch", ids},
            {"last_good_checkpoint", have_checkpoint ? json(latest) : json()}};
    if (have_checkpoint) fj["last_good_checkpoint_step"] = checkpoint_step;
    if (ranks > 1) fj["ranks"] = ranks;
    if (!loss.is_null()) fj["loss"] = loss;
    try {
      write_file_atomic(run_dir + "/failure.json", fj.dump(2) + "\n");
    } catch (const Error& e) {
      std::fprintf(stderr, "\nsfm train: %s\n", e.what());
    }
    std::fprintf(stderr, "\nsfm train: stopping: %s (details in %s/failure.json; %s)\n", res.failure.c_str(),
                 run_dir.c_str(),
                 have_checkpoint ? ("last good checkpoint kept in " + latest).c_str()
                                 : "no checkpoint was written before the failure");
  };
  // Weights or optimiser state that are no longer finite never replace a checkpoint: the run
  // stops as on a non-finite loss. (Every rank holds the same weights, so every rank agrees.)
  auto finite_or_fail = [&]() {
    std::string bad = first_non_finite(n);
    if (bad.empty()) return true;
    res.failure = "step " + std::to_string(step) + ": non-finite values in " + bad +
                  " after the update (the run diverged; a lower --lr?); not saved as a checkpoint";
    record_failure(step, {}, json());
    return false;
  };
  // Under Open MPI a Ctrl-C on mpirun reaches the ranks as SIGTERM after odls_base_sigkill_timeout
  // seconds and SIGKILL as long later (docs/training.md): with the default 1 s no step and
  // checkpoint fit, so say how to stop this job and keep one. (mpirun passes --mca values on as
  // OMPI_MCA_* variables.)
  if (lead && ranks > 1 && std::getenv("OMPI_COMM_WORLD_SIZE")) {
    const char* t = std::getenv("OMPI_MCA_odls_base_sigkill_timeout");
    if (!t || std::atof(t) < 10)
      std::fprintf(stderr,
                   "sfm train: note: Ctrl-C on mpirun leaves the ranks %s s to save (odls_base_sigkill_timeout); to "
                   "stop and keep a checkpoint, send SIGUSR1 to mpirun (kill -USR1 PID) or start mpirun with --mca "
                   "odls_base_sigkill_timeout 30\n",
                   t ? t : "1");
  }
  bool warned_depth_skipped = false;
  Series curve_total{"total loss", {}, {}}, curve_photo{"photometric", {}, {}}, curve_val{"validation loss", {}, {}};

  const int64_t steps = o.steps, log_every = o.log_every;
  const int64_t B = global_batch;  // images per step of the whole job
  const double max_minutes = o.max_minutes;
  const bool tty = lead && isatty(fileno(stdout));
  auto t_start = Clock::now();
  auto t_window = t_start;
  int64_t window_steps = 0;
  double window_wait = 0, window_reduce = 0;
  // The gradients' all-reduce: on the devices (NCCL) for CUDA runs where the build has it.
  DataParallelStep parallel(comm, dev);

  while (step < steps) {
    // A stop (signal, time budget) on any rank stops every rank before the same step.
    bool stop_now = g_stop;
    bool time_now = max_minutes > 0 && std::chrono::duration<double>(Clock::now() - t_start).count() > max_minutes * 60;
    if (ranks > 1) {
      double f[2] = {stop_now ? 1.0 : 0.0, time_now ? 1.0 : 0.0};
      comm.all_reduce_sum(f, 2);
      stop_now = f[0] > 0;
      time_now = f[1] > 0;
    }
    if (stop_now) {
      res.interrupted = true;
      break;
    }
    if (time_now) {
      res.out_of_time = true;
      break;
    }
    auto t0 = Clock::now();
    Batch b = loader.next();
    window_wait += std::chrono::duration<double>(Clock::now() - t0).count();
    Tensor tgt = b.tgt.to(dev), srcs = b.srcs.to(dev), K = b.K.to(dev);
    if (hooks.inject_nan_at_step && step == *hooks.inject_nan_at_step) {
      Tensor t = tgt.cpu().clone();
      t.data<float>()[0] = std::nanf("");
      tgt = t.to(dev);
    }
    // One step: forward, loss, and (when the loss is finite) backward and Adam; a bad batch
    // throws before anything is updated, a non-finite loss updates nothing.
    // With several ranks: they agree after the loss whether every one is finite (all update or
    // none does), then average the gradients before Adam.
    StepControl ctl;
    parallel.attach(ctl);
    StepLosses lt;
    try {
      lt = n.step(SfMBatch{tgt, srcs, K, SfMBatch::Range::Normalized}, ctl);
    } catch (const Error& e) {
      res.failed = true;
      res.failure = std::string("step ") + std::to_string(step) + ": " + e.what();
      if (ranks > 1) {
        if (parallel.agreed())  // the others are past the agreement: the job cannot stop in step
          comm.abort(1, "sfm train: rank " + std::to_string(rank) + " of " + std::to_string(ranks) + ": " + res.failure);
        parallel.fail_before_agreement();  // the agreement the other ranks wait for inside their step
      }
    }
    window_reduce += parallel.reduce_seconds();
    double total = res.failed ? NAN : lt.total_value();
    if (!res.failed && !std::isfinite(total)) {
      res.failed = true;
      res.failure = "step " + std::to_string(step) + ": non-finite loss";
    }
    double photo = 0, smooth = 0, expl = 0;
    if (lt.total.defined()) {
      photo = lt.photometric_value();
      smooth = lt.smoothness_value();
      expl = lt.explainability_value();
    }
    std::vector<std::string> failed_ids = b.ids;
    if (ranks > 1) {
      // The job's losses (the mean over the ranks of each rank's mean over its share) and which
      // ranks failed; the first failing rank tells the others why.
      std::vector<double> v(4 + ranks, 0.0);
      if (lt.total.defined()) v = {total, photo, smooth, expl};
      v.resize(4 + ranks, 0.0);
      v[4 + rank] = res.failed ? 1.0 : 0.0;
      comm.all_reduce_sum(v.data(), v.size());
      total = v[0] / ranks;
      photo = v[1] / ranks;
      smooth = v[2] / ranks;
      expl = v[3] / ranks;
      int first_failed = -1, failed_count = 0;
      for (int r = ranks - 1; r >= 0; --r)
        if (v[4 + r] > 0) first_failed = r, ++failed_count;
      if (first_failed >= 0) {
        std::string why = broadcast_string(comm, res.failure, first_failed);
        std::string ids;
        for (const auto& id : b.ids) ids += id + "\n";
        ids = broadcast_string(comm, ids, first_failed);
        failed_ids.clear();
        for (size_t p = 0, q; (q = ids.find('\n', p)) != std::string::npos; p = q + 1) failed_ids.push_back(ids.substr(p, q - p));
        res.failed = true;
        res.failure = "rank " + std::to_string(first_failed) + " of " + std::to_string(ranks) + ": " + why +
                      (failed_count > 1 ? " (and " + std::to_string(failed_count - 1) + " other rank(s))" : "");
      }
    }
    if (res.failed) {
      record_failure(step, failed_ids,
                     lt.total.defined() ? json{{"total", total}, {"photometric", photo}, {"smoothness", smooth},
                                               {"explainability", expl}}
                                        : json());
      break;
    }
    SFM_CHECK(lt.updated, "sfm train: step ", step, " did not update the weights");  // finite loss: always updated
    ++step;
    ++window_steps;
    res.last_loss = total;
    if (hooks.inject_inf_weight_after_step && step - 1 == *hooks.inject_inf_weight_after_step) {
      Tensor& w = n.dispnet().param(n.dispnet().param_names()[0]);
      Tensor t = w.cpu().clone();
      t.data<float>()[0] = std::numeric_limits<float>::infinity();
      w.copy_(t.to(w.device()));
    }

    if (step % log_every == 0 || step == steps) {
      double dt = std::chrono::duration<double>(Clock::now() - t_window).count();
      double ips = dt > 0 ? (double)(window_steps * B) / dt : 0;
      double wait_frac = dt > 0 ? window_wait / dt : 0;
      res.images_per_second = ips;
      json m{{"step", step},
             {"split", "train"},
             {"loss", total},
             {"photometric", photo},
             {"smoothness", smooth},
             {"explainability", expl},
             {"lr", ao.lr},
             {"images_per_s", ips},
             {"data_wait_fraction", wait_frac},
             {"elapsed_s", std::chrono::duration<double>(Clock::now() - t_start).count()}};
      if (ranks > 1) {
        m["ranks"] = ranks;
        m["allreduce_fraction"] = dt > 0 ? window_reduce / dt : 0;  // rank 0's gradient averaging share
      }
      if (lead) log_row(m);
      if (tb) or_stop([&] {
        tb->add_scalar("train/loss", total, step);
        tb->add_scalar("train/photometric", m["photometric"].get<double>(), step);
        tb->add_scalar("train/smoothness", m["smoothness"].get<double>(), step);
        tb->add_scalar("train/explainability", m["explainability"].get<double>(), step);
        tb->add_scalar("train/images_per_s", ips, step);
        tb->add_scalar("train/data_wait_fraction", wait_frac, step);
      });
      curve_total.x.push_back((double)step);
      curve_total.y.push_back(total);
      curve_photo.x.push_back((double)step);
      curve_photo.y.push_back(m["photometric"].get<double>());
      double eta = ips > 0 ? (double)(steps - step) * B / ips : 0;
      if (max_minutes > 0)  // a time-budgeted run ends at the budget
        eta = std::min(eta, std::max(0.0, max_minutes * 60 - std::chrono::duration<double>(Clock::now() - t_start).count()));
      if (tty) {
        int width = 30, filled = (int)(width * (double)step / (double)steps);
        std::printf("\r[%s%s] %lld/%lld loss %.4f  %.1f img/s  ETA %s   ", std::string(filled, '#').c_str(),
                    std::string(width - filled, '.').c_str(), (long long)step, (long long)steps, total, ips,
                    fmt_eta(eta).c_str());
      } else if (lead) {
        std::printf("step %lld/%lld loss %.4f photometric %.4f smoothness %.4f %.1f img/s data-wait %.0f%% ETA %s\n",
                    (long long)step, (long long)steps, total, m["photometric"].get<double>(),
                    m["smoothness"].get<double>(), ips, 100 * wait_frac, fmt_eta(eta).c_str());
      }
      std::fflush(stdout);
      t_window = Clock::now();
      window_steps = 0;
      window_wait = 0;
      window_reduce = 0;
    }
    if (lead && o.plot_every > 0 && (step % o.plot_every == 0 || step == steps) && curve_total.x.size() > 1)
      or_stop([&] { plot_curves(run_dir + "/loss_curve.png", {curve_total, curve_photo, curve_val}, "training loss", "step"); });

    if (val && (step % o.val_every == 0 || step == steps)) {
      val->set_state(val_start);
      ValResult v = validate(o, n, *val, lcfg, dev, tb.get(), step, comm);
      json vm{{"step", step}, {"split", "val"}, {"loss", v.loss}, {"photometric", v.photometric}};
      if (v.depth_skipped > 0) {
        vm["depth_skipped"] = v.depth_skipped;
        if (lead && !warned_depth_skipped)
          std::fprintf(stderr, "sfm train: validation: %lld frame(s) of %s/val.txt have no valid ground-truth depth "
                       "and are not scored%s\n", (long long)v.depth_skipped, data.c_str(),
                       v.has_depth ? "" : " (no frame has any: best is chosen on the validation loss)");
        warned_depth_skipped = true;
      }
      if (v.has_depth) {
        vm["depth_images"] = v.depth_images;
        auto names = eval::depth_metric_names();
        auto vals = eval::depth_metric_values(v.depth);
        for (size_t i = 0; i < names.size(); ++i) vm[names[i]] = vals[i];
      }
      if (v.has_pose) {
        vm["ate_mean"] = v.ate_mean;
        vm["ate_std"] = v.ate_std;
      }
      if (lead) log_row(vm);
      if (tb) or_stop([&] {
        tb->add_scalar("val/loss", v.loss, step);
        if (v.has_depth) tb->add_scalar("val/abs_rel", v.depth.abs_rel, step);
        if (v.has_pose) tb->add_scalar("val/ate", v.ate_mean, step);
      });
      curve_val.x.push_back((double)step);
      curve_val.y.push_back(v.loss);
      double score = v.has_depth ? v.depth.abs_rel : v.loss;
      if (tty) std::printf("\n");
      if (lead)
        std::printf("validation @%lld: loss %.4f%s\n", (long long)step, v.loss,
                    v.has_depth ? (" abs_rel " + std::to_string(v.depth.abs_rel)).c_str() : "");
      if (score < best) {  // the same reduced score on every rank
        if (!finite_or_fail()) break;
        best = score;
        save(best_dir);
      }
    }
    if (o.save_every > 0 && step % o.save_every == 0) {
      if (!finite_or_fail()) break;
      save(latest);
    }
  }
  if (tty) std::printf("\n");
  if (!res.failed && finite_or_fail()) {
    save(latest);
    // A failure.json of an earlier process is about a state this run has trained past.
    std::error_code ec;
    if (lead && resume) fs::remove(run_dir + "/failure.json", ec);
  }
  if (lead && (res.interrupted || res.out_of_time)) {
    const int sig = g_stop_signal;
    std::printf("stopped at step %lld%s; saved %s\n", (long long)step,
                sig == SIGHUP ? " (SIGHUP: the terminal closed)" : sig == SIGTERM ? " (SIGTERM)" : sig == SIGINT ? " (SIGINT)" : "",
                latest.c_str());
  }
  if (lead && curve_total.x.size() > 1)
    or_stop([&] { plot_curves(run_dir + "/loss_curve.png", {curve_total, curve_photo, curve_val}, "training loss", "step"); });
  if (tb) or_stop([&] { tb->flush(); });
  if (ranks > 1) comm.barrier();  // no rank leaves before rank 0 has written the run folder
  res.end_step = step;
  res.best_score = best;
  return res;
}

}  // namespace sfm
