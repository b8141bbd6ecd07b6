#!/usr/bin/env bash
# The GPU bundle's binaries may need only what a bare GPU image has, or what travels with them:
#   glibc                 libc, libm, libpthread, libdl, librt, the dynamic loader
#   the carried libgomp   third_party/prebuilt/lib (scripts/gpu_bundle.sh copies it)
#   the CUDA libraries    cuBLAS, cuBLASLt, cuDNN, NCCL (the toolkit's or PyTorch's wheels there)
# (the C++ runtime is linked statically: -static-libstdc++ -static-libgcc). Anything else in a
# binary's NEEDED list (libmpi, OpenCV, libstdc++, ...) would stop it from starting there.
#   scripts/check_needed.sh BINARY...   exit 1 naming every binary and library outside the list
set -euo pipefail
ALLOWED_RE='^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux-x86-64\.so\.2|libgomp\.so\.1|libcublas\.so\.1[23]|libcublasLt\.so\.1[23]|libcudnn\.so\.9|libnccl\.so\.2)$'
[ $# -gt 0 ] || { echo "usage: scripts/check_needed.sh BINARY..."; exit 2; }
bad=0
for b in "$@"; do
  [ -f "$b" ] || { echo "check_needed: $b does not exist"; exit 2; }
  needed=$(readelf -d "$b" | sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]/\1/p')
  [ -n "$needed" ] || { echo "check_needed: $b has no NEEDED entries (not a dynamic executable?)"; exit 2; }
  outside=$(printf '%s\n' $needed | grep -Ev "$ALLOWED_RE" || true)
  if [ -n "$outside" ]; then
    echo "check_needed: $b needs libraries a bare GPU image lacks: $(echo $outside)"
    bad=1
  else
    echo "check_needed: $b needs only: $(echo $needed)"
  fi
done
exit $bad
