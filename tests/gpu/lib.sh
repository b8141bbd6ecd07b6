# Sourced by tests/gpu/first_contact.sh and tests/gpu/follow_up.sh: the time-boxed step runner,
# its summary and archive, and the machine's libraries and interpreters. Expects ROOT, OUT, WORK,
# DRY, TOTAL_BUDGET_S set by the caller; defines step, record, archive, final_table and exports
# what the steps' commands need.

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
mkdir -p "$WORK/logs"
LOGS=$WORK/logs
JOBS=${JOBS:-$(nproc)}
TP=$ROOT/third_party
T0=$SECONDS
DEADLINE=$((T0 + TOTAL_BUDGET_S))
RESERVE_S=${RESERVE_S:-6}  # kept back for the final table and archive
SUMMARY=$OUT/summary.txt
rm -f "$OUT/summary.txt" "$OUT/logs.tar.gz" "$OUT/logs.tar.gz.tmp" "$OUT/source.txt"  # a previous run's
: > "$SUMMARY"
STEP_NO=${STEP_NO:-0}
declare -a TABLE=()

have_gpu=0
if command -v nvidia-smi > /dev/null 2>&1 && nvidia-smi -L > /dev/null 2>&1; then have_gpu=1; fi

archive() {  # the logs so far, atomically
  tar -czf "$OUT/logs.tar.gz.tmp" -C "$WORK" logs 2> /dev/null && mv -f "$OUT/logs.tar.gz.tmp" "$OUT/logs.tar.gz"
}
record() {  # record NAME VERDICT USED BUDGET LOG DETAIL
  local line
  line=$(printf '%-28s %-8s %4ss / %3ss  %-30s %s' "$1" "$2" "$3" "$4" "$5" "$6")
  echo "$line" >> "$SUMMARY"
  echo "[$(basename "$0" .sh)] $line"
  TABLE+=("$line")
  LAST_VERDICT=$2
  archive
}
# A message in a log that means "nothing could run here", which is a SKIPPED, not a FAIL, when
# this machine has no GPU (the dry run); on a GPU machine the same message is a FAIL.
NO_DEVICE_RE='no CUDA device|SKIPPED: no CUDA|has no CUDA backend|no CUDA backend|cuda_available\(\) is false|torch.cuda.is_available\(\) is False|no GPU here'

# Catch2's console reporter with --durations yes prints "S.SSS s: NAME" the moment a test case
# ends, so a group that crashes or runs out of time still shows every finished case (a JUnit
# file is written at exit only). Skipped cases printed a line starting "SKIPPED:" (tests/test_support.h).
catch_counts() {  # catch_counts LOG: "N cases ended, R ran, S skipped, F failed"
  local ended skipped failed
  ended=$(grep -Ec '^[0-9]+\.[0-9]+ s: ' "$1" || true)
  skipped=$(grep -c '^SKIPPED:' "$1" || true)
  failed=$(sed -n 's/^test cases: *[0-9]* | *[0-9]* passed | *\([0-9]*\) failed.*/\1/p' "$1" | tail -n1)
  echo "$ended cases ended, $((ended - skipped)) ran, $skipped skipped, ${failed:-0} failed"
}

# step NAME BUDGET_S KIND -- command...
#   KIND: gpu (needs a GPU: without one, a "no CUDA device" exit is SKIPPED), any (runs anywhere),
#         tests (a Catch2 run with the console reporter: also SKIPPED when every case said SKIPPED).
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
    echo "# step $STEP_NO: $name (budget ${budget}s, limit ${limit}s), started $(date -u +%H:%M:%S)"
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
  if [ "$kind" = tests ]; then
    local counts ended skipped
    counts=$(catch_counts "$LOGS/$log")
    ended=${counts%% cases*}
    skipped=$(echo "$counts" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
    if [ "$verdict" = PASS ] && [ "$ended" -gt 0 ] && [ "$skipped" -ge "$ended" ]; then
      verdict=SKIPPED
      detail="every test said SKIPPED"
    fi
    [ "$ended" = 0 ] && [ "$verdict" = PASS ] && verdict=FAIL && detail="no test matched the filter"
    detail="$counts${detail:+; $detail}"
  fi
  record "$name" "$verdict" "$used" "$budget" "$log" "$detail"
  return 0
}

