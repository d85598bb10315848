#!/usr/bin/env bash
# Configures and builds scratchcnn (Release) in build/ (or $SCRATCHCNN_BUILD_DIR).
# Extra arguments go to the cmake configure step, e.g. -DSCRATCHCNN_WERROR=ON.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="${SCRATCHCNN_BUILD_DIR:-$repo/build}"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
