"""The report's charts (matplotlib, PNG), each drawn only when its data is there."""
import os
import sys

from .floors import FLOORS
from .fmt import time_ratio, time_ratio_items


def speedup_models(plt, r):
    """Whole-model speedups over the reference."""
    items = []
    for model in ("seed", "lenet5"):
        for what in ("train_step", "predict", "epoch"):
            ref = r.train.get(f"BM_Reference/{model}/{what}")
            if ref is None:
                continue
            for t in (1, 2):
                vs = time_ratio(ref, r.train.get(f"BM_Fast/{model}/{what}/threads:{t}"))
                if vs[0] is not None:
                    items.append((f"{model} {what.replace('_', ' ')}\n{t} thread{'s' if t > 1 else ''}", vs))
    if not items:
        return None
    fig, ax = plt.subplots(figsize=(11, 4.8))
    xs = range(len(items))
    meds = [v[0] for _, v in items]
    err = [[v[0] - v[1] for _, v in items], [v[2] - v[0] for _, v in items]]
    colors = ["#4878cf" if "1 thread" in k else "#d65f5f" for k, _ in items]
    ax.bar(xs, meds, yerr=err, color=colors, capsize=3)
    for x, m in zip(xs, meds):
        ax.text(x, m * 1.12, f"{m:.0f}x" if m >= 2 else f"{m:.2f}x", ha="center", fontsize=8)
    ax.set_yscale("log")
    seed, lenet5 = FLOORS["seed_step"].target, FLOORS["lenet5_step"].target
    ax.axhline(seed, color="gray", ls="--", lw=1)
    ax.text(len(items) - 0.45, seed, f"seed step\nfloor {seed}x", ha="left", va="center", fontsize=7, color="gray")
    ax.axhline(lenet5, color="black", ls=":", lw=1)
    ax.text(len(items) - 0.45, lenet5, f"LeNet-5 step\nfloor {lenet5}x", ha="left", va="center", fontsize=7)
    ax.set_xlim(-0.6, len(items) + 0.6)
    ax.set_xticks(list(xs))
    ax.set_xticklabels([k for k, _ in items], fontsize=7)
    ax.set_ylabel("speedup over the reference (x, log scale)")
    ax.set_title("Fast path vs reference, batch 128 (blue: 1 thread, red: 2 threads)")
    return fig


