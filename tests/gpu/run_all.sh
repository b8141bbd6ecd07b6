#!/usr/bin/env bash
# Everything a GPU machine should run, in one go, with every output under $OUT:
#   1. configure and build for the GPU present (its compute capability from nvidia-smi),
#   2. the whole test suite (CPU tests, emulated kernel tests, and the [gpu] tests),
#   3. compute-sanitizer memcheck, racecheck and synccheck on the [gpu] tests,
#   4. sfm bench kernels --device cuda --json.
# Usage (from anywhere):  OUT=/some/dir tests/gpu/run_all.sh
# Environment: OUT (default ./gpu-results), BUILD (default <repo>/build-gpu), JOBS (default
# nproc), SANITIZE_TESTS (the Catch2 filter the sanitizers run, default "[gpu]"),
# BENCH_ARGS (extra arguments for the benchmark). Exit status: 0 when every step passed.
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${OUT:-$PWD/gpu-results}
BUILD=${BUILD:-$ROOT/build-gpu}
JOBS=${JOBS:-$(nproc)}
SANITIZE_TESTS=${SANITIZE_TESTS:-[gpu]}
BENCH_ARGS=${BENCH_ARGS:-}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
status=0

note() { echo "[run_all] $*" | tee -a "$SUMMARY"; }
# step NAME LOGFILE command...: runs, records the exit status, never stops the script.
step() {
  local name=$1 log=$2
  shift 2
  local t0=$SECONDS
  "$@" > "$log" 2>&1
  local rc=$?
  note "$name: exit $rc ($((SECONDS - t0)) s), log $(basename "$log")"
  [ $rc -eq 0 ] || status=1
  return $rc
}

note "repository $ROOT, build $BUILD, output $OUT"
if ! command -v nvidia-smi > /dev/null 2>&1 || ! nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1; then
  note "no working nvidia-smi: this script is for a machine with an NVIDIA GPU"
  exit 1
fi
CC=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n1 | tr -d ' .')
note "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n1), sm_$CC"
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
SANITIZER=${SANITIZER:-$(command -v compute-sanitizer || echo "$(dirname "$NVCC")/compute-sanitizer")}
(cd "$ROOT" && git rev-parse HEAD 2> /dev/null && git status --short 2> /dev/null) > "$OUT/source-version.txt"

# 1. build
step configure "$OUT/configure.log" cmake -S "$ROOT" -B "$BUILD" -DSFM_CUDA=ON -DCMAKE_CUDA_COMPILER="$NVCC" \
  -DCMAKE_CUDA_ARCHITECTURES="$CC" -DCMAKE_BUILD_TYPE=Release || exit 1
step build "$OUT/build.log" cmake --build "$BUILD" -j "$JOBS" --target sfm_tests sfm || exit 1
grep -E "warning" "$OUT/build.log" > "$OUT/build-warnings.txt" || true
note "build warnings: $(wc -l < "$OUT/build-warnings.txt") lines (build-warnings.txt)"

# 2. the whole suite (JUnit for tools, console for people); the [gpu] tests again with their tables
step "tests (all)" "$OUT/tests.log" "$BUILD/sfm_tests" --durations yes
"$BUILD/sfm_tests" -r junit -o "$OUT/tests.junit.xml" > /dev/null 2>&1 || true
step "tests [gpu]" "$OUT/tests-gpu.log" "$BUILD/sfm_tests" "[gpu]" --durations yes
if grep -q "SKIPPED" "$OUT/tests-gpu.log"; then
  note "WARNING: some [gpu] tests were skipped (no device visible to the tests?)"
  status=1
fi

# 3. sanitizers on the GPU tests (memcheck: out-of-bounds and misaligned accesses, leaks of
#    device memory at exit are not errors here because the caching allocator keeps its
#    blocks; racecheck: shared-memory hazards; synccheck: barrier misuse)
if [ -x "$SANITIZER" ]; then
  export SFM_GPU_TESTS_SMALL=1  # the convolution test at 32x104 (every path, less time)
  step "compute-sanitizer memcheck" "$OUT/sanitizer-memcheck.log" \
    "$SANITIZER" --tool memcheck --error-exitcode 1 "$BUILD/sfm_tests" "$SANITIZE_TESTS"
  step "compute-sanitizer racecheck" "$OUT/sanitizer-racecheck.log" \
    "$SANITIZER" --tool racecheck --racecheck-report all --error-exitcode 1 "$BUILD/sfm_tests" "$SANITIZE_TESTS"
  step "compute-sanitizer synccheck" "$OUT/sanitizer-synccheck.log" \
    "$SANITIZER" --tool synccheck --error-exitcode 1 "$BUILD/sfm_tests" "$SANITIZE_TESTS"
  unset SFM_GPU_TESTS_SMALL
else
  note "compute-sanitizer not found at $SANITIZER: sanitizer runs skipped"
  status=1
fi

# 4. the kernel benchmark
# shellcheck disable=SC2086
step "bench kernels" "$OUT/bench-kernels.txt" "$BUILD/sfm" bench kernels --device cuda --json "$OUT/bench-kernels.json" $BENCH_ARGS

note "done: overall status $status"
exit $status
