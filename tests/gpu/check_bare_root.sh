#!/usr/bin/env bash
# Proves that the GPU bundle's binaries start on a machine that has nothing but glibc, the
# carried libgomp and the CUDA libraries: a root folder holding exactly those (glibc's files
# copied, the CUDA libraries' folders bind-mounted read-only, the carried third_party/prebuilt/lib,
# and the two C/C++ runtime files the CUDA libraries themselves need), entered with chroot. In
# it, as first_contact.sh will on the GPU machine:
#   sfm --help;  sfm selftest --device cpu --quick;  sfm_tests --list-test-names-only
# This machine has MPI, OpenCV and Debian's -dev packages; a binary needing any of them fails
# here as it would there ("error while loading shared libraries: ...").
#   tests/gpu/check_bare_root.sh [BIN_DIR]   (default third_party/prebuilt/bin)
# Exit 0: all three started and passed; 77: could not be tried (no bundle, not root), said why.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$(cd "${1:-third_party/prebuilt/bin}" 2> /dev/null && pwd) || { echo "SKIPPED: no prebuilt binaries (no nvcc here)"; exit 77; }
CARRIED=$(cd "$BIN/../lib" 2> /dev/null && pwd || true)
[ -x "$BIN/sfm" ] && [ -x "$BIN/sfm_tests" ] || { echo "SKIPPED: no sfm/sfm_tests in $BIN"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIPPED: the bare-root check needs root (chroot, bind mounts)"; exit 77; }
command -v chroot > /dev/null || { echo "SKIPPED: no chroot command here"; exit 77; }
CHROOT=$(command -v chroot)
scripts/check_needed.sh "$BIN/sfm" "$BIN/sfm_tests"

R=$(mktemp -d /tmp/sfm_bare_root.XXXXXX)
MOUNTS=()
cleanup() {
  local m
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[$i]}" 2> /dev/null || true; done
  # Only after every mount is gone: never delete through a bind mount.
  for m in "${MOUNTS[@]}"; do mountpoint -q "$m" && { echo "check_bare_root: $m still mounted; leaving $R"; return; }; done
  rm -rf "$R"
}
trap cleanup EXIT
bind() {  # bind SRC DST (read-only); fails where this container may not mount
  mkdir -p "$2"
  [ "${SFM_BARE_ROOT_NO_MOUNT:-0}" = 1 ] && return 1  # (to try the fallback below)
  mount --bind "$1" "$2" 2> /dev/null || return 1
  MOUNTS+=("$2")
  mount -o remount,bind,ro "$2" 2> /dev/null || true
}

mkdir -p "$R/lib" "$R/lib64" "$R/bin" "$R/carried" "$R/tmp" "$R/proc" "$R/dev" "$R/work"
chmod 1777 "$R/tmp"
# glibc: the files the loader resolves for the binaries' glibc entries.
for lib in libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1; do
  p=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ {print $NF}')  # (no early exit: pipefail)
  p=${p%%$'\n'*}
  [ -n "$p" ] || { echo "check_bare_root: $lib not found on this machine"; exit 1; }
  cp -L "$p" "$R/lib/"
done
cp -L /lib64/ld-linux-x86-64.so.2 "$R/lib64/"
# The CUDA libraries the binaries need, where they are on this machine (bind-mounted: cuBLAS and
# cuDNN are hundreds of MB), at the same paths; and the C/C++ runtime that those libraries (not
# ours: we link it statically) need, which every image with CUDA libraries has.
cuda_dirs=""
for lib in $(readelf -d "$BIN/sfm_tests" | sed -n 's/.*Shared library: \[\(lib\(cublas\|cublasLt\|cudnn\|nccl\)\.so[.0-9]*\)\]/\1/p'); do
  p=$(LD_LIBRARY_PATH=${CUDA_LIB_DIRS:-/usr/local/cuda/lib64} ldd "$BIN/sfm_tests" | awk -v l="$lib" '$1 == l {print $3}')
  [ -n "$p" ] && [ -f "$p" ] || { echo "check_bare_root: $lib not found on this machine (set CUDA_LIB_DIRS)"; exit 1; }
  d=$(dirname "$(readlink -f "$p")")
  case " $cuda_dirs " in *" $d "*) ;; *) cuda_dirs="$cuda_dirs $d" ;; esac
