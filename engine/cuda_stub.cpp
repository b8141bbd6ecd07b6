// CPU-only builds: the device services report that there is no CUDA device.
#include "boundary/device_runtime.h"
#include "boundary/error.h"

namespace sfm {

bool cuda_available() { return false; }
std::string cuda_device_name() { return ""; }
Allocator& cuda_allocator() { fail("this build of sfm has no CUDA backend (configure with nvcc present, or -DSFM_CUDA=ON)"); }
void cuda_memcpy(void*, Device, const void*, Device, size_t) { fail("cuda_memcpy: this build of sfm has no CUDA backend"); }
void cuda_fill_f32(float*, size_t, float) { fail("cuda_fill_f32: this build of sfm has no CUDA backend"); }
void cuda_synchronize() {}

}  // namespace sfm
