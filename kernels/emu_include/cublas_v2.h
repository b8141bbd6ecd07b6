#pragma once
// The emulated device build (-DSFM_EMULATED_CUDA=ON) puts this folder on the include path, so
// that a file including <cublas_v2.h> gets the host emulation of the runtime instead.
#include "kernels/emu_runtime_api.h"
