// OpenCV builds: hands the loader-fed half of `sfm bench train` (lab/train/loader_bench.h) to the
// OpenCV-free command (cli/bench_train.cpp) at start-up, through bench_train_loader().
#include "cli/bench_train.h"
#include "lab/train/loader_bench.h"

namespace sfm::cli {
namespace {

const bool kRegistered = (bench_train_loader() = &train_bench_loader(), true);

}  // namespace
}  // namespace sfm::cli
