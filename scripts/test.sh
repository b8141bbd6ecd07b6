#!/usr/bin/env bash
# Sets up and runs the whole test suite:
#  1. installs packages (python3-torch too, when root, to regenerate the PyTorch fixtures),
#  2. builds (with the CUDA backend when nvcc is present) and runs every test through ctest
#     (GPU tests run where a GPU exists and say they were skipped where not),
#  3. makes the GPU bundle (scripts/gpu_bundle.sh: headers and OpenCV-free prebuilt binaries
#     for a bare GPU machine) and prints its size, then runs tests/gpu/first_contact.sh
#     --dry-run (the command for the first GPU call, without a GPU) and checks what it left,
#     checks that the bundle's binaries need nothing a bare GPU image lacks and start in a root
#     holding only glibc, libgomp and the CUDA libraries (tests/gpu/check_bare_root.sh), and
#     reads every kernel's registers and spills from an sm_90 compile (scripts/kernel_resources.sh:
#     fails if one spills),
#  4. the sanitizer build (scripts/sanitize.sh: clang, ASan + UBSan, CPU only): one build for the
#     libFuzzer targets (scripts/fuzz.sh: every parser of outside input, a few seconds each) and
#     the unit tests (`ctest -L unit`: the cases not tagged [long]; the training runs, MPI jobs and
#     whole-network cases run once, in build/).
# After each suite it prints how many tests really ran and how many were skipped: a skipped
# test (no GPU, no fixture) is reported by ctest as "Not Run", never as passed.
# Then the emulated device build (scripts/emu_coverage.sh: the CUDA backend compiled as C++ over
# the host emulation; its [emu] and [gpu] tests and the CUDA op table run on the CPU) and the
# line coverage of the device code they run (fails below 95%).
# At the end (also after a failure) it prints each stage's wall time. SFM_SKIP_SANITIZE=1 skips
# the sanitizer unit tests (not the fuzzers).
set -euo pipefail
cd "$(dirname "$0")/.."
# Stage timing: `stage NAME` ends the previous stage and starts NAME; the table prints on exit.
STAGES=() T_STAGE=$(date +%s) T_START=$T_STAGE STAGE_NAME="setup and build (build/)"
stage() {
  local now; now=$(date +%s)
  STAGES+=("$(printf '%-44s %5d s' "$STAGE_NAME" $((now - T_STAGE)))")
  STAGE_NAME=$1 T_STAGE=$now
}
print_stages() {
  local rc=$?
  stage "(end)"
  echo "== stage times (wall clock, $(nproc) cores)"
  printf '   %s\n' "${STAGES[@]}"
  printf '   %-44s %5d s (%d min)\n' "total" $(($(date +%s) - T_START)) $((($(date +%s) - T_START + 59) / 60))
  [ $rc = 0 ] || echo "== the test command FAILED (exit $rc) in the stage above the (end) line"
}
trap print_stages EXIT
if [ "$(id -u)" = 0 ]; then export SFM_WITH_TORCH=${SFM_WITH_TORCH:-1}; fi
export SFM_WITH_FUZZ=${SFM_WITH_FUZZ:-1}
scripts/setup.sh build

stage "reference fixtures (python3)"
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "== regenerating PyTorch fixtures (python3-torch present)"
  /usr/bin/python3 tests/reference/make_fixtures.py --out tests/fixtures
  echo "== full-size (4x128x416) model parity fixture -> build/fixtures"
  /usr/bin/python3 tests/reference/fixture_model.py --full --out build/fixtures
elif [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import numpy" 2>/dev/null; then
  echo "== python3-torch not available: regenerating the NumPy-only fixtures (odometry), the others from tests/fixtures"
  /usr/bin/python3 tests/reference/fixture_odometry.py --out tests/fixtures
else
  echo "== python3-torch not available: using the committed fixtures in tests/fixtures"
fi

# run_suite DIR: ctest there; then the count of tests that ran, apart from the skipped ones.
run_suite() {
  local log=$1/ctest-output.txt rc
  set +e
  (cd "$1" && ctest --output-on-failure "${@:2}") 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  local total skipped
  total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -n1)
  skipped=$(sed -n '/The following tests did not run:/,/^$/p' "$log" | grep -c '(Skipped)' || true)
  echo "== $1: $((total - skipped)) of $total tests ran; $skipped skipped (listed above, checked nothing); ctest exit $rc"
  # The tests' run folders (checkpoints of 400-800 MB each) are left for inspection; gone before
  # the next suite, so the disk holds one suite's at a time.
  rm -rf "${TMPDIR:-/tmp}"/sfm_test_*
  return "$rc"
}

