"""The floors the project set itself, stated once (FLOOR_TABLE), and the checks that judge a run
against them. The table of floors at the end of the report, the verdicts and the charts' floor
lines all read FLOORS."""
from collections import namedtuple

from .fmt import fmt, fmt_fraction, fmt_ratio, key_ratio, ratio, time_ratio

# One row of the report's floors table: a measured figure and whether it reaches its floor;
# verdict "-" marks context (not judged).
Check = namedtuple("Check", "label measured target verdict")


class Floor:
    """One figure's floor: `target`, written as `form` (e.g. "{}x"), then `note` in the table."""

    def __init__(self, key, target, form="{}x", note=""):
        self.key, self.target, self.form, self.note = key, target, form, note

    def target_text(self):
        return ">= " + self.form.format(self.target)

    def verdict(self, value):
        if value is None:
            return "not measured"
        return "**met**" if value >= self.target else "**NOT met**"

    def check(self, label, measured, value, judged=True):
        return Check(label, measured, self.target_text(), self.verdict(value) if judged else "-")


# (what is measured, its floors): the rows of the table of floors, in order.
FLOOR_TABLE = (
    ("seed training step, batch 128, fast at 2 threads vs reference", (Floor("seed_step", 30),)),
    ("seed training step, batch 128, fast at 2 threads: GFLOP/s over one core's FMA peak",
     (Floor("seed_step_peak", 0.7, "{:.2f}"),)),
    ("LeNet-5 training step, batch 128, fast at 2 threads vs reference", (Floor("lenet5_step", 50),)),
    ("sgemm 512^3, one thread", (Floor("gemm_peak", 0.9, "{:.2f}", " of measured FMA peak"),
                                 Floor("gemm_openblas", 1.05, "{}x", " OpenBLAS"))),
    ("LeNet-5's layers at batch 128, one thread: conv2 backward data; dense forward, backward data, backward "
     "weights", (Floor("lenet5_layers_peak", 0.7, "{:.2f}", " of peak each"),)),
    ("conv 32->64 3x3 28x28 batch 64, one thread: forward, backward data, backward weights",
     (Floor("conv_peak", 0.85, "{:.2f}", " of peak each"),)),
    ("the same at 2 threads", (Floor("conv_two_threads", 1.8, "{}x", " the one-thread rate each"),)),
    ("vs PyTorch: LeNet-5 training at 1 and 2 threads, seed training (10 epochs) and LeNet-5 inference at 2",
     (Floor("torch_lenet5_train", 5), Floor("torch_seed_train", 20), Floor("torch_lenet5_infer", 2))),
    ("vs PyTorch: fashion-cnn (batch norm, strided convolutions, gap, dropout) training and inference at 1 "
     "and 2 threads", (Floor("torch_fashion_train", 2), Floor("torch_fashion_infer", 2))),
    ("vs oneDNN at 1 and 2 threads (its time / ours): conv 32->64 3x3 28x28 batch 64, every pass",
     (Floor("onednn_conv32x64", 1.0, "{}x", " each"),)),
    ("the same: conv 6->16 5x5 14x14 batch 128 (LeNet-5's second), forward; backward data and weights",
     (Floor("onednn_lenet5_forward", 1.0), Floor("onednn_lenet5_backward", 1.5, "{}x", " each"))),
    ("the same: conv 1->2 3x3 8x8 batch 128 (the seed model's first), every pass",
     (Floor("onednn_seed", 2, "{}x", " each"),)),
    ("adaptive threads (the default) with 0, 1 and 2 busy processes, seed and LeNet-5 runs: the best "
     "fixed thread count's time / the default's (at most 10% slower)",
     (Floor("adaptive_threads", 0.91, "{}x", " each"),)),
)
FLOORS = {f.key: f for _, floors in FLOOR_TABLE for f in floors}
STEP_FLOOR = {"seed": FLOORS["seed_step"], "lenet5": FLOORS["lenet5_step"]}


def floors_table():
    """The Markdown table of FLOOR_TABLE."""
    lines = ["| Floor | Target |", "|---|---|"]
    for what, floors in FLOOR_TABLE:
        lines.append(f"| {what} | {', '.join(f.target_text() + f.note for f in floors)} |")
    return "\n".join(lines) + "\n"


