#!/usr/bin/env bash
# Makes third_party/ (git-ignored): what travels with the working tree to a GPU machine that has
# CUDA, CMake, ninja and PyTorch's cuDNN/cuBLAS wheels but no Debian -dev packages, no OpenCV
# and no package registry (see tests/gpu/first_contact.sh, which uses it):
#   third_party/eigen3, json/include, catch2/{single_include,contrib}
#        header-only dependencies copied from this machine's Debian packages, so CMake's
#        fallbacks (CMakeLists.txt, tests/CMakeLists.txt) can build there;
#   third_party/prebuilt/bin/{sfm,sfm_tests}
#        when the CUDA toolkit is here: the OpenCV-free executables (targets sfm_core and
#        sfm_tests_core), built for sm_90 with the static CUDA runtime and a static C++
#        runtime, without MPI (linked into `sfm` and `sfm_tests` only); they need the driver,
#        cuBLAS, cuDNN and NCCL there, and nothing else beyond glibc and the carried libgomp:
#        scripts/check_needed.sh fails the bundle otherwise (tests/gpu/check_bare_root.sh then
#        proves they start in a root holding only those);
#   third_party/prebuilt/lib     the non-system shared libraries they need that a bare image
#        may lack (libgomp);
#   third_party/prebuilt/ldd.txt, BUILD_INFO.txt   what they link against and how they were built;
#   third_party/SOURCE_VERSION.txt   the commit and local changes (the copy on the GPU machine
#        is not a git checkout).
# Usage: scripts/gpu_bundle.sh [BUILD_DIR]   (default build/; a CUDA-enabled configured build is
# reused, else build-bundle/ is configured). Prints the bundle's size; exits 1 above 60 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TP=$ROOT/third_party
BUILD=${1:-build}
LIMIT_MIB=60

copy_dir() {  # copy_dir SRC DST: a fresh copy
  rm -rf "$2"
  mkdir -p "$(dirname "$2")"
  cp -r "$1" "$2"
}
need() { [ -e "$1" ] || { echo "gpu_bundle: $1 is missing (run scripts/setup.sh first: it installs $2)"; exit 1; }; }

need /usr/include/eigen3/Eigen/Dense libeigen3-dev
need /usr/include/nlohmann/json.hpp nlohmann-json3-dev
need /usr/include/catch2/catch.hpp catch2
need /usr/lib/cmake/Catch2/Catch.cmake catch2
mkdir -p "$TP"
copy_dir /usr/include/eigen3 "$TP/eigen3"
rm -rf "$TP/eigen3/unsupported/test" "$TP/eigen3/doc" 2> /dev/null || true
mkdir -p "$TP/json/include"
copy_dir /usr/include/nlohmann "$TP/json/include/nlohmann"
mkdir -p "$TP/catch2/single_include" "$TP/catch2/contrib"
copy_dir /usr/include/catch2 "$TP/catch2/single_include/catch2"
cp /usr/lib/cmake/Catch2/Catch.cmake /usr/lib/cmake/Catch2/CatchAddTests.cmake "$TP/catch2/contrib/"
echo "gpu_bundle: headers: eigen3 $(dpkg-query -W -f='${Version}' libeigen3-dev), nlohmann-json $(dpkg-query -W -f='${Version}' nlohmann-json3-dev), catch2 $(dpkg-query -W -f='${Version}' catch2)"

{
  echo "made: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  if git -C "$ROOT" rev-parse HEAD > /dev/null 2>&1; then
    echo "commit: $(git -C "$ROOT" rev-parse HEAD)"
    echo "branch: $(git -C "$ROOT" rev-parse --abbrev-ref HEAD)"
    echo "subject: $(git -C "$ROOT" log -1 --format=%s)"
    echo "local changes (git status --short):"
    git -C "$ROOT" status --short | sed 's/^/  /'
  else
    echo "commit: unknown (not a git checkout)"
  fi
} > "$TP/SOURCE_VERSION.txt"

