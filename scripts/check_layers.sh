#!/usr/bin/env bash
# The include rules of the layers (docs/architecture.md, "Layers"), checked on the sources.
# From the bottom up; a folder may include its own files and the folders listed for it:
#   boundary/  the op boundary: op types, errors, host/device qualifiers, per-pixel math
#              (boundary/math/), the device-service and allocator interfaces    -> nothing
#   cpu/       the CPU backend (loops over boundary/math/, OpenMP threads)       -> boundary/
#   kernels/   the CUDA backend (kernels, launchers, runtime, caching allocator) -> boundary/
#   engine/    tensors, the tape, the op API dispatching to cpu/ or kernels/     -> boundary/ cpu/ kernels/
#   models/    DispNet, PoseExpNet, the loss, the training step              -> + engine/
#   eval/      evaluation, inference                                         -> + models/
#   train/     the trainer, data, preparation, synthesis                     -> + models/ eval/
#   lab/       everything that measures (lab/ops, lab/train)                 -> + train/ eval/
#   cli/       the sfm executable                                            -> + lab/
#   tests/     everything
# So arrows run one way: nothing below includes anything above, and only cli/ and tests/
# include lab/. Prints every violation (file:line: the include) and exits 1 if there is one.
set -u
cd "$(dirname "$0")/.."
allowed() {  # the folders a folder may include
  case $1 in
    boundary) echo "boundary" ;;
    cpu | kernels) echo "boundary $1" ;;
    engine) echo "boundary cpu kernels engine" ;;
    models) echo "boundary cpu kernels engine models" ;;
    eval) echo "boundary cpu kernels engine models eval" ;;
    train) echo "boundary cpu kernels engine models eval train" ;;
    lab) echo "boundary cpu kernels engine models eval train lab" ;;
    cli) echo "boundary cpu kernels engine models eval train lab cli" ;;
  esac
}
bad=0
for layer in boundary cpu kernels engine models eval train lab cli; do
  [ -d "$layer" ] || continue
  ok=$(allowed "$layer")
  # file:line:include for every quoted include of the layer's sources, in one pass.
  out=$(find "$layer" -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.cu' \) -not -path 'kernels/emu_include/*' -print0 |
    xargs -0 awk -v ok=" $ok " '
      match($0, /^[ \t]*#[ \t]*include[ \t]*"[^"]+"/) {
        inc = substr($0, RSTART, RLENGTH); sub(/^[^"]*"/, "", inc); sub(/"$/, "", inc)
        top = inc; sub(/\/.*/, "", top)
        if (inc !~ /\// || index(ok, " " top " ") == 0) print FILENAME ":" FNR ": includes \"" inc "\""
      }')
  if [ -n "$out" ]; then
    echo "$out" | sed "s/^/check_layers: /; s/\$/ ($layer\/ may include only: $ok)/"
    bad=1
  fi
done
[ $bad = 0 ] && echo "check_layers: OK (boundary <- cpu, kernels <- engine <- models <- eval <- train <- lab <- cli; lab/ only under cli/ and tests/)"
exit $bad
