#!/usr/bin/env bash
# The first command to run whenever a GPU machine is lent (about 15 minutes in all, 10 at most
# per command): everything we need to learn from it, most informative first, in under 9
# minutes, so that a second run fits in the same window.
#
#   OUT=/dir tests/gpu/first_contact.sh            # on the GPU machine ($OUT: the folder that comes back)
#   OUT=/dir tests/gpu/first_contact.sh --dry-run  # anywhere: the orchestration without a GPU (CI runs it)
#
# What comes back (at most 8 files may: so everything is in three):
#   $OUT/summary.txt      one line per step, appended the moment the step ends (name, verdict,
#                         seconds used / budget, log), then the summary table at the end;
#   $OUT/logs.tar.gz      every step's log, JUnit XML and JSON; rewritten (temporary name, then
#                         renamed) after every step, so a run cut short returns all finished steps;
#   $OUT/source.txt       the commit this tree came from (third_party/SOURCE_VERSION.txt when the
#                         copy is not a git checkout), the GPU, the driver.
#
# Every step runs under its own `timeout` (its budget, below, or what is left of the whole
# run's budget if less) and never stops the next one. Verdicts: PASS, FAIL (exit status and
# log), TIMEOUT (the budget ran out; killed), SKIPPED (said why: no GPU, no tool, no time left).
#
# Binaries: third_party/prebuilt/bin/{sfm,sfm_tests} (scripts/gpu_bundle.sh makes them on the
# development machine) when they start here; else a build from source with ninja, with the
# header-only dependencies in third_party/ and cuDNN/cuBLAS from PyTorch's wheels.
#
# Environment: OUT (default ./first_contact_out), WORK (scratch, default a fresh folder under
# /tmp), TOTAL_BUDGET_S (default 530: the whole run), SFM_BIN_DIR (use these sfm and sfm_tests,
# e.g. a build folder), FORCE_BUILD=1 (ignore the prebuilt binaries), JOBS (default nproc).
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
[ "${SFM_FIRST_CONTACT_DRY:-0}" = 1 ] && DRY=1
OUT=${OUT:-$PWD/first_contact_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=${WORK:-$(mktemp -d /tmp/sfm_first_contact.XXXXXX)}
mkdir -p "$WORK/logs"
LOGS=$WORK/logs
TOTAL_BUDGET_S=${TOTAL_BUDGET_S:-530}
JOBS=${JOBS:-$(nproc)}
TP=$ROOT/third_party
T0=$SECONDS
DEADLINE=$((T0 + TOTAL_BUDGET_S))
RESERVE_S=8  # kept back for the final table and archive
SUMMARY=$OUT/summary.txt
rm -f "$OUT/summary.txt" "$OUT/logs.tar.gz" "$OUT/logs.tar.gz.tmp" "$OUT/source.txt"  # a previous run's
: > "$SUMMARY"
STEP_NO=0
declare -a TABLE=()

have_gpu=0
if command -v nvidia-smi > /dev/null 2>&1 && nvidia-smi -L > /dev/null 2>&1; then have_gpu=1; fi

archive() {  # the logs so far, atomically
  tar -czf "$OUT/logs.tar.gz.tmp" -C "$WORK" logs 2> /dev/null && mv -f "$OUT/logs.tar.gz.tmp" "$OUT/logs.tar.gz"
}
record() {  # record NAME VERDICT USED BUDGET LOG DETAIL
  local line
  line=$(printf '%-26s %-8s %4ss / %3ss  %-28s %s' "$1" "$2" "$3" "$4" "$5" "$6")
  echo "$line" >> "$SUMMARY"
  echo "[first_contact] $line"
  TABLE+=("$line")
  LAST_VERDICT=$2
  archive
}
# A message in a log that means "nothing could run here", which is a SKIPPED, not a FAIL, when
# this machine has no GPU (the dry run); on a GPU machine the same message is a FAIL.
NO_DEVICE_RE='no CUDA device|SKIPPED: no CUDA|has no CUDA backend|no CUDA backend|cuda_available\(\) is false'

# step NAME BUDGET_S KIND -- command...
#   KIND: gpu (needs a GPU: without one, a "no CUDA device" exit is SKIPPED), any (runs anywhere),
#         tests (a Catch2 run: also SKIPPED when every test said SKIPPED).
step() {
  local name=$1 budget=$2 kind=$3
  shift 4
  STEP_NO=$((STEP_NO + 1))
  local log
  log=$(printf '%02d-%s.log' "$STEP_NO" "$(echo "$name" | tr -c 'A-Za-z0-9_.\n-' '_')")
  local left=$((DEADLINE - SECONDS - RESERVE_S))
  if [ "$left" -lt 5 ]; then
    echo "not run: ${left}s of the ${TOTAL_BUDGET_S}s run budget left" > "$LOGS/$log"
    record "$name" SKIPPED 0 "$budget" "$log" "no time left (${left}s of the run's budget)"
    return 0
  fi
  local limit=$budget
  [ "$left" -lt "$limit" ] && limit=$left
  local t0=$SECONDS
  {
    echo "# step $STEP_NO: $name (budget ${budget}s, limit ${limit}s)"
    printf '# command:'
    printf ' %q' "$@"
    echo
  } > "$LOGS/$log"
  # A fresh bash runs the command, so a shell function of this script (exported) can be a step.
  timeout -k 5 "$limit" bash -c '"$@"' step "$@" >> "$LOGS/$log" 2>&1 < /dev/null
  local rc=$? used=$((SECONDS - t0)) verdict detail
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    verdict=TIMEOUT
    detail="killed after ${limit}s"
  elif [ $rc -eq 77 ]; then
    verdict=SKIPPED
    detail=$(grep -m1 '^SKIPPED' "$LOGS/$log" | cut -c1-90)
  elif [ $have_gpu = 0 ] && [ "$kind" != any ] && grep -Eq "$NO_DEVICE_RE" "$LOGS/$log"; then
    verdict=SKIPPED
    detail="no GPU here: $(grep -Eom1 "$NO_DEVICE_RE" "$LOGS/$log" | head -n1)"
  elif [ $rc -eq 0 ]; then
    verdict=PASS
    detail=""
  else
    verdict=FAIL
    detail="exit $rc: $(grep -v '^#' "$LOGS/$log" | grep -Eim1 'error|fail|abort|fault' | cut -c1-80)"
  fi
  if [ "$kind" = tests ] && [ -n "${JUNIT:-}" ] && [ -f "$JUNIT" ]; then
    # Catch2's JUnit: one <testcase> per test case; a skipped test printed one "SKIPPED:" line
    # to stdout, i.e. the step's log (tests/test_support.h). Failed assertions: the suite's
    # failures/errors.
    local cases skipped failures
    cases=$(grep -c '<testcase' "$JUNIT" || true)
    skipped=$(grep -c '^SKIPPED:' "$LOGS/$log" || true)
    failures=$(grep -m1 -o 'errors="[0-9]*" failures="[0-9]*"' "$JUNIT" | tr -d '"')
    if [ "$verdict" = PASS ] && [ "$cases" -gt 0 ] && [ "$skipped" -ge "$cases" ]; then
      verdict=SKIPPED
      detail="every test said SKIPPED"
    fi
    [ "$cases" = 0 ] && [ "$verdict" = PASS ] && verdict=FAIL && detail="no test matched the filter"
    detail="$cases tests, $((cases - skipped)) ran, $skipped skipped, $failures${detail:+; $detail}"
  fi
  record "$name" "$verdict" "$used" "$budget" "$log" "$detail"
  return 0
}

# ------------------------------------------------------------------ what this copy is
{
  echo "first_contact.sh started $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), dry run: $DRY, GPU present: $have_gpu"
  if git -C "$ROOT" rev-parse HEAD > /dev/null 2>&1; then
    echo "commit: $(git -C "$ROOT" rev-parse HEAD) ($(git -C "$ROOT" log -1 --format=%s))"
    echo "local changes:"
    git -C "$ROOT" status --short | sed 's/^/  /'
  elif [ -f "$TP/SOURCE_VERSION.txt" ]; then
    echo "not a git checkout; third_party/SOURCE_VERSION.txt (written by scripts/gpu_bundle.sh):"
    sed 's/^/  /' "$TP/SOURCE_VERSION.txt"
  else
    echo "commit: unknown (not a git checkout and no third_party/SOURCE_VERSION.txt)"
  fi
  [ $have_gpu = 1 ] && nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
} > "$OUT/source.txt" 2>&1
cp "$OUT/source.txt" "$LOGS/00-source.txt"
echo "[first_contact] output in $OUT, scratch in $WORK, run budget ${TOTAL_BUDGET_S}s, GPU present: $have_gpu, dry run: $DRY"

# ------------------------------------------------------------------ libraries
# cuBLAS and cuDNN: the toolkit's, else PyTorch's wheels (site-packages/nvidia/*/lib).
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
CUDA_HOME=${CUDA_HOME:-$(cd "$(dirname "$NVCC")/.." 2> /dev/null && pwd || echo /usr/local/cuda)}
PY=$(command -v python3 || true)
SITE=""
[ -n "$PY" ] && SITE=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" 2> /dev/null || true)
LIBDIRS=""
for d in "$CUDA_HOME/lib64" "$CUDA_HOME/lib" "$SITE"/nvidia/*/lib "$TP/prebuilt/lib"; do
  [ -d "$d" ] && LIBDIRS="$LIBDIRS:$d"
done
export LD_LIBRARY_PATH="${LIBDIRS#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export SFM_SOURCE_DIR=$ROOT  # the tests' fixtures (tests/fixtures) in this copy of the tree
export ROOT TP NVCC CUDA_HOME PY SITE JOBS

# ------------------------------------------------------------------ orchestration probes (dry run only)
if [ $DRY = 1 ]; then
  step "probe: overruns budget" 2 any -- sleep 30
  step "probe: fails" 5 any -- bash -c 'echo "this step fails on purpose (dry run)"; exit 3'
fi

# ------------------------------------------------------------------ 1. environment (20 s)
env_report() {
  echo "== nvidia-smi"
  nvidia-smi || echo "nvidia-smi: not available (no CUDA device)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap,clocks.sm,clocks.max.sm,power.limit --format=csv 2>&1
  echo "== nvcc"
  "$NVCC" --version 2>&1 || echo "nvcc not found at $NVCC"
  echo "== compute-sanitizer"
  command -v compute-sanitizer || ls "$CUDA_HOME"/bin/compute-sanitizer 2>&1
  echo "== cmake, ninja, c++"
  cmake --version 2>&1 | head -n1
  ninja --version 2>&1
  c++ --version 2>&1 | head -n1
  echo "== libraries (toolkit and PyTorch wheels)"
  ls -1 "$CUDA_HOME"/lib64/libcudnn.so* "$CUDA_HOME"/lib64/libcublas.so* 2>&1 | head
  ls -1 "$SITE"/nvidia/cudnn/lib/libcudnn.so* "$SITE"/nvidia/cublas/lib/libcublas.so* 2>&1 | head
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  echo "== PyTorch, and a device-to-device copy (bytes read + written over time)"
  PYTHONUNBUFFERED=1 "$PY" - << 'EOF'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())
if not torch.cuda.is_available():
    print("no CUDA device visible to PyTorch")
    raise SystemExit(0)
p = torch.cuda.get_device_properties(0)
print(f"{p.name}: {p.multi_processor_count} SMs, {p.total_memory / 2**30:.1f} GiB, L2 {getattr(p, 'L2_cache_size', 0) / 2**20:.0f} MiB")
n = 1 << 28  # 1 GiB of float32
x = torch.randn(n, device="cuda")
ys = [torch.empty_like(x) for _ in range(2)]
for i in range(3):
    ys[i % 2].copy_(x)
torch.cuda.synchronize()
times = []
for i in range(10):
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record(); ys[i % 2].copy_(x); b.record(); b.synchronize()
    times.append(a.elapsed_time(b))
times.sort()
ms = times[len(times) // 2]
print(f"device-to-device copy of 1 GiB: median {ms:.3f} ms over 10 -> {2 * 4 * n / ms / 1e6:.0f} GB/s (read + write)")
EOF
  [ $? -eq 0 ] || echo "PyTorch not usable with $PY (the copy bandwidth is also measured by sfm bench kernels)"
  return 0
}
export -f env_report
step "environment" 20 any -- env_report

# ------------------------------------------------------------------ 2. binaries (prebuilt 20 s; else build 240 s)
BIN=""
try_bin() {  # try_bin DIR: the binaries there start on this machine
  local d=$1
  [ -x "$d/sfm" ] && [ -x "$d/sfm_tests" ] || { echo "no sfm/sfm_tests in $d"; return 1; }
  echo "== ldd (LD_LIBRARY_PATH=$LD_LIBRARY_PATH)"
  ldd "$d/sfm_tests"
  if ldd "$d/sfm_tests" | grep -q "not found"; then echo "missing libraries: $(ldd "$d/sfm_tests" | grep 'not found' | tr '\n' ' ')"; return 1; fi
  "$d/sfm" --help > /dev/null || { echo "$d/sfm does not start"; return 1; }
  echo "tests: $("$d/sfm_tests" --list-test-names-only | grep -c .) test cases listed"
}
build_from_source() {
  local cap
  cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2> /dev/null | head -n1 | tr -d ' .')
  [ -n "$cap" ] || cap=90
  local gen=()
  command -v ninja > /dev/null && gen=(-G Ninja)
  cmake -S "$ROOT" -B "$ROOT/build-gpu" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DSFM_CUDA=ON \
    -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_ARCHITECTURES="$cap" -DCMAKE_DISABLE_FIND_PACKAGE_OpenCV=ON \
    -DSFM_THIRD_PARTY="$TP" &&
    cmake --build "$ROOT/build-gpu" -j "$JOBS" --target sfm sfm_tests
}
export -f try_bin build_from_source
if [ -n "${SFM_BIN_DIR:-}" ]; then
  step "binaries: $SFM_BIN_DIR" 20 any -- try_bin "$SFM_BIN_DIR"
  [ "$LAST_VERDICT" = PASS ] && BIN=$SFM_BIN_DIR
elif [ "${FORCE_BUILD:-0}" != 1 ] && [ -d "$TP/prebuilt/bin" ]; then
  step "binaries: prebuilt" 20 any -- try_bin "$TP/prebuilt/bin"
  [ "$LAST_VERDICT" = PASS ] && BIN=$TP/prebuilt/bin
fi
if [ -z "$BIN" ]; then
  if [ $DRY = 1 ] && [ $have_gpu = 0 ]; then
    record "binaries: build" SKIPPED 0 240 "-" "dry run: no prebuilt binaries that start; not building here"
  else
    step "binaries: build" 240 any -- build_from_source
    try_bin "$ROOT/build-gpu" > /dev/null 2>&1 && BIN=$ROOT/build-gpu
  fi
fi

if [ -z "$BIN" ]; then
  record "remaining steps" SKIPPED 0 0 "-" "no binaries: nothing else can run"
else
  SFM=$BIN/sfm
  TESTS=$BIN/sfm_tests
  JSONS=$LOGS

  # ---------------------------------------------------------------- 3. selftest (45 s)
  step "selftest cuda" 60 gpu -- "$SFM" selftest --device cuda --json "$JSONS/selftest.json"

  # ---------------------------------------------------------------- 4. [gpu] tests, one process per tag (45+45+25+25+25 s)
  # SFM_CUDA_SYNC=1: every launch is followed by a stream synchronisation, so a fault is
  # reported at the launch that caused it. One process per group: a sticky device fault
  # fails one group, not the rest.
  gpu_tests() {  # gpu_tests FILTER JUNIT
    SFM_CUDA_SYNC=1 "$TESTS" "$1" -r junit -o "$2" --durations yes
  }
  export SFM TESTS
  export -f gpu_tests
  for group in "conv:[gpu][conv]:45" "dispatch:[gpu][dispatch]:45" "warp:[gpu][warp]:25" \
    "parity:[gpu][parity]:25" "other:[gpu]~[conv]~[dispatch]~[warp]~[parity]:25"; do
    IFS=: read -r gname gfilter gbudget <<< "$group"
    JUNIT=$LOGS/tests-$gname.junit.xml
    step "tests $gfilter" "$gbudget" tests -- gpu_tests "$gfilter" "$JUNIT"
    unset JUNIT
  done

  # ---------------------------------------------------------------- 5. 50 training steps, CUDA against the CPU (60 s)
  step "train 50 steps cuda vs cpu" 60 gpu -- "$SFM" bench train --device cuda --compare-cpu --steps 50 --json "$JSONS/train_compare.json"

  # ---------------------------------------------------------------- 6. compute-sanitizer (45 + 45 + 30 s)
  # On the quick selftest (one or more cases of every kernel family), with the caching
  # allocator bypassed (SFM_CUDA_ALLOC=direct: one cudaMalloc per tensor, exactly its size),
  # so an access past a tensor's end is outside any allocation.
  SAN=$(command -v compute-sanitizer || echo "$CUDA_HOME/bin/compute-sanitizer")
  sanitize() {  # sanitize TOOL EXTRA...
    local tool=$1
    shift
    if [ ! -x "$SAN" ]; then echo "SKIPPED: compute-sanitizer not found (looked at $SAN)"; return 77; fi
    SFM_CUDA_ALLOC=direct "$SAN" --tool "$tool" --error-exitcode 9 "$@" "$SFM" selftest --device cuda --quick
  }
  export SAN
  export -f sanitize
  step "memcheck (selftest quick)" 45 gpu -- sanitize memcheck --leak-check full
  step "racecheck (selftest quick)" 45 gpu -- sanitize racecheck --racecheck-report all
  step "synccheck (selftest quick)" 30 gpu -- sanitize synccheck

  # ---------------------------------------------------------------- 7. benchmarks (30 + 75 s)
  step "bench kernels" 30 gpu -- "$SFM" bench kernels --device cuda --reps 10 --warmup 2 --check-batch 0 \
    --json "$JSONS/bench_kernels.json"
  step "bench train vs pytorch" 75 gpu -- "$SFM" bench train --device cuda --pytorch --json "$JSONS/bench_train.json"
fi

# ------------------------------------------------------------------ the table
{
  echo
  echo "== first contact: $(date -u +%Y-%m-%dT%H:%M:%SZ), $((SECONDS - T0))s of ${TOTAL_BUDGET_S}s, GPU present: $have_gpu, dry run: $DRY"
  printf '%-26s %-8s %11s  %-28s %s\n' step verdict "used/budget" log detail
  for l in "${TABLE[@]}"; do echo "$l"; done
  for v in PASS FAIL TIMEOUT SKIPPED; do
    printf '%s %d  ' "$v" "$(printf '%s\n' "${TABLE[@]}" | awk -v v="$v" '$0 ~ " "v" " {n++} END {print n+0}')"
  done
  echo
} > "$WORK/table.txt"
cat "$WORK/table.txt" >> "$SUMMARY"
cp "$WORK/table.txt" "$LOGS/99-table.txt"
archive
cat "$WORK/table.txt"
# Exit status: 0 when nothing failed or timed out (skips are listed above, never counted as passes).
if grep -Eq ' (FAIL|TIMEOUT) ' <(printf '%s\n' "${TABLE[@]}" | grep -v '^probe: '); then exit 1; fi
exit 0
