#!/usr/bin/env bash
# The first command to run whenever a GPU machine is lent. The lease is 15 minutes of device time
# in all (the machine's start of 1-2 minutes, every call, idle time and transfers counted; 10
# minutes at most per call; no machine starts with under 4 minutes left), so it is planned to the
# second (docs/kernels.md, "The GPU window"): this main run takes at most 420 s, then
# tests/gpu/follow_up.sh (at most 150 s) runs at once on the same warm machine and reuses what
# this one left in $WORK.
#
#   OUT=/dir tests/gpu/first_contact.sh            # on the GPU machine ($OUT: the folder that comes back)
#   OUT=/dir tests/gpu/first_contact.sh --dry-run  # anywhere: the orchestration without a GPU (CI runs it)
#
# Order: what only a GPU can tell us, and what we most need, first: the environment, then the
# binaries, the CUDA selftest (every kernel against the CPU: the gate for every figure after it),
# the benchmarks (our step eager and CUDA-graph replay for three convolution paths, batch 32's
# peak memory, PyTorch eager, then torch.compile in its own step, per-kernel times, determinism
# across two processes; GPU clocks and power sampled meanwhile), then the [gpu] tests, the CUDA
# vs CPU training run, and the sanitizers last, on a filtered selftest.
#
# What comes back (at most 8 files may: so everything is in three):
#   $OUT/summary.txt   one line per step, appended the moment the step ends (name, verdict,
#                      seconds used / budget, log), then the summary table at the end;
#   $OUT/logs.tar.gz   every step's log and JSON; rewritten (temporary name, then renamed)
#                      after every step, so a run cut short returns all finished steps;
#   $OUT/source.txt    the commit this tree came from, the GPU, the driver, the interpreters.
#
# Every step runs under its own `timeout` (its budget, or what is left of the run's budget if
# less) and never stops the next one. Verdicts: PASS, FAIL (exit status and log), TIMEOUT
# (killed), SKIPPED (said why: no GPU, no tool, no time left).
#
# Binaries: third_party/prebuilt/bin/{sfm,sfm_tests} (scripts/gpu_bundle.sh makes them here;
# tests/gpu/check_bare_root.sh proves they start with glibc, libgomp and the CUDA libraries
# alone) when they start; else a ninja build from source into build-gpu/ (kept for the
# follow-up; it brings the binaries back).
#
# Environment: OUT (default ./first_contact_out), WORK (scratch shared with the follow-up,
# default /tmp/sfm_first_contact), TOTAL_BUDGET_S (default 420), SFM_BIN_DIR (use these sfm and
# sfm_tests, e.g. a build folder), FORCE_BUILD=1 (ignore the prebuilt binaries), JOBS (default nproc).
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
[ "${SFM_FIRST_CONTACT_DRY:-0}" = 1 ] && DRY=1
OUT=${OUT:-$PWD/first_contact_out}
WORK=${WORK:-/tmp/sfm_first_contact}
rm -rf "$WORK/logs"
TOTAL_BUDGET_S=${TOTAL_BUDGET_S:-420}
source "$ROOT/tests/gpu/lib.sh"
write_source_txt
echo "[first_contact] output in $OUT, scratch in $WORK, run budget ${TOTAL_BUDGET_S}s, GPU present: $have_gpu, dry run: $DRY"

# ------------------------------------------------------------------ orchestration probes (dry run only)
if [ $DRY = 1 ]; then
  step "probe: overruns budget" 2 any -- sleep 30
  step "probe: fails" 5 any -- bash -c 'echo "this step fails on purpose (dry run)"; exit 3'
fi

