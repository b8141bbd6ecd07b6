// `sfm bench train`: the time of one SfMLearner training iteration (issue 8).
//
// An iteration is what `sfm train` runs per step: zero_grad, DispNet and PoseExpNet forward,
// the four-scale loss (models/sfm_loss.h, 'original' preset with the explainability mask at
// --mask-weight), backward, one Adam step (lr 2e-4). Reported, per convolution implementation
// (--conv-impl, a comma-separated list; CUDA only):
//   * pre-loaded: the median wall time per iteration (the device synchronised at the end of
//     each) after --warmup untimed iterations, with the batch already on the device (random
//     images in [-1, 1], KITTI intrinsics), and images/s;
//   * the breakdown of the median iteration into forward, loss, backward and Adam (on CUDA from
//     a separate pass with a synchronisation at each phase boundary);
//   * peak memory: the device allocator's peak bytes over the timed iterations (reset after the
//     warm-up; parameters, gradients and Adam state count), and on CUDA the reserved bytes;
//   * the same iteration fed by the real data loader (train/loader.h, augmentation on, batch
//     copied to the device each step) from --data, or from a small synthetic data set
//     (train/synth_world.h) generated into a temporary folder; its median and the ratio
//     pre-loaded / loader (the share of the pre-loaded speed the loader sustains);
//   * --cuda-graph (CUDA only, experimental): the same step captured once into a CUDA graph
//     and replayed (see graph_step for what the capture needs).
// --pytorch runs tests/reference/bench_train.py (the PyTorch reference, eager and under
// torch.compile where that exists) with the same settings and prints the ratios.
// --roofline prints the per-layer roofline table (FLOPs, minimum bytes, datasheet floors) and
// exits. Table on stdout; --json FILE also writes everything as JSON (written atomically).
#include "kernels/sfm_layers.h"  // first: elementwise_math.h before engine/ops.h

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_set>
#include <vector>

#include "cli/args.h"
#include "cli/bench.h"
#include "cli/command.h"
#include "engine/adam.h"
#include "engine/autograd.h"
#include "engine/device_runtime.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/rng.h"
#include "engine/safetensors.h"
#include "models/dispnet.h"
#include "models/posenet.h"
#include "models/sfm_loss.h"
#include "train/loader.h"
#include "train/synth_world.h"
#if SFM_WITH_CUDA
#include <cuda_runtime.h>

#include "kernels/conv.h"
#include "kernels/cuda_check.h"
#include "kernels/runtime.h"
#endif

namespace sfm::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}


// The three load averages of /proc/loadavg ("" when unreadable): other processes on a shared
// machine slow CPU measurements down, so the report records them.
std::string load_average() {
  std::ifstream f("/proc/loadavg");
  double a = 0, b = 0, c = 0;
  if (!(f >> a >> b >> c)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", a, b, c);
  return buf;
}

std::string mib(double bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f MiB", bytes / (1024.0 * 1024.0));
  return b;
}

std::string sh_quote(const std::string& s) {
  std::string r = "'";
  for (char c : s) r += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return r + "'";
}

// A temporary folder removed (with its contents) when it goes out of scope.
class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "sfm-bench-train-XXXXXX").string();
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    SFM_CHECK(mkdtemp(buf.data()) != nullptr, "sfm bench train: cannot create a temporary folder under ",
              fs::temp_directory_path().string());
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ------------------------------------------------------------------------------ settings
struct Settings {
  Device dev = Device::CPU;
  int batch = 4, height = 128, width = 416, seq_length = 3;
  double mask_weight = 0.2;
  int iters = 3, warmup = 1, loader_iters = 3, workers = 2;
  bool loader = true, cuda_graph = false;
  int sources() const { return seq_length - 1; }
};

// ------------------------------------------------------------------------------ the model
struct Model {
  std::unique_ptr<DispNet> disp;
  std::unique_ptr<PoseExpNet> pose;
  std::unique_ptr<Adam> adam;
  LossConfig lcfg;
};

Model make_model(const Settings& s) {
  Model m;
  m.lcfg = loss_preset("original");
  m.lcfg.mask_weight = s.mask_weight;
  PoseExpNetConfig pc;
  pc.num_sources = s.sources();
  pc.explainability = s.mask_weight > 0;
  m.disp = std::make_unique<DispNet>(1, s.dev);  // the trainer's seeds for seed 0
  m.pose = std::make_unique<PoseExpNet>(pc, 2, s.dev);
  std::vector<Tensor> params;
  std::vector<std::string> names;
  append_parameters(*m.disp, "dispnet.", params, names);
  append_parameters(*m.pose, "posenet.", params, names);
  AdamOptions ao;
  ao.lr = 2e-4;
  m.adam = std::make_unique<Adam>(params, names, ao);
  return m;
}

// srcs [B,S,3,H,W] -> S views [B,3,H,W] (as the trainer splits them)
std::vector<Tensor> split_sources(const Tensor& srcs) {
  std::vector<Tensor> out;
  const int64_t B = srcs.dim(0), S = srcs.dim(1);
  for (int64_t s = 0; s < S; ++s)
    out.push_back(slice_channels(srcs, s, s + 1).view(Shape{B, srcs.dim(2), srcs.dim(3), srcs.dim(4)}));
  return out;
}

struct Phases {
  double forward = 0, loss = 0, backward = 0, adam = 0;
};

// One training iteration. With `ph`, the device is synchronised at each phase boundary and the
// phases are timed. Returns the loss (detached: holding it does not keep the tape alive).
Tensor train_step(Model& m, const Tensor& tgt, const Tensor& srcs, const Tensor& K, Phases* ph) {
  auto t = Clock::now();
  auto lap = [&](double* slot) {
    if (!ph) return;
    cuda_synchronize();
    *slot = ms_since(t);
    t = Clock::now();
  };
  m.adam->zero_grad();
  Tensor total;
  {
    std::vector<Tensor> disps = m.disp->forward(tgt);
    PoseExpOutput pe = m.pose->forward(tgt, split_sources(srcs));
    lap(ph ? &ph->forward : nullptr);
    total = sfm_loss(tgt, srcs, K, disps, pe, m.lcfg).total;
    lap(ph ? &ph->loss : nullptr);
  }
  total.backward();
  Tensor out = total.detach();
  total = Tensor();  // frees the tape
  lap(ph ? &ph->backward : nullptr);
  m.adam->step();
  lap(ph ? &ph->adam : nullptr);
  return out;
}

