#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/, clang, ASan + UBSan) in build-sanitize/ (the
# sanitizer build of scripts/sanitize.sh, which also runs the unit tests) and runs each
#  1. on its regression inputs (tests/fuzz/regressions/<name>/: inputs that once crashed it;
#     each must now be refused cleanly), then
#  2. for SFM_FUZZ_SECONDS (default 6) on a copy of its seed corpus (tests/fuzz/corpus/<name>/),
# printing executions, coverage (libFuzzer's "cov:" edges) and corpus size per target. A crash
# stops with its input saved under build-sanitize/artifacts/ and the line to make it a regression
# test. Usage: scripts/fuzz.sh [target ...]   (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${SFM_SANITIZE_BUILD:-build-sanitize}
SECS=${SFM_FUZZ_SECONDS:-6}
# The sanitizer build (scripts/sanitize.sh) also builds the fuzz targets; 77 without clang.
scripts/sanitize.sh --build fuzz_all
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.cpp; do targets+=("$(basename "$f" .cpp | sed 's/^fuzz_//')"); done
fi
mkdir -p "$BUILD/artifacts"
status=0
printf '%-14s %10s %8s %8s %8s  %s\n' target executions "exec/s" "cov" corpus regressions
for t in "${targets[@]}"; do
  exe=$BUILD/fuzz/fuzz_$t
  [ -x "$exe" ] || { echo "fuzz: no $exe"; status=1; continue; }
  nreg=0
  if [ -d "tests/fuzz/regressions/$t" ] && [ -n "$(ls -A "tests/fuzz/regressions/$t")" ]; then
    nreg=$(ls -1 "tests/fuzz/regressions/$t" | wc -l)
    if ! "$exe" "tests/fuzz/regressions/$t"/* > "$BUILD/regressions-$t.log" 2>&1; then
      echo "fuzz: $t fails on a regression input (log: $BUILD/regressions-$t.log)"
      tail -n 20 "$BUILD/regressions-$t.log"
      status=1
      continue
    fi
  fi
  work=$BUILD/corpus/$t
  rm -rf "$work"
  mkdir -p "$work"
  log=$BUILD/fuzz-$t.log
  # -rss_limit_mb: a parser must not allocate wildly on a small input (an 8-byte header must
  # not reserve gigabytes); -max_len: inputs up to 64 KiB.
  if ! "$exe" -max_total_time="$SECS" -print_final_stats=1 -rss_limit_mb=1024 -max_len=65536 -timeout=10 \
    -artifact_prefix="$BUILD/artifacts/$t-" "$work" "tests/fuzz/corpus/$t" > "$log" 2>&1; then
    echo "fuzz: $t FOUND A PROBLEM (log: $log):"
    grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -n 8
    echo "  make it a regression input: cp $BUILD/artifacts/$t-crash-* tests/fuzz/regressions/$t/ (then fix it)"
    status=1
    continue
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
  printf '%-14s %10s %8s %8s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$(ls -1 "$work" | wc -l)" "$nreg passed"
done
exit $status