def step_checks(r):
    checks = []
    for model, floor in STEP_FLOOR.items():
        ref = r.train.get(f"BM_Reference/{model}/train_step")
        two = time_ratio(ref, r.train.get(f"BM_Fast/{model}/train_step/threads:2"))
        checks.append(floor.check(f"{model} training step, batch 128: fast (2 threads) vs reference",
                                  fmt_ratio(two), two[0]))
        one = time_ratio(ref, r.train.get(f"BM_Fast/{model}/train_step/threads:1"))
        checks.append(Check(f"{model} training step, batch 128: fast (1 thread) vs reference", fmt_ratio(one),
                            "", "-"))
    return checks


def seed_peak_checks(r):
    """The seed step's GFLOP/s over one core's FMA peak: judged at 2 threads, one thread as context."""
    checks = []
    for t, judged in ((2, True), (1, False)):
        run = r.train.get(f"BM_Fast/seed/train_step/threads:{t}")
        if run and r.peak_one:
            frac = run.med("GFLOP/s") / r.peak_one
            checks.append(FLOORS["seed_step_peak"].check(
                f"seed training step, batch 128, {threads_text(t)}: GFLOP/s over one core's FMA peak",
                f"{frac:.2f} ({fmt(run.med('GFLOP/s'))} of {fmt(r.peak_one)} GFLOP/s)", frac, judged))
    return checks


# The LeNet-5 layer passes of the issue that set lenet5_layers_peak.
LENET5_LAYER_PASSES = (("conv2", ("backward_data",)),) + tuple(
    (f"dense{i}", ("forward", "backward_data", "backward_weights")) for i in (1, 2, 3))


def lenet5_layer_checks(r):
    """Each pass's fraction of peak at one thread; a conv on the algorithm the model runs (auto)."""
    checks = []
    for layer, passes in LENET5_LAYER_PASSES:
        for pas in passes:
            names = [f"BM_Fast/lenet5_{layer}/{a}/{pas}/threads:1" for a in ("direct", "im2col")]
            runs = [r.layers.get(n) for n in names + [f"BM_Fast/lenet5_{layer}/{pas}/threads:1"]]
            runs = [x for x in runs if x]
            run = next((x for x in runs if "(auto)" in x.label), runs[0] if runs else None)
            if run:
                checks.append(FLOORS["lenet5_layers_peak"].check(
                    f"LeNet-5 {layer} {pas.replace('_', ' ')}, batch 128, one thread: fraction of peak",
                    fmt_fraction(run), run.med("peak_fraction")))
    return checks


def gemm_square(gemm, impl):
    return next((v for k, v in gemm.items() if k.startswith(f"{impl}/square512")), None)


def gemm_checks(r):
    sq, sq_ob = gemm_square(r.gemm, "BM_Fast"), gemm_square(r.gemm, "BM_OpenBLAS")
    if not sq:
        return []
    checks = [FLOORS["gemm_peak"].check("sgemm 512^3, one thread: fraction of FMA peak", fmt_fraction(sq),
                                        sq.med("peak_fraction"))]
    if sq_ob:
        vs = key_ratio(sq, sq_ob, "GFLOP/s")
        checks.append(FLOORS["gemm_openblas"].check(
            "sgemm 512^3, one thread: vs OpenBLAS",
            f"{fmt_ratio(vs)} (OpenBLAS {sq_ob.med('GFLOP/s'):.0f} GFLOP/s)", vs[0]))
    return checks


def conv_checks(r):
    """conv 32->64, the default algorithm first (judged), then the other (context)."""
    checks = []
    algos = ("im2col", "direct")
    default = r.conv_default
    for algo in [a for a in algos if a == default] + [a for a in algos if a != default]:
        judged = algo == default
        tag = "default" if judged else "selectable, not default"
        for pas in ("forward", "backward_data", "backward_weights"):
            what = f"conv 32->64 {algo} ({tag}) {pas.replace('_', ' ')}"
            one = r.layers.get(f"BM_Fast/conv32x64_28/{algo}/{pas}/threads:1")
            two = r.layers.get(f"BM_Fast/conv32x64_28/{algo}/{pas}/threads:2")
            two_p = r.layers_passive.get(f"BM_Fast/conv32x64_28/{algo}/{pas}/threads:2")
            if one:
                checks.append(FLOORS["conv_peak"].check(f"{what}, one thread: fraction of peak",
                                                        fmt_fraction(one), one.med("peak_fraction"), judged))
            if one and two:
                vs = time_ratio(one, two)
                checks.append(FLOORS["conv_two_threads"].check(f"{what}: 2 threads vs 1", fmt_ratio(vs), vs[0],
                                                               judged))
            if one and two_p and judged:
                vs = time_ratio(one, two_p)
                checks.append(FLOORS["conv_two_threads"].check(
                    f"{what}: 2 threads (OMP_WAIT_POLICY=passive) vs 1", fmt_ratio(vs), vs[0], False))
    return checks


