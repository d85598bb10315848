#!/usr/bin/python3
"""PyTorch baseline for docs/benchmarks.md: the seed model, LeNet-5, LeNet-5 (1998) and fashion-cnn,
defined exactly as scratchcnn's built-ins, timed at 1 and 2 threads on synthetic data made with a
fixed seed.

  training step   batch 128, SGD lr 0.1, softmax cross-entropy (mean over the batch)
  inference       forward of 128 samples under torch.no_grad()
  seed 10 epochs  3,823 samples, batch 128 (last batch 111), reshuffled every epoch

Weights are He-uniform (bound sqrt(6 / fan_in)) with zero biases, as Parameters::he_uniform; batch
norm starts at scale 1, shift 0, running mean 0 and variance 1 (both libraries' defaults). The
models train in training mode (batch statistics, dropout) and infer in evaluation mode (running
statistics, no dropout), as scratchcnn's train_step and predict do.
Each figure is the median of --repeats runs; min and max are kept as the spread. Writes JSON.

Run with Debian's python3 (python3-torch 1.13), OPENBLAS_NUM_THREADS=1 and OPENBLAS_CORETYPE /
OPENBLAS_L2_SIZE unset (OpenBLAS then picks its kernel by its own CPU detection, as on a user's
machine): PyTorch's dense layers go to OpenBLAS, whose own thread pool ignores
torch.set_num_threads. scripts/bench.sh does that.
"""
import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import torch  # noqa: E402  (after OPENBLAS_NUM_THREADS: OpenBLAS reads it when loaded)
from torch import nn  # noqa: E402

BATCH = 128
LR = 0.1
SEED_SAMPLES = 3823
LENET_SAMPLES = 4096
DATA_SEED = 20240607


def seed_model():
    # conv(1,2,k=3,pad=1) relu conv(2,4,k=3,pad=1) relu maxpool(2) flatten dense(64,32) relu
    # dense(32,10) on 1x8x8
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def lenet5_model():
    # conv(1,6,k=5,pad=2) relu maxpool(2) conv(6,16,k=5) relu maxpool(2) flatten dense(400,120)
    # relu dense(120,84) relu dense(84,10) on 1x28x28
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
        nn.ReLU(), nn.Linear(84, 10))


def lenet5_1998_model():
    # conv(1,6,k=5,pad=2) tanh avgpool(2) conv(6,16,k=5) tanh avgpool(2) flatten dense(400,120)
    # tanh dense(120,84) tanh dense(84,10) on 1x28x28
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84),
        nn.Tanh(), nn.Linear(84, 10))


