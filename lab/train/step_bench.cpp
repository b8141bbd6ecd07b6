// `sfm bench train`'s measurement (lab/train/step_bench.h).
#include "lab/train/step_bench.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <unordered_set>

#include "engine/autograd.h"
#include "boundary/device_runtime.h"
#include "boundary/error.h"
#include "engine/hash.h"
#include "engine/ops.h"
#include "cpu/parallel.h"
#include "engine/stopwatch.h"
#include "lab/train/random_batch.h"
#include "lab/train/step_graph.h"
#include "models/sfmlearner_parallel.h"

namespace sfm {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

// The three load averages of /proc/loadavg ("" when unreadable): other processes on a shared
// machine slow CPU measurements down, so the report records them.
std::string load_average() {
  std::ifstream f("/proc/loadavg");
  double a = 0, b = 0, c = 0;
  if (!(f >> a >> b >> c)) return "";
  return format("%.2f %.2f %.2f", a, b, c);
}

json timing_json(const std::vector<double>& ms, int batch) {
  if (ms.empty()) return nullptr;
  const double med = bench_median(ms);
  return json{{"ms_median", med},
              {"ms_min", *std::min_element(ms.begin(), ms.end())},
              {"ms_max", *std::max_element(ms.begin(), ms.end())},
              {"ms_all", ms},
              {"images_per_s", 1e3 * batch / med}};
}

// The step captured into a CUDA graph, timed pre-loaded and (with a loader) fed by it.
void run_graph(const TrainBenchSettings& s, SfMLearner& m, const SfMBatch& in, const std::function<SfMBatch()>& loader,
               TrainBenchRun& r) {
  if (s.dev != Device::CUDA) {
    r.graph_status = "skipped: CUDA graphs need --device cuda";
    return;
  }
  const std::string unavailable = CapturedGraph::unavailable_reason();
  if (!unavailable.empty()) {
    r.graph_status = "skipped: " + unavailable;
    return;
  }
  SfMLearnerGraph g(m, in);
  std::string why;
  if (!g.capture(&why)) {
    r.graph_status = why;
    return;
  }
  r.graph_nodes = g.nodes();
  r.graph_capture_mallocs = g.capture_mallocs();
  for (int i = 0; i < s.warmup; ++i) g.replay();
  cuda_synchronize();
  for (int i = 0; i < s.iters; ++i) {
    auto t0 = Clock::now();
    g.replay();
    cuda_synchronize();
    r.graph_ms.push_back(ms_since(t0));
  }
  if (loader) {
    for (int i = 0; i < s.warmup + s.loader_iters; ++i) {
      auto t0 = Clock::now();
      g.set_inputs(loader());
      g.replay();
      cuda_synchronize();
      if (i >= s.warmup) r.graph_loader_ms.push_back(ms_since(t0));
    }
  }
  r.graph_loss = g.loss().item();
  r.graph_status = "ok (experimental; " + std::to_string(r.graph_nodes) + " graph nodes)";
}

TrainBenchRun run_impl(const TrainBenchSettings& s, const TrainBenchOptions& o, const std::string& impl_name,
                       const SfMBatch& in, const std::string& data_root) {
  auto progress = [&](const std::string& line) {
    if (o.progress) o.progress(line);
  };
  TrainBenchRun r;
  r.impl = impl_name;
  r.precision = impl_name == "tf32" ? "tf32" : "fp32";
  if (s.dev == Device::CUDA) set_conv_impl(parse_conv_impl(impl_name));
  SfMLearner m(sfmlearner_defaults(s.dev, s.seq_length, s.mask_weight));
  Allocator& alloc = allocator_for(s.dev);

  r.tape_nodes = count_tape_nodes(m.forward_loss(in).total);  // device independent
  progress(format("  [%s] warm-up: %d iterations", impl_name.c_str(), s.warmup));
  for (int i = 0; i < s.warmup; ++i) train_bench_step(m, in);
  cuda_synchronize();

  // pre-loaded batch
  alloc.reset_peak();
  r.mem_before = alloc.stats();
  std::vector<StepPhases> ph;
  Tensor last;
  for (int i = 0; i < s.iters; ++i) {
    auto t0 = Clock::now();
    StepPhases p;
    last = train_bench_step(m, in, s.dev == Device::CPU ? &p : nullptr).total;
    cuda_synchronize();
    r.ms.push_back(ms_since(t0));
    if (s.dev == Device::CPU) ph.push_back(p);
    progress(format("  [%s] pre-loaded iteration %d/%d: %.2f ms", impl_name.c_str(), i + 1, s.iters, r.ms.back()));
  }
  r.mem_after = alloc.stats();
  r.loss_last = last.item();
  r.weights_hash_after_timed = sfmlearner_weights_hash(m);
  if (s.dev == Device::CUDA) {  // the breakdown from a separate, phase-synchronised pass
    for (int i = 0; i < std::min(s.iters, 20); ++i) {
      StepPhases p;
      train_bench_step(m, in, &p);
      ph.push_back(p);
    }
  }
  auto med_of = [&](double StepPhases::*f) {
    std::vector<double> v;
    for (const StepPhases& p : ph) v.push_back(p.*f);
    return bench_median(v);
  };
  r.phases = {med_of(&StepPhases::forward), med_of(&StepPhases::loss), med_of(&StepPhases::backward),
              med_of(&StepPhases::adam)};

  // fed by the data loader
  std::function<SfMBatch()> loader;  // the next batch (CPU, normalised); empty: no loader run
  if (s.loader && o.loader) {
    loader = o.loader->open(data_root, s);
    for (int i = 0; i < s.warmup + s.loader_iters; ++i) {
      auto t0 = Clock::now();
      SfMBatch b = loader();
      const double wait = ms_since(t0);
      train_bench_step(m, b.to(s.dev));
      cuda_synchronize();
      if (i < s.warmup) continue;
      r.loader_ms.push_back(ms_since(t0));
      r.loader_wait_ms.push_back(wait);
      progress(format("  [%s] loader iteration %d/%d: %.2f ms (waited %.2f ms for the batch)", impl_name.c_str(),
                      i - s.warmup + 1, s.loader_iters, r.loader_ms.back(), wait));
    }
  }
  if (s.cuda_graph) run_graph(s, m, in, loader, r);
  return r;
}

json run_json(const TrainBenchSettings& s, const TrainBenchRun& r) {
  const double med = bench_median(r.ms), lmed = bench_median(r.loader_ms);
  json j{{"conv_impl", r.impl},
         {"precision", r.precision},
         {"preloaded", timing_json(r.ms, s.batch)},
         {"breakdown_ms_median",
          {{"forward", r.phases.forward},
           {"loss", r.phases.loss},
           {"backward", r.phases.backward},
           {"adam", r.phases.adam}}},
         {"breakdown_note", s.dev == Device::CPU ? "from the timed iterations (no synchronisation needed on the CPU)"
                                                 : "separate pass, device synchronised at each phase boundary"},
         {"memory",
          {{"peak_bytes", r.mem_after.peak_bytes},
           {"bytes_before_timed_iterations", r.mem_before.current_bytes},
           {"reserved_bytes", r.mem_after.reserved_bytes},
           {"system_allocs_during_timed_iterations", r.mem_after.system_allocs - r.mem_before.system_allocs},
           {"note", s.dev == Device::CPU ? "engine tensor storage (CPU allocator); excludes library scratch"
                                         : "CUDA caching allocator: bytes handed out; reserved = held from cudaMalloc"}}},
         {"loss_last", r.loss_last},
         {"weights_fnv1a_after_timed", format("%016llx", (unsigned long long)r.weights_hash_after_timed)},
         {"autograd_nodes_per_iteration", r.tape_nodes}};
  if (!r.loader_ms.empty())
    j["loader"] = {{"timing", timing_json(r.loader_ms, s.batch)},
                   {"wait_ms_median", bench_median(r.loader_wait_ms)},
                   {"ratio_preloaded_over_loader", med / lmed},
                   {"workers", s.workers}};
  if (s.cuda_graph) {
    j["cuda_graph"] = {{"status", r.graph_status},
                       {"preloaded", timing_json(r.graph_ms, s.batch)},
                       {"loader", timing_json(r.graph_loader_ms, s.batch)},
                       {"graph_nodes", r.graph_nodes},
                       {"cudamalloc_during_capture", r.graph_capture_mallocs},
                       {"loss_last", std::isfinite(r.graph_loss) ? json(r.graph_loss) : json(nullptr)}};
  }
  return j;
}

}  // namespace