// Nodes on the tape of one iteration's loss (each is one recorded op with a backward).
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

// ------------------------------------------------------------------------------ CUDA graph
// The graph's iteration: zero_grad, forward, loss, backward, Adam. The loss skips its finiteness
// checks (host round trips a graph cannot capture; the batch is checked before it is copied in).
[[maybe_unused]] Tensor graph_step(Model& m, const Tensor& tgt, const Tensor& srcs, const Tensor& K) {
  m.adam->zero_grad();
  Tensor total;
  {
    LossConfig cfg = m.lcfg;
    cfg.check_finite = false;
    std::vector<Tensor> disps = m.disp->forward(tgt);
    PoseExpOutput pe = m.pose->forward(tgt, split_sources(srcs));
    total = sfm_loss(tgt, srcs, K, disps, pe, cfg).total;
  }
  total.backward();
  Tensor out = total.detach();
  total = Tensor();
  m.adam->step();
  return out;
}

#if SFM_WITH_CUDA
// One training step captured into a CUDA graph on the compute stream. Never run at the time of
// writing (no GPU was available): experimental.
//
// Memory: every block the captured step allocates comes from the caching allocator (warmed by
// eager steps first, so the capture normally makes no cudaMalloc); blocks freed during the
// capture go back to its free lists although the graph keeps using them on every replay. So
// nothing may allocate CUDA memory between replays while the graph lives: launch() checks the
// allocator's call count and throws if anything did.
class CapturedStep {
 public:
  ~CapturedStep() {
    if (exec_) cudaGraphExecDestroy(exec_);
    if (graph_) cudaGraphDestroy(graph_);
  }
  // Returns false (and why) when the capture fails; the eager state is then unchanged except for
  // Adam's step count.
  bool capture(Model& m, const Tensor& tgt, const Tensor& srcs, const Tensor& K, std::string* why) {
    Allocator& a = allocator_for(Device::CUDA);
    cuda_synchronize();
    const size_t sys0 = a.stats().system_allocs;
    SFM_CUDA_CHECK(cudaStreamBeginCapture(cuda::stream(), cudaStreamCaptureModeThreadLocal));
    try {
      loss_ = graph_step(m, tgt, srcs, K);
    } catch (const std::exception& e) {
      cudaGraph_t g = nullptr;
      cudaStreamEndCapture(cuda::stream(), &g);
      if (g) cudaGraphDestroy(g);
      cudaGetLastError();
      *why = std::string("capture failed: ") + e.what();
      return false;
    }
    cudaError_t e = cudaStreamEndCapture(cuda::stream(), &graph_);
    if (e != cudaSuccess) {
      cudaGetLastError();
      *why = std::string("cudaStreamEndCapture: ") + cudaGetErrorString(e);
      graph_ = nullptr;
      return false;
    }
    capture_mallocs_ = a.stats().system_allocs - sys0;
#if CUDART_VERSION >= 12000
    e = cudaGraphInstantiate(&exec_, graph_, 0);
#else
    e = cudaGraphInstantiate(&exec_, graph_, nullptr, nullptr, 0);
#endif
    if (e != cudaSuccess) {
      cudaGetLastError();
      *why = std::string("cudaGraphInstantiate: ") + cudaGetErrorString(e);
      exec_ = nullptr;
      return false;
    }
    size_t nodes = 0;
    SFM_CUDA_CHECK(cudaGraphGetNodes(graph_, nullptr, &nodes));
    nodes_ = nodes;
    alloc_calls_ = a.stats().alloc_calls;
    return true;
  }
  void launch() {
    SFM_CHECK(allocator_for(Device::CUDA).stats().alloc_calls == alloc_calls_,
              "sfm bench train --cuda-graph: CUDA memory was allocated between graph replays (the graph may "
              "overwrite it); this is a bug in the benchmark");
    SFM_CUDA_CHECK(cudaGraphLaunch(exec_, cuda::stream()));
  }
  const Tensor& loss() const { return loss_; }
  size_t nodes() const { return nodes_; }
  size_t capture_mallocs() const { return capture_mallocs_; }

 private:
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
  Tensor loss_;
  size_t nodes_ = 0, capture_mallocs_ = 0, alloc_calls_ = 0;
};
#endif

// ------------------------------------------------------------------------------ data
struct Inputs {
  Tensor tgt, srcs, K;
};

// Random images in [-1, 1] (the networks' input range) and KITTI intrinsics, on dev.
Inputs random_batch(const Settings& s) {
  Rng rng(12345);
  const int64_t B = s.batch, H = s.height, W = s.width, S = s.sources();
  Inputs in;
  in.tgt = rand_uniform(Shape{B, 3, H, W}, rng, -1, 1).to(s.dev);
  in.srcs = rand_uniform(Shape{B, S, 3, H, W}, rng, -1, 1).to(s.dev);
  const synth::Intrinsics k = synth::kitti_intrinsics(s.height, s.width);
  std::vector<float> kv;
  for (int64_t b = 0; b < B; ++b)
    kv.insert(kv.end(), {(float)k.fx, 0.f, (float)k.cx, 0.f, (float)k.fy, (float)k.cy, 0.f, 0.f, 1.f});
  in.K = Tensor::from_vector(kv, Shape{B, 3, 3}, s.dev);
  return in;
}

// A small synthetic data set in the formatted layout: 3 scenes (2 listed in train.txt), enough
// frames for several batches per epoch. Returns a description for the report.
json make_synthetic_set(const std::string& dir, const Settings& s) {
  synth::SynthOptions o;
  o.scenes = 3;
  o.frames = std::max(10, s.batch + s.seq_length - 1);
  o.height = s.height;
  o.width = s.width;
  o.seed = 1;
  o.supersample = 1;
  o.val_fraction = 0.2;
  o.progress = false;
  o.threads = cpu_threads();
  auto t0 = Clock::now();
  synth::write_synthetic_dataset(dir, o);
  return json{{"source", "synthetic (train/synth_world.h), generated into a temporary folder"},
              {"scenes", o.scenes},
              {"frames_per_scene", o.frames},
              {"format", "jpg (quality 95)"},
              {"generation_s", ms_since(t0) / 1e3}};
}

