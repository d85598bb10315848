#!/usr/bin/env bash
# Data-parallel training over MPI gives the bits of one process (docs/scale-out.md):
#   - the MPI ProcessGroup and the agreement on errors (tests/mpi_check.cpp) on 3 ranks, and a rank
#     that aborts ending the whole job;
#   - `mpirun -np N scratchcnn train` for the seed model (origin data) and LeNet-5 (a 1,000-sample
#     IDX subset) at 1, 2, 3 and 4 ranks, with 1 and 2 threads each: every --save checkpoint
#     cmp-identical to the plain single-process run's (the last batch is partial: 3,823 and 1,000
#     training samples);
#   - 3 ranks with batches that split into neither whole chunks nor equal shares (seed --batch 100,
#     LeNet-5 --batch 80), against one process;
#   - LeNet-5 on the whole of Fashion-MNIST (when installed), 2 epochs, on 3 ranks against one;
#   - resume on another rank count: 1 epoch on 2 ranks, --resume to epoch 2 on 3 ranks, against
#     the uninterrupted single-process run;
#   - unreadable data (on every rank, or on one only) and a rank that would train something else
#     (another --seed): every rank stops, non-zero, with the error on stderr, within seconds; so
#     does the job when rank 0 fails to write its checkpoint in the middle of training;
#     another command than train under mpirun is refused, and so is --path reference;
#   - ranks that compute in different bit classes (SCRATCHCNN_ISA=avx2 and sse4.2) are refused;
#   - given a second build made with SCRATCHCNN_MPI=OFF, that it refuses to run under mpirun -np 2.
# As root it passes --allow-run-as-root; --oversubscribe lets 4 ranks share a 2-core machine.
#   scripts/test-mpi.sh [BUILD_DIR [NO_MPI_BUILD_DIR]]
#     BUILD_DIR: default $SCRATCHCNN_BUILD_DIR, else build-test/ (built with tests/mpi_check)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
build="${1:-${SCRATCHCNN_BUILD_DIR:-$repo/build-test}}"
build=$(cd "$build" && pwd)
no_mpi=${2:-}
fail() { echo "test-mpi: $*" >&2; exit 1; }
for f in scratchcnn tests/mpi_check; do
  [[ -x "$build/$f" ]] || fail "$build/$f missing (a build with SCRATCHCNN_MPI=ON)"
done
command -v mpirun >/dev/null || fail "mpirun missing (scripts/setup.sh installs openmpi-bin)"
start=$SECONDS
# Idle OpenMP threads sleep instead of spinning: 4 ranks x 2 threads share 2 cores here.
export OMP_WAIT_POLICY=passive
mpi=(mpirun --oversubscribe)
[[ $(id -u) -eq 0 ]] && mpi=(mpirun --allow-run-as-root --oversubscribe)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
data=$(scripts/data.sh)
scripts/idx_subset.py "$tmp/idx" 1000

echo "== the MPI process group (3 ranks)"
"${mpi[@]}" -np 3 "$build/tests/mpi_check" collectives || fail "mpi_check collectives failed"
set +e
timeout 30 "${mpi[@]}" -np 3 "$build/tests/mpi_check" abort >"$tmp/abort.out" 2>&1
rc=$?
set -e
[[ $rc != 0 && $rc != 124 ]] || { cat "$tmp/abort.out" >&2; fail "a rank's abort did not end the job (exit $rc)"; }
echo "a rank's abort ends every rank (exit $rc)"

# One run: the label, the number of processes (0: plain, without mpirun), then train's arguments.
train() {
  local label=$1 np=$2
  shift 2
  if [[ $np == 0 ]]; then
    "$build/scratchcnn" train "$@" --quiet >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err" >&2; fail "$label failed"; }
  else
    "${mpi[@]}" -np "$np" "$build/scratchcnn" train "$@" >"$tmp/out" 2>"$tmp/err" ||
      { cat "$tmp/err" "$tmp/out" >&2; fail "$label failed"; }
  fi
}
# stderr without hwloc's complaints (a chroot without /sys makes every rank print one).
ours() { grep -v '^\[hwloc/' "$1" || true; }
same() {  # label, reference checkpoint, checkpoint
  cmp "$2" "$3" || fail "$1: the checkpoint differs from the single-process run's"
}

