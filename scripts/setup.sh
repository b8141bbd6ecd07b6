#!/usr/bin/env bash
# Installs the Debian packages sfm-engine needs (when missing), then configures and builds.
#   scripts/setup.sh [build-dir] [extra cmake args...]
# Environment: SFM_WITH_TORCH=1 also installs python3-torch (used to regenerate fixtures);
# SFM_WITH_FUZZ=1 also installs clang, libFuzzer and libomp (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
shift || true

# libopenmpi-dev, openmpi-bin: data-parallel training (mpirun; tests/test_mpi_cv.cpp).
PKGS="build-essential cmake pkg-config libeigen3-dev nlohmann-json3-dev catch2 libopencv-dev libopenmpi-dev openmpi-bin"
if [ "${SFM_WITH_TORCH:-0}" = 1 ]; then PKGS="$PKGS python3-torch python3-numpy"; fi
# The fuzzers (scripts/fuzz.sh): clang with libFuzzer and its OpenMP runtime.
if [ "${SFM_WITH_FUZZ:-0}" = 1 ]; then PKGS="$PKGS clang libclang-rt-14-dev libomp-14-dev"; fi
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "sfm-engine needs these Debian packages; please run:"
    echo "  sudo apt-get install -y$missing"
    exit 1
  fi
fi

# nvcc is often installed outside PATH.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi

GEN=()
if command -v ccache >/dev/null; then GEN+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache); fi
if command -v ninja >/dev/null; then GEN+=(-G Ninja); fi
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
fi
cmake --build "$BUILD" -j "$(nproc)"
