#pragma once
// float/double overloads of the C math functions that stay in the argument's precision (the C
// library's floor/sin/... are double) and exist on both the host and the device. Shared by the
// per-pixel math headers.
#include <cmath>

#include "boundary/host_device.h"

namespace sfm::math::scalar {

SFM_HD float floor_(float x) { return ::floorf(x); }
SFM_HD double floor_(double x) { return ::floor(x); }
SFM_HD float sin_(float x) { return ::sinf(x); }
SFM_HD double sin_(double x) { return ::sin(x); }
SFM_HD float cos_(float x) { return ::cosf(x); }
SFM_HD double cos_(double x) { return ::cos(x); }
SFM_HD float sqrt_(float x) { return ::sqrtf(x); }
SFM_HD double sqrt_(double x) { return ::sqrt(x); }
SFM_HD float abs_(float x) { return ::fabsf(x); }
SFM_HD double abs_(double x) { return ::fabs(x); }
SFM_HD float log_(float x) { return ::logf(x); }
SFM_HD double log_(double x) { return ::log(x); }
SFM_HD float exp_(float x) { return ::expf(x); }
SFM_HD double exp_(double x) { return ::exp(x); }
SFM_HD float log1p_(float x) { return ::log1pf(x); }
SFM_HD double log1p_(double x) { return ::log1p(x); }
// sign(x) in {-1, 0, 1}, 0 at 0 (and NaN). The sign of a photometric residual or a second
// difference is a coin flip, so a branch on it mispredicts half the time; copysign + a select
// compiles branch-free and avoids the bool -> float conversions of (x > 0) - (x < 0), which
// cost ~2x in the backward loops.
SFM_HD float sign_(float x) { return x == 0.f || x != x ? 0.f : ::copysignf(1.f, x); }
SFM_HD double sign_(double x) { return x == 0.0 || x != x ? 0.0 : ::copysign(1.0, x); }

}  // namespace sfm::math::scalar
