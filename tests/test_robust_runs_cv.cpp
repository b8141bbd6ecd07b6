// The robustness issues' run-folder items (docs/training.md "The run folder"): a run folder is
// never silently replaced or corrupted: refused --out, kills and crashes between renames, failure.json,
// non-finite weights, full disks, signals, locks, and a --resume that changes the problem.
#include <catch2/catch.hpp>

#include "tests/robust_support_cv.h"

using namespace sfm;
using namespace sfm::test::robust;


// 1 -------------------------------------------------------------------------------------------
TEST_CASE("robust 1: --out of an existing run is refused unless --resume or --overwrite", "[robust][trainer][long]") {
  fs::path run = tmp_dir("item1");
  train(tiny(base_data(), 2), run.string(), false);
  std::string before = bytes(run / "metrics.jsonl");
  REQUIRE_THROWS_WITH(check_run_folder(run.string(), false, false),
                      Catch::Contains(run.string()) && Catch::Contains("already holds a run") &&
                          Catch::Contains("--resume") && Catch::Contains("--overwrite"));
  REQUIRE_NOTHROW(check_run_folder(run.string(), true, false));
  REQUIRE_THROWS_WITH(check_run_folder(run.string(), true, true), Catch::Contains("exclude each other"));
  REQUIRE_THROWS_WITH(check_run_folder((run / "nope").string(), true, false), Catch::Contains("config.json not found"));
  if (!has_sfm()) return;
  Run r = sfm_cli("train --skip-selftest --data " + base_data() + " --out " + run.string() +
                  " --height 32 --width 104 --batch 2 --steps 1 --val-every 0 --tensorboard false");
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("already holds a run"));
  CHECK(bytes(run / "metrics.jsonl") == before);  // the finished run is untouched
  r = sfm_cli("train --skip-selftest --overwrite --data " + base_data() + " --out " + run.string() +
              " --height 32 --width 104 --batch 2 --steps 1 --val-every 0 --tensorboard false --log-every 1");
  CHECK(r.rc == 0);
  CHECK(metrics(run).size() == 1);
}

// 2 -------------------------------------------------------------------------------------------
TEST_CASE("robust 2: after a kill, --resume drops the metrics rows past the checkpoint", "[robust][trainer][long]") {
  fs::path full = tmp_dir("item2_full"), part = tmp_dir("item2_part");
  TrainConfig cf = tiny(base_data(), 6);
  train(cf, full.string(), false);
  TrainConfig cp = tiny(base_data(), 3);
  cp.set("tensorboard", "true", "test");
  train(cp, part.string(), false);
  // A run killed (SIGKILL) after logging steps 4 and 5 but before saving them; the last line cut short.
  {
    std::ofstream m(part / "metrics.jsonl", std::ios::app);
    m << R"({"step": 4, "split": "train", "loss": 9})" << "\n" << R"({"step": 5, "split": "train", "loss": 9})" << "\n"
      << R"({"step": 6, "spl)";
  }
  TrainConfig c;
  c.apply_file((part / "config.json").string());
  c.set("steps", "6", "test");
  TrainResult r = train(c, part.string(), true);
  REQUIRE(r.start_step == 3);
  std::vector<json> a = metrics(full), b = metrics(part);
  REQUIRE(b.size() == 6);
  for (int i = 0; i < 6; ++i) {
    CHECK(b[i]["step"].get<int>() == i + 1);
    CHECK(a[i]["loss"].get<double>() == b[i]["loss"].get<double>());
  }
  // The resumed run's event file starts with a SessionLog START at step 4 (Event.step = 4,
  // Event.session_log = {status: START}): TensorBoard drops the older points of steps >= 4.
  int files = 0;
  bool marker = false;
  for (const auto& e : fs::directory_iterator(part))
    if (e.path().filename().string().find("tfevents") != std::string::npos) {
      ++files;
      std::string s = bytes(e.path());
      if (s.find(std::string("\x10\x04\x32\x02\x08\x01", 6)) != std::string::npos) marker = true;
    }
  CHECK(files == 2);
  CHECK(marker);
}

