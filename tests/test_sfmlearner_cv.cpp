// `sfm train` and `sfm bench train` run the same step: the trainer's logged losses and saved
// weights equal those of the benchmark's unit (sfmlearner_defaults, train_bench_step of
// lab/train/step_bench.h, the step `sfm bench train` times) fed the same loader batches, bit
// for bit on the CPU.
#include <catch2/catch.hpp>

#include "tests/tiny_dataset_cv.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/safetensors.h"
#include "lab/train/step_bench.h"
#include "models/sfmlearner.h"
#include "train/config.h"
#include "train/data/loader.h"
#include "train/synth/synth_world.h"
#include "train/trainer.h"

using namespace sfm;
namespace fs = std::filesystem;
using json = nlohmann::json;

TEST_CASE("sfmlearner: the trainer's step equals the benchmark's step (CPU, bit for bit)", "[sfmlearner][trainer][long]") {
  const std::string tag = std::to_string(::getpid());
  const std::string data = (fs::temp_directory_path() / ("sfm_test_sfmlearner_data_" + tag)).string();
  const std::string run = (fs::temp_directory_path() / ("sfm_test_sfmlearner_run_" + tag)).string();
  fs::remove_all(data);
  fs::remove_all(run);
  sfm::test::write_tiny_dataset(data, 5);

  // The trainer with its defaults, which are the benchmark's configuration: seed 0, 'original'
  // loss (mask 0.2), Adam lr 2e-4, 3 frames.
  TrainConfig c;
  c.set("data", data, "test");
  c.set("height", "32", "test");
  c.set("width", "104", "test");
  c.set("batch", "2", "test");
  c.set("steps", "3", "test");
  c.set("val_every", "0", "test");
  c.set("log_every", "1", "test");
  c.set("plot_every", "0", "test");
  c.set("workers", "1", "test");
  c.set("tensorboard", "false", "test");
  TrainResult r = train(c, run, false);
  REQUIRE_FALSE(r.failed);
  REQUIRE(r.end_step == 3);
  std::vector<double> trainer_losses;
  {
    std::ifstream f(run + "/metrics.jsonl");
    std::string line;
    while (std::getline(f, line))
      if (!line.empty()) trainer_losses.push_back(json::parse(line)["loss"].get<double>());
  }
  REQUIRE(trainer_losses.size() == 3);

  // The benchmark's unit and step control, fed the loader the trainer builds (its options as
  // train/trainer.cpp sets them from the config).
  SfMLearner m(sfmlearner_defaults(Device::CPU, (int)c.i("seq_length"), 0.2));
  LoaderOptions lo;
  lo.batch = 2;
  lo.height = 32;
  lo.width = 104;
  lo.seq_length = (int)c.i("seq_length");
  lo.augment = c.b("augment");
  lo.flip = c.b("flip");
  lo.color_jitter = c.b("color_jitter");
  lo.shuffle = true;
  lo.in_memory = c.b("in_memory");
  lo.skip_bad = c.b("skip_bad");
  lo.workers = 1;
  lo.seed = (uint64_t)c.i("seed");
  lo.split = "train";
  lo.quiet = true;
  DataLoader loader(data, lo);
  for (int i = 0; i < 3; ++i) {
    INFO("step " << i);
    StepLosses l = train_bench_step(m, loader.next());
    REQUIRE(l.total_value() == trainer_losses[i]);
  }
  // ... and the weights the trainer saved are the unit's, to the bit.
  for (const auto& [file, module] :
       std::vector<std::pair<std::string, Module*>>{{"dispnet", &m.dispnet()}, {"posenet", &m.posenet()}}) {
    INFO(file);
    SafeTensors st = load_safetensors(run + "/checkpoints/latest/" + file + ".safetensors");
    for (size_t k = 0; k < module->param_names().size(); ++k)
      REQUIRE(st.tensors.at(module->param_names()[k]).to_vector() == module->parameters()[k].to_vector());
  }
  SafeTensors opt = load_safetensors(run + "/checkpoints/latest/optimizer.safetensors");
  std::map<std::string, Tensor> ours = m.optimizer().state();
  REQUIRE(opt.tensors.size() == ours.size());
  for (const auto& [name, t] : ours) {
    INFO(name);
    REQUIRE(opt.tensors.at(name).to_vector() == t.to_vector());
  }
  fs::remove_all(data);
  fs::remove_all(run);
}