BenchTempDir::BenchTempDir() {
  std::string templ = (fs::temp_directory_path() / "sfm-bench-train-XXXXXX").string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  SFM_CHECK(mkdtemp(buf.data()) != nullptr, "sfm bench train: cannot create a temporary folder under ",
            fs::temp_directory_path().string());
  path_ = buf.data();
}

BenchTempDir::~BenchTempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

double bench_median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

StepLosses train_bench_step(SfMLearner& m, const SfMBatch& b, StepPhases* phases, DataParallelStep* parallel) {
  StepControl c;
  c.skip_non_finite = false;
  using Clock = std::chrono::steady_clock;
  auto t = Clock::now();
  if (phases)
    c.at_phase_end = [&t, phases](StepPhase p) {
      cuda_synchronize();
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t).count();
      switch (p) {
        case StepPhase::Forward: phases->forward = ms; break;
        case StepPhase::Loss: phases->loss = ms; break;
        case StepPhase::Backward: phases->backward = ms; break;
        case StepPhase::Adam: phases->adam = ms; break;
      }
      t = Clock::now();
    };
  if (parallel) parallel->attach(c);
  return m.step(b, c);
}

SfMBatch train_bench_batch(const TrainBenchSettings& s) {
  return normalized(random_batch(s.batch, s.height, s.width, s.sources(), 12345, s.dev));
}