def fashion_cnn_model():
    # conv(1,32,k=3,pad=1) batchnorm relu conv(32,64,k=3,stride=2,pad=1) batchnorm relu
    # conv(64,64,k=3,pad=1) batchnorm relu conv(64,128,k=3,stride=2,pad=1) batchnorm relu
    # conv(128,128,k=3,pad=1) batchnorm relu gap flatten dropout(0.2) dense(128,10) on 1x28x28
    def block(cin, cout, stride):
        return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(
        *block(1, 32, 1), *block(32, 64, 2), *block(64, 64, 1), *block(64, 128, 2), *block(128, 128, 1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(128, 10))


MODELS = {"seed": (seed_model, (1, 8, 8), SEED_SAMPLES),
          "lenet5": (lenet5_model, (1, 28, 28), LENET_SAMPLES),
          "lenet5-1998": (lenet5_1998_model, (1, 28, 28), LENET_SAMPLES),
          "fashion-cnn": (fashion_cnn_model, (1, 28, 28), LENET_SAMPLES)}


def he_uniform_(model, gen):
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            bound = math.sqrt(6.0 / fan_in)
            with torch.no_grad():
                m.weight.copy_((torch.rand(m.weight.shape, generator=gen) * 2 - 1) * bound)
                m.bias.zero_()
    return model


def synthesize(shape, n, gen, classes=10):
    # Half a fixed per-class prototype, half uniform noise (as bench/bench_train.cpp).
    proto = torch.rand((classes,) + shape, generator=gen)
    labels = torch.randint(0, classes, (n,), generator=gen)
    images = 0.5 * proto[labels] + 0.5 * torch.rand((n,) + shape, generator=gen)
    return images.contiguous(), labels


def build(name):
    make, shape, n = MODELS[name]
    gen = torch.Generator().manual_seed(DATA_SEED)
    model = he_uniform_(make(), gen)
    images, labels = synthesize(shape, n, gen)
    return model, images, labels


def timed_runs(fn, repeats, min_seconds):
    """Calls fn() in a loop of min_seconds per run; returns the seconds per call of each run."""
    fn()
    per_call = []
    for _ in range(repeats):
        calls, t0 = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            dt = time.perf_counter() - t0
            if dt >= min_seconds:
                break
        per_call.append(dt / calls)
    return per_call


def summary(seconds, images_per_call):
    med = statistics.median(seconds)
    return {"seconds_median": med, "seconds_min": min(seconds), "seconds_max": max(seconds),
            "images_per_second": images_per_call / med, "runs": len(seconds)}


def bench_model(name, repeats, min_seconds):
    model, images, labels = build(name)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    n = images.shape[0]
    state = {"pos": 0}

    def step():
        model.train()
        i = state["pos"]
        x, y = images[i:i + BATCH], labels[i:i + BATCH]
        state["pos"] = (i + BATCH) % (n - BATCH)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    out = {"train_step": summary(timed_runs(step, repeats, min_seconds), BATCH)}

    x = images[:BATCH]

    def predict():
        model.eval()
        with torch.no_grad():
            model(x)

    out["predict"] = summary(timed_runs(predict, repeats, min_seconds), BATCH)
    return out


def seed_ten_epochs(repeats, epochs=10):
    """The origin experiment's training: 10 epochs from fresh weights; seconds per run (scaled to
    10 epochs when fewer are run)."""
    runs = []
    for _ in range(repeats):
        model, images, labels = build("seed")
        opt = torch.optim.SGD(model.parameters(), lr=LR)
        loss_fn = nn.CrossEntropyLoss()
        gen = torch.Generator().manual_seed(1)
        n = images.shape[0]
        t0 = time.perf_counter()
        for _ in range(epochs):
            order = torch.randperm(n, generator=gen)
            for i in range(0, n, BATCH):
                idx = order[i:i + BATCH]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(images[idx]), labels[idx])
                loss.backward()
                opt.step()
        runs.append((time.perf_counter() - t0) * 10 / epochs)
    return dict(summary(runs, 10 * SEED_SAMPLES), epochs_run=epochs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--min-seconds", type=float, default=0.3, help="length of one timed run")
    ap.add_argument("--quick", action="store_true", help="one short run of everything")
    ap.add_argument("--out", default="-", help="JSON output file ('-': stdout)")
    args = ap.parse_args()
    if args.quick:
        args.repeats, args.min_seconds = 1, 0.02

    result = {
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "env": {k: os.environ.get(k) for k in
                ("OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS",
                 "OMP_WAIT_POLICY")},
        "batch": BATCH, "repeats": args.repeats, "threads": {}}
    torch.manual_seed(DATA_SEED)
    for t in [int(s) for s in args.threads.split(",")]:
        torch.set_num_threads(t)
        r = {m: bench_model(m, args.repeats, args.min_seconds) for m in MODELS}
        r["seed"]["ten_epochs"] = seed_ten_epochs(1, 1) if args.quick else seed_ten_epochs(args.repeats)
        result["threads"][str(t)] = r
        print(f"pytorch: {t} thread(s): seed step {r['seed']['train_step']['seconds_median'] * 1e3:.3f} ms, "
              f"lenet5 step {r['lenet5']['train_step']['seconds_median'] * 1e3:.3f} ms, "
              f"lenet5 predict {r['lenet5']['predict']['images_per_second']:.0f} img/s, "
              f"fashion-cnn step {r['fashion-cnn']['train_step']['seconds_median'] * 1e3:.3f} ms, "
              f"seed 10 epochs {r['seed']['ten_epochs']['seconds_median']:.3f} s", file=sys.stderr)
    text = json.dumps(result, indent=2)
    if args.out == "-":
        print(text)
    else:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
