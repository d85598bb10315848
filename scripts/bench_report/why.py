"""Measured facts that explain missed floors; each line names the figures it rests on."""
import statistics

from .fmt import fmt
from .floors import FLOORS, LENET5_LAYER_PASSES, best_fixed, gemm_square, onednn_pairs, threads_cases, threads_text


def cpu_share(run):
    """Main thread's CPU time over wall time (UseRealTime benchmarks)."""
    c = [row["cpu_time"] / row["real_time"] for row in run.rows if row.get("real_time")]
    return statistics.median(c) if c else None


def load_lines(r):
    m = r.machine
    lines = [f"Load: the 1-minute load average was {m.get('load_before', 'n/a')} before the run and "
             f"{m.get('load_after', 'n/a')} after, on {r.cores()} cores. "
             + ("Other processes were competing for the cores, so every two-thread figure (and the "
                "floors built on it) shows what a shared machine gives, not two free cores: an OpenMP "
                "barrier waits for the thread that was descheduled." if r.loaded() else
                "The machine was mostly idle.")]
    shares = [(k, cpu_share(run)) for k, run in r.train.items() if k.endswith("threads:2")]
    shares = [(k, v) for k, v in shares if v is not None]
    if shares:
        lo = min(shares, key=lambda kv: kv[1])
        lines.append(f"Two-thread runs: the timing thread was on a CPU for as little as {100 * lo[1]:.0f}% of the "
                     f"wall time ({lo[0]}); the median over all two-thread whole-model runs was "
                     f"{100 * statistics.median(v for _, v in shares):.0f}%.")
    return lines


def step_line(model, f1, f2):
    """A training step at one thread and at two: why two do not give twice the speed."""
    return (f"{model} training step: {f1.med() * 1e3:.3f} ms at one thread, {f2.med() * 1e3:.3f} ms at "
            f"two ({f1.med() / f2.med():.3g}x). A batch of 128 is 8 chunks of 16, each chunk's forward and "
            "backward on one thread without a barrier; the partial gradients of the 8 chunks are then added "
            f"block by block. Each thread has about {f1.med() / 2 * 1e6:.0f} us of work per step; the "
            "parallel region's start, its barriers and any descheduling of either thread weigh on it.")


def layer_run(r, model, layer, pas):
    """bench_layers' one-thread run of a layer pass, on the algorithm the model runs (auto)."""
    runs = [r.layers.get(f"BM_Fast/{model}_{layer}/{a}/{pas}/threads:1") for a in ("direct", "im2col")]
    runs = [x for x in runs if x] or [x for x in [r.layers.get(f"BM_Fast/{model}_{layer}/{pas}/threads:1")] if x]
    return next((x for x in runs if "(auto)" in x.label), runs[0] if runs else None)


def seed_missed(r, two):
    """Whether the seed step's share of peak or its 10 epochs against PyTorch missed their floors."""
    if two.med("GFLOP/s") / r.peak_one < FLOORS["seed_step_peak"].target:
        return True
    pt = r.pytorch["threads"].get("2") if r.pytorch else None
    ours = r.train.get("BM_Fast/seed/epoch/threads:2")
    theirs = pt["seed"].get("ten_epochs") if pt else None
    return bool(ours and theirs and
                ours.med("items_per_second") / theirs["images_per_second"] < FLOORS["torch_seed_train"].target)


def seed_peak_lines(r):
    """Where a seed step's time goes when it (or the 10 epochs it makes up) misses a floor: its
    layers, one by one."""
    one = r.train.get("BM_Fast/seed/train_step/threads:1")
    two = r.train.get("BM_Fast/seed/train_step/threads:2")
    if not (one and two and r.peak_one) or not seed_missed(r, two):
        return []
    layers = sorted({k.split("/")[1][len("seed_"):] for k in r.layers if k.startswith("BM_Fast/seed_")})
    # The first layer's input gradient is never computed in a step: its backward is the weights'.
    parts = [(f"{layer} {pas}", run) for layer in layers
             for pas in ("forward", "backward_weights" if layer == "conv1" else "backward")
             for run in [layer_run(r, "seed", layer, pas)] if run]
    if not parts:
        return []
    total = sum(run.med() for _, run in parts)
    worst = sorted(parts, key=lambda p: -p[1].med())[:4]
    return [f"seed training step at one thread: {one.med() * 1e6:.0f} us, {one.med('GFLOP/s') / r.peak_one:.2f} of "
            f"one core's peak. Its layers' passes, timed alone at batch 128 (bench_layers), add up to "
            f"{total * 1e6:.0f} us; the rest ({max(0.0, one.med() - total) * 1e6:.0f} us) is the step around them "
            "(the batch check, packing chunks, the loss, adding 8 partial gradients, the update). The largest: "
            + ", ".join(f"{name} {run.med() * 1e6:.1f} us ({run.med('peak_fraction'):.2f} of peak)"
                        for name, run in worst)
            + ". At 1-4 channels on 8x8 pixels a convolution pass of one 16-sample chunk is 37-147 kFLOP, so the "
              "fixed costs of each call (the padded copy, loop set-up, stores) weigh on every layer."]


