// libFuzzer target: the completeness check of PNG/JPEG bytes (eval/image_bytes.cpp).
#include <cstddef>
#include <cstdint>
#include <string>

#include "boundary/error.h"
#include "eval/image_bytes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)sfm::image_bytes_problem(data, size);
  return 0;
}
