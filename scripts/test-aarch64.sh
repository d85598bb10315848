#!/usr/bin/env bash
# Cross-builds scratchcnn for AArch64 (Debian's g++-aarch64-linux-gnu: scripts/setup.sh
# --cross-aarch64; cmake/aarch64-linux-gnu.cmake) into build-aarch64/ (or $SCRATCHCNN_AARCH64_DIR)
# and runs it under QEMU's user-mode emulator (qemu-aarch64 -L /usr/aarch64-linux-gnu):
#   the level must be neon64 with fused multiply-adds (test_isa), the kernel, network and
#   exponential tests must pass (test_parity is not run: under QEMU's NEON emulation its layer
#   cases take well over 10 minutes), and `train --model seed --epochs 10 --save` must give the host's
#   SCRATCHCNN_ISA=avx512f run's training state bit for bit: parameters, velocities and every
#   epoch's loss and accuracies. The two files differ only in the bit class each records
#   ("neon64", "x86-fma") and so in their checksum, which is why the comparison reads the
#   checkpoints rather than cmp-ing them.
# The host build is build-test/ (scripts/test.sh) or $SCRATCHCNN_BUILD_DIR. Without the cross
# compiler it says so and exits 0 (scripts/test.sh runs it when the packages are there).
# About 6 minutes on the 2-core development machine from scratch (GoogleTest and the library built
# with the cross compiler), 1 with ccache; the QEMU runs about 3.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
fail() { echo "test-aarch64: $*" >&2; exit 1; }
if ! command -v aarch64-linux-gnu-g++ >/dev/null; then
  echo "test-aarch64: skipped: no aarch64-linux-gnu-g++ (scripts/setup.sh --cross-aarch64)"
  exit 0
fi
command -v qemu-aarch64 >/dev/null || fail "qemu-aarch64 missing (scripts/setup.sh)"
[[ -d /usr/src/googletest ]] || fail "/usr/src/googletest missing (scripts/setup.sh --cross-aarch64)"
host="${SCRATCHCNN_BUILD_DIR:-$repo/build-test}"
[[ -x "$host/scratchcnn" ]] || fail "$host/scratchcnn missing (run scripts/test.sh --quick first)"
cross="${SCRATCHCNN_AARCH64_DIR:-$repo/build-aarch64}"
toolchain="$repo/cmake/aarch64-linux-gnu.cmake"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# One OpenMP thread: under qemu-aarch64 (Debian 12's qemu-user) a parallel region of two threads
# never ends, even a trivial one (OMP_WAIT_POLICY=passive too), so the emulated runs keep to one;
# results do not depend on the thread count, which the host's tests check.
q=(env OMP_NUM_THREADS=1 qemu-aarch64 -L /usr/aarch64-linux-gnu)
jobs=$(nproc)

echo "== GoogleTest for aarch64 (from /usr/src/googletest)"
start=$SECONDS
if [[ ! -f "$cross/googletest/lib/libgtest.a" ]]; then
  cmake -S /usr/src/googletest -B "$cross/googletest-build" -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
    -DCMAKE_BUILD_TYPE=Release -DBUILD_GMOCK=OFF -DCMAKE_INSTALL_PREFIX="$cross/googletest" \
    "${launcher[@]}" >/dev/null
  cmake --build "$cross/googletest-build" -j "$jobs" >/dev/null
  cmake --install "$cross/googletest-build" >/dev/null
fi
echo "== cross build (library, CLI, tests)"
cmake -S . -B "$cross/build" -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DCMAKE_BUILD_TYPE=Release \
  -DSCRATCHCNN_WERROR=ON -DSCRATCHCNN_BUILD_BENCH=OFF -DCMAKE_PREFIX_PATH="$cross/googletest" \
  "${launcher[@]}" >/dev/null
tests=(test_isa test_fast_kernels test_fast_network test_exp)
cmake --build "$cross/build" -j "$jobs" --target scratchcnn-cli "${tests[@]}" >/dev/null
echo "built in $((SECONDS - start)) s"
bin="$cross/build"
file "$bin/scratchcnn" 2>/dev/null | grep -q "ARM aarch64" || fail "$bin/scratchcnn is not an aarch64 executable"

start=$SECONDS
info=$("${q[@]}" "$bin/scratchcnn" info | grep '^fast kernels:') || fail "info failed"
echo "$info"
[[ $info == "fast kernels: neon64 ("*"fused FMA"* ]] || fail "expected the neon64 level with fused FMA"
# The test binaries run under QEMU themselves; the tests that start the CLI as a child process
# (IsaCli.*) would need binfmt_misc, which a container lacks. Exp: the cross-level pinned hash,
# the exact division and the special values (the full 2-ulp sweep takes minutes under QEMU).
run_test() {  # binary, gtest filter
  "${q[@]}" "$bin/tests/$1" --gtest_brief=1 --gtest_filter="$2" >"$cross/$1.log" 2>&1 ||
    { tail -40 "$cross/$1.log" >&2; fail "$1 failed under qemu-aarch64"; }
  echo "$1 ($2): passed"
}
run_test test_isa '-IsaCli.*'
run_test test_fast_kernels '*'
run_test test_fast_network '*'
run_test test_exp 'Exp.BitsPinnedAtEveryFmaLevel:Exp.SigmoidDividesExactlyAtEveryLevel:Exp.SpecialValues'

echo "== seed model, 10 epochs: host avx512f against qemu-aarch64 neon64"
if "$host/scratchcnn" info 2>/dev/null | grep -q '^fast kernels: .*this CPU runs: avx512f'; then
  data=$(scripts/data.sh)
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  args=(train --data "$data" --model seed --epochs 10 --quiet)
  SCRATCHCNN_ISA=avx512f "$host/scratchcnn" "${args[@]}" --save "$tmp/host.ckpt" >/dev/null ||
    fail "host training (avx512f) failed"
  "${q[@]}" "$bin/scratchcnn" "${args[@]}" --save "$tmp/aarch64.ckpt" >/dev/null ||
    fail "qemu-aarch64 training (neon64) failed"
  python3 - "$tmp/host.ckpt" "$tmp/aarch64.ckpt" <<'PY' || fail "the aarch64 training state differs from x86's"
import struct, sys

def state(path):
    # The checkpoint layout of include/scratchcnn/checkpoint.hpp: everything but the recorded
    # bit class and the trailing checksum, as raw bytes.
    b = open(path, "rb").read()
    assert b[:8] == b"SCNNCKPT", path
    version, text = struct.unpack_from("<II", b, 8)
    o = 16 + text
    (count,) = struct.unpack_from("<Q", b, o)
    o += 8 + 8 * count + 4 * 6 + 8 + 4 * 2 + 8
    before_isa = b[:o]
    (isa_len,) = struct.unpack_from("<I", b, o)
    isa = b[o + 4:o + 4 + isa_len].decode()
    after_isa = b[o + 4 + isa_len:-8]
    return before_isa, after_isa, isa

h, a = state(sys.argv[1]), state(sys.argv[2])
print(f"bit classes recorded: host {h[2]}, aarch64 {a[2]}")
if h[:2] != a[:2]:
    print("parameters, velocities, options or history differ", file=sys.stderr)
    sys.exit(1)
print("parameters, velocities and per-epoch history: identical bytes")
PY
else
  echo "skipped: this host does not run avx512f, so there is no avx512f run to compare"
fi
echo "qemu-aarch64 runs: $((SECONDS - start)) s"
echo "test-aarch64: passed"