stage "test suite (build/)"
echo "== test suite (build/)"
run_suite build
if ! nvidia-smi -L >/dev/null 2>&1; then
  echo "== NOTE: no GPU on this machine: the [gpu] tests were skipped and checked nothing on a GPU"
fi

stage "GPU bundle, bare root, dry runs"
echo "== GPU bundle (third_party/) and the first-contact dry run"
scripts/gpu_bundle.sh build
if [ -d third_party/prebuilt/bin ]; then
  # The allow-list must refuse what a bare GPU image lacks: build/sfm links MPI and OpenCV.
  if scripts/check_needed.sh build/sfm > build/check_needed_negative.txt; then
    echo "== check_needed.sh accepted build/sfm, which needs MPI and OpenCV"; exit 1
  fi
  grep -q "libmpi" build/check_needed_negative.txt || { cat build/check_needed_negative.txt; echo "== check_needed.sh did not name libmpi"; exit 1; }
  echo "== check_needed.sh refuses build/sfm: $(cat build/check_needed_negative.txt | cut -c1-160)"
  echo "== the bundle's binaries in a root holding only glibc, libgomp and the CUDA libraries (chroot)"
  bare_rc=0
  tests/gpu/check_bare_root.sh third_party/prebuilt/bin || bare_rc=$?
  if [ $bare_rc = 77 ]; then echo "== bare-root start check SKIPPED (said why above): not proven here"
  elif [ $bare_rc != 0 ]; then exit $bare_rc
  else
    # ... and the same root refuses the binaries without the carried libgomp (it is bare).
    rm -rf build/bare_root_negative && mkdir -p build/bare_root_negative/bin
    cp third_party/prebuilt/bin/sfm third_party/prebuilt/bin/sfm_tests build/bare_root_negative/bin/
    if tests/gpu/check_bare_root.sh build/bare_root_negative/bin > build/bare_root_negative/log.txt 2>&1 ||
      ! grep -q "error while loading shared libraries: libgomp" build/bare_root_negative/log.txt; then
      cat build/bare_root_negative/log.txt; echo "== the bare root started binaries without their libgomp"; exit 1
    fi
    echo "== without the carried libgomp the bare root refuses them, as it should"
  fi
fi
rm -rf build/first_contact_dry build/follow_up_dry build/first_contact_dry_work
# Without nvcc there are no prebuilt binaries: the dry run then takes build/'s.
[ -d third_party/prebuilt/bin ] || export SFM_BIN_DIR=$PWD/build
OUT=build/first_contact_dry WORK=build/first_contact_dry_work tests/gpu/first_contact.sh --dry-run
OUT=build/follow_up_dry WORK=build/first_contact_dry_work tests/gpu/follow_up.sh --dry-run
tests/gpu/check_dry_run.sh build/first_contact_dry build/follow_up_dry

stage "kernel resources (ptxas -v)"
echo "== static kernel resources (sm_90, ptxas -v): fails if a kernel spills (table: docs/kernels.md)"
kr_rc=0
scripts/kernel_resources.sh --json build/kernel_resources.json > build/kernel_resources.md || kr_rc=$?
tail -n 3 build/kernel_resources.md
if [ $kr_rc = 77 ]; then echo "== kernel resources SKIPPED (no nvcc): not checked here"
elif [ $kr_rc != 0 ]; then exit $kr_rc; fi

stage "emulated device build, tests, coverage"
echo "== emulated device build: [emu] + [gpu] tests, CUDA selftest, device-code coverage (build-emu-cov/, gcov)"
scripts/emu_coverage.sh build-emu-cov

stage "sanitizer build (build-sanitize/)"
echo "== sanitizer build (build-sanitize/: clang, ASan + UBSan, CPU only, without MPI): fuzz targets, sfm, sfm_tests"
san_rc=0
scripts/sanitize.sh --build fuzz_all sfm sfm_tests || san_rc=$?
if [ $san_rc = 77 ]; then echo "== sanitizer build, fuzzers and sanitizer unit tests SKIPPED (no clang)"
elif [ $san_rc != 0 ]; then exit $san_rc
else
  stage "fuzzers"
  echo "== fuzzers (build-sanitize/: libFuzzer, ASan + UBSan; ${SFM_FUZZ_SECONDS:-6} s per parser)"
  scripts/fuzz.sh
  if [ "${SFM_SKIP_SANITIZE:-0}" != 1 ]; then
    stage "sanitizer unit tests (ctest -L unit)"
    echo "== unit tests under ASan + UBSan (build-sanitize/, ctest -L unit)"
    scripts/sanitize.sh
  fi
fi
echo "== all tests passed"
