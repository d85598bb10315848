#!/usr/bin/env bash
# Runs every benchmark binary (build/bench/bench_*) and the PyTorch baseline, keeps their JSON, and
# writes docs/benchmarks.md with charts in docs/img/ (scripts/bench_report.py), and, with MPI,
# docs/scale-out.md from the reduction's measurements (scripts/scale_model.py).
#
#   scripts/bench.sh                 setup --bench, Release build, full run (under 10 minutes)
#   scripts/bench.sh --quick         every binary very briefly, no timing claims; the report goes
#                                    to the results folder, docs/ is left alone
#   options: --no-setup  --no-build  --profile (perf sampling profiles of the floor cases)
#            --repetitions N (default 5)  --min-time SECONDS (per benchmark run, default 0.1)
#            --results DIR (default $build/bench-results, or $build/bench-quick with --quick)
#            --no-pytorch  --no-report  --no-isa (skip the instruction-set comparison)
# A full run also compares the instruction-set levels (SCRATCHCNN_ISA=avx512f, avx2, sse4.2 on the
# default dispatched build) with a -DSCRATCHCNN_NATIVE=ON build (in $build-native) on a few cases.
# bench_onednn times our convolutions and oneDNN's side by side at 1 and 2 threads
# (omp_set_num_threads in the binary; both on libgomp).
# OpenBLAS and PyTorch run with OPENBLAS_NUM_THREADS=1 and with OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE unset for their commands only, so that OpenBLAS picks its kernel by its own CPU
# detection, as on a user's machine, rather than a core type or cache size forced by the shell.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
build="${SCRATCHCNN_BUILD_DIR:-$repo/build}"

quick=0 setup=1 do_build=1 profile=0 pytorch=1 report=1 isa=1 reps=5 min_time=0.1 results=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --no-setup) setup=0 ;;
    --no-build) do_build=0 ;;
    --profile) profile=1 ;;
    --no-pytorch) pytorch=0 ;;
    --no-report) report=0 ;;
    --no-isa) isa=0 ;;
    --repetitions) reps="$2"; shift ;;
    --min-time) min_time="$2"; shift ;;
    --results) results="$2"; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [[ $quick -eq 1 ]]; then
  reps=1 min_time=0.01
  results="${results:-$build/bench-quick}"
else
  results="${results:-$build/bench-results}"
fi
py=/usr/bin/python3
[[ -x $py ]] || py=python3

[[ $setup -eq 1 ]] && scripts/setup.sh --bench
if [[ $do_build -eq 1 ]]; then
  # The tool (for --isa-levels) and every bench/bench_*.cpp binary; not the tests. bench_onednn
  # exists only where CMake found oneDNN (libdnnl-dev), so it is built after the configuration.
  targets=(--target scratchcnn-cli)
  for src in bench/bench_*.cpp; do
    [[ $src == bench/bench_onednn.cpp ]] || targets+=(--target "$(basename "$src" .cpp)")
  done
  SCRATCHCNN_BUILD_DIR="$build" scripts/build.sh "${targets[@]}"
  if cmake --build "$build" --target help 2>/dev/null | grep -qw bench_onednn; then
    cmake --build "$build" -j "$(nproc)" --target bench_onednn
  fi
fi
mkdir -p "$results"
rm -f "$results"/*.json "$results"/*.log

baseline_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1)
start=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

run_bench() {  # name [--benchmark flags...] [env prefix...]
  local name=$1; shift
  local flags=()
  while [[ $# -gt 0 && $1 == --benchmark_* ]]; do flags+=("$1"); shift; done
  local bin="$build/bench/$name"
  [[ -x $bin ]] || bin="$build/$name"
  if [[ ! -x $bin ]]; then
    echo "bench.sh: $name not built (looked in $build/bench and $build)" >&2
    return 1
  fi
  echo "bench.sh: $name" >&2
  local t0
  t0=$(date +%s)
  "$@" "$bin" --benchmark_out="$results/${name#bench_}.json" --benchmark_out_format=json \
    --benchmark_repetitions="$reps" --benchmark_min_time="$min_time" \
    --benchmark_display_aggregates_only=true "${flags[@]}" >"$results/${name#bench_}.log" 2>&1 || {
      echo "bench.sh: $name failed; its output:" >&2
      tail -n 30 "$results/${name#bench_}.log" >&2
      return 1
    }
  echo "bench.sh: $name done in $(( $(date +%s) - t0 )) s" >&2
}

run_bench bench_peak
run_bench bench_gemm "${baseline_env[@]}"
run_bench bench_layers
run_bench bench_train
# libgomp's threads spin while they wait; when other processes hold one of the two cores, a spinning
# thread can take the time slice from the one with work (milliseconds per parallel region). The
# two-thread whole-model runs are repeated with sleeping waits so the report can show both.
passive_bench() {  # name filter
  local bin="$build/bench/$1"
  [[ -x $bin ]] || bin="$build/$1"
  echo "bench.sh: $1, two threads, OMP_WAIT_POLICY=passive" >&2
  OMP_WAIT_POLICY=passive "$bin" --benchmark_filter="$2" \
    --benchmark_out="$results/${1#bench_}_passive.json" --benchmark_out_format=json \
    --benchmark_repetitions="$reps" --benchmark_min_time="$min_time" \
    --benchmark_display_aggregates_only=true >"$results/${1#bench_}_passive.log" 2>&1
}
passive_bench bench_train 'threads:2'
passive_bench bench_layers 'BM_Fast/conv32x64_28/.*/threads:2'
# Threads on a busy machine: fixed counts and the adaptive default while 0, 1 and 2 other processes
# spin; the repetitions of all cases interleaved at random, so that the machine's own load falls on
# every setting alike, and three times as many of them as elsewhere: with more runnable processes
# than cores one run's time varies by 15% or more (the seed model's three settings are one
# computation on one thread, and their medians still differ at 2 busy processes).
run_bench bench_threads --benchmark_enable_random_interleaving=true --benchmark_repetitions=$((reps * 3))
# Any further bench_*.cpp a developer adds is run too.
for src in bench/bench_*.cpp; do
  name=$(basename "$src" .cpp)
  case "$name" in bench_peak|bench_gemm|bench_layers|bench_train|bench_threads) continue ;; esac
  if [[ $name == bench_onednn && ! -x $build/bench/$name ]]; then
    echo "bench.sh: bench_onednn not built (oneDNN not found: scripts/setup.sh --bench); no oneDNN rows" >&2
    continue
  fi
  run_bench "$name"
