#!/usr/bin/env bash
# Do the instruction-set levels give the same bits? Trains the seed model (2 epochs) and LeNet-5
# (1 epoch) on small synthetic data sets at every level this CPU runs (SCRATCHCNN_ISA) and with a
# native build's tool when given, and compares each checkpoint byte for byte with the best level's.
# Writes OUT/isa_bits.json: {"baseline": LEVEL, "runs": [...], "same": {LEVEL: true|false}}.
#
#   scripts/isa_bits.sh TOOL OUT [NATIVE_TOOL]
set -euo pipefail
tool=$1 out=$2 native=${3:-}
mkdir -p "$out/bits"
work="$out/bits"
py=/usr/bin/python3
[[ -x $py ]] || py=python3

# Deterministic data: an optdigits folder (8x8, 500 + 200 rows) and an IDX folder (28x28, 256 + 64).
"$py" - "$work" <<'PY'
import os, random, struct, sys
work = sys.argv[1]
rng = random.Random(7)
os.makedirs(f"{work}/digits", exist_ok=True)
for name, rows in (("optdigits.tra", 500), ("optdigits.tes", 200)):
    with open(f"{work}/digits/{name}", "w") as f:
        for r in range(rows):
            label = r % 10
            f.write(",".join(str(16 if i % 10 == label else rng.randrange(5)) for i in range(64)))
            f.write(f",{label}\n")
os.makedirs(f"{work}/idx", exist_ok=True)
for prefix, n in (("train", 256), ("t10k", 64)):
    labels = [i % 10 for i in range(n)]
    with open(f"{work}/idx/{prefix}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28))
        f.write(bytes(rng.randrange(256) if (p % 10) == labels[i] else rng.randrange(64)
                      for i in range(n) for p in range(784)))
    with open(f"{work}/idx/{prefix}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(labels))
PY

runs=("seed:--model seed --epochs 2 --data $work/digits"
      "lenet5:--model lenet5 --epochs 1 --data $work/idx")
levels=$("$tool" info --isa-levels)
baseline=$(head -n1 <<<"$levels")
train() {  # LEVEL RUN-NAME ARGS... ; the tool is chosen by the level
  local level=$1 name=$2; shift 2
  local exe=$tool envs=(env SCRATCHCNN_ISA="$level")
  [[ $level == native ]] && exe=$native envs=(env -u SCRATCHCNN_ISA)
  # shellcheck disable=SC2068
  "${envs[@]}" "$exe" train $@ --threads 1 --quiet --save "$work/$name.$level.ckpt"
}
all=$levels
[[ -n $native ]] && all="$levels native"
declare -A same
for level in $all; do
  same[$level]=true
  for run in "${runs[@]}"; do
    name=${run%%:*} args=${run#*:}
    train "$level" "$name" $args
    cmp -s "$work/$name.$baseline.ckpt" "$work/$name.$level.ckpt" || same[$level]=false
  done
done
{
  printf '{"baseline": "%s", "runs": ["seed, 2 epochs, 500 optdigits-format rows", "lenet5, 1 epoch, 256 28x28 IDX images"], "same": {' "$baseline"
  sep=""
  for level in $all; do printf '%s"%s": %s' "$sep" "$level" "${same[$level]}"; sep=", "; done
  printf '}}\n'
} >"$out/isa_bits.json"
echo "isa_bits: $(cat "$out/isa_bits.json")" >&2