def gemm(plt, r):
    """GEMM: ours vs OpenBLAS."""
    shapes = [k[len("BM_Fast/"):] for k in r.gemm if k.startswith("BM_Fast/")]
    if not shapes:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(shapes) + 1.5))
    ys = range(len(shapes))
    ours = [r.gemm[f"BM_Fast/{s}"].med("GFLOP/s") for s in shapes]
    theirs = [r.gemm[f"BM_OpenBLAS/{s}"].med("GFLOP/s") if f"BM_OpenBLAS/{s}" in r.gemm else 0 for s in shapes]
    ax.barh([y + 0.2 for y in ys], ours, height=0.4, label="scratchcnn fast::sgemm", color="#4878cf")
    ax.barh([y - 0.2 for y in ys], theirs, height=0.4, label="OpenBLAS 0.3.21", color="#aaaaaa")
    if r.peak_one:
        floor = FLOORS["gemm_peak"].target
        ax.axvline(r.peak_one, color="red", ls="--", lw=1, label=f"FMA peak {r.peak_one:.0f}")
        ax.axvline(floor * r.peak_one, color="red", ls=":", lw=1, label=f"{floor} x peak")
    ax.set_yticks(list(ys))
    ax.set_yticklabels(shapes, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("GFLOP/s, one thread")
    ax.set_title("sgemm: the calls the fast path makes, and 512^3")
    ax.legend(fontsize=7, loc="upper right", framealpha=0.95)
    return fig


def conv32x64(plt, r):
    """conv 32->64: fraction of peak per pass, algorithm and thread count."""
    if not r.conv_rows:
        return None
    fig, ax = plt.subplots(figsize=(11, 4))
    labels, vals, colors = [], [], []
    for algo, pas, t, run in r.conv_rows:
        labels.append(f"{algo}\n{pas.replace('backward_', 'bwd ')}\n" +
                      {1: "1 thread", 2: "2 spin", "2p": "2 passive"}[t])
        vals.append(run.med("peak_fraction") or 0)
        colors.append({"im2col": "#4878cf", "direct": "#6acc65"}[algo] if t == 1 else
                      {"im2col": "#1f3f80", "direct": "#2f7a2a"}[algo])
    bars = ax.bar(range(len(vals)), vals, color=colors)
    for bar, (_, _, t, _) in zip(bars, r.conv_rows):
        if t == "2p":
            bar.set_hatch("//")
            bar.set_edgecolor("white")
    floor = FLOORS["conv_peak"].target
    ax.axhline(floor, color="red", ls="--", lw=1)
    ax.text(len(vals) - 0.5, round(floor + 0.02, 2), f"floor {floor}", ha="right", fontsize=8, color="red")
    ax.set_ylim(0, 1.05)
    ax.set_xticks(range(len(vals)))
    ax.set_xticklabels(labels, fontsize=6)
    ax.set_ylabel("fraction of FMA peak (per thread)")
    ax.set_title("conv 32->64, 3x3, 28x28, batch 64 (blue: im2col, green: direct; dark: 2 threads, "
                 "hatched: OMP_WAIT_POLICY=passive)", fontsize=9)
    return fig


def pytorch(plt, r):
    """vs PyTorch, images per second."""
    if not r.pytorch:
        return None
    groups = [("seed", "train_step", "seed train"), ("lenet5", "train_step", "LeNet-5 train"),
              ("seed", "predict", "seed infer"), ("lenet5", "predict", "LeNet-5 infer")]
    fig, axes = plt.subplots(1, len(groups), figsize=(11, 3.8))
    for ax, (model, what, title) in zip(axes, groups):
        ours, theirs = [], []
        for t in (1, 2):
            run = r.train.get(f"BM_Fast/{model}/{what}/threads:{t}")
            ours.append(run.med("items_per_second") if run else 0)
            pt = r.pytorch["threads"].get(str(t), {}).get(model, {}).get(what)
            theirs.append(pt["images_per_second"] if pt else 0)
        ax.bar([0, 2], ours, color="#4878cf", label="scratchcnn")
        ax.bar([0.8, 2.8], theirs, color="#ee854a", label="PyTorch 1.13")
        for x, a, b in zip([0.4, 2.4], ours, theirs):
            if a and b:
                ax.text(x, max(a, b) * 1.3, f"{a / b:.1f}x", ha="center", fontsize=8)
        ax.set_yscale("log")
        positive = [v for v in ours + theirs if v > 0] or [1]
        ax.set_ylim(min(positive) / 2, max(positive) * 3)
        ax.set_xticks([0.4, 2.4])
        ax.set_xticklabels(["1 thread", "2 threads"], fontsize=8)
        ax.set_title(title, fontsize=9)
    axes[0].set_ylabel("images / s (log scale)")
    axes[0].legend(fontsize=7)
    fig.suptitle("Throughput vs PyTorch, batch 128 (default, spinning OpenMP waits)", fontsize=10)
    return fig


def best_fast_layer(layers, case, pas, threads):
    """The fast run of the default algorithm for a layer: (algo or '', Run)."""
    plain = layers.get(f"BM_Fast/{case}/{pas}/threads:{threads}")
    if plain:
        return "", plain
    for algo in ("im2col", "direct"):
        run = layers.get(f"BM_Fast/{case}/{algo}/{pas}/threads:{threads}")
        if run and "(auto)" in run.label:
            return algo, run
    return None


def layers(plt, r):
    """Per-layer speedups (one thread)."""
    rows = []
    for name, run in r.layers.items():
        if not name.startswith("BM_Reference/"):
            continue
        case, pas = name.split("/")[1:3]
        fast = None if "flatten" in case else best_fast_layer(r.layers, case, pas, 1)
        if fast:
            rows.append((f"{case} {pas}", time_ratio_items(run, fast[1])[0]))
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.22 * len(rows) + 1.5))
    ax.barh(range(len(rows)), [v for _, v in rows], color="#4878cf")
    ax.set_xscale("log")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([k for k, _ in rows], fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("speedup over the reference (x, log scale), fast at one thread, default algorithm")
    ax.set_title("Per layer, per pass")
    return fig


CHARTS = (("speedup_models.png", speedup_models), ("gemm.png", gemm), ("conv32x64.png", conv32x64),
          ("pytorch.png", pytorch), ("layers.png", layers))


def draw(img_dir, r):
    """Draws every chart it has data for into img_dir; returns their file names."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench_report: matplotlib missing; no charts", file=sys.stderr)
        return []
    os.makedirs(img_dir, exist_ok=True)
    made = []
    for name, chart in CHARTS:
        fig = chart(plt, r)
        if fig is None:
            continue
        fig.tight_layout()
        fig.savefig(os.path.join(img_dir, name), dpi=110)
        plt.close(fig)
        made.append(name)
    return made
