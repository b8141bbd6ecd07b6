#include "train/demo.h"

#include <algorithm>
#include <atomic>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "engine/autograd.h"
#include "boundary/device_runtime.h"
#include "cpu/parallel.h"
#include "engine/file_io.h"
#include "engine/stop_signals.h"
#include "eval/colormap.h"
#include "eval/depth_metrics.h"
#include "models/dispnet.h"
#include "train/data/image_util.h"
#include "train/data/loader.h"
#include "train/synth/synth_world.h"
#include "train/synth/synth_writer.h"
#include "train/trainer.h"

namespace sfm {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// A stop asked by SIGINT/SIGTERM/SIGHUP at any stage: it also stops the data generation and the
// training loop, and is never reset (train() resets its own flag when it starts).
std::atomic<bool> g_demo_stop{false};
void on_demo_signal(int) {
  g_demo_stop = true;
  synth::request_synth_stop();
  request_training_stop();
}

// The interrupted result: no report (a partial one would read like a finished run).
DemoResult interrupted(const char* stage, const std::string& out) {
  std::printf("\nsfm demo: interrupted by a signal during %s; no report written (what was made so far stays in %s)\n",
              stage, out.c_str());
  DemoResult r;
  r.interrupted = true;
  return r;
}

struct HeldOut {
  eval::DepthMetricsAccumulator trained, untrained, baseline;
};

double minutes_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count() / 60.0; }

std::string metrics_row(const std::string& name, const eval::DepthMetrics& m) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "| %-28s | %7.4f | %7.4f | %7.3f | %8.4f | %6.3f | %6.3f | %6.3f |", name.c_str(),
                m.abs_rel, m.sq_rel, m.rmse, m.rmse_log, m.a1, m.a2, m.a3);
  return buf;
}

json metrics_json(const eval::DepthMetrics& m) {
  json j;
  auto names = eval::depth_metric_names();
  auto vals = eval::depth_metric_values(m);
  for (size_t i = 0; i < names.size(); ++i) j[names[i]] = vals[i];
  return j;
}

}  // namespace

void install_demo_stop_handlers() { install_stop_handler(on_demo_signal); }
void request_demo_stop() { on_demo_signal(0); }