done

# The data-parallel reduction under mpirun at 1 to 4 ranks (bench/mpi_reduce, built with MPI):
# one JSON object per line in reduce_mpi.json, read by scripts/scale_model.py.
if [[ -x "$build/bench/mpi_reduce" ]] && command -v mpirun >/dev/null; then
  echo "bench.sh: bench/mpi_reduce at 1-4 ranks" >&2
  : > "$results/reduce_mpi.json"
  mreps=200
  [[ $quick -eq 1 ]] && mreps=3
  for model in seed lenet5; do
    for ranks in 1 2 3 4; do
      OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=passive \
        mpirun --oversubscribe --bind-to none -np "$ranks" "$build/bench/mpi_reduce" \
        --model "$model" --batch 128 --reps "$mreps" >> "$results/reduce_mpi.json"
    done
  done
else
  echo "bench.sh: bench/mpi_reduce not built (no MPI): docs/scale-out.md left as it is" >&2
fi

# Instruction-set levels: the dispatched build at each level this CPU runs, then the native build,
# one after the other on the same cases (names in the JSON file: isa_<level>_<binary>.json).
if [[ $isa -eq 1 && $quick -eq 0 ]]; then
  nbuild="$build-native"
  echo "bench.sh: building the -DSCRATCHCNN_NATIVE=ON comparison build in $nbuild" >&2
  cmake -S "$repo" -B "$nbuild" -DCMAKE_BUILD_TYPE=Release -DSCRATCHCNN_NATIVE=ON \
    -DSCRATCHCNN_BUILD_TESTS=OFF >/dev/null
  cmake --build "$nbuild" -j "$(nproc)" --target bench_train bench_layers bench_gemm scratchcnn-cli \
    >/dev/null
  isa_cases=("bench_train:BM_Fast/(seed|lenet5)/(train_step|predict)/threads:1/"
             "bench_layers:BM_Fast/conv32x64_28/direct/.*/threads:1/"
             "bench_gemm:BM_Fast/square512/")
  levels=$("$build/scratchcnn" info --isa-levels)
  for case in "${isa_cases[@]}"; do
    bin=${case%%:*} filter=${case#*:}
    for level in $levels native; do
      exe="$build/bench/$bin" envs=(env SCRATCHCNN_ISA="$level")
      [[ $level == native ]] && exe="$nbuild/bench/$bin" envs=(env -u SCRATCHCNN_ISA)
      echo "bench.sh: $bin at $level" >&2
      "${envs[@]}" "${baseline_env[@]}" "$exe" --benchmark_filter="$filter" \
        --benchmark_out="$results/isa_${level}_${bin#bench_}.json" --benchmark_out_format=json \
        --benchmark_repetitions="$reps" --benchmark_min_time="$min_time" \
        --benchmark_display_aggregates_only=true >"$results/isa_${level}_${bin#bench_}.log" 2>&1
    done
  done
  # And whether each level's checkpoints are byte for byte the best level's (isa_bits.json).
  echo "bench.sh: scripts/isa_bits.sh" >&2
  scripts/isa_bits.sh "$build/scratchcnn" "$results" "$nbuild/scratchcnn" 2>"$results/isa_bits.log"
fi

if [[ $pytorch -eq 1 ]]; then
  if "$py" -c 'import torch' 2>/dev/null; then
    echo "bench.sh: scripts/bench_pytorch.py" >&2
    qflag=()
    [[ $quick -eq 1 ]] && qflag=(--quick)
    "${baseline_env[@]}" "$py" scripts/bench_pytorch.py "${qflag[@]}" --out "$results/pytorch.json"
    "${baseline_env[@]}" OMP_WAIT_POLICY=passive "$py" scripts/bench_pytorch.py "${qflag[@]}" --threads 2 \
      --out "$results/pytorch_passive.json"
  else
    echo "bench.sh: PyTorch not importable by $py; the report leaves it out (scripts/setup.sh --bench)" >&2
  fi
fi

if [[ $profile -eq 1 ]]; then
  # Where the time goes in the floor cases: perf record sampling on the cpu-clock software event
  # (this VM exposes no hardware counters, so `perf stat -e instructions` reads "not supported",
  # and valgrind 3.19 cannot run AVX-512 code), plus perf stat's counters when there are any.
  mkdir -p "$results/profile"
  hw=0
  perf stat -e instructions true 2>&1 | grep -q "not supported\|not counted\|Error" || hw=1
  profile_one() {  # label binary filter [env prefix...]
    local label=$1 bin=$2 filter=$3; shift 3
    echo "bench.sh: profile $label" >&2
    local cmd=("$build/bench/$bin" --benchmark_filter="$filter" --benchmark_min_time=1 --benchmark_repetitions=1)
    if [[ $hw -eq 1 ]]; then
      "$@" perf stat -e task-clock,cycles,instructions,cache-misses -o "$results/profile/$label.stat" \
        "${cmd[@]}" >/dev/null 2>&1 || true
    fi
    if "$@" perf record -q -e cpu-clock -F 4000 -o "$results/profile/$label.data" "${cmd[@]}" \
         >/dev/null 2>&1; then
      perf report -q -i "$results/profile/$label.data" --stdio --sort symbol --percent-limit 0.5 \
        2>/dev/null | sed 's/ *$//' | grep -v '^$' | head -n 25 >"$results/profile/$label.txt" || true
      rm -f "$results/profile/$label.data"
    else
      echo "bench.sh: perf record failed for $label; no profile" >&2
    fi
  }
  profile_one gemm_square512 bench_gemm 'BM_Fast/square512/' "${baseline_env[@]}"
  for algo in direct im2col; do
    for pass in forward backward_data backward_weights; do
      profile_one "conv32x64_${algo}_$pass" bench_layers "BM_Fast/conv32x64_28/$algo/$pass/threads:1/"
    done
  done
  profile_one seed_train_step bench_train 'BM_Fast/seed/train_step/threads:1/'
  profile_one lenet5_train_step bench_train 'BM_Fast/lenet5/train_step/threads:1/'
fi

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
"$py" - "$results/machine.json" "$build" "$load_before" "$load_after" "$(( $(date +%s) - start ))" \
  "$reps" "$min_time" "$quick" <<'EOF'
import json, os, platform, re, subprocess, sys
out, build, before, after, secs, reps, min_time, quick = sys.argv[1:]
info = {}
with open("/proc/cpuinfo") as f:
    for line in f:
        if not line.strip():
            break
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
cpu = info.get("model name", "unknown")
if "cpu family" in info:
    cpu += f" (family {info['cpu family']}, model {info.get('model', '?')})"
if "avx512f" in info.get("flags", "").split():
    cpu += ", AVX-512"
cache = {}
try:
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        for line in f:
            m = re.match(r"(CMAKE_CXX_COMPILER|CMAKE_BUILD_TYPE|CMAKE_CXX_FLAGS_RELEASE|CMAKE_CXX_FLAGS|SCRATCHCNN_NATIVE):\w+=(.*)", line)
            if m:
                cache[m.group(1)] = m.group(2).strip()
except OSError:
    pass
compiler = cache.get("CMAKE_CXX_COMPILER", "c++")
try:
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
except (OSError, IndexError):
    version = compiler
native = cache.get("SCRATCHCNN_NATIVE", "OFF").upper() in ("ON", "1", "TRUE", "YES")
kernels = ("kernels: -march=native" if native else
           "kernels: one copy per level, -mavx512f -mavx2 -mfma / -mavx2 -mfma / -msse4.2")
flags = " ".join(x for x in [cache.get("CMAKE_CXX_FLAGS", ""), cache.get("CMAKE_CXX_FLAGS_RELEASE", ""),
                             "-std=c++20 -ffp-contract=off;", kernels] if x)
json.dump({"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(), "compiler": version,
           "build_type": cache.get("CMAKE_BUILD_TYPE", ""), "flags": flags,
           "load_before": before, "load_after": after, "seconds": int(secs),
           "repetitions": int(reps), "min_time": float(min_time), "quick": quick == "1"},
          open(out, "w"), indent=2)
EOF

if [[ $report -eq 1 ]]; then
  if [[ $quick -eq 1 ]]; then
    "$py" scripts/bench_report.py --results "$results" --out "$results/benchmarks.md" --img "$results/img"
  else
    "$py" scripts/bench_report.py --results "$results" --out docs/benchmarks.md --img docs/img
    if [[ -s "$results/reduce_mpi.json" ]]; then
      "$py" scripts/scale_model.py "$results" docs/scale-out.md
    fi
  fi
fi
echo "bench.sh: done in $(( $(date +%s) - start )) s; JSON in $results" >&2
