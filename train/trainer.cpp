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
#include <limits>
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
#include "eval/depth_metrics.h"
#include "models/sfmlearner.h"
#include "models/sfmlearner_parallel.h"
#include "train/data/loader.h"
#include "train/log/plot.h"
#include "train/log/tensorboard.h"
#include "train/validation.h"

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

std::string fmt_eta(double s) {
  char buf[32];
  int h = (int)(s / 3600), m = (int)(std::fmod(s, 3600) / 60), sec = (int)std::fmod(s, 60);
  if (h > 0)
    std::snprintf(buf, sizeof buf, "%dh%02dm", h, m);
  else
    std::snprintf(buf, sizeof buf, "%dm%02ds", m, sec);
  return buf;
}

// The losses of one step as the job sees them: each rank's mean over its share, averaged over the
// ranks. has_losses: the loss was computed (a bad batch throws before).
struct StepResult {
  double total = 0, photometric = 0, smoothness = 0, explainability = 0;
  bool has_losses = false, updated = false;
  std::vector<std::string> ids;  // the batch (with several ranks: the first failing rank's)
};

// One call of train(): the run's state, which the loop's parts share. open() does everything up
// to the first step; run() is the loop; the parts below it are the steps of the algorithm.
class TrainingRun {
 public:
  TrainingRun(const TrainConfig& cfg, const std::string& run_dir, const RunFolderMode& mode, const TrainHooks& hooks)
      : cfg(cfg), run_dir(run_dir), mode(mode), hooks(hooks) {}
  TrainResult run();

 private:
  void open();
  bool stop_requested();
  StepResult train_step();
  void log_window(const StepResult& s);
  bool validate_and_save();
  void record_failure(int64_t at, const std::vector<std::string>& ids, const json& loss);
  bool finite_or_fail();
  void save(const std::string& dir);
  void finish();
  json state_json() const {
    return json{{"step", step}, {"loader", loader->state()}, {"best", std::isfinite(best) ? json(best) : json()},
                {"config", cfg.resolved()}};
  }
  std::string kept() const {
    return have_checkpoint ? "the last checkpoint, " + latest + " (step " + std::to_string(checkpoint_step) + "), is kept"
                           : std::string("no checkpoint was written yet");
  }
  // A write that fails for good (a full disk) stops the run here, saying what is kept (metrics,
  // TensorBoard events, the loss curve; checkpoints say it in `save`).
  template <class Write>
  void or_stop(Write&& write) {
    try {
      write();
    } catch (const Error& e) {
      fail("sfm train: stopped at step ", step, ": ", e.what(), "; ", kept(),
           " (free some space, then continue with --resume)");
    }
  }
  void plot() {
    or_stop([&] { plot_curves(run_dir + "/loss_curve.png", {curve_total, curve_photo, curve_val}, "training loss", "step"); });
  }

  const TrainConfig& cfg;
  const std::string run_dir;
  const RunFolderMode mode;
  const TrainHooks hooks;
  const bool resume = mode.resume;
  // Data parallel (docs/training.md): `ranks` processes, each with `batch` snippets of every
  // global batch of batch*ranks; rank 0 (`lead`) alone writes the run folder and prints.
  Collective& comm = world();
  const int ranks = comm.size(), rank = comm.rank();
  const bool lead = rank == 0;
  const TrainOptions o = cfg.options(rank, ranks);
  const Device dev = o.device;
  const std::string latest = run_dir + "/checkpoints/latest", best_dir = run_dir + "/checkpoints/best";

  TrainResult res;
  std::unique_ptr<RunFolderSession> session;  // rank 0's lock on the run folder
  std::unique_ptr<SfMLearner> net;
  std::unique_ptr<DataLoader> loader, val;
  std::string val_start;  // every validation sees the same batches
  std::unique_ptr<TensorBoardWriter> tb;
  AppendFile metrics;
  // The gradients' all-reduce: on the devices (NCCL) for CUDA runs where the build has it.
  std::unique_ptr<DataParallelStep> parallel;

  int64_t step = 0;
  double best = std::numeric_limits<double>::infinity();
  bool have_checkpoint = false;  // a `latest` exists that a failure leaves in place
  int64_t checkpoint_step = -1;  // its step
  bool warned_depth_skipped = false;
  Series curve_total{"total loss", {}, {}}, curve_photo{"photometric", {}, {}}, curve_val{"validation loss", {}, {}};
  const bool tty = lead && isatty(fileno(stdout));
  Clock::time_point t_start, t_window;  // the loop's start, the logging window's
  int64_t window_steps = 0;
  double window_wait = 0, window_reduce = 0;  // seconds waiting for batches, averaging gradients
};

