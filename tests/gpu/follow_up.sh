#!/usr/bin/env bash
# The second device call of a GPU lease, run at once after tests/gpu/first_contact.sh on the
# same warm machine (it stays warm 30 s), at most 150 s (docs/kernels.md, "The GPU window").
# It reuses what the main run left in $WORK (the binaries it found or built) and returns:
#   - ncu, pass 1: every kernel of one training iteration (TF32 convolutions) timed alone:
#     the kernel-time sum against the step's wall time, the launch count, the five most
#     expensive kernels by total time;
#   - ncu, pass 2: those five kernels' speed-of-light, occupancy, launch and memory sections;
#   - the binaries, when the main run had to build them there (one archive, at most 16 MiB).
#
#   OUT=/dir tests/gpu/follow_up.sh             # on the GPU machine, right after first_contact.sh
#   OUT=/dir tests/gpu/follow_up.sh --dry-run   # anywhere (CI runs it after the main dry run)
# Environment: as first_contact.sh (OUT, WORK, TOTAL_BUDGET_S default 150).
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
OUT=${OUT:-$PWD/follow_up_out}
WORK=${WORK:-/tmp/sfm_first_contact}
rm -rf "$WORK/logs"
TOTAL_BUDGET_S=${TOTAL_BUDGET_S:-150}
STEP_NO=50  # logs 51-..., after the main run's
source "$ROOT/tests/gpu/lib.sh"
write_source_txt
echo "[follow_up] output in $OUT, scratch in $WORK, run budget ${TOTAL_BUDGET_S}s, GPU present: $have_gpu, dry run: $DRY"

BIN=$(cat "$WORK/bin_dir.txt" 2> /dev/null || true)
[ -n "$BIN" ] || { [ -x "${SFM_BIN_DIR:-}/sfm" ] && BIN=$SFM_BIN_DIR; }
[ -n "$BIN" ] || { [ -x "$TP/prebuilt/bin/sfm" ] && BIN=$TP/prebuilt/bin; }
if [ -z "$BIN" ]; then
  record "follow-up" SKIPPED 0 0 "-" "no binaries (the main run found or built none)"
  final_table
  exit $?
fi
export SFM=$BIN/sfm J=$LOGS
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2> /dev/null | tail -n1 || true)
export NCU
# One training iteration after one warm-up, TF32 convolutions, no loader: what ncu profiles.
STEP_CMD=(bench train --device cuda --conv-impl tf32 --no-loader --iters 1 --warmup 1)
export STEP_ARGS="${STEP_CMD[*]}"

ncu_times() {
  [ -n "$NCU" ] || { echo "SKIPPED: ncu not found (PATH, /opt/nvidia/nsight-compute)"; return 77; }
  # shellcheck disable=SC2086
  "$SFM" $STEP_ARGS --json "$WORK/step_wall.json" | tail -n 3 || return 1  # the same step's wall time, unprofiled
  # shellcheck disable=SC2086
  "$NCU" --csv --page raw --metrics gpu__time_duration.sum --print-kernel-base function --launch-count 3000 \
    "$SFM" $STEP_ARGS > "$WORK/ncu_times.csv" 2> "$WORK/ncu_times.err" || { tail -n 20 "$WORK/ncu_times.err"; return 1; }
  cp "$WORK/ncu_times.csv" "$J/ncu_times.csv"
  local py=${PY:-python3}
  "$py" - "$WORK/ncu_times.csv" "$WORK/top5.txt" << 'EOF'
import csv, sys, collections
rows = [r for r in csv.DictReader(l for l in open(sys.argv[1]) if not l.startswith("==")) if r.get("Kernel Name")]
rows = [r for r in rows if r["Kernel Name"] != "Kernel Name" and r.get("gpu__time_duration.sum", "").replace(".", "", 1).isdigit()]
tot = collections.defaultdict(float); cnt = collections.Counter()
for r in rows:
    tot[r["Kernel Name"]] += float(r["gpu__time_duration.sum"]); cnt[r["Kernel Name"]] += 1
ns = sum(tot.values())
print(f"{len(rows)} kernel launches profiled (warm-up, timed and breakdown iterations), {ns / 1e6:.3f} ms of kernel time in all")
for k, v in sorted(tot.items(), key=lambda kv: -kv[1])[:15]:
    print(f"{v / 1e6:9.3f} ms {100 * v / ns:5.1f}%  {cnt[k]:5d} launches  {k}")
open(sys.argv[2], "w").write("\n".join(k for k, _ in sorted(tot.items(), key=lambda kv: -kv[1])[:5]) + "\n")
EOF
}
ncu_top5() {
  [ -n "$NCU" ] || { echo "SKIPPED: ncu not found"; return 77; }
  [ -s "$WORK/top5.txt" ] || { echo "SKIPPED: no kernel list from the first ncu pass"; return 77; }
  local re
  re="regex:^($(paste -sd'|' "$WORK/top5.txt"))\$"
  echo "kernels: $re"
  # shellcheck disable=SC2086
  "$NCU" --kernel-name "$re" --launch-count 5 --section SpeedOfLight --section Occupancy --section LaunchStats \
    --section MemoryWorkloadAnalysis "$SFM" $STEP_ARGS
}
bring_binaries() {  # the binaries built here, so the next lease need not build them
  if [ "$BIN" != "$ROOT/build-gpu" ]; then echo "the main run used $BIN, built elsewhere: nothing to bring back"; return 0; fi
  mkdir -p "$WORK/bin_out"
  cp "$BIN/sfm" "$BIN/sfm_tests" "$WORK/bin_out/" && strip --strip-unneeded "$WORK/bin_out/"* 2> /dev/null
  tar -czf "$OUT/binaries.tar.gz" -C "$WORK/bin_out" sfm sfm_tests || return 1
  local kib
  kib=$(du -k "$OUT/binaries.tar.gz" | cut -f1)
  echo "binaries.tar.gz: $kib KiB"
  [ "$kib" -le 16384 ] || { echo "over 16 MiB: not brought back"; rm -f "$OUT/binaries.tar.gz"; return 1; }
}
export -f ncu_times ncu_top5 bring_binaries
export BIN

step "ncu: kernel times, 1 step" 60 gpu -- ncu_times
step "ncu: top-5 kernels" 75 gpu -- ncu_top5
step "bring back binaries" 10 any -- bring_binaries

final_table