# bench_onednn's cases: (name, what, {pass: floor key}).
ONEDNN_PASSES = ("forward", "backward_data", "backward_weights")
ONEDNN_CASES = (
    ("conv32x64_28", "conv 32->64 3x3 28x28 batch 64", dict.fromkeys(ONEDNN_PASSES, "onednn_conv32x64")),
    ("lenet5_conv2", "conv 6->16 5x5 14x14 batch 128",
     {"forward": "onednn_lenet5_forward", "backward_data": "onednn_lenet5_backward",
      "backward_weights": "onednn_lenet5_backward"}),
    ("seed_conv1", "conv 1->2 3x3 8x8 batch 128", dict.fromkeys(ONEDNN_PASSES, "onednn_seed")),
)


def threads_text(t):
    return f"{t} thread" + ("s" if t != 1 else "")


def onednn_pairs(r):
    """(case, what, pass, threads, floor, ours, oneDNN's) for every pair bench_onednn ran."""
    pairs = []
    for case, what, floor_of in ONEDNN_CASES:
        for pas in ONEDNN_PASSES:
            for t in (1, 2):
                ours = r.onednn.get(f"BM_Ours/{case}/{pas}/threads:{t}")
                theirs = r.onednn.get(f"BM_OneDNN/{case}/{pas}/threads:{t}")
                if ours and theirs:
                    pairs.append((case, what, pas, t, FLOORS[floor_of[pas]], ours, theirs))
    return pairs


def onednn_checks(r):
    """Ours against oneDNN on the same shape, pass and thread count: oneDNN's time / ours."""
    checks = []
    for _case, what, pas, t, floor, ours, theirs in onednn_pairs(r):
        vs = time_ratio(theirs, ours)
        checks.append(floor.check(
            f"vs oneDNN, {threads_text(t)}: {what} {pas.replace('_', ' ')}",
            f"{fmt_ratio(vs)} ({fmt(ours.med('GFLOP/s'))} vs {fmt(theirs.med('GFLOP/s'))} GFLOP/s)", vs[0]))
    return checks


def torch_check(floor, label, run, pt, judged=True):
    """Our images/s at 2 threads over PyTorch's, with both spreads; None without both figures."""
    if not run or not pt:
        return None
    k = "items_per_second"
    ours = run.med(k)
    t_med = pt["images_per_second"]
    t_lo = pt["images_per_second"] * pt["seconds_median"] / pt["seconds_max"]
    t_hi = pt["images_per_second"] * pt["seconds_median"] / pt["seconds_min"]
    vs = ratio(ours, run.lo(k), run.hi(k), t_med, t_lo, t_hi)
    return floor.check(label, f"{fmt_ratio(vs)} ({fmt(ours)} vs {fmt(t_med)} img/s)", vs[0], judged)


def torch_checks(r):
    if not r.pytorch or "2" not in r.pytorch["threads"]:
        return []
    pt2, train = r.pytorch["threads"]["2"], r.train
    pt1 = r.pytorch["threads"].get("1")
    checks = [
        torch_check(FLOORS["torch_lenet5_train"], "vs PyTorch, 1 thread: LeNet-5 training step, batch 128",
                    train.get("BM_Fast/lenet5/train_step/threads:1"), pt1["lenet5"]["train_step"] if pt1 else None),
        torch_check(FLOORS["torch_lenet5_train"], "vs PyTorch, 2 threads: LeNet-5 training step, batch 128",
                    train.get("BM_Fast/lenet5/train_step/threads:2"), pt2["lenet5"]["train_step"]),
        torch_check(FLOORS["torch_seed_train"], "vs PyTorch, 2 threads: seed model, 10 epochs of 3,823 samples",
                    train.get("BM_Fast/seed/epoch/threads:2"), pt2["seed"].get("ten_epochs")),
        torch_check(FLOORS["torch_seed_train"],
                    "vs PyTorch, 2 threads: seed model training step, batch 128 (for reference)",
                    train.get("BM_Fast/seed/train_step/threads:2"), pt2["seed"]["train_step"], judged=False),
        torch_check(FLOORS["torch_lenet5_infer"], "vs PyTorch, 2 threads: LeNet-5 inference, batch 128",
                    train.get("BM_Fast/lenet5/predict/threads:2"), pt2["lenet5"]["predict"]),
    ]
    # fashion-cnn (and LeNet-5 of 1998, for reference) at both thread counts, when the baseline has them.
    for t, pt in (("1", pt1), ("2", pt2)):
        if not pt:
            continue
        for key, name, what, floor, judged in (
                ("fashion-cnn", "fashion-cnn", "train_step", "torch_fashion_train", True),
                ("fashion-cnn", "fashion-cnn", "predict", "torch_fashion_infer", True),
                ("lenet5-1998", "LeNet-5 (1998)", "train_step", "torch_lenet5_train", False)):
            if key in pt:
                label = (f"vs PyTorch, {t} thread{'s' if t != '1' else ''}: {name} "
                         f"{'training step' if what == 'train_step' else 'inference'}, batch 128"
                         + ("" if judged else " (for reference)"))
                checks.append(torch_check(FLOORS[floor], label,
                                          train.get(f"BM_Fast/{key}/{what}/threads:{t}"), pt[key][what], judged))
    return [c for c in checks if c]


