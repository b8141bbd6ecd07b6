// libFuzzer target: the safetensors reader (engine/safetensors.cpp) on arbitrary bytes. Any
// sfm::Error is a clean refusal; a crash, a sanitizer report or another exception is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "boundary/error.h"
#include "engine/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    sfm::SafeTensors st =
        sfm::parse_safetensors(std::string(reinterpret_cast<const char*>(data), size), "fuzz.safetensors");
    for (const auto& [name, t] : st.tensors)
      if ((uint64_t)t.nbytes() > size) __builtin_trap();  // no tensor larger than the file
  } catch (const sfm::Error&) {
  }
  return 0;
}