for model in seed lenet5; do
  if [[ $model == seed ]]; then dir=$data odd=100; else dir=$tmp/idx odd=80; fi
  args=(--model "$model" --data "$dir")
  echo "== $model, 2 epochs: one process against 1-4 ranks x 1-2 threads"
  train "$model plain" 0 "${args[@]}" --epochs 2 --threads 1 --save "$tmp/$model.ckpt"
  for np in 1 2 3 4; do
    for threads in 1 2; do
      train "$model $np ranks x $threads threads" "$np" "${args[@]}" --epochs 2 --threads "$threads" \
        --save "$tmp/$model-$np-$threads.ckpt"
      same "$model, $np ranks x $threads threads" "$tmp/$model.ckpt" "$tmp/$model-$np-$threads.ckpt"
      if [[ $np == 1 && $threads == 1 ]]; then ours "$tmp/err" >"$tmp/err.one"; fi
    done
    echo "$np ranks x 1 and 2 threads: identical"
  done
  # Rank 0 alone prints: one header, saying how the run is spread, and one table; on stderr, the
  # notes that one rank prints (the same as on 1 rank), not one per rank.
  grep -q "^run     path fast, 4 processes (MPI), .* each," "$tmp/out" ||
    { cat "$tmp/out" >&2; fail "$model: the header does not name the 4 processes"; }
  [[ $(grep -c '^epoch ' "$tmp/out") == 1 ]] && ours "$tmp/err" | cmp -s - "$tmp/err.one" ||
    { cat "$tmp/out" "$tmp/err" >&2; fail "$model: ranks other than 0 printed"; }
  echo "== $model --batch $odd (not whole chunks, not an even share) on 3 ranks"
  train "$model --batch $odd plain" 0 "${args[@]}" --epochs 2 --batch "$odd" --save "$tmp/$model-odd.ckpt"
  train "$model --batch $odd 3 ranks" 3 "${args[@]}" --epochs 2 --batch "$odd" --threads 2 \
    --save "$tmp/$model-odd-3.ckpt"
  same "$model --batch $odd, 3 ranks" "$tmp/$model-odd.ckpt" "$tmp/$model-odd-3.ckpt"
  echo "identical"
  echo "== $model: 1 epoch on 2 ranks, resumed to 2 on 3 ranks"
  train "$model epoch 1 on 2 ranks" 2 "${args[@]}" --epochs 1 --save "$tmp/$model-resumed.ckpt"
  train "$model resumed on 3 ranks" 3 --data "$dir" --resume "$tmp/$model-resumed.ckpt" \
    --epochs 2 --save "$tmp/$model-resumed.ckpt"
  same "$model resumed 2 -> 3 ranks" "$tmp/$model.ckpt" "$tmp/$model-resumed.ckpt"
  echo "identical to the uninterrupted single-process run"
done

# Batch norm (per channel and per feature) with dropout and a validation split: its batch
# statistics are added across the ranks in forward and backward, its running statistics (which
# the validation and test figures read) updated alike on every rank.
bn="conv(1,4,k=3,pad=1) batchnorm relu maxpool(2) flatten dense(64,32) batchnorm relu dropout(0.25) dense(32,10)"
echo "== batch norm model, 2 epochs, --batch 100: one process against 2 and 3 ranks"
train "batch norm plain" 0 --model "$bn" --data "$data" --epochs 2 --batch 100 --val-fraction 0.1 \
  --save "$tmp/bn.ckpt"
for np in 2 3; do
  train "batch norm $np ranks" "$np" --model "$bn" --data "$data" --epochs 2 --batch 100 \
    --val-fraction 0.1 --threads 2 --save "$tmp/bn-$np.ckpt"
  same "batch norm, $np ranks" "$tmp/bn.ckpt" "$tmp/bn-$np.ckpt"
done
echo "identical"

# The whole of Fashion-MNIST, LeNet-5's default data, when the machine has it (scripts/test.sh
# installs it with scripts/fetch-data.sh): the command of the documentation, on 3 ranks.
if [[ -d /usr/share/datasets/fashion-mnist ]]; then
  echo "== lenet5 on Fashion-MNIST (60,000 samples), 2 epochs: one process against 3 ranks"
  train "lenet5 Fashion-MNIST plain" 0 --model lenet5 --epochs 2 --save "$tmp/fashion.ckpt"
  train "lenet5 Fashion-MNIST 3 ranks" 3 --model lenet5 --epochs 2 --save "$tmp/fashion-3.ckpt"
  same "lenet5 Fashion-MNIST, 3 ranks" "$tmp/fashion.ckpt" "$tmp/fashion-3.ckpt"
  echo "identical"
else
  echo "== lenet5 on Fashion-MNIST: skipped (not installed; scripts/fetch-data.sh fashion-mnist)"
fi

