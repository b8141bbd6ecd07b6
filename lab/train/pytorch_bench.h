#pragma once
// `sfm bench train --pytorch`: the PyTorch reference benchmark (tests/reference/bench_train.py,
// eager and under torch.compile where that exists) run as a subprocess with the same settings,
// and its times and peaks paired with ours (lab/train/step_bench.h) run by run, precision
// by precision: our tf32 with PyTorch's tf32, our FP32 implementations with PyTorch's fp32.
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lab/train/step_bench.h"

namespace sfm {

// `given` when set (it must exist), else tests/reference/bench_train.py found from the current
// folder or from the executable's folders upwards; throws when there is none.
std::string find_pytorch_bench_script(const std::string& given);

// The interpreter for the reference: `given` unless it is "auto"; else the first that imports
// torch among python3 on PATH, /usr/bin/python3, /usr/local/bin/python3, /opt/*/.venv/bin/python3
// and /opt/*/bin/python3 (a GPU image's torch may live in a venv while /usr/bin/python3 has
// none). `tried` gets each candidate and its verdict. Throws, listing them, when none does.
std::string find_python_with_torch(const std::string& given, std::vector<std::string>* tried = nullptr);

// The precision policy to ask the reference for: "fp32" on the CPU; on CUDA "tf32", "fp32" or
// "both", after the precisions of our runs.
std::string pytorch_precision_for(Device dev, const std::vector<TrainBenchRun>& runs);

// Runs `python script` with the settings (progress gets the command line before it starts);
// returns the reference's JSON with "command" added. Throws when it fails or writes no valid
// JSON with a "runs" array.
nlohmann::json run_pytorch_bench(const TrainBenchSettings& s, const std::string& python, const std::string& script,
                                 const std::string& precision, const std::function<void(const std::string&)>& progress);

// One row of the comparison: a reference run that failed, or a reference run
// paired with one of ours of the same precision.
struct PyTorchPairing {
  std::string mode, precision;
  bool failed = false;  // the reference run failed: error says why, no pairing
  std::string error;
  double pytorch_ms = NAN, pytorch_peak_bytes = NAN;  // NaN: the reference did not report it
  std::string ours_impl;
  double ours_ms = NAN, speedup = NAN, memory_ratio = NAN;  // speed-up = PyTorch ms / ours
};
// In the reference's run order; each of its runs gives an error row or one row per our run of
// its precision.
std::vector<PyTorchPairing> pair_with_pytorch(const nlohmann::json& pytorch, const std::vector<TrainBenchRun>& runs);
// The report's "ratios" array (the rows without an error).
nlohmann::json pytorch_ratios_json(const std::vector<PyTorchPairing>& rows);

}  // namespace sfm
