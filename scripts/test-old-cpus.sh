#!/usr/bin/env bash
# Runs the test build (build-test/ from scripts/test.sh, or $SCRATCHCNN_BUILD_DIR: the tool and the
# tests) on emulated older CPUs with QEMU's user-mode emulator (Debian's qemu-user), which raises an
# illegal-instruction fault for any instruction the emulated CPU model lacks:
#   Nehalem (SSE4.2, no AVX)       the library must choose sse4.2, and run it without one AVX
#                                  instruction: `info`, the parity and fast-network tests, and
#                                  `compare` on the origin data;
#   Haswell (AVX2 + FMA, no AVX-512) the same at avx2 (QEMU 7.2 emulates no AVX-512);
#   Core 2 (SSSE3, no SSE4.2)      the library must refuse with a clear error, not crash;
#   and SCRATCHCNN_ISA=avx512f on the Haswell must be refused by name;
#   on a host that runs avx512f, `train --save` there and on the Haswell (avx2) must write the
#   same checkpoint bytes (seed on the origin data, LeNet-5 on a small IDX subset).
# About 3 minutes on the 2-core development machine, plus about 2 for the checkpoint runs.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
build="${SCRATCHCNN_BUILD_DIR:-$repo/build-test}"
for f in scratchcnn tests/test_parity tests/test_fast_kernels tests/test_fast_network; do
  [[ -x "$build/$f" ]] || { echo "test-old-cpus: $build/$f missing (run scripts/test.sh --quick first)" >&2; exit 1; }
done
command -v qemu-x86_64 >/dev/null || { echo "test-old-cpus: qemu-x86_64 missing (scripts/setup.sh)" >&2; exit 1; }
data=$(scripts/data.sh)
fail() { echo "test-old-cpus: $*" >&2; exit 1; }
# QEMU warns on stderr about every feature of a CPU model it does not emulate (pcid, x2apic, ...).
exec 2> >(grep -v "TCG doesn't support requested feature" >&2)

run_cpu() {  # qemu cpu model, expected level, gtest filter for test_parity
  local cpu=$1 level=$2 filter=$3 q=(qemu-x86_64 -cpu "$1")
  echo "== $cpu: expects the $level kernels"
  local info
  info=$("${q[@]}" "$build/scratchcnn" info 2>/dev/null | grep '^fast kernels:') || fail "$cpu: info failed"
  echo "$info"
  [[ $info == "fast kernels: $level ("* ]] || fail "$cpu: expected the $level level"
  for t in test_fast_kernels test_fast_network; do
    "${q[@]}" "$build/tests/$t" --gtest_brief=1 >/dev/null || fail "$cpu: $t failed"
    echo "$t: passed"
  done
  "${q[@]}" "$build/tests/test_parity" --gtest_brief=1 --gtest_filter="$filter" >/dev/null ||
    fail "$cpu: test_parity failed"
  echo "test_parity ($filter): passed"
  "${q[@]}" "$build/scratchcnn" compare --data "$data" --epochs 2 2>/dev/null | tail -1 |
    grep -q '^parity: OK' || fail "$cpu: compare failed"
  echo "compare --epochs 2: parity OK"
}
run_cpu Nehalem-v1 sse4.2 '*'
run_cpu Haswell-v4 avx2 '*/avx2'

# avx2 and avx512f promise the same bits (docs/parity.md): a checkpoint trained on the host at
# avx512f and one trained on the emulated Haswell at avx2 must be the same bytes. The LeNet-5 run
# uses a 2,000/500-sample IDX subset (Fashion-MNIST when the machine has it, else synthetic
# images): 60,000 samples under QEMU's AVX2 emulation would take many minutes.
same_checkpoint() {  # label, then the train arguments
  local label=$1
  shift
  local host="$tmp/host-$label.ckpt" emulated="$tmp/haswell-$label.ckpt"
  SCRATCHCNN_ISA=avx512f "$build/scratchcnn" train "$@" --quiet --save "$host" >/dev/null ||
    fail "$label: host training (avx512f) failed"
  SCRATCHCNN_ISA=avx2 qemu-x86_64 -cpu Haswell-v4 "$build/scratchcnn" train "$@" --quiet \
    --save "$emulated" >/dev/null || fail "$label: Haswell-v4 training (avx2) failed"
  cmp "$host" "$emulated" || fail "$label: the avx512f and avx2 checkpoints differ"
  echo "$label: host avx512f and Haswell-v4 avx2 checkpoints are identical"
}
echo "== host avx512f against Haswell-v4 avx2: the same checkpoint bytes"
if "$build/scratchcnn" info 2>/dev/null | grep -q '^fast kernels: .*this CPU runs: avx512f'; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  scripts/idx_subset.py "$tmp/idx"
  same_checkpoint seed --data "$data" --model seed --epochs 10
  same_checkpoint lenet5 --data "$tmp/idx" --model lenet5 --epochs 2
else
  echo "skipped: this host does not run avx512f, so there is no avx512f checkpoint to compare"
fi

expect_refusal() {  # qemu cpu model, SCRATCHCNN_ISA value (or empty), expected part of the error
  local cpu=$1 isa=$2 expected=$3 err rc
  set +e
  err=$(SCRATCHCNN_ISA=$isa qemu-x86_64 -cpu "$cpu" "$build/scratchcnn" info 2>&1 >/dev/null)
  rc=$?
  set -e
  grep -v "TCG doesn.t support" <<<"$err" || true
  [[ $rc == 1 && $err == *"$expected"* ]] ||
    fail "$cpu${isa:+, SCRATCHCNN_ISA=$isa}: expected exit 1 and a clear error, got $rc"
}
echo "== Haswell-v4, SCRATCHCNN_ISA=avx512f: a level the CPU lacks"
expect_refusal Haswell-v4 avx512f \
  "SCRATCHCNN_ISA=avx512f: this CPU cannot run the avx512f kernels (it runs: avx2, sse4.2"
echo "== core2duo: no level it can run"
expect_refusal core2duo "" "this CPU runs none of the instruction-set levels"
echo "test-old-cpus: passed"
