// `sfm bench train`: the options, mapped onto a BenchTrainRequest for run_bench_train
// (lab/train/bench_train.h), which runs the measurement (the timed step is the trainer's
// SfMLearner::step), prints the tables and writes --json. The loader-fed half
// (lab/train/loader_bench.h) needs OpenCV and reaches this OpenCV-free file through
// bench_train_loader() (cli/bench_train_loader_cv.cpp).
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/bench.h"
#include "cli/bench_train.h"
#include "cli/command.h"
#include "engine/collective.h"
#include "engine/device_runtime.h"
#include "engine/error.h"
#include "engine/parallel.h"
#include "lab/train/bench_train.h"

namespace sfm::cli {

const TrainBenchLoader*& bench_train_loader() {
  static const TrainBenchLoader* hooks = nullptr;
  return hooks;
}

namespace {

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

  BenchTrainRequest r;
  TrainBenchSettings& s = r.settings;
  const std::string dev = a.get("device");
  SFM_CHECK(dev == "cpu" || dev == "cuda", "sfm bench train: --device must be cpu or cuda, got '", dev, "'");
  // Under a launcher: the data-parallel benchmark (lab/train/parallel_bench.h).
  r.parallel = world().size() > 1;
  if (r.parallel) {
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
  if (r.parallel) {
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
  check_bench_train_settings(s);
  if (a.get_int("threads") > 0) set_cpu_threads(a.get_int("threads"));
  r.peaks = bench_train_peaks(a.get_double("peak-fp32-tflops"), a.get_double("peak-tf32-tflops"),
                              a.get_double("peak-gbs"));
  r.mode = a.get_flag("roofline") ? BenchTrainRequest::Mode::Roofline
           : compare              ? BenchTrainRequest::Mode::CompareCpu
                                  : BenchTrainRequest::Mode::Time;
  if (compare) {
    r.compare.steps = a.get_int("steps");
    r.compare.perturb = a.get_double("perturb");
    r.compare.perturb_seed = (uint64_t)a.get_int("perturb-seed");
    r.compare.conv_impl = a.has("conv-impl") ? a.get("conv-impl") : "handwritten";
  }
  r.compare_sizes_given = a.has("batch") || a.has("height") || a.has("width");
  r.conv_impls = a.get("conv-impl");
  r.conv_impls_given = a.has("conv-impl");
  r.data_root = a.get("data");
  r.loader = bench_train_loader();
  r.pytorch = a.get_flag("pytorch");
  r.python = a.get("python");
  r.pytorch_script = a.get("pytorch-script");
  r.cpu_name = cpu_model_name();
  if (a.has("json")) r.json_path = a.get("json");
  return run_bench_train(r);
}

}  // namespace

static int bench_train_main(const std::vector<std::string>& argv) { return run_as_rank("bench train", bench_train, argv); }

SFM_COMMAND("bench train",
            "time one SfMLearner training iteration (pre-loaded and with the data loader), vs PyTorch; under mpirun the "
            "data-parallel step and its scaling",
            bench_train_main);

}  // namespace sfm::cli