def lenet5_layer_lines(r):
    """LeNet-5 layer passes below their share of peak, with the shape that limits the two known ones."""
    floor = FLOORS["lenet5_layers_peak"]
    low = [(layer, pas, run) for layer, passes in LENET5_LAYER_PASSES for pas in passes
           for run in [layer_run(r, "lenet5", layer, pas)] if run and run.med("peak_fraction") < floor.target]
    if not low:
        return []
    lines = ["LeNet-5 layer passes below " + f"{floor.target:.2f}" + " of peak at one thread: "
             + ", ".join(f"{layer} {pas.replace('_', ' ')} {run.med('peak_fraction'):.2f}" for layer, pas, run in low)
             + "."]
    if any(layer == "conv2" for layer, _, _ in low):
        lines.append("conv2 backward data correlates the 10x10 output gradient, zero-extended by 4 on every side, "
                     "with the rotated 5x5 weights into 14x14: of the taps it computes after skipping the window "
                     "rows (and whole column blocks) that fall on zeros, 29% still multiply zeros (3,500 computed "
                     "per channel pair and output plane, 2,500 useful), so a kernel at 90% of peak on what it "
                     "computes shows 64% of peak on useful FLOPs.")
    if any(layer == "dense3" for layer, _, _ in low):
        lines.append("dense3 is 84 -> 10: 27 kFLOP per 16-sample chunk and pass, the smallest call of the model.")
    return lines


def thread_lines(r):
    """Two threads against one: spinning vs sleeping waits, and how the work splits."""
    lines = []
    for model in ("seed", "lenet5"):
        f2 = r.train.get(f"BM_Fast/{model}/predict/threads:2")
        p2 = r.passive.get(f"BM_Fast/{model}/predict/threads:2") if r.passive else None
        if f2 and p2:
            lines.append(f"{model} inference at 2 threads: {f2.med() * 1e3:.3f} ms with spinning waits, "
                         f"{p2.med() * 1e3:.3f} ms with OMP_WAIT_POLICY=passive. A spinning thread that shares "
                         "a core with another process (or with its own team-mate) burns the time slice the "
                         "thread with work needs; milliseconds per parallel region follow.")
    for model in ("seed", "lenet5"):
        f1 = r.train.get(f"BM_Fast/{model}/train_step/threads:1")
        f2 = r.train.get(f"BM_Fast/{model}/train_step/threads:2")
        if f1 and f2:
            lines.append(step_line(model, f1, f2))
    return lines


def gemm_lines(r):
    sq, ob = gemm_square(r.gemm, "BM_Fast"), gemm_square(r.gemm, "BM_OpenBLAS")
    if not (sq and r.peak_one):
        return []
    return [f"sgemm 512^3: {sq.med('GFLOP/s'):.0f} GFLOP/s = {sq.med('peak_fraction'):.2f} of the "
            f"{r.peak_one:.0f} GFLOP/s FMA peak"
            + (f"; OpenBLAS (its Cooperlake kernel) {ob.med('GFLOP/s'):.0f} GFLOP/s" if ob else "")
            + ". On Zen 5 a full-width FMA issues on two pipes per cycle, so the micro-kernel must keep "
              "two FMAs per cycle fed from packed panels; loads, packing and the loop edges are what "
              "separate the figure from the peak (the profile below shows the split)."]


GEMM_FOR = {"forward": "conv32x64_fwd", "backward_data": "conv32x64_bwdd", "backward_weights": "conv32x64_bwdw"}


def im2col_line(pas, run, tile_name, tile):
    """The im2col layer against the one sgemm call it is made of."""
    lg, tg = run.med("GFLOP/s"), tile.med("GFLOP/s")
    floor = FLOORS["conv_peak"].target
    return (f"conv 32->64 {pas.replace('_', ' ')} with im2col, one thread: the layer runs at "
            f"{lg:.0f} GFLOP/s ({run.med('peak_fraction'):.2f} of peak); the sgemm call it is made "
            f"of, alone at the same tile shape ({tile_name[8:]}), "
            f"at {tg:.0f} GFLOP/s ({tile.med('peak_fraction'):.2f}). "
            + (f"So about {100 * (1 - lg / tg):.0f}% of the layer's time goes to the work around "
               "the GEMM (im2col / col2im, padding, bias, ReLU mask)" if lg < tg else
               "The layer is as fast as its GEMM")
            + (f"; and the GEMM alone is already below {floor} of peak at this tile shape."
               if tile.med("peak_fraction") < floor else "."))