// The algorithm: until `steps` (or a stop): a step on the next batch, the logging window, and at
// their intervals the loss curve, validation (saving `best`) and `latest`; a failure is recorded
// and ends the run; the end saves `latest`.
TrainResult TrainingRun::run() {
  open();
  t_start = t_window = Clock::now();
  while (step < o.steps) {
    if (stop_requested()) break;
    StepResult s = train_step();
    if (res.failed) {
      record_failure(step, s.ids,
                     s.has_losses ? json{{"total", s.total}, {"photometric", s.photometric}, {"smoothness", s.smoothness},
                                         {"explainability", s.explainability}}
                                  : json());
      break;
    }
    SFM_CHECK(s.updated, "sfm train: step ", step, " did not update the weights");  // finite loss: always updated
    ++step;
    ++window_steps;
    res.last_loss = s.total;
    if (hooks.inject_inf_weight_after_step && step - 1 == *hooks.inject_inf_weight_after_step) {
      Tensor& w = net->dispnet().param(net->dispnet().param_names()[0]);
      Tensor t = w.cpu().clone();
      t.data<float>()[0] = std::numeric_limits<float>::infinity();
      w.copy_(t.to(w.device()));
    }
    if (step % o.log_every == 0 || step == o.steps) log_window(s);
    if (lead && o.plot_every > 0 && (step % o.plot_every == 0 || step == o.steps) && curve_total.x.size() > 1) plot();
    if (val && (step % o.val_every == 0 || step == o.steps) && !validate_and_save()) break;
    if (o.save_every > 0 && step % o.save_every == 0) {
      if (!finite_or_fail()) break;
      save(latest);
    }
  }
  finish();
  return res;
}

// Everything before the first step. The run folder is touched only after every check has passed.
void TrainingRun::open() {
  SFM_CHECK(!o.data.empty(), "sfm train: no data set given (--data DIR)");
  if (o.threads > 0) set_cpu_threads(o.threads, "sfm train: --threads");
  // Everything is checked before the run folder is touched; rank 0 holds its lock from here on.
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
  if (dev == Device::CUDA) {
    use_local_rank_cuda_device();
    SFM_CHECK(cuda_available(), "sfm train: --device cuda but no CUDA device is available");
    set_conv_impl(o.conv_impl);
  }

  net = std::make_unique<SfMLearner>(o.learner);
  SfMLearner& n = *net;
  if (!o.init_disp.empty()) n.dispnet().load(weights_file(o.init_disp, "dispnet.safetensors"));
  if (!o.init_pose.empty()) n.posenet().load(weights_file(o.init_pose, "posenet.safetensors"));

  loader = std::make_unique<DataLoader>(o.data, o.train_loader);
  SFM_CHECK((int64_t)loader->size() >= o.batch, "sfm train: batch ", o.batch, " is larger than the ",
            loader->size(), " snippets of ", o.data, "/train.txt (use --batch ", loader->size(), " or less)");
  if (o.val_every > 0) {
    val = std::make_unique<DataLoader>(o.data, o.val_loader);
    val_start = val->state();
  }

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
    loader->set_state(st.loader);
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

  if (o.tensorboard && lead) {
    tb = std::make_unique<TensorBoardWriter>(run_dir);
    // Steps after the checkpoint are about to be trained again: TensorBoard drops the old points
    // of steps > `step` from the earlier event files when it reads this START marker.
    if (resume) tb->add_session_start(step + 1);
  }
  // metrics.jsonl: on resume, keep only the rows up to the checkpoint's step (a run killed after
  // its last save logged steps that are now repeated).
  if (resume && lead) truncate_metrics_after(run_dir + "/metrics.jsonl", step);
  if (lead) metrics = AppendFile(run_dir + "/metrics.jsonl", !resume);
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
  parallel = std::make_unique<DataParallelStep>(comm, dev);
}

// A stop (signal, time budget) on any rank stops every rank before the same step.
bool TrainingRun::stop_requested() {
  bool stop_now = g_stop;
  bool time_now =
      o.max_minutes > 0 && std::chrono::duration<double>(Clock::now() - t_start).count() > o.max_minutes * 60;
  if (ranks > 1) {
    double f[2] = {stop_now ? 1.0 : 0.0, time_now ? 1.0 : 0.0};
    comm.all_reduce_sum(f, 2);
    stop_now = f[0] > 0;
    time_now = f[1] > 0;
  }
  if (stop_now) res.interrupted = true;
  else if (time_now) res.out_of_time = true;
  return stop_now || time_now;
}

