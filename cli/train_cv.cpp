// sfm train

#include <cstdio>
#include <filesystem>

#include "cli/args.h"
#include "cli/command.h"
#include "engine/collective.h"
#include "lab/ops/selftest.h"
#include "train/trainer.h"

namespace sfm::cli {

static int train_main_ranked(const std::vector<std::string>& argv) {
  std::string keys_help;
  Args a("train", "Trains DispNet and PoseExpNet with the SfMLearner objective.\n"
                  "Every config key (sfm train --list-keys) can also be given as --key value.");
  a.option("data", "formatted data set root (train.txt, val.txt)")
      .option("out", "run folder (refused when it holds a run, unless --resume or --overwrite)")
      .option("config", "JSON config file")
      .flag("resume", "continue from RUN/checkpoints/latest")
      .flag("overwrite", "replace the run already in --out (its checkpoints, metrics and event files), once every "
                         "other option and the data set have been checked")
      .flag("allow-change", "with --resume: accept options that change the trained problem (preset, loss keys, "
                            "rotation, height, width, seq-length, mask-mode); recorded in config.json")
      .flag("list-keys", "print every config key with its default and exit")
      .flag("skip-selftest", "do not run the CUDA kernel selftest (sfm selftest --quick) before training")
      .allow_extras("any config key, e.g. --steps 1000 --preset pytorch-port --seq-length 5");
  if (!a.parse(argv)) return 0;
  if (a.get_flag("list-keys")) {
    for (const auto& k : train_config_keys()) {
      std::string range = config_key_range(k.name);
      std::printf("  %-18s %-32s %s%s%s\n", k.name.c_str(), k.type.c_str(), k.help.c_str(),
                  k.def.empty() ? "" : (" [" + k.def + "]").c_str(), range.empty() ? "" : (" (" + range + ")").c_str());
    }
    return 0;
  }
  SFM_CHECK(a.has("out"), "sfm train: missing required option --out");
  std::string run = a.get("out");
  // Under mpirun: rank 0 checks the run folder (reading only: train() clears an --overwrite once
  // everything else has been checked), the others wait.
  Collective& comm = world();
  if (comm.rank() == 0) check_run_folder(run, a.get_flag("resume"), a.get_flag("overwrite"));
  comm.barrier();
  TrainConfig cfg;
  bool resume = a.get_flag("resume");
  if (resume) {
    std::string saved = run + "/config.json";
    SFM_CHECK(std::filesystem::exists(saved), "sfm train --resume: ", saved, " not found");
    cfg.apply_file(saved);
  }
  if (a.has("config")) cfg.apply_file(a.get("config"));
  if (a.has("data")) cfg.set("data", a.get("data"), "--data");
  for (const auto& [k, v] : a.extras()) cfg.set(k, v, "--" + k);
  // The data set is stored as an absolute path, so --resume works from any folder.
  if (!cfg.str("data").empty() && std::filesystem::path(cfg.str("data")).is_relative())
    cfg.set("data", std::filesystem::absolute(cfg.str("data")).lexically_normal().string(), "--data");
  // On CUDA, refuse to train on a kernel that fails the quick selftest.
  if (cfg.str("device") == "cuda") use_local_rank_cuda_device();  // before the first CUDA call
  if (!a.get_flag("skip-selftest"))
    lab::require_selftest_pass(cfg.str("device") == "cuda" ? Device::CUDA : Device::CPU, "sfm train");
  install_stop_signal_handlers();
  RunFolderMode mode;
  mode.resume = resume;
  mode.overwrite = a.get_flag("overwrite");
  mode.allow_change = a.get_flag("allow-change");
  SFM_CHECK(!mode.allow_change || resume, "sfm train: --allow-change applies only with --resume");
  TrainResult r = train(cfg, run, mode);
  if (comm.rank() == 0)
    std::printf("trained steps %lld..%lld, last loss %.5f, %.1f images/s\n", (long long)r.start_step,
              (long long)r.end_step, r.last_loss, r.images_per_second);
  shutdown_collective();
  if (r.failed) return 3;
  if (r.interrupted) return 130;
  return 0;
}

static int train_main(const std::vector<std::string>& argv) { return run_as_rank("train", train_main_ranked, argv); }

SFM_COMMAND("train", "train SfMLearner (DispNet + PoseExpNet) on a formatted data set", train_main);

}  // namespace sfm::cli
