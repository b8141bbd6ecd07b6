// `sfm bench train --pytorch` (lab/train/pytorch_bench.h).
#include "lab/train/pytorch_bench.h"

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "engine/error.h"
#include "engine/parallel.h"

namespace sfm {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string sh_quote(const std::string& s) {
  std::string r = "'";
  for (char c : s) r += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return r + "'";
}

}  // namespace

std::string find_pytorch_bench_script(const std::string& given) {
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

std::string find_python_with_torch(const std::string& given, std::vector<std::string>* tried) {
  if (given != "auto") return given;
  std::vector<std::string> cands;
  auto add = [&](const fs::path& p) {
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) return;
    for (const std::string& c : cands)
      if (c == p.string()) return;
    cands.push_back(p.string());
  };
  if (const char* path = std::getenv("PATH")) {
    std::string dirs = path;
    for (size_t b = 0; b <= dirs.size();) {
      size_t e = dirs.find(':', b);
      if (e == std::string::npos) e = dirs.size();
      if (e > b) add(fs::path(dirs.substr(b, e - b)) / "python3");
      b = e + 1;
    }
  }
  add("/usr/bin/python3");
  add("/usr/local/bin/python3");
  std::error_code ec;
  std::vector<fs::path> opt;
  for (const auto& d : fs::directory_iterator("/opt", ec)) opt.push_back(d.path());
  std::sort(opt.begin(), opt.end());
  for (const fs::path& d : opt) {
    add(d / ".venv/bin/python3");
    add(d / "bin/python3");
  }
  std::string list;
  for (const std::string& c : cands) {
    const int rc = std::system((sh_quote(c) + " -c 'import torch' > /dev/null 2>&1").c_str());
    const bool ok = rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
    if (tried) tried->push_back(c + (ok ? ": imports torch" : ": no torch"));
    list += (list.empty() ? "" : ", ") + c;
    if (ok) return c;
  }
  fail("sfm bench train --pytorch: no Python interpreter here imports torch (tried ",
       list.empty() ? std::string("none found") : list, "); pass --python");
}

std::string pytorch_precision_for(Device dev, const std::vector<TrainBenchRun>& runs) {
  if (dev != Device::CUDA) return "fp32";
  bool tf = false, fp = false;
  for (const TrainBenchRun& r : runs) (r.precision == "tf32" ? tf : fp) = true;
  return tf && fp ? "both" : tf ? "tf32" : "fp32";
}

json run_pytorch_bench(const TrainBenchSettings& s, const std::string& python, const std::string& script,
                       const std::string& precision, const std::function<void(const std::string&)>& progress) {
  BenchTempDir tmp;
  const std::string out = tmp.path() + "/pytorch.json";
  std::string cmd = sh_quote(python) + " " + sh_quote(script) + " --device " +
                    (s.dev == Device::CUDA ? "cuda" : "cpu") + " --batch " + std::to_string(s.batch) + " --height " +
                    std::to_string(s.height) + " --width " + std::to_string(s.width) + " --seq-length " +
                    std::to_string(s.seq_length) + " --mask-weight " + std::to_string(s.mask_weight) + " --iters " +
                    std::to_string(s.iters) + " --warmup " + std::to_string(s.warmup) + " --precision " + precision +
                    " --json " + sh_quote(out);
  if (s.dev == Device::CPU) cmd += " --threads " + std::to_string(cpu_threads());
  if (progress) progress("\nPyTorch reference: " + cmd);
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
  j["python_interpreter"] = python;
  return j;
}

std::vector<PyTorchPairing> pair_with_pytorch(const json& pytorch, const std::vector<TrainBenchRun>& runs) {
  std::vector<PyTorchPairing> rows;
  for (const json& pr : pytorch["runs"]) {
    PyTorchPairing base;
    base.mode = pr.value("mode", "?");
    base.precision = pr.value("precision", "?");
    if (pr.contains("error")) {
      base.failed = true;
      base.error = pr["error"].get<std::string>();
      rows.push_back(base);
      continue;
    }
    base.pytorch_ms = pr.value("ms_median", NAN);
    base.pytorch_peak_bytes =
        pr.contains("peak_bytes") && pr["peak_bytes"].is_number() ? pr["peak_bytes"].get<double>() : NAN;
    for (const TrainBenchRun& r : runs) {
      if (r.precision != base.precision) continue;
      PyTorchPairing row = base;
      row.ours_impl = r.impl;
      row.ours_ms = bench_median(r.ms);
      row.speedup = row.pytorch_ms / row.ours_ms;
      row.memory_ratio = std::isfinite(row.pytorch_peak_bytes) ? (double)r.mem_after.peak_bytes / row.pytorch_peak_bytes : NAN;
      rows.push_back(row);
    }
  }
  return rows;
}

json pytorch_ratios_json(const std::vector<PyTorchPairing>& rows) {
  json ratios = json::array();
  for (const PyTorchPairing& p : rows) {
    if (p.failed) continue;
    ratios.push_back({{"pytorch_mode", p.mode},
                      {"precision", p.precision},
                      {"pytorch_ms", p.pytorch_ms},
                      {"ours_conv_impl", p.ours_impl},
                      {"ours_ms", p.ours_ms},
                      {"speedup_ours_over_pytorch", p.speedup},
                      {"memory_ours_over_pytorch", std::isfinite(p.memory_ratio) ? json(p.memory_ratio) : json(nullptr)}});
  }
  return ratios;
}

}  // namespace sfm
