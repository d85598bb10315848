#!/usr/bin/env bash
# OpenMP scaling of the fast path: the multi-threaded benchmark cases at several thread counts
# (bench/bench_env.hpp), summarised as a Markdown table of median times and speedups over one
# thread. Meant for machines with more cores than threads you can spare; on 2 cores only 1,2
# says anything.
#
#   scripts/scaling.sh [--threads 1,2,4,8,16] [--no-build] [--results DIR]
#
# Cases: FMA peak and triad bandwidth (one and all cores); bench_train's seed and LeNet-5 steps,
# predictions and the seed epoch at batch 128; LeNet-5 step and prediction at batch 1024; and
# bench_layers' direct conv 32->64 3x3 on 28x28 at batch 256. A batch of B keeps at most B / 16
# threads busy (one 16-sample chunk per thread), and fast::Options::flops_per_thread gives a step
# at most one thread per MFLOP of work (the seed model's 6.4 MFLOP step: at most 6).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
build="${SCRATCHCNN_BUILD_DIR:-$repo/build}"
threads=1,2,4,8,16 do_build=1 results=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads="$2"; shift ;;
    --no-build) do_build=0 ;;
    --results) results="$2"; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "scaling.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
results="${results:-$build/scaling}"
[[ $do_build -eq 1 ]] && SCRATCHCNN_BUILD_DIR="$build" scripts/build.sh --target bench_peak \
  --target bench_train --target bench_layers >/dev/null
mkdir -p "$results"
export SCRATCHCNN_BENCH_THREADS="$threads"
common=(--benchmark_repetitions=3 --benchmark_min_time=0.1 --benchmark_display_aggregates_only=true
        --benchmark_out_format=json)
bench() {  # name out [VAR=value...] -- [benchmark flags...]
  local name=$1 out=$2 envs=()
  shift 2
  while [[ $# -gt 0 && $1 != -- ]]; do envs+=("$1"); shift; done
  [[ $# -gt 0 ]] && shift
  echo "scaling.sh: $name -> $results/$out.json" >&2
  env "${envs[@]}" "$build/bench/$name" "${common[@]}" "$@" --benchmark_out="$results/$out.json" \
    >"$results/$out.log" 2>&1 || { echo "scaling.sh: $name failed:" >&2; tail -n 20 "$results/$out.log" >&2; exit 1; }
}
bench bench_peak peak --
bench bench_train train_b128 -- --benchmark_filter='BM_Fast/(seed|lenet5)/(train_step|predict|epoch)'
bench bench_train train_b1024 SCRATCHCNN_BENCH_BATCH=1024 -- --benchmark_filter='BM_Fast/lenet5/(train_step|predict)'
bench bench_layers layers_b256 SCRATCHCNN_BENCH_BATCH=256 -- --benchmark_filter='BM_Fast/conv32x64_28/direct/'
py=/usr/bin/python3
[[ -x $py ]] || py=python3
"$py" - "$results" <<'PY' | tee "$results/scaling.md"
import json, os, re, sys
res = sys.argv[1]
def medians(name):
    d = json.load(open(os.path.join(res, name + ".json")))
    out = {}
    for b in d["benchmarks"]:
        if b.get("aggregate_name") == "median":
            out[b["run_name"].replace("/real_time", "")] = b
    return d["context"], out
ctx, peak = medians("peak")
print(f"CPU: {ctx.get('num_cpus')} CPUs at {ctx.get('mhz_per_cpu')} MHz; fast kernels: {ctx.get('isa', 'n/a')}\n")
for name, key in (("BM_FmaPeakOneCore", "GFLOP/s"), ("BM_FmaPeakAllCores", "GFLOP/s"),
                  ("BM_TriadOneThread", "GB/s"), ("BM_TriadAllThreads", "GB/s")):
    if name in peak:
        print(f"- {name}: {peak[name][key]:.1f} {key}")
print()
for label, f in (("batch 128", "train_b128"), ("LeNet-5, batch 1024", "train_b1024"),
                 ("conv 32->64 3x3, 28x28, batch 256, direct", "layers_b256")):
    _, runs = medians(f)
    groups = {}
    for k, b in runs.items():
        m = re.match(r"(.*)/threads:(\d+)$", k)
        if m:
            groups.setdefault(m.group(1), {})[int(m.group(2))] = b
    ts = sorted({t for g in groups.values() for t in g})
    print(f"### {label}\n")
    print("| case | " + " | ".join(f"{t} thr" for t in ts) + " |")
    print("|---|" + "---|" * len(ts))
    for case, g in groups.items():
        one = g.get(1)
        cells = []
        for t in ts:
            b = g.get(t)
            if not b:
                cells.append("n/a")
                continue
            unit = b["time_unit"]
            ms = b["real_time"] * {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
            sp = f" ({one['real_time'] / b['real_time']:.2f}x)" if one and t != 1 else ""
            cells.append(f"{ms:.3g} ms{sp}")
        print(f"| {case.replace('BM_Fast/', '')} | " + " | ".join(cells) + " |")
    print()
PY