def conv_lines(r):
    default = r.conv_default
    if not default:
        return []
    lines = []
    for pas in GEMM_FOR:
        run = r.layers.get(f"BM_Fast/conv32x64_28/{default}/{pas}/threads:1")
        if run:
            lines.append(f"conv 32->64 {pas.replace('_', ' ')} with the default {default} kernel, one "
                         f"thread: {run.med('GFLOP/s'):.0f} GFLOP/s, {run.med('peak_fraction'):.2f} of peak "
                         f"(profile below: conv32x64_{default}_{pas}).")
    for pas, g in GEMM_FOR.items():
        run = r.layers.get(f"BM_Fast/conv32x64_28/im2col/{pas}/threads:1")
        tile_name = next((k for k in r.gemm if k.startswith(f"BM_Fast/{g}/")), None)
        if run and tile_name:
            lines.append(im2col_line(pas, run, tile_name, r.gemm[tile_name]))
    return lines


def torch_lines(r):
    pt = r.pytorch
    if not (pt and "1" in pt["threads"] and "2" in pt["threads"]):
        return []
    p1, p2 = pt["threads"]["1"], pt["threads"]["2"]

    def speedup(model, what):
        return p1[model][what]["seconds_median"] / p2[model][what]["seconds_median"]

    lines = []
    for t, pt in (("1", p1), ("2", p2)):
        ours = r.train.get(f"BM_Fast/lenet5/train_step/threads:{t}")
        if not (ours and r.peak_one and ours.med("items_per_second")):
            continue
        flop_per_image = ours.med("GFLOP/s") * 1e9 / ours.med("items_per_second")
        target = FLOORS["torch_lenet5_train"].target
        need = target * pt["lenet5"]["train_step"]["images_per_second"] * flop_per_image / 1e9
        peak = int(t) * r.peak_one
        if need > peak:
            lines.append(f"LeNet-5 training at {threads_text(int(t))}, {target}x PyTorch: "
                         f"{target} x {fmt(pt['lenet5']['train_step']['images_per_second'])} img/s x "
                         f"{flop_per_image / 1e6:.2f} MFLOP per image is {fmt(need)} GFLOP/s, above the FMA peak of "
                         f"{threads_text(int(t))} ({fmt(peak)} GFLOP/s): no kernel can reach it here. Ours runs at "
                         f"{fmt(ours.med('GFLOP/s'))} GFLOP/s ({ours.med('GFLOP/s') / peak:.2f} of that peak).")
    return lines + ["PyTorch itself at two threads vs one: LeNet-5 step "
            f"{speedup('lenet5', 'train_step'):.2f}x, "
            f"seed step {speedup('seed', 'train_step'):.2f}x, "
            f"seed 10 epochs {speedup('seed', 'ten_epochs'):.2f}x: "
            "the baseline is exposed to the same load."]


def onednn_lines(r):
    """Each pass below its floor against oneDNN: both rates, our share of peak and both kernels."""
    lines = []
    for _case, what, pas, t, floor, ours, theirs in onednn_pairs(r):
        vs = theirs.med() / ours.med()
        if vs >= floor.target:
            continue
        lines.append(f"{what} {pas.replace('_', ' ')} at {threads_text(t)}: ours {fmt(ours.med('GFLOP/s'))} GFLOP/s "
                     f"({ours.med('peak_fraction'):.2f} of peak per thread, `{ours.label}`) against oneDNN's "
                     f"{fmt(theirs.med('GFLOP/s'))} GFLOP/s (`{theirs.label}`): {vs:.2f}x where the floor is "
                     f"{floor.target}x.")
    return lines


def busy_lines(r):
    """Each busy-machine case where the default lost more than the floor allows: what it chose."""
    lines = []
    floor = FLOORS["adaptive_threads"]
    for model, busy, fixed, adaptive in threads_cases(r):
        t, best = best_fixed(fixed)
        vs = best.med() / adaptive.med()
        if vs >= floor.target:
            continue
        chose = adaptive.med("threads")
        lines.append(f"Adaptive threads, {model} with {busy} busy: {adaptive.med() * 1e3:.0f} ms against "
                     f"{best.med() * 1e3:.0f} ms for {threads_text(t)} fixed ({vs:.2f}x), spread "
                     f"{adaptive.lo() * 1e3:.0f}-{adaptive.hi() * 1e3:.0f} ms; it ran a mean of {chose:.2f} threads "
                     + ("per step, so it mostly chose the best count: the gap is its probes (each candidate "
                        "runs 4 steps) and the machine's noise." if abs(chose - t) < 0.25 else
                        f"per step, away from the best count {t}: its step times did not show {t} to be "
                        "faster, or the load changed under it."))
    return lines


def why(r):
    return (load_lines(r) + thread_lines(r) + seed_peak_lines(r) + lenet5_layer_lines(r) + gemm_lines(r) +
            conv_lines(r) + torch_lines(r) + onednn_lines(r) + busy_lines(r))
