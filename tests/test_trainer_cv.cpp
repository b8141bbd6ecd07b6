// The trainer: the loss goes down, resume is bit-exact on the CPU, config errors name the key,
// a stop request (SIGINT) leaves a loadable checkpoint, and a NaN in a batch stops cleanly.
#include <catch2/catch.hpp>

#include "tests/tiny_dataset_cv.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "models/dispnet.h"
#include "models/sfmlearner.h"
#include "train/config.h"
#include "train/data/loader.h"
#include "train/synth/synth_world.h"
#include "train/trainer.h"

using namespace sfm;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string tiny_data() {
  static std::string dir;
  if (dir.empty()) {
    dir = (fs::temp_directory_path() / ("sfm_test_trainer_data_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir);
    sfm::test::write_tiny_dataset(dir, 11);
  }
  return dir;
}

TrainConfig tiny_config(int steps) {
  TrainConfig c;
  c.set("data", tiny_data(), "test");
  c.set("height", "32", "test");
  c.set("width", "104", "test");
  c.set("batch", "2", "test");
  c.set("steps", std::to_string(steps), "test");
  c.set("val_every", "0", "test");
  c.set("log_every", "1", "test");
  c.set("plot_every", "0", "test");
  c.set("workers", "1", "test");
  c.set("tensorboard", "false", "test");
  c.set("seed", "3", "test");
  return c;
}

std::string fresh_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("sfm_test_trainer_" + name);
  fs::remove_all(p);
  return p.string();
}

std::vector<json> read_metrics(const std::string& run) {
  std::vector<json> out;
  std::ifstream f(run + "/metrics.jsonl");
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

std::string file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST_CASE("trainer: the monodepth2 preset trains, its parts switchable one by one", "[trainer][monodepth2][long]") {
  // The preset resolves to Monodepth2's parts and trains without the mask decoder; each part can
  // be switched off on its own; the explainability mask cannot be combined with them.
  TrainConfig c = tiny_config(4);
  c.set("preset", "monodepth2", "test");
  const json r = c.resolved();
  CHECK(r["ssim"] == true);
  CHECK(r["min_reprojection"] == true);
  CHECK(r["automask"] == true);
  CHECK(r["full_res_scales"] == true);
  CHECK(r["edge_aware_smoothness"] == true);
  CHECK(r["padding"] == "border");
  CHECK(r["mask_weight"] == 0.0);
  CHECK_FALSE(c.pose_net().explainability);
  std::string run = fresh_dir("monodepth2");
  TrainResult t = train(c, run, false);
  REQUIRE_FALSE(t.failed);
  REQUIRE(t.end_step == 4);
  CHECK(std::isfinite(t.last_loss));
  CHECK(t.last_loss > 0);
  c.set("automask", "false", "test");
  CHECK(c.loss().automask == false);
  CHECK(c.loss().ssim == true);
  c.set("mask_weight", "0.2", "test");
  REQUIRE_THROWS_WITH(c.loss(), Catch::Contains("mask_weight") && Catch::Contains("cannot be combined"));
}

TEST_CASE("trainer: a few steps on tiny synthetic data lower the loss", "[trainer][long]") {
  TrainConfig c = tiny_config(40);
  c.set("augment", "false", "test");
  c.set("lr", "1e-3", "test");
  std::string run = fresh_dir("lower");
  TrainResult r = train(c, run, false);
  REQUIRE_FALSE(r.failed);
  REQUIRE(r.end_step == 40);
  std::vector<json> m = read_metrics(run);
  REQUIRE(m.size() == 40);
  double first = 0, last = 0;
  for (int i = 0; i < 5; ++i) {
    first += m[i]["loss"].get<double>();
    last += m[m.size() - 1 - i]["loss"].get<double>();
  }
  INFO("mean loss of the first 5 steps " << first / 5 << ", of the last 5 " << last / 5);
  // 40 Adam steps at lr 1e-3 reduce the objective by far more than batch-to-batch noise
  // (the batches differ by ~10% in loss); require a 20% drop.
  REQUIRE(last < 0.8 * first);
  for (const char* key : {"step", "loss", "photometric", "smoothness", "explainability", "lr", "images_per_s",
                          "data_wait_fraction"})
    REQUIRE(m.back().contains(key));
  REQUIRE(fs::exists(run + "/config.json"));
  REQUIRE(fs::exists(run + "/checkpoints/latest/dispnet.safetensors"));
}

TEST_CASE("trainer: validation scores the step's forward on the loader's batch, moved by SfMBatch::to", "[trainer]") {
  TrainConfig c = tiny_config(2);
  c.set("val_every", "2", "test");
  c.set("val_batches", "1", "test");
  std::string run = fresh_dir("val_forward");
  TrainResult r = train(c, run, false);
  REQUIRE_FALSE(r.failed);
  std::vector<json> rows;
  for (const json& m : read_metrics(run))
    if (m["split"] == "val") rows.push_back(m);
  REQUIRE(rows.size() == 1);
  // The same weights (validation ran after the last step, and a better score saved `best`) and
  // the first validation batch, through the one move and SfMLearner::forward.
  const TrainOptions o = c.options();
  SfMLearner n(o.learner);
  n.dispnet().load(run + "/checkpoints/best/dispnet.safetensors");
  n.posenet().load(run + "/checkpoints/best/posenet.safetensors");
  DataLoader val(tiny_data(), o.val_loader);
  SfMBatch host = val.next();
  REQUIRE(host.range == SfMBatch::Range::Normalized);
  REQUIRE(host.size() == 2);
  SfMBatch b = host.to(n.device());
  REQUIRE(b.ids == host.ids);  // provenance and ground truth come along
  REQUIRE(b.snippets == host.snippets);
  REQUIRE(b.depth_gt.defined() == host.depth_gt.defined());
  NoGradGuard ng;
  SfMForward f = n.forward(b);
  CHECK(rows[0]["loss"].get<double>() == f.loss.total_value());
  CHECK(rows[0]["photometric"].get<double>() == f.loss.photometric.item());
  fs::remove_all(run);
}

TEST_CASE("trainer: resume from step k is bit-identical to an uninterrupted run (CPU)", "[trainer][long]") {
  std::string full = fresh_dir("full"), part = fresh_dir("part");
  train(tiny_config(6), full, false);
  train(tiny_config(3), part, false);
  // Resume as `sfm train --resume` does: the run's saved config, then the overrides.
  TrainConfig c;
  c.apply_file(part + "/config.json");
  c.set("steps", "6", "test");
  TrainResult r = train(c, part, true);
  REQUIRE(r.start_step == 3);
  REQUIRE(r.end_step == 6);
  for (const char* f : {"dispnet.safetensors", "posenet.safetensors", "optimizer.safetensors"}) {
    INFO(f);
    REQUIRE(file_bytes(full + "/checkpoints/latest/" + f) == file_bytes(part + "/checkpoints/latest/" + f));
  }
  std::vector<json> a = read_metrics(full), b = read_metrics(part);
  REQUIRE(a.size() == 6);
  REQUIRE(b.size() == 6);
  for (int i = 0; i < 6; ++i) REQUIRE(a[i]["loss"].get<double>() == b[i]["loss"].get<double>());
}

TEST_CASE("trainer: config errors name the key and the source", "[trainer][config]") {
  TrainConfig c;
  REQUIRE_THROWS_WITH(c.set("stepz", "10", "--stepz"), Catch::Contains("unknown config key 'stepz'") && Catch::Contains("--stepz"));
  REQUIRE_THROWS_WITH(c.set("steps", "ten", "--steps"), Catch::Contains("'steps'") && Catch::Contains("'ten'"));
  REQUIRE_THROWS_WITH(c.set("preset", "paper", "--preset"), Catch::Contains("'preset'") && Catch::Contains("original|pytorch-port"));
  REQUIRE_THROWS_WITH(c.set("flip", "maybe", "--flip"), Catch::Contains("'flip'"));
  c.set("seq-length", "5", "--seq-length");  // dashes work like underscores
  REQUIRE(c.i("seq_length") == 5);
  // A value out of range is refused when it is set, naming the key and where it came from.
  REQUIRE_THROWS_WITH(c.set("seq_length", "4", "--seq-length"),
                      Catch::Contains("--seq-length") && Catch::Contains("'seq_length' must be 3 or 5"));
  std::string dir = fresh_dir("config");
  fs::create_directories(dir);
  std::ofstream(dir + "/bad.json") << R"({"batch": "four"})";
  REQUIRE_THROWS_WITH(TrainConfig().apply_file(dir + "/bad.json"), Catch::Contains("bad.json") && Catch::Contains("'batch'"));
  std::ofstream(dir + "/typo.json") << R"({"learning_rate": 0.1})";
  REQUIRE_THROWS_WITH(TrainConfig().apply_file(dir + "/typo.json"), Catch::Contains("typo.json") && Catch::Contains("'learning_rate'"));
  std::ofstream(dir + "/broken.json") << "{";
  REQUIRE_THROWS_WITH(TrainConfig().apply_file(dir + "/broken.json"), Catch::Contains("not valid JSON"));
  // Presets resolve the loss keys; an explicit key wins.
  TrainConfig p;
  p.set("preset", "pytorch-port", "test");
  REQUIRE(p.loss().smooth_weight == 0.1);
  REQUIRE_FALSE(p.loss().keep_out_of_view);
  p.set("smooth_weight", "0.3", "test");
  REQUIRE(p.loss().smooth_weight == 0.3);
  REQUIRE(p.resolved()["smooth_decay"].get<double>() == 2.3);
}

TEST_CASE("trainer: SIGINT saves a loadable checkpoint and stops", "[trainer][long]") {
  std::string run = fresh_dir("sigint");
  TrainConfig c = tiny_config(100000);
  install_stop_signal_handlers();
  std::atomic<bool> done{false};
  std::thread killer([&] {
    // Wait until two steps are logged, then interrupt as Ctrl-C would.
    for (int i = 0; i < 6000 && !done; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (read_metrics(run).size() >= 2) {
        std::raise(SIGINT);
        return;
      }
    }
  });
  TrainResult r = train(c, run, false);
  done = true;
  killer.join();
  std::signal(SIGINT, SIG_DFL);
  REQUIRE(r.interrupted);
  REQUIRE(r.end_step >= 2);
  REQUIRE(r.end_step < 100000);
  DispNet d;
  d.load(run + "/checkpoints/latest/dispnet.safetensors");
  std::ifstream f(run + "/checkpoints/latest/state.json");
  REQUIRE(json::parse(f)["step"].get<int64_t>() == r.end_step);
}

TEST_CASE("trainer: a NaN in a batch stops the run cleanly, the last good checkpoint intact", "[trainer][long]") {
  std::string run = fresh_dir("nan");
  TrainConfig c = tiny_config(10);
  c.set("save_every", "1", "test");
  TrainHooks nan_at_3;
  nan_at_3.inject_nan_at_step = 3;
  TrainResult r = train(c, run, false, nan_at_3);
  REQUIRE(r.failed);
  REQUIRE(r.end_step == 3);
  REQUIRE_THAT(r.failure, Catch::Contains("step 3") && Catch::Contains("NaN"));
  std::ifstream f(run + "/failure.json");
  json fj = json::parse(f);
  REQUIRE(fj["step"].get<int64_t>() == 3);
  std::ifstream s(run + "/checkpoints/latest/state.json");
  REQUIRE(json::parse(s)["step"].get<int64_t>() == 3);
  DispNet d;
  d.load(run + "/checkpoints/latest/dispnet.safetensors");
  for (const Tensor& p : d.parameters()) REQUIRE(all_finite(p));
}
