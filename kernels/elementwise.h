#pragma once
// CUDA elementwise launchers (raw device pointers, on the compute stream). The per-element
// functions are boundary/math/elementwise_math.h's, shared with the CPU loops.
#include <cstdint>

#include "boundary/math/elementwise_math.h"

namespace sfm::cuda {

// y[i] = op(x[i]); p0, p1: the affine scale and shift.
void unary_forward(UnaryOp op, const float* x, float* y, int64_t n, float p0, float p1);
// gx[i] = d op / dx at (x[i], y[i]) times g[i]. gx may alias g.
void unary_backward(UnaryOp op, const float* x, const float* y, const float* g, float* gx, int64_t n, float p0,
                    float p1);
// out[i] = op(a[i], b[i]). out may alias a or b.
void binary_forward(BinaryOp op, const float* a, const float* b, float* out, int64_t n);

}  // namespace sfm::cuda
