// libFuzzer target: the .npy reader (engine/npy.cpp) on arbitrary bytes. Any sfm::Error is a
// clean refusal; a crash, a sanitizer report or any other exception is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "boundary/error.h"
#include "engine/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    sfm::NpyArray a = sfm::parse_npy(std::string(reinterpret_cast<const char*>(data), size), "fuzz.npy");
    uint64_t n = 1;
    for (int64_t d : a.shape) n *= (uint64_t)d;
    if (n != a.data.size()) __builtin_trap();  // the shape must describe the data returned
  } catch (const sfm::Error&) {
  }
  return 0;
}
