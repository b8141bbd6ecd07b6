#pragma once
// The op-table rows of upsample_bilinear and edge_aware_smoothness
// (lab/ops/op_cases_smooth_upsample.cpp), appended by op_cases().
#include <cstdint>
#include <vector>

#include "lab/ops/op_cases.h"

namespace sfm::lab {

// Appends the rows (one implementation per device: "cpu" or "cuda"); seed picks the random shapes.
void add_smooth_upsample_cases(std::vector<OpCase>& rows, Device device, uint64_t seed);

// A disparity map [B, H, W] for edge_aware_smoothness away from its kinks, smooth as a network's
// disparity is: a sum of three random sinusoids per entry (0.5 to 3 cycles across the image) in
// [0.15, 0.95], quantised to multiples of 1/64 (exact in float32). Two neighbours are then equal
// (d'(p) - d'(q) is an exact 0 on every side, where both take d|e|/de = 0 and a central
// difference gives 0 too) or differ by >= 1/64 / den, far from rounding and from any
// finite-difference step. (Smoothness matters to the float64 gradient check at 128x416: every
// pixel's perturbation moves the entry's mean, so all of its ~10^5 terms are re-rounded, and the
// central difference's rounding noise, relative to the largest gradient, grows with the loss;
// on i.i.d. levels (loss ~0.5) it reached 2.8e-6 against the check's 1e-6, on smooth maps the
// loss is ~0.02.)
std::vector<double> kink_free_disparity(int64_t B, int64_t H, int64_t W, uint64_t seed);

}  // namespace sfm::lab
