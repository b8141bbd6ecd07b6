// `sfm bench train` after option parsing (lab/train/bench_train.h): the modes, their tables on
// stdout and the JSON.
#include "lab/train/bench_train.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "engine/collective.h"
#include "engine/device_runtime.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "lab/train/parallel_bench.h"
#include "lab/train/pytorch_bench.h"
#if SFM_WITH_CUDA
#include "kernels/conv.h"
#endif

namespace sfm {

namespace {

using json = nlohmann::json;
using Settings = TrainBenchSettings;

std::string mib(double bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f MiB", bytes / (1024.0 * 1024.0));
  return b;
}

void print_line(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

void write_json(const BenchTrainRequest& r, const json& report) {
  if (r.json_path.empty() || world().rank() != 0) return;
  write_file_atomic(r.json_path, report.dump(2) + "\n");
  std::printf("wrote %s\n", r.json_path.c_str());
}

// ------------------------------------------------------------------------------ --compare-cpu
int compare_devices(const BenchTrainRequest& req) {
  const Settings& s = req.settings;
  const DeviceCompareOptions& co = req.compare;
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
  std::printf("sfm bench train --compare-cpu: cpu (%s, %d threads) vs %s (%s%s)\n", req.cpu_name.c_str(),
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
                req.compare_sizes_given || co.steps > 50 ? " (calibrated at batch 2, 64x208, 50 steps)" : "");
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
  if (!req.json_path.empty()) {
    write_file_atomic(req.json_path, cmp.report(r, req.cpu_name).dump(2) + "\n");
    std::printf("wrote %s\n", req.json_path.c_str());
  }
  return r.pass ? 0 : 1;
}

// ------------------------------------------------------------------------------ the tables
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

// ------------------------------------------------------------------------------ timing
int time_parallel(const BenchTrainRequest& req, const TrainBenchOptions& o) {
  const Settings& s = req.settings;
  const bool lead = world().rank() == 0;
  if (lead) {
    std::printf("sfm bench train: %d ranks (%s), %s (%s) each\n", world().size(), world().name().c_str(),
                s.dev == Device::CUDA ? "cuda" : "cpu", o.device_description.c_str());
    std::printf(
        "batch %d per rank (global %d), %dx%d, %d frames, explainability %s (mask weight %g), 'original' loss, "
        "Adam lr 2e-4; the trainer's data-parallel step; median of %d steps after %d warm-up\n",
        s.batch, s.batch * world().size(), s.height, s.width, s.seq_length, s.mask_weight > 0 ? "on" : "off",
        s.mask_weight, s.iters, s.warmup);
  }
  const ParallelBenchResult res = run_train_bench_parallel(s, o);
  if (lead) print_parallel(s, res);
  write_json(req, res.report);
  shutdown_collective();
  return 0;
}

int time_steps(const BenchTrainRequest& req, const TrainBenchOptions& o) {
  const Settings& s = req.settings;
  std::printf("sfm bench train: %s (%s)\n", s.dev == Device::CUDA ? "cuda" : "cpu", o.device_description.c_str());
  std::printf(
      "batch %d, %dx%d, %d frames (%d sources), explainability %s (mask weight %g), 'original' loss, Adam "
      "lr 2e-4; median of %d iterations after %d warm-up\n",
      s.batch, s.height, s.width, s.seq_length, s.sources(), s.mask_weight > 0 ? "on" : "off", s.mask_weight, s.iters,
      s.warmup);
  TrainBenchResult res = run_train_bench(s, o);
  print_runs(s, res);
  if (req.pytorch) {
    std::vector<std::string> tried;
    const std::string python = find_python_with_torch(req.python, &tried);
    for (const std::string& t : tried) print_line("Python candidate " + t);
    json pt = run_pytorch_bench(s, python, find_pytorch_bench_script(req.pytorch_script),
                                pytorch_precision_for(s.dev, res.runs), print_line);
    if (!tried.empty()) pt["python_candidates"] = tried;
    const std::vector<PyTorchPairing> rows = pair_with_pytorch(pt, res.runs);
    print_pytorch(pt, rows);
    res.report["pytorch"] = pt;
    res.report["ratios"] = pytorch_ratios_json(rows);
  }
  write_json(req, res.report);
  return 0;
}

}  // namespace

void check_bench_train_settings(const TrainBenchSettings& s) {
  SFM_CHECK(s.batch >= 1, "sfm bench train: --batch must be >= 1, got ", s.batch);
  SFM_CHECK(s.height >= 16 && s.width >= 16, "sfm bench train: image size ", s.height, "x", s.width,
            " too small (at least 16x16)");
  SFM_CHECK(s.seq_length >= 3 && s.seq_length % 2 == 1, "sfm bench train: --seq-length must be odd and >= 3, got ",
            s.seq_length);
  SFM_CHECK(s.mask_weight >= 0, "sfm bench train: --mask-weight must be >= 0, got ", s.mask_weight);
  SFM_CHECK(s.iters >= 1 && s.warmup >= 1 && s.loader_iters >= 1,
            "sfm bench train: --iters, --warmup and --loader-iters must be >= 1");
  SFM_CHECK(s.workers >= 0, "sfm bench train: --workers must be >= 0, got ", s.workers);
}

RooflinePeaks bench_train_peaks(double fp32_tflops, double tf32_tflops, double gbs) {
  RooflinePeaks pk;
  pk.fp32_tflops = fp32_tflops;
  pk.tf32_tflops = tf32_tflops;
  pk.gbs = gbs;
  if (pk.fp32_tflops != 67.0 || pk.tf32_tflops != 494.7 || pk.gbs != 3350.0) {
    char b[160];
    std::snprintf(b, sizeof b, "given peaks: FP32 %g TFLOP/s, TF32 %g TFLOP/s, %g GB/s", pk.fp32_tflops, pk.tf32_tflops,
                  pk.gbs);
    pk.label = b;
  }
  SFM_CHECK(pk.fp32_tflops > 0 && pk.tf32_tflops > 0 && pk.gbs > 0, "sfm bench train: --peak-* must be > 0");
  return pk;
}

std::vector<std::string> bench_train_conv_impls(Device dev, const std::string& given_list, bool given) {
  if (dev != Device::CUDA) {
    SFM_CHECK(!given,
              "sfm bench train: --conv-impl applies to --device cuda only (the CPU always uses "
              "im2col + Eigen)");
    return {"cpu"};
  }
  SFM_CHECK(cuda_available(), "sfm bench train: --device cuda but no CUDA device is available",
#if SFM_WITH_CUDA
            ""
#else
            " (this build has no CUDA backend)"
#endif
  );
  std::string list = given_list;
#if SFM_WITH_CUDA
  if (list.empty()) list = cuda::conv_tf32_supported() ? "tf32,handwritten" : "handwritten";
#endif
  std::vector<std::string> impls;
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
  return impls;
}

int run_bench_train(const BenchTrainRequest& req) {
  const Settings& s = req.settings;
  if (req.mode == BenchTrainRequest::Mode::Roofline) {
    json report{{"tool", "sfm bench train"}, {"settings", train_bench_settings_json(s)}};
    json r = sfmlearner_roofline(s, req.peaks);
    report["roofline"] = r["roofline"];
    report["extra_traffic"] = r["extra_traffic"];
    write_json(req, report);
    return 0;
  }
  if (req.mode == BenchTrainRequest::Mode::CompareCpu) return compare_devices(req);

  TrainBenchOptions o;
  o.impls = bench_train_conv_impls(s.dev, req.conv_impls, req.conv_impls_given);
  o.data_root = req.data_root;
  o.device_description =
      s.dev == Device::CPU ? req.cpu_name + ", " + std::to_string(cpu_threads()) + " threads" : cuda_device_name();
  o.loader = req.loader;
  o.progress = print_line;
  o.partial_report = [&](const json& report) { write_json(req, report); };  // a time limit keeps finished runs
  return req.parallel ? time_parallel(req, o) : time_steps(req, o);
}

}  // namespace sfm
