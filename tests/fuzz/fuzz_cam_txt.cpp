// libFuzzer target: cam.txt (eval/data_layout.cpp parse_numbers_text + intrinsics_problem).
#include <cstddef>
#include <cstdint>
#include <string>

#include "boundary/error.h"
#include "eval/data_layout.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto k = sfm::parse_numbers_text(std::string(reinterpret_cast<const char*>(data), size), "cam.txt");
    std::string why = sfm::intrinsics_problem(k);
    if (why.empty() && (k.size() != 9 || !(k[0] > 0) || !(k[4] > 0))) __builtin_trap();  // accepted bad intrinsics
  } catch (const sfm::Error&) {
  }
  return 0;
}