int64_t count_tape_nodes(const Tensor& root) {
  std::unordered_set<const Node*> seen;
  std::vector<const Node*> stack;
  if (root.grad_fn()) stack.push_back(root.grad_fn().get());
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    if (!seen.insert(n).second) continue;
    for (const Tensor& in : n->inputs)
      if (in.defined() && in.grad_fn()) stack.push_back(in.grad_fn().get());
  }
  return (int64_t)seen.size();
}

json train_bench_settings_json(const TrainBenchSettings& s) {
  return json{{"device", s.dev == Device::CUDA ? "cuda" : "cpu"},
              {"batch", s.batch},
              {"height", s.height},
              {"width", s.width},
              {"seq_length", s.seq_length},
              {"mask_weight", s.mask_weight},
              {"iters", s.iters},
              {"warmup", s.warmup},
              {"loader_iters", s.loader_iters},
              {"workers", s.workers},
              {"loss_preset", "original"},
              {"optimizer", "Adam lr 2e-4"},
              {"input",
               "seeded smooth random images in [0,255] (lab/train/random_batch.h random_batch), normalised to [-1,1] "
               "before timing; KITTI-like K"}};
}

TrainBenchResult run_train_bench(const TrainBenchSettings& s, const TrainBenchOptions& o) {
  auto progress = [&](const std::string& line) {
    if (o.progress) o.progress(line);
  };
  SFM_CHECK(!o.impls.empty(), "sfm bench train: no convolution implementation to run");
  const bool loader = s.loader && o.loader;
  TrainBenchResult res;
  json& report = res.report;
  report = json{{"tool", "sfm bench train"}, {"settings", train_bench_settings_json(s)}};
  report["device_name"] = o.device_description;
  report["threads"] = cpu_threads();

  BenchTempDir tmp;
  std::string data_root = o.data_root;
  if (loader) {
    if (data_root.empty()) {
      data_root = tmp.path() + "/data";
      progress("generating a small synthetic data set for the loader run ...");
      report["data"] = o.loader->make_synthetic_set(data_root, s);
    } else {
      report["data"] = json{{"source", data_root}};
    }
    // At least 4x the prefetch depth, so the batches queued before timing weigh little.
    TrainBenchLoaderAlone& la = res.loader_alone;
    la.batches = std::max(16, 2 * s.loader_iters);
    la.workers = s.workers;
    la.one_thread_ms = o.loader->alone_ms(data_root, s, 0, la.batches, false);
    la.workers_ms = s.workers > 0 ? o.loader->alone_ms(data_root, s, s.workers, la.batches, false) : la.one_thread_ms;
    la.in_memory_ms = o.loader->alone_ms(data_root, s, 0, la.batches, true);
    report["loader_alone"] = {{"batches", la.batches},
                              {"ms_per_batch_one_thread", la.one_thread_ms},
                              {"ms_per_batch_workers", la.workers_ms},
                              {"ms_per_batch_one_thread_in_memory", la.in_memory_ms},
                              {"workers", s.workers}};
    progress(format(
        "loader alone (no training; decode, resize, augment, batch %d): %.2f ms/batch on the calling thread, "
        "%.2f ms/batch with %d workers; frames pre-decoded in memory: %.2f ms/batch on the calling thread "
        "(%d batches back to back each)",
        s.batch, la.one_thread_ms, la.workers_ms, s.workers, la.in_memory_ms, la.batches));
  }
  if (!o.loader) {
    progress("loader-fed run skipped: this sfm was built without OpenCV (the data loader decodes images with it)");
    report["loader_alone"] = json{{"skipped", "built without OpenCV"}};
  }
  const SfMBatch in = train_bench_batch(s);
  res.load_average_before = load_average();
  report["load_average_before"] = res.load_average_before;
  report["runs"] = json::array();
  for (const std::string& impl : o.impls) {
    res.runs.push_back(run_impl(s, o, impl, in, data_root));
    report["runs"].push_back(run_json(s, res.runs.back()));
    if (o.partial_report) o.partial_report(report);
  }
  res.load_average_after = load_average();
  report["load_average_after"] = res.load_average_after;
  return res;
}

uint64_t sfmlearner_weights_hash(SfMLearner& m) {
  uint64_t h = kFnv1aOffset;
  for (const Tensor& p : m.parameters()) {
    const std::vector<float> v = p.to_vector();
    h = fnv1a64(v.data(), v.size() * sizeof(float), h);
  }
  return h;
}

}  // namespace sfm
