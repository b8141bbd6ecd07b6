#pragma once
// What the `sfm bench` front ends share: the CPU's name for their reports (lab/ops/op_bench.h).
#include "lab/ops/op_bench.h"

namespace sfm::cli {
using lab::cpu_model_name;
}  // namespace sfm::cli