// ------------------------------------------------------------------------------ roofline
// Datasheet peaks (dense, no sparsity) of the NVIDIA H100 SXM5 80 GB; --peak-* override them.
struct Peaks {
  double fp32_tflops = 67.0, tf32_tflops = 494.7, gbs = 3350.0;
  std::string label = "NVIDIA H100 SXM5 datasheet (dense): FP32 67 TFLOP/s, TF32 tensor 494.7 TFLOP/s, HBM3 3.35 TB/s";
};

struct RoofRow {
  std::string name, shape;
  double flops = 0, bytes = 0;                  // the whole iteration (all passes)
  double floor_tf32_us = 0, floor_fp32_us = 0;  // sum over passes of max(FLOP/P, bytes/BW)
  bool conv = false;
};

RoofRow roof(const std::string& name, const std::string& shape, const std::vector<std::pair<double, double>>& passes,
             const Peaks& pk, bool conv) {
  RoofRow r;
  r.name = name, r.shape = shape, r.conv = conv;
  for (auto [f, b] : passes) {
    r.flops += f;
    r.bytes += b;
    const double tb = b / (pk.gbs * 1e9) * 1e6;
    r.floor_tf32_us += std::max(f / (pk.tf32_tflops * 1e12) * 1e6, tb);
    r.floor_fp32_us += std::max(f / (pk.fp32_tflops * 1e12) * 1e6, tb);
  }
  return r;
}

std::vector<RoofRow> roofline_rows(const Settings& s, const Peaks& pk, int64_t params) {
  const int64_t B = s.batch, H = s.height, W = s.width, S = s.sources();
  std::vector<RoofRow> rows;
  for (const cuda::ConvLayer& l : cuda::sfmlearner_conv_layers(B, H, W, (int)S)) {
    const bool mask_layer = l.name.rfind("posenet upconv", 0) == 0 || l.name.rfind("posenet mask", 0) == 0;
    if (mask_layer && s.mask_weight <= 0) continue;
    const double x = 4.0 * l.N * l.C * l.H * l.W, w = 4.0 * l.O * l.C * l.k * l.k, b = 4.0 * l.O,
                 y = 4.0 * l.N * l.O * l.Ho * l.Wo, f = 2 * l.macs();
    // The networks' first layers read the images, which need no gradient: no backward-data.
    const bool input_layer = l.name == "dispnet conv1a" || l.name == "posenet conv1";
    const double act = l.act == Activation::None ? 0 : y;               // the activation's derivative reads y
    std::vector<std::pair<double, double>> passes{{f, x + w + b + y}};  // forward
    if (!input_layer) passes.push_back({f, y + act + w + x});           // backward-data
    passes.push_back({f, x + y + w + b});                               // backward-weight + bias
    char shape[128];
    std::snprintf(shape, sizeof shape, "%lldx%lldx%lld -> %lldx%lldx%lld k%lld s%lld%s", (long long)l.C, (long long)l.H,
                  (long long)l.W, (long long)l.O, (long long)l.Ho, (long long)l.Wo, (long long)l.k, (long long)l.stride,
                  l.transposed ? " T" : "");
    rows.push_back(roof(l.name, shape, passes, pk, true));
  }
  // The loss at the four disparity sizes (h_s, w_s): per scale one fused pass over the target,
  // the sources, the disparity and the masks that writes d/ddisp and d/dmask (value and gradient
  // together); smoothness and explainability value-and-gradient passes; the image pyramid
  // (area means of the full-size images, no gradient). FLOPs are estimates (per pixel and
  // source: projection ~30, bilinear sample of 3 channels ~30, difference, mask and their
  // gradients ~140); these kernels are memory bound by far.
  int64_t h = H, w = W;
  double pyramid = 0;
  for (int sc = 0; sc < 4; ++sc) {
    const double px = (double)B * h * w;
    const std::string hw = std::to_string(h) + "x" + std::to_string(w);
    const double masks = s.mask_weight > 0 ? (double)S : 0;
    rows.push_back(roof("loss photometric s" + std::to_string(sc), hw + ", " + std::to_string(S) + " sources",
                        {{200.0 * px * S, 4 * px * (3 + 3 * S + 1 + masks) + 4 * px * (1 + masks)}}, pk, false));
    rows.push_back(
        roof("loss smoothness s" + std::to_string(sc), hw + " disparity", {{40.0 * px, 4 * px * 2}}, pk, false));
    if (s.mask_weight > 0)
      rows.push_back(roof("loss explainability s" + std::to_string(sc), hw + ", " + std::to_string(S) + " masks",
                          {{10.0 * px * S, 4 * px * S * 2}}, pk, false));
    if (sc > 0) pyramid += 4 * px * 3 * (1 + S);
    h = (h + 1) / 2;  // the encoder's stride-2 sizes (k odd, pad (k-1)/2)
    w = (w + 1) / 2;
  }
  const double img = (double)B * H * W * 3 * (1 + S);  // elements of the target and source images
  rows.push_back(roof("loss image pyramid", "1/2, 1/4, 1/8 of the images", {{3 * img, 4 * img + pyramid}}, pk, false));
  rows.push_back(roof("adam", std::to_string(params) + " parameters", {{16.0 * params, 28.0 * params}}, pk, false));
  return rows;
}

