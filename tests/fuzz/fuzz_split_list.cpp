// libFuzzer target: split lists (train.txt, val.txt; eval/data_layout.cpp split_list_lines).
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>

#include "boundary/error.h"
#include "eval/data_layout.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (const auto& l : sfm::split_list_lines(std::string(reinterpret_cast<const char*>(data), size)))
    if (!l.empty() && (std::isspace((unsigned char)l.front()) || std::isspace((unsigned char)l.back())))
      __builtin_trap();  // lines come back trimmed
  return 0;
}