final_table() {  # the table at the end of the summary; exit status 0 unless a real step failed
  {
    echo
    echo "== $(basename "$0" .sh): $(date -u +%Y-%m-%dT%H:%M:%SZ), $((SECONDS - T0))s of ${TOTAL_BUDGET_S}s, GPU present: $have_gpu, dry run: $DRY"
    printf '%-28s %-8s %11s  %-30s %s\n' step verdict "used/budget" log detail
    for l in "${TABLE[@]}"; do echo "$l"; done
    for v in PASS FAIL TIMEOUT SKIPPED; do
      printf '%s %d  ' "$v" "$(printf '%s\n' "${TABLE[@]}" | awk -v v="$v" '$0 ~ " "v" " {n++} END {print n+0}')"
    done
    echo
  } > "$WORK/table.txt"
  cat "$WORK/table.txt" >> "$SUMMARY"
  cp "$WORK/table.txt" "$LOGS/99-table-$(basename "$0" .sh).txt"
  archive
  cat "$WORK/table.txt"
  if grep -Eq ' (FAIL|TIMEOUT) ' <(printf '%s\n' "${TABLE[@]}" | grep -v '^probe: '); then return 1; fi
  return 0
}

# ------------------------------------------------------------------ libraries and interpreters
# cuBLAS, cuDNN and NCCL: the toolkit's, else the pip wheels of every interpreter present
# (CUDA 13's cuBLAS wheel is nvidia/cu13/lib; cuDNN's and NCCL's nvidia/{cudnn,nccl}/lib).
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
CUDA_HOME=${CUDA_HOME:-$(cd "$(dirname "$NVCC")/.." 2> /dev/null && pwd || echo /usr/local/cuda)}
PYS=""
for p in $(command -v -a python3 2> /dev/null) /usr/bin/python3 /usr/local/bin/python3 /opt/*/.venv/bin/python3 /opt/*/bin/python3; do
  [ -x "$p" ] || continue
  case " $PYS " in *" $p "*) ;; *) PYS="$PYS $p" ;; esac
done
# PY: the first interpreter that imports torch (the PyTorch steps and the copy bandwidth).
PY=""
for p in $PYS; do
  if "$p" -c "import torch" > /dev/null 2>&1; then PY=$p; break; fi
done
SITES=""
for p in $PYS; do
  for s in $("$p" -c "import site, sysconfig; print(' '.join({sysconfig.get_paths()['purelib'], sysconfig.get_paths()['platlib'], *site.getsitepackages()}))" 2> /dev/null); do
    [ -d "$s/nvidia" ] && case " $SITES " in *" $s "*) ;; *) SITES="$SITES $s" ;; esac
  done
done
LIBDIRS=""
for d in "$CUDA_HOME/lib64" "$CUDA_HOME/lib"; do [ -d "$d" ] && LIBDIRS="$LIBDIRS:$d"; done
for s in $SITES; do
  for d in "$s"/nvidia/*/lib; do [ -d "$d" ] && LIBDIRS="$LIBDIRS:$d"; done
done
[ -d "$TP/prebuilt/lib" ] && LIBDIRS="$LIBDIRS:$TP/prebuilt/lib"
export LD_LIBRARY_PATH="${LIBDIRS#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export SFM_SOURCE_DIR=$ROOT  # the tests' fixtures (tests/fixtures) in this copy of the tree
export ROOT TP NVCC CUDA_HOME PY PYS SITES JOBS LOGS WORK OUT have_gpu NO_DEVICE_RE

write_source_txt() {  # what this copy is: commit, GPU, driver
  {
    echo "$(basename "$0") started $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), dry run: $DRY, GPU present: $have_gpu"
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
    echo "python with torch: ${PY:-none} (interpreters: ${PYS:-none})"
    [ $have_gpu = 1 ] && nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
  } > "$OUT/source.txt" 2>&1
  cp "$OUT/source.txt" "$LOGS/00-source-$(basename "$0" .sh).txt"
}
