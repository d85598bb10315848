#!/usr/bin/env bash
# Builds the libFuzzer targets with clang, AddressSanitizer and UndefinedBehaviorSanitizer
# (build-fuzz/), and runs each for SECONDS (default 30) from its seed corpus in fuzz/corpus/:
# every fuzz/fuzz_*.cpp, among them fuzz_checkpoint_sealed (checkpoints and parameter files with
# the checksum recomputed, so that mutations reach the parser).
# Any crash, hang, leak or sanitizer report fails the script; the input that caused it is left in
# build-fuzz/findings/<target>/.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
secs="${1:-30}"
[[ "$secs" =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }
build="$repo/build-fuzz"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DSCRATCHCNN_BUILD_FUZZERS=ON -DSCRATCHCNN_SANITIZE=address,undefined \
  -DSCRATCHCNN_BUILD_TESTS=OFF -DSCRATCHCNN_BUILD_BENCH=OFF -DSCRATCHCNN_WERROR=ON >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
status=0
for bin in "$build"/fuzz/fuzz_*; do
  [[ -x "$bin" ]] || continue
  name=$(basename "$bin")
  seeds="$repo/fuzz/corpus/${name#fuzz_}"
  work=$(mktemp -d)
  findings="$build/findings/$name"
  mkdir -p "$findings"
  cp -r "$seeds"/. "$work"/ 2>/dev/null || true
  echo "fuzz: $name for ${secs}s"
  if ! (cd "$findings" && "$bin" "$work" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
          -max_len=65536 -print_final_stats=0 >"$findings/log" 2>&1); then
    echo "fuzz: $name FAILED; input and log in $findings:" >&2
    tail -30 "$findings/log" >&2
    status=1
  else
    grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$findings/log" | tail -1 || true
  fi
  rm -rf "$work"
done
exit $status