# ------------------------------------------------------------------ 1. environment (12 s)
env_report() {
  echo "== nvidia-smi"
  nvidia-smi || echo "nvidia-smi: not available (no CUDA device)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap,clocks.sm,clocks.max.sm,clocks.mem,power.limit --format=csv 2>&1
  echo "== nvcc"
  "$NVCC" --version 2>&1 || echo "nvcc not found at $NVCC"
  echo "== compute-sanitizer, ncu"
  command -v compute-sanitizer ncu || ls "$CUDA_HOME"/bin/compute-sanitizer 2>&1
  echo "== cmake, ninja, c++"
  cmake --version 2>&1 | head -n1
  ninja --version 2>&1
  c++ --version 2>&1 | head -n1
  echo "== interpreters: $PYS; with torch: ${PY:-none}; site-packages with nvidia/: $SITES"
  echo "== CUDA libraries (toolkit and wheels)"
  ls -1 "$CUDA_HOME"/lib64/libcudnn.so* "$CUDA_HOME"/lib64/libcublas.so* "$CUDA_HOME"/lib64/libnccl.so* 2>&1 | head
  for s in $SITES; do ls -1 "$s"/nvidia/*/lib/lib{cublas,cublasLt,cudnn,nccl}.so.* 2>/dev/null; done
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  [ -n "$PY" ] || { echo "no interpreter imports torch: no copy bandwidth from PyTorch"; return 0; }
  echo "== PyTorch ($PY), and a device-to-device copy (bytes read + written over time)"
  PYTHONUNBUFFERED=1 "$PY" - << 'EOF'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())
print("defaults: cudnn.allow_tf32", torch.backends.cudnn.allow_tf32, "matmul.allow_tf32", torch.backends.cuda.matmul.allow_tf32)
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
  return 0
}
export -f env_report
step "environment" 12 any -- env_report

# ------------------------------------------------------------------ 2. binaries (prebuilt 10 s; else build 240 s)
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
  cmake -S "$ROOT" -B "$ROOT/build-gpu" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DSFM_CUDA=ON -DSFM_MPI=OFF \
    -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_ARCHITECTURES="$cap" -DCMAKE_DISABLE_FIND_PACKAGE_OpenCV=ON \
    -DSFM_THIRD_PARTY="$TP" &&
    cmake --build "$ROOT/build-gpu" -j "$JOBS" --target sfm sfm_tests
}
export -f try_bin build_from_source
if [ -n "${SFM_BIN_DIR:-}" ]; then
  step "binaries: $SFM_BIN_DIR" 10 any -- try_bin "$SFM_BIN_DIR"
  [ "$LAST_VERDICT" = PASS ] && BIN=$SFM_BIN_DIR
elif [ "${FORCE_BUILD:-0}" != 1 ] && [ -d "$TP/prebuilt/bin" ]; then
  step "binaries: prebuilt" 10 any -- try_bin "$TP/prebuilt/bin"
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
echo "${BIN}" > "$WORK/bin_dir.txt"  # for tests/gpu/follow_up.sh

if [ -z "$BIN" ]; then
  record "remaining steps" SKIPPED 0 0 "-" "no binaries: nothing else can run"
else
  SFM=$BIN/sfm
  TESTS=$BIN/sfm_tests
  J=$LOGS
  export SFM TESTS J

  # -------------------------------------------------------------- 3. selftest: every kernel vs the CPU (35 s)
  step "selftest cuda" 35 gpu -- "$SFM" selftest --device cuda --json "$J/selftest.json"

  # -------------------------------------------------------------- 4. benchmarks (185 s), clocks and power sampled
  # nvidia-smi samples SM/memory clocks, power, temperature and utilisation every 500 ms into the
  # archive while the benchmarks run (a throttled clock explains a slow figure).
  SAMPLER=""
  if [ $have_gpu = 1 ]; then
    nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,utilization.gpu,memory.used \
      --format=csv -lms 500 > "$LOGS/gpu_clocks_power.csv" 2>&1 &
    SAMPLER=$!
  fi
  # Our step, batch 4, 128x416, mask on: eager and CUDA-graph replay, for the handwritten FP32,
  # handwritten TF32 and cuDNN convolutions; kernel-time sum, launches, peak memory in the JSON.
  step "bench train (ours)" 50 gpu -- "$SFM" bench train --device cuda --conv-impl handwritten,tf32,cudnn \
    --cuda-graph --no-loader --iters 20 --warmup 5 --json "$J/bench_train.json"
  step "bench train batch 32" 15 gpu -- "$SFM" bench train --device cuda --batch 32 --conv-impl tf32 \
    --no-loader --iters 3 --warmup 1 --json "$J/bench_train_b32.json"
  # PyTorch on the same GPU, TF32 on and off (torch's default allows TF32 in cuDNN convolutions:
  # each run's "precision" says which), eager first, then torch.compile with a budget of its own.
  pytorch_bench() {  # pytorch_bench COMPILE_MODE JSON
    [ -n "$PY" ] || { echo "SKIPPED: no interpreter here imports torch (tried $PYS)"; return 77; }
    echo "interpreter: $PY"
    PYTHONUNBUFFERED=1 "$PY" "$ROOT/tests/reference/bench_train.py" --device cuda --batch 4 --height 128 --width 416 \
      --mask-weight 0.2 --precision both --compile "$1" --iters 20 --warmup 5 --json "$2" > /dev/null
  }
  export -f pytorch_bench
  step "pytorch eager" 30 gpu -- pytorch_bench off "$J/pytorch_eager.json"
  step "pytorch torch.compile" 50 gpu -- pytorch_bench only "$J/pytorch_compile.json"
  # Per layer and pass: our conv kernels FP32/TF32 against cuDNN; the warp, photometric and
  # min-reprojection kernels' bandwidth against the measured copy; Adam.
  step "bench kernels" 30 gpu -- "$SFM" bench kernels --device cuda --reps 10 --warmup 2 --check-batch 0 \
    --json "$J/bench_kernels.json"
  # The same step in two processes: the weights after warm-up + timed iterations, bitwise.
  determinism() {
    local a=$WORK/det_a.json b=$WORK/det_b.json
    "$SFM" bench train --device cuda --conv-impl handwritten,tf32,cudnn --no-loader --iters 3 --warmup 1 --json "$a" > /dev/null || return 1
    "$SFM" bench train --device cuda --conv-impl handwritten,tf32,cudnn --no-loader --iters 3 --warmup 1 --json "$b" > /dev/null || return 1
    cp "$a" "$J/determinism_a.json"
    cp "$b" "$J/determinism_b.json"
    local ha hb
    ha=$(grep -o '"conv_impl": "[a-z0-9]*"\|"weights_fnv1a_after_timed": "[0-9a-f]*"' "$a" | tr '\n' ' ')
    hb=$(grep -o '"conv_impl": "[a-z0-9]*"\|"weights_fnv1a_after_timed": "[0-9a-f]*"' "$b" | tr '\n' ' ')
    echo "process 1: $ha"
    echo "process 2: $hb"
    [ -n "$ha" ] && [ "$ha" = "$hb" ] && echo "bitwise equal weights in both processes" && return 0
    echo "the two processes' weights differ"
    return 1
  }
  export -f determinism
  step "determinism (2 processes)" 15 gpu -- determinism
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2> /dev/null

  # -------------------------------------------------------------- 5. [gpu] tests (80 s), streamed per case
  # Console reporter with durations: each case's result is in the log the moment it ends.
  # SFM_CUDA_SYNC=1 (a fault is reported at the launch that caused it) except for [graph]: a
  # stream synchronisation inside a capture would break it. One process per group: a sticky
  # device fault fails one group, not the rest.
  gpu_tests() {  # gpu_tests SYNC FILTER
    SFM_CUDA_SYNC=$1 "$TESTS" "$2" -r console --durations yes
  }
  export -f gpu_tests
  step "tests [gpu][conv],[dispatch]" 40 tests -- gpu_tests 1 "[gpu][conv],[gpu][dispatch]"
  step "tests other [gpu]" 30 tests -- gpu_tests 1 "[gpu]~[conv]~[dispatch]~[graph]"
  step "tests [gpu][graph]" 10 tests -- gpu_tests 0 "[gpu][graph]"

  # -------------------------------------------------------------- 6. 50 training steps, CUDA against the CPU (25 s)
  step "train 50 steps cuda vs cpu" 25 gpu -- "$SFM" bench train --device cuda --compare-cpu --steps 50 \
    --json "$J/train_compare.json"

  # -------------------------------------------------------------- 7. compute-sanitizer, last (60 s)
  # On the quick selftest without the cuDNN and cuBLAS rows (the libraries' own kernels would be
  # instrumented too: slow, and not ours), with the caching allocator bypassed
  # (SFM_CUDA_ALLOC=direct: one exact cudaMalloc per tensor, so an access past a tensor's end
  # is outside every allocation).
  SAN=$(command -v compute-sanitizer || echo "$CUDA_HOME/bin/compute-sanitizer")
  sanitize() {  # sanitize TOOL EXTRA...
    local tool=$1
    shift
    if [ ! -x "$SAN" ]; then echo "SKIPPED: compute-sanitizer not found (looked at $SAN)"; return 77; fi
    SFM_CUDA_ALLOC=direct "$SAN" --tool "$tool" --error-exitcode 9 "$@" "$SFM" selftest --device cuda --quick \
      --exclude cudnn,cublas
  }
  export SAN
  export -f sanitize
  step "memcheck" 20 gpu -- sanitize memcheck --leak-check full
  step "racecheck" 15 gpu -- sanitize racecheck --racecheck-report all
  step "initcheck" 15 gpu -- sanitize initcheck
  step "synccheck" 10 gpu -- sanitize synccheck
fi

final_table
