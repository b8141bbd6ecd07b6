#!/usr/bin/env bash
# The objective comparison of docs/training.md ("Objectives compared"): the same synthetic data,
# the same step budget and seed for the presets original, pytorch-port and monodepth2, and for
# monodepth2 with each of its parts switched off once (Monodepth2's ablation). Each run ends
# with a validation over the whole held-out split; its abs rel is the result.
#   scripts/compare_objectives.sh OUT [steps] [height] [width]
# Environment: SFM=path to the sfm binary (default build/sfm), THREADS (default 2),
# SCENES/FRAMES (default 16/40), LR (default 5e-4), RUNS="name ..." to run a subset.
# Writes OUT/data (the data set), OUT/<run>/ (run folders) and OUT/results.tsv.
set -euo pipefail
OUT=${1:?usage: compare_objectives.sh OUT [steps] [height] [width]}
STEPS=${2:-500}
H=${3:-32}
W=${4:-104}
SFM=${SFM:-build/sfm}
THREADS=${THREADS:-2}
SCENES=${SCENES:-16}
FRAMES=${FRAMES:-40}
LR=${LR:-5e-4}
mkdir -p "$OUT"
if [ ! -d "$OUT/data" ]; then
  "$SFM" synth --out "$OUT/data" --scenes "$SCENES" --frames "$FRAMES" --height "$H" --width "$W" --seed 7 \
    --moving-objects 1 > "$OUT/synth.log"
fi
declare -A ARGS=(
  [original]="--preset original"
  [pytorch-port]="--preset pytorch-port"
  [monodepth2]="--preset monodepth2"
  [md2-no-ssim]="--preset monodepth2 --ssim false"
  [md2-no-min-reprojection]="--preset monodepth2 --min-reprojection false"
  [md2-no-automask]="--preset monodepth2 --automask false"
  [md2-no-full-res]="--preset monodepth2 --full-res-scales false"
  [md2-no-edge-aware]="--preset monodepth2 --edge-aware-smoothness false"
)
RUNS=${RUNS:-"original pytorch-port monodepth2 md2-no-ssim md2-no-min-reprojection md2-no-automask md2-no-full-res md2-no-edge-aware"}
[ -f "$OUT/results.tsv" ] || printf "run\tsteps\tabs_rel\tsq_rel\trmse\ta1\tlast_loss\tseconds\n" > "$OUT/results.tsv"
for r in $RUNS; do
  [ -n "${ARGS[$r]:-}" ] || { echo "unknown run '$r'" >&2; exit 2; }
  if [ -f "$OUT/$r/done" ]; then echo "== $r: done already"; continue; fi
  echo "== $r: ${ARGS[$r]}"
  t0=$(date +%s)
  # shellcheck disable=SC2086
  "$SFM" train --data "$OUT/data" --out "$OUT/$r" --overwrite ${ARGS[$r]} --steps "$STEPS" --batch 4 \
    --height "$H" --width "$W" --lr "$LR" --seed 0 --threads "$THREADS" --val-every "$STEPS" --val-batches 0 \
    --save-every 0 --plot-every 0 --tensorboard false --log-every 25 > "$OUT/$r.log" 2>&1
  t1=$(date +%s)
  python3 - "$OUT/$r" "$r" "$STEPS" "$((t1 - t0))" >> "$OUT/results.tsv" <<'PY'
import json, sys
run, name, steps, secs = sys.argv[1:]
rows = [json.loads(l) for l in open(run + "/metrics.jsonl") if l.strip()]
val = [r for r in rows if r.get("split") == "val"][-1]
train = [r for r in rows if r.get("split") == "train"][-1]
print("\t".join([name, steps, "%.4f" % val["abs_rel"], "%.4f" % val["sq_rel"], "%.3f" % val["rmse"],
                 "%.3f" % val["a1"], "%.5f" % train["loss"], secs]))
PY
  touch "$OUT/$r/done"
  tail -1 "$OUT/results.tsv"
done
column -t "$OUT/results.tsv"