def passive_checks(r):
    """Context: the two-thread figures again with OMP_WAIT_POLICY=passive (ours, and PyTorch's)."""
    if not r.passive:
        return []
    checks = []
    for model, floor in STEP_FLOOR.items():
        vs = time_ratio(r.train.get(f"BM_Reference/{model}/train_step"),
                        r.passive.get(f"BM_Fast/{model}/train_step/threads:2"))
        checks.append(floor.check(f"{model} training step: fast (2 threads, OMP_WAIT_POLICY=passive) vs reference",
                                  fmt_ratio(vs), vs[0], judged=False))
    if not r.pytorch_passive or "2" not in r.pytorch_passive["threads"]:
        return checks
    pp = r.pytorch_passive["threads"]["2"]
    for label, name, pt, floor in (
            ("LeNet-5 training step", "BM_Fast/lenet5/train_step/threads:2", pp["lenet5"]["train_step"],
             FLOORS["torch_lenet5_train"]),
            ("seed model, 10 epochs", "BM_Fast/seed/epoch/threads:2", pp["seed"].get("ten_epochs"),
             FLOORS["torch_seed_train"]),
            ("LeNet-5 inference", "BM_Fast/lenet5/predict/threads:2", pp["lenet5"]["predict"],
             FLOORS["torch_lenet5_infer"])):
        run = r.passive.get(name)
        if run and pt:
            m = run.med("items_per_second") / pt["images_per_second"]
            checks.append(floor.check(f"vs PyTorch, 2 threads, both OMP_WAIT_POLICY=passive: {label}", f"{m:.2f}x",
                                      m, judged=False))
    return checks


def threads_cases(r):
    """(model, busy, {fixed count: Run}, adaptive Run) for every case bench_threads ran."""
    cases = []
    for model in ("seed", "lenet5"):
        for busy in (0, 1, 2):
            base = f"BM_Threads/{model}/busy:{busy}/"
            fixed = {int(name[len(base) + len("threads:"):]): run for name, run in r.threads.items()
                     if name.startswith(base + "threads:")}
            adaptive = r.threads.get(base + "adaptive")
            if fixed and adaptive:
                cases.append((model, busy, dict(sorted(fixed.items())), adaptive))
    return cases


def best_fixed(fixed):
    """The fixed thread count with the lowest median time, and its run."""
    return min(fixed.items(), key=lambda kv: kv[1].med())


def threads_checks(r):
    """The default (adaptive threads) against the best fixed count, per model and load."""
    checks = []
    for model, busy, fixed, adaptive in threads_cases(r):
        t, best = best_fixed(fixed)
        vs = time_ratio(best, adaptive)
        checks.append(FLOORS["adaptive_threads"].check(
            f"adaptive threads, {model}, {busy} busy process{'es' if busy != 1 else ''}: best fixed "
            f"({threads_text(t)}) time / adaptive",
            f"{fmt_ratio(vs)} (mean {adaptive.med('threads'):.2f} threads)", vs[0]))
    return checks


def all_checks(r):
    """Every row of the floors table, in the report's order; on a loaded machine every judged
    two-thread verdict says it is unreliable."""
    checks = (step_checks(r) + seed_peak_checks(r) + lenet5_layer_checks(r) + gemm_checks(r) + conv_checks(r) +
              torch_checks(r) + onednn_checks(r))
    if r.loaded():
        checks = [c._replace(verdict=c.verdict + " (2 threads under load: unreliable)")
                  if "2 threads" in c.label and c.verdict != "-" else c for c in checks]
    return checks + threads_checks(r) + passive_checks(r)


def judged(checks):
    return [c for c in checks if c.verdict != "-"]


def missed(checks):
    return [c for c in judged(checks) if not c.verdict.startswith("**met**")]
