#pragma once
// SFM_HD marks per-pixel math shared by the CPU loops and the CUDA kernels: one copy of
// the arithmetic, compiled for both, so the CPU tests exercise what runs on the GPU.
#if defined(__CUDACC__)
#define SFM_HD __host__ __device__ __forceinline__
#else
#define SFM_HD inline
#endif