echo "== errors"
expect_error() {  # label, expected exit code, expected text on stderr, then the mpirun arguments
  local label=$1 code=$2 text=$3 rc t0=$SECONDS
  shift 3
  set +e
  timeout 20 "${mpi[@]}" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  set -e
  [[ $rc != 124 ]] || fail "$label: still running after 20 s"
  # "nonzero": MPI_Abort's code, or mpirun's own when it crashes while ending the job (OpenMPI
  # 4.1's mpirun now and then segfaults in PMIx_server_finalize after an abort).
  [[ $rc == "$code" || ($code == nonzero && $rc != 0) ]] ||
    { cat "$tmp/err" >&2; fail "$label: exit $rc, expected $code"; }
  grep -qF -- "$text" "$tmp/err" || { cat "$tmp/err" >&2; fail "$label: stderr lacks '$text'"; }
  # Rank 0 prints an error all ranks agree on; a build without MPI has no rank 0 to leave it to.
  [[ $label == *"without MPI"* || $(grep -cF -- "$text" "$tmp/err") == 1 ]] ||
    { cat "$tmp/err" >&2; fail "$label: printed more than once"; }
  echo "$label: exit $rc after $((SECONDS - t0)) s, error on stderr"
}
mkdir "$tmp/unreadable"
expect_error "unreadable data on 3 ranks" 1 "scratchcnn train: error: no data in folder" \
  -np 3 "$build/scratchcnn" train --data "$tmp/unreadable" --epochs 1 --save "$tmp/never.ckpt"
[[ ! -e "$tmp/never.ckpt" ]] || fail "a failed run wrote its checkpoint"
# One rank alone cannot read its data (a machine without the file): every rank stops, rank 0 naming
# rank 2 and why.
expect_error "unreadable data on rank 2 only" 1 "rank 2: error: no data in folder" \
  -np 2 "$build/scratchcnn" train --data "$data" --epochs 1 --save "$tmp/never.ckpt" : \
  -np 1 "$build/scratchcnn" train --data "$tmp/unreadable" --epochs 1 --save "$tmp/never.ckpt"
[[ ! -e "$tmp/never.ckpt" ]] || fail "a failed run wrote its checkpoint"
# One rank trains something else (here another --seed; as well another copy of the data or of the
# --resume file): refused before training, not mixed silently.
expect_error "another --seed on rank 2" 1 "the processes differ in what they train" \
  -np 2 "$build/scratchcnn" train --data "$data" --epochs 1 --seed 1 : \
  -np 1 "$build/scratchcnn" train --data "$data" --epochs 1 --seed 2
expect_error "--path reference on 2 ranks" 2 "--path reference runs in one process" \
  -np 2 "$build/scratchcnn" train --path reference --data "$data" --epochs 1
expect_error "eval on 2 ranks" 2 "only train runs on several processes" \
  -np 2 "$build/scratchcnn" eval --checkpoint "$tmp/seed.ckpt" --data "$data"
expect_error "SCRATCHCNN_ISA=bogus on 3 ranks" 1 "scratchcnn train: error: SCRATCHCNN_ISA=bogus" \
  -np 3 -x SCRATCHCNN_ISA=bogus "$build/scratchcnn" train --data "$data" --epochs 1
# An error past the agreed start (rank 0 cannot write its checkpoint) ends every rank.
expect_error "rank 0's checkpoint write failing on 3 ranks" nonzero \
  "scratchcnn train: rank 0: error: /dev/full: write failed" \
  -np 3 "$build/scratchcnn" train --data "$data" --epochs 3 --save /dev/full
# The divergence guard stops every rank at the same batch; the message comes once.
expect_error "divergence (--lr 100) on 3 ranks" nonzero "exceeds the divergence limit" \
  -np 3 "$build/scratchcnn" train --data "$data" --epochs 2 --lr 100
levels=$("$build/scratchcnn" info --isa-levels)
if grep -qx avx2 <<<"$levels" && grep -qx sse4.2 <<<"$levels"; then
  expect_error "ranks in two bit classes (avx2, sse4.2)" 1 "differ in the bit class" \
    -np 1 -x SCRATCHCNN_ISA=avx2 "$build/scratchcnn" train --data "$data" --epochs 1 : \
    -np 1 -x SCRATCHCNN_ISA=sse4.2 "$build/scratchcnn" train --data "$data" --epochs 1
fi
if [[ -n $no_mpi ]]; then
  expect_error "a build without MPI on 2 ranks" 1 "this scratchcnn was built without MPI" \
    -np 2 "$no_mpi/scratchcnn" train --data "$data" --epochs 1 --save "$tmp/never.ckpt"
  [[ ! -e "$tmp/never.ckpt" ]] || fail "the build without MPI wrote a checkpoint under mpirun"
fi
echo "test-mpi: passed in $((SECONDS - start)) s"