done
bound=1
for d in $cuda_dirs; do bind "$d" "$R$d" || bound=0; done
if [ $bound = 0 ]; then
  # No mounts here: the CUDA libraries the loader resolves for the binaries (theirs included,
  # e.g. libcublasLt), linked (same file system) or copied to the same paths.
  echo "check_bare_root: mount --bind refused; linking or copying the CUDA libraries instead"
  for d in $cuda_dirs; do
    mkdir -p "$R$d"
    for f in $(LD_LIBRARY_PATH=${CUDA_LIB_DIRS:-/usr/local/cuda/lib64} ldd "$BIN/sfm_tests" | awk '$3 ~ /^\// {print $1 "=" $3}'); do
      name=${f%%=*} path=$(readlink -f "${f#*=}")
      [ "$(dirname "$path")" = "$d" ] || continue
      ln "$path" "$R$d/$name" 2> /dev/null || cp "$path" "$R$d/$name"
    done
  done
fi
for lib in libstdc++.so.6 libgcc_s.so.1; do
  p=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ {print $NF}')
  p=${p%%$'\n'*}
  [ -n "$p" ] && cp -L "$p" "$R/lib/"
done
[ -n "$CARRIED" ] && cp -a "$CARRIED/." "$R/carried/"
cp "$BIN/sfm" "$BIN/sfm_tests" "$R/bin/"
bind /proc "$R/proc" || true
bind /dev "$R/dev" || { mkdir -p "$R/dev"; for n in null zero urandom random; do cp -a "/dev/$n" "$R/dev/" 2> /dev/null || true; done; }

LDP="/carried$(for d in $cuda_dirs; do printf ':%s' "$d"; done)"
echo "check_bare_root: root $R holds: $(cd "$R" && find lib lib64 carried bin -type f | sort | tr '\n' ' ')"
echo "check_bare_root: bind-mounted CUDA library folders:$cuda_dirs; LD_LIBRARY_PATH=$LDP"
run() {  # run [--any-status] CMD...: in the bare root (chroot starts it in /)
  local any=0
  [ "$1" = --any-status ] && { any=1; shift; }
  echo "== bare root: $*"
  local out rc=0
  out=$(env -i PATH=/bin LD_LIBRARY_PATH="$LDP" HOME=/work OMP_NUM_THREADS=2 "$CHROOT" "$R" "$@" 2>&1) || rc=$?
  printf '%s\n' "$out" | tail -n 5
  # A loader failure is 127 with "error while loading shared libraries", whatever the command.
  if [ $rc = 127 ] || printf '%s\n' "$out" | grep -q "error while loading shared libraries"; then
    echo "check_bare_root: FAILED to start ($rc): $*"; exit 1
  fi
  if [ $rc != 0 ] && [ $any = 0 ]; then echo "check_bare_root: FAILED ($rc): $*"; exit 1; fi
  LAST_OUT=$out
}
run /bin/sfm --help
run /bin/sfm selftest --device cpu --quick --seed 1  # (a fixed seed: this checks that it runs here; the suite varies the seed)
run --any-status /bin/sfm_tests --list-test-names-only  # Catch2 2 exits with the count listed
n=$(printf '%s\n' "$LAST_OUT" | grep -c . || true)
[ "$n" -gt 50 ] || { echo "check_bare_root: sfm_tests listed only $n test names"; exit 1; }
echo "check_bare_root: OK: both binaries start with only glibc, the carried libgomp and the CUDA libraries ($n test names listed)"
