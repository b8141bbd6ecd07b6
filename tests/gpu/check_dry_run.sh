#!/usr/bin/env bash
# Checks what `tests/gpu/first_contact.sh --dry-run` left in OUT on a machine without a GPU:
# the orchestration the real first GPU call depends on. Usage: tests/gpu/check_dry_run.sh OUT
#  - summary.txt has a line per step and ends with the table and its counts;
#  - logs.tar.gz holds the log named on every line;
#  - the probe that overruns its 2 s budget was killed (TIMEOUT) within a few seconds;
#  - the probe that fails is FAIL and the steps after it still ran;
#  - every SKIPPED line says why; no real step FAILed or TIMED OUT (each binary, asked for a
#    GPU it does not have, must say so quickly and plainly);
#  - at most 8 files in OUT (what the device tool brings back);
#  - the order of the plan (docs/kernels.md, "The GPU window"): the selftest, then the
#    benchmarks, then the tests, the sanitizers last; the real steps' budgets add up to at most
#    420 s (the build fallback apart);
#  - with FOLLOW_OUT: the follow-up's dry run left its summary, at most 150 s of budgets.
#   tests/gpu/check_dry_run.sh OUT [FOLLOW_OUT]
set -u -o pipefail
OUT=${1:?usage: check_dry_run.sh OUT [FOLLOW_OUT]}
FOLLOW=${2:-}
S=$OUT/summary.txt
bad=0
err() { echo "check_dry_run: $*"; bad=1; }
[ -f "$S" ] || { echo "check_dry_run: no $S"; exit 1; }
[ -f "$OUT/logs.tar.gz" ] || err "no logs.tar.gz"
nfiles=$(find "$OUT" -type f | wc -l)
[ "$nfiles" -le 8 ] || err "$nfiles files in $OUT (at most 8 come back from the GPU machine)"
steps=$(sed '/^$/,$d' "$S")  # the per-step lines, before the table
[ "$(echo "$steps" | grep -c .)" -ge 10 ] || err "fewer than 10 step lines"
echo "$steps" | grep -q '^probe: overruns budget  *TIMEOUT .*killed after 2s' || err "the overrunning probe was not reported as TIMEOUT"
used=$(echo "$steps" | sed -n 's/^probe: overruns budget  *TIMEOUT *\([0-9]*\)s.*/\1/p')
[ -n "$used" ] && [ "$used" -le 8 ] || err "the overrunning probe took ${used:-?}s (budget 2s)"
echo "$steps" | grep -q '^probe: fails  *FAIL .*exit 3' || err "the failing probe was not reported as FAIL (exit 3)"
after=$(echo "$steps" | sed -n '/^probe: fails/,$p' | tail -n +2 | grep -c .)
[ "$after" -ge 8 ] || err "only $after steps ran after the failing probe"
while IFS= read -r l; do
  case "$l" in
    probe:*) ;;
    *" SKIPPED "*)
      reason=$(echo "$l" | awk '{for (i = 1; i <= NF; i++) if ($i ~ /\.log$|^-$/) {for (j = i + 1; j <= NF; j++) printf "%s ", $j; exit}}')
      [ -n "$reason" ] || err "a SKIPPED step without a reason: $l" ;;
    *" FAIL "* | *" TIMEOUT "*) err "a step failed in the dry run: $l" ;;
  esac
done <<< "$steps"
logs=$(tar tzf "$OUT/logs.tar.gz" 2> /dev/null)
for f in $(echo "$steps" | grep -o '[0-9][0-9]-[A-Za-z0-9_.-]*\.log'); do
  echo "$logs" | grep -q "logs/$f" || err "$f is named in the summary but not in logs.tar.gz"
done
grep -q '^== first_contact:' "$S" && grep -Eq '^PASS [0-9]+  FAIL [0-9]+  TIMEOUT [0-9]+  SKIPPED [0-9]+' "$S" ||
  err "no final table with counts"
# The plan's order, by each step's first line.
line_of() { echo "$steps" | grep -n -m1 "^$1" | cut -d: -f1; }
prev=0
for name in "environment" "binaries" "selftest cuda" "bench train (ours)" "pytorch eager" "pytorch torch.compile" \
  "bench kernels" "determinism" "tests \[gpu\]\[conv\]" "tests \[gpu\]\[graph\]" "train 50 steps" "memcheck" "initcheck" "synccheck"; do
  n=$(line_of "$name")
  if [ -z "$n" ]; then err "no step '$name'"; continue; fi
  [ "$n" -gt "$prev" ] || err "step '$name' runs before a step the plan puts first"
  prev=$n
done
budget=$(grep -o 'step "[^"]*" [0-9]* ' "$(dirname "$0")/first_contact.sh" | grep -v 'probe:\|binaries: build\|binaries: \$SFM_BIN_DIR' |
  awk '{s += $NF} END {print s}')
[ "$budget" -le 420 ] || err "the main run's step budgets add up to ${budget}s (plan: at most 420)"
if [ -n "$FOLLOW" ]; then
  F=$FOLLOW/summary.txt
  if [ ! -f "$F" ]; then err "no $F"; else
    fsteps=$(sed '/^$/,$d' "$F")
    for name in "ncu: kernel times" "ncu: top-5 kernels" "bring back binaries"; do
      echo "$fsteps" | grep -q "^$name" || err "the follow-up has no step '$name'"
    done
    echo "$fsteps" | grep -E ' (FAIL|TIMEOUT) ' && err "a follow-up step failed in the dry run"
    fbudget=$(grep -o 'step "[^"]*" [0-9]* ' "$(dirname "$0")/follow_up.sh" | awk '{s += $NF} END {print s}')
    [ "$fbudget" -le 150 ] || err "the follow-up's step budgets add up to ${fbudget}s (plan: at most 150)"
    [ "$(find "$FOLLOW" -type f | wc -l)" -le 8 ] || err "more than 8 files in $FOLLOW"
    echo "check_dry_run: follow-up: $(echo "$fsteps" | grep -c .) steps, budgets ${fbudget}s"
  fi
fi
if [ $bad = 0 ]; then
  echo "check_dry_run: OK ($(echo "$steps" | grep -c .) steps in the plan's order, budgets ${budget}s; $(grep -E '^PASS [0-9]+' "$S"))"
fi
exit $bad