json print_roofline(const Settings& s, const Peaks& pk, int64_t params) {
  std::vector<RoofRow> rows = roofline_rows(s, pk, params);
  std::printf("Roofline of one training iteration (batch %d, %dx%d, %d sources, explainability %s).\n", s.batch,
              s.height, s.width, s.sources(), s.mask_weight > 0 ? "on" : "off");
  std::printf("Floors from datasheet peaks, not measurements: %s.\n", pk.label.c_str());
  std::printf(
      "Per row: FLOPs and minimum DRAM bytes of all its passes (conv: forward, backward-data unless the "
      "input is an image, backward-weight+bias; every tensor read or written once per pass, float32); floor "
      "= sum over passes of max(FLOP/peak, bytes/bandwidth).\n\n");
  std::printf("| layer | shape | GFLOP | MB | floor TF32 (us) | floor FP32 (us) | measured |\n");
  std::printf("|---|---|---:|---:|---:|---:|---|\n");
  json jr = json::array();
  double F = 0, Bts = 0, t32 = 0, f32 = 0, convF = 0;
  for (const RoofRow& r : rows) {
    std::printf("| %s | %s | %.3f | %.2f | %.2f | %.2f | not yet (no GPU lent) |\n", r.name.c_str(), r.shape.c_str(),
                r.flops / 1e9, r.bytes / 1e6, r.floor_tf32_us, r.floor_fp32_us);
    jr.push_back({{"name", r.name},
                  {"shape", r.shape},
                  {"flops", r.flops},
                  {"bytes", r.bytes},
                  {"floor_tf32_us", r.floor_tf32_us},
                  {"floor_fp32_us", r.floor_fp32_us},
                  {"measured_us", nullptr}});
    F += r.flops, Bts += r.bytes, t32 += r.floor_tf32_us, f32 += r.floor_fp32_us;
    if (r.conv) convF += r.flops;
  }
  std::printf("| **total** | | %.2f | %.1f | %.1f | %.1f | not yet (no GPU lent) |\n\n", F / 1e9, Bts / 1e6, t32, f32);
  const double compute_tf32_us = convF / (pk.tf32_tflops * 1e12) * 1e6 + (F - convF) / (pk.fp32_tflops * 1e12) * 1e6;
  const double compute_fp32_us = F / (pk.fp32_tflops * 1e12) * 1e6;
  const double dram_us = Bts / (pk.gbs * 1e9) * 1e6;
  std::printf(
      "Whole-iteration floors: compute %.1f us with TF32 convolutions (%.1f us FP32), DRAM traffic %.1f us; "
      "sum of per-pass floors %.1f us (TF32) / %.1f us (FP32).\n",
      compute_tf32_us, compute_fp32_us, dram_us, t32, f32);
  return json{{"peaks",
               {{"label", pk.label},
                {"fp32_tflops", pk.fp32_tflops},
                {"tf32_tflops", pk.tf32_tflops},
                {"gbytes_per_s", pk.gbs},
                {"source", "datasheet"}}},
              {"rows", jr},
              {"total_flops", F},
              {"total_bytes", Bts},
              {"compute_floor_tf32_us", compute_tf32_us},
              {"compute_floor_fp32_us", compute_fp32_us},
              {"dram_floor_us", dram_us},
              {"sum_of_pass_floors_tf32_us", t32},
              {"sum_of_pass_floors_fp32_us", f32}};
}

// DRAM traffic the current implementation moves beyond the roofline's minimum, per iteration,
// from the same shapes (what the fusion levers of docs/performance.md remove), and the host
// round trips of one step. Bytes are float32 elements times the passes described per row.
json print_extra_traffic(const Settings& s, const Peaks& pk) {
  const int64_t B = s.batch, H = s.height, W = s.width, S = s.sources();
  const std::vector<cuda::ConvLayer> layers = cuda::sfmlearner_conv_layers(B, H, W, (int)S);
  auto find = [&](const std::string& n) -> const cuda::ConvLayer& {
    for (const auto& l : layers)
      if (l.name == n) return l;
    fail("bench train: no layer named ", n);
  };
  auto out_el = [](const cuda::ConvLayer& l) { return (double)l.N * l.O * l.Ho * l.Wo; };
  auto in_el = [](const cuda::ConvLayer& l) { return (double)l.N * l.C * l.H * l.W; };
  const bool mask = s.mask_weight > 0;
  auto counted = [&](const cuda::ConvLayer& l) {
    return mask || (l.name.rfind("posenet upconv", 0) != 0 && l.name.rfind("posenet mask", 0) != 0);
  };
  struct Item {
    std::string what, lever;
    double bytes;
  };
  std::vector<Item> items;
  double concat = 8.0 * in_el(find("posenet conv1"));  // the input stack (images: forward only)
  for (int L = 1; L <= 7; ++L) concat += 16.0 * in_el(find("dispnet iconv" + std::to_string(L)));
  items.push_back(
      {"concatenation copies (DispNet iconv inputs: copy forward, slice gradients backward; PoseExpNet "
       "input stack)",
       "decoder outputs written straight into the concatenation buffers", concat});
  double act = 0, bias = 0;
  for (const auto& l : layers) {
    if (!counted(l)) continue;
    if (l.act != Activation::None) act += 8.0 * out_el(l);
    bias += 4.0 * out_el(l);
  }
  items.push_back(
      {"activation derivative as its own pass (reads y and g, writes g'; 12 B/element instead of the "
       "4 B counted in the floor)",
       "fused into the backward-data / backward-weight prologue", act});
  items.push_back({"bias gradient as its own pass over dy (4 B/element)",
                   "bias gradient as a by-product of "
                   "backward-weight",
                   bias});
  double acc = 0;  // gradients accumulated by add(): tensors read by two ops
  for (int i = 1; i <= 6; ++i) acc += 12.0 * out_el(find("dispnet conv" + std::to_string(i) + "b"));
  for (int L = 2; L <= 4; ++L) acc += 12.0 * out_el(find("dispnet iconv" + std::to_string(L)));
  double disp_el = 0;
  for (int L = 1; L <= 4; ++L) disp_el += out_el(find("dispnet disp" + std::to_string(L)));
  acc += 12.0 * disp_el;  // each disparity feeds 1/disp and the smoothness (3 of 4 also the next stage): >= 1 add
  if (mask) {
    acc += 12.0 * out_el(find("posenet conv5"));
    for (int L = 1; L <= 4; ++L) acc += 12.0 * out_el(find("posenet mask" + std::to_string(L)));
  }
  items.push_back({"gradient accumulation with add() (skips, heads, masks: 12 B/element)",
                   "accumulate in the producing kernel's epilogue (beta = 1)", acc});
  items.push_back({"disparity head 10 sigmoid(x) + 0.01 as its own op (forward 8 B, backward 8 B per element)",
                   "fold the affine into the head convolution's epilogue", 16.0 * disp_el});
  items.push_back({"depth = 1/disparity as its own op per scale (forward 8 B, backward 12 B)",
                   "compute 1/disparity inside the loss kernels", 20.0 * disp_el});
  double photo_reread = 0;
  for (int L = 1; L <= 4; ++L) {
    const cuda::ConvLayer& d = find("dispnet disp" + std::to_string(L));
    const double px = (double)B * d.Ho * d.Wo;
    photo_reread += 4 * px * (3 + 3 * S + 1 + (mask ? S : 0));
  }
  items.push_back({"photometric backward re-reading images, depth and masks (separate forward and backward passes)",
                   "one value-and-gradient kernel for all four scales", photo_reread});
  std::printf(
      "\nTraffic beyond the minimum in the current implementation (per iteration, computed from the shapes; "
      "time at the datasheet bandwidth %.0f GB/s):\n\n",
      pk.gbs);
  std::printf("| what | lever | MB | us at datasheet bandwidth |\n|---|---|---:|---:|\n");
  json rows = json::array();
  double total = 0;
  for (const Item& it : items) {
    std::printf("| %s | %s | %.1f | %.1f |\n", it.what.c_str(), it.lever.c_str(), it.bytes / 1e6,
                it.bytes / (pk.gbs * 1e9) * 1e6);
    rows.push_back({{"what", it.what}, {"lever", it.lever}, {"bytes", it.bytes}});
    total += it.bytes;
  }
  std::printf("| **total** | | %.1f | %.1f |\n", total / 1e6, total / (pk.gbs * 1e9) * 1e6);
  const double img = 4.0 * B * H * W * 3 * (1 + S) + 4.0 * B * 9;
  std::printf(
      "\nHost round trips per step (each waits for the GPU to drain): sfm_loss's all_finite reads the images "
      "and K back to the host (%.2f MB device-to-host, then a host scan; LossConfig::check_finite = false skips "
      "it, as the CUDA-graph step does). The loader-fed step also uploads %.2f MB from pageable memory "
      "synchronously on the compute stream. At the PCIe Gen5 x16 datasheet rate (64 GB/s per direction) the "
      "image copies alone take %.0f us each way; pageable copies run well below that rate.\n",
      img / 1e6, img / 1e6, img / 64e9 * 1e6);
  return json{{"rows", rows},
              {"total_bytes", total},
              {"image_copy_bytes", img},
              {"host_synchronisations_per_step", 3},  // sfm_loss's all_finite on tgt, srcs, K
              {"note", "computed from the layer shapes, not measured"}};
}