// 3 -------------------------------------------------------------------------------------------
TEST_CASE("robust 3: a crash between the checkpoint renames resumes from latest.old", "[robust][trainer][long]") {
  fs::path full = tmp_dir("item3_full"), part = tmp_dir("item3_part");
  train(tiny(base_data(), 6), full.string(), false);
  train(tiny(base_data(), 3), part.string(), false);
  // save_checkpoint: latest -> latest.old, then latest.tmp -> latest. Crash in between:
  fs::rename(part / "checkpoints/latest", part / "checkpoints/latest.old");
  fs::create_directories(part / "checkpoints/latest.tmp");
  write(part / "checkpoints/latest.tmp/dispnet.safetensors", "partial");
  REQUIRE(resume_checkpoint_dir(part.string()) == (part / "checkpoints/latest.old").string());
  TrainConfig c;
  c.apply_file((part / "config.json").string());
  c.set("steps", "6", "test");
  TrainResult r = train(c, part.string(), true);
  REQUIRE(r.start_step == 3);
  for (const char* f : {"dispnet.safetensors", "posenet.safetensors", "optimizer.safetensors"})
    CHECK(bytes(full / "checkpoints/latest" / f) == bytes(part / "checkpoints/latest" / f));
  fs::path empty = tmp_dir("item3_empty");
  fs::create_directories(empty / "checkpoints");
  REQUIRE_THROWS_WITH(resume_checkpoint_dir(empty.string()), Catch::Contains("no checkpoint at") &&
                                                               Catch::Contains((empty / "checkpoints/latest").string()));
}

// 4 -------------------------------------------------------------------------------------------
TEST_CASE("robust 4: failure.json names a last good checkpoint only when one was written", "[robust][trainer][long]") {
  fs::path run = tmp_dir("item4");
  TrainConfig c = tiny(base_data(), 10);
  c.set("save_every", "0", "test");
  TrainHooks hooks;
  hooks.inject_nan_at_step = 1;
  TrainResult r = train(c, run.string(), false, hooks);
  REQUIRE(r.failed);
  std::ifstream f(run / "failure.json");
  json fj = json::parse(f);
  CHECK(fj["last_good_checkpoint"].is_null());
  CHECK_FALSE(fs::exists(run / "checkpoints/latest"));
  fs::path run2 = tmp_dir("item4b");
  c.set("save_every", "1", "test");
  hooks.inject_nan_at_step = 2;
  REQUIRE(train(c, run2.string(), false, hooks).failed);
  std::ifstream f2(run2 / "failure.json");
  CHECK(json::parse(f2)["last_good_checkpoint"].get<std::string>() == (run2 / "checkpoints/latest").string());
}

// 6 -------------------------------------------------------------------------------------------
TEST_CASE("robust 6: a batch larger than the data set is refused, not clamped", "[robust][trainer]") {
  TrainConfig c = tiny(base_data(), 1);
  c.set("batch", "100000", "--batch");
  REQUIRE_THROWS_WITH(train(c, tmp_dir("item6").string(), false),
                      Catch::Contains("batch 100000 is larger than the") && Catch::Contains("snippets"));
}

// 15 ------------------------------------------------------------------------------------------
TEST_CASE("robust 15: a relative --data is stored resolved, and --resume works from elsewhere", "[robust][cli][trainer][long]") {
  if (!has_sfm()) SFM_SKIP("no sfm binary");
  fs::path data = copy_data("item15_data");
  fs::path parent = data.parent_path(), run = tmp_dir("item15_run");
  std::string common = " --skip-selftest --height 32 --width 104 --batch 2 --val-every 0 --tensorboard false --workers 1";
  Run r = sfm_cli("train --data " + data.filename().string() + " --out " + run.string() + " --steps 1" + common,
                  parent.string());
  REQUIRE(r.rc == 0);
  std::ifstream f(run / "config.json");
  json cfg = json::parse(f);
  CHECK(cfg["data"].get<std::string>() == data.string());
  CHECK_THAT(cfg["_comment"].get<std::string>(), Catch::Contains("absolute path"));
  r = sfm_cli("train --resume --out " + run.string() + " --steps 2" + common, "/");
  CHECK(r.rc == 0);
}

