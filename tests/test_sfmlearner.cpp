// The SfMLearner unit (models/sfmlearner.h): the seed rule and parameter names, the step equal
// to the sequence the trainer ran before the unit existed, raw and normalised batches, a bad
// batch updating nothing, and `sfm bench train --compare-cpu` on the CPU.
#include <catch2/catch.hpp>

#include "tests/test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/adam.h"
#include "engine/device_runtime.h"
#include "engine/ops.h"
#include "models/sfmlearner.h"

using namespace sfm;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::vector<float> flat(const SfMLearner& m) {
  std::vector<float> out;
  for (const Tensor& p : m.parameters()) {
    std::vector<float> v = p.to_vector();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

// Runs a shell command; returns its exit status (-1 when it did not exit normally).
int run(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace

TEST_CASE("sfmlearner: parameter order, names and the seed rule", "[sfmlearner]") {
  SfMLearnerOptions o = sfmlearner_defaults(Device::CPU);
  o.seed = 3;
  SfMLearner m(o);
  DispNet d(7);  // 3*2+1
  PoseExpNet p(o.pose, 8);  // 3*2+2
  REQUIRE(m.parameters().size() == d.parameters().size() + p.parameters().size());
  REQUIRE(m.parameter_names().front() == "dispnet.conv1.0.weight");
  REQUIRE(m.parameter_names()[d.parameters().size()] == "posenet.conv1.0.weight");
  for (size_t i = 0; i < d.parameters().size(); ++i) {
    REQUIRE(m.parameter_names()[i] == "dispnet." + d.param_names()[i]);
    REQUIRE(m.parameters()[i].to_vector() == d.parameters()[i].to_vector());
  }
  for (size_t i = 0; i < p.parameters().size(); ++i) {
    REQUIRE(m.parameter_names()[d.parameters().size() + i] == "posenet." + p.param_names()[i]);
    REQUIRE(m.parameters()[d.parameters().size() + i].to_vector() == p.parameters()[i].to_vector());
  }
  // The optimiser state keys follow the names (checkpoints written before the unit load).
  std::map<std::string, Tensor> st = m.optimizer().state();
  REQUIRE(st.count("dispnet.conv1.0.weight.exp_avg") == 1);
  REQUIRE(st.count("posenet.pose_pred.bias.exp_avg_sq") == 1);
}

TEST_CASE("sfmlearner: step() is the trainer's former sequence, bit for bit (CPU)", "[sfmlearner]") {
  // The sequence train/trainer.cpp ran before the unit: forward, loss, zero_grad, backward, Adam.
  const SfMBatch raw = random_batch(1, 32, 104, 2, 5);
  const SfMBatch b = normalized(raw);
  REQUIRE(b.range == SfMBatch::Range::Normalized);
  REQUIRE(b.tgt.to_vector() == normalize_images(raw.tgt).to_vector());
  DispNet disp(1);
  PoseExpNetConfig pc;
  pc.num_sources = 2;
  PoseExpNet pose(pc, 2);
  std::vector<Tensor> params;
  std::vector<std::string> names;
  append_parameters(disp, "dispnet.", params, names);
  append_parameters(pose, "posenet.", params, names);
  AdamOptions ao;
  ao.lr = 2e-4;
  Adam adam(params, names, ao);
  LossConfig lcfg = loss_preset("original");
  std::vector<double> manual;
  for (int step = 0; step < 2; ++step) {
    std::vector<Tensor> disps = disp.forward(b.tgt);
    PoseExpOutput pe = pose.forward(b.tgt, split_sources(b.srcs));
    LossTerms lt = sfm_loss(b.tgt, b.srcs, b.K, disps, pe, lcfg);
    manual.push_back(lt.total_value());
    adam.zero_grad();
    lt.total.backward();
    adam.step();
  }
  // The unit, fed the raw batch (it normalises) with the trainer's control, and a second unit
  // fed the normalised batch with the benchmark's (no read-back): the same numbers.
  SfMLearner a(sfmlearner_defaults(Device::CPU)), c(sfmlearner_defaults(Device::CPU));
  StepControl bench;
  bench.skip_non_finite = false;
  for (int step = 0; step < 2; ++step) {
    INFO("step " << step);
    StepLosses la = a.step(raw);
    StepLosses lc = c.step(b, bench);
    REQUIRE(la.updated);
    REQUIRE(lc.updated);
    REQUIRE(la.total_value() == manual[step]);
    REQUIRE(lc.total_value() == manual[step]);
    REQUIRE(la.photometric_value() + la.smoothness_value() + la.explainability_value() ==
            Approx(la.total_value()).epsilon(1e-6));
  }
  REQUIRE(a.optimizer().steps() == 2);
  std::vector<float> wa = flat(a), wc = flat(c), wm;
  for (const Tensor& p : params) {
    std::vector<float> v = p.to_vector();
    wm.insert(wm.end(), v.begin(), v.end());
  }
  REQUIRE(wa == wm);
  REQUIRE(wc == wm);
}

TEST_CASE("sfmlearner: a batch with NaN throws and updates nothing", "[sfmlearner]") {
  SfMLearner m(sfmlearner_defaults(Device::CPU, 3, 0.0));
  REQUIRE(m.parameter_names().back().rfind("posenet.pose_pred", 0) == 0);  // no mask decoder
  SfMBatch b = random_batch(1, 32, 104, 2, 9);
  Tensor t = b.tgt.clone();
  t.data<float>()[17] = std::nanf("");
  b.tgt = t;
  const std::vector<float> before = flat(m);
  REQUIRE_THROWS_WITH(m.step(b), Catch::Contains("NaN"));
  REQUIRE(m.optimizer().steps() == 0);
  REQUIRE(flat(m) == before);
}

TEST_CASE("sfmlearner: random_batch is seeded, in [0,255], smooth, with KITTI-like K", "[sfmlearner]") {
  SfMBatch a = random_batch(2, 32, 104, 2, 4), b = random_batch(2, 32, 104, 2, 4), c = random_batch(2, 32, 104, 2, 5);
  REQUIRE(a.range == SfMBatch::Range::Raw255);
  REQUIRE(a.tgt.shape() == Shape{2, 3, 32, 104});
  REQUIRE(a.srcs.shape() == Shape{2, 2, 3, 32, 104});
  REQUIRE(a.tgt.to_vector() == b.tgt.to_vector());
  REQUIRE(a.srcs.to_vector() == b.srcs.to_vector());
  REQUIRE(a.tgt.to_vector() != c.tgt.to_vector());
  std::vector<float> v = a.tgt.to_vector();
  double lo = 1e9, hi = -1e9, step = 0, spread = 0, mean = 0;
  for (float x : v) lo = std::min(lo, (double)x), hi = std::max(hi, (double)x), mean += x;
  mean /= (double)v.size();
  for (size_t i = 1; i < v.size(); ++i)
    if (i % 104) step += std::fabs(v[i] - v[i - 1]);
  for (float x : v) spread += std::fabs(x - mean);
  step /= (double)v.size();
  spread /= (double)v.size();
  REQUIRE(lo >= 0);
  REQUIRE(hi <= 255);
  // Smooth: neighbouring pixels differ by far less than pixels differ from the mean.
  INFO("mean |neighbour difference| " << step << ", mean |x - mean| " << spread);
  REQUIRE(step < 0.3 * spread);
  std::vector<float> k = a.K.to_vector();
  REQUIRE(k[0] == Approx(241.7 * 104 / 416.0));
  REQUIRE(k[2] == Approx(204.2 * 104 / 416.0));
  REQUIRE(k[4] == Approx(241.7 * 32 / 128.0));
  REQUIRE(k[5] == Approx(59.0 * 32 / 128.0));
  REQUIRE(k[8] == 1.0f);
}

TEST_CASE("sfmlearner: sfm bench train --compare-cpu on the CPU", "[sfmlearner][cli]") {
  fs::path exe = fs::path(SFM_BINARY_DIR) / "sfm";
  if (!fs::exists(exe)) {
    SFM_SKIP("" << exe.string() << " is not built (build the sfm target)");
    return;
  }
  fs::path dir = fs::temp_directory_path() / ("sfm_test_sfmlearner_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string base = exe.string() + " bench train --compare-cpu --steps 3 --batch 1 --height 32 --width 104";
  auto read = [](const fs::path& p) {
    std::ifstream f(p);
    return json::parse(f);
  };
  {  // CPU against a second CPU run: bit-identical, exit status 0
    fs::path js = dir / "same.json";
    REQUIRE(run(base + " --device cpu --json " + js.string() + " > " + (dir / "same.txt").string()) == 0);
    json j = read(js);
    REQUIRE(j["pass"].get<bool>());
    REQUIRE(j["rule"].get<std::string>() == "bit-identical");
    REQUIRE(j["steps"].size() == 3);
    for (const json& s : j["steps"]) {
      REQUIRE(s["rel_diff"].get<double>() == 0.0);
      REQUIRE(s["loss"].get<double>() == s["cpu_loss"].get<double>());
    }
  }
  {  // perturbed initial weights: no longer identical, within the drift bound
    fs::path js = dir / "perturbed.json";
    REQUIRE(run(base + " --device cpu --perturb 1e-6 --json " + js.string() + " > " + (dir / "p.txt").string()) == 0);
    json j = read(js);
    REQUIRE(j["pass"].get<bool>());
    REQUIRE(j["steps"][0]["rel_diff"].get<double>() > 0.0);
    REQUIRE(j["steps"][0]["rel_diff"].get<double>() <= 1e-4);
  }
  if (!cuda_available()) {  // the GPU mode without a GPU: exit status 2, nothing compared
    REQUIRE(run(base + " --device cuda > " + (dir / "cuda.txt").string() + " 2>&1") == 2);
    std::ifstream f(dir / "cuda.txt");
    std::string text((std::istreambuf_iterator<char>(f)), {});
    REQUIRE_THAT(text, Catch::Contains("no CUDA device"));
  }
  fs::remove_all(dir);
}