rm -rf "$TP/prebuilt"
if ! command -v nvcc > /dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
if command -v nvcc > /dev/null; then
  if [ ! -f "$BUILD/CMakeCache.txt" ] || ! grep -q "^SFM_CUDA:BOOL=ON" "$BUILD/CMakeCache.txt"; then
    BUILD=build-bundle
    GEN=()
    if command -v ninja > /dev/null; then GEN+=(-G Ninja); fi
    if command -v ccache > /dev/null; then GEN+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache); fi
    [ -f "$BUILD/CMakeCache.txt" ] || cmake -S . -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DSFM_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES=90
  fi
  arch=$(grep -oh -- "--generate-code=[^ ]*" "$BUILD"/build.ninja "$BUILD"/CMakeFiles/*.dir/flags.make 2> /dev/null | sort -u | tr '\n' ' ' || true)
  echo "gpu_bundle: building sfm_core and sfm_tests_core in $BUILD (CUDA architectures: $arch)"
  cmake --build "$BUILD" -j "$(nproc)" --target sfm_core sfm_tests_core
  mkdir -p "$TP/prebuilt/bin" "$TP/prebuilt/lib"
  cp "$BUILD/core/sfm_core" "$TP/prebuilt/bin/sfm"
  cp "$BUILD/core/sfm_tests_core" "$TP/prebuilt/bin/sfm_tests"
  strip --strip-unneeded "$TP/prebuilt/bin/sfm" "$TP/prebuilt/bin/sfm_tests" 2> /dev/null || true
  if ! scripts/check_needed.sh "$TP/prebuilt/bin/sfm" "$TP/prebuilt/bin/sfm_tests"; then
    echo "gpu_bundle: the prebuilt binaries would not start on a bare GPU image; removing them"
    rm -rf "$TP/prebuilt"
    exit 1
  fi
  {
    for b in sfm sfm_tests; do
      echo "== $b: NEEDED entries (readelf -d)"
      readelf -d "$TP/prebuilt/bin/$b" | grep NEEDED
      echo "== ldd $b (on the build machine: the libraries above and theirs)"
      ldd "$TP/prebuilt/bin/$b"
    done
  } > "$TP/prebuilt/ldd.txt" 2>&1 || true
  # libgomp is not part of every image; the CUDA libraries and glibc are taken from the GPU
  # machine (the toolkit, the driver, PyTorch's wheels).
  for lib in libgomp.so.1; do
    p=$(ldd "$TP/prebuilt/bin/sfm_tests" | awk -v l="$lib" '$1 == l {print $3}')
    [ -n "$p" ] && cp -L "$p" "$TP/prebuilt/lib/"
  done
  {
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ), build dir $BUILD, CUDA architectures $arch"
    nvcc --version | tail -n 2
    echo "c++: $(c++ --version | head -n 1)"
    grep -E "^(CUDNN_LIBRARY|CUDNN_INCLUDE_DIR|CMAKE_BUILD_TYPE):" "$BUILD/CMakeCache.txt" || true
    echo "needs at run time: $(readelf -d "$TP/prebuilt/bin/sfm_tests" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')"
  } > "$TP/prebuilt/BUILD_INFO.txt"
else
  echo "gpu_bundle: no nvcc here: no prebuilt binaries (the GPU machine will build from source)"
fi

size_kib=$(du -sk "$TP" | cut -f1)
echo "gpu_bundle: $TP is $((size_kib / 1024)) MiB ($size_kib KiB):"
du -sh "$TP"/* "$TP"/prebuilt/bin/* 2> /dev/null | sed 's/^/  /'
if [ $((size_kib / 1024)) -ge $LIMIT_MIB ]; then
  echo "gpu_bundle: over the $LIMIT_MIB MiB limit (the tree that travels may hold 64 MiB in all)"
  exit 1
fi
