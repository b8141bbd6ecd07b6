#pragma once
// REQUIRE_GRADCHECK: Catch2's form of the one gradient checker, sfm::lab::gradcheck
// (lab/ops/gradcheck.h): fails the test case with the worst element of each input.
#include "engine/autograd.h"
#include "engine/ops.h"
#include "lab/ops/gradcheck.h"

// The tests' names for it (sfm::test::gradcheck, sfm::test::grad_input): the same functions.
namespace sfm::test {
using lab::grad_input;
using lab::gradcheck;
using lab::GradcheckResult;
}  // namespace sfm::test

#define REQUIRE_GRADCHECK(...)                       \
  do {                                               \
    auto _gc = ::sfm::lab::gradcheck(__VA_ARGS__);   \
    INFO(_gc.report);                                \
    REQUIRE(_gc.ok);                                 \
  } while (0)
