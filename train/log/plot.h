#pragma once
// The line charts moved to eval/plot.h (the odometry evaluation draws with them too, and eval/
// may not include train/); this header keeps the trainer's include working.
#include "eval/plot.h"
