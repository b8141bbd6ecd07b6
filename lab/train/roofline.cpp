// The roofline of one SfMLearner training iteration and the DRAM traffic the implementation
// moves beyond it, computed from the layer shapes (the layer table, models/sfm_layers.h, as
// the networks are built for the settings: the mask decoder only with explainability): the
// analysis half of `sfm bench train --roofline`, beside the step it analyses.
#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "lab/train/roofline.h"

#include "engine/error.h"
#include "engine/ops.h"
#include "models/sfm_layers.h"

namespace sfm {
namespace {

using json = nlohmann::json;
using Settings = TrainBenchSettings;
using Peaks = RooflinePeaks;

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
  for (const ConvLayer& l : sfmlearner_conv_layers(B, H, W, (int)S, s.mask_weight > 0)) {
    const double x = 4.0 * l.in_shape().numel(), w = 4.0 * l.weight_shape().numel(), b = 4.0 * l.out_channels(),
                 y = 4.0 * l.out_shape().numel(), f = l.flops();
    // The networks' first layers read the images, which need no gradient: no backward-data.
    const bool input_layer = l.spec.image_input;
    const double act = l.spec.act == Activation::None ? 0 : y;          // the activation's derivative reads y
    std::vector<std::pair<double, double>> passes{{f, x + w + b + y}};  // forward
    if (!input_layer) passes.push_back({f, y + act + w + x});           // backward-data
    passes.push_back({f, x + y + w + b});                               // backward-weight + bias
    const Shape in = l.in_shape(), out = l.out_shape();
    char shape[128];
    std::snprintf(shape, sizeof shape, "%lldx%lldx%lld -> %lldx%lldx%lld k%d s%d%s", (long long)in[1], (long long)in[2],
                  (long long)in[3], (long long)out[1], (long long)out[2], (long long)out[3], l.spec.k, l.spec.stride,
                  l.spec.transposed ? " T" : "");
    rows.push_back(roof(l.spec.full_name(), shape, passes, pk, true));
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
  const bool mask = s.mask_weight > 0;
  const std::vector<ConvLayer> layers = sfmlearner_conv_layers(B, H, W, (int)S, mask);
  auto find = [&](const std::string& n) -> const ConvLayer& {
    for (const auto& l : layers)
      if (l.spec.full_name() == n) return l;
    fail("bench train: no layer named ", n);
  };
  auto out_el = [](const ConvLayer& l) { return (double)l.out_shape().numel(); };
  auto in_el = [](const ConvLayer& l) { return (double)l.in_shape().numel(); };
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
    if (l.spec.act != Activation::None) act += 8.0 * out_el(l);
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
    const Shape d = find("dispnet disp" + std::to_string(L)).out_shape();
    const double px = (double)B * d[2] * d[3];
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


}  // namespace

json sfmlearner_roofline(const TrainBenchSettings& s, const RooflinePeaks& pk) {
  Settings cpu_s = s;
  cpu_s.dev = Device::CPU;
  int64_t params = 0;  // weights and biases of the layers the roofline counts
  for (const ConvLayer& l : sfmlearner_conv_layers(1, s.height, s.width, s.sources(), s.mask_weight > 0))
    params += l.spec.num_parameters();
  json r;
  r["roofline"] = print_roofline(cpu_s, pk, params);
  r["extra_traffic"] = print_extra_traffic(cpu_s, pk);
  return r;
}

}  // namespace sfm