// 21.1 ----------------------------------------------------------------------------------------
TEST_CASE("robust 21.1: --overwrite with a bad option, data or config leaves the old run as it was", "[robust][cli][long]") {
  if (!has_sfm()) SFM_SKIP("no sfm binary");
  fs::path run = tmp_dir("i21_1");
  train(tiny(base_data(), 1), run.string(), false);
  const std::string metrics_before = bytes(run / "metrics.jsonl"), config_before = bytes(run / "config.json"),
                    state_before = bytes(run / "checkpoints/latest/state.json");
  const std::string common = " --skip-selftest --overwrite --out " + run.string() +
                             " --height 32 --width 104 --batch 2 --val-every 0 --tensorboard false --steps 1";
  struct Bad {
    std::string args, says;
  };
  for (const Bad& b : {Bad{" --data " + base_data() + " --stpes 5", "unknown config key 'stpes'"},
                       Bad{" --data " + base_data() + " --steps -5", "'steps' must be >= 1"},
                       Bad{"", "no data set given (--data DIR)"},
                       Bad{" --data " + base_data() + " --config /nonexistent/c.json", "/nonexistent/c.json: cannot open"},
                       Bad{" --data /nonexistent/data", "/nonexistent/data"}}) {
    Run r = sfm_cli("train" + common + b.args);
    CHECK(r.rc == 1);
    CHECK_THAT(r.out, Catch::Contains(b.says));
    CHECK(bytes(run / "metrics.jsonl") == metrics_before);
    CHECK(bytes(run / "config.json") == config_before);
    CHECK(bytes(run / "checkpoints/latest/state.json") == state_before);
  }
  // A new run that fails at its start (here: the data set) leaves no folder behind, so the
  // corrected command is not refused as "already holds a run".
  fs::path fresh = tmp_dir("i21_1_fresh");
  Run r = sfm_cli("train --skip-selftest --out " + fresh.string() + " --data /nonexistent/data --steps 1");
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("/nonexistent/data"));
  CHECK_FALSE(fs::exists(fresh));
}

