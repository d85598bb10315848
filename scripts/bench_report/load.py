"""Reading what scripts/bench.sh leaves in its results folder."""
import glob
import json
import os
import statistics


class Run:
    """One benchmark's repetitions: medians and spreads of time (seconds) and counters."""

    def __init__(self, name, rows):
        self.name = name
        self.rows = rows
        self.label = rows[0].get("label", "")

    def values(self, key):
        if key == "seconds":
            scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
            return [r["real_time"] * scale[r["time_unit"]] for r in self.rows]
        return [r[key] for r in self.rows if key in r]

    def med(self, key="seconds"):
        v = self.values(key)
        return statistics.median(v) if v else None

    def lo(self, key="seconds"):
        v = self.values(key)
        return min(v) if v else None

    def hi(self, key="seconds"):
        v = self.values(key)
        return max(v) if v else None


def load_bench(path):
    """run name (without a trailing /real_time) -> Run, from iteration rows only; and the context."""
    if not os.path.exists(path):
        return {}, {}
    with open(path) as f:
        data = json.load(f)
    rows = {}
    for b in data.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
            continue
        name = b["run_name"]
        if name.endswith("/real_time"):
            name = name[: -len("/real_time")]
        rows.setdefault(name, []).append(b)
    return {k: Run(k, v) for k, v in rows.items()}, data.get("context", {})


def load_json(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def load_isa(res):
    """run name -> {level: Run} from the isa_<level>_<binary>.json files."""
    isa_runs = {}
    for path in sorted(glob.glob(os.path.join(res, "isa_*_*.json"))):
        level, _, _binary = os.path.basename(path)[len("isa_"):-len(".json")].rpartition("_")
        runs, _ = load_bench(path)
        for name, run in runs.items():
            isa_runs.setdefault(name, {})[level] = run
    return isa_runs


class Results:
    """Everything one scripts/bench.sh run left in `res`; a missing file reads as empty."""

    def __init__(self, res):
        def path(name):
            return os.path.join(res, name)

        self.peak, _ = load_bench(path("peak.json"))
        self.gemm, self.gemm_ctx = load_bench(path("gemm.json"))
        self.layers, _ = load_bench(path("layers.json"))
        self.train, _ = load_bench(path("train.json"))
        self.pytorch = load_json(path("pytorch.json"))
        self.onednn, self.onednn_ctx = load_bench(path("onednn.json"))
        self.passive, _ = load_bench(path("train_passive.json"))
        self.threads, self.threads_ctx = load_bench(path("threads.json"))
        self.layers_passive, _ = load_bench(path("layers_passive.json"))
        self.pytorch_passive = load_json(path("pytorch_passive.json"))
        self.machine = load_json(path("machine.json")) or {}
        self.isa_runs = load_isa(res)
        self.isa_bits = load_json(path("isa_bits.json")) or {}
        self.profiles = sorted(glob.glob(path(os.path.join("profile", "*.txt"))))
        self.peak_one = self._peak_one()
        self.conv_rows, self.conv_default = self._conv()

    def _peak_one(self):
        """One core's FMA peak in GFLOP/s: bench_peak's, else the one bench_gemm measured."""
        run = self.peak.get("BM_FmaPeakOneCore")
        peak_one = run.med("GFLOP/s") if run else None
        if peak_one is None and self.gemm_ctx.get("fma_peak_gflops_one_core"):
            peak_one = float(self.gemm_ctx["fma_peak_gflops_one_core"])
        return peak_one

    def _conv(self):
        """conv 32->64 runs as (algo, pass, threads or '2p' for passive, Run), and the default algo."""
        rows, default = [], None
        for algo in ("im2col", "direct"):
            for pas in ("forward", "backward_data", "backward_weights"):
                for t in (1, 2):
                    run = self.layers.get(f"BM_Fast/conv32x64_28/{algo}/{pas}/threads:{t}")
                    if run:
                        rows.append((algo, pas, t, run))
                        if "(auto)" in run.label:
                            default = algo
                run = self.layers_passive.get(f"BM_Fast/conv32x64_28/{algo}/{pas}/threads:2")
                if run:
                    rows.append((algo, pas, "2p", run))
        return rows, default

    def cores(self):
        return self.machine.get("cores") or 2

    def load_1min(self):
        try:
            return float(str(self.machine.get("load_before", "0")).split()[0])
        except ValueError:
            return 0.0

    def loaded(self):
        """Whether other processes held the cores: 1-minute load above half the cores."""
        return self.load_1min() > 0.5 * self.cores()


def profile_lines(path, top=12):
    """'pct%  symbol' lines of a perf report, without the peak probe, rescaled to 100%."""
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.split(None, 2)
            if len(parts) == 3 and parts[0].endswith("%"):
                try:
                    rows.append((float(parts[0][:-1]), parts[2].strip().rstrip(" -")))
                except ValueError:
                    pass
    total = 100.0 - sum(p for p, s in rows if "fma_chains" in s)
    rows = [(p, s) for p, s in rows if "fma_chains" not in s]
    total = total if total > 0 else 100.0
    return [f"{100 * p / total:6.1f}%  {s[:110]}" for p, s in rows[:top]]