// ------------------------------------------------------------------------------ loader alone
// The loader's own rate, no training: `count` batches taken back to back (after one untimed
// batch) from a fresh loader with `workers` threads (0: each batch built inside next(), on the
// calling thread: the CPU cost of one batch). With in_memory the frames are decoded once up
// front, so a batch costs only the augmentation (scale, crop, flip) and the float conversion.
// Returns ms per batch.
double loader_alone_ms(const std::string& root, const Settings& s, int workers, int count, bool in_memory = false) {
  LoaderOptions lo;
  lo.in_memory = in_memory;  // frames decoded once at construction (then resize + augment only)
  lo.batch = s.batch;
  lo.height = s.height;
  lo.width = s.width;
  lo.seq_length = s.seq_length;
  lo.workers = workers;
  lo.quiet = true;
  DataLoader loader(root, lo);
  loader.next();
  auto t0 = Clock::now();
  for (int i = 0; i < count; ++i) loader.next();
  return ms_since(t0) / count;
}

// ------------------------------------------------------------------------------ one run
struct RunResult {
  std::string impl, precision;
  std::vector<double> ms, loader_ms, loader_wait_ms, graph_ms, graph_loader_ms;
  Phases phases;  // medians
  MemoryStats mem_before, mem_after;
  double loss_last = NAN, graph_loss = NAN;
  std::string graph_status;
  size_t graph_nodes = 0, graph_capture_mallocs = 0;
  int64_t tape_nodes = 0;
};

json timing_json(const std::vector<double>& ms, int batch) {
  if (ms.empty()) return nullptr;
  const double med = median(ms);
  return json{{"ms_median", med},
              {"ms_min", *std::min_element(ms.begin(), ms.end())},
              {"ms_max", *std::max_element(ms.begin(), ms.end())},
              {"ms_all", ms},
              {"images_per_s", 1e3 * batch / med}};
}

