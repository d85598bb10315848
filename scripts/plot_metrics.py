#!/usr/bin/env python3
"""Plots training metrics CSVs written by scratchcnn: loss.png and accuracy.png.

Each CSV has the header `epoch,loss,train_accuracy,test_accuracy,seconds`, or with a validation
split `epoch,loss,train_accuracy,test_accuracy,val_loss,val_accuracy,seconds`, and one row per
epoch. Several files are overlaid, each labelled with its file name without the extension; the
validation loss and accuracy are drawn dotted.

Needs matplotlib. On Debian it is python3-matplotlib, which belongs to /usr/bin/python3, so run
    /usr/bin/python3 scripts/plot_metrics.py out/metrics.csv
when `python3` on PATH is another interpreter.
"""

import argparse
import math
import sys
from pathlib import Path

from plot_common import PlotError, fail, pyplot, save_png

HEADER = ["epoch", "loss", "train_accuracy", "test_accuracy", "seconds"]
HEADER_VAL = ["epoch", "loss", "train_accuracy", "test_accuracy", "val_loss", "val_accuracy",
              "seconds"]


class BadCsv(Exception):
    pass


def read_metrics(path):
    """Returns {column: [values]} for one file; raises BadCsv naming the file and line."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise BadCsv(f"{path}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise BadCsv(f"{path}: not a UTF-8 text file") from None

    if not lines:
        raise BadCsv(f"{path}: empty file, expected the header {','.join(HEADER)}")
    header = [h.strip() for h in lines[0].lstrip("\ufeff").split(",")]
    if header not in (HEADER, HEADER_VAL):
        raise BadCsv(f"{path}:1: header is '{lines[0]}', expected '{','.join(HEADER)}' "
                     f"or '{','.join(HEADER_VAL)}'")

    data = {name: [] for name in header}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            if any(rest.strip() for rest in lines[number - 1:]):
                raise BadCsv(f"{path}:{number}: blank line")
            break
        fields = line.split(",")
        if len(fields) != len(header):
            raise BadCsv(f"{path}:{number}: expected {len(header)} comma-separated fields, "
                         f"got {len(fields)}")
        for name, text in zip(header, fields):
            text = text.strip()
            try:
                value = int(text) if name == "epoch" else float(text)
            except ValueError:
                kind = "an integer" if name == "epoch" else "a number"
                raise BadCsv(f"{path}:{number}: {name} is '{text}', expected {kind}") from None
            if name != "epoch" and math.isinf(value):
                raise BadCsv(f"{path}:{number}: {name} is '{text}', expected a finite number")
            data[name].append(value)
        epochs = data["epoch"]
        if len(epochs) > 1 and epochs[-1] <= epochs[-2]:
            raise BadCsv(f"{path}:{number}: epoch {epochs[-1]} does not follow epoch {epochs[-2]}")
    if not data["epoch"]:
        raise BadCsv(f"{path}: no rows after the header")
    return data


def labels_for(paths):
    """File stems; where two files share a stem, the parent folder is added to tell them apart."""
    stems = [Path(p).stem for p in paths]
    out = []
    for p, stem in zip(paths, stems):
        if stems.count(stem) > 1:
            out.append(f"{Path(p).resolve().parent.name}/{stem}")
        else:
            out.append(stem)
    return out


def finish_epoch_plot(fig, ax, title, ylabel):
    """The styling both figures share: epochs on x as whole numbers, grid, legend."""
    from matplotlib.ticker import MaxNLocator
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()


def plot_loss(plt, runs, labels):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (run, label) in enumerate(zip(runs, labels)):
        ax.plot(run["epoch"], run["loss"], marker="o", markersize=3,
                color=colors[i % len(colors)], label=label)
        if "val_loss" in run:
            ax.plot(run["epoch"], run["val_loss"], marker="^", markersize=3,
                    color=colors[i % len(colors)], linestyle=":", label=f"{label} validation")
    finish_epoch_plot(fig, ax, "Loss per epoch (solid: training, dotted: validation)",
                      "mean loss")
    return fig


def plot_accuracy(plt, runs, labels):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (run, label) in enumerate(zip(runs, labels)):
        color = colors[i % len(colors)]
        ax.plot(run["epoch"], run["train_accuracy"], marker="o", markersize=3, color=color,
                label=f"{label} train")
        ax.plot(run["epoch"], run["test_accuracy"], marker="s", markersize=3, color=color,
                linestyle="--", label=f"{label} test")
        if "val_accuracy" in run:
            ax.plot(run["epoch"], run["val_accuracy"], marker="^", markersize=3, color=color,
                    linestyle=":", label=f"{label} validation")
    finish_epoch_plot(fig, ax, "Accuracy per epoch (solid: train, dashed: test, dotted: "
                      "validation)", "accuracy")
    return fig


def main(argv):
    parser = argparse.ArgumentParser(
        description="Plot loss and accuracy per epoch from scratchcnn metrics CSVs.")
    parser.add_argument("csv", nargs="+", help="metrics CSV files (epoch,loss,train_accuracy,"
                        "test_accuracy,seconds); several are overlaid")
    parser.add_argument("--out", help="folder for loss.png and accuracy.png "
                        "(default: the folder of the first CSV)")
    args = parser.parse_args(argv)

    try:
        runs = [read_metrics(path) for path in args.csv]
        plt = pyplot()
        out = Path(args.out) if args.out else Path(args.csv[0]).resolve().parent
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise PlotError(f"cannot create {out}: {e.strerror or e}") from None
        labels = labels_for(args.csv)
        loss_png, accuracy_png = out / "loss.png", out / "accuracy.png"
        save_png(plot_loss(plt, runs, labels), loss_png)
        save_png(plot_accuracy(plt, runs, labels), accuracy_png)
    except (BadCsv, PlotError) as e:
        return fail("plot_metrics", e)
    print(f"wrote {loss_png} and {accuracy_png}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
