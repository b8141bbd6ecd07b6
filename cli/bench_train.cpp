// `sfm bench train`: option parsing and printing. The measurement is models/sfmlearner_bench.h
// (the timed step is the trainer's SfMLearner::step), the PyTorch comparison
// models/sfmlearner_bench_pytorch.h, --compare-cpu models/sfmlearner_compare.h, the loader-fed
// half train/bench_loader.h (OpenCV builds, via bench_train_loader()), --roofline
// models/sfmlearner_roofline.h. Table on stdout; --json FILE also writes everything as JSON
// (written atomically).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/bench.h"
#include "cli/bench_train.h"
#include "cli/command.h"
#include "engine/collective.h"
#include "engine/device_runtime.h"
#include "engine/file_io.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "models/sfmlearner_bench.h"
#include "models/sfmlearner_bench_parallel.h"
#include "models/sfmlearner_bench_pytorch.h"
#include "models/sfmlearner_compare.h"
#include "models/sfmlearner_roofline.h"
#if SFM_WITH_CUDA
#include "kernels/conv.h"
#endif

namespace sfm::cli {

const TrainBenchLoader*& bench_train_loader() {
  static const TrainBenchLoader* hooks = nullptr;
  return hooks;
}

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Settings = BenchTrainSettings;

std::string mib(double bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f MiB", bytes / (1024.0 * 1024.0));
  return b;
}

void print_line(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

// ------------------------------------------------------------------------------ --compare-cpu
int compare_devices(const Settings& s, const DeviceCompareOptions& co, const std::string& json_path, bool sizes_given) {
  DeviceComparison cmp(s, co);
  const bool cuda = s.dev == Device::CUDA;
  if (!cmp.device_available()) {
    std::fprintf(stderr,
                 "sfm bench train --compare-cpu --device cuda: no CUDA device is available%s; nothing was "
                 "compared\n",
#if SFM_WITH_CUDA
                 ""
#else
                 " (this build has no CUDA backend)"
#endif
    );
    return 2;
  }
  const std::string dev_name = cuda ? "cuda" : "cpu";
  std::printf("sfm bench train --compare-cpu: cpu (%s, %d threads) vs %s (%s%s)\n", cpu_model_name().c_str(),
              cpu_threads(), dev_name.c_str(), cuda ? cuda_device_name().c_str() : "a second CPU run",
              cuda ? (", conv " + cmp.impl()).c_str() : "");
  std::printf(
      "batch %d, %dx%d, %d frames, mask weight %g, 'original' loss, Adam lr 2e-4, seed 0; %d steps%s\n", s.batch,
      s.height, s.width, s.seq_length, s.mask_weight, co.steps,
      co.perturb > 0 ? (", second run's initial weights perturbed by " + std::to_string(co.perturb) + " relative").c_str()
                     : "");
  if (cmp.exact())
    std::printf("rule: bit-identical losses at every step\n");
  else
    std::printf("rule: step 0 within 1e-4 relative; later steps within the measured drift bound%s\n",
                sizes_given || co.steps > 50 ? " (calibrated at batch 2, 64x208, 50 steps)" : "");
  std::printf("\n%5s %16s %16s %12s %10s %s\n", "step", "cpu loss", (dev_name + " loss").c_str(), "rel diff", "bound",
              "");
  const DeviceCompareResult r = cmp.run([](const DeviceCompareStep& st) {
    std::printf("%5d %16.9g %16.9g %12.3e %10.1e %s\n", st.step, st.cpu_loss, st.loss, st.rel_diff, st.bound,
                st.ok ? "ok" : "FAIL");
    std::fflush(stdout);
  });
  std::printf("\n%s: max relative difference %.3e over %d steps%s; cpu %.1f s (%.3f s/step), %s %.1f s\n",
              r.pass ? "PASS" : "FAIL", r.max_rel_diff, co.steps,
              r.pass ? "" : (", first failing step " + std::to_string(r.first_failing_step)).c_str(), r.cpu_seconds,
              r.cpu_seconds / co.steps, dev_name.c_str(), r.device_seconds);
  if (!json_path.empty()) {
    write_file_atomic(json_path, cmp.report(r, cpu_model_name()).dump(2) + "\n");
    std::printf("wrote %s\n", json_path.c_str());
  }
  return r.pass ? 0 : 1;
}

// ------------------------------------------------------------------------------ printing
void print_runs(const Settings& s, const TrainBenchResult& res) {
  std::printf("\nload average (1, 5, 15 min) before %s, after %s (%d CPUs)\n", res.load_average_before.c_str(),
              res.load_average_after.c_str(), (int)sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("\n%-12s %-9s %10s %9s %9s %9s %12s %12s %10s %8s\n", "conv impl", "precision", "median ms", "min ms",
              "max ms", "images/s", "peak memory", "loader ms", "loader ms", "ratio");
  std::printf("%-12s %-9s %10s %9s %9s %9s %12s %12s %10s %8s\n", "", "", "/iter", "", "", "", "(allocator)", "/iter",
              "wait", "");
  for (const TrainBenchRun& r : res.runs) {
    const double med = bench_median(r.ms), lmed = bench_median(r.loader_ms);
    const double ratio = r.loader_ms.empty() ? NAN : med / lmed;
    std::printf("%-12s %-9s %10.2f %9.2f %9.2f %9.2f %12s %12.2f %10.2f %8.3f\n", r.impl.c_str(), r.precision.c_str(),
                med, *std::min_element(r.ms.begin(), r.ms.end()), *std::max_element(r.ms.begin(), r.ms.end()),
                1e3 * s.batch / med, mib((double)r.mem_after.peak_bytes).c_str(), lmed,
                bench_median(r.loader_wait_ms), ratio);
  }
  std::printf("\nbreakdown of the median iteration (ms; %s):\n",
              s.dev == Device::CPU ? "from the timed iterations" : "separate pass, synchronised at each phase");
  for (const TrainBenchRun& r : res.runs)
    std::printf(
        "  %-12s forward %.2f, loss %.2f, backward %.2f, adam %.2f; %lld autograd nodes per iteration; "
        "last loss %.5f\n",
        r.impl.c_str(), r.phases.forward, r.phases.loss, r.phases.backward, r.phases.adam, (long long)r.tape_nodes,
        r.loss_last);
  if (s.cuda_graph)
    for (const TrainBenchRun& r : res.runs) {
      std::printf("  %-12s CUDA graph: %s", r.impl.c_str(), r.graph_status.c_str());
      if (!r.graph_ms.empty()) std::printf("; median %.3f ms/iter pre-loaded", bench_median(r.graph_ms));
      if (!r.graph_loader_ms.empty()) std::printf(", %.3f ms/iter with the loader", bench_median(r.graph_loader_ms));
      std::printf("\n");
    }
  if (s.loader) std::printf("ratio = pre-loaded ms / loader ms (1.0: the loader costs nothing; target >= 0.9)\n");
}

// Under a launcher (mpirun -np N): rank 0 prints the job's figures.
void print_parallel(const Settings& s, const ParallelBenchResult& res) {
  std::printf("\n%-12s %12s %10s | %12s %10s %10s | %s\n", "conv impl", "1 rank ms", "images/s", "job step ms",
              "images/s", "efficiency", "per rank: step ms, gradient all-reduce ms (share of the step)");
  for (const ParallelBenchRun& r : res.runs) {
    std::string ranks;
    for (size_t k = 0; k < r.step_ms_median.size(); ++k) {
      char b[96];
      std::snprintf(b, sizeof b, "%s%zu: %.2f, %.2f (%.0f%%)", k ? "; " : "", k, r.step_ms_median[k],
                    r.allreduce_ms_median[k], 100.0 * r.allreduce_ms_median[k] / r.step_ms_median[k]);
      ranks += b;
    }
    std::printf("%-12s %12.2f %10.3f | %12.2f %10.3f %10.3f | %s\n", r.impl.c_str(), bench_median(r.one_rank_ms),
                r.one_rank_images_per_s(s.batch), r.job_step_ms, r.job_images_per_s(s.batch),
                r.scaling_efficiency(s.batch), ranks.c_str());
    std::printf("%-12s %zu gradient floats (%.1f MiB) averaged per step; weights after the job's steps %s\n", "",
                r.gradient_floats, 4.0 * r.gradient_floats / (1024.0 * 1024.0),
                r.weights_identical ? "bit-identical on every rank" : "DIFFER between ranks");
  }
  std::printf(
      "efficiency = job images/s / (%d x one rank's images/s); one rank = rank 0 alone while the others wait at a "
      "barrier\n",
      res.ranks);
}

void print_pytorch(const json& pt, const std::vector<PyTorchPairing>& rows) {
  std::printf("\n%-10s %-9s %12s %12s | %-12s %12s %10s %12s\n", "pytorch", "precision", "median ms", "peak memory",
              "ours", "median ms", "speed-up", "memory ratio");
  for (const PyTorchPairing& p : rows) {
    if (p.failed) {
      std::printf("%-10s %-9s %s\n", p.mode.c_str(), p.precision.c_str(), p.error.c_str());
      continue;
    }
    std::printf("%-10s %-9s %12.2f %12s | %-12s %12.2f %9.2fx %12s\n", p.mode.c_str(), p.precision.c_str(),
                p.pytorch_ms, std::isfinite(p.pytorch_peak_bytes) ? mib(p.pytorch_peak_bytes).c_str() : "n/a",
                p.ours_impl.c_str(), p.ours_ms, p.speedup,
                std::isfinite(p.memory_ratio) ? (std::to_string(p.memory_ratio).substr(0, 5)).c_str() : "n/a");
  }
  if (pt.value("compile_unavailable_reason", json()).is_string())
    std::printf("%-10s %s\n", "compile", pt["compile_unavailable_reason"].get<std::string>().c_str());
  std::printf(
      "speed-up = PyTorch ms / ours (targets on the GPU: >= 5x eager, >= 2x torch.compile); memory ratio = "
      "our allocator peak / torch.cuda.max_memory_allocated (target < 1)\n");
}

// ------------------------------------------------------------------------------ the command
int bench_train(const std::vector<std::string>& argv) {
  Args a("bench train",
         "Times one SfMLearner training iteration (zero_grad, DispNet + PoseExpNet forward, the four-scale loss, "
         "backward, Adam) on a batch already on the device, and fed by the real data loader; reports the median "
         "ms/iteration, images/s, the allocator's peak memory and the loader's share of the pre-loaded speed. "
         "--pytorch also times the PyTorch reference (tests/reference/bench_train.py) and prints the ratios. "
         "--compare-cpu runs the same training on the CPU and on --device, step by step, and checks that the "
         "losses agree (exit status 1 when they do not, 2 when --device cuda has no GPU). Under mpirun -np N (or srun) "
         "it times the trainer's data-parallel step instead: rank 0 alone, then all N ranks with the gradient "
         "all-reduce; it reports the job's images/s, each rank's all-reduce time and share of its step, and the "
         "scaling efficiency (--batch is then per rank).");
  a.option("device", "cpu or cuda", "cpu")
      .option("batch", "batch size (default 4; --compare-cpu: 2)", "")
      .option("height", "image height (default 128; --compare-cpu: 64)", "")
      .option("width", "image width (default 416; --compare-cpu: 208)", "")
      .option("seq-length", "frames per snippet (odd, >= 3)", "3")
      .option("mask-weight", "explainability weight (0: no mask decoder)", "0.2")
      .option("iters", "timed iterations (default: CPU 3, CUDA 50)", "")
      .option("warmup", "untimed iterations first (default: CPU 1, CUDA 10)", "")
      .option("loader-iters", "timed iterations of the loader-fed run (default: --iters)", "")
      .option("data",
              "formatted data set for the loader run (default: a small synthetic set in a temporary folder; "
              "needs an OpenCV build)",
              "")
      .option("workers", "data loader threads (default 2; needs an OpenCV build)", "")
      .option("conv-impl",
              "CUDA convolutions: comma-separated list of handwritten,tf32,cudnn,cublas (default tf32,handwritten "
              "where TF32 exists, else handwritten)",
              "")
      .option("threads", "CPU threads (0: all)", "0")
      .option("python",
              "Python interpreter for --pytorch (auto: the first of python3 on PATH, /usr/bin/python3, "
              "/usr/local/bin/python3, /opt/*/.venv/bin/python3 that imports torch; the JSON records which)",
              "auto")
      .option("pytorch-script",
              "the reference benchmark (default: tests/reference/bench_train.py, found from the current "
              "folder or the executable's)",
              "")
      .option("peak-fp32-tflops", "roofline: FP32 peak, TFLOP/s (default: H100 SXM5 datasheet)", "67")
      .option("peak-tf32-tflops", "roofline: TF32 tensor-core peak, dense, TFLOP/s (default: H100 SXM5 datasheet)",
              "494.7")
      .option("peak-gbs", "roofline: DRAM bandwidth, GB/s (default: H100 SXM5 datasheet)", "3350")
      .option("json", "also write the results as JSON to this file", "")
      .flag("pytorch", "also time the PyTorch reference with the same settings and print the ratios")
      .option("steps", "--compare-cpu: training steps compared", "50")
      .option("perturb",
              "--compare-cpu: multiply the compared run's initial weights by 1 + u*REL, u uniform in [-1, 1] "
              "(how the drift bound was measured; 0: the same weights)",
              "0")
      .option("perturb-seed", "--compare-cpu: seed of the --perturb draws", "777")
      .flag("no-loader", "skip the loader-fed run")
      .flag("compare-cpu",
            "train --steps steps on the CPU and on --device from the same weights and batches; print the per-step "
            "losses and their relative difference and check them (--device cpu: a second CPU run, bit-identical "
            "unless --perturb)")
      .flag("cuda-graph", "experimental, CUDA only: also time the step captured into a CUDA graph")
      .flag("roofline", "print the per-layer roofline table (datasheet floors) and exit");
  if (!a.parse(argv)) return 0;

  Settings s;
  const std::string dev = a.get("device");
  SFM_CHECK(dev == "cpu" || dev == "cuda", "sfm bench train: --device must be cpu or cuda, got '", dev, "'");
  // Under a launcher: the data-parallel benchmark (models/sfmlearner_bench_parallel.h).
  const bool parallel = world().size() > 1;
  if (parallel) {
    for (const char* f : {"compare-cpu", "roofline", "pytorch", "cuda-graph"})
      SFM_CHECK(!a.get_flag(f), "sfm bench train: --", f,
                " is a single-process measurement: run it without mpirun (under mpirun the command times the "
                "data-parallel step)");
    for (const char* f : {"data", "workers", "loader-iters"})
      SFM_CHECK(!a.has(f), "sfm bench train: --", f,
                " configures the loader-fed run, which runs without mpirun only (under mpirun every rank trains on "
                "a pre-loaded batch)");
    if (dev == "cuda") use_local_rank_cuda_device();  // before the first CUDA call
  }
  s.dev = dev == "cuda" ? Device::CUDA : Device::CPU;
  const bool compare = a.get_flag("compare-cpu");
  s.batch = a.has("batch") ? a.get_int("batch") : compare ? 2 : 4;
  s.height = a.has("height") ? a.get_int("height") : compare ? 64 : 128;
  s.width = a.has("width") ? a.get_int("width") : compare ? 208 : 416;
  s.seq_length = a.get_int("seq-length");
  s.mask_weight = a.get_double("mask-weight");
  s.iters = a.has("iters") ? a.get_int("iters") : (s.dev == Device::CPU ? 3 : 50);
  s.warmup = a.has("warmup") ? a.get_int("warmup") : (s.dev == Device::CPU ? 1 : 10);
  s.loader_iters = a.has("loader-iters") ? a.get_int("loader-iters") : s.iters;
  s.workers = a.has("workers") ? a.get_int("workers") : 2;
  if (parallel) {
    s.loader = false;
  } else if (bench_train_loader()) {
    s.loader = !a.get_flag("no-loader");
  } else {
    // The loader-fed run decodes images with OpenCV (train/data/loader.h, cli/bench_train_loader_cv.cpp).
    for (const char* o : {"data", "workers", "loader-iters"})
      SFM_CHECK(!a.has(o), "sfm bench train: --", o,
                " configures the loader-fed run, which needs an OpenCV build (this sfm was built without OpenCV; "
                "the pre-loaded timing runs without it)");
    s.loader = false;
  }
  s.cuda_graph = a.get_flag("cuda-graph");
  SFM_CHECK(s.batch >= 1, "sfm bench train: --batch must be >= 1, got ", s.batch);
  SFM_CHECK(s.height >= 16 && s.width >= 16, "sfm bench train: image size ", s.height, "x", s.width,
            " too small (at least 16x16)");
  SFM_CHECK(s.seq_length >= 3 && s.seq_length % 2 == 1, "sfm bench train: --seq-length must be odd and >= 3, got ",
            s.seq_length);
  SFM_CHECK(s.mask_weight >= 0, "sfm bench train: --mask-weight must be >= 0, got ", s.mask_weight);
  SFM_CHECK(s.iters >= 1 && s.warmup >= 1 && s.loader_iters >= 1,
            "sfm bench train: --iters, --warmup and --loader-iters must be >= 1");
  SFM_CHECK(s.workers >= 0, "sfm bench train: --workers must be >= 0, got ", s.workers);
  if (a.get_int("threads") > 0) set_cpu_threads(a.get_int("threads"));
  RooflinePeaks pk;
  pk.fp32_tflops = a.get_double("peak-fp32-tflops");
  pk.tf32_tflops = a.get_double("peak-tf32-tflops");
  pk.gbs = a.get_double("peak-gbs");
  if (pk.fp32_tflops != 67.0 || pk.tf32_tflops != 494.7 || pk.gbs != 3350.0) {
    char b[160];
    std::snprintf(b, sizeof b, "given peaks: FP32 %g TFLOP/s, TF32 %g TFLOP/s, %g GB/s", pk.fp32_tflops, pk.tf32_tflops,
                  pk.gbs);
    pk.label = b;
  }
  SFM_CHECK(pk.fp32_tflops > 0 && pk.tf32_tflops > 0 && pk.gbs > 0, "sfm bench train: --peak-* must be > 0");

  auto write_json = [&](const json& report) {
    if (!a.has("json") || world().rank() != 0) return;
    write_file_atomic(a.get("json"), report.dump(2) + "\n");
    std::printf("wrote %s\n", a.get("json").c_str());
  };

  if (a.get_flag("roofline")) {
    json report{{"tool", "sfm bench train"}, {"settings", train_bench_settings_json(s)}};
    json r = sfmlearner_roofline(s, pk);
    report["roofline"] = r["roofline"];
    report["extra_traffic"] = r["extra_traffic"];
    write_json(report);
    return 0;
  }
  if (compare) {
    DeviceCompareOptions co;
    co.steps = a.get_int("steps");
    co.perturb = a.get_double("perturb");
    co.perturb_seed = (uint64_t)a.get_int("perturb-seed");
    co.conv_impl = a.has("conv-impl") ? a.get("conv-impl") : "handwritten";
    return compare_devices(s, co, a.get("json"), a.has("batch") || a.has("height") || a.has("width"));
  }

  std::vector<std::string> impls;
  if (s.dev == Device::CUDA) {
    SFM_CHECK(cuda_available(), "sfm bench train: --device cuda but no CUDA device is available",
#if SFM_WITH_CUDA
              ""
#else
              " (this build has no CUDA backend)"
#endif
    );
    std::string list = a.get("conv-impl");
#if SFM_WITH_CUDA
    if (list.empty()) list = cuda::conv_tf32_supported() ? "tf32,handwritten" : "handwritten";
#endif
    size_t p = 0;
    while (p <= list.size()) {
      size_t q = list.find(',', p);
      if (q == std::string::npos) q = list.size();
      std::string name = list.substr(p, q - p);
      if (!name.empty()) {
        parse_conv_impl(name);  // throws on an unknown name
#if SFM_WITH_CUDA
        SFM_CHECK(name != "tf32" || cuda::conv_tf32_supported(),
                  "sfm bench train: --conv-impl tf32 needs sm_80 or newer (this device: ", cuda_device_name(), ")");
#endif
#if !SFM_WITH_CUDNN
        SFM_CHECK(name != "cudnn", "sfm bench train: --conv-impl cudnn: this build has no cuDNN");
#endif
        impls.push_back(name);
      }
      p = q + 1;
    }
    SFM_CHECK(!impls.empty(), "sfm bench train: --conv-impl lists no implementation");
  } else {
    SFM_CHECK(!a.has("conv-impl"),
              "sfm bench train: --conv-impl applies to --device cuda only (the CPU always uses "
              "im2col + Eigen)");
    impls.push_back("cpu");
  }

  TrainBenchOptions o;
  o.impls = impls;
  o.data_root = a.get("data");
  o.device_description =
      s.dev == Device::CPU ? cpu_model_name() + ", " + std::to_string(cpu_threads()) + " threads" : cuda_device_name();
  o.loader = bench_train_loader();
  o.progress = print_line;
  o.partial_report = write_json;  // each implementation's run as it ends (a time limit keeps them)
  if (parallel) {
    const bool lead = world().rank() == 0;
    if (lead) {
      std::printf("sfm bench train: %d ranks (%s), %s (%s) each\n", world().size(), world().name().c_str(), dev.c_str(),
                  o.device_description.c_str());
      std::printf(
          "batch %d per rank (global %d), %dx%d, %d frames, explainability %s (mask weight %g), 'original' loss, "
          "Adam lr 2e-4; the trainer's data-parallel step; median of %d steps after %d warm-up\n",
          s.batch, s.batch * world().size(), s.height, s.width, s.seq_length, s.mask_weight > 0 ? "on" : "off",
          s.mask_weight, s.iters, s.warmup);
    }
    const ParallelBenchResult res = run_train_bench_parallel(s, o);
    if (lead) print_parallel(s, res);
    write_json(res.report);
    shutdown_collective();
    return 0;
  }
  std::printf("sfm bench train: %s (%s)\n", dev.c_str(), o.device_description.c_str());
  std::printf(
      "batch %d, %dx%d, %d frames (%d sources), explainability %s (mask weight %g), 'original' loss, Adam "
      "lr 2e-4; median of %d iterations after %d warm-up\n",
      s.batch, s.height, s.width, s.seq_length, s.sources(), s.mask_weight > 0 ? "on" : "off", s.mask_weight, s.iters,
      s.warmup);
  TrainBenchResult res = run_train_bench(s, o);
  print_runs(s, res);
  if (a.get_flag("pytorch")) {
    std::vector<std::string> tried;
    const std::string python = find_python_with_torch(a.get("python"), &tried);
    for (const std::string& t : tried) print_line("Python candidate " + t);
    json pt = run_pytorch_bench(s, python, find_pytorch_bench_script(a.get("pytorch-script")),
                                pytorch_precision_for(s.dev, res.runs), print_line);
    if (!tried.empty()) pt["python_candidates"] = tried;
    const std::vector<PyTorchPairing> rows = pair_with_pytorch(pt, res.runs);
    print_pytorch(pt, rows);
    res.report["pytorch"] = pt;
    res.report["ratios"] = pytorch_ratios_json(rows);
  }
  write_json(res.report);
  return 0;
}

}  // namespace

static int bench_train_main(const std::vector<std::string>& argv) { return run_as_rank("bench train", bench_train, argv); }

SFM_COMMAND("bench train",
            "time one SfMLearner training iteration (pre-loaded and with the data loader), vs PyTorch; under mpirun the "
            "data-parallel step and its scaling",
            bench_train_main);

}  // namespace sfm::cli