RunResult run_impl(const Settings& s, const std::string& impl_name, const Inputs& in, const std::string& data_root) {
  RunResult r;
  r.impl = impl_name;
  r.precision = impl_name == "tf32" ? "tf32" : "fp32";
  if (s.dev == Device::CUDA) set_conv_impl(parse_conv_impl(impl_name));
  Model m = make_model(s);
  Allocator& alloc = allocator_for(s.dev);

  {  // tape size of one iteration (device independent)
    std::vector<Tensor> disps = m.disp->forward(in.tgt);
    PoseExpOutput pe = m.pose->forward(in.tgt, split_sources(in.srcs));
    r.tape_nodes = count_tape_nodes(sfm_loss(in.tgt, in.srcs, in.K, disps, pe, m.lcfg).total);
  }
  std::printf("  [%s] warm-up: %d iterations\n", impl_name.c_str(), s.warmup);
  std::fflush(stdout);
  for (int i = 0; i < s.warmup; ++i) train_step(m, in.tgt, in.srcs, in.K, nullptr);
  cuda_synchronize();

  // pre-loaded batch
  alloc.reset_peak();
  r.mem_before = alloc.stats();
  std::vector<Phases> ph;
  Tensor last;
  for (int i = 0; i < s.iters; ++i) {
    auto t0 = Clock::now();
    Phases p;
    last = train_step(m, in.tgt, in.srcs, in.K, s.dev == Device::CPU ? &p : nullptr);
    cuda_synchronize();
    r.ms.push_back(ms_since(t0));
    if (s.dev == Device::CPU) ph.push_back(p);
    std::printf("  [%s] pre-loaded iteration %d/%d: %.2f ms\n", impl_name.c_str(), i + 1, s.iters, r.ms.back());
    std::fflush(stdout);
  }
  r.mem_after = alloc.stats();
  r.loss_last = last.item();
  if (s.dev == Device::CUDA) {  // the breakdown from a separate, phase-synchronised pass
    for (int i = 0; i < std::min(s.iters, 20); ++i) {
      Phases p;
      train_step(m, in.tgt, in.srcs, in.K, &p);
      ph.push_back(p);
    }
  }
  auto med_of = [&](double Phases::*f) {
    std::vector<double> v;
    for (const Phases& p : ph) v.push_back(p.*f);
    return median(v);
  };
  r.phases = {med_of(&Phases::forward), med_of(&Phases::loss), med_of(&Phases::backward), med_of(&Phases::adam)};

  // fed by the data loader
  std::unique_ptr<DataLoader> loader;
  if (s.loader) {
    LoaderOptions lo;
    lo.batch = s.batch;
    lo.height = s.height;
    lo.width = s.width;
    lo.seq_length = s.seq_length;
    lo.workers = s.workers;
    lo.quiet = true;
    loader = std::make_unique<DataLoader>(data_root, lo);
    for (int i = 0; i < s.warmup + s.loader_iters; ++i) {
      auto t0 = Clock::now();
      Batch b = loader->next();
      const double wait = ms_since(t0);
      Tensor tgt = b.tgt.to(s.dev), srcs = b.srcs.to(s.dev), K = b.K.to(s.dev);
      train_step(m, tgt, srcs, K, nullptr);
      cuda_synchronize();
      if (i < s.warmup) continue;
      r.loader_ms.push_back(ms_since(t0));
      r.loader_wait_ms.push_back(wait);
      std::printf("  [%s] loader iteration %d/%d: %.2f ms (waited %.2f ms for the batch)\n", impl_name.c_str(),
                  i - s.warmup + 1, s.loader_iters, r.loader_ms.back(), wait);
      std::fflush(stdout);
    }
  }

  // CUDA graph (experimental)
  if (s.cuda_graph) {
    if (s.dev != Device::CUDA) {
      r.graph_status = "skipped: CUDA graphs need --device cuda";
    } else {
#if SFM_WITH_CUDA
      // Static inputs the graph reads; the loader run copies each batch into them.
      Tensor tgt = in.tgt.clone(), srcs = in.srcs.clone(), K = in.K.clone();
      for (int i = 0; i < 2; ++i) graph_step(m, tgt, srcs, K);  // allocator in steady state
      cuda_synchronize();
      auto g = std::make_unique<CapturedStep>();
      std::string why;
      if (!g->capture(m, tgt, srcs, K, &why)) {
        r.graph_status = why;
      } else {
        r.graph_nodes = g->nodes();
        r.graph_capture_mallocs = g->capture_mallocs();
        for (int i = 0; i < s.warmup; ++i) g->launch();
        cuda_synchronize();
        for (int i = 0; i < s.iters; ++i) {
          auto t0 = Clock::now();
          g->launch();
          cuda_synchronize();
          r.graph_ms.push_back(ms_since(t0));
        }
        if (loader) {
          for (int i = 0; i < s.warmup + s.loader_iters; ++i) {
            auto t0 = Clock::now();
            Batch b = loader->next();
            SFM_CHECK(all_finite(b.tgt) && all_finite(b.srcs) && all_finite(b.K),
                      "sfm bench train: a loader batch holds NaN or Inf (", b.ids.empty() ? "" : b.ids[0], ")");
            tgt.copy_(b.tgt);
            srcs.copy_(b.srcs);
            K.copy_(b.K);
            g->launch();
            cuda_synchronize();
            if (i >= s.warmup) r.graph_loader_ms.push_back(ms_since(t0));
          }
        }
        r.graph_loss = g->loss().item();
        r.graph_status = "ok (experimental; " + std::to_string(r.graph_nodes) + " graph nodes)";
      }
      g.reset();
#else
      r.graph_status = "skipped: this build has no CUDA backend";
#endif
    }
  }
  return r;
}

// ------------------------------------------------------------------------------ PyTorch
std::string find_pytorch_script(const std::string& given) {
  if (!given.empty()) {
    SFM_CHECK(fs::exists(given), "sfm bench train: --pytorch-script ", given, " does not exist");
    return given;
  }
  std::vector<fs::path> cands{fs::path("tests/reference/bench_train.py")};
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (fs::path p = exe.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path())
      cands.push_back(p / "tests/reference/bench_train.py");
  for (const fs::path& c : cands)
    if (fs::exists(c)) return c.string();
  fail(
      "sfm bench train --pytorch: tests/reference/bench_train.py not found (run from the repository root or pass "
      "--pytorch-script)");
}

json run_pytorch(const Settings& s, const std::string& python, const std::string& script, const std::string& tmp_dir,
                 const std::string& precision) {
  const std::string out = tmp_dir + "/pytorch.json";
  std::string cmd = sh_quote(python) + " " + sh_quote(script) + " --device " +
                    (s.dev == Device::CUDA ? "cuda" : "cpu") + " --batch " + std::to_string(s.batch) + " --height " +
                    std::to_string(s.height) + " --width " + std::to_string(s.width) + " --seq-length " +
                    std::to_string(s.seq_length) + " --mask-weight " + std::to_string(s.mask_weight) + " --iters " +
                    std::to_string(s.iters) + " --warmup " + std::to_string(s.warmup) + " --precision " + precision +
                    " --json " + sh_quote(out);
  if (s.dev == Device::CPU) cmd += " --threads " + std::to_string(cpu_threads());
  std::printf("\nPyTorch reference: %s\n", cmd.c_str());
  std::fflush(stdout);
  const int rc = std::system((cmd + " > /dev/null").c_str());
  SFM_CHECK(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0,
            "sfm bench train --pytorch: the reference benchmark "
            "failed (exit status ",
            rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc), "): ", cmd);
  std::ifstream f(out);
  SFM_CHECK(f.good(), "sfm bench train --pytorch: ", out, " was not written by ", script);
  json j;
  try {
    j = json::parse(f);
  } catch (const std::exception& e) {
    fail("sfm bench train --pytorch: ", out, " is not valid JSON: ", e.what());
  }
  SFM_CHECK(j.contains("runs") && j["runs"].is_array(), "sfm bench train --pytorch: ", out, " has no 'runs' array");
  j["command"] = cmd;
  return j;
}

