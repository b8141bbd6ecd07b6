#pragma once
// The few device services the engine core needs from the CUDA backend. kernels/ implements
// them when the build has CUDA; engine/cuda_stub.cpp otherwise (cuda_available() == false).
#include <cstddef>
#include <string>

#include "boundary/allocator.h"

namespace sfm {

bool cuda_available();           // built with CUDA and a device is present
std::string cuda_device_name();  // "" when none
Allocator& cuda_allocator();
// Synchronous copy; either side may be CPU or CUDA.
void cuda_memcpy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);
void cuda_fill_f32(float* p, size_t n, float value);
void cuda_synchronize();

}  // namespace sfm
