#!/usr/bin/env bash
# Installs the Debian 12 packages scratchcnn needs to build, test and plot, when any is missing.
#   scripts/setup.sh          build + test + plot dependencies
#   scripts/setup.sh --bench  also the benchmark baselines (OpenBLAS, oneDNN, PyTorch, compare.py)
#   scripts/setup.sh --cross-aarch64
#                             also the aarch64 cross compiler and Debian's arm64 zlib, libpng and
#                             xsimd
#                             (adds the arm64 architecture to dpkg), for scripts/test-aarch64.sh
# Needs root or sudo only when something is missing.
set -euo pipefail

# libpng-dev decodes the PNG files of image folders (src/data/png.cpp).
# clang, its OpenMP runtime and compiler-rt are for the fuzzers that scripts/test.sh runs;
# qemu-user for its runs on emulated older CPUs (scripts/test-old-cpus.sh); OpenMPI for training
# on several processes (mpirun -np N scratchcnn train, scripts/test-mpi.sh); OpenCV's dnn module
# and python3-onnx for the tests only: they read what 'scratchcnn export' writes (ONNX), the
# library and the tool never link them (tests/CMakeLists.txt, SCRATCHCNN_ONNX_TESTS).
packages=(g++ make cmake pkg-config libxsimd-dev libgtest-dev libbenchmark-dev zlib1g-dev libpng-dev
          python3 python3-matplotlib ca-certificates clang libomp-dev libclang-rt-14-dev qemu-user
          libopenmpi-dev openmpi-bin libopencv-dnn-dev python3-onnx)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(libopenblas-dev libdnnl-dev libbenchmark-tools python3-torch linux-perf)
elif [[ "${1:-}" == "--cross-aarch64" ]]; then
  # g++ for aarch64 (with its libgomp and libstdc++); zlib, libpng and xsimd's CMake package for arm64;
  # googletest's sources, which scripts/test-aarch64.sh builds with the cross compiler.
  packages+=(g++-aarch64-linux-gnu googletest zlib1g-dev:arm64 libpng-dev:arm64 libxsimd-dev:arm64)
  arch_added=()
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    arch_added=(arm64)
  fi
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--bench | --cross-aarch64]" >&2
  exit 2
fi

missing=()
[[ -z "${arch_added[*]:-}" ]] || missing+=("(dpkg architecture arm64)")
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all packages present"
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "setup: error: missing packages (${missing[*]}) and neither root nor sudo to install them" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if [[ -n "${arch_added[*]:-}" ]]; then
  "${sudo[@]}" dpkg --add-architecture arm64
  missing=("${missing[@]:1}")
fi
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