// ------------------------------------------------------------------------------ the command
int bench_train(const std::vector<std::string>& argv) {
  Args a("bench train",
         "Times one SfMLearner training iteration (zero_grad, DispNet + PoseExpNet forward, the four-scale loss, "
         "backward, Adam) on a batch already on the device, and fed by the real data loader; reports the median "
         "ms/iteration, images/s, the allocator's peak memory and the loader's share of the pre-loaded speed. "
         "--pytorch also times the PyTorch reference (tests/reference/bench_train.py) and prints the ratios.");
  a.option("device", "cpu or cuda", "cpu")
      .option("batch", "batch size", "4")
      .option("height", "image height", "128")
      .option("width", "image width", "416")
      .option("seq-length", "frames per snippet (odd, >= 3)", "3")
      .option("mask-weight", "explainability weight (0: no mask decoder)", "0.2")
      .option("iters", "timed iterations (default: CPU 3, CUDA 50)", "")
      .option("warmup", "untimed iterations first (default: CPU 1, CUDA 10)", "")
      .option("loader-iters", "timed iterations of the loader-fed run (default: --iters)", "")
      .option("data", "formatted data set for the loader run (default: a small synthetic set in a temporary folder)",
              "")
      .option("workers", "data loader threads", "2")
      .option("conv-impl",
              "CUDA convolutions: comma-separated list of handwritten,tf32,cudnn,cublas (default tf32,handwritten "
              "where TF32 exists, else handwritten)",
              "")
      .option("threads", "CPU threads (0: all)", "0")
      .option("python", "Python interpreter for --pytorch",
              fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3")
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
      .flag("no-loader", "skip the loader-fed run")
      .flag("cuda-graph", "experimental, CUDA only: also time the step captured into a CUDA graph")
      .flag("roofline", "print the per-layer roofline table (datasheet floors) and exit");
  if (!a.parse(argv)) return 0;

  Settings s;
  const std::string dev = a.get("device");
  SFM_CHECK(dev == "cpu" || dev == "cuda", "sfm bench train: --device must be cpu or cuda, got '", dev, "'");
  s.dev = dev == "cuda" ? Device::CUDA : Device::CPU;
  s.batch = a.get_int("batch");
  s.height = a.get_int("height");
  s.width = a.get_int("width");
  s.seq_length = a.get_int("seq-length");
  s.mask_weight = a.get_double("mask-weight");
  s.iters = a.has("iters") ? a.get_int("iters") : (s.dev == Device::CPU ? 3 : 50);
  s.warmup = a.has("warmup") ? a.get_int("warmup") : (s.dev == Device::CPU ? 1 : 10);
  s.loader_iters = a.has("loader-iters") ? a.get_int("loader-iters") : s.iters;
  s.workers = a.get_int("workers");
  s.loader = !a.get_flag("no-loader");
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
  Peaks pk;
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

  json report{{"tool", "sfm bench train"},
              {"settings",
               {{"device", dev},
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
                {"optimizer", "Adam lr 2e-4"}}}};
  auto write_json = [&] {
    if (!a.has("json")) return;
    write_file_atomic(a.get("json"), report.dump(2) + "\n");
    std::printf("wrote %s\n", a.get("json").c_str());
  };

  if (a.get_flag("roofline")) {
    Settings cpu_s = s;
    cpu_s.dev = Device::CPU;
    int64_t params = 0;  // weights and biases of the layers the roofline counts
    for (const cuda::ConvLayer& l : cuda::sfmlearner_conv_layers(1, s.height, s.width, s.sources()))
      if (s.mask_weight > 0 || (l.name.rfind("posenet upconv", 0) != 0 && l.name.rfind("posenet mask", 0) != 0))
        params += l.O * l.C * l.k * l.k + l.O;
    report["roofline"] = print_roofline(cpu_s, pk, params);
    report["extra_traffic"] = print_extra_traffic(cpu_s, pk);
    write_json();
    return 0;
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

  const std::string device_desc =
      s.dev == Device::CPU ? cpu_model_name() + ", " + std::to_string(cpu_threads()) + " threads" : cuda_device_name();
  report["device_name"] = device_desc;
  report["threads"] = cpu_threads();
  std::printf("sfm bench train: %s (%s)\n", dev.c_str(), device_desc.c_str());
  std::printf(
      "batch %d, %dx%d, %d frames (%d sources), explainability %s (mask weight %g), 'original' loss, Adam "
      "lr 2e-4; median of %d iterations after %d warm-up\n",
      s.batch, s.height, s.width, s.seq_length, s.sources(), s.mask_weight > 0 ? "on" : "off", s.mask_weight, s.iters,
      s.warmup);

  TempDir tmp;
  std::string data_root = a.get("data");
  if (s.loader) {
    if (data_root.empty()) {
      data_root = tmp.path() + "/data";
      std::printf("generating a small synthetic data set for the loader run ...\n");
      std::fflush(stdout);
      report["data"] = make_synthetic_set(data_root, s);
    } else {
      report["data"] = json{{"source", data_root}};
    }
  }

  if (s.loader) {
    // At least 4x the prefetch depth, so the batches queued before timing weigh little.
    const int count = std::max(16, 2 * s.loader_iters);
    const double sync_ms = loader_alone_ms(data_root, s, 0, count);
    const double par_ms = s.workers > 0 ? loader_alone_ms(data_root, s, s.workers, count) : sync_ms;
    const double mem_ms = loader_alone_ms(data_root, s, 0, count, true);
    report["loader_alone"] = {{"batches", count},
                              {"ms_per_batch_one_thread", sync_ms},
                              {"ms_per_batch_workers", par_ms},
                              {"ms_per_batch_one_thread_in_memory", mem_ms},
                              {"workers", s.workers}};
    std::printf(
        "loader alone (no training; decode, resize, augment, batch %d): %.2f ms/batch on the calling thread, "
        "%.2f ms/batch with %d workers; frames pre-decoded in memory: %.2f ms/batch on the calling thread "
        "(%d batches back to back each)\n",
        s.batch, sync_ms, par_ms, s.workers, mem_ms, count);
  }
  Inputs in = random_batch(s);
  report["load_average_before"] = load_average();
  std::vector<RunResult> results;
  for (const std::string& impl : impls) results.push_back(run_impl(s, impl, in, data_root));
  report["load_average_after"] = load_average();
  std::printf("\nload average (1, 5, 15 min) before %s, after %s (%d CPUs)\n",
              report["load_average_before"].get<std::string>().c_str(),
              report["load_average_after"].get<std::string>().c_str(), (int)sysconf(_SC_NPROCESSORS_ONLN));

  // ---- table
  std::printf("\n%-12s %-9s %10s %9s %9s %9s %12s %12s %10s %8s\n", "conv impl", "precision", "median ms", "min ms",
              "max ms", "images/s", "peak memory", "loader ms", "loader ms", "ratio");
  std::printf("%-12s %-9s %10s %9s %9s %9s %12s %12s %10s %8s\n", "", "", "/iter", "", "", "", "(allocator)", "/iter",
              "wait", "");
  json runs = json::array();
  for (const RunResult& r : results) {
    const double med = median(r.ms), lmed = median(r.loader_ms), ratio = r.loader_ms.empty() ? NAN : med / lmed;
    std::printf("%-12s %-9s %10.2f %9.2f %9.2f %9.2f %12s %12.2f %10.2f %8.3f\n", r.impl.c_str(), r.precision.c_str(),
                med, *std::min_element(r.ms.begin(), r.ms.end()), *std::max_element(r.ms.begin(), r.ms.end()),
                1e3 * s.batch / med, mib((double)r.mem_after.peak_bytes).c_str(), lmed, median(r.loader_wait_ms),
                ratio);
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
             {"note", s.dev == Device::CPU
                          ? "engine tensor storage (CPU allocator); excludes library scratch"
                          : "CUDA caching allocator: bytes handed out; reserved = held from cudaMalloc"}}},
           {"loss_last", r.loss_last},
           {"autograd_nodes_per_iteration", r.tape_nodes}};
    if (!r.loader_ms.empty())
      j["loader"] = {{"timing", timing_json(r.loader_ms, s.batch)},
                     {"wait_ms_median", median(r.loader_wait_ms)},
                     {"ratio_preloaded_over_loader", ratio},
                     {"workers", s.workers}};
    if (s.cuda_graph) {
      j["cuda_graph"] = {{"status", r.graph_status},
                         {"preloaded", timing_json(r.graph_ms, s.batch)},
                         {"loader", timing_json(r.graph_loader_ms, s.batch)},
                         {"graph_nodes", r.graph_nodes},
                         {"cudamalloc_during_capture", r.graph_capture_mallocs},
                         {"loss_last", std::isfinite(r.graph_loss) ? json(r.graph_loss) : json(nullptr)}};
    }
    runs.push_back(j);
  }
  std::printf("\nbreakdown of the median iteration (ms; %s):\n",
              s.dev == Device::CPU ? "from the timed iterations" : "separate pass, synchronised at each phase");
  for (const RunResult& r : results)
    std::printf(
        "  %-12s forward %.2f, loss %.2f, backward %.2f, adam %.2f; %lld autograd nodes per iteration; "
        "last loss %.5f\n",
        r.impl.c_str(), r.phases.forward, r.phases.loss, r.phases.backward, r.phases.adam, (long long)r.tape_nodes,
        r.loss_last);
  if (s.cuda_graph)
    for (const RunResult& r : results) {
      std::printf("  %-12s CUDA graph: %s", r.impl.c_str(), r.graph_status.c_str());
      if (!r.graph_ms.empty()) std::printf("; median %.3f ms/iter pre-loaded", median(r.graph_ms));
      if (!r.graph_loader_ms.empty()) std::printf(", %.3f ms/iter with the loader", median(r.graph_loader_ms));
      std::printf("\n");
    }
  if (s.loader) std::printf("ratio = pre-loaded ms / loader ms (1.0: the loader costs nothing; target >= 0.9)\n");
  report["runs"] = runs;

  // ---- PyTorch
  if (a.get_flag("pytorch")) {
    std::string precision = "fp32";
    if (s.dev == Device::CUDA) {
      bool tf = false, fp = false;
      for (const RunResult& r : results) (r.precision == "tf32" ? tf : fp) = true;
      precision = tf && fp ? "both" : tf ? "tf32" : "fp32";
    }
    json pt = run_pytorch(s, a.get("python"), find_pytorch_script(a.get("pytorch-script")), tmp.path(), precision);
    report["pytorch"] = pt;
    std::printf("\n%-10s %-9s %12s %12s | %-12s %12s %10s %12s\n", "pytorch", "precision", "median ms", "peak memory",
                "ours", "median ms", "speed-up", "memory ratio");
    json ratios = json::array();
    for (const json& pr : pt["runs"]) {
      const std::string mode = pr.value("mode", "?"), prec = pr.value("precision", "?");
      if (pr.contains("error")) {
        std::printf("%-10s %-9s %s\n", mode.c_str(), prec.c_str(), pr["error"].get<std::string>().c_str());
        continue;
      }
      const double pms = pr.value("ms_median", NAN);
      const double ppeak =
          pr.contains("peak_bytes") && pr["peak_bytes"].is_number() ? pr["peak_bytes"].get<double>() : NAN;
      for (const RunResult& r : results) {
        if (r.precision != prec) continue;
        const double ours = median(r.ms), speed = pms / ours;
        const double memr = std::isfinite(ppeak) ? (double)r.mem_after.peak_bytes / ppeak : NAN;
        std::printf("%-10s %-9s %12.2f %12s | %-12s %12.2f %9.2fx %12s\n", mode.c_str(), prec.c_str(), pms,
                    std::isfinite(ppeak) ? mib(ppeak).c_str() : "n/a", r.impl.c_str(), ours, speed,
                    std::isfinite(memr) ? (std::to_string(memr).substr(0, 5)).c_str() : "n/a");
        ratios.push_back({{"pytorch_mode", mode},
                          {"precision", prec},
                          {"pytorch_ms", pms},
                          {"ours_conv_impl", r.impl},
                          {"ours_ms", ours},
                          {"speedup_ours_over_pytorch", speed},
                          {"memory_ours_over_pytorch", std::isfinite(memr) ? json(memr) : json(nullptr)}});
      }
    }
    if (pt.value("compile_unavailable_reason", json()).is_string())
      std::printf("%-10s %s\n", "compile", pt["compile_unavailable_reason"].get<std::string>().c_str());
    std::printf(
        "speed-up = PyTorch ms / ours (targets on the GPU: >= 5x eager, >= 2x torch.compile); memory ratio = "
        "our allocator peak / torch.cuda.max_memory_allocated (target < 1)\n");
    report["ratios"] = ratios;
  }
  write_json();
  return 0;
}

}  // namespace

SFM_COMMAND("bench train", "time one SfMLearner training iteration (pre-loaded and with the data loader), vs PyTorch",
            bench_train);

}  // namespace sfm::cli
