#!/usr/bin/env bash
# The include rules of the layers (docs/architecture.md), checked on the sources:
#   engine/math/ and kernels/   see only the typed op boundary: engine/op_types.h, engine/error.h,
#                               engine/hd.h, each other and the CUDA/system headers — never
#                               engine/ops.h, engine/tensor.h, the tape or model code. Exception:
#                               kernels/runtime.cu and kernels/cuda_allocator.cu implement the
#                               engine's device services, so they include engine/device_runtime.h
#                               and engine/allocator.h (the Allocator interface they implement).
#   engine/                     never includes models/, train/, eval/, cli/, tests/;
#   models/                     never includes train/, eval/, cli/;
#   train/, eval/               never include cli/.
#   [lab/train, issue 22 H2]    models/ includes nothing from lab/; lab/train/ (the SfMLearner step,
#                               loader, roofline and PyTorch benchmarks) is included by cli/, tests/
#                               and lab/ alone, never by engine/, models/, train/ or eval/.
# Prints every violation (file:line: the include) and exits 1 if there is one.
set -u
cd "$(dirname "$0")/.."
bad=0
violation() { echo "check_layers: $1: $2"; bad=1; }
check() {  # check FILES_GLOB_DESC ALLOWED_REGEX FORBIDDEN_REGEX files...
  local allowed=$1 forbidden=$2
  shift 2
  for f in "$@"; do
    [ -f "$f" ] || continue
    while IFS= read -r line; do
      inc=$(echo "$line" | sed -n 's/^[0-9]*:[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p')
      [ -n "$inc" ] || continue
      if [ -n "$forbidden" ] && echo "$inc" | grep -Eq "$forbidden"; then violation "$f:${line%%:*}" "includes \"$inc\""; fi
      if [ -n "$allowed" ] && ! echo "$inc" | grep -Eq "$allowed"; then violation "$f:${line%%:*}" "includes \"$inc\" (outside the op boundary)"; fi
    done < <(grep -n '#[[:space:]]*include[[:space:]]*"' "$f")
  done
}
boundary='^(engine/op_types\.h|engine/error\.h|engine/hd\.h|engine/math/[a-z_]+\.h|kernels/[a-z_]+\.h)$'
check "$boundary" '' engine/math/*.h
kernel_files=()
for f in kernels/*.h kernels/*.cu kernels/*.cpp; do
  case "$f" in kernels/runtime.cu | kernels/cuda_allocator.cu) ;; *) kernel_files+=("$f") ;; esac
done
check "$boundary" '' "${kernel_files[@]}"
check '^(engine/(op_types|error|hd|device_runtime|allocator)\.h|kernels/[a-z_]+\.h)$' '' kernels/runtime.cu kernels/cuda_allocator.cu
check '' '^(models|train|eval|cli|tests)/' engine/*.h engine/*.cpp engine/*/*.h engine/*/*.cpp
check '' '^(train|eval|cli)/' models/*.h models/*.cpp
check '' '^cli/' train/*.h train/*.cpp train/*/*.h train/*/*.cpp eval/*.h eval/*.cpp
# [lab/train, issue 22 H2] (a separate rule from the general lab/ one, for the merge)
check '' '^lab/' models/*.h models/*.cpp
check '' '^lab/train/' engine/*.h engine/*.cpp engine/*/*.h engine/*/*.cpp train/*.h train/*.cpp train/*/*.h \
  train/*/*.cpp eval/*.h eval/*.cpp
[ $bad = 0 ] && echo "check_layers: OK (engine/math and kernels see only the op boundary; layers point one way)"
exit $bad
