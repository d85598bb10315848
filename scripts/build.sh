#!/usr/bin/env bash
# Configures and builds scratchcnn (Release) in build/ (or $SCRATCHCNN_BUILD_DIR).
#   scripts/build.sh [--target NAME]... [cmake configure arguments, e.g. -DSCRATCHCNN_WERROR=ON]
# Without --target it builds everything (library, tool, tests, benchmarks); with it only those
# targets and what they need (scripts/run.sh: --target scratchcnn-cli).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="${SCRATCHCNN_BUILD_DIR:-$repo/build}"
targets=() configure=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --target) targets+=(--target "$2"); shift 2 ;;
    *) configure+=("$1"); shift ;;
  esac
done
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release "${configure[@]}" >/dev/null
cmake --build "$build" -j "$(nproc)" "${targets[@]}"