DemoResult run_demo(const DemoOptions& o) {
  auto t0 = Clock::now();
  bool cuda = o.device == "cuda" || (o.device == "auto" && cuda_available());
  SFM_CHECK(!cuda || cuda_available(), "sfm demo: --device cuda but no CUDA device is available");
  SFM_CHECK(o.minutes > 0.5, "sfm demo: --minutes must be above 0.5, got ", o.minutes);
  if (o.threads > 0) set_cpu_threads(o.threads);
  // Defaults: a reduced resolution on the CPU (what 2 cores can train in the budget), the
  // paper's 128x416 on a GPU.
  const int H = o.height ? o.height : (cuda ? 128 : 64);
  const int W = o.width ? o.width : (cuda ? 416 : 208);
  const int scenes = o.scenes ? o.scenes : (cuda ? 40 : 16);
  const int frames = o.frames ? o.frames : (cuda ? 60 : 40);
  // Everything that can be checked is checked before any work, so a bad option leaves nothing behind.
  SFM_CHECK(o.scenes == 0 || o.scenes >= 2, "sfm demo: --scenes must be >= 2 (at least one training and one "
            "held-out scene), got ", o.scenes);
  SFM_CHECK(o.frames == 0 || o.frames >= 3, "sfm demo: --frames must be >= 3 (one 3-frame snippet), got ", o.frames);
  SFM_CHECK(o.height >= 0 && o.width >= 0, "sfm demo: --height and --width must be >= 0 (0 = default)");
  SFM_CHECK(o.scenes <= 100000 && o.frames <= 100000, "sfm demo: --scenes and --frames must be <= 100000");
  // Training gets what is left of the budget minus a reserve for evaluation and the report.
  const double eval_reserve = cuda ? 0.5 : std::max(0.75, 0.08 * o.minutes);
  // Generating the data takes about scenes*frames*H*W / (0.5 Mpixel/s per CPU thread) (measured
  // ~0.6 on a 2-core machine); what is left must allow 0.2 minutes of training.
  const double gen_minutes =
      (double)scenes * frames * H * W / (0.5e6 * std::max(1, o.threads > 0 ? o.threads : cpu_threads())) / 60.0;
  const double min_minutes = eval_reserve + gen_minutes + 0.25;
  SFM_CHECK(o.minutes >= min_minutes, "sfm demo: --minutes ", o.minutes, " leaves no time to train (about ",
            gen_minutes, " minutes to generate the data and ", eval_reserve,
            " for the evaluation on this device); use --minutes ", std::ceil(min_minutes * 10) / 10, " or more");
  const std::string data = o.out + "/data", run = o.out + "/run", report = o.out + "/report";
  TrainConfig cfg;  // every key checked (preset, lr, seed, size) before the data is generated
  cfg.set("data", data, "sfm demo");
  cfg.set("device", cuda ? "cuda" : "cpu", "sfm demo");
  cfg.set("height", std::to_string(H), "sfm demo --height");
  cfg.set("width", std::to_string(W), "sfm demo --width");
  cfg.set("preset", o.preset, "sfm demo --preset");
  cfg.set("steps", "1000000", "sfm demo");
  cfg.set("seed", std::to_string(o.seed), "sfm demo --seed");
  {
    std::ostringstream lr;
    lr.precision(17);
    lr << o.lr;
    cfg.set("lr", lr.str(), "sfm demo --lr");
  }
  cfg.set("val_every", "0", "sfm demo");
  cfg.set("save_every", "0", "sfm demo");
  cfg.set("log_every", "10", "sfm demo");
  cfg.set("plot_every", "50", "sfm demo");
  cfg.set("in_memory", "true", "sfm demo");
  {
    const int train_scenes = scenes - synth::num_val_scenes(scenes, synth::SynthOptions{}.val_fraction);
    const int64_t snippets = (int64_t)train_scenes * (frames - 2);
    SFM_CHECK(snippets >= cfg.i("batch"), "sfm demo: ", train_scenes, " training scenes x ", frames,
              " frames give ", snippets, " snippets, fewer than the batch of ", cfg.i("batch"),
              "; use more --scenes or --frames");
  }
  if (fs::exists(o.out)) {
    SFM_CHECK(o.force, "sfm demo: ", o.out, " exists; pass --force to replace it");
    fs::remove_all(o.out);
  }
  fs::create_directories(o.out);
  if (g_demo_stop) return interrupted("the checks", o.out);

  std::printf("sfm demo: %s, %dx%d, %d synthetic scenes x %d frames, %.1f-minute budget, %d CPU threads\n",
              cuda ? ("cuda (" + cuda_device_name() + ")").c_str() : "cpu", H, W, scenes, frames, o.minutes,
              cpu_threads());
  std::printf("[1/3] generating synthetic data in %s\n", data.c_str());
  synth::SynthOptions so;
  so.scenes = scenes;
  so.frames = frames;
  so.height = H;
  so.width = W;
  so.seed = o.seed;
  so.moving_objects = 1;
  so.progress = true;
  try {
    synth::write_synthetic_dataset(data, so);
  } catch (const std::exception&) {
    if (g_demo_stop) return interrupted("the data generation", o.out);  // synth removed its OUT.tmp-*
    throw;
  }
  if (g_demo_stop) return interrupted("the data generation", o.out);

  double train_minutes = o.minutes - minutes_since(t0) - eval_reserve;
  SFM_CHECK(train_minutes > 0.2, "sfm demo: the budget of ", o.minutes, " minutes leaves no time to train "
            "after generating the data (use a larger --minutes)");
  cfg.set("max_minutes", std::to_string(train_minutes), "demo");
  std::printf("[2/3] training for %.1f minutes: batch %lld, %dx%d, 3 frames, Adam lr %g, preset %s, "
              "augmentation on (settings in %s/config.json)\n",
              train_minutes, (long long)cfg.i("batch"), H, W, o.lr, o.preset.c_str(), run.c_str());
  TrainResult tr = train(cfg, run, false);
  SFM_CHECK(!tr.failed, "sfm demo: training failed: ", tr.failure);
  if (tr.interrupted || g_demo_stop) return interrupted("the training", o.out);

  std::printf("[3/3] evaluating on the held-out scenes\n");
  Device dev = cuda ? Device::CUDA : Device::CPU;
  DispNet trained(0, dev), untrained((uint64_t)cfg.i("seed") * 2 + 1, dev);
  trained.load(run + "/checkpoints/latest/dispnet.safetensors");
  LoaderOptions lo;
  lo.batch = 4;
  lo.height = H;
  lo.width = W;
  lo.seq_length = 3;
  lo.augment = false;
  lo.shuffle = false;
  lo.split = "val";
  lo.workers = 1;
  DataLoader val(data, lo);
  HeldOut h;
  eval::DepthEvalOptions dopt;  // per-image median scaling, depth range (1e-3, 80) m
  std::vector<eval::GridTile> tiles;
  const size_t n = val.size();
  const size_t pictures = 4, picture_stride = std::max<size_t>(1, n / pictures);
  {
    NoGradGuard ng;
    for (size_t i = 0; i < n; i += 4) {
      std::vector<size_t> idx;
      for (size_t k = i; k < std::min(n, i + 4); ++k) idx.push_back(k);
      SfMBatch b = val.get_snippets(idx);
      Tensor x = b.tgt.to(dev);
      Tensor d_trained = trained.infer(x).cpu(), d_untrained = untrained.infer(x).cpu();
      h.trained.add_batch(b.depth_gt, d_trained, dopt);
      h.untrained.add_batch(b.depth_gt, d_untrained, dopt);
      h.baseline.add_batch(b.depth_gt, Tensor::ones(d_trained.shape()), dopt);  // constant depth, median-scaled
      for (size_t k = 0; k < idx.size(); ++k) {
        if (idx[k] % picture_stride != 0 || tiles.size() >= 4 * pictures) continue;
        std::vector<float> gt = b.depth_gt.batch_slice((int64_t)k, (int64_t)k + 1).to_vector();
        cv::Mat gt_m = eval::float_image(gt.data(), H, W);
        tiles.push_back({normalized_rgb_to_bgr(b.tgt, (int64_t)k), "input " + b.ids[k]});
        tiles.push_back({eval::colorize_depth(gt_m, 80.0), "true depth"});
        tiles.push_back({eval::colorize_disparity(d_trained.batch_slice((int64_t)k, (int64_t)k + 1)), "trained"});
        tiles.push_back({eval::colorize_disparity(d_untrained.batch_slice((int64_t)k, (int64_t)k + 1)), "untrained"});
      }
    }
  }
  DemoResult r;
  eval::DepthMetrics mt = h.trained.mean(), mu = h.untrained.mean(), mb = h.baseline.mean();
  r.trained_abs_rel = mt.abs_rel;
  r.untrained_abs_rel = mu.abs_rel;
  r.baseline_abs_rel = mb.abs_rel;
  r.passed = mt.abs_rel <= 0.7 * mb.abs_rel;

  if (g_demo_stop) return interrupted("the evaluation", o.out);
  fs::create_directories(report);
  cv::Mat grid = eval::make_grid(tiles, 4);
  eval::write_png_atomic(report + "/depth_grid.png", grid);
  if (fs::exists(run + "/loss_curve.png")) fs::copy_file(run + "/loss_curve.png", report + "/loss_curve.png");

  std::string header = "| model                        | abs rel | sq rel  |  rmse   | rmse log |  d<1.25 | d<1.25^2 | d<1.25^3 |\n"
                       "|------------------------------|---------|---------|---------|----------|--------|--------|--------|";
  std::string table = header + "\n" + metrics_row("trained SfMLearner", mt) + "\n" +
                      metrics_row("untrained network", mu) + "\n" + metrics_row("constant median depth", mb) + "\n";
  char summary[512];
  std::snprintf(summary, sizeof summary,
                "trained abs rel %.4f = %.2f x the constant-depth baseline's %.4f (goal: at most 0.70 x): %s\n",
                mt.abs_rel, mt.abs_rel / std::max(1e-12, mb.abs_rel), mb.abs_rel, r.passed ? "PASS" : "NOT REACHED");
  json settings = cfg.resolved();
  std::ostringstream md;
  md << "# sfm demo report\n\n"
     << "Held-out synthetic scenes (" << h.trained.images << " frames with ground truth), per-image median scaling, "
     << "depth range (1e-3, 80) m.\n\n"
     << table << "\n" << summary << "\n"
     << "Training: " << tr.end_step << " steps of batch " << cfg.i("batch") << " at " << H << "x" << W << " on "
     << (cuda ? "CUDA" : "the CPU") << ", " << std::fixed << std::setprecision(1) << tr.images_per_second
     << " images/s at the end, Adam lr " << std::defaultfloat << cfg.f("lr") << ", preset " << cfg.str("preset")
     << ", final loss " << std::setprecision(4) << tr.last_loss << ".\n\n"
     << "![depth grid](depth_grid.png)\n\n(columns: input, true depth, trained prediction, untrained prediction)\n\n"
     << "![loss curve](loss_curve.png)\n";
  write_file_atomic(report + "/report.md", md.str());
  json rj{{"trained", metrics_json(mt)},
          {"untrained", metrics_json(mu)},
          {"constant_median_depth", metrics_json(mb)},
          {"images", h.trained.images},
          {"ratio_to_baseline", mt.abs_rel / std::max(1e-12, mb.abs_rel)},
          {"passed", r.passed},
          {"steps", tr.end_step},
          {"minutes_total", minutes_since(t0)},
          {"settings", settings}};
  write_file_atomic(report + "/metrics.json", rj.dump(2) + "\n");
  std::printf("\n%s\n%s\nreport: %s/report.md (%.1f minutes in all)\n", table.c_str(), summary, report.c_str(),
              minutes_since(t0));
  return r;
}

}  // namespace sfm
