#pragma once
// The op-table rows of min_reprojection_loss (lab/ops/op_cases_min_reprojection.cpp) and
// the scene generator they share with tests/test_min_reprojection.cpp: inputs with no pixel
// near a kink of the loss, so a float32 run and its float64 reference take the same branches
// and a finite difference sees a smooth function.
#include <cstdint>
#include <vector>

#include "boundary/op_types.h"
#include "lab/ops/op_cases.h"

namespace sfm::lab {

// Appends the rows (one implementation per device: "cpu" or "cuda"); seed picks the random shape.
void add_min_reprojection_cases(std::vector<OpCase>& rows, Device device, uint64_t seed);

// A scene for min_reprojection_loss, every value float32-representable (so float32 and float64
// runs see the same numbers): tgt [B,C,H,W], srcs [B,S,C,H,W], depth [B,H,W], poses [B,S,6],
// K [B,3,3]. Drawn, then redrawn where needed until, evaluated in float64 with the engine's
// own math (boundary/math/min_reprojection_math.h):
//   * no pixel's projected u or v lies within 2e-3 px of an integer (bilinear cell edges, the
//     view border of zeros padding, the border clamp): its depth is redrawn;
//   * no target value lies within 1e-3 of its warped sample in any source (the |.| kink): the
//     target value is redrawn;
//   * at no pixel are the two smallest candidates of the selection (warped errors or their
//     mean, unwarped errors + noise) within min_gap of each other (the min's kink): the
//     pixel's target values and depth are redrawn;
// a batch entry still unclean after 40 rounds gets new poses. (The SSIM clamp at 0 and 1 is
// out of reach of such images: (1 - SSIM)/2 near 0 needs a window equal to its warp.)
struct MinReprojectionScene {
  int64_t B, S, C, H, W;
  std::vector<double> tgt, srcs, depth, poses, K;
};
MinReprojectionScene make_min_reprojection_scene(int64_t B, int64_t S, int64_t C, int64_t H, int64_t W,
                                                 const MinReprojectionOptions& opt, uint64_t seed,
                                                 double min_gap = 1e-4, double tmax = 0.5, double rmax = 0.03,
                                                 double dmin = 1, double dmax = 20);

}  // namespace sfm::lab
