// The emulated device build (-DSFM_EMULATED_CUDA=ON) leaves out the library convolution paths
// (kernels/conv_cublas.cu, kernels/conv_cudnn.cu): cuBLAS and cuDNN have no host emulation.
// These stand-ins keep kernels/conv.cu's dispatcher unchanged and make a call of the cuBLAS
// path fail with a clear error; the op table and the [gpu] tests report those rows as not run
// ("not in the emulated build") rather than calling them. (cuDNN needs no stand-in: the
// dispatcher refers to it only when SFM_WITH_CUDNN, which this build never sets.)
#if SFM_EMULATED_CUDA
#include "boundary/error.h"
#include "kernels/conv_library.h"

namespace sfm::cuda::lib {

namespace {
[[noreturn]] void not_emulated(const char* direction) {
  fail("conv2d ", direction, " (cuBLAS): the im2col + cuBLAS path is not in the emulated build (cuBLAS has no host "
       "emulation; use handwritten or tf32)");
}
}  // namespace

void cublas_forward(const ConvGeom&, const float*, const float*, float*) { not_emulated("forward"); }
void cublas_backward_data(const ConvGeom&, const float*, const float*, float*) { not_emulated("backward-data"); }
void cublas_backward_filter(const ConvGeom&, const float*, const float*, float*) { not_emulated("backward-weight"); }

}  // namespace sfm::cuda::lib
#endif  // SFM_EMULATED_CUDA
