// libFuzzer target: the JSON training config (train/config.cpp apply_json, as --config and
// --resume read it) and the values it resolves.
#include <nlohmann/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "boundary/error.h"
#include "train/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  try {
    sfm::TrainConfig c;
    c.apply_json(j, "fuzz.json");
    (void)c.resolved().dump();
    (void)c.loss();
    (void)c.pose_net();
    if (c.i("steps") < 1 || c.i("batch") < 1 || !(c.f("lr") > 0)) __builtin_trap();  // ranges hold
  } catch (const sfm::Error&) {
  }
  return 0;
}
