#!/usr/bin/env bash
# The sanitizer build, build-sanitize/: clang with AddressSanitizer + UndefinedBehaviorSanitizer
# (and libFuzzer's coverage instrumentation), CPU only, without MPI (Open MPI's own allocations
# and launcher do not run cleanly under ASan/LSan). One build serves two jobs:
#   - the libFuzzer targets (scripts/fuzz.sh runs them), and
#   - the unit tests under the sanitizers: `ctest -L unit`, the test cases not tagged [long]
#     (tests/CMakeLists.txt: the training runs, MPI jobs and whole-network cases run once, in
#     build/, not again here).
# Usage: scripts/sanitize.sh                   build sfm, sfm_tests, fuzz_all; run the unit tests
#        scripts/sanitize.sh --build TARGET...  configure (once) and build TARGETs only
# Exit 77 when clang is missing (Debian: apt-get install clang libclang-rt-14-dev libomp-14-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${SFM_SANITIZE_BUILD:-build-sanitize}
if ! command -v clang++ > /dev/null; then
  echo "sanitize: clang++ not found (Debian: apt-get install clang libclang-rt-14-dev libomp-14-dev): skipped"
  exit 77
fi
GEN=()
command -v ninja > /dev/null && GEN+=(-G Ninja)
command -v ccache > /dev/null && GEN+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  mkdir -p "$BUILD"
  # -g1: line tables are enough for the sanitizers' reports and build much faster than -g.
  cmake -S . -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang -DSFM_CUDA=OFF -DSFM_MPI=OFF -DSFM_FUZZ=ON \
    > "$BUILD/configure.log" 2>&1 || { cat "$BUILD/configure.log"; exit 1; }
fi
if [ "${1:-}" = --build ]; then
  shift
  cmake --build "$BUILD" -j "$(nproc)" --target "$@"
  exit 0
fi
cmake --build "$BUILD" -j "$(nproc)" --target fuzz_all sfm sfm_tests
log=$BUILD/ctest-output.txt
set +e
(cd "$BUILD" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest -L unit --output-on-failure) 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -n1)
skipped=$(sed -n '/The following tests did not run:/,/^$/p' "$log" | grep -c '(Skipped)' || true)
echo "== $BUILD (ASan + UBSan, unit tests): $((${total:-0} - skipped)) of ${total:-0} tests ran; $skipped skipped; ctest exit $rc"
rm -rf "${TMPDIR:-/tmp}"/sfm_test_*
exit "$rc"
