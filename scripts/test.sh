#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, makes sure test data is there, and
# runs every test (GoogleTest via ctest) plus a quick pass of every benchmark binary; then builds
# examples/ against the installed package, runs the fast path on emulated older CPUs (QEMU:
# scripts/test-old-cpus.sh; AArch64 under qemu-aarch64 when the cross compiler is installed:
# scripts/test-aarch64.sh), runs the test suite again under AddressSanitizer +
# UndefinedBehaviorSanitizer, checks training under mpirun (scripts/test-mpi.sh), and runs every
# fuzzer for 30 s.
#   scripts/test.sh           everything (what CI runs)
#   scripts/test.sh --quick   only the first part: build, ctest, benchmarks
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
quick=0
case "${1:-}" in
  "") ;;
  --quick) quick=1 ;;
  *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac
scripts/setup.sh
# Its own build folder (build-test/, or $SCRATCHCNN_TEST_BUILD_DIR), apart from the main job's
# build/, so that scripts/run.sh and this script never rebuild each other's objects. Exported for
# the scripts below (bench.sh, test-old-cpus.sh).
export SCRATCHCNN_BUILD_DIR="${SCRATCHCNN_TEST_BUILD_DIR:-$repo/build-test}"
# SCRATCHCNN_ONNX_TESTS: the ONNX export's tests against OpenCV DNN and onnx's checker are
# required (configuring fails without them rather than skipping them).
scripts/build.sh -DSCRATCHCNN_WERROR=ON -DSCRATCHCNN_ONNX_TESTS=ON
# Tests use ../shared/data/optdigits when present, else data/ (filled here).
if [[ ! -f ../shared/data/optdigits/optdigits.tra ]]; then
  scripts/data.sh >/dev/null
fi
build="$SCRATCHCNN_BUILD_DIR"
ctest --test-dir "$build" --output-on-failure -j 2
scripts/bench.sh --quick --no-setup --no-build
[[ $quick == 1 ]] && exit 0

echo "== the installed package, used by examples/"
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix/install" >/dev/null
cmake -S examples -B "$prefix/example" -DCMAKE_PREFIX_PATH="$prefix/install" \
  -DCMAKE_CXX_FLAGS=-Werror >/dev/null
cmake --build "$prefix/example" >/dev/null
"$build/scratchcnn" train --model "flatten dense(64,10)" --data "$(scripts/data.sh)" --epochs 2 \
  --save "$prefix/p.bin" >/dev/null
data_dir=$(scripts/data.sh)
rows="$data_dir/optdigits.tes"
[[ -f "$rows" ]] || rows="$data_dir/digits.csv.gz"
libdir=$(find "$prefix/install" -name libscratchcnn.a -printf '%h\n')
for f in bin/scratchcnn bin/scratchcnn-bench-train bin/scratchcnn-bench-gemm \
         bin/scratchcnn-bench-layers bin/scratchcnn-bench-peak bin/scratchcnn-bench-threads \
         include/scratchcnn/fast/isa.hpp "${libdir#"$prefix/install/"}/libscratchcnn.a" \
         "${libdir#"$prefix/install/"}/cmake/scratchcnn/scratchcnnConfig.cmake" \
         "${libdir#"$prefix/install/"}/cmake/scratchcnn/scratchcnnConfigVersion.cmake" \
         "${libdir#"$prefix/install/"}/pkgconfig/scratchcnn.pc"; do
  [[ -e "$prefix/install/$f" ]] || { echo "test.sh: the install lacks $f" >&2; exit 1; }
done
# No generic names on a PATH: the benchmark binaries are installed only as scratchcnn-bench-*.
if compgen -G "$prefix/install/bin/bench_*" >/dev/null; then
  echo "test.sh: the install has bin/bench_* names that could clash on a PATH" >&2; exit 1
fi
# The same consumer without CMake: pkg-config alone gives the flags (C++20, OpenMP, zlib).
PKG_CONFIG_PATH="$libdir/pkgconfig" g++ -Werror -Wall -o "$prefix/classify-pc" examples/classify.cpp \
  $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs scratchcnn)
"$prefix/classify-pc" "$prefix/p.bin" "$rows" >"$prefix/labels.pc"
# The consumer's copy of the static library dispatches like ours: the same labels at every level
# this CPU runs.
"$prefix/example/classify" "$prefix/p.bin" "$rows" >"$prefix/labels.auto"
cmp -s "$prefix/labels.auto" "$prefix/labels.pc" ||
  { echo "test.sh: the pkg-config build of examples/classify gives other labels" >&2; exit 1; }
for level in $("$build/scratchcnn" info --isa-levels); do
  SCRATCHCNN_ISA=$level "$prefix/example/classify" "$prefix/p.bin" "$rows" >"$prefix/labels.$level"
  cmp -s "$prefix/labels.auto" "$prefix/labels.$level" ||
    { echo "test.sh: examples/classify labels differ at SCRATCHCNN_ISA=$level" >&2; exit 1; }
  echo "examples/classify at SCRATCHCNN_ISA=$level: same labels as auto"
done

echo "== older CPUs, emulated"
scripts/test-old-cpus.sh

echo "== AArch64, cross-built and emulated (when scripts/setup.sh --cross-aarch64 has run)"
scripts/test-aarch64.sh

echo "== the test suite under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake --preset asan -DSCRATCHCNN_WERROR=ON >/dev/null
cmake --build --preset asan -j "$(nproc)" >/dev/null
ctest --preset asan -j 2

# The asan preset builds without MPI (OpenMPI's own allocations would trip LeakSanitizer), so its
# tool also serves to check that a build without MPI refuses to run under mpirun.
echo "== training on several processes (MPI)"
if grep -q '^SCRATCHCNN_MPI:BOOL=ON' "$build/CMakeCache.txt"; then
  # LeNet-5's default data, for the documented `mpirun -np 3 ... --model lenet5` check.
  scripts/fetch-data.sh fashion-mnist
  scripts/test-mpi.sh "$build" "$repo/build-asan"
else
  # setup.sh installs OpenMPI, so a build without it here is a broken set-up, not a choice.
  echo "test.sh: $build was built without MPI (SCRATCHCNN_MPI off: is libopenmpi-dev installed?)" >&2
  exit 1
fi

echo "== fuzzing"
scripts/fuzz.sh 30