// One step on the next batch: forward, loss, and (when the loss is finite) backward and Adam; a
// bad batch throws before anything is updated, a non-finite loss updates nothing (res.failed and
// res.failure say why). With several ranks: they agree after the loss whether every one is finite
// (all update or none does), then average the gradients before Adam.
StepResult TrainingRun::train_step() {
  auto t0 = Clock::now();
  SfMBatch b = loader->next();
  window_wait += std::chrono::duration<double>(Clock::now() - t0).count();
  b = b.to(dev);
  if (hooks.inject_nan_at_step && step == *hooks.inject_nan_at_step) {
    Tensor t = b.tgt.cpu().clone();
    t.data<float>()[0] = std::nanf("");
    b.tgt = t.to(dev);
  }
  StepControl ctl;
  parallel->attach(ctl);
  StepLosses lt;
  try {
    lt = net->step(b, ctl);
  } catch (const Error& e) {
    res.failed = true;
    res.failure = std::string("step ") + std::to_string(step) + ": " + e.what();
    if (ranks > 1) {
      if (parallel->agreed())  // the others are past the agreement: the job cannot stop in step
        comm.abort(1, "sfm train: rank " + std::to_string(rank) + " of " + std::to_string(ranks) + ": " + res.failure);
      parallel->fail_before_agreement();  // the agreement the other ranks wait for inside their step
    }
  }
  window_reduce += parallel->reduce_seconds();
  StepResult s;
  s.updated = lt.updated;
  s.has_losses = lt.total.defined();
  s.total = res.failed ? NAN : lt.total_value();
  if (!res.failed && !std::isfinite(s.total)) {
    res.failed = true;
    res.failure = "step " + std::to_string(step) + ": non-finite loss";
  }
  if (s.has_losses) {
    s.photometric = lt.photometric_value();
    s.smoothness = lt.smoothness_value();
    s.explainability = lt.explainability_value();
  }
  s.ids = b.ids;
  if (ranks > 1) {
    // The job's losses (the mean over the ranks of each rank's mean over its share) and which
    // ranks failed; the first failing rank tells the others why.
    std::vector<double> v(4 + ranks, 0.0);
    if (s.has_losses) v = {s.total, s.photometric, s.smoothness, s.explainability};
    v.resize(4 + ranks, 0.0);
    v[4 + rank] = res.failed ? 1.0 : 0.0;
    comm.all_reduce_sum(v.data(), v.size());
    s.total = v[0] / ranks;
    s.photometric = v[1] / ranks;
    s.smoothness = v[2] / ranks;
    s.explainability = v[3] / ranks;
    int first_failed = -1, failed_count = 0;
    for (int r = ranks - 1; r >= 0; --r)
      if (v[4 + r] > 0) first_failed = r, ++failed_count;
    if (first_failed >= 0) {
      std::string why = broadcast_string(comm, res.failure, first_failed);
      std::string ids;
      for (const auto& id : b.ids) ids += id + "\n";
      ids = broadcast_string(comm, ids, first_failed);
      s.ids.clear();
      for (size_t p = 0, q; (q = ids.find('\n', p)) != std::string::npos; p = q + 1) s.ids.push_back(ids.substr(p, q - p));
      res.failed = true;
      res.failure = "rank " + std::to_string(first_failed) + " of " + std::to_string(ranks) + ": " + why +
                    (failed_count > 1 ? " (and " + std::to_string(failed_count - 1) + " other rank(s))" : "");
    }
  }
  return s;
}

// The logging window's end: one metrics.jsonl row, TensorBoard scalars, the loss curve's points
// and the progress line, over the steps since the last one.
void TrainingRun::log_window(const StepResult& s) {
  const int64_t B = o.batch * ranks;  // images per step of the whole job
  double dt = std::chrono::duration<double>(Clock::now() - t_window).count();
  double ips = dt > 0 ? (double)(window_steps * B) / dt : 0;
  double wait_frac = dt > 0 ? window_wait / dt : 0;
  res.images_per_second = ips;
  json m{{"step", step},
         {"split", "train"},
         {"loss", s.total},
         {"photometric", s.photometric},
         {"smoothness", s.smoothness},
         {"explainability", s.explainability},
         {"lr", net->options().adam.lr},
         {"images_per_s", ips},
         {"data_wait_fraction", wait_frac},
         {"elapsed_s", std::chrono::duration<double>(Clock::now() - t_start).count()}};
  if (ranks > 1) {
    m["ranks"] = ranks;
    m["allreduce_fraction"] = dt > 0 ? window_reduce / dt : 0;  // rank 0's gradient averaging share
  }
  if (lead) or_stop([&] { metrics.append(m.dump() + "\n"); });
  if (tb) or_stop([&] {
    tb->add_scalar("train/loss", s.total, step);
    tb->add_scalar("train/photometric", m["photometric"].get<double>(), step);
    tb->add_scalar("train/smoothness", m["smoothness"].get<double>(), step);
    tb->add_scalar("train/explainability", m["explainability"].get<double>(), step);
    tb->add_scalar("train/images_per_s", ips, step);
    tb->add_scalar("train/data_wait_fraction", wait_frac, step);
  });
  curve_total.x.push_back((double)step);
  curve_total.y.push_back(s.total);
  curve_photo.x.push_back((double)step);
  curve_photo.y.push_back(m["photometric"].get<double>());
  double eta = ips > 0 ? (double)(o.steps - step) * B / ips : 0;
  if (o.max_minutes > 0)  // a time-budgeted run ends at the budget
    eta = std::min(eta, std::max(0.0, o.max_minutes * 60 - std::chrono::duration<double>(Clock::now() - t_start).count()));
  if (tty) {
    int width = 30, filled = (int)(width * (double)step / (double)o.steps);
    std::printf("\r[%s%s] %lld/%lld loss %.4f  %.1f img/s  ETA %s   ", std::string(filled, '#').c_str(),
                std::string(width - filled, '.').c_str(), (long long)step, (long long)o.steps, s.total, ips,
                fmt_eta(eta).c_str());
  } else if (lead) {
    std::printf("step %lld/%lld loss %.4f photometric %.4f smoothness %.4f %.1f img/s data-wait %.0f%% ETA %s\n",
                (long long)step, (long long)o.steps, s.total, m["photometric"].get<double>(),
                m["smoothness"].get<double>(), ips, 100 * wait_frac, fmt_eta(eta).c_str());
  }
  std::fflush(stdout);
  t_window = Clock::now();
  window_steps = 0;
  window_wait = 0;
  window_reduce = 0;
}