// 21.2 ----------------------------------------------------------------------------------------
TEST_CASE("robust 21.2: non-finite weights never replace a checkpoint; float32-infinite options are refused", "[robust][trainer]") {
  TrainConfig c;
  REQUIRE_THROWS_WITH(c.set("lr", "1e39", "--lr"), Catch::Contains("--lr") && Catch::Contains("'lr' is not finite in float32"));
  REQUIRE_THROWS_WITH(c.set("lr", "1e-50", "--lr"), Catch::Contains("'lr' is 0 in float32"));
  REQUIRE_THROWS_WITH(c.set("smooth_weight", "-4e38", "--smooth-weight"), Catch::Contains("not finite in float32"));
  REQUIRE_NOTHROW(c.set("lr", "3e38", "--lr"));  // large, but a float32

  fs::path run = tmp_dir("i21_2");
  TrainConfig t = tiny(base_data(), 4);
  t.set("save_every", "1", "test");
  TrainHooks hooks;
  hooks.inject_inf_weight_after_step = 1;  // the update of step index 1 (-> step 2) diverges
  TrainResult r = train(t, run.string(), false, hooks);
  REQUIRE(r.failed);
  CHECK_THAT(r.failure, Catch::Contains("step 2: non-finite values in dispnet.conv1.0.weight") &&
                            Catch::Contains("diverged") && Catch::Contains("not saved"));
  std::ifstream f(run / "failure.json");
  json fj = json::parse(f);
  CHECK(fj["last_good_checkpoint"].get<std::string>() == (run / "checkpoints/latest").string());
  CHECK(fj["last_good_checkpoint_step"].get<int64_t>() == 1);
  std::ifstream st(run / "checkpoints/latest/state.json");
  CHECK(json::parse(st)["step"].get<int64_t>() == 1);
  DispNet d;
  d.load((run / "checkpoints/latest/dispnet.safetensors").string());
  for (const Tensor& p : d.parameters()) REQUIRE(all_finite(p));
  // The kept checkpoint resumes; temporaries a killed process left are removed first, and the
  // stale failure.json goes once the resumed run has saved.
  fs::create_directories(run / "checkpoints/latest.tmp");
  write(run / "checkpoints/latest.tmp/dispnet.safetensors", "partial");
  write(run / "config.json.tmp", "{");
  TrainConfig rc;
  rc.apply_file((run / "config.json").string());
  rc.set("steps", "2", "test");
  TrainResult r2 = train(rc, run.string(), true);
  CHECK_FALSE(r2.failed);
  CHECK(r2.start_step == 1);
  CHECK(temporaries(run).empty());
  CHECK_FALSE(fs::exists(run / "failure.json"));
  // --resume --steps below the checkpoint's step is refused, the checkpoint untouched.
  std::string state = bytes(run / "checkpoints/latest/state.json");
  rc.set("steps", "1", "test");
  REQUIRE_THROWS_WITH(train(rc, run.string(), true), Catch::Contains("--steps 1 is below the step of the checkpoint") &&
                                                        Catch::Contains("(2)"));
  CHECK(bytes(run / "checkpoints/latest/state.json") == state);
  // Weights with an infinity are refused wherever they are loaded (infer, eval, --init-disp).
  DispNet bad;
  Tensor w = bad.param("conv1.0.weight").clone();
  w.data<float>()[5] = -std::numeric_limits<float>::infinity();
  bad.param("conv1.0.weight").copy_(w);
  const std::string bad_path = (run / "bad_dispnet.safetensors").string();
  bad.save(bad_path);
  REQUIRE_THROWS_WITH(DispNet().load(bad_path), Catch::Contains(bad_path) && Catch::Contains("'conv1.0.weight' holds NaN or infinite values"));
  if (has_sfm()) {
    cv::imwrite((run / "a.png").string(), cv::Mat(32, 104, CV_8UC3, cv::Scalar(40, 90, 200)));
    Run ri = sfm_cli("infer --disp-weights " + bad_path + " --input " + (run / "a.png").string() + " --out " +
                     (run / "inferred").string() + " --height 32 --width 104");
    CHECK(ri.rc == 1);
    CHECK_THAT(ri.out, Catch::Contains("holds NaN or infinite values"));
    CHECK_FALSE(fs::exists(run / "inferred"));
  }
}

