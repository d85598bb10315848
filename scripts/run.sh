#!/usr/bin/env bash
# The main job: installs what is missing, builds the command-line tool (Release, in build/ or
# $SCRATCHCNN_BUILD_DIR; not the tests or benchmarks), gets the optdigits data, trains the
# seed model of the origin write-up (10 epochs, batch 128, lr 0.1) on the fast path and on the
# reference path, prints the per-epoch tables and writes out/loss.png and out/accuracy.png.
# Extra arguments go to both `scratchcnn train` runs (e.g. --seed 2).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
scripts/setup.sh
scripts/build.sh --target scratchcnn-cli
data=$(scripts/data.sh)
build="${SCRATCHCNN_BUILD_DIR:-$repo/build}"
mkdir -p out
for path in fast reference; do
  echo
  echo "== scratchcnn train --model seed --path $path"
  "$build/scratchcnn" train --model seed --data "$data" --epochs 10 --batch 128 --lr 0.1 --seed 1 \
    --path "$path" --metrics "out/seed-$path.csv" --save "out/seed-$path.bin" "$@"
done
echo
/usr/bin/python3 scripts/plot_metrics.py out/seed-fast.csv out/seed-reference.csv --out out