// Validation on the same batches each time (metrics.jsonl "split": "val", TensorBoard, the curve);
// a better score (abs rel with depth ground truth, else the loss) saves `best`. false: the weights
// are no longer finite (recorded; the run stops).
bool TrainingRun::validate_and_save() {
  val->set_state(val_start);
  ValResult v = validate(o, *net, *val, tb.get(), step, comm);
  json vm{{"step", step}, {"split", "val"}, {"loss", v.loss}, {"photometric", v.photometric}};
  if (v.depth_skipped > 0) {
    vm["depth_skipped"] = v.depth_skipped;
    if (lead && !warned_depth_skipped)
      std::fprintf(stderr, "sfm train: validation: %lld frame(s) of %s/val.txt have no valid ground-truth depth "
                   "and are not scored%s\n", (long long)v.depth_skipped, o.data.c_str(),
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
  if (lead) or_stop([&] { metrics.append(vm.dump() + "\n"); });
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
    if (!finite_or_fail()) return false;
    best = score;
    save(best_dir);
  }
  return true;
}

// Stops the run on a failure at `at`: failure.json (rank 0) and the message; exit code 3.
void TrainingRun::record_failure(int64_t at, const std::vector<std::string>& ids, const json& loss) {
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
}

// Weights or optimiser state that are no longer finite never replace a checkpoint: the run
// stops as on a non-finite loss. (Every rank holds the same weights, so every rank agrees.)
bool TrainingRun::finite_or_fail() {
  std::string bad = first_non_finite(*net);
  if (bad.empty()) return true;
  res.failure = "step " + std::to_string(step) + ": non-finite values in " + bad +
                " after the update (the run diverged; a lower --lr?); not saved as a checkpoint";
  record_failure(step, {}, json());
  return false;
}

// Saves a checkpoint (rank 0); a failed save stops the run, the earlier checkpoint kept.
void TrainingRun::save(const std::string& dir) {
  if (lead) {
    try {
      save_checkpoint(dir, *net, state_json());
    } catch (const Error& e) {
      fail("sfm train: stopped at step ", step, ": ", e.what());
    }
  }
  if (dir == latest) {
    have_checkpoint = true;
    checkpoint_step = step;
  }
}

// The end of the run (finished, stopped or failed): `latest` unless the run failed, the stop
// message, the final loss curve and TensorBoard flush.
void TrainingRun::finish() {
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
  if (lead && curve_total.x.size() > 1) plot();
  if (tb) or_stop([&] { tb->flush(); });
  if (ranks > 1) comm.barrier();  // no rank leaves before rank 0 has written the run folder
  res.end_step = step;
  res.best_score = best;
}

}  // namespace

TrainResult train(const TrainConfig& cfg, const std::string& run_dir, bool resume, const TrainHooks& hooks) {
  RunFolderMode mode;
  mode.resume = resume;
  return train(cfg, run_dir, mode, hooks);
}

TrainResult train(const TrainConfig& cfg, const std::string& run_dir, const RunFolderMode& mode, const TrainHooks& hooks) {
  g_stop = false;
  g_stop_signal = 0;
  return TrainingRun(cfg, run_dir, mode, hooks).run();
}

}  // namespace sfm