// 21.3 ----------------------------------------------------------------------------------------
TEST_CASE("robust 21.3: a full disk while writing metrics.jsonl is retried, then stops the run saying so", "[robust][trainer][disk][long]") {
  fs::path mnt = tmp_dir("i21_3_disk");
  sfm::test::SmallTmpfs disk(mnt.string(), "4m");
  if (!disk.mounted()) {
    SFM_SKIP(disk.why_not);
    return;
  }
  WriteRetryPolicy p;
  p.tries = 3;
  p.first_delay_s = 0.01;
  // The checked append itself: a disk full for a moment (freed before the first retry) costs
  // nothing; a line never lands half-written.
  {
    const std::string log = (mnt / "log.jsonl").string();
    AppendFile f(log, true);
    f.append("{\"step\": 1}\n");  // the file's first page
    sfm::test::fill_disk((mnt / "filler").string());
    const std::string big(5000, 'x');  // needs a page more
    int retries = 0;
    WriteRetryPolicy relief = p;
    relief.before_retry = [&](const std::string& path, int attempt) {
      CHECK(path == log);
      CHECK(attempt == 1);
      ++retries;
      fs::remove(mnt / "filler");
    };
    {
      RetryPolicyScope scope(relief);
      f.append("{\"step\": 2, \"pad\": \"" + big + "\"}\n");
    }
    CHECK(retries == 1);
    sfm::test::fill_disk((mnt / "filler").string());
    RetryPolicyScope scope(p);
    REQUIRE_THROWS_WITH(f.append("{\"step\": 3, \"pad\": \"" + big + big + "\"}\n"),
                        Catch::Contains("cannot write " + log + ": No space left on device (tried 3 times over 0.03 s)"));
    CHECK(bytes(log) == "{\"step\": 1}\n{\"step\": 2, \"pad\": \"" + big + "\"}\n");  // whole lines only
    fs::remove(mnt / "filler");
    fs::remove(log);
  }
  // A run whose disk fills up: three free pages (the lock file, config.json and the first page of
  // metrics.jsonl, about 15 rows); the next row finds the disk full, every try fails, the run stops.
  fs::path run = mnt / "run";
  TrainConfig c = tiny(base_data(), 30);
  c.set("save_every", "0", "test");
  c.set("batch", "1", "test");  // about 16 steps to fill a page: the cheapest steps
  fill_leaving_pages(mnt, 3);
  RetryPolicyScope scope(p);
  REQUIRE_THROWS_WITH(train(c, run.string(), false),
                      Catch::Contains("sfm train: stopped at step") &&
                          Catch::Contains("cannot write " + (run / "metrics.jsonl").string()) &&
                          Catch::Contains("No space left on device") && Catch::Contains("tried 3 times") &&
                          Catch::Contains("no checkpoint was written yet"));
  std::vector<json> rows = metrics(run);  // every line whole (a cut line would not parse)
  CHECK(rows.size() >= 5);
  CHECK(rows.size() < 30);
  check_rows_consecutive(run);
  CHECK(temporaries(run).empty());
  CHECK_NOTHROW(FolderLock(run.string(), "test", "test"));  // released
}

// 21.4 ----------------------------------------------------------------------------------------
TEST_CASE("robust 21.4: SIGHUP saves the checkpoint and stops like SIGTERM", "[robust][cli][long]") {
  if (!has_sfm()) SFM_SKIP("no sfm binary");
  fs::path run = tmp_dir("i21_4"), log = tmp_dir("i21_4_log");
  std::string exe = (fs::path(SFM_BINARY_DIR) / "sfm").string();
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::freopen(log.c_str(), "w", stdout);
    std::freopen(log.c_str(), "a", stderr);
    execl(exe.c_str(), exe.c_str(), "train", "--skip-selftest", "--data", base_data().c_str(), "--out", run.c_str(),
          "--height", "32", "--width", "104", "--batch", "2", "--steps", "100000", "--val-every", "0", "--log-every",
          "1", "--save-every", "0", "--tensorboard", "false", "--workers", "1", (char*)nullptr);
    _exit(127);
  }
  for (int i = 0; i < 3000 && metrics(run).size() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  kill(pid, SIGHUP);
  int st = 0;
  waitpid(pid, &st, 0);
  std::string out = bytes(log);
  fs::remove(log);
  INFO(out);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 130);
  CHECK_THAT(out, Catch::Contains("(SIGHUP: the terminal closed); saved " + (run / "checkpoints/latest").string()));
  std::ifstream sf(run / "checkpoints/latest/state.json");
  CHECK(json::parse(sf)["step"].get<size_t>() == metrics(run).size());
  // sfm synth shares the list of stop signals: a SIGHUP removes its OUT.tmp-* like Ctrl-C does.
  fs::path dir = tmp_dir("i21_4_synth");
  fs::create_directories(dir);
  bool started = false;
  pid = start_synth_staging(dir, &started);
  kill(pid, SIGHUP);
  waitpid(pid, &st, 0);
  CHECK(started);
  REQUIRE(WIFEXITED(st));  // not killed by the signal: it stopped and cleaned up
  CHECK(WEXITSTATUS(st) == 1);
  for (const auto& e : fs::directory_iterator(dir)) CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
}

