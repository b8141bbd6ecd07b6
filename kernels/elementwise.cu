// CUDA elementwise ops (kernels in kernels/elementwise_kernels.h).
#include "kernels/elementwise.h"

#include "kernels/elementwise_kernels.h"

namespace sfm::cuda {

void unary_forward(UnaryOp op, const float* x, float* y, int64_t n, float p0, float p1) {
  elem::launch_unary(op, x, y, n, p0, p1);
}
void unary_backward(UnaryOp op, const float* x, const float* y, const float* g, float* gx, int64_t n, float p0,
                    float p1) {
  elem::launch_unary_grad(op, x, y, g, gx, n, p0, p1);
}
void binary_forward(BinaryOp op, const float* a, const float* b, float* out, int64_t n) {
  elem::launch_binary(op, a, b, out, n);
}

}  // namespace sfm::cuda