// 21.5 ----------------------------------------------------------------------------------------
TEST_CASE("robust 21.5: a run folder in use by another process is refused naming it; the lock dies with it", "[robust][trainer]") {
  fs::path run = tmp_dir("i21_5");
  fs::create_directories(run);
  TrainConfig c = tiny(base_data(), 1);
  {
    FolderLock held(run.string(), "test", "sfm train --out " + run.string());
    REQUIRE_THROWS_WITH(train(c, run.string(), false),
                        Catch::Contains("sfm train: " + run.string() + " is in use by another process (pid " +
                                        std::to_string(::getpid()) + " on host ") &&
                            Catch::Contains(" since 20") && Catch::Contains("sfm train --out " + run.string()));
    CHECK_FALSE(fs::exists(run / "config.json"));  // nothing written
  }
  // Another process holds it, then dies (SIGKILL: no cleanup runs): the lock goes with it.
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  const std::string lock_path = (run / FolderLock::file_name()).string();
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // only async-signal-safe calls in the child
    int fd = open(lock_path.c_str(), O_RDWR | O_CREAT, 0644);
    char ok = (fd >= 0 && flock(fd, LOCK_EX) == 0) ? 'y' : 'n';
    if (write(ready[1], &ok, 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  char ok = 0;
  REQUIRE(read(ready[0], &ok, 1) == 1);
  REQUIRE(ok == 'y');
  CHECK_THROWS_WITH(FolderLock(run.string(), "sfm train", "x"), Catch::Contains("is in use by another process"));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  close(ready[0]);
  close(ready[1]);
  CHECK_NOTHROW(FolderLock(run.string(), "sfm train", "x"));
}

// 21.6 ----------------------------------------------------------------------------------------
TEST_CASE("robust 21.6: a checkpoint save on a full disk removes its temporary and keeps the last checkpoint", "[robust][trainer][disk][long]") {
  fs::path mnt = tmp_dir("i21_6_disk");
  // Room for one checkpoint and a half: the second save cannot complete.
  sfm::test::SmallTmpfs disk(mnt.string(), std::to_string(checkpoint_bytes() * 3 / 2 / 1024) + "k");
  if (!disk.mounted()) {
    SFM_SKIP(disk.why_not);
    return;
  }
  fs::path run = mnt / "run";
  TrainConfig c = tiny(base_data(), 3);
  c.set("save_every", "1", "test");
  const std::string latest = (run / "checkpoints/latest").string();
  REQUIRE_THROWS_WITH(train(c, run.string(), false),
                      Catch::Contains("sfm train: stopped at step 2: cannot save the checkpoint " + latest) &&
                          Catch::Contains("No space left on device") && Catch::Contains("removed " + latest + ".tmp") &&
                          Catch::Contains(latest + " is unchanged"));
  CHECK(temporaries(run).empty());
  CHECK_FALSE(fs::exists(latest + ".tmp"));
  std::ifstream st(latest + "/state.json");
  CHECK(json::parse(st)["step"].get<int64_t>() == 1);
  DispNet d;
  d.load(latest + "/dispnet.safetensors");  // whole
  CHECK(metrics(run).size() == 2);
  struct statvfs vs {};
  REQUIRE(statvfs(mnt.c_str(), &vs) == 0);
  CHECK((double)vs.f_bavail * vs.f_frsize > 0.4 * (double)checkpoint_bytes());  // the temporary's space is back
}

// 21.7 ----------------------------------------------------------------------------------------
TEST_CASE("robust 21.7: validation frames without valid ground truth are not scored as abs rel 0", "[robust][trainer][long]") {
  fs::path data = copy_data("i21_7_data");
  int zeroed = 0;  // every validation frame's depth: no valid pixel
  std::ifstream vf(data / "val.txt");
  for (std::string scene; std::getline(vf, scene);)
    if (!scene.empty())
      for (const auto& e : fs::directory_iterator(data / scene))
        if (e.path().extension() == ".npy") {
          NpyArray a = load_npy(e.path().string());
          std::vector<float> zeros(a.data.size(), 0.0f);
          save_npy(e.path().string(), zeros.data(), a.shape);
          ++zeroed;
        }
  REQUIRE(zeroed > 0);
  fs::path run = tmp_dir("i21_7");
  TrainConfig c = tiny(data.string(), 2);
  c.set("val_every", "1", "test");
  c.set("val_batches", "1", "test");
  TrainResult r = train(c, run.string(), false);
  REQUIRE_FALSE(r.failed);
  std::vector<double> val_losses;
  for (const json& row : metrics(run))
    if (row["split"] == "val") {
      CHECK_FALSE(row.contains("abs_rel"));
      CHECK(row["depth_skipped"].get<int64_t>() == 2);  // the batch of 2 frames
      val_losses.push_back(row["loss"].get<double>());
    }
  REQUIRE(val_losses.size() == 2);
  std::ifstream st(run / "checkpoints/best/state.json");
  CHECK(json::parse(st)["best"].get<double>() == std::min(val_losses[0], val_losses[1]));  // chosen on the loss
}

// 21.8 ----------------------------------------------------------------------------------------
TEST_CASE("robust 21.8: --resume that changes the trained problem is refused unless allowed, and recorded", "[robust][trainer][long]") {
  fs::path run = tmp_dir("i21_8");
  train(tiny(base_data(), 1), run.string(), false);
  const std::string config_before = bytes(run / "config.json"), metrics_before = bytes(run / "metrics.jsonl");
  TrainConfig c;
  c.apply_file((run / "config.json").string());
  c.set("steps", "2", "test");
  c.set("preset", "pytorch-port", "--preset");
  c.set("rotation", "quat", "--rotation");
  c.set("height", "64", "--height");
  RunFolderMode mode;
  mode.resume = true;
  REQUIRE_THROWS_WITH(train(c, run.string(), mode),
                      Catch::Contains("the options change the trained problem of " + run.string()) &&
                          Catch::Contains("preset: \"original\" -> \"pytorch-port\"") &&
                          Catch::Contains("rotation: \"euler\" -> \"quat\"") && Catch::Contains("height: 32 -> 64") &&
                          Catch::Contains("--allow-change"));
  CHECK(bytes(run / "config.json") == config_before);
  CHECK(bytes(run / "metrics.jsonl") == metrics_before);
  mode.allow_change = true;
  c.set("height", "32", "--height");
  c.set("mask_weight", "0.2", "--mask-weight");  // the checkpoint's PoseExpNet has the mask decoder
  TrainResult r = train(c, run.string(), mode);
  CHECK_FALSE(r.failed);
  std::ifstream f(run / "config.json");
  json saved = json::parse(f);
  REQUIRE(saved["_changes"].size() == 1);
  CHECK(saved["_changes"][0]["resumed_at_step"].get<int64_t>() == 1);
  std::string changed = saved["_changes"][0]["changed"].dump();
  CHECK_THAT(changed, Catch::Contains("preset: \\\"original\\\" -> \\\"pytorch-port\\\"") &&
                          Catch::Contains("rotation") && !Catch::Contains("height") && !Catch::Contains("mask_weight"));
  CHECK(saved["preset"].get<std::string>() == "pytorch-port");
  TrainConfig again;
  REQUIRE_NOTHROW(again.apply_file((run / "config.json").string()));  // "_changes" is not a key
}
